//! Schedules: a hyperparameter's value as a function of the step, and [`Scheduled`], which sets
//! an optimizer's hyperparameters from them at every model step.
//!
//! A [`Schedule`] gives the value itself at step t (t = 0 for the first step), as optax's
//! schedules do; torch's `LambdaLR` multiplies a base rate by a factor, which is the same with
//! the base rate written into the schedule. Each schedule here is a small serde struct with a
//! validating constructor and the closed formula in its docs; [`Schedule::then`] joins two
//! (optax's `join_schedules`, torch's `SequentialLR`).
//!
//! Cosine decay with a linear warmup on Adam: 100 steps from 10⁻⁵ up to 10⁻³, then a cosine
//! down to 10⁻⁵ over 900 steps.
//!
//! ```
//! use lrmem_optimizers::schedule::{Cosine, Schedule, Scheduled, Warmup};
//! use lrmem_optimizers::{Adam, AdamConfig, Optimizer};
//!
//! let warmup = Warmup::new(1e-3, 0.01, 100)?;
//! let lr = warmup.then(100, Cosine::new(1e-3, 1e-5, 900)?);
//! assert!((lr.value(0) - 1e-5).abs() < 1e-12);
//! assert_eq!(lr.value(100), 1e-3);
//! assert_eq!(lr.value(1000), 1e-5);
//!
//! let mut opt = Scheduled::new(Adam::new(AdamConfig::default())?).schedule("lr", lr)?;
//! let mut w = vec![1.0f32; 3];
//! for _ in 0..150 {
//!     let grad: Vec<f32> = w.iter().map(|x| 2.0 * x).collect();
//!     opt.step("w", &mut w, &grad)?;
//! }
//! assert_eq!(opt.step_count(), 150); // the last of them ran at t = 149
//! assert_eq!(opt.lr(), Some(lr.value(149)));
//! # Ok::<(), lrmem_optimizers::OptimError>(())
//! ```

use std::collections::BTreeSet;
use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use crate::optimizer::{Checkpoint, OptimError, Optimizer, StateBytes, Tensor};

/// A hyperparameter's value at every step: `value(t)` for the model step t = 0, 1, 2, …
///
/// `Send + Sync` so that a [`Scheduled`] optimizer can be sent to a worker thread like the
/// optimizer it wraps. Implement it for a schedule of your own; the ones of this module are
/// [`Constant`], [`Warmup`], [`StepDecay`], [`Cosine`], [`Linear`] and [`Join`].
pub trait Schedule: Send + Sync {
    /// The value at step `t` (0 for the first step).
    fn value(&self, t: u64) -> f32;

    /// This schedule for the first `steps` steps, then `next` started afresh:
    /// `t < steps ? self(t) : next(t − steps)`, as optax's `join_schedules` and torch's
    /// `SequentialLR`. See [`Join`].
    fn then<B: Schedule>(self, steps: u64, next: B) -> Join<Self, B>
    where
        Self: Sized,
    {
        Join {
            first: self,
            steps,
            next,
        }
    }
}

impl<S: Schedule + ?Sized> Schedule for Box<S> {
    fn value(&self, t: u64) -> f32 {
        (**self).value(t)
    }
}

impl<S: Schedule + ?Sized> Schedule for &S {
    fn value(&self, t: u64) -> f32 {
        (**self).value(t)
    }
}

fn finite(field: &'static str, value: f32) -> Result<f32, OptimError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(OptimError::invalid(field, value, "finite"))
    }
}

fn positive_steps(steps: u64) -> Result<u64, OptimError> {
    if steps >= 1 {
        Ok(steps)
    } else {
        Err(OptimError::invalid("steps", steps, "at least 1"))
    }
}

/// min(t, n)/n in f64: the fraction of a schedule of `n` steps done at step `t`.
fn fraction(t: u64, n: u64) -> f64 {
    t.min(n) as f64 / n as f64
}

