//! Hypergradient descent (Baydin et al., "Online Learning Rate Adaptation with Hypergradient
//! Descent", ICLR 2018): one learning rate per tensor, itself learned by gradient descent.
//!
//! The other online learning-rate learner a user would reach for. Where the memory learns a
//! *function* from gradient value to learning rate, HD learns one scalar α from the dot
//! product of consecutive gradients (or Adam directions). Baydin's code keeps one α per
//! parameter group, updated tensor by tensor inside a step (the second tensor of a group steps
//! with the α the first one moved); here it is one α per tensor, the seam every optimizer of
//! this crate shares. With one parameter group per tensor the two agree: Adam-HD matches
//! Baydin's `adam_hd.py` so set up within 4·10⁻⁷ of each tensor's scale over 20 steps
//! (`tests/reference.rs`, fixture by `tools/reference/generate.py`).

use serde::{Deserialize, Serialize};

use super::adam::direction;
use crate::optimizer::hyper::{self, Hyper};
use crate::optimizer::inputs::check_inputs;
use crate::optimizer::macros::{base_info, config_hyperparameters, optimizer_struct, state_fields};
use crate::optimizer::state::{negative, StateRules};
use crate::optimizer::{Base, Direction, DirectionBuf, OptimError, Optimizer};
use lrmem_memory_core::NonFinite;

/// Configuration of [`SgdHd`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SgdHdConfig {
    /// Initial learning rate α₀. Default 1e−3.
    pub lr: f32,
    /// Hypergradient learning rate β. Default 1e−3 (Baydin et al.'s SGD-HD runs).
    pub hypergrad_lr: f32,
    /// NaN/∞ gradients: error (default), or `Skip`: a zero gradient there, so that the
    /// coordinate does not move ([`NonFinite::Skip`]).
    pub non_finite: NonFinite,
}

impl Default for SgdHdConfig {
    fn default() -> Self {
        SgdHdConfig {
            lr: 1e-3,
            hypergrad_lr: 1e-3,
            non_finite: NonFinite::Error,
        }
    }
}

/// Configuration of [`AdamHd`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamHdConfig {
    /// Initial learning rate α₀. Default 1e−3.
    pub lr: f32,
    /// β₁, default 0.9.
    pub beta1: f32,
    /// β₂, default 0.999.
    pub beta2: f32,
    /// ε, default 1e−8.
    pub eps: f32,
    /// Hypergradient learning rate β. Default 1e−7 (Baydin et al.'s Adam-HD runs).
    pub hypergrad_lr: f32,
    /// NaN/∞ gradients: error (default), or `Skip`: a zero gradient there, which the moments
    /// still move ([`NonFinite::Skip`]).
    pub non_finite: NonFinite,
}

impl Default for AdamHdConfig {
    fn default() -> Self {
        AdamHdConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            hypergrad_lr: 1e-7,
            non_finite: NonFinite::Error,
        }
    }
}

fn check_lrs(lr: f32, hypergrad_lr: f32) -> Result<(), OptimError> {
    hyper::check_lr(lr)?;
    if !(hypergrad_lr.is_finite() && hypergrad_lr >= 0.0) {
        return Err(OptimError::invalid(
            "hypergrad_lr",
            hypergrad_lr,
            "finite and >= 0",
        ));
    }
    Ok(())
}

impl SgdHdConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), OptimError> {
        check_lrs(self.lr, self.hypergrad_lr)
    }
}

impl AdamHdConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), OptimError> {
        check_lrs(self.lr, self.hypergrad_lr)?;
        crate::methods::adam::AdamConfig {
            lr: self.lr,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            ..Default::default()
        }
        .validate()
    }
}

/// Per-tensor state of the HD optimizers.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HdState {
    /// Steps taken.
    pub step: u64,
    /// The current learning rate α of this tensor.
    pub lr: f32,
    /// SGD-HD: the previous gradient. Adam-HD: the first moment m.
    pub a: Vec<f32>,
    /// Adam-HD: the second moment v (empty for SGD-HD).
    pub b: Vec<f32>,
}

