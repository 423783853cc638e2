//! Lets any [`optimizers::Optimizer`] train any dfdx model.
//!
//! dfdx's own `Optimizer` trait receives `&Gradients`, whose only public accessor copies each
//! gradient; instead the [`Adapter`] does what dfdx's Sgd/Adam do internally: it walks the
//! model's tensors with a [`TensorVisitor`] (`Viewer = ViewTensorMut`) through
//! [`RecursiveWalker`], takes each gradient zero-copy with `Gradients::get_or_alloc_mut`, copies
//! the parameter into a reused scratch buffer, lets the optimizer step it under the tensor's
//! dotted name (`conv1.weight`), and copies it back.
//!
//! **Missing gradients are errors.** dfdx gives no public way to ask whether a tensor has a
//! gradient, and `get_or_alloc_mut` silently allocates zeros; a tensor that the autodiff tape
//! never reached would just not move. So the adapter checks, on its first update, that backward
//! produced a gradient for every trainable tensor (through dfdx's own optimizer, which reports
//! unused tensors). For that check to see anything, the first backward must start from
//! [`Adapter::fresh_grads`] rather than from `model.alloc_grads()` (which pre-fills every
//! gradient with zeros); after the first update the usual `model.zero_grads(&mut grads)` loop
//! applies.
//!
//! ```
//! use tasks::adapter::Adapter;
//! use tasks::dfdx::prelude::*;
//! use optimizers::{Sgd, SgdConfig};
//!
//! let dev = Cpu::default();
//! let mut model = dev.build_module::<Linear<3, 1>, f32>();
//! let mut adapter = Adapter::new(&model)?;
//! let mut opt = Sgd::new(SgdConfig { lr: 0.02, ..SgdConfig::default() })?;
//! let x = dev.tensor([1.0f32, 2.0, 3.0]);
//! let mut grads = adapter.fresh_grads();
//! for _ in 0..50 {
//!     let y = model.forward(x.trace(grads));
//!     grads = (y - 1.0).square().sum::<Rank0, _>().backward();
//!     adapter.update(&mut model, &mut grads, &mut opt)?;
//!     model.zero_grads(&mut grads);
//! }
//! assert!((model.forward(x.clone()).array()[0] - 1.0).abs() < 1e-3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorName,
    ViewTensorRef,
};
use dfdx::optim::{
    Optimizer as DfdxOptimizer, OptimizerUpdateError, Sgd as DfdxSgd, SgdConfig as DfdxSgdConfig,
};
use dfdx::prelude::{Cpu, Gradients, HasShape, Shape, Tensor, UniqueId};
use dfdx::tensor::CpuError;
use optimizers::Optimizer;

use crate::TaskError;

/// The bridge between a dfdx model's tensors and an [`Optimizer`] over named slices.
///
/// One adapter belongs to one model (it records the model's tensor names and sizes when built
/// and checks them on every update); keep it next to the model, as long-lived as the optimizer.
#[derive(Debug, Clone)]
pub struct Adapter {
    /// Every tensor in visit order: name, element count, trainable.
    tensors: Vec<TensorInfo>,
    /// The trainable tensors' ids, for gradients that keep only them after backward.
    leaf_ids: Vec<UniqueId>,
    /// One buffer as long as the largest tensor, reused by every step.
    scratch: Vec<f32>,
    /// Whether the first update has checked that every trainable tensor got a gradient.
    checked: bool,
}

#[derive(Debug, Clone)]
struct TensorInfo {
    name: String,
    len: usize,
    trainable: bool,
}

impl Adapter {
    /// Records `model`'s tensors: their dotted names (`conv1.weight`, or the visit index for a
    /// tensor without a name), sizes, and which ones are trainable.
    pub fn new<M: TensorCollection<f32, Cpu>>(model: &M) -> Result<Self, TaskError> {
        let mut survey = Survey {
            tensors: Vec::new(),
            unused: Default::default(),
        };
        M::iter_tensors(&mut RecursiveWalker {
            m: (model, String::new()),
            f: &mut survey,
        })?;
        for (i, t) in survey.tensors.iter_mut().enumerate() {
            if t.name.is_empty() {
                t.name = i.to_string();
            }
        }
        let max = survey.tensors.iter().map(|t| t.len).max().unwrap_or(0);
        Ok(Adapter {
            tensors: survey.tensors,
            leaf_ids: survey.unused.ids,
            scratch: vec![0.0; max],
            checked: false,
        })
    }

