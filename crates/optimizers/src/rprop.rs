//! Rprop, the iRprop− variant of `torch.optim.Rprop`: per-coordinate step sizes from sign agreement.
//!
//! The closest classic relative of the memory of learning rates: both grow a learning rate
//! while the gradient keeps its sign and shrink it when it flips. Rprop does so per coordinate
//! (8 bytes of state each) and forgets everything between tasks; the memory shares its rates
//! through θ across coordinates and tasks.

use serde::{Deserialize, Serialize};

use crate::hyper::{self, Hyper};
use crate::spec::{self, Built, Key, RegistryEntry};
use crate::state::{check_inputs, CheckState};
use crate::{NonFinite, OptimError, Optimizer, StateBytes};

/// Configuration of [`Rprop`] (torch defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RpropConfig {
    /// Initial step size Δ₀. Default 1e−2.
    pub lr: f32,
    /// (η−, η+): factors for a flip and for agreement. Default (0.5, 1.2).
    pub etas: (f32, f32),
    /// (Δmin, Δmax). Default (1e−6, 50).
    pub step_sizes: (f32, f32),
    /// NaN/∞ gradients: error (default), or `Skip`: a zero gradient there, so that the
    /// coordinate does not move ([`NonFinite::Skip`]).
    pub non_finite: NonFinite,
}

impl Default for RpropConfig {
    fn default() -> Self {
        RpropConfig {
            lr: 1e-2,
            etas: (0.5, 1.2),
            step_sizes: (1e-6, 50.0),
            non_finite: NonFinite::Error,
        }
    }
}

impl RpropConfig {
    /// Rprop with initial step size `lr`.
    pub fn with_lr(lr: f32) -> Self {
        RpropConfig {
            lr,
            ..Self::default()
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), OptimError> {
        if !(self.lr > 0.0 && self.lr <= lrmem_memory_core::MAX_RATE) {
            return Err(OptimError::invalid("lr", self.lr, "in (0, 1e6]"));
        }
        let (down, up) = self.etas;
        if !(0.0 < down && down < 1.0 && up > 1.0 && up.is_finite()) {
            return Err(OptimError::invalid(
                "etas",
                format!("{:?}", self.etas),
                "0 < eta_minus < 1 < eta_plus",
            ));
        }
        let (lo, hi) = self.step_sizes;
        if !(lo >= 0.0 && lo <= hi && hi <= lrmem_memory_core::MAX_RATE) {
            return Err(OptimError::invalid(
                "step_sizes",
                format!("{:?}", self.step_sizes),
                "0 <= min <= max <= 1e6",
            ));
        }
        Ok(())
    }
}

/// Per-tensor state of Rprop.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RpropState {
    /// The previous gradient (zeroed where the sign flipped).
    pub prev: Vec<f32>,
    /// Per-coordinate step sizes Δ.
    pub step: Vec<f32>,
}

crate::state::tensor_optimizer!(
    /// iRprop− over named tensors:
    /// Δ ← min(η+Δ, Δmax) if g·g_prev > 0; Δ ← max(η−Δ, Δmin) and g ← 0 if g·g_prev < 0;
    /// w ← w − Δ·sign(g).
    ///
    /// ```
    /// use lrmem_optimizers::{Optimizer, Rprop, RpropConfig};
    /// let mut rprop = Rprop::new(RpropConfig::with_lr(0.1))?;
    /// let mut w = [1.0f32];
    /// rprop.step("w", &mut w, &[3.0])?; // first step: w − Δ₀·sign(g)
    /// rprop.step("w", &mut w, &[3.0])?; // same sign: Δ grows to 0.12
    /// assert!((w[0] - 0.78).abs() < 1e-6);
    /// # Ok::<(), lrmem_optimizers::OptimError>(())
    /// ```
    Rprop, "rprop", RpropConfig, RpropState);

impl Optimizer for Rprop {
    /// Forgets every tensor's state ([`reset`](Self::reset)): nothing carries over.
    fn next_task(&mut self) {
        self.reset();
    }

    /// `lr` (Δ₀), `eta_minus`, `eta_plus`, `step_min` and `step_max` (the registry's keys).
    fn hyperparameters(&self) -> Vec<(String, f32)> {
        hyper::list(&self.config)
    }

    /// Sets a hyperparameter, validated as by [`Rprop::new`] (errors name the key).
    ///
    /// `lr` is Δ₀, the step size a tensor starts from: a new value applies to tensors that have
    /// not stepped yet, and every step size Δ already learned is multiplied by new/old, so that a
    /// schedule on `lr` scales Rprop's steps as it scales SGD's while keeping what Rprop learned
    /// about each coordinate (the bounds `step_min`/`step_max` apply at Δ's next change, as to
    /// Δ₀). The other keys apply from the next step.
    fn set_hyperparameter(&mut self, name: &str, value: f32) -> Result<(), OptimError> {
        let new = hyper::updated(&self.config, name, value, !self.states.is_empty())?;
        let (old, lr) = (self.config.lr, new.lr);
        if old != lr {
            hyper::for_each_state(
                &mut self.states,
                |s| s.step.len(),
                |s| {
                    for d in &mut s.step {
                        *d = hyper::rescale(*d, old, lr);
                    }
                },
            );
        }
        self.config = new;
        Ok(())
    }

