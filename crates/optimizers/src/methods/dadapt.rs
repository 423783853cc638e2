//! D-Adaptation (Defazio & Mishchenko, "Learning-Rate-Free Learning by D-Adaptation", ICML
//! 2023): Adam and SGD whose step size d is a lower bound on the distance to the solution,
//! estimated while training, as the reference `dadaptation` 3.2 (`dadapt_adam.py`,
//! `dadapt_sgd.py`) computes it, number for number.
//!
//! # [`DAdaptAdam`]
//!
//! With k the step, g the gradients of the whole model (plus λw without decoupling),
//! √β₂ written b and dlr = d·lr·bc (bc = √(1−β₂^{k+1})/(1−β₁^{k+1}) with bias correction,
//! else 1):
//!
//! - a ← Σ dlr·⟨g, s/(√v + ε)⟩ over the model, with s and v from before this step;
//! - m ← β₁m + dlr(1−β₁)g, v ← β₂v + (1−β₂)g², s ← b·s + dlr(1−b)g, per coordinate;
//! - r ← b·r + (1−b)·a; d̂ = r/((1−b)‖s‖₁); d ← max(d, min(d̂, d·growth_rate));
//! - x ← x − λ·dlr·x (decoupled decay), then x ← x − m/(√v + ε), where dlr is the one from
//!   before d changed (m carries it).
//!
//! If ‖s‖₁ = 0 (every gradient so far zero) the step ends after the moments and s, as the
//! reference's does: the parameters, d, r and k stay (the reference computes the new r and
//! drops it, and does not count the step).
//!
//! # [`DAdaptSgd`]
//!
//! With g₀ the norm of the model's gradients at its first step (without weight decay: the
//! reference adds λw there out of place, `grad.add(p, alpha=decay)`, and drops the sum) and
//! dlr = d·lr/‖g₀‖:
//!
//! - g ← g + λw (coupled weight decay, the only kind);
//! - r ← r + Σ dlr·⟨g, s⟩ over the model (s from before this step), s ← s + dlr·g;
//! - d̂ = 2r/‖s‖₂; d ← max(d, min(d̂, d·growth_rate));
//! - z = x₀ − s, x ← μx + (1−μ)z (μ the momentum).
//!
//! The reference keeps z, s and x₀ per coordinate; z is recomputed from x₀ − s before every use,
//! so only s and x₀ are kept here (8 bytes per coordinate instead of 12), with the same numbers.
//!
//! Where the reference raises `ZeroDivisionError` this one must do something else (a
//! **deviation**, only in runs the reference does not survive): a first step whose gradients
//! are all zero (‖g₀‖ = 0) changes nothing and does not count (the next step measures g₀
//! again); a step after which s is zero everywhere (‖s‖₂ = 0: the first step's dlr·g underflows
//! in float32, or s cancels exactly) keeps its new s but moves nothing and does not count, as the
//! Adam variant's ‖s‖₁ = 0 step.
//!
//! # Both
//!
//! The reference's float64 scalars (d, r, ‖g₀‖, the sums) are f64 here; its float32 tensors
//! are f32. A hyperparameter enters the f64 arithmetic as the decimal it was written as (the
//! f32 `0.999` as the f64 0.999, what the reference's Python float is), not widened
//! (0.99900001…): 1 − β₂ would otherwise differ by 1e−5 of itself, and so would every step. Its `layer_scale` is 1 (one scale for the whole model), its `log_every` and
//! `fsdp_in_use` (logging, sharded parameters) are not part of this crate.
//!
//! Guards the reference does not have, which change nothing in any run it survives: moments,
//! sums and parameters saturate at ±`f32::MAX` instead of overflowing; d is capped at
//! [`D_LIMIT`], and a step whose estimate (or r) is not finite keeps the previous d and r. So
//! hostile gradients and configs never turn state into ∞ or NaN.

use serde::{Deserialize, Serialize};

use crate::methods::prodigy::D_LIMIT;
use crate::optimizer::hyper::{self, Hyper};
use crate::optimizer::macros::optimizer_struct;
use crate::optimizer::model::{self, check_model, ModelScalars};
use crate::optimizer::model::{coef, sat};
use crate::optimizer::state::{buffer, negative, Field, StateRules};
use crate::optimizer::{OptimError, Optimizer, Tensor};
use lrmem_memory_core::NonFinite;

