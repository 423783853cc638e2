//! # lrmem-optimizers
//!
//! Gradient-descent optimizers over **named `f32` tensors**, and [`Meta`], which wraps any of
//! them and learns the learning rate of every coordinate online with a memory of learning rates
//! ([`lrmem_memory_core`]). A model is a list of named tensors; each call of [`Optimizer::step`]
//! updates one of them, creating its state on first sight.
//!
//! The seam follows optax: a base optimizer produces a *direction* u_t, its own update divided
//! by its learning rate ([`Base`]); a learning rate scales it, w ← w − η ⊙ u. Plain [`Sgd`] and
//! [`Adam`] use a constant η; [`Meta`] wraps any [`Base`] and asks its memory for
//! η_d = η̂(z_d) per coordinate, keeping whatever the base adapts relative to its learning
//! rate. The peers it is measured against, which it can wrap too: [`Rprop`] (iRprop−) and
//! hypergradient descent ([`SgdHd`], [`AdamHd`]). [`MetaContext`] ([`context`]) is Meta-SGD
//! with a memory over two inputs, the gradient and its tensor's gradient scale relative to its
//! running RMS (registry name `meta-ctx-sgd`). [`Meta::last_rates`] and [`Meta::on_step`]
//! show the rates a step applied, and every optimizer shows its state by tensor and field
//! ([`StateView`]).
//! Hyperparameters can change between steps ([`Optimizer::set_hyperparameter`]): [`Scheduled`]
//! sets them from [`schedule`]s (warmup, cosine, …), and [`Groups`] gives groups of tensors
//! optimizers of their own (no weight decay on biases, a memory on some layers only).
//! Feature `burn`: `lrmem_optimizers::burn` trains burn modules with any of them, a whole model per step.
//!
//! The learning-rate-free and schedule-free optimizers practitioners pick today, each matched
//! number for number to its reference implementation: [`Prodigy`] ([`prodigy`]),
//! [`DAdaptAdam`] and [`DAdaptSgd`] ([`dadapt`]), [`Dog`] and [`LDog`] ([`dog`]),
//! [`ScheduleFreeSgd`] and [`ScheduleFreeAdamW`] ([`schedule_free`]), [`Cocob`] ([`cocob`])
//! and [`Mechanic`] over any base ([`mechanic`]). Most need the whole model at once: step them
//! with [`Optimizer::step_model`]; Schedule-Free and averaged DoG evaluate at
//! [`Optimizer::eval_params`].
//!
//! The offline "learning to learn" the memory is measured against: [`l2l::L2l`], the learned
//! LSTM optimizer of Andrychowicz et al. (2016), with weights meta-trained on random quadratics
//! and on an MNIST MLP shipped in the crate (registry name `l2l`).
//!
//! How to choose ξ, M, clip and the layout from your gradients' scale, when the memory helps
//! and when it does not (measured), and carrying a memory into the next task end to end: the
//! practitioner's guide, `docs/guide.md` in the lrmem repository (its examples are doctests
//! of this crate).
//!
//! ```
//! use lrmem_optimizers::{Meta, MetaConfig, Optimizer};
//! use lrmem_memory_core::{MemoryConfig, MemoryOptimizer};
//!
//! // Meta over plain SGD (the authors' MetaSgd1d), here with η₀ = 1e-2, clip 10 and Adam on θ
//! // with ξ = 1e-3 (guide: docs/guide.md).
//! let config = MetaConfig { memory: MemoryConfig { clip: 10.0, eta0: 1e-2,
//!                                                  optimizer: MemoryOptimizer::adam(1e-3),
//!                                                  ..MemoryConfig::default() },
//!                           ..MetaConfig::default() };
//! // η₀ is the base's learning rate: `Meta::sgd` builds plain SGD with lr = memory.eta0.
//! let mut opt = Meta::sgd(config)?;
//! let mut w = vec![3.0f32, -1.0];
//! for _ in 0..100 {
//!     let grad: Vec<f32> = w.iter().map(|x| 2.0 * x).collect(); // ∇‖w‖²
//!     opt.step("w", &mut w, &grad)?;
//! }
//! assert!(w.iter().all(|x| x.abs() < 1.0));
//! # Ok::<(), lrmem_optimizers::OptimError>(())
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod adam;
#[cfg(feature = "burn")]
pub mod burn;
pub mod cocob;
pub mod context;
pub mod contract;
pub mod dadapt;
pub mod dog;
mod error;
mod groups;
mod hd;
mod hyper;
pub mod l2l;
pub mod mechanic;
mod meta;
mod model;
#[cfg(feature = "ndarray")]
pub mod ndarray;
pub mod prodigy;
mod rprop;
pub mod schedule;
pub mod schedule_free;
mod sgd;
mod spec;
mod state;