/// Defines how serde reads a schedule: through its validating constructor, so that a
/// deserialized schedule is as valid as a constructed one.
macro_rules! checked_serde {
    ($ty:ident, $raw:ident { $($field:ident: $t:ty),* }) => {
        /// What serde reads before the constructor checks it.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct $raw {
            $($field: $t),*
        }

        impl TryFrom<$raw> for $ty {
            type Error = OptimError;
            fn try_from(raw: $raw) -> Result<Self, OptimError> {
                $ty::new($(raw.$field),*)
            }
        }
    };
}

/// The same value at every step.
///
/// ```
/// use lrmem_optimizers::schedule::{Constant, Schedule};
/// assert_eq!(Constant::new(0.1)?.value(1000), 0.1);
/// # Ok::<(), lrmem_optimizers::OptimError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ConstantRaw")]
pub struct Constant {
    value: f32,
}
checked_serde!(Constant, ConstantRaw { value: f32 });

impl Constant {
    /// `value` at every step; it must be finite.
    pub fn new(value: f32) -> Result<Self, OptimError> {
        Ok(Constant {
            value: finite("value", value)?,
        })
    }
}

impl Schedule for Constant {
    fn value(&self, _t: u64) -> f32 {
        self.value
    }
}

/// Linear warmup: from `start_factor · peak` at t = 0 up to `peak` at t = `steps`, then `peak`.
///
/// value(t) = peak · (s + (1 − s) · min(t, n)/n), with s = `start_factor` and n = `steps`:
/// torch's `LinearLR(start_factor=s, end_factor=1, total_iters=n)` on a base rate `peak`.
/// Follow it with another schedule with [`Schedule::then`]`(n, …)`.
///
/// ```
/// use lrmem_optimizers::schedule::{Schedule, Warmup};
/// let w = Warmup::new(0.1, 0.25, 4)?;
/// assert_eq!([w.value(0), w.value(2), w.value(4), w.value(9)], [0.025, 0.0625, 0.1, 0.1]);
/// # Ok::<(), lrmem_optimizers::OptimError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "WarmupRaw")]
pub struct Warmup {
    peak: f32,
    start_factor: f32,
    steps: u64,
}
checked_serde!(
    Warmup,
    WarmupRaw {
        peak: f32,
        start_factor: f32,
        steps: u64
    }
);

impl Warmup {
    /// `peak` finite, `start_factor` in [0, 1] (0: from zero, as optax's warmups; torch's
    /// `LinearLR` needs > 0 only because it multiplies step by step), `steps` ≥ 1.
    pub fn new(peak: f32, start_factor: f32, steps: u64) -> Result<Self, OptimError> {
        if !(0.0..=1.0).contains(&start_factor) {
            return Err(OptimError::invalid(
                "start_factor",
                start_factor,
                "in [0, 1]",
            ));
        }
        Ok(Warmup {
            peak: finite("peak", peak)?,
            start_factor,
            steps: positive_steps(steps)?,
        })
    }
}

impl Schedule for Warmup {
    fn value(&self, t: u64) -> f32 {
        let s = self.start_factor as f64;
        (self.peak as f64 * (s + (1.0 - s) * fraction(t, self.steps))) as f32
    }
}

/// Step decay: `init` multiplied by γ every `steps` steps.
///
/// value(t) = init · γ^⌊t/n⌋: torch's `StepLR(step_size=n, gamma=γ)` on a base rate `init`.
///
/// ```
/// use lrmem_optimizers::schedule::{Schedule, StepDecay};
/// let s = StepDecay::new(0.1, 0.5, 3)?;
/// assert_eq!([s.value(0), s.value(2), s.value(3), s.value(6)], [0.1, 0.1, 0.05, 0.025]);
/// # Ok::<(), lrmem_optimizers::OptimError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StepDecayRaw")]
pub struct StepDecay {
    init: f32,
    gamma: f32,
    steps: u64,
}
checked_serde!(
    StepDecay,
    StepDecayRaw {
        init: f32,
        gamma: f32,
        steps: u64
    }
);

