//! Prodigy (Mishchenko & Defazio, "Prodigy: An Expeditiously Adaptive Parameter-Free Learner",
//! 2023): Adam whose step size d is estimated from the distance travelled, as the reference
//! `prodigyopt` 1.1.2 (`prodigy.py`) computes it, number for number.
//!
//! With k the step, g_k the gradients of the whole model (plus λw without decoupling) and
//! dlr = d·lr·bc (bc = √(1−β₂^{k+1})/(1−β₁^{k+1}) with bias correction, else 1):
//!
//! - m ← β₁m + d(1−β₁)g, v ← β₂v + d²(1−β₂)g², per coordinate;
//! - r ← β₃r + (d/d₀)·dlr·⟨g, x₀ − x⟩ (over the model), s ← β₃s + (d/d₀)·dlr·g
//!   ((d/d₀)·d with `safeguard_warmup`);
//! - d̂ = d_coef·r/‖s‖₁; d ← max(d, d̂) while d = d₀; d_max ← max(d_max, d̂);
//!   d ← min(d_max, d·growth_rate);
//! - x ← x − λ·dlr·x (decoupled decay), then x ← x − dlr·m/(√v + d·ε) (with β₁ = 0:
//!   x − dlr·d·g/(√v + d·ε)), where dlr is the one from before d changed.
//!
//! If ‖s‖₁ = 0 (every gradient so far zero) the step ends after the moments, as the
//! reference's does: the parameters, d and k stay. The reference's float64 scalars (d, the
//! sums) are f64 here; its float32 tensors are f32.
//!
//! Guards the reference does not have, which change nothing in any run it survives: moments,
//! sums and parameters saturate at ±`f32::MAX` instead of overflowing; d is capped at
//! [`D_LIMIT`], and a step whose estimate is not finite keeps the previous d; a coordinate
//! whose denominator √v + d·ε is 0 (it never had a gradient and d·ε underflowed) does not
//! move. So hostile gradients and configs never turn state into ∞ or NaN.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::optimizer::hyper::{self, Hyper};
use crate::optimizer::macros::optimizer_struct;
use crate::optimizer::model::{self, check_model, ModelScalars};
use crate::optimizer::model::{coef, sat};
use crate::optimizer::state::{buffer, negative, Field, StateRules};
use crate::optimizer::{OptimError, Optimizer, Tensor};
use lrmem_memory_core::NonFinite;

/// Configuration of [`Prodigy`]: the reference's arguments and defaults (`prodigyopt` 1.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProdigyConfig {
    /// A multiplier of the estimated step size d (the reference recommends leaving it at 1).
    /// Default 1.
    pub lr: f32,
    /// β₁ of the first moment; 0 keeps no first moment. Default 0.9.
    pub beta1: f32,
    /// β₂ of the second moment. Default 0.999.
    pub beta2: f32,
    /// β₃ of the running sums r and s; `None` (default) is √β₂.
    pub beta3: Option<f32>,
    /// ε added to √v, scaled by d. Default 1e−8.
    pub eps: f32,
    /// Weight decay λ. Default 0.
    pub weight_decay: f32,
    /// Decoupled weight decay (AdamW-style, the reference's default) or λw added to the
    /// gradient. Default true.
    pub decouple: bool,
    /// Adam's bias correction in the step size. Default false.
    pub use_bias_correction: bool,
    /// Leaves lr out of the s update, to avoid a large d early on. Default false.
    pub safeguard_warmup: bool,
    /// Initial estimate d₀. Default 1e−6.
    pub d0: f32,
    /// Multiplier of the estimate d̂. Default 1.
    pub d_coef: f32,
    /// Largest factor by which d may grow per step (∞: unbounded). Default ∞.
    pub growth_rate: f32,
    /// NaN/∞ gradients: error (default), or `Skip`: a zero gradient there
    /// ([`NonFinite::Skip`]; the moments still move the coordinate).
    pub non_finite: NonFinite,
}