pub use adam::{Adam, AdamConfig, AdamState};
pub use cocob::{Cocob, CocobConfig, CocobState};
pub use context::MetaContext;
pub use dadapt::{
    DAdaptAdam, DAdaptAdamConfig, DAdaptAdamScalars, DAdaptAdamState, DAdaptSgd, DAdaptSgdConfig,
    DAdaptSgdScalars, DAdaptSgdState,
};
pub use dog::{Dog, DogBlock, DogConfig, DogScalars, DogState, LDog};
pub use error::OptimError;
pub use groups::Groups;
pub use hd::{AdamHd, AdamHdConfig, HdState, SgdHd, SgdHdConfig};
/// The memory itself (`lrmem-memory-core`), re-exported so that one dependency gives both.
pub use lrmem_memory_core as memory_core;
pub use lrmem_memory_core::{
    ContextConfig, MemoryConfig, MemoryOptimizer, NonFinite, QueryScale, Reload, Signal, ThetaSpace,
};
pub use mechanic::{Mechanic, MechanicConfig, MechanicScalars, MechanicState, MAX_BETAS};
pub use meta::{
    saved_memories, LoadMemories, LoadReport, MemorySource, Meta, MetaConfig, Quantiles, Query,
    RateSummary, StepInfo, RECOMMENDED_SPEC,
};
pub use prodigy::{Prodigy, ProdigyConfig, ProdigyScalars, ProdigyState, D_LIMIT};
pub use rprop::{Rprop, RpropConfig, RpropState};
pub use schedule::{Schedule, Scheduled};
pub use schedule_free::{
    ScheduleFreeAdamW, ScheduleFreeAdamWConfig, ScheduleFreeAdamWState, ScheduleFreeScalars,
    ScheduleFreeSgd, ScheduleFreeSgdConfig, ScheduleFreeSgdState,
};
pub use sgd::{Sgd, SgdConfig, SgdState};
pub use spec::{registry, Built, Key, OptimizerSpec, RegistryEntry, SpecError};
pub(crate) use state::TensorStates;
pub use state::{checkpoint_kind, Field, Fields, Inspect, StateView, MAX_GRADIENT};

/// One named tensor of a model, for [`Optimizer::step_model`]: its parameters and their
/// gradients, so that a whole model can be handed to an optimizer in one call.
#[derive(Debug)]
pub struct Tensor<'a> {
    /// The tensor's name, the key of its optimizer state (as in [`Optimizer::step`]).
    pub name: &'a str,
    /// Its parameters, updated in place.
    pub params: &'a mut [f32],
    /// Their gradients, one per parameter.
    pub grads: &'a [f32],
}

impl<'a> Tensor<'a> {
    /// Bundles a tensor's name, parameters and gradients.
    pub fn new(name: &'a str, params: &'a mut [f32], grads: &'a [f32]) -> Self {
        Tensor {
            name,
            params,
            grads,
        }
    }
}

/// Steps one named parameter tensor. The one trait a training loop needs.
///
/// Per-tensor state is created on the first step of each name and kept under it; a tensor
/// must keep its length. Implementations check `grads.len() == params.len()` and finiteness
/// before changing anything, so an `Err` leaves parameters and state as they were.
///
/// The trait is object safe: an experiment holds `Box<dyn Optimizer + Send>` (what
/// [`OptimizerSpec::build`] makes), and `Box<O>` and `&mut O` are optimizers themselves.
pub trait Optimizer {
    /// w ← update(w, g) for the tensor `name`.
    fn step(&mut self, name: &str, params: &mut [f32], grads: &[f32]) -> Result<(), OptimError>;