optimizer_struct!(
    /// SGD-HD: α_t = α_{t−1} + β·(g_t · g_{t−1}); w ← w − α_t g_t.
    ///
    /// ```
    /// use lrmem_optimizers::{Optimizer, SgdHd, SgdHdConfig};
    /// let mut opt = SgdHd::new(SgdHdConfig { lr: 0.1, hypergrad_lr: 0.01, ..Default::default() })?;
    /// let mut w = [1.0f32, 1.0];
    /// opt.step("w", &mut w, &[1.0, 1.0])?;
    /// opt.step("w", &mut w, &[1.0, 1.0])?; // g·g_prev = 2: α = 0.1 + 0.01·2
    /// assert!((w[0] - (1.0 - 0.1 - 0.12)).abs() < 1e-6);
    /// # Ok::<(), lrmem_optimizers::OptimError>(())
    /// ```
    SgdHd, SgdHdConfig, HdState);

state_fields!(HdState { step, lr, a, b });

optimizer_struct!(
    /// Adam-HD: α_t = α_{t−1} + β·(g_t · u_{t−1}) with u_{t−1} the previous Adam direction
    /// (bias-corrected), then an Adam step with α_t (Baydin et al.'s `AdamHD`).
    ///
    /// ```
    /// use lrmem_optimizers::{AdamHd, AdamHdConfig, Optimizer};
    /// let mut opt = AdamHd::new(AdamHdConfig { lr: 0.1, ..Default::default() })?;
    /// let mut w = [1.0f32];
    /// opt.step("w", &mut w, &[5.0])?;
    /// assert!((w[0] - 0.9).abs() < 1e-5);
    /// # Ok::<(), lrmem_optimizers::OptimError>(())
    /// ```
    AdamHd, AdamHdConfig, HdState);

/// How α, learned from α₀, follows a new α₀ (`lr`) at the next step: multiplied by new/old
/// (shifted by the new value when the old one was 0), so that a schedule on `lr` scales the
/// steps as it scales SGD's while keeping the adaptation hypergradient descent learned.
/// Overwriting α instead would undo that adaptation at every step of a schedule. Tensors that
/// have not stepped yet start from the new value. The result saturates at ±10⁶ as every update
/// of α does ([`bounded`]): α₀ = 10⁻⁴⁵ and then `lr` = 10⁶ is a ratio of 10⁵¹ (docs/guide.md
/// §11).
fn follow_lr(old: f32, new: f32, state: &mut HdState) {
    if old != new {
        state.lr = bounded(hyper::rescale(state.lr, old, new));
    }
}

impl Hyper for SgdHdConfig {
    const FIELDS: &'static [(&'static str, &'static str)] = &[("hypergrad_lr", "beta")];

    crate::optimizer::macros::hyper_fields!(lr, "beta" => hypergrad_lr);
}

impl Hyper for AdamHdConfig {
    const FIELDS: &'static [(&'static str, &'static str)] = &[("hypergrad_lr", "beta")];

    crate::optimizer::macros::hyper_fields!(lr, "beta" => hypergrad_lr, beta1, beta2, eps);
}

/// The learned rate α after an update, within ±[`MAX_RATE`](lrmem_memory_core::MAX_RATE): the
/// hypergradient has no bound of its own (large gradients drove α, and the parameters with it, to
/// ±∞ with `Ok`), and no useful rate lies beyond it.
fn bounded(lr: f32) -> f32 {
    let max = lrmem_memory_core::MAX_RATE;
    lr.clamp(-max, max)
}

impl StateRules<HdState> for SgdHdConfig {
    /// α₀ and the previous gradient.
    fn fresh(&self, len: usize) -> HdState {
        HdState {
            step: 0,
            lr: self.lr,
            a: vec![0.0; len],
            b: Vec::new(),
        }
    }

    fn problem(&self, state: &HdState) -> Option<String> {
        rate_out_of_bounds(state.lr)
    }

    const FOLLOWS: bool = true;

    fn follow(&self, new: &Self, state: &mut HdState) {
        follow_lr(self.lr, new.lr, state);
    }
}

