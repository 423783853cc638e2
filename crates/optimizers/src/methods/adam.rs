//! Adam (Kingma & Ba) with torch semantics, and optional decoupled weight decay (AdamW).

use serde::{Deserialize, Serialize};

use crate::optimizer::hyper::{self, Hyper};
use crate::optimizer::inputs::{check_decay, check_inputs};
use crate::optimizer::macros::{base_info, config_hyperparameters, optimizer_struct, state_fields};
use crate::optimizer::state::{negative, StateRules};
use crate::optimizer::{Base, Direction, DirectionBuf, OptimError, Optimizer};
use lrmem_memory_core::NonFinite;

/// Configuration of [`Adam`], as `torch.optim.Adam` / `AdamW`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// Learning rate. Default 1e−3.
    pub lr: f32,
    /// β₁, default 0.9.
    pub beta1: f32,
    /// β₂, default 0.999.
    pub beta2: f32,
    /// ε, default 1e−8.
    pub eps: f32,
    /// Weight decay λ. Default 0.
    pub weight_decay: f32,
    /// If true, decay is decoupled (AdamW: w ← w − lr·λ·w); else added to the gradient (Adam).
    pub decoupled: bool,
    /// NaN/∞ gradients: error (default), or `Skip`: a zero gradient there, which the moments
    /// still move ([`NonFinite::Skip`]).
    pub non_finite: NonFinite,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            non_finite: NonFinite::Error,
        }
    }
}

impl AdamConfig {
    /// Adam with learning rate `lr` and default betas.
    pub fn with_lr(lr: f32) -> Self {
        AdamConfig {
            lr,
            ..Self::default()
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), OptimError> {
        hyper::check_lr(self.lr)?;
        hyper::check_moments(self.beta1, self.beta2, self.eps)?;
        hyper::check_weight_decay(self.lr, self.weight_decay)?;
        Ok(())
    }

    /// The moment updates of one coordinate; returns the gradient that entered them.
    #[inline(always)]
    fn moments(&self, m: &mut f32, v: &mut f32, g: f32, w: f32) {
        let g = if self.decoupled {
            g
        } else {
            g + self.weight_decay * w
        };
        *m = self.beta1 * *m + (1.0 - self.beta1) * g;
        // Saturates rather than overflowing to ∞, which would freeze the coordinate for good.
        *v = (self.beta2 * *v + (1.0 - self.beta2) * g * g).min(f32::MAX);
    }
}

/// Per-tensor state of Adam: step count and both moments.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AdamState {
    /// Steps taken (t).
    pub step: u64,
    /// First moment m.
    pub m: Vec<f32>,
    /// Second moment v.
    pub v: Vec<f32>,
}

optimizer_struct!(
    /// Adam over named tensors, one fused pass per step:
    /// w ← w − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε).
    ///
    /// ```
    /// use lrmem_optimizers::{Adam, AdamConfig, Optimizer};
    /// let mut adam = Adam::new(AdamConfig::with_lr(0.1))?;
    /// let mut w = [1.0f32];
    /// adam.step("w", &mut w, &[5.0])?;
    /// assert!((w[0] - 0.9).abs() < 1e-6); // the first Adam step has length lr
    /// # Ok::<(), lrmem_optimizers::OptimError>(())
    /// ```
    Adam, AdamConfig, AdamState);

state_fields!(AdamState { step, m, v });

/// A new value of `lr`, `beta1`, `beta2`, `eps` or `weight_decay` applies from the next step,
/// with the moments and step count as they are (torch's semantics: the bias corrections use the
/// new β's from then on).
impl Optimizer for Adam {
    config_hyperparameters!();

    crate::optimizer::macros::tensor_checks!(cfg => if cfg.decoupled { 0.0 } else { cfg.weight_decay });