/// The float64 the reference computes with for a hyperparameter given as `x`: the shortest
/// decimal that reads back as `x` (what the user wrote, `0.999`), not `x` widened (0.999000013).
/// Where a scalar enters as 1 − β₂, the difference would be 1e−5 of it.
fn dec(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(x as f64)
}

/// The checks shared by both configs: lr, weight decay, d₀ and the growth rate.
fn validate_common(
    lr: f32,
    weight_decay: f32,
    d0: f32,
    growth_rate: f32,
) -> Result<(), OptimError> {
    hyper::check_positive("lr", lr)?;
    hyper::check_nonnegative("weight_decay", weight_decay)?;
    hyper::check_positive("d0", d0)?;
    hyper::check_growth_rate(growth_rate)
}

/// d as a loaded checkpoint may hold it: unset, or finite in (0, [`D_LIMIT`]].
fn d_ok(d: Option<f64>) -> bool {
    d.is_none_or(|d| d > 0.0 && d <= D_LIMIT)
}

/// d after a step: the largest of d and the estimate, capped by the growth rate and
/// [`D_LIMIT`] (the reference's `max(d, min(d_hat, d*growth_rate))`).
fn grown(d: f64, d_hat: f64, growth_rate: f32) -> f64 {
    d.max(d_hat.min(d * dec(growth_rate))).min(D_LIMIT)
}

// ---------------------------------------------------------------------------------------------
// DAdaptAdam
// ---------------------------------------------------------------------------------------------

/// Configuration of [`DAdaptAdam`]: the reference's arguments and defaults (`dadaptation` 3.2,
/// `DAdaptAdam`; `layer_scale` is 1, `log_every` and `fsdp_in_use` do not exist here).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DAdaptAdamConfig {
    /// A multiplier of the estimated step size d (the reference recommends leaving it at 1).
    /// Default 1.
    pub lr: f32,
    /// β₁ of the first moment (0: m is the last scaled gradient, and is not kept). Default 0.9.
    pub beta1: f32,
    /// β₂ of the second moment; √β₂ is the decay of the sums behind d. Default 0.999.
    pub beta2: f32,
    /// ε added to √v (not scaled by d, unlike Prodigy's). Default 1e−8.
    pub eps: f32,
    /// Weight decay λ. Default 0.
    pub weight_decay: f32,
    /// Decoupled weight decay (AdamW-style) or λw added to the gradient (the reference's
    /// default). Default false.
    pub decouple: bool,
    /// Adam's bias correction in the step size. Default false.
    pub use_bias_correction: bool,
    /// Initial estimate d₀. Default 1e−6.
    pub d0: f32,
    /// Largest factor by which d may grow per step (∞: unbounded). Default ∞.
    pub growth_rate: f32,
    /// NaN/∞ gradients: error (default), or `Skip`: a zero gradient there
    /// ([`NonFinite::Skip`]; the moments still move the coordinate).
    pub non_finite: NonFinite,
}

impl Default for DAdaptAdamConfig {
    fn default() -> Self {
        DAdaptAdamConfig {
            lr: 1.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decouple: false,
            use_bias_correction: false,
            d0: 1e-6,
            growth_rate: f32::INFINITY,
            non_finite: NonFinite::Error,
        }
    }
}

impl DAdaptAdamConfig {
    /// Checks every field (the reference's checks, and finite ranges for the rest).
    pub fn validate(&self) -> Result<(), OptimError> {
        hyper::check_moments(self.beta1, self.beta2, self.eps)?;
        validate_common(self.lr, self.weight_decay, self.d0, self.growth_rate)
    }
}

/// Per-tensor state of [`DAdaptAdam`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DAdaptAdamState {
    /// Steps taken (steps that ended early, with ‖s‖₁ = 0, do not count, as in the reference).
    pub step: u64,
    /// The running sum s of scaled gradients.
    pub s: Vec<f32>,
    /// First moment m, scaled by dlr (empty with β₁ = 0: then m = dlr·g is recomputed).
    pub exp_avg: Vec<f32>,
    /// Second moment v.
    pub exp_avg_sq: Vec<f32>,
}