/// A learned rate α beyond the ±10⁶ that the update keeps it within.
fn rate_out_of_bounds(lr: f32) -> Option<String> {
    (bounded(lr) != lr).then(|| format!("has a learned rate α = {lr}, beyond ±1e6"))
}

impl StateRules<HdState> for AdamHdConfig {
    /// α₀ and Adam's moments.
    fn fresh(&self, len: usize) -> HdState {
        HdState {
            step: 0,
            lr: self.lr,
            a: vec![0.0; len],
            b: vec![0.0; len],
        }
    }

    fn problem(&self, state: &HdState) -> Option<String> {
        rate_out_of_bounds(state.lr).or_else(|| negative("v", &state.b))
    }

    const FOLLOWS: bool = true;

    fn follow(&self, new: &Self, state: &mut HdState) {
        follow_lr(self.lr, new.lr, state);
    }
}

/// What SGD-HD and Adam-HD differ in, around the one step and the one direction under `Meta`
/// that `hd_optimizer!` writes for both: how α learns from a step's gradients, the step size it
/// gives, and the direction of every coordinate.
trait Hypergradient: StateRules<HdState> {
    /// Counts the step, and from the second step on moves α along its hypergradient: the one
    /// update of the rate, with `Meta` or without.
    fn learn_rate(&self, st: &mut HdState, grads: &[f32]);

    /// The step size of the tensor's current step.
    fn step_size(&self, st: &HdState) -> f32;

    /// The direction of every coordinate, in order. Each gradient enters the state as its
    /// coordinate's direction is computed: run the iterator to its end.
    fn directions(&self, st: &mut HdState, grads: &[f32]) -> impl Iterator<Item = f32>;
}

/// The direction of SGD-HD is the gradient, kept as the previous one (in `a`) for the next
/// hypergradient.
impl Hypergradient for SgdHdConfig {
    /// The hypergradient is g_t · g_{t−1}.
    fn learn_rate(&self, st: &mut HdState, grads: &[f32]) {
        st.step = st.step.saturating_add(1);
        if st.step > 1 {
            let h: f64 = grads
                .iter()
                .zip(&st.a)
                .map(|(&g, &p)| g as f64 * p as f64)
                .sum();
            st.lr = bounded(st.lr + (self.hypergrad_lr as f64 * h) as f32);
        }
    }

    /// α_t.
    fn step_size(&self, st: &HdState) -> f32 {
        st.lr
    }

    fn directions(&self, st: &mut HdState, grads: &[f32]) -> impl Iterator<Item = f32> {
        grads.iter().zip(st.a.iter_mut()).map(|(&g, prev)| {
            *prev = g;
            g
        })
    }
}

/// The direction of Adam-HD is Adam's, m/(√v + ε), from the moments in `a` and `b`.
impl Hypergradient for AdamHdConfig {
    /// The hypergradient is g_t · u_{t−1}, u the previous bias-corrected Adam direction.
    fn learn_rate(&self, st: &mut HdState, grads: &[f32]) {
        st.step = st.step.saturating_add(1);
        if st.step > 1 {
            let (b1, b2) = (self.beta1 as f64, self.beta2 as f64);
            let t = (st.step - 1) as f64;
            let corr = (1.0 - libm::pow(b2, t)).sqrt() / (1.0 - libm::pow(b1, t));
            let h: f64 = grads
                .iter()
                .zip(st.a.iter().zip(&st.b))
                .map(|(&g, (&m, &v))| g as f64 * direction(m / (v.sqrt() + self.eps)) as f64)
                .sum();
            st.lr = bounded(st.lr + (self.hypergrad_lr as f64 * h * corr) as f32);
        }
    }

    /// Adam's bias-corrected step size at the tensor's step t: α_t·√(1 − β₂ᵗ)/(1 − β₁ᵗ).
    fn step_size(&self, st: &HdState) -> f32 {
        let (b1, b2, t) = (self.beta1 as f64, self.beta2 as f64, st.step as f64);
        (st.lr as f64 * (1.0 - libm::pow(b2, t)).sqrt() / (1.0 - libm::pow(b1, t))) as f32
    }