    /// Names of the model's tensors, in visit order (the names the optimizer sees).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.iter().map(|t| t.name.as_str())
    }

    /// Empty gradients that keep exactly the model's trainable tensors after backward. Start the
    /// first backward from these so that the first [`update`](Self::update) can tell a missing
    /// gradient from a zero one.
    pub fn fresh_grads(&self) -> Gradients<f32, Cpu> {
        let mut grads = Gradients::leaky();
        grads.retain_leafs(&self.leaf_ids);
        grads
    }

    /// Steps every trainable tensor of `model` with `opt`, using its gradient in `grads`.
    ///
    /// On the first call, a trainable tensor without a gradient is a
    /// [`TaskError::MissingGradient`] (see the module docs). An optimizer error (e.g. a
    /// non-finite gradient) stops the walk: tensors before it have been stepped, the failing
    /// one and those after it have not.
    pub fn update<M, O>(
        &mut self,
        model: &mut M,
        grads: &mut Gradients<f32, Cpu>,
        opt: &mut O,
    ) -> Result<(), TaskError>
    where
        M: TensorCollection<f32, Cpu> + Clone,
        O: Optimizer + ?Sized,
    {
        if !self.checked {
            self.check_gradients(model, grads)?;
            self.checked = true;
        }
        let mut step = Step {
            adapter: self,
            grads,
            opt,
            index: 0,
            error: None,
        };
        let walked = M::iter_tensors(&mut RecursiveWalker {
            m: model,
            f: &mut step,
        });
        let (index, error) = (step.index, step.error);
        walked?;
        if let Some(e) = error {
            return Err(e);
        }
        if index != self.tensors.len() {
            return Err(self.mismatch(
                index.min(self.tensors.len().saturating_sub(1)),
                "fewer tensors than recorded",
            ));
        }
        Ok(())
    }

    /// Asks dfdx's own SGD (lr 0, on a copy of the model) which trainable tensors have no
    /// gradient; dfdx exposes that check only through its optimizers.
    fn check_gradients<M: TensorCollection<f32, Cpu> + Clone>(
        &self,
        model: &M,
        grads: &Gradients<f32, Cpu>,
    ) -> Result<(), TaskError> {
        let mut probe = model.clone();
        let cfg = DfdxSgdConfig {
            lr: 0.0,
            momentum: None,
            weight_decay: None,
        };
        let mut sgd = DfdxSgd::new(&probe, cfg);
        match sgd.update(&mut probe, grads) {
            Ok(()) => Ok(()),
            Err(OptimizerUpdateError::UnusedParams(unused)) => {
                let names = self
                    .leaf_ids
                    .iter()
                    .zip(self.tensors.iter().filter(|t| t.trainable))
                    .filter(|(id, _)| unused.ids.contains(id))
                    .map(|(_, t)| t.name.clone())
                    .collect();
                Err(TaskError::MissingGradient { names })
            }
            Err(OptimizerUpdateError::DeviceError(e)) => Err(e.into()),
        }
    }

    fn mismatch(&self, index: usize, reason: &str) -> TaskError {
        TaskError::ModelMismatch {
            index,
            name: self
                .tensors
                .get(index)
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            reason: reason.to_string(),
        }
    }
}

/// First walk: names, sizes, ids.
struct Survey {
    tensors: Vec<TensorInfo>,
    /// dfdx's public way to read a tensor's id (`UnusedTensors::add`).
    unused: dfdx::optim::UnusedTensors,
}

impl TensorVisitor<f32, Cpu> for Survey {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = CpuError;
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, Cpu>,
        (t, name): (&Tensor<S, f32, Cpu>, String),
    ) -> Result<Option<Tensor<S, f32, Cpu>>, CpuError> {
        if opts.do_gradient_update {
            self.unused.add(t);
        }
        self.tensors.push(TensorInfo {
            name,
            len: t.shape().num_elements(),
            trainable: opts.do_gradient_update,
        });
        Ok(None)
    }
}

/// The update walk.
struct Step<'a, O: ?Sized> {
    adapter: &'a mut Adapter,
    grads: &'a mut Gradients<f32, Cpu>,
    opt: &'a mut O,
    index: usize,
    /// The first error of the walk (dfdx's walker only carries device errors).
    error: Option<TaskError>,
}