impl Default for ProdigyConfig {
    fn default() -> Self {
        ProdigyConfig {
            lr: 1.0,
            beta1: 0.9,
            beta2: 0.999,
            beta3: None,
            eps: 1e-8,
            weight_decay: 0.0,
            decouple: true,
            use_bias_correction: false,
            safeguard_warmup: false,
            d0: 1e-6,
            d_coef: 1.0,
            growth_rate: f32::INFINITY,
            non_finite: NonFinite::Error,
        }
    }
}

impl ProdigyConfig {
    /// Checks every field (the reference's checks, and finite ranges for the rest).
    pub fn validate(&self) -> Result<(), OptimError> {
        hyper::check_positive("lr", self.lr)?;
        hyper::check_moments(self.beta1, self.beta2, self.eps)?;
        if let Some(b) = self.beta3 {
            hyper::check_fraction("beta3", b)?;
        }
        hyper::check_nonnegative("weight_decay", self.weight_decay)?;
        hyper::check_positive("d0", self.d0)?;
        hyper::check_positive("d_coef", self.d_coef)?;
        hyper::check_growth_rate(self.growth_rate)
    }

    /// β₃: the given one, or √β₂.
    fn beta3(&self) -> f64 {
        self.beta3.map_or((self.beta2 as f64).sqrt(), f64::from)
    }
}

/// Per-tensor state of Prodigy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProdigyState {
    /// Steps taken.
    pub step: u64,
    /// The parameters at the tensor's first step, x₀.
    pub p0: Vec<f32>,
    /// The running sum s of scaled gradients.
    pub s: Vec<f32>,
    /// First moment m (empty with β₁ = 0).
    pub exp_avg: Vec<f32>,
    /// Second moment v.
    pub exp_avg_sq: Vec<f32>,
}

/// Prodigy's model-wide scalars (the reference's parameter-group entries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProdigyScalars {
    /// Steps of the model, k.
    pub k: u64,
    /// The step size estimate d (`None` before the first step: d₀ of the config).
    pub d: Option<f64>,
    /// The largest estimate so far, d_max.
    pub d_max: Option<f64>,
    /// The running numerator r.
    pub d_numerator: f64,
}

impl Default for ProdigyScalars {
    fn default() -> Self {
        ProdigyScalars {
            k: 0,
            d: None,
            d_max: None,
            d_numerator: 0.0,
        }
    }
}

/// The view shows the f64 scalars rounded to f32 and saturated at ±`f32::MAX` (as
/// D-Adaptation's): d may grow to [`D_LIMIT`] and the running numerator r past f32's range,
/// which the step keeps in f64 as the reference does; the checkpoint holds the f64 values, and
/// the load checks those (docs/algorithm.md §12).
impl ModelScalars for ProdigyScalars {
    fn fields(&self) -> Vec<(&'static str, Field<'static>)> {
        let mut out = vec![
            ("k", Field::Count(self.k)),
            ("d_numerator", Field::Scalar(coef(self.d_numerator))),
        ];
        if let (Some(d), Some(d_max)) = (self.d, self.d_max) {
            out.push(("d", Field::Scalar(coef(d))));
            out.push(("d_max", Field::Scalar(coef(d_max))));
        }
        out
    }

    /// What a step can leave: d and d_max unset together or both set, 0 < d ≤ d_max ≤
    /// [`D_LIMIT`], and a finite numerator (the step keeps the previous one where a new one is
    /// not finite).
    fn problem(&self) -> Option<String> {
        let ok = match (self.d, self.d_max) {
            (None, None) => true,
            (Some(d), Some(d_max)) => d > 0.0 && d <= d_max && d_max <= D_LIMIT,
            _ => false,
        };
        if !(ok && self.d_numerator.is_finite()) {
            return Some(format!(
                "has d = {:?}, d_max = {:?}, d_numerator = {} (0 < d ≤ d_max ≤ {D_LIMIT:e}, the numerator finite)",
                self.d, self.d_max, self.d_numerator
            ));
        }
        None
    }
}