/// [`DAdaptAdam`]'s model-wide scalars (the reference's parameter-group entries).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DAdaptAdamScalars {
    /// Steps of the model, k.
    pub k: u64,
    /// The step size estimate d (`None` before the first counted step: d₀ of the config).
    pub d: Option<f64>,
    /// The running numerator r (`numerator_weighted`).
    pub numerator_weighted: f64,
}

impl ModelScalars for DAdaptAdamScalars {
    fn fields(&self) -> Vec<(&'static str, Field<'static>)> {
        let mut out = vec![
            ("k", Field::Count(self.k)),
            (
                "numerator_weighted",
                Field::Scalar(coef(self.numerator_weighted)),
            ),
        ];
        if let Some(d) = self.d {
            out.push(("d", Field::Scalar(coef(d))));
        }
        out
    }

    fn problem(&self) -> Option<String> {
        if !(d_ok(self.d) && self.numerator_weighted.is_finite()) {
            return Some(format!(
                "has d = {:?}, numerator_weighted = {} (d must be in (0, {D_LIMIT:e}], the numerator finite)",
                self.d, self.numerator_weighted
            ));
        }
        None
    }
}

optimizer_struct!(
    /// D-Adaptation Adam over a whole model (see the [module docs](crate::dadapt) for the
    /// update): no learning rate to tune, d is learned. Step it with
    /// [`step_model`](Optimizer::step_model) and every tensor of the model.
    ///
    /// ```
    /// use lrmem_optimizers::{DAdaptAdam, DAdaptAdamConfig, Optimizer, Tensor};
    /// let mut opt = DAdaptAdam::new(DAdaptAdamConfig::default())?;
    /// let (mut w, mut b) = (vec![1.0f32, -2.0], vec![0.5f32]);
    /// for _ in 0..200 {
    ///     let (gw, gb): (Vec<f32>, Vec<f32>) = (w.clone(), b.clone()); // ½‖x‖²
    ///     opt.step_model(&mut [Tensor::new("w", &mut w, &gw), Tensor::new("b", &mut b, &gb)])?;
    /// }
    /// assert!(w.iter().chain(&b).all(|x| x.abs() < 0.5));
    /// # Ok::<(), lrmem_optimizers::OptimError>(())
    /// ```
    DAdaptAdam, DAdaptAdamConfig, DAdaptAdamState, DAdaptAdamScalars);

impl DAdaptAdam {
    /// The current estimate d (d₀ before the first step).
    pub fn d(&self) -> f64 {
        self.global.d.unwrap_or(dec(self.config.d0))
    }
}

impl Optimizer for DAdaptAdam {
    crate::optimizer::macros::one_tensor_model!();