impl StepDecay {
    /// `init` finite, `gamma` finite and > 0, `steps` ≥ 1.
    pub fn new(init: f32, gamma: f32, steps: u64) -> Result<Self, OptimError> {
        if !(gamma.is_finite() && gamma > 0.0) {
            return Err(OptimError::invalid("gamma", gamma, "finite and > 0"));
        }
        Ok(StepDecay {
            init: finite("init", init)?,
            gamma,
            steps: positive_steps(steps)?,
        })
    }
}

impl Schedule for StepDecay {
    fn value(&self, t: u64) -> f32 {
        let k = (t / self.steps).min(i32::MAX as u64) as i32;
        (self.init as f64 * (self.gamma as f64).powi(k)) as f32
    }
}

/// Cosine decay from `init` at t = 0 to `floor` at t = `steps`, then `floor`.
///
/// value(t) = floor + (init − floor) · (1 + cos(π · min(t, n)/n)) / 2: torch's
/// `CosineAnnealingLR(T_max=n, eta_min=floor)` (its closed form) on a base rate `init` for
/// t ≤ n. After n steps it stays at the floor, as optax's `cosine_decay_schedule`; torch's would
/// rise again.
///
/// ```
/// use lrmem_optimizers::schedule::{Cosine, Schedule};
/// let c = Cosine::new(0.1, 0.0, 10)?;
/// assert_eq!([c.value(0), c.value(5), c.value(10), c.value(20)], [0.1, 0.05, 0.0, 0.0]);
/// # Ok::<(), lrmem_optimizers::OptimError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CosineRaw")]
pub struct Cosine {
    init: f32,
    floor: f32,
    steps: u64,
}
checked_serde!(
    Cosine,
    CosineRaw {
        init: f32,
        floor: f32,
        steps: u64
    }
);

impl Cosine {
    /// `init` and `floor` finite, `steps` ≥ 1.
    pub fn new(init: f32, floor: f32, steps: u64) -> Result<Self, OptimError> {
        Ok(Cosine {
            init: finite("init", init)?,
            floor: finite("floor", floor)?,
            steps: positive_steps(steps)?,
        })
    }
}

impl Schedule for Cosine {
    fn value(&self, t: u64) -> f32 {
        let (init, floor) = (self.init as f64, self.floor as f64);
        let t = t.min(self.steps);
        if t == self.steps {
            // Exactly the floor, not the floor plus cos(π)'s rounding.
            return self.floor;
        }
        (floor + (init - floor) * (1.0 + libm::cos(PI * fraction(t, self.steps))) / 2.0) as f32
    }
}

/// Linear change from `init` at t = 0 to `end` at t = `steps`, then `end` (a linear decay, or
/// any ramp): optax's `linear_schedule`.
///
/// value(t) = init + (end − init) · min(t, n)/n.
///
/// ```
/// use lrmem_optimizers::schedule::{Linear, Schedule};
/// let l = Linear::new(0.1, 0.0, 4)?;
/// assert_eq!([l.value(0), l.value(1), l.value(4), l.value(8)], [0.1, 0.075, 0.0, 0.0]);
/// # Ok::<(), lrmem_optimizers::OptimError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "LinearRaw")]
pub struct Linear {
    init: f32,
    end: f32,
    steps: u64,
}
checked_serde!(
    Linear,
    LinearRaw {
        init: f32,
        end: f32,
        steps: u64
    }
);

impl Linear {
    /// `init` and `end` finite, `steps` ≥ 1.
    pub fn new(init: f32, end: f32, steps: u64) -> Result<Self, OptimError> {
        Ok(Linear {
            init: finite("init", init)?,
            end: finite("end", end)?,
            steps: positive_steps(steps)?,
        })
    }
}

