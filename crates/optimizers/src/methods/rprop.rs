//! Rprop, the iRprop− variant of `torch.optim.Rprop`: per-coordinate step sizes from sign agreement.
//!
//! The closest classic relative of the memory of learning rates: both grow a learning rate
//! while the gradient keeps its sign and shrink it when it flips. Rprop does so per coordinate
//! (8 bytes of state each) and forgets everything between tasks; the memory shares its rates
//! through θ across coordinates and tasks.

use serde::{Deserialize, Serialize};

use crate::optimizer::hyper::{self, Hyper};
use crate::optimizer::inputs::check_inputs;
use crate::optimizer::macros::{base_info, config_hyperparameters, optimizer_struct, state_fields};
use crate::optimizer::state::StateRules;
use crate::optimizer::{Base, Direction, DirectionBuf, OptimError, Optimizer};
use lrmem_memory_core::NonFinite;

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
        hyper::check_positive("lr", self.lr)?;
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

optimizer_struct!(
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
    Rprop, RpropConfig, RpropState);

state_fields!(RpropState { prev, step });

/// `lr` is Δ₀: every step size already learned follows a new value by the ratio new/old at the
/// next step, within the bounds (`RpropConfig`'s `follow`). The other keys apply from the next
/// step.
impl Optimizer for Rprop {
    config_hyperparameters!();

    crate::optimizer::macros::tensor_checks!();

    fn step(&mut self, name: &str, params: &mut [f32], grads: &[f32]) -> Result<(), OptimError> {
        let cfg = self.config;
        let grads = check_inputs(name, params, grads, cfg.non_finite)?;
        let st = self.tensor_state(name, params)?;
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
    const FIELDS: &'static [(&'static str, &'static str)] = &[
        ("etas", "eta_minus/eta_plus"),
        ("step_sizes", "step_min/step_max"),
    ];

    crate::optimizer::macros::hyper_fields!(lr, "eta_minus" => etas.0, "eta_plus" => etas.1, "step_min" => step_sizes.0, "step_max" => step_sizes.1);
}

impl StateRules<RpropState> for RpropConfig {
    fn fresh(&self, len: usize) -> RpropState {
        RpropState {
            prev: vec![0.0; len],
            step: vec![self.lr; len],
        }
    }

    /// Step sizes stay within [min(Δmin, Δ₀), max(Δmax, Δ₀)]: [Δmin, Δmax], where every
    /// change of Δ keeps it, and the initial Δ₀, which may lie outside, as in torch.
    fn problem(&self, state: &RpropState) -> Option<String> {
        let (lo, hi) = self.step_range();
        let bad = state.step.iter().find(|&&s| !(lo..=hi).contains(&s))?;
        Some(format!(
            "has a step size {bad} outside [min(step_min, lr), max(step_max, lr)] = [{lo}, {hi}]"
        ))
    }

    const FOLLOWS: bool = true;

    /// `lr` is Δ₀, the step size a tensor starts from: a new value applies to tensors that have
    /// not stepped yet, and every step size Δ already learned is multiplied by new/old, so that
    /// a schedule on `lr` scales Rprop's steps as it scales SGD's while keeping what Rprop
    /// learned about each coordinate. The result saturates at [min(Δmin, Δ₀), max(Δmax, Δ₀)]
    /// of the new config (as does a Δ outside new `step_min`/`step_max`): a ratio of 10³⁸
    /// would otherwise overflow Δ to ∞ and the next step to NaN (docs/guide.md §11).
    fn follow(&self, new: &Self, state: &mut RpropState) {
        let (lo, hi) = new.step_range();
        for d in &mut state.step {
            let scaled = if self.lr != new.lr {
                hyper::rescale(*d, self.lr, new.lr)
            } else {
                *d
            };
            *d = scaled.clamp(lo, hi);
        }
    }
}

impl RpropConfig {
    /// The range every step size Δ lies in: [Δmin, Δmax] widened to the initial Δ₀ = `lr`.
    fn step_range(&self) -> (f32, f32) {
        let (lo, hi) = self.step_sizes;
        (lo.min(self.lr), hi.max(self.lr))
    }
}

/// Under [`Meta`](crate::Meta), u = sign(g)·Δ/Δ₀ (docs/algorithm.md §12): the relative step,
/// Rprop's per-coordinate step size Δ (grown and shrunk from sign agreement as without `Meta`)
/// divided by Δ₀ = `lr`, so that the memory's rate takes the place of Δ₀. Δ/Δ₀ is at most 10⁶
/// (memory-core's `MAX_RATE`), as hypergradient descent's α/α₀: with Δ₀ = 10⁻³⁸ and Δmax = 50
/// it would overflow f32 (docs/guide.md §11). The query is the gradient.
impl Base for Rprop {
    base_info!(Rprop);

    fn direction(
        &mut self,
        name: &str,
        params: &[f32],
        grads: &[f32],
        mut buf: DirectionBuf<'_>,
    ) -> Result<Direction, OptimError> {
        let cfg = self.config;
        let st = self.tensor_state(name, params)?;
        for (((u, &g), p), s) in buf
            .values()
            .iter_mut()
            .zip(grads)
            .zip(st.prev.iter_mut())
            .zip(st.step.iter_mut())
        {
            let sign = adapt(g, p, s, &cfg); // updates Δ first
                                             // Bounded as hypergradient descent's α/α₀: Δmax/Δ₀ overflows f32 for a Δ₀ below
                                             // about 10⁻³⁷ (docs/guide.md §11).
            *u = (*s / cfg.lr).min(lrmem_memory_core::MAX_RATE) * sign;
        }
        Ok(Direction::Values)
    }
}