    /// One D-Adaptation Adam step of the whole model.
    fn step_model(&mut self, tensors: &mut [Tensor<'_>]) -> Result<(), OptimError> {
        let cfg = self.config;
        let grads = check_model(&self.states, tensors, cfg.non_finite)?;
        let (b1, b2) = (dec(cfg.beta1), dec(cfg.beta2));
        let sqrt_b2 = b2.sqrt();
        let g = &mut self.global;
        let mut d = g.d.unwrap_or(dec(cfg.d0));
        let k = g.k;
        let bc = if cfg.use_bias_correction {
            (1.0 - libm::pow(b2, (k + 1) as f64)).sqrt() / (1.0 - libm::pow(b1, (k + 1) as f64))
        } else {
            1.0
        };
        let dlr = d * dec(cfg.lr) * bc;
        let decay = cfg.weight_decay;
        let coupled = decay != 0.0 && !cfg.decouple;
        // Coefficients of the tensor updates: float64 products cast to float32, as torch does.
        let m_alpha = coef(dlr * (1.0 - b1));
        let v_value = (1.0 - b2) as f32;
        let s_alpha = coef(dlr * (1.0 - sqrt_b2));
        let (b1f, b2f, sqrt_b2f, eps) = (cfg.beta1, cfg.beta2, sqrt_b2 as f32, cfg.eps);
        let keep_m = b1f > 0.0;
        let mut numerator_acum = 0.0f64;
        let mut sk_l1 = 0.0f64;
        // With β₁ = 0, m = dlr·g: the effective gradients, to rebuild it in the second pass.
        let mut effective: Vec<Vec<f32>> = Vec::new();
        for (t, grad) in tensors.iter().zip(&grads) {
            let st = self.states.get_or_start(t.name, t.params, &cfg)?;
            let grad: Vec<f32> = if coupled {
                grad.iter()
                    .zip(t.params.iter())
                    .map(|(&g, &w)| sat(g + decay * w))
                    .collect()
            } else {
                grad.to_vec()
            };
            // ⟨g, s/(√v + ε)⟩ with s and v from before this step; √v + ε ≥ ε > 0.
            let dot: f64 = grad
                .iter()
                .zip(st.s.iter().zip(&st.exp_avg_sq))
                .map(|(&g, (&s, &v))| g as f64 * (s as f64 / (v.sqrt() + eps) as f64))
                .sum();
            numerator_acum += dlr * dot;
            if keep_m {
                for (m, &g) in st.exp_avg.iter_mut().zip(&grad) {
                    *m = sat(*m * b1f + m_alpha * g);
                }
            }
            for (v, &g) in st.exp_avg_sq.iter_mut().zip(&grad) {
                *v = (*v * b2f + v_value * (g * g)).min(f32::MAX);
            }
            for (s, &g) in st.s.iter_mut().zip(&grad) {
                *s = sat(*s * sqrt_b2f + s_alpha * g);
            }
            sk_l1 += model::sum_abs(&st.s);
            if !keep_m {
                effective.push(grad);
            }
        }
        let numerator_weighted = sqrt_b2 * g.numerator_weighted + (1.0 - sqrt_b2) * numerator_acum;
        if sk_l1 == 0.0 {
            // As the reference: nothing to estimate from yet; the moments and s have moved,
            // but the parameters, d, r and k stay.
            return Ok(());
        }
        let d_hat = numerator_weighted / ((1.0 - sqrt_b2) * sk_l1);
        if numerator_weighted.is_finite() && d_hat.is_finite() {
            d = grown(d, d_hat, cfg.growth_rate);
            g.numerator_weighted = numerator_weighted;
        }
        g.d = Some(d);
        g.k = k.saturating_add(1);
        let wd = coef(-dec(decay) * dlr);
        for (j, t) in tensors.iter_mut().enumerate() {
            let st = self.states.get_mut(t.name).expect("made in the first pass");
            st.step = st.step.saturating_add(1);
            for (i, w) in t.params.iter_mut().enumerate() {
                let denom = st.exp_avg_sq[i].sqrt() + eps;
                if decay != 0.0 && cfg.decouple {
                    *w = sat(*w + wd * *w);
                }
                let m = if keep_m {
                    st.exp_avg[i]
                } else {
                    // exp_avg·0 + m_alpha·g in the reference: the same float32 number.
                    sat(m_alpha * effective[j][i])
                };
                *w = sat(*w - m / denom);
            }
        }
        Ok(())
    }

    crate::optimizer::macros::config_hyperparameters!();
}

impl Hyper for DAdaptAdamConfig {
    crate::optimizer::macros::hyper_fields!(lr, beta1, beta2, eps, weight_decay, growth_rate);

    /// β₁ = 0 keeps no first moment.
    fn shape_change(&self, other: &Self) -> Option<&'static str> {
        hyper::buffer_switch("beta1", self.beta1, other.beta1)
    }
}

impl StateRules<DAdaptAdamState> for DAdaptAdamConfig {
    /// Zero sums and moments.
    fn fresh(&self, len: usize) -> DAdaptAdamState {
        DAdaptAdamState {
            step: 0,
            s: vec![0.0; len],
            exp_avg: buffer(self.beta1 > 0.0, len),
            exp_avg_sq: vec![0.0; len],
        }
    }

    fn problem(&self, state: &DAdaptAdamState) -> Option<String> {
        negative("exp_avg_sq", &state.exp_avg_sq)
    }
}

crate::optimizer::macros::state_fields!(DAdaptAdamState {
    step,
    s,
    exp_avg,
    exp_avg_sq
});

// ---------------------------------------------------------------------------------------------
// DAdaptSgd
// ---------------------------------------------------------------------------------------------