    /// Steps every tensor of a model at once, in the order given.
    ///
    /// The default calls [`step`](Optimizer::step) on each tensor in order and stops at the
    /// first error: the tensors before the failing one **have** stepped, the failing one and
    /// those after it have not (each `step` leaves its own tensor unchanged on an error).
    /// Optimizers with statistics across tensors (a norm over the parameter group, a memory
    /// shared by several tensors that must see the whole model first) override it; for every
    /// optimizer of this crate it is exactly the tensors stepped one by one.
    ///
    /// ```
    /// use lrmem_optimizers::{Optimizer, Sgd, SgdConfig, Tensor};
    /// let mut sgd = Sgd::new(SgdConfig::with_lr(0.5))?;
    /// let (mut w, mut b) = (vec![1.0f32, 2.0], vec![0.0f32]);
    /// sgd.step_model(&mut [
    ///     Tensor::new("w", &mut w, &[1.0, 1.0]),
    ///     Tensor::new("b", &mut b, &[-2.0]),
    /// ])?;
    /// assert_eq!((w, b), (vec![0.5, 1.5], vec![1.0]));
    /// # Ok::<(), lrmem_optimizers::OptimError>(())
    /// ```
    fn step_model(&mut self, tensors: &mut [Tensor<'_>]) -> Result<(), OptimError> {
        for t in tensors.iter_mut() {
            self.step(t.name, t.params, t.grads)?;
        }
        Ok(())
    }

    /// A new task begins (sequential and transfer experiments): keep what the optimizer learned
    /// that should transfer to the next task, forget the rest.
    ///
    /// Required, so that every optimizer states what it carries across tasks: a silent "keep
    /// everything" would turn a fresh-start arm of an experiment into a continued one. In this
    /// crate, [`Meta`] keeps every memory's θ and resets everything else (exactly
    /// [`Meta::reload`]); every other optimizer forgets everything, so that after `next_task` it
    /// behaves bit for bit as a freshly built one. An optimizer that keeps nothing calls its
    /// reset; one that should keep everything across tasks implements it as a no-op.
    fn next_task(&mut self);

    /// The point to evaluate the model at, for tensor `name`, where the optimizer trains at one
    /// point and evaluates at another: Schedule-Free's x (the average its gradients are not
    /// taken at), DoG's polynomial average. `None` (the default) where the model is evaluated
    /// at its parameters, as for every other optimizer, and before `name` has stepped.
    ///
    /// The references switch their parameters between the two (`optimizer.eval()` /
    /// `optimizer.train()`); here the parameters stay the training point and this is what to
    /// evaluate: copy it into the model for evaluation, then copy the parameters back.
    ///
    /// ```
    /// use lrmem_optimizers::{Optimizer, Sgd, SgdConfig};
    /// let mut sgd = Sgd::new(SgdConfig::with_lr(0.1))?;
    /// let mut w = vec![1.0f32];
    /// sgd.step("w", &mut w, &[1.0])?;
    /// let at = sgd.eval_params("w").unwrap_or(&w); // SGD evaluates where it trains
    /// assert_eq!(at, &[0.9f32][..]);
    /// # Ok::<(), lrmem_optimizers::OptimError>(())
    /// ```
    fn eval_params(&self, name: &str) -> Option<&[f32]> {
        let _ = name;
        None
    }

    /// θ of every memory of learning rates, by memory key (for [`Meta`], by default the tensor's
    /// name), for reports and observers. Empty for optimizers without a memory.
    fn memory_thetas(&self) -> Vec<(String, Vec<f32>)> {
        Vec::new()
    }

    /// Every scalar hyperparameter that can change between steps, by name, with its current
    /// value: what [`set_hyperparameter`](Optimizer::set_hyperparameter) accepts and what a
    /// [`Scheduled`] optimizer can follow a [`Schedule`] for. Empty by default.
    ///
    /// The names are the keys of the optimizer's [`registry`] entry (`lr`, `momentum`, `beta1`,
    /// `xi`, …), so that the command line, the schedules and this list agree; [`Groups`] prefixes
    /// them with the group's name (`bias/lr`). Owned strings for that reason.
    fn hyperparameters(&self) -> Vec<(String, f32)> {
        Vec::new()
    }

    /// Sets the hyperparameter `name` to `value` between steps (a schedule, a warmup, a change
    /// of plan after loading a checkpoint).
    ///
    /// The value passes exactly the validation of the constructor, and an error
    /// ([`OptimError::InvalidConfig`] naming the key) changes nothing; a name the optimizer does
    /// not have is [`OptimError::UnknownHyperparameter`], which lists those it has (the default
    /// for optimizers without any). Each optimizer's docs say what a new value does to state
    /// already learned from the old one (hypergradient descent rescales its learned rates,
    /// [`Meta`] keeps its memories' θ).
    ///
    /// ```
    /// use lrmem_optimizers::{Optimizer, Sgd, SgdConfig};
    /// let mut sgd = Sgd::new(SgdConfig::with_lr(0.1))?;
    /// sgd.set_hyperparameter("momentum", 0.9)?;
    /// sgd.set_lr(0.05)?;
    /// assert_eq!(sgd.hyperparameter("momentum"), Some(0.9));
    /// assert_eq!(sgd.lr(), Some(0.05));
    /// assert!(sgd.set_lr(-1.0).is_err() && sgd.lr() == Some(0.05)); // refused, unchanged
    /// let err = sgd.set_hyperparameter("beta1", 0.9).unwrap_err();
    /// assert!(err.to_string().contains("it has: lr, momentum, dampening, weight_decay"));
    /// # Ok::<(), lrmem_optimizers::OptimError>(())
    /// ```
    fn set_hyperparameter(&mut self, name: &str, value: f32) -> Result<(), OptimError> {
        let _ = value;
        Err(hyper::unknown(name, &self.hyperparameters()))
    }

    /// The current value of the hyperparameter `name`, if the optimizer has it.
    fn hyperparameter(&self, name: &str) -> Option<f32> {
        self.hyperparameters()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// The learning rate, `hyperparameter("lr")`.
    fn lr(&self) -> Option<f32> {
        self.hyperparameter("lr")
    }

    /// Sets the learning rate, `set_hyperparameter("lr", lr)`.
    fn set_lr(&mut self, lr: f32) -> Result<(), OptimError> {
        self.set_hyperparameter("lr", lr)
    }
}

/// Lets results holding a boxed optimizer be unwrapped and printed (`build().unwrap_err()`);
/// shows only that it is an optimizer.
impl std::fmt::Debug for dyn Optimizer + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn Optimizer")
    }
}