impl Schedule for Linear {
    fn value(&self, t: u64) -> f32 {
        let (init, end) = (self.init as f64, self.end as f64);
        (init + (end - init) * fraction(t, self.steps)) as f32
    }
}

/// `first` for the first `steps` steps, then `next` counted from 0 again: value(t) =
/// first(t) for t < steps, next(t − steps) otherwise (optax's `join_schedules`, torch's
/// `SequentialLR`). Made by [`Schedule::then`]; joins nest, for more than two phases.
///
/// ```
/// use lrmem_optimizers::schedule::{Constant, Linear, Schedule, Warmup};
/// let s = Warmup::new(0.1, 0.5, 2)?.then(2, Linear::new(0.1, 0.0, 2)?).then(4, Constant::new(0.0)?);
/// let v: Vec<f32> = (0..6).map(|t| s.value(t)).collect();
/// assert_eq!(v, [0.05, 0.075, 0.1, 0.05, 0.0, 0.0]);
/// # Ok::<(), lrmem_optimizers::OptimError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Join<A, B> {
    /// The schedule of the first `steps` steps.
    pub first: A,
    /// How many steps `first` lasts.
    pub steps: u64,
    /// The schedule after them, started at its own step 0.
    pub next: B,
}

impl<A: Schedule, B: Schedule> Schedule for Join<A, B> {
    fn value(&self, t: u64) -> f32 {
        if t < self.steps {
            self.first.value(t)
        } else {
            self.next.value(t - self.steps)
        }
    }
}

/// One scheduled hyperparameter of a [`Scheduled`] optimizer.
struct Entry {
    name: String,
    schedule: Box<dyn Schedule>,
    /// The value last set, so that an unchanged value is not set again.
    applied: Option<f32>,
}