/// Configuration of [`DAdaptSgd`]: the reference's arguments and defaults (`dadaptation` 3.2,
/// `DAdaptSGD`; `log_every` and `fsdp_in_use` do not exist here).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DAdaptSgdConfig {
    /// A multiplier of the estimated step size d (the reference recommends leaving it at 1).
    /// Default 1.
    pub lr: f32,
    /// Momentum μ: x ← μx + (1−μ)(x₀ − s), in [0, 1) as the reference documents. Default 0.
    pub momentum: f32,
    /// Weight decay λ, added to the gradient as λw. Default 0.
    pub weight_decay: f32,
    /// Initial estimate d₀. Default 1e−6.
    pub d0: f32,
    /// Largest factor by which d may grow per step (∞: unbounded). Default ∞.
    pub growth_rate: f32,
    /// NaN/∞ gradients: error (default), or `Skip`: a zero gradient there
    /// ([`NonFinite::Skip`]).
    pub non_finite: NonFinite,
}

impl Default for DAdaptSgdConfig {
    fn default() -> Self {
        DAdaptSgdConfig {
            lr: 1.0,
            momentum: 0.0,
            weight_decay: 0.0,
            d0: 1e-6,
            growth_rate: f32::INFINITY,
            non_finite: NonFinite::Error,
        }
    }
}

impl DAdaptSgdConfig {
    /// Checks every field (the reference's checks, and finite ranges for the rest).
    pub fn validate(&self) -> Result<(), OptimError> {
        hyper::check_fraction("momentum", self.momentum)?;
        validate_common(self.lr, self.weight_decay, self.d0, self.growth_rate)
    }
}

/// Per-tensor state of [`DAdaptSgd`]: the reference's `x0` and `s` (its `z` = x₀ − s is
/// recomputed where it is used).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DAdaptSgdState {
    /// The parameters at the tensor's first step, x₀.
    pub x0: Vec<f32>,
    /// The running sum s of scaled gradients.
    pub s: Vec<f32>,
}

/// [`DAdaptSgd`]'s model-wide scalars (the reference's parameter-group entries).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DAdaptSgdScalars {
    /// Steps of the model, k.
    pub k: u64,
    /// The step size estimate d (`None` before the first counted step: d₀ of the config).
    pub d: Option<f64>,
    /// The running numerator r (`numerator_weighted`, a plain sum here).
    pub numerator_weighted: f64,
    /// The norm of the model's gradients at its first step, ‖g₀‖ (0 before it).
    pub g0_norm: f64,
}

impl ModelScalars for DAdaptSgdScalars {
    fn fields(&self) -> Vec<(&'static str, Field<'static>)> {
        let mut out = vec![
            ("k", Field::Count(self.k)),
            (
                "numerator_weighted",
                Field::Scalar(coef(self.numerator_weighted)),
            ),
            ("g0_norm", Field::Scalar(coef(self.g0_norm))),
        ];
        if let Some(d) = self.d {
            out.push(("d", Field::Scalar(coef(d))));
        }
        out
    }

    fn problem(&self) -> Option<String> {
        // A counted step has measured ‖g₀‖ > 0; dlr divides by it.
        let g0_ok = self.g0_norm.is_finite()
            && if self.k > 0 {
                self.g0_norm > 0.0
            } else {
                self.g0_norm >= 0.0
            };
        if !(d_ok(self.d) && self.numerator_weighted.is_finite() && g0_ok) {
            return Some(format!(
                "has k = {}, d = {:?}, numerator_weighted = {}, g0_norm = {} (d must be in (0, {D_LIMIT:e}], the numerator finite, g0_norm finite and > 0 after a step)",
                self.k, self.d, self.numerator_weighted, self.g0_norm
            ));
        }
        None
    }
}

optimizer_struct!(
    /// D-Adaptation SGD over a whole model (see the [module docs](crate::dadapt) for the
    /// update): no learning rate to tune, d is learned. Step it with
    /// [`step_model`](Optimizer::step_model) and every tensor of the model.
    ///
    /// ```
    /// use lrmem_optimizers::{DAdaptSgd, DAdaptSgdConfig, Optimizer, Tensor};
    /// let mut opt = DAdaptSgd::new(DAdaptSgdConfig::default())?;
    /// let (mut w, mut b) = (vec![1.0f32, -2.0], vec![0.5f32]);
    /// for _ in 0..100 {
    ///     let (gw, gb): (Vec<f32>, Vec<f32>) = (w.clone(), b.clone()); // ½‖x‖²
    ///     opt.step_model(&mut [Tensor::new("w", &mut w, &gw), Tensor::new("b", &mut b, &gb)])?;
    /// }
    /// assert!(w.iter().chain(&b).all(|x| x.abs() < 0.5));
    /// # Ok::<(), lrmem_optimizers::OptimError>(())
    /// ```
    DAdaptSgd, DAdaptSgdConfig, DAdaptSgdState, DAdaptSgdScalars);

