//! Hyperparameters that change between steps: reading and setting a config's scalar fields by
//! the names of their [`registry`](crate::registry) keys, with the config's own validation, and
//! what a checkpoint may restore.
//!
//! One place for the rules every optimizer of this crate follows, so that
//! [`Optimizer::set_hyperparameter`](crate::Optimizer::set_hyperparameter), the command line and
//! the schedules agree: a value is set by the key that sets it in a spec, it passes exactly the
//! validation of the constructor (the error names the key), and an error changes nothing.

use lrmem_memory_core::{Memory, MemoryError, MemoryOptimizer};

use crate::{OptimError, TensorStates};

/// A config whose scalar hyperparameters can be read and set by name.
///
/// Implemented by the config of every optimizer made with `tensor_optimizer!`; the optimizer's
/// [`Optimizer`](crate::Optimizer) impl forwards to [`get`](Hyper::get) and [`set`].
pub(crate) trait Hyper: Copy + std::fmt::Debug {
    /// Config fields whose name in validation errors differs from the key that sets them
    /// (`("hypergrad_lr", "beta")`), as in the optimizer's registry entry.
    const FIELDS: &'static [(&'static str, &'static str)] = &[];

    /// Every scalar hyperparameter: (registry key, value).
    fn get(&self) -> Vec<(&'static str, f32)>;

    /// The field the key `name` sets, if the config has one.
    fn field(&mut self, name: &str) -> Option<&mut f32>;

    /// The constructor's validation.
    fn check(&self) -> Result<(), OptimError>;

    /// The first key whose value, changed from `self` to `other`, changes the shape of the
    /// tensors' state (SGD's momentum buffer exists only with momentum > 0): such a change
    /// cannot apply to state made under the old value. `None` for configs without one.
    fn shape_change(&self, _other: &Self) -> Option<&'static str> {
        None
    }
}

/// Implements [`Hyper::get`] and [`Hyper::field`] from one list of `"registry key" => field`
/// pairs (a field path such as `etas.0` too), so that the two cannot disagree.
macro_rules! hyper_fields {
    ($($key:literal => $($field:tt).+),* $(,)?) => {
        fn get(&self) -> Vec<(&'static str, f32)> {
            vec![$(($key, self.$($field).+)),*]
        }

        fn field(&mut self, name: &str) -> Option<&mut f32> {
            match name {
                $($key => Some(&mut self.$($field).+),)*
                _ => None,
            }
        }
    };
}
pub(crate) use hyper_fields;

/// The `Optimizer` methods of an optimizer made of `config` and `states` whose
/// hyperparameters are its config's [`Hyper`] fields, applied from the next step, and which
/// carries nothing across tasks: `next_task` is its `reset`, `hyperparameters` lists the
/// config's, `set_hyperparameter` validates as the constructor does (an error names the key
/// and changes nothing) and keeps what the optimizer learned.
macro_rules! config_hyperparameters {
    () => {
        /// Forgets everything ([`reset`](Self::reset)): nothing carries over to the next task.
        fn next_task(&mut self) {
            self.reset();
        }

        /// The config's hyperparameters, by the registry's keys.
        fn hyperparameters(&self) -> Vec<(String, f32)> {
            $crate::hyper::list(&self.config)
        }

        /// Sets a hyperparameter, validated as by the constructor (an error names the key and
        /// changes nothing); it applies from the next step, and what was learned is kept.
        fn set_hyperparameter(&mut self, name: &str, value: f32) -> Result<(), $crate::OptimError> {
            self.config =
                $crate::hyper::updated(&self.config, name, value, !self.states.is_empty())?;
            Ok(())
        }
    };
}
pub(crate) use config_hyperparameters;