/// An optimizer whose hyperparameters follow [`Schedule`]s: before each model step t it sets
/// every scheduled hyperparameter (`"lr"`, Meta's `"xi"`, a group's `"bias/lr"`, …) to
/// `schedule.value(t)` with [`Optimizer::set_hyperparameter`].
///
/// **What a step is.** t numbers model steps from 0. With [`Optimizer::step_model`] each call is
/// one. With the per-tensor [`Optimizer::step`], a model step is the run of calls between two
/// steps of the same tensor: when a tensor name comes again, a new model step begins and t
/// increases, so that a model of several tensors stepped one by one advances the schedules once
/// per pass over the model, as [`step_model`](Optimizer::step_model) does (and leaves the same
/// state). Only successful steps count. [`next_task`](Optimizer::next_task) starts the schedules
/// again from t = 0 (and forwards to the wrapped optimizer): a new task gets its own warmup and
/// decay.
///
/// The value of step 0 is set at [`schedule`](Scheduled::schedule) already, as torch's schedulers
/// set the first rate when they are made, so that a value the optimizer refuses is an error
/// there. A later refused value (a schedule that goes negative) is an error of that step, before
/// anything stepped. A step that fails changes nothing: t stays and the hyperparameters it set
/// are set back, exactly, learned state included: setting a hyperparameter changes no learned
/// state ([`SgdHd`](crate::SgdHd), [`AdamHd`](crate::AdamHd) and [`Rprop`](crate::Rprop),
/// whose learned rates follow `lr` by a ratio, follow it at their next step; [`Meta`](crate::Meta)
/// scales its memories' rates by `lr` as they are handed out), so that a value set and set back
/// leaves the optimizer as it was (docs/guide.md §11). Setting a scheduled hyperparameter by hand
/// is refused ([`OptimError::Scheduled`]); the others forward to the wrapped optimizer.
///
/// A [`Checkpoint`] when the wrapped optimizer is one: it saves the wrapped optimizer's state
/// and the step count, not the schedules (they are code, like the optimizer's type); loading
/// restores the count, and the next step sets each hyperparameter to its schedule's value there.
///
/// [`Meta`](crate::Meta)'s memory learning rate ξ is its hyperparameter `xi`:
///
/// ```
/// use lrmem_optimizers::schedule::{Linear, Scheduled};
/// use lrmem_optimizers::{Meta, MetaConfig, Optimizer};
///
/// // ξ from 10⁻² down to 10⁻³ over the first 100 model steps, then 10⁻³.
/// let mut opt = Scheduled::new(Meta::sgd(MetaConfig::default())?)
///     .schedule("xi", Linear::new(1e-2, 1e-3, 100)?)?;
/// let mut w = vec![0.5f32; 3];
/// for _ in 0..200 {
///     let g = w.clone();
///     opt.step("w", &mut w, &g)?;
/// }
/// assert_eq!(opt.hyperparameter("xi"), Some(1e-3));
/// assert_eq!(opt.inner().memory("w").unwrap().config().optimizer.lr(), 1e-3);
/// # Ok::<(), lrmem_optimizers::OptimError>(())
/// ```
///
/// ```
/// use lrmem_optimizers::schedule::{Scheduled, StepDecay};
/// use lrmem_optimizers::{Optimizer, Sgd, SgdConfig, Tensor};
///
/// // SGD whose rate halves every 2 model steps, over a model of two tensors.
/// let mut opt = Scheduled::new(Sgd::new(SgdConfig::default())?)
///     .schedule("lr", StepDecay::new(0.5, 0.5, 2)?)?;
/// let (mut a, mut b) = ([1.0f32], [1.0f32]);
/// for _ in 0..3 {
///     opt.step("a", &mut a, &[1.0])?; // a repeated name starts a new model step
///     opt.step("b", &mut b, &[1.0])?;
/// }
/// assert_eq!(a, [1.0 - 0.5 - 0.5 - 0.25]);
/// opt.step_model(&mut [Tensor::new("a", &mut a, &[1.0]), Tensor::new("b", &mut b, &[1.0])])?;
/// assert_eq!(a, [1.0 - 0.5 - 0.5 - 0.25 - 0.25]);
/// # Ok::<(), lrmem_optimizers::OptimError>(())
/// ```
pub struct Scheduled<O> {
    inner: O,
    schedules: Vec<Entry>,
    /// Model steps begun: the last one begun is t = begun − 1.
    begun: u64,
    /// The tensors stepped in the last model step begun.
    seen: BTreeSet<String>,
}

impl<O: std::fmt::Debug> std::fmt::Debug for Scheduled<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduled")
            .field("inner", &self.inner)
            .field("scheduled", &self.scheduled().collect::<Vec<_>>())
            .field("step_count", &self.begun)
            .finish_non_exhaustive()
    }
}

impl<O> Scheduled<O> {
    /// The scheduled hyperparameters' names, in the order they were added.
    pub fn scheduled(&self) -> impl Iterator<Item = &str> {
        self.schedules.iter().map(|e| e.name.as_str())
    }

    /// How many model steps have begun (and succeeded, at least in part) since the start or
    /// the last [`next_task`](Optimizer::next_task): the next model step runs at t =
    /// `step_count()`. With per-tensor steps, the model step under way counts.
    pub fn step_count(&self) -> u64 {
        self.begun
    }

    /// The wrapped optimizer.
    pub fn inner(&self) -> &O {
        &self.inner
    }

    /// The wrapped optimizer, mutably. A scheduled hyperparameter changed through it is set
    /// to its schedule's value again at the next step.
    pub fn inner_mut(&mut self) -> &mut O {
        for e in &mut self.schedules {
            e.applied = None;
        }
        &mut self.inner
    }

    /// The wrapped optimizer, without the schedules.
    pub fn into_inner(self) -> O {
        self.inner
    }
}

impl<O: Optimizer> Scheduled<O> {
    /// Wraps `inner`, with no schedule yet.
    pub fn new(inner: O) -> Self {
        Scheduled {
            inner,
            schedules: Vec::new(),
            begun: 0,
            seen: BTreeSet::new(),
        }
    }