    fn step(&mut self, name: &str, params: &mut [f32], grads: &[f32]) -> Result<(), OptimError> {
        let cfg = self.config;
        let grads = check_inputs(name, params, grads, cfg.non_finite)?;
        if !cfg.decoupled {
            // Decoupled decay scales w by 1 − lr·λ ∈ [0, 1], which cannot overflow.
            check_decay(name, params, Some(&grads), cfg.weight_decay)?;
        }
        let st = self.states.get_or_start(name, params, &cfg)?;
        st.step = st.step.saturating_add(1);
        let t = st.step as f64;
        let bc1 = 1.0 - libm::pow(cfg.beta1 as f64, t);
        let bc2 = 1.0 - libm::pow(cfg.beta2 as f64, t);
        let step_size = (cfg.lr as f64 / bc1) as f32;
        let inv_sqrt_bc2 = (1.0 / bc2.sqrt()) as f32;
        let decay = if cfg.decoupled {
            1.0 - cfg.lr * cfg.weight_decay
        } else {
            1.0
        };
        let n = params.len();
        let (m, v) = (&mut st.m[..n], &mut st.v[..n]);
        for (((w, &g), m), v) in params.iter_mut().zip(&grads[..n]).zip(m).zip(v) {
            cfg.moments(m, v, g, *w);
            let denom = v.sqrt() * inv_sqrt_bc2 + cfg.eps;
            *w = *w * decay - step_size * direction(*m / denom);
        }
        Ok(())
    }
}

impl Hyper for AdamConfig {
    crate::optimizer::macros::hyper_fields!(lr, beta1, beta2, eps, weight_decay);
}

/// Adam's normalised direction m/(√v + ε), kept within ±10⁶. A run's own moments keep it far
/// inside (|m| ≤ C·√v by Cauchy–Schwarz, C ≈ 7 at the default β's), so this changes no value a
/// run computes; it bounds the step of states no run reaches (a checkpoint crafted with a large
/// m and a tiny v, or ε near 0), whose step would be ∞.
#[inline(always)]
pub(crate) fn direction(d: f32) -> f32 {
    d.clamp(-1e6, 1e6)
}

impl StateRules<AdamState> for AdamConfig {
    /// Fresh state for a tensor of `len` coordinates.
    fn fresh(&self, len: usize) -> AdamState {
        AdamState {
            step: 0,
            m: vec![0.0; len],
            v: vec![0.0; len],
        }
    }

    fn problem(&self, state: &AdamState) -> Option<String> {
        negative("v", &state.v)
    }
}

/// Under [`Meta`](crate::Meta), the authors' TensorFlow backend (docs/algorithm.md §11): the
/// query is m_t, not bias-corrected, and u = m_t/(√v_t + ε) (+ λw when decoupled); the memory's
/// rate replaces Adam's bias-corrected step size. The step count advances but is not used.
impl Base for Adam {
    base_info!(Adam);

    /// The step's checks, and decoupled decay's λw, which the direction adds.
    fn check_direction(&self, name: &str, params: &[f32], grads: &[f32]) -> Result<(), OptimError> {
        let cfg = &self.config;
        check_decay(
            name,
            params,
            (!cfg.decoupled).then_some(grads),
            cfg.weight_decay,
        )?;
        self.check_step(name, params, grads)
    }

    fn direction(
        &mut self,
        name: &str,
        params: &[f32],
        grads: &[f32],
        mut buf: DirectionBuf<'_>,
    ) -> Result<Direction, OptimError> {
        let cfg = self.config;
        // Coupled decay enters the moments; decoupled decay adds λw to the direction.
        let coupled = (!cfg.decoupled).then_some(grads);
        check_decay(name, params, coupled, cfg.weight_decay)?;
        let st = self.states.get_or_start(name, params, &cfg)?;
        st.step = st.step.saturating_add(1);
        for (((m, v), &g), &w) in st.m.iter_mut().zip(st.v.iter_mut()).zip(grads).zip(params) {
            cfg.moments(m, v, g, w);
        }
        let u = buf.values();
        for (((u, &m), &v), &w) in u.iter_mut().zip(&st.m).zip(&st.v).zip(params) {
            let d = direction(m / (v.sqrt() + cfg.eps));
            *u = if cfg.decoupled {
                d + cfg.weight_decay * w
            } else {
                d
            };
        }
        Ok(Direction::Values)
    }

    /// m_t.
    fn query<'a>(&'a self, name: &str, grads: &'a [f32]) -> &'a [f32] {
        self.states.get(name).map_or(grads, |st| &st.m)
    }
}
