//! Adaptor: train a burn module with any [`Optimizer`] of this crate (feature `burn`).
//!
//! The usual burn training loop, with a [`BurnOptimizer`] in place of burn's optimizer:
//!
//! ```
//! use burn::module::Module;
//! use burn::nn::{Linear, LinearConfig, Relu};
//! use burn::optim::GradientsParams;
//! use burn::tensor::{Device, Tensor};
//! use lrmem_optimizers::burn::BurnOptimizer;
//! use lrmem_optimizers::OptimizerSpec;
//!
//! #[derive(Module, Debug)]
//! struct Mlp {
//!     fc1: Linear,
//!     fc2: Linear,
//! }
//!
//! let device = Device::default().autodiff();
//! let mut model = Mlp {
//!     fc1: LinearConfig::new(2, 8).init(&device),
//!     fc2: LinearConfig::new(8, 1).init(&device),
//! };
//! // Meta-SGD: every tensor's learning rates come from its own memory (η₀ = 0.01).
//! let mut opt = BurnOptimizer::new(OptimizerSpec::parse("meta-sgd:lr=0.01")?.build()?);
//! let x = Tensor::<2>::from_floats([[0.5, -1.0], [1.0, 0.25], [-0.5, 0.5]], &device);
//! let y = Tensor::<2>::from_floats([[1.0], [-1.0], [0.5]], &device);
//! for _ in 0..20 {
//!     let out = model.fc2.forward(Relu::new().forward(model.fc1.forward(x.clone())));
//!     let loss = (out - y.clone()).powf_scalar(2.0).mean();
//!     let grads = GradientsParams::from_grads(loss.backward(), &model);
//!     opt.step(&mut model, &grads)?; // one `step_model` over the whole model
//! }
//! let names = lrmem_optimizers::burn::param_names(&model);
//! assert_eq!(names, ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]);
//! assert_eq!(opt.memory_thetas().len(), 4); // one memory per tensor, keyed by its name
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How a step works
//!
//! [`BurnOptimizer::step`] walks the module with burn's `ModuleVisitor`, copies every float
//! parameter that has a gradient in the [`GradientsParams`], and its gradient, into `f32`
//! buffers, hands all of them to the optimizer in **one** [`Optimizer::step_model`] call (so
//! that optimizers with statistics across tensors see the whole model), and writes the results
//! back with burn's `ModuleMapper`, keeping every parameter's [`ParamId`], gradient
//! requirement, gradient-checkpointing strategy and distributed flag. A step through the
//! adaptor is therefore bit for bit the same as `step_model` on the same values held in
//! `Vec<f32>`s. Parameters without a gradient (frozen, or outside the loss) are not handed to
//! the optimizer and do not move, as with burn's own optimizers.
//!
//! It does not implement burn's `Optimizer` trait: that trait steps one tensor at a time with
//! per-parameter state passed in and out, which cannot hold a memory shared by tensors or step
//! the whole model at once. It takes no learning rate either: the learning rate is part of the
//! lrmem optimizer ([`Meta`](crate::Meta) learns its own, per coordinate; see README.md), so
//! burn's learning-rate schedulers do not apply.
//!
//! # Names
//!
//! lrmem keys every tensor's state and memory by name, so names must be the same on every step
//! and in every run. A parameter's name is its **path** in the module: the field names from the
//! root module down to the parameter, joined by `.` — the path that burn's own visitors,
//! parameter groups and stores use. Elements of a `Vec`, an array or a tuple are named by their
//! index (`layers.0.weight`), an `Option` adds nothing (`fc.bias`), an enum adds its variant's
//! name, and the tensors of a reparameterization (LoRA) sit under the parameter's own path and
//! the reparameterization's name. A module that is itself one parameter has the empty name.
//! Names depend only on the module's structure, never on [`ParamId`]s (random for every new
//! initialisation), so a freshly built or reloaded model gets the same names, and checkpoints
//! of the optimizer ([`Checkpoint`](crate::Checkpoint)) and saved memories fit it.
//! [`param_names`] lists them, e.g. for [`Meta::only`](crate::Meta::only).
//!
//! A parameter that occurs more than once (tied weights: one [`ParamId`] at several paths)
//! steps once, under its first path, and every occurrence gets the result.
//!
//! # Errors
//!
//! Nothing panics on bad input; every problem is a [`BurnError`]. The adaptor's own checks (two
//! parameters with one name, a gradient of another shape or of a parameter the module does not
//! have, a parameter that is not `f32`, a tensor that cannot be read) run before anything
//! steps: the module and the optimizer are unchanged. An error of the optimizer itself
//! ([`BurnError::Optimizer`]) comes from inside `step_model`; the module then holds exactly
//! what `step_model` left in the buffers, so that module and optimizer state agree — for every
//! optimizer of this crate, nothing: `step_model` checks every tensor before it moves any, so
//! that a bad gradient in a later layer leaves the earlier ones unchanged too, as on slices.
//!
//! The feature compiles burn with its ndarray backend (CPU), autodiff and `optim`; the adaptor
//! itself works on any backend, since it reads and writes parameters through burn's tensor API
//! (enable another backend on your own `burn` dependency).