    fn directions(&self, st: &mut HdState, grads: &[f32]) -> impl Iterator<Item = f32> {
        let moments = st.a.iter_mut().zip(st.b.iter_mut());
        grads
            .iter()
            .zip(moments)
            .map(|(&g, (m, v))| self.moments(m, v, g))
    }
}

impl AdamHdConfig {
    /// Takes g into the moments m and v and returns Adam's direction m/(√v + ε).
    #[inline(always)]
    fn moments(&self, m: &mut f32, v: &mut f32, g: f32) -> f32 {
        *m = self.beta1 * *m + (1.0 - self.beta1) * g;
        // Saturates rather than overflowing to ∞, which would freeze the coordinate for good.
        *v = (self.beta2 * *v + (1.0 - self.beta2) * g * g).min(f32::MAX);
        direction(*m / (v.sqrt() + self.eps))
    }
}

/// α_t/α₀, the factor by which a hypergradient rate has moved from where it started (0 for
/// α₀ = 0, which `Meta` never builds: its η₀ is positive).
fn relative(alpha: f32, alpha0: f32) -> f32 {
    if alpha0 > 0.0 {
        // Bounded like α itself: a denormal α₀ would make the ratio ∞.
        bounded(alpha / alpha0)
    } else {
        0.0
    }
}

/// The `Optimizer` and `Base` impls of a hypergradient optimizer, one step and one direction
/// for both: α learns from the step's gradients (`learn_rate`), then every coordinate moves by
/// the step size times its direction, or under `Meta` gives that direction scaled by how far the
/// step size has moved from α₀ (`relative`). The `Base` impl's docs follow the type.
macro_rules! hd_optimizer {
    ($ty:ident, $(#[$base_doc:meta])*) => {
        /// `lr` is α₀: every α already learned follows a new value by the ratio new/old at the
        /// next step, within ±10⁶ (see `follow_lr`). The other keys apply from the next step.
        impl Optimizer for $ty {
            config_hyperparameters!();

            crate::optimizer::macros::tensor_checks!();

            fn step(
                &mut self,
                name: &str,
                params: &mut [f32],
                grads: &[f32],
            ) -> Result<(), OptimError> {
                let cfg = self.config;
                let grads = check_inputs(name, params, grads, cfg.non_finite)?;
                let st = self.tensor_state(name, params)?;
                cfg.learn_rate(st, &grads);
                let step_size = cfg.step_size(st);
                for (w, u) in params.iter_mut().zip(cfg.directions(st, &grads)) {
                    *w -= step_size * u;
                }
                Ok(())
            }
        }

        $(#[$base_doc])*
        impl Base for $ty {
            base_info!($ty);

            fn direction(
                &mut self,
                name: &str,
                params: &[f32],
                grads: &[f32],
                mut buf: DirectionBuf<'_>,
            ) -> Result<Direction, OptimError> {
                let cfg = self.config;
                let st = self.tensor_state(name, params)?;
                cfg.learn_rate(st, grads);
                let scale = relative(cfg.step_size(st), cfg.lr);
                for (u, d) in buf.values().iter_mut().zip(cfg.directions(st, grads)) {
                    *u = scale * d;
                }
                Ok(Direction::Values)
            }
        }
    };
}

hd_optimizer!(
    SgdHd,
    /// Under [`Meta`](crate::Meta), u = (α_t/α₀)·g (docs/algorithm.md §12): α_t follows its
    /// hypergradient exactly as without `Meta` (from the dot product of consecutive gradients),
    /// and scales the memory's rate by how far it has moved from α₀ = `lr`. The query is the
    /// gradient.
);

hd_optimizer!(
    AdamHd,
    /// Under [`Meta`](crate::Meta), u = (α_t/α₀)·√(1 − β₂ᵗ)/(1 − β₁ᵗ)·m_t/(√v_t + ε)
    /// (docs/algorithm.md §12): Adam-HD's own update divided by α₀ = `lr`, with α_t following
    /// its hypergradient as without `Meta`. The query is the gradient.
);
