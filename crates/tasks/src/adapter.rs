//! Lets any [`lrmem_optimizers::Optimizer`] train any dfdx model.
//!
//! dfdx's own `Optimizer` trait receives `&Gradients`, whose only public accessor copies each
//! gradient; instead the [`Adapter`] does what dfdx's Sgd/Adam do internally: it walks the
//! model's tensors with a [`TensorVisitor`] (`Viewer = ViewTensorMut`) through
//! [`RecursiveWalker`], copies every trainable tensor and its gradient (taken with
//! `Gradients::get_or_alloc_mut`) into reused buffers, lets the optimizer step the whole model
//! at once under the tensors' dotted names (`conv1.weight`) with
//! [`Optimizer::step_model`] — so that optimizers with statistics across tensors see them all —
//! and copies the parameters back.
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
//! use lrmem_tasks::adapter::Adapter;
//! use lrmem_tasks::dfdx::prelude::*;
//! use lrmem_optimizers::{Sgd, SgdConfig};
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
use lrmem_optimizers::{OptimError, Optimizer, Tensor as Named};

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
    /// A copy of each trainable tensor's parameters, reused by every step.
    params: Vec<Vec<f32>>,
    /// A copy of each trainable tensor's gradient, reused by every step.
    grads: Vec<Vec<f32>>,
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
        let mut survey = Survey::of(model, Read::Nothing)?;
        for (i, t) in survey.tensors.iter_mut().enumerate() {
            if t.name.is_empty() {
                t.name = i.to_string();
            }
        }
        let buffers = || -> Vec<Vec<f32>> {
            survey
                .tensors
                .iter()
                .filter(|t| t.trainable)
                .map(|t| vec![0.0; t.len])
                .collect()
        };
        let (params, grads) = (buffers(), buffers());
        Ok(Adapter {
            tensors: survey.tensors,
            leaf_ids: survey.unused.ids,
            params,
            grads,
            checked: false,
        })
    }

    /// Sets every trainable tensor of `model`, the model this adapter was built for, to
    /// `values` (in the order of [`Adapter::names`], as [`trainable_values`] reads them): e.g.
    /// a network read back from a file. Another number of tensors or another length is a
    /// [`TaskError::ModelMismatch`], before anything is written.
    pub(crate) fn load<M: TensorCollection<f32, Cpu>>(
        &mut self,
        model: &mut M,
        values: &[Vec<f32>],
    ) -> Result<(), TaskError> {
        if values.len() != self.params.len() {
            return Err(self.mismatch(
                0,
                &format!(
                    "{} tensors given for {} trainable ones",
                    values.len(),
                    self.params.len()
                ),
            ));
        }
        let trainable = self.tensors.iter().enumerate().filter(|(_, t)| t.trainable);
        if let Some(((index, t), v)) = trainable.zip(values).find(|((_, t), v)| t.len != v.len()) {
            return Err(self.mismatch(index, &format!("{} values given for {}", v.len(), t.len)));
        }
        for (buf, v) in self.params.iter_mut().zip(values) {
            buf.copy_from_slice(v);
        }
        self.walk(model, None)
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

    /// Steps every trainable tensor of `model` with `opt` (one [`Optimizer::step_model`] over
    /// the whole model), using its gradient in `grads`.
    ///
    /// On the first call, a trainable tensor without a gradient is a
    /// [`TaskError::MissingGradient`] (see the module docs), and nothing steps. An optimizer
    /// error is a [`TaskError::Optim`]; whatever the optimizer changed before it failed is
    /// written to the model, so that the model and the optimizer's state stay consistent (for
    /// every optimizer of `lrmem-optimizers`, nothing: `step_model` checks every tensor before
    /// it moves any).
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
        self.walk(model, Some(grads))?;
        let mut named: Vec<Named<'_>> = self
            .tensors
            .iter()
            .filter(|t| t.trainable)
            .zip(self.params.iter_mut().zip(&self.grads))
            .map(|(t, (params, grads))| Named {
                name: &t.name,
                params,
                grads,
            })
            .collect();
        let stepped = opt.step_model(&mut named);
        drop(named);
        self.walk(model, None)?;
        stepped.map_err(|source| TaskError::Optim {
            name: failing_tensor(&source).unwrap_or_else(|| "(model)".to_string()),
            source,
        })
    }

    /// The model to evaluate after a step of `opt`: a copy of `model` with each trainable
    /// tensor set to [`Optimizer::eval_params`] where the optimizer has one (Schedule-Free's x,
    /// DoG's average), or `None` when it has none, so that the model itself is evaluated.
    /// Call it after [`update`](Self::update), which left the buffers equal to the model.
    pub fn eval_point<M, O>(&mut self, model: &M, opt: &O) -> Result<Option<M>, TaskError>
    where
        M: TensorCollection<f32, Cpu> + Clone,
        O: Optimizer + ?Sized,
    {
        let trainable = || self.tensors.iter().filter(|t| t.trainable);
        if !trainable().any(|t| opt.eval_params(&t.name).is_some()) {
            return Ok(None);
        }
        let mut at = self.params.clone();
        let indexed = self.tensors.iter().enumerate().filter(|(_, t)| t.trainable);
        for ((index, t), buf) in indexed.zip(at.iter_mut()) {
            if let Some(x) = opt.eval_params(&t.name) {
                if x.len() != buf.len() {
                    return Err(
                        self.mismatch(index, "the optimizer's evaluation point has another length")
                    );
                }
                buf.copy_from_slice(x);
            }
        }
        std::mem::swap(&mut self.params, &mut at);
        let mut eval = model.clone();
        let written = self.walk(&mut eval, None);
        std::mem::swap(&mut self.params, &mut at);
        written?;
        Ok(Some(eval))
    }

    /// One walk over `model`: with `grads`, copies every trainable tensor and its gradient
    /// into the buffers (checking the model against the recorded one); without, copies the
    /// buffers back into the model.
    fn walk<M: TensorCollection<f32, Cpu>>(
        &mut self,
        model: &mut M,
        grads: Option<&mut Gradients<f32, Cpu>>,
    ) -> Result<(), TaskError> {
        let mut walk = Walk {
            adapter: self,
            grads,
            index: 0,
            trainable: 0,
            error: None,
        };
        let walked = M::iter_tensors(&mut RecursiveWalker {
            m: model,
            f: &mut walk,
        });
        let (index, error) = (walk.index, walk.error);
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

/// The values of every trainable tensor of `model` (with `grads`: their gradients there), in
/// the order of their names ([`Adapter::names`]); [`Adapter::load`] writes them back.
pub(crate) fn trainable_values<M: TensorCollection<f32, Cpu>>(
    model: &M,
    grads: Option<&Gradients<f32, Cpu>>,
) -> Result<Vec<Vec<f32>>, TaskError> {
    let read = match grads {
        Some(grads) => Read::Grads(grads),
        None => Read::Params,
    };
    Ok(Survey::of(model, read)?.values)
}

/// What a survey reads of each trainable tensor besides its name, size and id.
enum Read<'g> {
    Nothing,
    Params,
    Grads(&'g Gradients<f32, Cpu>),
}

/// A read-only walk: names, sizes, ids, and the values [`Read`] asks for.
struct Survey<'g> {
    tensors: Vec<TensorInfo>,
    /// dfdx's public way to read a tensor's id (`UnusedTensors::add`).
    unused: dfdx::optim::UnusedTensors,
    read: Read<'g>,
    values: Vec<Vec<f32>>,
}