/// As for `dyn Optimizer`: the type [`OptimizerSpec::build`] returns.
impl std::fmt::Debug for dyn Optimizer + Send + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn Optimizer + Send")
    }
}

/// A boxed optimizer is an optimizer (what [`OptimizerSpec::build`] returns can be passed to
/// code generic over `O: Optimizer`). Forwards every method, overrides included.
impl<O: Optimizer + ?Sized> Optimizer for Box<O> {
    fn step(&mut self, name: &str, params: &mut [f32], grads: &[f32]) -> Result<(), OptimError> {
        (**self).step(name, params, grads)
    }
    fn step_model(&mut self, tensors: &mut [Tensor<'_>]) -> Result<(), OptimError> {
        (**self).step_model(tensors)
    }
    fn next_task(&mut self) {
        (**self).next_task()
    }
    fn memory_thetas(&self) -> Vec<(String, Vec<f32>)> {
        (**self).memory_thetas()
    }
    fn eval_params(&self, name: &str) -> Option<&[f32]> {
        (**self).eval_params(name)
    }
    fn hyperparameters(&self) -> Vec<(String, f32)> {
        (**self).hyperparameters()
    }
    fn set_hyperparameter(&mut self, name: &str, value: f32) -> Result<(), OptimError> {
        (**self).set_hyperparameter(name, value)
    }
}

/// A borrowed optimizer is an optimizer (lend one to generic code and keep it). Forwards every
/// method, overrides included.
impl<O: Optimizer + ?Sized> Optimizer for &mut O {
    fn step(&mut self, name: &str, params: &mut [f32], grads: &[f32]) -> Result<(), OptimError> {
        (**self).step(name, params, grads)
    }
    fn step_model(&mut self, tensors: &mut [Tensor<'_>]) -> Result<(), OptimError> {
        (**self).step_model(tensors)
    }
    fn next_task(&mut self) {
        (**self).next_task()
    }
    fn memory_thetas(&self) -> Vec<(String, Vec<f32>)> {
        (**self).memory_thetas()
    }
    fn eval_params(&self, name: &str) -> Option<&[f32]> {
        (**self).eval_params(name)
    }
    fn hyperparameters(&self) -> Vec<(String, f32)> {
        (**self).hyperparameters()
    }
    fn set_hyperparameter(&mut self, name: &str, value: f32) -> Result<(), OptimError> {
        (**self).set_hyperparameter(name, value)
    }
}

/// Whole-optimizer state that can be saved and loaded (postcard in lrmem's versioned envelope).
///
/// A checkpoint names the kind of optimizer that wrote it (`Sgd`, `Meta<Adam>`) in its header,
/// before its body ([`checkpoint_kind`] reads it), so that loading it into another kind is an
/// error that names both rather than a failure to decode.
pub trait Checkpoint {
    /// Every tensor's state (and, for [`Meta`], every memory) as bytes.
    fn save(&self) -> Result<Vec<u8>, OptimError>;
    /// Replaces the state with what [`Checkpoint::save`] wrote, to resume exactly.
    ///
    /// The hyperparameters that change between steps (the learning rate, `Meta`'s ξ, every key
    /// of [`Optimizer::hyperparameters`]) are restored as they were saved, as torch's
    /// `load_state_dict` restores each parameter group's: set a new rate after loading. The
    /// checkpoint must come from the same kind of optimizer, with the same structure (SGD with
    /// or without momentum; `Meta`'s memory layout and clip): another kind or structure is
    /// [`OptimError::Incompatible`], naming both kinds or every differing field with both
    /// values; damaged bytes are [`OptimError::Corrupt`]. On an error the optimizer is
    /// unchanged. (To start a new task from a `Meta` checkpoint's θ with another config, use
    /// [`Meta::load_memories`].)
    fn load(&mut self, bytes: &[u8]) -> Result<(), OptimError>;
}

/// How a base's direction u relates to the query z that the memory is asked with: what
/// [`Base::direction`] returns, so that [`Meta`] can move every coordinate by −η_d·u_d.
///
/// The query is clipped to the memory's ±clip before the memory sees it; `ClippedQuery` lets a
/// base use that clipped value as its direction without another pass over the tensor (plain
/// SGD, the authors' `MetaSgd1d`, which steps by η̂(z)·clip(g)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Direction {
    /// u_d = clip(z_d): the clipped query is the direction; the buffer is not used.
    ClippedQuery,
    /// u_d = clip(z_d) + b_d, with b in the buffer (SGD's weight decay λw).
    ClippedQueryPlus,
    /// u_d = b_d: the buffer holds the whole direction.
    Values,
}

/// Scratch space for one direction value per coordinate, lent by [`Meta`] to
/// [`Base::direction`]. Allocated on first use and reused across steps and tensors, so that a
/// base that never asks for it (plain SGD) costs no memory and no pass.
#[derive(Debug)]
pub struct DirectionBuf<'a> {
    buf: &'a mut Vec<f32>,
    len: usize,
}

