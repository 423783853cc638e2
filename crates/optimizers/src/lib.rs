//! # optimizers
//!
//! Gradient-descent optimizers over **named `f32` tensors**, and [`Meta`], which wraps any of
//! them and learns the learning rate of every coordinate online with a memory of learning rates
//! ([`memory_core`]). A model is a list of named tensors; each call of [`Optimizer::step`]
//! updates one of them, creating its state on first sight.
//!
//! The seam follows optax: a base optimizer produces a *direction* u_t ([`Direction`]); a
//! learning rate scales it, w ← w − η ⊙ u. Plain [`Sgd`] and [`Adam`] use a constant η;
//! [`Meta`] asks its memory for η_d = η̂(z_d) per coordinate. The peers it is measured
//! against: [`Rprop`] (iRprop−) and hypergradient descent ([`SgdHd`], [`AdamHd`]).
//! Hyperparameters can change between steps ([`Optimizer::set_hyperparameter`]): [`Scheduled`]
//! sets them from [`schedule`]s (warmup, cosine, …), and [`Groups`] gives groups of tensors
//! optimizers of their own (no weight decay on biases, a memory on some layers only).
//!
//! ```
//! use optimizers::{Meta, MetaConfig, Optimizer, SgdConfig};
//! use memory_core::{MemoryConfig, MemoryOptimizer};
//!
//! // Meta-SGD as in the authors' MetaSgd1d: η₀ = 1e-2, Adam on θ with ξ = 1e-3.
//! let config = MetaConfig { memory: MemoryConfig { clip: 10.0, eta0: 1e-2,
//!                                                  optimizer: MemoryOptimizer::adam(1e-3),
//!                                                  ..MemoryConfig::default() },
//!                           ..MetaConfig::default() };
//! let mut opt = Meta::new(SgdConfig::default(), config)?;
//! let mut w = vec![3.0f32, -1.0];
//! for _ in 0..100 {
//!     let grad: Vec<f32> = w.iter().map(|x| 2.0 * x).collect(); // ∇‖w‖²
//!     opt.step("w", &mut w, &grad)?;
//! }
//! assert!(w.iter().all(|x| x.abs() < 1.0));
//! # Ok::<(), optimizers::OptimError>(())
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod adam;
pub mod contract;
mod error;
mod groups;
mod hd;
mod hyper;
mod meta;
#[cfg(feature = "ndarray")]
pub mod ndarray;
mod rprop;
pub mod schedule;
mod sgd;
mod spec;
mod state;

pub use adam::{Adam, AdamConfig, AdamState};
pub use error::OptimError;
pub use groups::Groups;
pub use hd::{AdamHd, AdamHdConfig, HdState, SgdHd, SgdHdConfig};
pub use memory_core::{self, MemoryConfig, MemoryOptimizer, NonFinite};
pub use meta::{Meta, MetaConfig, MetaTensor};
pub use rprop::{Rprop, RpropConfig, RpropState};
pub use schedule::{Schedule, Scheduled};
pub use sgd::{Sgd, SgdConfig, SgdState};
pub use spec::{registry, Built, Key, OptimizerSpec, RegistryEntry, SpecError};
pub use state::{check_inputs, TensorStates};

use serde::{de::DeserializeOwned, Serialize};

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
    /// use optimizers::{Optimizer, Sgd, SgdConfig, Tensor};
    /// let mut sgd = Sgd::new(SgdConfig::with_lr(0.5))?;
    /// let (mut w, mut b) = (vec![1.0f32, 2.0], vec![0.0f32]);
    /// sgd.step_model(&mut [
    ///     Tensor::new("w", &mut w, &[1.0, 1.0]),
    ///     Tensor::new("b", &mut b, &[-2.0]),
    /// ])?;
    /// assert_eq!((w, b), (vec![0.5, 1.5], vec![1.0]));
    /// # Ok::<(), optimizers::OptimError>(())
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
    /// use optimizers::{Optimizer, Sgd, SgdConfig};
    /// let mut sgd = Sgd::new(SgdConfig::with_lr(0.1))?;
    /// sgd.set_hyperparameter("momentum", 0.9)?;
    /// sgd.set_lr(0.05)?;
    /// assert_eq!(sgd.hyperparameter("momentum"), Some(0.9));
    /// assert_eq!(sgd.lr(), Some(0.05));
    /// assert!(sgd.set_lr(-1.0).is_err() && sgd.lr() == Some(0.05)); // refused, unchanged
    /// let err = sgd.set_hyperparameter("beta1", 0.9).unwrap_err();
    /// assert!(err.to_string().contains("it has: lr, momentum, dampening, weight_decay"));
    /// # Ok::<(), optimizers::OptimError>(())
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
    fn hyperparameters(&self) -> Vec<(String, f32)> {
        (**self).hyperparameters()
    }
    fn set_hyperparameter(&mut self, name: &str, value: f32) -> Result<(), OptimError> {
        (**self).set_hyperparameter(name, value)
    }
}

/// Whole-optimizer state that can be saved and loaded (postcard in lrmem's versioned envelope).
pub trait Checkpoint {
    /// Every tensor's state (and, for [`Meta`], every memory) as bytes.
    fn save(&self) -> Result<Vec<u8>, OptimError>;
    /// Replaces the state with what [`Checkpoint::save`] wrote. The checkpoint must come from
    /// the same kind of optimizer with the same config; damaged bytes are an error, and on an
    /// error the optimizer is unchanged.
    fn load(&mut self, bytes: &[u8]) -> Result<(), OptimError>;
}

/// A base optimizer as [`Meta`] sees it: the maths of the step direction, without a learning rate.
///
/// Per step and tensor, [`Meta`] calls [`advance`](Direction::advance) once, reads the query
/// z = [`query`](Direction::query) (clipped to the memory's range), and moves every coordinate by
/// `−η̂(z_d) · direction(…, z_d)`. SGD: z = u = g. Adam (the authors' TF backend): z = m_t,
/// u = m_t/(√v_t + ε).
pub trait Direction: Send + Sync {
    /// Per-tensor state of the base (momentum buffers, moments, …).
    type State: Clone + std::fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync;
    /// A short name, stored in checkpoints.
    const NAME: &'static str;
    /// Fresh state for a tensor of `len` coordinates.
    fn init(&self, len: usize) -> Self::State;
    /// Takes this step's gradient into the state (moments, momentum). Called once per step.
    fn advance(&self, state: &mut Self::State, params: &[f32], grads: &[f32]);
    /// The values the memory is queried with, one per coordinate (after `advance`).
    fn query<'a>(&self, state: &'a Self::State, grads: &'a [f32]) -> &'a [f32];
    /// u_d: the direction of coordinate `d`, given its clipped query `z`, gradient `g` and value `w`.
    fn direction(&self, state: &Self::State, d: usize, z: f32, g: f32, w: f32) -> f32;

    /// w_i ← w_i − η_i·u_{start+i} for a block of coordinates starting at `start` (`eta`, `z`,
    /// `grads` and `params` are that block). The default calls [`direction`](Direction::direction)
    /// per coordinate; a base whose direction is simple overrides it with a loop the compiler
    /// vectorises.
    fn apply_block(
        &self,
        state: &Self::State,
        start: usize,
        eta: &[f32],
        z: &[f32],
        grads: &[f32],
        params: &mut [f32],
    ) {
        for (i, (((w, &e), &zc), &g)) in params.iter_mut().zip(eta).zip(z).zip(grads).enumerate() {
            *w -= e * self.direction(state, start + i, zc, g, *w);
        }
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