impl<'g> Survey<'g> {
    fn of<M: TensorCollection<f32, Cpu>>(model: &M, read: Read<'g>) -> Result<Self, CpuError> {
        let mut survey = Survey {
            tensors: Vec::new(),
            unused: Default::default(),
            read,
            values: Vec::new(),
        };
        M::iter_tensors(&mut RecursiveWalker {
            m: (model, String::new()),
            f: &mut survey,
        })?;
        Ok(survey)
    }
}

impl TensorVisitor<f32, Cpu> for Survey<'_> {
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
            match self.read {
                Read::Nothing => {}
                Read::Params => self.values.push(t.as_vec()),
                Read::Grads(grads) => self.values.push(grads.get(t).as_vec()),
            }
        }
        self.tensors.push(TensorInfo {
            name,
            len: t.shape().num_elements(),
            trainable: opts.do_gradient_update,
        });
        Ok(None)
    }
}

/// The name of the tensor an optimizer error is about, if it says.
fn failing_tensor(e: &OptimError) -> Option<String> {
    match e {
        OptimError::LengthMismatch { tensor, .. }
        | OptimError::NonFiniteGradient { tensor, .. } => Some(tensor.clone()),
        OptimError::Memory { tensor, .. } => tensor.clone(),
        _ => None,
    }
}

