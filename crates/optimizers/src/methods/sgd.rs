//! Stochastic gradient descent with optional momentum, Nesterov and weight decay (torch semantics).

use serde::{Deserialize, Serialize};

use crate::optimizer::hyper::{self, Hyper};
use crate::optimizer::inputs::{check_decay, check_inputs};
use crate::optimizer::macros::{base_info, config_hyperparameters, optimizer_struct, state_fields};
use crate::optimizer::state::{buffer, StateRules};
use crate::optimizer::{Base, Direction, DirectionBuf, OptimError, Optimizer};
use lrmem_memory_core::NonFinite;

/// The largest momentum buffer SGD keeps, |b| ≤ 10²⁴ (`MAX_GRADIENT` · 10⁶). The buffer
/// approaches g/(1 − μ), which for μ the largest f32 below 1 is 1.7·10⁷·g: at |g| = 10¹⁸ and a
/// rate of 10⁶ one step would move a coordinate by 1.7·10³¹, more than half the spacing of f32
/// at its largest values, and carry a finite parameter to ∞. Saturated here, a step moves a
/// coordinate by at most 10³⁰ (docs/guide.md §11); below the bound nothing changes.
pub const MAX_MOMENTUM: f32 = 1e24;

/// Configuration of [`Sgd`], as `torch.optim.SGD`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SgdConfig {
    /// Learning rate. Default 1e−3 (the papers' base rate).
    pub lr: f32,
    /// Momentum μ; 0 disables the buffer. Default 0.
    pub momentum: f32,
    /// Dampening of the momentum buffer. Default 0.
    pub dampening: f32,
    /// Nesterov momentum (needs momentum > 0, dampening 0). Default false.
    pub nesterov: bool,
    /// L2 penalty added to the gradient: g + λw. Default 0.
    pub weight_decay: f32,
    /// NaN/∞ gradients: error (default), or `Skip`: a zero gradient there, which momentum and
    /// weight decay still move ([`NonFinite::Skip`]).
    pub non_finite: NonFinite,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            non_finite: NonFinite::Error,
        }
    }
}

impl SgdConfig {
    /// Plain SGD with learning rate `lr`.
    pub fn with_lr(lr: f32) -> Self {
        SgdConfig {
            lr,
            ..Self::default()
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), OptimError> {
        hyper::check_lr(self.lr)?;
        hyper::check_fraction("momentum", self.momentum)?;
        if !(0.0..=1.0).contains(&self.dampening) {
            return Err(OptimError::invalid(
                "dampening",
                self.dampening,
                "in [0, 1]",
            ));
        }
        if self.nesterov && (self.momentum == 0.0 || self.dampening != 0.0) {
            return Err(OptimError::invalid(
                "nesterov",
                self.nesterov,
                "false unless momentum > 0 and dampening = 0",
            ));
        }
        hyper::check_weight_decay(self.lr, self.weight_decay)?;
        Ok(())
    }

    /// The momentum buffer after one more gradient `g` (weight decay included): μb + (1 − τ)g,
    /// or g at a tensor's first step, saturated at ±[`MAX_MOMENTUM`].
    #[inline(always)]
    fn next_buffer(&self, b: f32, g: f32, first: bool) -> f32 {
        let next = if first {
            g
        } else {
            self.momentum * b + (1.0 - self.dampening) * g
        };
        next.clamp(-MAX_MOMENTUM, MAX_MOMENTUM)
    }

    /// The gradient after weight decay, momentum and Nesterov for one coordinate; updates `buf`.
    #[inline(always)]
    fn direction_of(&self, g: f32, w: f32, buf: Option<&mut f32>, first: bool) -> f32 {
        let g = g + self.weight_decay * w;
        match buf {
            None => g,
            Some(b) => {
                *b = self.next_buffer(*b, g, first);
                if self.nesterov {
                    g + self.momentum * *b
                } else {
                    *b
                }
            }
        }
    }
}

/// Per-tensor state of SGD: the momentum buffer (empty without momentum).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SgdState {
    /// Steps taken.
    pub step: u64,
    /// Momentum buffer, one per coordinate (empty when momentum = 0).
    pub buf: Vec<f32>,
}

