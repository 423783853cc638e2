//! Hyperparameters that change between steps: reading and setting a config's scalar fields by
//! the names of their [`registry`](crate::registry) keys, with the config's own validation, and
//! what a checkpoint may restore.
//!
//! One place for the rules every optimizer of this crate follows, so that
//! [`Optimizer::set_hyperparameter`](crate::Optimizer::set_hyperparameter), the command line and
//! the schedules agree: a value is set by the key that sets it in a spec, it passes exactly the
//! validation of the constructor (the error names the key), and an error changes nothing.

use lrmem_memory_core::MemoryError;

use crate::optimizer::OptimError;

/// A config whose scalar hyperparameters can be read and set by name.
///
/// Implemented by the config of every optimizer made with `optimizer_struct!`; the optimizer's
/// [`Optimizer`](crate::Optimizer) impl forwards to [`get`](Hyper::get) and [`set`].
pub(crate) trait Hyper: Copy + std::fmt::Debug {
    /// Config fields whose name in validation errors differs from the key that sets them
    /// (`("hypergrad_lr", "beta")`), as in the optimizer's registry entry.
    const FIELDS: &'static [(&'static str, &'static str)] = &[];

    /// Every scalar hyperparameter: (registry key, value).
    fn get(&self) -> Vec<(&'static str, f32)>;

    /// The field the key `name` sets, if the config has one.
    fn field(&mut self, name: &str) -> Option<&mut f32>;

    /// The constructor's validation (the config's `validate`).
    fn check(&self) -> Result<(), OptimError>;

    /// The first key whose value, changed from `self` to `other`, changes the shape of the
    /// tensors' state (SGD's momentum buffer exists only with momentum > 0): such a change
    /// cannot apply to state made under the old value. `None` for configs without one.
    fn shape_change(&self, _other: &Self) -> Option<&'static str> {
        None
    }
}

/// The hyperparameters of `config` as [`Optimizer::hyperparameters`](crate::Optimizer::hyperparameters) returns them.
pub(crate) fn list<C: Hyper>(config: &C) -> Vec<(String, f32)> {
    config
        .get()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// `key` if its value moves between 0 and a positive one from `old` to `new`: a setting that
/// decides whether a per-tensor buffer exists ([`buffer`](crate::optimizer::state::buffer):
/// SGD's momentum, the β₁ of a kept first moment, DoG's average), for
/// [`Hyper::shape_change`].
pub(crate) fn buffer_switch(key: &'static str, old: f32, new: f32) -> Option<&'static str> {
    ((old > 0.0) != (new > 0.0)).then_some(key)
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
    new.check().map_err(|e| rename(e, &[C::FIELDS]))?;
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

/// Names a config field in a validation error by the key that sets it (found in the first of
/// `maps` that has it), and states a memory's range error as one of the optimizer's config, so
/// that the message names what the user set: the one renaming of the hyperparameters, the
/// registry's build functions and the memory's ξ.
pub(crate) fn rename(e: OptimError, maps: &[&[(&'static str, &'static str)]]) -> OptimError {
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
            field: maps
                .iter()
                .flat_map(|m| m.iter())
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

/// `x · new/old` in f64, or `x + new` when `old` is 0 (there is no ratio to scale by): how a
/// learning rate learned per tensor or coordinate follows a new initial rate.
pub(crate) fn rescale(x: f32, old: f32, new: f32) -> f32 {
    if old == 0.0 {
        x + new
    } else {
        (x as f64 * (new as f64 / old as f64)) as f32
    }
}

/// β₁ and β₂ in [0, 1) and ε finite and > 0: the moment settings of Adam and of the optimizers
/// built on its moments (Prodigy, D-Adapt Adam, Schedule-Free AdamW).
pub(crate) fn check_moments(beta1: f32, beta2: f32, eps: f32) -> Result<(), OptimError> {
    check_fraction("beta1", beta1)?;
    check_fraction("beta2", beta2)?;
    check_eps(eps)
}

/// A fraction kept from one step to the next, in [0, 1): a decay β or a momentum μ (at 1 or
/// more, what it averages never forgets and grows without bound).
pub(crate) fn check_fraction(key: &'static str, value: f32) -> Result<(), OptimError> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(OptimError::invalid(key, value, "in [0, 1)"))
    }
}

/// ε, added to a denominator so that it is never 0: finite and > 0.
pub(crate) fn check_eps(eps: f32) -> Result<(), OptimError> {
    if eps.is_finite() && eps > 0.0 {
        Ok(())
    } else {
        Err(OptimError::invalid("eps", eps, "finite and > 0"))
    }
}

/// A positive multiplier, scale or initial estimate, in (0, 10⁶] (memory-core's `MAX_RATE`, as
/// [`check_lr`]): the learning-rate-free optimizers' `lr`, d₀ and the like, which must not be 0
/// (a step size learned from 0 stays 0; a scale or ε of 0 divides by 0).
pub(crate) fn check_positive(key: &'static str, value: f32) -> Result<(), OptimError> {
    if value > 0.0 && value <= lrmem_memory_core::MAX_RATE {
        Ok(())
    } else {
        Err(OptimError::invalid(key, value, "in (0, 1e6]"))
    }
}

/// A rate or weight that may be 0, in [0, 10⁶]: the weight decay of the learning-rate-free
/// optimizers (whose step size is learned, so that there is no lr·λ to bound as
/// [`check_weight_decay`] does), Mechanic's decay of s, DoG's ε.
pub(crate) fn check_nonnegative(key: &'static str, value: f32) -> Result<(), OptimError> {
    if (0.0..=lrmem_memory_core::MAX_RATE).contains(&value) {
        Ok(())
    } else {
        Err(OptimError::invalid(key, value, "in [0, 1e6]"))
    }
}

/// The largest factor by which a learned step size d may grow in one step (D-Adaptation,
/// Prodigy): at least 1, ∞ for no bound.
pub(crate) fn check_growth_rate(growth_rate: f32) -> Result<(), OptimError> {
    if growth_rate.is_nan() || growth_rate < 1.0 {
        Err(OptimError::invalid(
            "growth_rate",
            growth_rate,
            ">= 1 (inf: unbounded)",
        ))
    } else {
        Ok(())
    }
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