/// The hyperparameters of `config` as [`Optimizer::hyperparameters`](crate::Optimizer::hyperparameters) returns them.
pub(crate) fn list<C: Hyper>(config: &C) -> Vec<(String, f32)> {
    config
        .get()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// `config` with `name` set to `value`, validated as by the constructor; `has_state` says
/// whether tensors have state already (then a change of the state's shape is refused).
/// `config` itself is not changed, so that the caller can adjust its state before storing it.
pub(crate) fn updated<C: Hyper>(
    config: &C,
    name: &str,
    value: f32,
    has_state: bool,
) -> Result<C, OptimError> {
    let mut new = *config;
    let Some(slot) = new.field(name) else {
        return Err(unknown(name, &list(config)));
    };
    *slot = value;
    new.check().map_err(|e| rename(e, C::FIELDS))?;
    if has_state {
        if let Some(key) = config.shape_change(&new) {
            return Err(OptimError::invalid(
                key,
                value,
                "on the same side of 0 as the value the tensors' state was made with (it decides whether that state exists); call next_task() to forget the state first",
            ));
        }
    }
    Ok(new)
}

/// The error for a hyperparameter `name` that an optimizer with `known` does not have.
pub(crate) fn unknown(name: &str, known: &[(String, f32)]) -> OptimError {
    OptimError::UnknownHyperparameter {
        name: name.to_owned(),
        known: known.iter().map(|(k, _)| k.clone()).collect(),
    }
}

/// Names a config field in a validation error by the key that sets it, and states a memory's
/// range error as one of the optimizer's config, so that the message names what the user set.
pub(crate) fn rename(e: OptimError, fields: &[(&'static str, &'static str)]) -> OptimError {
    match e {
        OptimError::InvalidConfig {
            field,
            value,
            expected,
        }
        | OptimError::Memory {
            tensor: None,
            source:
                MemoryError::InvalidConfig {
                    field,
                    value,
                    expected,
                },
        } => OptimError::InvalidConfig {
            field: fields
                .iter()
                .find(|(f, _)| *f == field)
                .map_or(field, |(_, k)| *k),
            value,
            expected,
        },
        e => e,
    }
}

/// Why a checkpoint's config cannot be restored into an optimizer built with `current`: the
/// first key whose change of the state's shape the optimizer cannot follow.
///
/// Every other field is restored from the checkpoint, as `torch.optim.Optimizer.load_state_dict`
/// restores the learning rate of every parameter group: a run resumes with the rates it was
/// saved with, and a new rate is set after loading.
pub(crate) fn check_restore<C: Hyper>(current: &C, saved: &C) -> Result<(), OptimError> {
    saved.check()?;
    match current.shape_change(saved) {
        None => Ok(()),
        Some(key) => {
            let value = |c: &C| {
                c.get()
                    .into_iter()
                    .find(|(k, _)| *k == key)
                    .map_or_else(String::new, |(_, v)| v.to_string())
            };
            Err(OptimError::Incompatible {
                reason: format!(
                    "the checkpoint was saved with `{key}` = {} and this optimizer was built with `{key}` = {}, which changes the shape of its state; build it with `{key}` = {} to load this checkpoint",
                    value(saved),
                    value(current),
                    value(saved)
                ),
            })
        }
    }
}

/// Applies `f` to every tensor's state (`len` says the length the state was made for).
pub(crate) fn for_each_state<S>(
    states: &mut TensorStates<S>,
    len: impl Fn(&S) -> usize,
    mut f: impl FnMut(&mut S),
) {
    let names: Vec<(String, usize)> = states
        .names()
        .map(|n| (n.to_owned(), len(states.get(n).expect("listed"))))
        .collect();
    for (name, n) in names {
        if let Ok(s) = states.get_or_init(&name, n, || unreachable!("`{name}` is listed")) {
            f(s);
        }
    }
}

/// `x · new/old` in f64, or `x + new` when `old` is 0 (there is no ratio to scale by): how a
/// learning rate learned per tensor or coordinate follows a new initial rate.
pub(crate) fn rescale(x: f32, old: f32, new: f32) -> f32 {
    if old == 0.0 {
        x + new
    } else {
        (x as f64 * (new as f64 / old as f64)) as f32
    }
}

/// `optimizer` with its learning rate ξ set to `xi` (validated by the memory's config), for
/// [`Meta`](crate::Meta)'s `xi`.
pub(crate) fn memory_optimizer_with_lr(
    optimizer: MemoryOptimizer,
    xi: f32,
) -> Result<MemoryOptimizer, OptimError> {
    Ok(match optimizer {
        MemoryOptimizer::Sgd { .. } => MemoryOptimizer::Sgd { lr: xi },
        MemoryOptimizer::Momentum { momentum, .. } => {
            MemoryOptimizer::Momentum { lr: xi, momentum }
        }
        MemoryOptimizer::Adam {
            beta1, beta2, eps, ..
        } => MemoryOptimizer::Adam {
            lr: xi,
            beta1,
            beta2,
            eps,
        },
        _ => {
            return Err(OptimError::invalid(
                "xi",
                xi,
                "settable only on the memory optimizers sgd, momentum and adam",
            ))
        }
    })
}

/// `memory` with ξ set to `xi`: its θ and its optimizer's moments are kept, so that the next
/// step continues from where it was, with the new ξ.
pub(crate) fn memory_with_xi(memory: &Memory, xi: f32) -> Result<Memory, OptimError> {
    let mut config = *memory.config();
    config.optimizer = memory_optimizer_with_lr(config.optimizer, xi)?;
    Ok(Memory::restore(
        config,
        memory.theta().to_vec(),
        memory.rule_state().clone(),
    )?)
}

/// β₁ and β₂ in [0, 1) and ε finite and > 0: the moment settings of Adam and of the optimizers
/// built on its moments (Prodigy, D-Adapt Adam, Schedule-Free AdamW).
pub(crate) fn check_moments(beta1: f32, beta2: f32, eps: f32) -> Result<(), OptimError> {
    for (name, b) in [("beta1", beta1), ("beta2", beta2)] {
        if !(0.0..1.0).contains(&b) {
            return Err(OptimError::invalid(name, b, "in [0, 1)"));
        }
    }
    if !(eps.is_finite() && eps > 0.0) {
        return Err(OptimError::invalid("eps", eps, "finite and > 0"));
    }
    Ok(())
}

/// A learning rate must lie in [0, 10⁶] (memory-core's `MAX_RATE`): any step of a usable
/// gradient (|g| ≤ `MAX_GRADIENT`) then stays finite.
pub(crate) fn check_lr(lr: f32) -> Result<(), OptimError> {
    if (0.0..=lrmem_memory_core::MAX_RATE).contains(&lr) {
        Ok(())
    } else {
        Err(OptimError::invalid("lr", lr, "in [0, 1e6]"))
    }
}

/// Weight decay λ must lie in [0, 10⁶] with lr·λ ≤ 1: a decay of more than the whole weight per
/// step flips its sign and grows it geometrically (w ← (1 − lr·λ)·w), to ∞ within steps, and a
/// larger λ overflows the decayed gradient g + λw.
pub(crate) fn check_weight_decay(lr: f32, weight_decay: f32) -> Result<(), OptimError> {
    if (0.0..=lrmem_memory_core::MAX_RATE).contains(&weight_decay) && lr * weight_decay <= 1.0 {
        Ok(())
    } else {
        Err(OptimError::invalid(
            "weight_decay",
            weight_decay,
            "in [0, 1e6] with lr × weight_decay ≤ 1 (more decays past zero every step and diverges)",
        ))
    }
}