impl DAdaptSgd {
    /// The current estimate d (d₀ before the first step).
    pub fn d(&self) -> f64 {
        self.global.d.unwrap_or(dec(self.config.d0))
    }
}

impl Optimizer for DAdaptSgd {
    crate::optimizer::macros::one_tensor_model!();

    /// One D-Adaptation SGD step of the whole model.
    fn step_model(&mut self, tensors: &mut [Tensor<'_>]) -> Result<(), OptimError> {
        let cfg = self.config;
        let grads = check_model(&self.states, tensors, cfg.non_finite)?;
        let g = &mut self.global;
        let mut d = g.d.unwrap_or(dec(cfg.d0));
        let k = g.k;
        let g0_norm = if k == 0 {
            // As the reference: without weight decay (its `grad.add(p, alpha=decay)` there is
            // not in place, so the sum never sees it).
            grads
                .iter()
                .map(|g| g.iter().map(|&x| x as f64 * x as f64).sum::<f64>())
                .sum::<f64>()
                .sqrt()
        } else {
            g.g0_norm
        };
        if g0_norm == 0.0 {
            // Deviation: the reference divides by ‖g₀‖ = 0 (ZeroDivisionError). Here the step
            // changes nothing and does not count; the next one measures g₀ again.
            return Ok(());
        }
        let dlr = d * dec(cfg.lr) / g0_norm;
        let decay = cfg.weight_decay;
        let s_alpha = coef(dlr);
        let mut numerator_weighted = g.numerator_weighted;
        let mut sk_sq = 0.0f64;
        for (t, grad) in tensors.iter().zip(&grads) {
            let st = self.states.get_or_start(t.name, t.params, &cfg)?;
            let mut dot = 0.0f64;
            for ((s, &g), &w) in st.s.iter_mut().zip(grad.iter()).zip(t.params.iter()) {
                let g = if decay != 0.0 { sat(g + decay * w) } else { g };
                dot += g as f64 * *s as f64;
                *s = sat(*s + s_alpha * g);
            }
            numerator_weighted += dlr * dot;
            sk_sq += st.s.iter().map(|&s| s as f64 * s as f64).sum::<f64>();
        }
        if sk_sq == 0.0 {
            // Deviation: the reference divides by ‖s‖₂ = 0 (ZeroDivisionError, before its own
            // `sk_sq == 0` return). Here the step keeps its s (zero everywhere) but moves
            // nothing and does not count, as DAdaptAdam's ‖s‖₁ = 0 step.
            return Ok(());
        }
        let d_hat = 2.0 * numerator_weighted / sk_sq.sqrt();
        if numerator_weighted.is_finite() && d_hat.is_finite() {
            d = grown(d, d_hat, cfg.growth_rate);
            g.numerator_weighted = numerator_weighted;
        }
        g.d = Some(d);
        g.g0_norm = g0_norm;
        g.k = k.saturating_add(1);
        // x·(1 − ck) + z·ck with ck = 1 − μ, in float64 as the reference's Python floats.
        let ck = 1.0 - dec(cfg.momentum);
        let (keep, ckf) = ((1.0 - ck) as f32, ck as f32);
        for t in tensors.iter_mut() {
            let st = self.states.get_mut(t.name).expect("made in the first pass");
            for ((w, &x0), &s) in t.params.iter_mut().zip(&st.x0).zip(&st.s) {
                let z = sat(x0 - s);
                *w = sat(*w * keep + ckf * z);
            }
        }
        Ok(())
    }

    crate::optimizer::macros::config_hyperparameters!();
}

impl Hyper for DAdaptSgdConfig {
    crate::optimizer::macros::hyper_fields!(lr, momentum, weight_decay, growth_rate);
}

impl StateRules<DAdaptSgdState> for DAdaptSgdConfig {
    /// x₀ and s (zeros: the lengths a loaded state must have).
    fn fresh(&self, len: usize) -> DAdaptSgdState {
        DAdaptSgdState {
            x0: vec![0.0; len],
            s: vec![0.0; len],
        }
    }