optimizer_struct!(
    /// Prodigy over a whole model (see the [module docs](crate::prodigy) for the update): no
    /// learning rate to tune, d is learned. Step it with
    /// [`step_model`](Optimizer::step_model) and every tensor of the model.
    ///
    /// ```
    /// use lrmem_optimizers::{Optimizer, Prodigy, ProdigyConfig, Tensor};
    /// let mut opt = Prodigy::new(ProdigyConfig::default())?;
    /// let (mut w, mut b) = (vec![1.0f32, -2.0], vec![0.5f32]);
    /// for _ in 0..100 {
    ///     let (gw, gb): (Vec<f32>, Vec<f32>) = (w.clone(), b.clone()); // ½‖x‖²
    ///     opt.step_model(&mut [Tensor::new("w", &mut w, &gw), Tensor::new("b", &mut b, &gb)])?;
    /// }
    /// assert!(w.iter().chain(&b).all(|x| x.abs() < 0.5));
    /// # Ok::<(), lrmem_optimizers::OptimError>(())
    /// ```
    Prodigy, ProdigyConfig, ProdigyState, ProdigyScalars);

impl Prodigy {
    /// The current estimate d (d₀ before the first step).
    pub fn d(&self) -> f64 {
        self.global.d.unwrap_or(self.config.d0 as f64)
    }
}

/// The largest d: every coefficient built from it stays finite in f64 (and saturates in f32).
pub const D_LIMIT: f64 = 1e100;

impl Optimizer for Prodigy {
    crate::optimizer::macros::one_tensor_model!();