impl<'a> DirectionBuf<'a> {
    /// Lends `buf` for a tensor of `len` coordinates (it grows to `len` when first asked for).
    pub fn new(buf: &'a mut Vec<f32>, len: usize) -> Self {
        DirectionBuf { buf, len }
    }

    /// The buffer: exactly one value per coordinate of the tensor. Its contents are left over
    /// from earlier steps: write every value that the returned [`Direction`] reads.
    pub fn values(&mut self) -> &mut [f32] {
        if self.buf.len() < self.len {
            self.buf.resize(self.len, 0.0);
        }
        &mut self.buf[..self.len]
    }
}

/// What [`Meta`] needs to know of a base besides its direction: its name, and the two settings
/// that `Meta` takes over.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct BaseInfo {
    /// The base's type as messages and checkpoints name it (`"Sgd"`): a `Meta` over it saves
    /// checkpoints of kind `Meta<Sgd>`.
    pub kind: &'static str,
    /// The base's learning rate, which `Meta` replaces by the memory's: η₀, the memory's rate
    /// before it learns, so it must equal `MetaConfig.memory.eta0`.
    pub lr: f32,
    /// The base's policy for non-finite gradients, which `Meta` applies before the base sees
    /// a gradient: it must equal `MetaConfig.memory.non_finite`.
    pub non_finite: NonFinite,
}