    /// x₀ = the tensor's parameters, a zero s.
    fn start(&self, params: &[f32]) -> DAdaptSgdState {
        DAdaptSgdState {
            x0: params.to_vec(),
            ..self.fresh(params.len())
        }
    }
}

crate::optimizer::macros::state_fields!(DAdaptSgdState { x0, s });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimizer::StateBytes;

    #[test]
    fn adam_first_step_is_adams_with_step_size_d0_and_keeps_d() {
        let mut opt = DAdaptAdam::new(DAdaptAdamConfig::default()).unwrap();
        let mut w = vec![0.0f32, 0.0];
        opt.step("w", &mut w, &[0.5, -0.25]).unwrap();
        // m = d₀(1−β₁)g, v = (1−β₂)g²: the step is d₀(1−β₁)/√(1−β₂) against sign(g).
        let expect = 1e-6 * 0.1 / 0.001f64.sqrt();
        assert!((w[0] as f64 + expect).abs() < 1e-5 * expect, "{w:?}");
        assert!((w[1] as f64 - expect).abs() < 1e-5 * expect, "{w:?}");
        // s was zero before the step: the numerator, and so d̂, is 0; d stays d₀.
        assert_eq!(opt.global.k, 1);
        assert_eq!(opt.d(), 1e-6);
    }

    #[test]
    fn adam_step_with_zero_s_updates_the_moments_but_does_not_count() {
        // dlr·(1−√β₂) underflows in float32: s stays 0 while v moves, as in the reference.
        let config = DAdaptAdamConfig {
            lr: 1e-30,
            d0: 1e-30,
            ..DAdaptAdamConfig::default()
        };
        let mut opt = DAdaptAdam::new(config).unwrap();
        let mut w = vec![1.0f32, -2.0];
        opt.step("w", &mut w, &[0.5, -0.25]).unwrap();
        assert_eq!(w, [1.0, -2.0]);
        assert_eq!(opt.global, DAdaptAdamScalars::default());
        let st = opt.states.get_mut("w").unwrap();
        assert_eq!((st.step, &st.s[..]), (0, &[0.0f32, 0.0][..]));
        assert!(st.exp_avg_sq.iter().all(|&v| v > 0.0));
    }