use std::collections::{HashMap, HashSet};

use ::burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use ::burn::optim::GradientsParams;
use ::burn::tensor::{DType, Tensor, TensorData};

use crate::optimizer::{OptimError, Optimizer, Tensor as Named};

/// What can go wrong when stepping a burn module. Every message names the parameter and says
/// what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BurnError {
    /// The optimizer refused the step (a non-finite gradient, a tensor that changed size, …).
    /// The module holds what [`Optimizer::step_model`] left in the buffers: for every optimizer
    /// of this crate, the parameters as they were (see the module docs).
    #[error(transparent)]
    Optimizer(#[from] OptimError),
    /// Two different parameters (two [`ParamId`]s) have the same path, so lrmem could not tell
    /// their states apart.
    #[error("two parameters of the module are both named `{name}`; give them distinct paths (a hand-written `Module` impl must call `enter_module` for each field)")]
    DuplicateName {
        /// The shared name.
        name: String,
    },
    /// A parameter or its gradient is not `f32`, the only element type lrmem steps.
    #[error("parameter `{name}`: its {what} has dtype {dtype}, but lrmem steps f32 only; keep trainable parameters and their gradients in f32")]
    UnsupportedDType {
        /// The parameter's name.
        name: String,
        /// `"value"` or `"gradient"`.
        what: &'static str,
        /// The dtype found.
        dtype: String,
    },
    /// A gradient's shape differs from its parameter's.
    #[error("parameter `{name}` has shape {params:?} but its gradient has shape {grads:?}; pass the gradients of this very module (`GradientsParams::from_grads(loss.backward(), &model)`)")]
    ShapeMismatch {
        /// The parameter's name.
        name: String,
        /// The parameter's shape.
        params: Vec<usize>,
        /// The gradient's shape.
        grads: Vec<usize>,
    },
    /// Some gradients belong to no parameter of the module: they were taken from another
    /// module (another instance has other [`ParamId`]s) and would silently not train.
    #[error("{unmatched} of {total} gradients belong to no parameter of the module; take them from the module you step (`GradientsParams::from_grads(loss.backward(), &model)`, or `GradientsParams::from_module` for a part of it)")]
    UnmatchedGradients {
        /// Gradients without a parameter in the module.
        unmatched: usize,
        /// Gradients given.
        total: usize,
    },
    /// burn could not read a parameter or gradient back from its device.
    #[error("parameter `{name}`: cannot read its {what} from the device: {reason}")]
    Read {
        /// The parameter's name.
        name: String,
        /// `"value"` or `"gradient"`.
        what: &'static str,
        /// burn's reason.
        reason: String,
    },
}

/// Trains burn modules with an lrmem [`Optimizer`]: `opt.step(&mut model, &grads)?` where burn's
/// own loop has `model = optim.step(lr, model, grads)`. See the [module docs](self).
///
/// It holds nothing but the optimizer; the optimizer keeps its per-tensor state and memories
/// under the parameters' names. Reach it with [`inner`](Self::inner) and
/// [`inner_mut`](Self::inner_mut) (to save or load it, or read a memory).
#[derive(Debug, Clone, Default)]
pub struct BurnOptimizer<O> {
    optimizer: O,
}

impl<O: Optimizer> BurnOptimizer<O> {
    /// Wraps `optimizer`, e.g. `Meta::sgd(config)?` or `OptimizerSpec::parse("adam")?.build()?`.
    pub fn new(optimizer: O) -> Self {
        BurnOptimizer { optimizer }
    }