    fn step(&mut self, name: &str, params: &mut [f32], grads: &[f32]) -> Result<(), OptimError> {
        let cfg = self.config;
        let grads = check_inputs(name, params, grads, cfg.non_finite)?;
        let n = params.len();
        let st = self.states.get_or_init(name, n, || cfg.fresh(n))?;
        for (((w, &g), p), s) in params
            .iter_mut()
            .zip(grads.iter())
            .zip(st.prev.iter_mut())
            .zip(st.step.iter_mut())
        {
            let sign = adapt(g, p, s, &cfg); // updates Δ first
            *w -= *s * sign;
        }
        Ok(())
    }
}

/// iRprop−'s rule for one coordinate, shared by the step and the direction under `Meta`: Δ grows
/// (×η₊, at most Δmax) where g agrees in sign with the previous gradient and shrinks (×η₋, at
/// least Δmin) where it flips, in which case g counts as 0; stores what the next step compares
/// with and returns sign(g), with sign(0) = 0 as torch's `grad.sign()`.
#[inline(always)]
fn adapt(g: f32, prev: &mut f32, step: &mut f32, cfg: &RpropConfig) -> f32 {
    let ((down, up), (lo, hi)) = (cfg.etas, cfg.step_sizes);
    let agree = g * *prev;
    let g = if agree > 0.0 {
        *step = (*step * up).min(hi);
        g
    } else if agree < 0.0 {
        *step = (*step * down).max(lo);
        0.0
    } else {
        g
    };
    *prev = g;
    if g > 0.0 {
        1.0
    } else if g < 0.0 {
        -1.0
    } else {
        0.0
    }
}

impl Hyper for RpropConfig {
    const FIELDS: &'static [(&'static str, &'static str)] = SPEC.fields;

    crate::hyper::hyper_fields! {
        "lr" => lr,
        "eta_minus" => etas.0,
        "eta_plus" => etas.1,
        "step_min" => step_sizes.0,
        "step_max" => step_sizes.1,
    }

    fn check(&self) -> Result<(), OptimError> {
        self.validate()
    }
}

impl CheckState<RpropState> for RpropConfig {
    fn fresh(&self, len: usize) -> RpropState {
        RpropState {
            prev: vec![0.0; len],
            step: vec![self.lr; len],
        }
    }

    /// Step sizes stay within [Δmin, Δmax] (the initial one may lie outside, as in torch).
    fn problem(&self, state: &RpropState) -> Option<String> {
        let (lo, hi) = self.step_sizes;
        let bad = state
            .step
            .iter()
            .find(|&&s| !((lo..=hi).contains(&s) || s == self.lr))?;
        Some(format!(
            "has a step size {bad} outside [step_min, step_max] = [{lo}, {hi}]"
        ))
    }
}

impl StateBytes for RpropConfig {
    fn bytes_per_coordinate(&self) -> usize {
        8
    }
}

/// `rprop` in the [`registry`](crate::registry): `rprop:lr=X` is `Rprop::new(RpropConfig::with_lr(X))`.
pub(crate) const SPEC: RegistryEntry = RegistryEntry {
    name: "rprop",
    summary: "iRprop- as torch.optim.Rprop: per-coordinate step sizes grown while the gradient keeps its sign",
    keys: &[
        Key { name: "lr", meaning: "initial step size Delta0, > 0", default: "0.01" },
        Key { name: "eta_minus", meaning: "factor of a step size when the gradient flips, in (0, 1)", default: "0.5" },
        Key { name: "eta_plus", meaning: "factor of a step size when the gradient keeps its sign, > 1", default: "1.2" },
        Key { name: "step_min", meaning: "smallest step size, >= 0", default: "1e-6" },
        Key { name: "step_max", meaning: "largest step size, >= step_min", default: "50" },
        spec::NON_FINITE,
    ],
    fields: &[("etas", "eta_minus/eta_plus"), ("step_sizes", "step_min/step_max")],
    build: |p| {
        let d = RpropConfig::default();
        let config = RpropConfig {
            lr: p.f32("lr", d.lr)?,
            etas: (p.f32("eta_minus", d.etas.0)?, p.f32("eta_plus", d.etas.1)?),
            step_sizes: (
                p.f32("step_min", d.step_sizes.0)?,
                p.f32("step_max", d.step_sizes.1)?,
            ),
            non_finite: p.non_finite(d.non_finite)?,
        };
        Ok(Built::new(Rprop::new(config)?))
    },
};

/// Under [`Meta`](crate::Meta), u = sign(g)·Δ/Δ₀ (docs/algorithm.md §12): the relative step,
/// Rprop's per-coordinate step size Δ (grown and shrunk from sign agreement as without `Meta`)
/// divided by Δ₀ = `lr`, so that the memory's rate takes the place of Δ₀. The query is the
/// gradient.
impl crate::Base for Rprop {
    fn info(&self) -> crate::BaseInfo {
        crate::BaseInfo::new("Rprop", self.config.lr, self.config.non_finite)
    }

    fn direction(
        &mut self,
        name: &str,
        params: &[f32],
        grads: &[f32],
        mut buf: crate::DirectionBuf<'_>,
    ) -> Result<crate::Direction, OptimError> {
        let cfg = self.config;
        let n = params.len();
        let st = self.states.get_or_init(name, n, || cfg.fresh(n))?;
        for (((u, &g), p), s) in buf
            .values()
            .iter_mut()
            .zip(grads)
            .zip(st.prev.iter_mut())
            .zip(st.step.iter_mut())
        {
            let sign = adapt(g, p, s, &cfg); // updates Δ first
            *u = *s / cfg.lr * sign;
        }
        Ok(crate::Direction::Values)
    }
}