    #[test]
    fn adam_without_first_moment_matches_beta1_zero_numbers() {
        // β₁ = 0 keeps no m; the step rebuilds it from the gradient, to the same numbers as a
        // first moment kept with β₁ = 0 would give (m = 0·m + dlr·g).
        let config = DAdaptAdamConfig {
            beta1: 0.0,
            ..DAdaptAdamConfig::default()
        };
        let mut opt = DAdaptAdam::new(config).unwrap();
        assert_eq!(opt.bytes_per_coordinate(), 8);
        let mut w = vec![1.0f32, -2.0, 0.5];
        for t in 0..30 {
            let g: Vec<f32> = w.iter().map(|&x| x + 0.1 * t as f32).collect();
            opt.step("w", &mut w, &g).unwrap();
        }
        assert!(opt.d() > 1e-6 && w.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn sgd_first_step_moves_d0_along_the_normalised_gradient() {
        let mut opt = DAdaptSgd::new(DAdaptSgdConfig::default()).unwrap();
        let mut w = vec![1.0f32, -2.0];
        opt.step("w", &mut w, &[3.0, -4.0]).unwrap();
        assert_eq!(opt.global.g0_norm, 5.0);
        assert!((w[0] as f64 - (1.0 - 1e-6 * 0.6)).abs() < 1e-7, "{w:?}");
        assert!((w[1] as f64 - (-2.0 + 1e-6 * 0.8)).abs() < 1e-7, "{w:?}");
        assert_eq!(opt.bytes_per_coordinate(), 8);
    }

    #[test]
    fn sgd_first_gradient_norm_leaves_weight_decay_out() {
        let config = DAdaptSgdConfig {
            weight_decay: 0.5,
            ..DAdaptSgdConfig::default()
        };
        let mut opt = DAdaptSgd::new(config).unwrap();
        let mut w = vec![1.0f32, -2.0];
        opt.step("w", &mut w, &[3.0, -4.0]).unwrap();
        assert_eq!(opt.global.g0_norm, 5.0);
        // The step itself uses g + λw = (3.5, −5).
        let s = &opt.states.get_mut("w").unwrap().s;
        assert!((s[0] as f64 - 1e-6 * 3.5 / 5.0).abs() < 1e-12, "{s:?}");
    }

    #[test]
    fn sgd_zero_first_gradient_changes_nothing_and_does_not_count() {
        // The reference raises ZeroDivisionError here.
        let mut opt = DAdaptSgd::new(DAdaptSgdConfig::default()).unwrap();
        let fresh = opt.clone();
        let mut w = vec![1.0f32, -2.0];
        opt.step("w", &mut w, &[0.0, 0.0]).unwrap();
        assert_eq!((&w[..], &opt), (&[1.0f32, -2.0][..], &fresh));
        // The next step measures g₀ from its own gradients.
        opt.step("w", &mut w, &[3.0, -4.0]).unwrap();
        assert_eq!((opt.global.k, opt.global.g0_norm), (1, 5.0));
    }

    #[test]
    fn sgd_zero_sum_does_not_move_or_count() {
        // dlr·g underflows in float32: s stays 0 (the reference raises ZeroDivisionError).
        let config = DAdaptSgdConfig {
            lr: 1e-30,
            d0: 1e-30,
            ..DAdaptSgdConfig::default()
        };
        let mut opt = DAdaptSgd::new(config).unwrap();
        let mut w = vec![1.0f32, -2.0];
        opt.step("w", &mut w, &[3.0, -4.0]).unwrap();
        assert_eq!(w, [1.0, -2.0]);
        assert_eq!(opt.global, DAdaptSgdScalars::default());
    }

    #[test]
    fn configs_refuse_out_of_range_values() {
        let adam = DAdaptAdamConfig::default();
        for bad in [
            DAdaptAdamConfig { beta2: 1.0, ..adam },
            DAdaptAdamConfig { eps: 0.0, ..adam },
            DAdaptAdamConfig { lr: 0.0, ..adam },
            DAdaptAdamConfig {
                d0: f32::INFINITY,
                ..adam
            },
            DAdaptAdamConfig {
                growth_rate: 0.5,
                ..adam
            },
            DAdaptAdamConfig {
                weight_decay: -1.0,
                ..adam
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        let sgd = DAdaptSgdConfig::default();
        for bad in [
            DAdaptSgdConfig {
                momentum: 1.0,
                ..sgd
            },
            DAdaptSgdConfig {
                momentum: -0.1,
                ..sgd
            },
            DAdaptSgdConfig {
                lr: f32::NAN,
                ..sgd
            },
            DAdaptSgdConfig {
                growth_rate: f32::NAN,
                ..sgd
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hostile_inputs_keep_parameters_finite() {
        let adam = DAdaptAdamConfig {
            lr: 1e6,
            d0: 1e6,
            eps: f32::MIN_POSITIVE,
            weight_decay: 1e6,
            ..DAdaptAdamConfig::default()
        };
        let sgd = DAdaptSgdConfig {
            lr: 1e6,
            d0: 1e6,
            momentum: 0.5,
            weight_decay: 1e6,
            ..DAdaptSgdConfig::default()
        };
        let mut opts: Vec<Box<dyn Optimizer>> = vec![
            Box::new(DAdaptAdam::new(adam).unwrap()),
            Box::new(
                DAdaptAdam::new(DAdaptAdamConfig {
                    decouple: true,
                    ..adam
                })
                .unwrap(),
            ),
            Box::new(DAdaptSgd::new(sgd).unwrap()),
        ];
        for opt in &mut opts {
            let mut w = vec![1e30f32, -1e-30, 0.0];
            for t in 0..50 {
                let sign = if t % 2 == 0 { 1.0 } else { -1.0 };
                let g = [sign * 1e18, -1e18, 1e-40];
                opt.step("w", &mut w, &g).unwrap();
                assert!(w.iter().all(|x| x.is_finite()), "{w:?}");
            }
        }
    }
}