/// The walks of an update: gather (parameters and gradients into the buffers) or scatter
/// (parameters back into the model).
struct Walk<'a> {
    adapter: &'a mut Adapter,
    /// `Some` when gathering.
    grads: Option<&'a mut Gradients<f32, Cpu>>,
    /// Tensors visited.
    index: usize,
    /// Trainable tensors visited (the buffers' index).
    trainable: usize,
    /// The first error of the walk (dfdx's walker only carries device errors).
    error: Option<TaskError>,
}

impl TensorVisitor<f32, Cpu> for Walk<'_> {
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
        let slot = self.trainable;
        self.trainable += 1;
        match self.grads.as_deref_mut() {
            Some(grads) => {
                let grad = grads.get_or_alloc_mut(&*param)?;
                self.adapter.grads[slot].copy_from_slice(grad);
                param.copy_into(&mut self.adapter.params[slot]);
            }
            None => param.copy_from(&self.adapter.params[slot]),
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lenet::LeNet;
    use dfdx::prelude::*;
    use lrmem_optimizers::{Sgd, SgdConfig};

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

    /// An optimizer that trains at its parameters and evaluates at their negation (a stand-in
    /// for Schedule-Free's x): the evaluation model carries the evaluation point, the model the
    /// parameters; an optimizer without one gives no evaluation model.
    #[test]
    fn eval_point_carries_the_optimizers_evaluation_parameters() {
        struct Negated(Sgd, std::collections::BTreeMap<String, Vec<f32>>);
        impl lrmem_optimizers::Optimizer for Negated {
            fn step(&mut self, name: &str, p: &mut [f32], g: &[f32]) -> Result<(), OptimError> {
                self.0.step(name, p, g)?;
                self.1.insert(name.into(), p.iter().map(|x| -x).collect());
                Ok(())
            }
            fn next_task(&mut self) {}
            fn eval_params(&self, name: &str) -> Option<&[f32]> {
                self.1.get(name).map(|v| &v[..])
            }
        }
        let dev = Cpu::default();
        let mut model = dev.build_module::<Linear<2, 1>, f32>();
        model.weight.copy_from(&[0.5, -1.0]);
        model.bias.copy_from(&[0.25]);
        let mut adapter = Adapter::new(&model).unwrap();
        let sgd = || Sgd::new(SgdConfig::default()).unwrap();
        let mut opt = Negated(sgd(), Default::default());
        let y = model.forward(dev.tensor([2.0f32, 3.0]).trace(adapter.fresh_grads()));
        let mut grads = y.sum::<Rank0, _>().backward();
        adapter.update(&mut model, &mut grads, &mut opt).unwrap();
        let eval = adapter
            .eval_point(&model, &opt)
            .unwrap()
            .expect("an eval point");
        let neg = |v: Vec<f32>| v.into_iter().map(|x| -x).collect::<Vec<_>>();
        assert_eq!(eval.weight.as_vec(), neg(model.weight.as_vec()));
        assert_eq!(eval.bias.as_vec(), neg(model.bias.as_vec()));
        assert!(adapter.eval_point(&model, &sgd()).unwrap().is_none());
    }

    /// What `trainable_values` reads, `load` writes back; another count or length is refused
    /// before anything is written.
    #[test]
    fn values_read_and_load_back() {
        let dev = Cpu::default();
        let mut model = dev.build_module::<Linear<2, 1>, f32>();
        model.weight.copy_from(&[0.5, -1.0]);
        model.bias.copy_from(&[0.25]);
        let mut adapter = Adapter::new(&model).unwrap();
        let values = trainable_values(&model, None).unwrap();
        assert_eq!(values, [vec![0.5, -1.0], vec![0.25]]);
        let mut other = dev.build_module::<Linear<2, 1>, f32>();
        for bad in [vec![vec![1.0, 2.0]], vec![vec![1.0], vec![2.0]]] {
            let e = adapter.load(&mut other, &bad).unwrap_err();
            assert!(matches!(e, TaskError::ModelMismatch { .. }), "{e}");
        }
        adapter.load(&mut other, &values).unwrap();
        assert_eq!(trainable_values(&other, None).unwrap(), values);
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