    /// Steps every float parameter of `module` that has a gradient in `grads`, with one
    /// [`Optimizer::step_model`] call, under the parameters' names (see the [module
    /// docs](self)).
    ///
    /// Takes the module by `&mut` rather than by value so that an error can leave it in place;
    /// the gradients by reference, so they can be logged or reused.
    ///
    /// # Errors
    ///
    /// [`BurnError`]; every variant leaves module and optimizer unchanged: the adaptor's own
    /// checks come before any step, and [`Optimizer::step_model`] checks every tensor before it
    /// moves any (a NaN in the last layer's gradient leaves the first layers as they were).
    ///
    /// A gradient registered by hand under a parameter's id with another *rank* than the
    /// parameter's makes burn's [`GradientsParams::get`] panic before the adaptor can check it;
    /// gradients from `GradientsParams::from_grads` always have their parameter's rank.
    pub fn step<M: Module>(
        &mut self,
        module: &mut M,
        grads: &GradientsParams,
    ) -> Result<(), BurnError> {
        let mut gather = Gather::new(grads);
        module.visit(&mut gather);
        let mut slots = gather.finish()?;
        if slots.is_empty() {
            return Ok(());
        }
        let mut tensors: Vec<Named<'_>> = slots
            .iter_mut()
            .map(|s| Named::new(&s.name, &mut s.params, &s.grads))
            .collect();
        let stepped = self.optimizer.step_model(&mut tensors);
        drop(tensors);
        let mut scatter = Scatter {
            slots: slots.iter().map(|s| (s.id, s)).collect(),
        };
        *module = module.clone().map(&mut scatter);
        stepped.map_err(BurnError::from)
    }

    /// A new task begins: [`Optimizer::next_task`] (a memory keeps θ, the rest resets).
    pub fn next_task(&mut self) {
        self.optimizer.next_task();
    }

    /// θ of every memory, by memory key (by default the parameter's name):
    /// [`Optimizer::memory_thetas`].
    pub fn memory_thetas(&self) -> Vec<(String, Vec<f32>)> {
        self.optimizer.memory_thetas()
    }
}

impl<O> BurnOptimizer<O> {
    /// The optimizer.
    pub fn inner(&self) -> &O {
        &self.optimizer
    }

    /// The optimizer, to change (load a checkpoint, reload memories).
    pub fn inner_mut(&mut self) -> &mut O {
        &mut self.optimizer
    }

    /// Unwraps the optimizer.
    pub fn into_inner(self) -> O {
        self.optimizer
    }
}

/// The names under which [`BurnOptimizer::step`] steps `module`'s float parameters, in the order
/// it steps them (burn's visit order: fields in declaration order, depth first), one per
/// parameter ([`ParamId`]) whether it has a gradient or not. See the [module docs](self).
pub fn param_names<M: Module>(module: &M) -> Vec<String> {
    let mut names = Names::default();
    module.visit(&mut names);
    names.names
}

/// The path of the parameter being visited, kept by `enter_module`/`exit_module`.
#[derive(Debug, Default)]
struct Path(Vec<String>);

impl Path {
    fn enter(&mut self, name: &str) {
        self.0.push(name.to_owned());
    }
    fn exit(&mut self) {
        self.0.pop();
    }
    fn name(&self) -> String {
        self.0.join(".")
    }
}

#[derive(Debug, Default)]
struct Names {
    path: Path,
    seen: HashSet<ParamId>,
    names: Vec<String>,
}

impl ModuleVisitor for Names {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.seen.insert(param.id) {
            self.names.push(self.path.name());
        }
    }
}

/// One parameter with a gradient: its values and gradient as `f32`, stepped in place.
#[derive(Debug)]
struct Slot {
    id: ParamId,
    name: String,
    shape: Vec<usize>,
    params: Vec<f32>,
    grads: Vec<f32>,
}

/// First walk: every float parameter with a gradient, copied out; checks names, dtypes, shapes.
struct Gather<'a> {
    grads: &'a GradientsParams,
    path: Path,
    /// Every parameter seen (a tied parameter is gathered at its first path only).
    ids: HashSet<ParamId>,
    /// Every name seen, one per parameter.
    names: HashSet<String>,
    /// Parameters seen that have a gradient.
    matched: usize,
    slots: Vec<Slot>,
    /// The first problem found; the walk stops copying after it.
    error: Option<BurnError>,
}