    /// Makes the hyperparameter `name` follow `schedule`, and sets it to its value at the
    /// current step (step 0 before the first step). Errors: `name` is not one of the optimizer's
    /// [`hyperparameters`](Optimizer::hyperparameters) ([`OptimError::UnknownHyperparameter`]),
    /// it has a schedule already ([`OptimError::Scheduled`]), or the optimizer refuses the value.
    pub fn schedule(
        mut self,
        name: &str,
        schedule: impl Schedule + 'static,
    ) -> Result<Self, OptimError> {
        if self.schedules.iter().any(|e| e.name == name) {
            return Err(OptimError::Scheduled {
                name: name.to_owned(),
            });
        }
        let value = schedule.value(self.begun.saturating_sub(1));
        self.inner.set_hyperparameter(name, value)?;
        self.schedules.push(Entry {
            name: name.to_owned(),
            schedule: Box::new(schedule),
            applied: Some(value),
        });
        Ok(self)
    }

    /// Sets every scheduled hyperparameter to its value at step `t` (those that changed), and
    /// returns how to undo it; on an error, what it had set is set back.
    fn apply(&mut self, t: u64) -> Result<Undo, OptimError> {
        let mut undo = Vec::new();
        for i in 0..self.schedules.len() {
            let e = &self.schedules[i];
            let value = e.schedule.value(t);
            if e.applied.map(f32::to_bits) == Some(value.to_bits()) {
                continue;
            }
            let before = e.applied.or_else(|| self.inner.hyperparameter(&e.name));
            if let Err(err) = self.inner.set_hyperparameter(&e.name, value) {
                self.undo(undo);
                return Err(err);
            }
            undo.push((i, before, e.applied));
            self.schedules[i].applied = Some(value);
        }
        Ok(undo)
    }

    /// Sets back what [`apply`](Self::apply) set, last first.
    fn undo(&mut self, undo: Undo) {
        for (i, before, applied) in undo.into_iter().rev() {
            if let Some(v) = before {
                // The value was the optimizer's own a moment ago: it accepts it again.
                let _ = self.inner.set_hyperparameter(&self.schedules[i].name, v);
            }
            self.schedules[i].applied = applied;
        }
    }
}

/// What [`Scheduled::apply`] changed: (schedule, value before, cached value before).
type Undo = Vec<(usize, Option<f32>, Option<f32>)>;

impl<O: Optimizer> Optimizer for Scheduled<O> {
    /// Sets the scheduled values of step t when `name` begins a model step (the first tensor,
    /// or a name stepped before in this model step, which ends it), then steps. On an error
    /// nothing changes: t stays, and the hyperparameters are set back.
    fn step(&mut self, name: &str, params: &mut [f32], grads: &[f32]) -> Result<(), OptimError> {
        let begins = self.seen.is_empty() || self.seen.contains(name);
        let undo = if begins {
            self.apply(self.begun)?
        } else {
            Vec::new()
        };
        if let Err(e) = self.inner.step(name, params, grads) {
            self.undo(undo);
            return Err(e);
        }
        if begins {
            self.begun += 1;
            self.seen.clear();
        }
        self.seen.insert(name.to_owned());
        Ok(())
    }