impl BaseInfo {
    /// A base of type `kind` with learning rate `lr` and policy `non_finite`.
    pub fn new(kind: &'static str, lr: f32, non_finite: NonFinite) -> Self {
        BaseInfo {
            kind,
            lr,
            non_finite,
        }
    }
}

/// A base optimizer that [`Meta`] can wrap, implemented by the optimizers themselves ([`Sgd`],
/// [`Adam`], [`Rprop`], [`SgdHd`], [`AdamHd`]).
///
/// **The rule** (docs/algorithm.md §11–§12): the memory's rate η replaces the base's learning
/// rate lr and keeps whatever the base adapts relative to it. The direction is
/// u = (the base's own update)/lr, so that w ← w − η ⊙ u is the base's own step wherever
/// η = lr. The memory is queried with, and learns from, z = the gradient unless the base says
/// otherwise ([`query`](Base::query)). Per base:
///
/// - [`Sgd`]: u = g (with its weight decay, momentum and Nesterov). Plain SGD steps by
///   η̂(z)·clip(g), the authors' `MetaSgd1d`; with momentum the query is the buffer.
/// - [`Adam`]: z = m_t and u = m_t/(√v_t + ε), the authors' TensorFlow backend (without Adam's
///   bias corrections, which the memory's rate absorbs).
/// - [`Rprop`]: u = sign(g)·Δ/Δ₀, the relative step: Rprop's per-coordinate step size Δ relative
///   to where it starts, so that the memory's rate takes the place of Δ₀.
/// - [`SgdHd`], [`AdamHd`]: u = (α_t/α₀)·(their direction): the hypergradient rate α_t, learned
///   as without `Meta`, scales the memory's rate by how far it moved from α₀.
///
/// Two required methods. [`direction`](Base::direction) is called once per step of a tensor,
/// before the memory learns; it takes the gradient into the base's state and must not move the
/// parameters.
pub trait Base: Optimizer + Send + Sync {
    /// The base's name, learning rate and non-finite policy.
    fn info(&self) -> BaseInfo;

    /// Takes this step's gradient of tensor `name` into the base's state (created on first
    /// sight; a tensor must keep its length) and says what its direction u is, writing into
    /// `buf` what the returned [`Direction`] reads. `params` are the parameters before the step
    /// (weight decay reads them); `grads` are finite (`Meta` has applied the non-finite policy).
    /// On an error the base's state is unchanged.
    fn direction(
        &mut self,
        name: &str,
        params: &[f32],
        grads: &[f32],
        buf: DirectionBuf<'_>,
    ) -> Result<Direction, OptimError>;

    /// The query z of tensor `name` after [`direction`](Base::direction): one value per
    /// coordinate, which the memory clips, learns from and predicts rates for. The gradient by
    /// default.
    fn query<'a>(&'a self, name: &str, grads: &'a [f32]) -> &'a [f32] {
        let _ = name;
        grads
    }
}

/// What [`Meta::new`] takes as its base: a [`Base`] optimizer itself, or the config of one of
/// this crate's optimizers (built and validated by that optimizer's constructor), so that
/// `Meta::new(SgdConfig::default(), …)` and `Meta::new(Sgd::new(…)?, …)` both work.
pub trait IntoBase {
    /// The optimizer it becomes.
    type Base: Base;
    /// Builds (and validates) the base.
    fn into_base(self) -> Result<Self::Base, OptimError>;
}

/// A base is itself.
impl<B: Base> IntoBase for B {
    type Base = B;
    fn into_base(self) -> Result<B, OptimError> {
        Ok(self)
    }
}

/// Bytes of optimizer state per parameter coordinate, for capacity planning and reports.
pub trait StateBytes {
    /// Bytes per coordinate (excluding O(1)- or O(M)-per-tensor terms).
    fn bytes_per_coordinate(&self) -> usize;
}

#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

// The practitioner's guide's examples compile and run as written.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/guide.md")]
struct GuideDoctests;