impl<'a> Gather<'a> {
    fn new(grads: &'a GradientsParams) -> Self {
        Gather {
            grads,
            path: Path::default(),
            ids: HashSet::new(),
            names: HashSet::new(),
            matched: 0,
            slots: Vec::new(),
            error: None,
        }
    }

    fn finish(self) -> Result<Vec<Slot>, BurnError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let total = self.grads.len();
        if self.matched < total {
            return Err(BurnError::UnmatchedGradients {
                unmatched: total - self.matched,
                total,
            });
        }
        Ok(self.slots)
    }

    fn gather<const D: usize>(
        &mut self,
        name: &str,
        param: &Param<Tensor<D>>,
    ) -> Result<(), BurnError> {
        let Some(grad) = self.grads.get::<D>(param.id) else {
            return Ok(());
        };
        self.matched += 1;
        let value = param.base();
        let (shape, grad_shape) = (value.dims().to_vec(), grad.dims().to_vec());
        if shape != grad_shape {
            return Err(BurnError::ShapeMismatch {
                name: name.to_owned(),
                params: shape,
                grads: grad_shape,
            });
        }
        let params = read(name, "value", &value)?;
        let grads = read(name, "gradient", &grad)?;
        self.slots.push(Slot {
            id: param.id,
            name: name.to_owned(),
            shape,
            params,
            grads,
        });
        Ok(())
    }
}

/// A tensor's values as `f32`, refusing other dtypes rather than converting (a conversion would
/// break the bit-for-bit equality with the slice API and could not be written back exactly).
fn read<const D: usize>(
    name: &str,
    what: &'static str,
    t: &Tensor<D>,
) -> Result<Vec<f32>, BurnError> {
    let dtype = t.dtype();
    if dtype != DType::F32 {
        return Err(BurnError::UnsupportedDType {
            name: name.to_owned(),
            what,
            dtype: format!("{dtype:?}"),
        });
    }
    let failed = |reason: String| BurnError::Read {
        name: name.to_owned(),
        what,
        reason,
    };
    t.try_to_data()
        .map_err(|e| failed(format!("{e:?}")))?
        .try_into_vec::<f32>()
        .map_err(|e| failed(format!("{e:?}")))
}

impl ModuleVisitor for Gather<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.error.is_some() || !self.ids.insert(param.id) {
            return; // after an error, or a tied parameter seen before
        }
        let name = self.path.name();
        if !self.names.insert(name.clone()) {
            self.error = Some(BurnError::DuplicateName { name });
            return;
        }
        if let Err(e) = self.gather(&name, param) {
            self.error = Some(e);
        }
    }
}

/// Second walk: every stepped parameter gets its new values.
struct Scatter<'a> {
    slots: HashMap<ParamId, &'a Slot>,
}

impl ModuleMapper for Scatter<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        match self.slots.get(&param.id) {
            Some(slot) => {
                let id = param.id;
                param.map(|old| rebuild(old, slot, id))
            }
            None => param,
        }
    }
}

/// A new parameter tensor with `slot`'s values and everything else of `old`: its device, its
/// autodiff association with the same gradient-checkpointing strategy (a parameter created under
/// another strategy than its inputs' would be refused by autodiff on the next forward pass), its
/// gradient requirement and its distributed flag.
fn rebuild<const D: usize>(old: Tensor<D>, slot: &Slot, id: ParamId) -> Tensor<D> {
    let autodiff = old.is_autodiff();
    let require_grad = old.is_require_grad();
    let distributed = old.is_distributed();
    let strategy = old.gradient_checkpointing_strategy();
    let device = old.inner().device();
    let data = TensorData::new(slot.params.clone(), slot.shape.clone());
    let new = Tensor::<D>::from_data(data, (&device, DType::F32));
    if !autodiff {
        return new;
    }
    let mut new = Tensor::from_inner(new);
    if let Some(strategy) = strategy {
        new = new.with_gradient_checkpointing_strategy(strategy);
    }
    if require_grad {
        new = new.require_grad();
    }
    if distributed {
        new = new.set_distributed(id);
    }
    new
}