    /// One Prodigy step of the whole model.
    fn step_model(&mut self, tensors: &mut [Tensor<'_>]) -> Result<(), OptimError> {
        let cfg = self.config;
        let grads = check_model(&self.states, tensors, cfg.non_finite)?;
        let (b1, b2, b3) = (cfg.beta1 as f64, cfg.beta2 as f64, cfg.beta3());
        let (lr, d0) = (cfg.lr as f64, cfg.d0 as f64);
        let decay = cfg.weight_decay;
        let g = &mut self.global;
        let (mut d, mut d_max) = (g.d.unwrap_or(d0), g.d_max.unwrap_or(d0));
        let k = g.k;
        let bc = if cfg.use_bias_correction {
            (1.0 - libm::pow(b2, (k + 1) as f64)).sqrt() / (1.0 - libm::pow(b1, (k + 1) as f64))
        } else {
            1.0
        };
        let dlr = d * lr * bc;
        let d_numerator = g.d_numerator * b3;
        let mut delta_numerator = 0.0f64;
        let mut d_denom = 0.0f64;
        // Coefficients of the moment updates, float64 products cast to float32 as torch does.
        let m_alpha = coef(d * (1.0 - b1));
        let v_value = coef(d * d * (1.0 - b2));
        let s_alpha = coef(if cfg.safeguard_warmup {
            (d / d0) * d
        } else {
            (d / d0) * dlr
        });
        let (b1f, b2f, b3f) = (cfg.beta1, cfg.beta2, b3 as f32);
        // The gradients with coupled weight decay added (a copy only then).
        let mut effective: Vec<Cow<'_, [f32]>> = Vec::with_capacity(tensors.len());
        for (t, grad) in tensors.iter().zip(&grads) {
            let st = self.states.get_or_start(t.name, t.params, &cfg)?;
            let grad: Cow<'_, [f32]> = if decay != 0.0 && !cfg.decouple {
                Cow::Owned(
                    grad.iter()
                        .zip(t.params.iter())
                        .map(|(&g, &w)| sat(g + decay * w))
                        .collect(),
                )
            } else {
                Cow::Borrowed(grad)
            };
            let dot: f64 = grad
                .iter()
                .zip(st.p0.iter().zip(t.params.iter()))
                .map(|(&g, (&p0, &w))| g as f64 * (p0 as f64 - w as f64))
                .sum();
            delta_numerator += (d / d0) * dlr * dot;
            if b1f > 0.0 {
                for (m, &g) in st.exp_avg.iter_mut().zip(grad.iter()) {
                    *m = sat(*m * b1f + m_alpha * g);
                }
            }
            for (v, &g) in st.exp_avg_sq.iter_mut().zip(grad.iter()) {
                *v = (*v * b2f + v_value * (g * g)).min(f32::MAX);
            }
            for (s, &g) in st.s.iter_mut().zip(grad.iter()) {
                *s = sat(*s * b3f + s_alpha * g);
            }
            d_denom += model::sum_abs(&st.s);
            effective.push(grad);
        }
        if d_denom == 0.0 {
            // As the reference: nothing to estimate from yet; the parameters do not move.
            return Ok(());
        }
        let global_numerator = d_numerator + delta_numerator;
        let d_hat = cfg.d_coef as f64 * global_numerator / d_denom;
        if global_numerator.is_finite() && d_hat.is_finite() {
            if d == d0 {
                d = d.max(d_hat);
            }
            d_max = d_max.max(d_hat).min(D_LIMIT);
            d = d_max.min(d * cfg.growth_rate as f64);
            g.d_numerator = global_numerator;
        }
        g.d = Some(d);
        g.d_max = Some(d_max);
        g.k = k.saturating_add(1);
        let deps = coef(d * cfg.eps as f64);
        let wd = coef(-(decay as f64) * dlr);
        let step = coef(-dlr);
        let step_g = coef(-dlr * d);
        for (t, grad) in tensors.iter_mut().zip(&effective) {
            let st = self.states.get_mut(t.name).expect("made in the first pass");
            st.step = st.step.saturating_add(1);
            for (i, w) in t.params.iter_mut().enumerate() {
                let denom = st.exp_avg_sq[i].sqrt() + deps;
                if decay != 0.0 && cfg.decouple {
                    *w = sat(*w + wd * *w);
                }
                let u = if denom == 0.0 {
                    0.0
                } else if b1f > 0.0 {
                    st.exp_avg[i] / denom
                } else {
                    grad[i] / denom
                };
                *w = sat(*w + if b1f > 0.0 { step } else { step_g } * u);
            }
        }
        Ok(())
    }

    crate::optimizer::macros::config_hyperparameters!();
}

impl Hyper for ProdigyConfig {
    crate::optimizer::macros::hyper_fields!(
        lr,
        beta1,
        beta2,
        eps,
        weight_decay,
        d_coef,
        growth_rate
    );

    /// β₁ = 0 keeps no first moment.
    fn shape_change(&self, other: &Self) -> Option<&'static str> {
        hyper::buffer_switch("beta1", self.beta1, other.beta1)
    }
}

impl StateRules<ProdigyState> for ProdigyConfig {
    fn fresh(&self, len: usize) -> ProdigyState {
        ProdigyState {
            step: 0,
            p0: vec![0.0; len],
            s: vec![0.0; len],
            exp_avg: buffer(self.beta1 > 0.0, len),
            exp_avg_sq: vec![0.0; len],
        }
    }

    /// x₀ = the tensor's parameters, zero sums and moments.
    fn start(&self, params: &[f32]) -> ProdigyState {
        ProdigyState {
            p0: params.to_vec(),
            ..self.fresh(params.len())
        }
    }

    fn problem(&self, state: &ProdigyState) -> Option<String> {
        negative("exp_avg_sq", &state.exp_avg_sq)
    }
}

crate::optimizer::macros::state_fields!(ProdigyState {
    step,
    p0,
    s,
    exp_avg,
    exp_avg_sq
});
