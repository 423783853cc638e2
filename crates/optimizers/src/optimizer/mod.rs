//! The ground every optimizer of this crate stands on: the [`Optimizer`] trait and the tensors it
//! steps, [`Checkpoint`] and [`StateBytes`], the seam [`Base`] that the wrappers scale, the
//! errors, per-tensor state and its checks, checkpoints, hyperparameters by name, and the
//! machinery of the optimizers whose step needs the whole model. Nothing here knows a concrete
//! optimizer or the text format of the registry.

mod base;
pub(crate) mod checkpoint;
mod error;
pub(crate) mod hyper;
pub(crate) mod inputs;
pub(crate) mod macros;
pub(crate) mod model;
pub(crate) mod state;

pub use base::{Base, BaseInfo, Direction, DirectionBuf, IntoBase};
pub use error::OptimError;

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
/// The trait is object safe: an experiment holds any optimizer as `Box<dyn Optimizer + Send>`
/// (what [`Built::into_box`](crate::Built::into_box) makes of a spec's optimizer), and `Box<O>`
/// and `&mut O` are optimizers themselves.
pub trait Optimizer {
    /// w ← update(w, g) for the tensor `name`.
    fn step(&mut self, name: &str, params: &mut [f32], grads: &[f32]) -> Result<(), OptimError>;