optimizer_struct!(
    /// SGD over named tensors: w ← w − lr·u, u = g (+ λw, momentum, Nesterov as configured).
    ///
    /// ```
    /// use lrmem_optimizers::{Optimizer, Sgd, SgdConfig};
    /// let mut sgd = Sgd::new(SgdConfig::with_lr(0.1))?;
    /// let mut w = [1.0f32];
    /// sgd.step("w", &mut w, &[2.0])?;
    /// assert_eq!(w, [0.8]);
    /// # Ok::<(), lrmem_optimizers::OptimError>(())
    /// ```
    Sgd, SgdConfig, SgdState);

state_fields!(SgdState { step, buf });

/// Hyperparameters apply from the next step, and momentum buffers carry on (torch's
/// semantics). Momentum cannot switch between 0 and > 0 while tensors have state (the buffer
/// exists only with momentum > 0): call [`next_task`](Optimizer::next_task) first, or build with
/// momentum.
impl Optimizer for Sgd {
    config_hyperparameters!();

    crate::optimizer::macros::tensor_checks!(cfg => cfg.weight_decay);

    fn step(&mut self, name: &str, params: &mut [f32], grads: &[f32]) -> Result<(), OptimError> {
        let cfg = self.config;
        let grads = check_inputs(name, params, grads, cfg.non_finite)?;
        check_decay(name, params, Some(&grads), cfg.weight_decay)?;
        let st = self.states.get_or_start(name, params, &cfg)?;
        let first = st.step == 0;
        st.step = st.step.saturating_add(1);
        if cfg.momentum == 0.0 {
            for (w, &g) in params.iter_mut().zip(grads.iter()) {
                *w -= cfg.lr * cfg.direction_of(g, *w, None, first);
            }
        } else {
            for ((w, &g), b) in params.iter_mut().zip(grads.iter()).zip(st.buf.iter_mut()) {
                *w -= cfg.lr * cfg.direction_of(g, *w, Some(b), first);
            }
        }
        Ok(())
    }
}

impl Hyper for SgdConfig {
    crate::optimizer::macros::hyper_fields!(lr, momentum, dampening, weight_decay);

    /// The momentum buffer exists only with momentum > 0.
    fn shape_change(&self, other: &Self) -> Option<&'static str> {
        hyper::buffer_switch("momentum", self.momentum, other.momentum)
    }
}

impl StateRules<SgdState> for SgdConfig {
    /// Fresh state for a tensor of `len` coordinates (a momentum buffer only with momentum).
    fn fresh(&self, len: usize) -> SgdState {
        SgdState {
            step: 0,
            buf: buffer(self.momentum > 0.0, len),
        }
    }
}

/// Under [`Meta`](crate::Meta), u = g with weight decay, momentum and Nesterov as configured
/// (docs/algorithm.md §11): the query is the gradient, or the momentum buffer with momentum;
/// the direction is the clipped query (plain SGD: the authors' `MetaSgd1d`, η̂(z)·clip(g)),
/// plus λw without momentum, and g + λw + μ·b (not clipped) with Nesterov.
impl Base for Sgd {
    base_info!(Sgd);

    fn direction(
        &mut self,
        name: &str,
        params: &[f32],
        grads: &[f32],
        mut buf: DirectionBuf<'_>,
    ) -> Result<Direction, OptimError> {
        let cfg = self.config;
        check_decay(name, params, Some(grads), cfg.weight_decay)?;
        let st = self.states.get_or_start(name, params, &cfg)?;
        let first = st.step == 0;
        st.step = st.step.saturating_add(1);
        let (wd, mu) = (cfg.weight_decay, cfg.momentum);
        if mu > 0.0 {
            for ((b, &g), &w) in st.buf.iter_mut().zip(grads).zip(params) {
                *b = cfg.next_buffer(*b, g + wd * w, first);
            }
            if !cfg.nesterov {
                return Ok(Direction::ClippedQuery);
            }
            for (((u, &g), &w), &b) in buf.values().iter_mut().zip(grads).zip(params).zip(&st.buf) {
                *u = g + wd * w + mu * b;
            }
            return Ok(Direction::Values);
        }
        if wd == 0.0 {
            return Ok(Direction::ClippedQuery);
        }
        for (u, &w) in buf.values().iter_mut().zip(params) {
            *u = wd * w;
        }
        Ok(Direction::ClippedQueryPlus)
    }

    /// The momentum buffer with momentum, else the gradient.
    fn query<'a>(&'a self, name: &str, grads: &'a [f32]) -> &'a [f32] {
        match self.states.get(name) {
            Some(st) if self.config.momentum > 0.0 => &st.buf,
            _ => grads,
        }
    }
}