    /// One model step: sets the scheduled values of step t, steps every tensor through the
    /// wrapped optimizer's `step_model`, and counts the step if it succeeded (else sets the
    /// hyperparameters back). Ends a model step of per-tensor steps under way.
    fn step_model(&mut self, tensors: &mut [Tensor<'_>]) -> Result<(), OptimError> {
        // Bad tensors are refused before the schedule sets anything, so that there is nothing
        // to set back (docs/guide.md §11).
        self.inner.check_model(tensors)?;
        let undo = self.apply(self.begun)?;
        if let Err(e) = self.inner.step_model(tensors) {
            self.undo(undo);
            return Err(e);
        }
        self.begun += 1;
        self.seen = tensors.iter().map(|t| t.name.to_owned()).collect();
        Ok(())
    }

    /// Starts every schedule again at t = 0 and forwards to the wrapped optimizer.
    fn next_task(&mut self) {
        self.begun = 0;
        self.seen.clear();
        for e in &mut self.schedules {
            e.applied = None;
        }
        self.inner.next_task();
    }

    fn memory_thetas(&self) -> Vec<(String, Vec<f32>)> {
        self.inner.memory_thetas()
    }

    fn eval_params(&self, name: &str) -> Option<&[f32]> {
        self.inner.eval_params(name)
    }

    /// The wrapped optimizer's checks.
    fn check_step(&self, name: &str, params: &[f32], grads: &[f32]) -> Result<(), OptimError> {
        self.inner.check_step(name, params, grads)
    }

    /// The wrapped optimizer's checks.
    fn check_model(&self, tensors: &mut [Tensor<'_>]) -> Result<(), OptimError> {
        self.inner.check_model(tensors)
    }

    /// The wrapped optimizer's, scheduled ones included (with the value of the current step).
    fn hyperparameters(&self) -> Vec<(String, f32)> {
        self.inner.hyperparameters()
    }

    /// Forwards, except for a scheduled hyperparameter ([`OptimError::Scheduled`]).
    fn set_hyperparameter(&mut self, name: &str, value: f32) -> Result<(), OptimError> {
        if self.schedules.iter().any(|e| e.name == name) {
            return Err(OptimError::Scheduled {
                name: name.to_owned(),
            });
        }
        self.inner.set_hyperparameter(name, value)
    }
}

/// What a [`Scheduled`] checkpoint holds: the step count, the tensors of the last model step, the
/// scheduled hyperparameters' values and the wrapped optimizer's own checkpoint.
#[derive(Serialize, Deserialize)]
struct SavedSchedule {
    begun: u64,
    seen: Vec<String>,
    values: Vec<(String, f32)>,
    inner: Vec<u8>,
}

impl<O: Optimizer + Checkpoint> Checkpoint for Scheduled<O> {
    fn save(&self) -> Result<Vec<u8>, OptimError> {
        let values = self
            .schedules
            .iter()
            .filter_map(|e| Some((e.name.clone(), self.inner.hyperparameter(&e.name)?)))
            .collect();
        crate::optimizer::checkpoint::save(
            "Scheduled",
            &SavedSchedule {
                begun: self.begun,
                seen: self.seen.iter().cloned().collect(),
                values,
                inner: self.inner.save()?,
            },
        )
    }

    /// Restores the step count and the wrapped optimizer. The scheduled hyperparameters take their saved
    /// values first, so that the wrapped optimizer is configured as when it was saved whether
    /// or not its own checkpoint restores its config; on an error they are set back.
    fn load(&mut self, bytes: &[u8]) -> Result<(), OptimError> {
        let saved: SavedSchedule = crate::optimizer::checkpoint::load("Scheduled", bytes)?;
        let mut undo = Vec::new();
        for (name, value) in &saved.values {
            let Some(i) = self.schedules.iter().position(|e| e.name == *name) else {
                continue;
            };
            let e = &self.schedules[i];
            let before = e.applied.or_else(|| self.inner.hyperparameter(name));
            if let Err(err) = self.inner.set_hyperparameter(name, *value) {
                self.undo(undo);
                return Err(err);
            }
            undo.push((i, before, e.applied));
            self.schedules[i].applied = Some(*value);
        }
        if let Err(err) = self.inner.load(&saved.inner) {
            self.undo(undo);
            return Err(err);
        }
        self.begun = saved.begun;
        self.seen = saved.seen.into_iter().collect();
        Ok(())
    }
}

impl<O: StateBytes> StateBytes for Scheduled<O> {
    /// The wrapped optimizer's.
    fn bytes_per_coordinate(&self) -> usize {
        self.inner.bytes_per_coordinate()
    }
}