    /// Steps every tensor of a model at once, in the order given.
    ///
    /// **All or nothing**: [`check_model`](Optimizer::check_model) checks every tensor first (a
    /// name given twice is [`OptimError::DuplicateTensor`]), and only then does any tensor
    /// move, so that a bad gradient in the last tensor leaves the first ones, and all state, as
    /// they were (docs/guide.md §11): a training loop can skip the bad batch and go on from an
    /// unchanged model. The default then calls [`step`](Optimizer::step) on each tensor in
    /// order. Optimizers with statistics across tensors (a norm over the parameter group, a
    /// memory shared by several tensors that must see the whole model first) override it; for
    /// every per-tensor optimizer of this crate it is exactly the tensors stepped one by one.
    ///
    /// ```
    /// use lrmem_optimizers::{OptimError, Optimizer, Sgd, SgdConfig, Tensor};
    /// let mut sgd = Sgd::new(SgdConfig::with_lr(0.5))?;
    /// let (mut w, mut b) = (vec![1.0f32, 2.0], vec![0.0f32]);
    /// sgd.step_model(&mut [
    ///     Tensor::new("w", &mut w, &[1.0, 1.0]),
    ///     Tensor::new("b", &mut b, &[-2.0]),
    /// ])?;
    /// assert_eq!((&w[..], &b[..]), (&[0.5, 1.5][..], &[1.0][..]));
    /// // A NaN in the last tensor's gradient: nothing moves, `w` included.
    /// let err = sgd.step_model(&mut [
    ///     Tensor::new("w", &mut w, &[1.0, 1.0]),
    ///     Tensor::new("b", &mut b, &[f32::NAN]),
    /// ]);
    /// assert!(matches!(err, Err(OptimError::NonFiniteGradient { .. })));
    /// assert_eq!((w, b), (vec![0.5, 1.5], vec![1.0]));
    /// # Ok::<(), lrmem_optimizers::OptimError>(())
    /// ```
    fn step_model(&mut self, tensors: &mut [Tensor<'_>]) -> Result<(), OptimError> {
        self.check_model(tensors)?;
        for t in tensors.iter_mut() {
            self.step(t.name, t.params, t.grads)?;
        }
        Ok(())
    }

    /// Refuses what [`step`](Optimizer::step) would refuse for this tensor (a length that
    /// differs from the gradients' or from the tensor's state, non-finite parameters, unusable
    /// gradients, …), with the same error, and changes nothing: what lets
    /// [`step_model`](Optimizer::step_model) check every tensor before it moves any.
    ///
    /// The default accepts everything: an optimizer that keeps it (one written outside this
    /// crate) gets the default `step_model`'s old behaviour, where the tensors before a refused
    /// one have stepped. Every optimizer of this crate implements it (or
    /// [`check_model`](Optimizer::check_model)), and [`contract`](crate::contract) holds an
    /// optimizer to it.
    fn check_step(&self, name: &str, params: &[f32], grads: &[f32]) -> Result<(), OptimError> {
        let _ = (name, params, grads);
        Ok(())
    }

    /// Refuses what [`step_model`](Optimizer::step_model) would refuse for these tensors,
    /// changing nothing: a name given twice ([`OptimError::DuplicateTensor`]), then every
    /// tensor's [`check_step`](Optimizer::check_step), in order. `step_model` calls it before
    /// any tensor moves; wrappers call it on what they wrap ([`Groups`](crate::Groups) on every
    /// group before any group steps). Whole-model optimizers override it with their own checks.
    ///
    /// The tensors are borrowed mutably only so that a wrapper can hand parts of them on as
    /// [`Tensor`]s; nothing writes to them.
    fn check_model(&self, tensors: &mut [Tensor<'_>]) -> Result<(), OptimError> {
        model::check_distinct(tensors)?;
        for t in tensors.iter() {
            self.check_step(t.name, t.params, t.grads)?;
        }
        Ok(())
    }

    /// A new task begins (sequential and transfer experiments): keep what the optimizer learned
    /// that should transfer to the next task, forget the rest.
    ///
    /// Required, so that every optimizer states what it carries across tasks: a silent "keep
    /// everything" would turn a fresh-start arm of an experiment into a continued one. In this
    /// crate, [`Meta`](crate::Meta) keeps every memory's θ and resets everything else (exactly
    /// [`Meta::reload`](crate::Meta::reload)); every other optimizer forgets everything, so that after `next_task` it
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

    /// θ of every memory of learning rates, by memory key (for [`Meta`](crate::Meta), by default the tensor's
    /// name), for reports and observers. Empty for optimizers without a memory.
    fn memory_thetas(&self) -> Vec<(String, Vec<f32>)> {
        Vec::new()
    }

    /// Every scalar hyperparameter that can change between steps, by name, with its current
    /// value: what [`set_hyperparameter`](Optimizer::set_hyperparameter) accepts and what a
    /// [`Scheduled`](crate::Scheduled) optimizer can follow a [`Schedule`](crate::Schedule) for. Empty by default.
    ///
    /// The names are the keys of the optimizer's [`registry`](crate::registry()) entry (`lr`, `momentum`, `beta1`,
    /// `xi`, …), so that the command line, the schedules and this list agree; [`Groups`](crate::Groups) prefixes
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
    /// for optimizers without any). Setting a value changes no learned state: it applies from
    /// the next step, where learned rates kept relative to `lr` follow it (hypergradient
    /// descent's α and Rprop's Δ by new/old, within their bounds; [`Meta`](crate::Meta)'s
    /// memories hand out their rates times lr/η₀ and keep θ), so that a value set and set back
    /// leaves the optimizer exactly as it was (docs/guide.md §8 says what each key does, §11
    /// what holds). Each optimizer's docs say the same for its keys.
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

/// As for `dyn Optimizer`: the type [`Built::into_box`](crate::Built::into_box) returns.
impl std::fmt::Debug for dyn Optimizer + Send + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn Optimizer + Send")
    }
}

/// A boxed optimizer is an optimizer (a `Box<dyn Optimizer + Send>` can be passed to code
/// generic over `O: Optimizer`). Forwards every method, overrides included.
impl<O: Optimizer + ?Sized> Optimizer for Box<O> {
    macros::forward_optimizer!(this => (**this));
}

/// A borrowed optimizer is an optimizer (lend one to generic code and keep it). Forwards every
/// method, overrides included.
impl<O: Optimizer + ?Sized> Optimizer for &mut O {
    macros::forward_optimizer!(this => (**this));
}

/// Whole-optimizer state that can be saved and loaded (postcard in lrmem's versioned envelope).
///
/// A checkpoint names the kind of optimizer that wrote it (`Sgd`, `Meta<Adam>`) in its header,
/// before its body ([`checkpoint_kind`](crate::checkpoint_kind) reads it), so that loading it into another kind is an
/// error that names both rather than a failure to decode.
pub trait Checkpoint {
    /// Every tensor's state (and, for [`Meta`](crate::Meta), every memory) as bytes.
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
    /// [`Meta::load_memories`](crate::Meta::load_memories).)
    fn load(&mut self, bytes: &[u8]) -> Result<(), OptimError>;
}

/// Bytes of optimizer state per parameter coordinate, for capacity planning and reports.
pub trait StateBytes {
    /// Bytes per coordinate (excluding O(1)- or O(M)-per-tensor terms).
    fn bytes_per_coordinate(&self) -> usize;
}