impl<O: Optimizer + ?Sized> TensorVisitor<f32, Cpu> for Step<'_, O> {
    type Viewer = ViewTensorMut;
    type Err = CpuError;
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, Cpu>,
        param: &mut Tensor<S, f32, Cpu>,
    ) -> Result<Option<Tensor<S, f32, Cpu>>, CpuError> {
        let index = self.index;
        self.index += 1;
        if self.error.is_some() {
            return Ok(None);
        }
        let len = param.shape().num_elements();
        let Some(info) = self.adapter.tensors.get(index) else {
            self.error = Some(self.adapter.mismatch(index, "more tensors than recorded"));
            return Ok(None);
        };
        if info.len != len || info.trainable != opts.do_gradient_update {
            self.error = Some(
                self.adapter
                    .mismatch(index, &format!("{len} elements, recorded {}", info.len)),
            );
            return Ok(None);
        }
        if !opts.do_gradient_update {
            return Ok(None);
        }
        let grad = self.grads.get_or_alloc_mut(&*param)?;
        let scratch = &mut self.adapter.scratch[..len];
        param.copy_into(scratch);
        if let Err(source) = self
            .opt
            .step(&self.adapter.tensors[index].name, scratch, grad)
        {
            self.error = Some(TaskError::Optim {
                name: self.adapter.tensors[index].name.clone(),
                source,
            });
            return Ok(None);
        }
        param.copy_from(scratch);
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lenet::LeNet;
    use dfdx::prelude::*;
    use optimizers::{Sgd, SgdConfig};

    #[test]
    fn names_are_dotted_paths() {
        let dev = Cpu::default();
        let net = LeNet::new(&dev, 0);
        let a = Adapter::new(&net.params).unwrap();
        let names: Vec<&str> = a.names().collect();
        assert_eq!(
            names,
            [
                "conv1.weight",
                "conv1.bias",
                "conv2.weight",
                "conv2.bias",
                "fc1.weight",
                "fc1.bias",
                "fc2.weight",
                "fc2.bias"
            ]
        );
        // A bare tensor has no name: its visit index stands in.
        let t: Tensor<Rank1<3>, f32, _> = dev.zeros();
        assert_eq!(Adapter::new(&t).unwrap().names().collect::<Vec<_>>(), ["0"]);
    }

    /// An SGD step through the adapter equals w − lr·g computed by hand.
    #[test]
    fn sgd_step_matches_hand_computation() {
        let dev = Cpu::default();
        let mut model = dev.build_module::<Linear<2, 1>, f32>();
        model.weight.copy_from(&[0.5, -1.0]);
        model.bias.copy_from(&[0.25]);
        let mut adapter = Adapter::new(&model).unwrap();
        let mut opt = Sgd::new(SgdConfig {
            lr: 0.1,
            ..SgdConfig::default()
        })
        .unwrap();
        let x = dev.tensor([2.0f32, 3.0]);
        let y = model.forward(x.trace(adapter.fresh_grads()));
        let mut grads = y.sum::<Rank0, _>().backward(); // dy/dw = x, dy/db = 1
        adapter.update(&mut model, &mut grads, &mut opt).unwrap();
        assert_eq!(
            model.weight.as_vec(),
            vec![0.5 - 0.1 * 2.0, -1.0 - 0.1 * 3.0]
        );
        assert_eq!(model.bias.as_vec(), vec![0.25 - 0.1]);
    }

    /// A model whose bias never reaches the loss: the first update is an error naming it.
    #[test]
    fn missing_gradient_is_an_error() {
        let dev = Cpu::default();
        let mut model = dev.build_module::<Linear<2, 1>, f32>();
        let mut adapter = Adapter::new(&model).unwrap();
        let mut opt = Sgd::new(SgdConfig::default()).unwrap();
        let x = dev.tensor([2.0f32, 3.0]);
        // Only the weight is used, with the tape on x: the bias gets no gradient.
        let y = x
            .trace(adapter.fresh_grads())
            .matmul(model.weight.clone().permute());
        let mut grads = y.sum::<Rank0, _>().backward();
        let before = model.weight.as_vec();
        match adapter.update(&mut model, &mut grads, &mut opt) {
            Err(TaskError::MissingGradient { names }) => assert_eq!(names, ["bias"]),
            other => panic!("expected MissingGradient, got {other:?}"),
        }
        assert_eq!(model.weight.as_vec(), before, "nothing stepped");
    }

    #[test]
    fn optimizer_errors_and_model_mismatch_are_errors() {
        let dev = Cpu::default();
        let mut model = dev.build_module::<Linear<2, 1>, f32>();
        let mut adapter = Adapter::new(&model).unwrap();
        let mut opt = Sgd::new(SgdConfig::default()).unwrap();
        let x = dev.tensor([f32::NAN, 3.0]);
        let y = model.forward(x.trace(adapter.fresh_grads()));
        let mut grads = y.sum::<Rank0, _>().backward();
        let e = adapter
            .update(&mut model, &mut grads, &mut opt)
            .unwrap_err();
        assert!(
            matches!(&e, TaskError::Optim { name, .. } if name == "weight"),
            "{e}"
        );

        let mut other = dev.build_module::<Linear<3, 1>, f32>();
        let mut g = other.alloc_grads();
        let e = adapter.update(&mut other, &mut g, &mut opt).unwrap_err();
        assert!(
            matches!(e, TaskError::ModelMismatch { index: 0, .. }),
            "{e}"
        );
    }
}
