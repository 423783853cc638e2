//! DoG and L-DoG (Ivgi, Hinder & Carmon, "DoG is SGD's Best Friend: A Parameter-Free Dynamic
//! Step Size Schedule", ICML 2023): SGD whose step size is the distance travelled from the
//! initial point over the root of the summed squared gradient norms, as the reference
//! `dog-optimizer` 1.0.3 (`dog.py`, `averager.py`) computes it, number for number.
//!
//! With x₀ the parameters at the first step and g_t the gradients (plus λx_t with weight decay,
//! which the reference adds to the gradient in place before anything else):
//!
//! - first step: r̄ = r_ε·(1 + ‖x₀‖) and G = ‖g₀‖² + ε (r̄ = 0 with `init_eta`);
//! - later steps: r̄ ← max(r̄, ‖x_t − x₀‖), G ← G + ‖g_t‖²;
//! - η = lr·r̄/√G (`init_eta` instead at the first step, when given);
//! - x ← x − η·g.
//!
//! [`Dog`] takes the norms over the whole model as one long vector (one r̄, G and η);
//! [`LDog`], the layer-wise variant, over each tensor on its own (one r̄, G and η per
//! tensor). Both take the same [`DogConfig`].
//!
//! The paper stresses that DoG needs iterate averaging: with `average` = γ > 0 the optimizer
//! keeps the reference's `PolynomialDecayAverager(gamma)` of the parameters,
//! x̄ ← (1 − w_t)·x̄ + w_t·x with w_t = (1 + γ)/(t + γ), t = 1, 2, … after every step, x̄ starting
//! at the parameters before the first step (the averager deep-copies the model before
//! training). The average is what to evaluate: [`Optimizer::eval_params`].
//!
//! The reference's float32 tensors are f32 here, r̄, G and η included: each tensor's norm and
//! sum of squares is computed in f64 and rounded to f32 (what torch's float32 reductions come
//! closest to), and the model-wide ones are taken over those f32 values, as the reference
//! stacks them. Its Python floats (lr, r_ε, ε, γ and the averaging weights) enter f32
//! operations as f32, as torch casts them. The updates x − η·g, g + λx and the average's
//! x̄·(1 − w) + w·x are rounded once from the exact product, as torch's vectorised `add_(…,
//! alpha=…)` computes them (a fused multiply-add).
//!
//! Quirks of the reference kept here:
//! - weight decay λx is part of the gradient that G sums (the reference adds it to `p.grad`
//!   in place before computing G; here the caller's gradients are not modified);
//! - the first step is one flag for the whole optimizer (`_first_step`): it sets x₀ of every
//!   tensor, r̄ and G, and the `init_eta` override. A tensor first stepped later (which the
//!   reference, built with every parameter, cannot have) starts from its parameters at that
//!   step: under DoG its distance and gradients join the model's r̄ and G from then on;
//!   under L-DoG it starts its own r̄ and G as at a first step (with `init_eta` as its first
//!   step size, as otherwise r̄ = 0 would keep it still forever).
//!
//! Guards the reference does not have, which change nothing in any run it survives:
//! - where G = 0 (every gradient so far exactly zero, or squares below f32's range, possible
//!   only with ε = 0), the reference's `assert G > 0` fails; here η = 0 there, and the step
//!   goes on: the gradient is zero, so the parameters would not move anyway (with weight
//!   decay, G = 0 means g + λx = 0 too);
//! - r̄, G, η, the parameters and their average saturate at `f32::MAX` instead of overflowing
//!   to ∞ (which would turn the parameters into ∞ or NaN, or, for G, freeze them for good);
//! - weight decay that turns a diverged parameter into an unusable gradient (|g + λx| > 10¹⁸)
//!   is refused before anything changes, as SGD and Adam refuse it
//!   ([`OptimError::DecayedGradient`]).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::optimizer::hyper::{self, Hyper};
use crate::optimizer::inputs::check_decay;
use crate::optimizer::macros::optimizer_struct;
use crate::optimizer::model::sat;
use crate::optimizer::model::{check_model, replaced, ModelScalars};
use crate::optimizer::state::TensorStates;
use crate::optimizer::state::{buffer, Field, Fields, StateFields, StateRules};
use crate::optimizer::{OptimError, Optimizer, Tensor};
use lrmem_memory_core::NonFinite;

/// Configuration of [`Dog`] and [`LDog`]: the reference's arguments and defaults
/// (`dog-optimizer` 1.0.3), and the averager's γ.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DogConfig {
    /// A multiplier of the step size (c in the paper); the reference advises against changing
    /// it. Default 1.
    pub lr: f32,
    /// r_ε relative to the parameters' norm: the first step moves about r_ε·(1 + ‖x₀‖). The
    /// paper suggests 1e−6, or 1e−4 for models with batch normalization. Ignored with
    /// `init_eta` (which may then be 0). Default 1e−6.
    pub reps_rel: f32,
    /// Weight decay λ, added to the gradient (λx). Default 0.
    pub weight_decay: f32,
    /// ε added to the sum G of squared gradient norms at the first step. Default 1e−8.
    pub eps: f32,
    /// The first step size η₀ itself, instead of the one r_ε gives. Default `None`.
    pub init_eta: Option<f32>,
    /// γ of the polynomial-decay average of the parameters (the reference's
    /// `PolynomialDecayAverager(gamma)`, whose default is 8), returned by
    /// [`Optimizer::eval_params`]; 0 keeps no average. Default 0, as the reference optimizer
    /// itself does not average.
    pub average: f32,
    /// NaN/∞ gradients: error (default), or `Skip`: a zero gradient there
    /// ([`NonFinite::Skip`]).
    pub non_finite: NonFinite,
}

impl Default for DogConfig {
    fn default() -> Self {
        DogConfig {
            lr: 1.0,
            reps_rel: 1e-6,
            weight_decay: 0.0,
            eps: 1e-8,
            init_eta: None,
            average: 0.0,
            non_finite: NonFinite::Error,
        }
    }
}

impl DogConfig {
    /// Checks every field (the reference's checks, and finite ranges for the rest).
    pub fn validate(&self) -> Result<(), OptimError> {
        let max = lrmem_memory_core::MAX_RATE;
        hyper::check_positive("lr", self.lr)?;
        let reps_ok = match self.init_eta {
            None => self.reps_rel > 0.0 && self.reps_rel <= max,
            Some(_) => (0.0..=max).contains(&self.reps_rel),
        };
        if !reps_ok {
            return Err(OptimError::invalid(
                "reps_rel",
                self.reps_rel,
                "in (0, 1e6] (0 only with init_eta)",
            ));
        }
        hyper::check_nonnegative("weight_decay", self.weight_decay)?;
        hyper::check_nonnegative("eps", self.eps)?;
        if let Some(eta) = self.init_eta {
            hyper::check_positive("init_eta", eta)?;
        }
        if !(0.0..=max).contains(&self.average) {
            return Err(OptimError::invalid(
                "average",
                self.average,
                "in [0, 1e6] (0: no average)",
            ));
        }
        Ok(())
    }
}

/// r̄ and G of one block: the whole model for [`Dog`], one tensor for [`LDog`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DogBlock {
    /// r̄, the largest distance from x₀ so far (r_ε·(1 + ‖x₀‖) at the first step).
    pub rbar: f32,
    /// G, the sum of squared gradient norms so far, plus ε.
    pub g_sum: f32,
}

impl DogBlock {
    /// The block at the first step, from the norm of its parameters and the squared norm of
    /// its gradient (the reference's `_first_step` branch; with `init_eta` its r_ε is 0).
    fn first(cfg: &DogConfig, norm_x: f32, sq: f32) -> DogBlock {
        let rbar = if cfg.init_eta.is_some() {
            0.0
        } else {
            (cfg.reps_rel * (1.0 + norm_x)).min(f32::MAX)
        };
        DogBlock {
            rbar,
            g_sum: (sq + cfg.eps).min(f32::MAX),
        }
    }

    /// The block after a later step: r̄ ← max(r̄, ‖x − x₀‖), G ← G + ‖g‖².
    fn next(self, dist: f32, sq: f32) -> DogBlock {
        DogBlock {
            rbar: self.rbar.max(dist),
            g_sum: (self.g_sum + sq).min(f32::MAX),
        }
    }

    /// η = lr·r̄/√G in f32 as the reference computes it; 0 where G = 0 (see the module docs).
    fn eta(&self, lr: f32) -> f32 {
        let root = self.g_sum.sqrt();
        if root == 0.0 {
            0.0
        } else {
            ((lr * self.rbar).min(f32::MAX) / root).min(f32::MAX)
        }
    }

    /// The fields of a [`StateView`](crate::StateView).
    fn fields(&self) -> [(&'static str, Field<'static>); 2] {
        [
            ("rbar", Field::Scalar(self.rbar)),
            ("g_sum", Field::Scalar(self.g_sum)),
        ]
    }

    /// Why loaded values cannot be a block's (each must be ≥ 0).
    fn problem(&self) -> Option<String> {
        (!(self.rbar >= 0.0 && self.g_sum >= 0.0)).then(|| {
            format!(
                "has rbar = {} and g_sum = {} (both must be >= 0)",
                self.rbar, self.g_sum
            )
        })
    }
}

/// Per-tensor state of DoG and L-DoG.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DogState {
    /// The parameters at the tensor's first step, x₀.
    pub p0: Vec<f32>,
    /// The polynomial-decay average of the parameters (empty with `average` = 0).
    pub avg: Vec<f32>,
    /// L-DoG: the tensor's r̄ and G (`None` before its first step, and always under DoG).
    pub block: Option<DogBlock>,
}

/// The model-wide scalars of DoG and L-DoG.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DogScalars {
    /// Steps of the model so far (the averager's t is one more).
    pub k: u64,
    /// DoG: the model's r̄ and G (`None` before the first step, and always under L-DoG).
    pub block: Option<DogBlock>,
}

impl ModelScalars for DogScalars {
    fn fields(&self) -> Vec<(&'static str, Field<'static>)> {
        let mut out = vec![("k", Field::Count(self.k))];
        out.extend(self.block.iter().flat_map(DogBlock::fields));
        out
    }

    fn problem(&self) -> Option<String> {
        self.block.as_ref().and_then(DogBlock::problem)
    }
}

optimizer_struct!(
    /// DoG over a whole model (see the [module docs](crate::dog) for the update): SGD with
    /// no learning rate to tune, its step size the distance travelled over the root of the
    /// summed squared gradient norms, all taken over the model as one vector. Step it with
    /// [`step_model`](Optimizer::step_model) and every tensor of the model; with `average` > 0,
    /// evaluate at [`eval_params`](Optimizer::eval_params).
    ///
    /// ```
    /// use lrmem_optimizers::{Dog, DogConfig, Optimizer, Tensor};
    /// let mut opt = Dog::new(DogConfig { average: 8.0, ..DogConfig::default() })?;
    /// let (mut w, mut b) = (vec![1.0f32, -2.0], vec![0.5f32]);
    /// for _ in 0..100 {
    ///     let (gw, gb): (Vec<f32>, Vec<f32>) = (w.clone(), b.clone()); // ½‖x‖²
    ///     opt.step_model(&mut [Tensor::new("w", &mut w, &gw), Tensor::new("b", &mut b, &gb)])?;
    /// }
    /// assert!(w.iter().chain(&b).all(|x| x.abs() < 0.5));
    /// let averaged = opt.eval_params("w").unwrap(); // where to evaluate the model
    /// assert!(averaged.iter().all(|x| x.abs() < 0.5));
    /// # Ok::<(), lrmem_optimizers::OptimError>(())
    /// ```
    Dog, DogConfig, DogState, DogScalars);

optimizer_struct!(
    /// L-DoG, the layer-wise DoG (see the [module docs](crate::dog)): the same step with r̄,
    /// G and η of each tensor on its own. Takes a [`DogConfig`]; step it with
    /// [`step_model`](Optimizer::step_model) (only the averager's step count is model-wide).
    ///
    /// ```
    /// use lrmem_optimizers::{DogConfig, LDog, Optimizer, Tensor};
    /// let mut opt = LDog::new(DogConfig::default())?;
    /// let (mut w, mut b) = (vec![1.0f32, -2.0], vec![0.5f32]);
    /// for _ in 0..100 {
    ///     let (gw, gb): (Vec<f32>, Vec<f32>) = (w.clone(), b.clone()); // ½‖x‖²
    ///     opt.step_model(&mut [Tensor::new("w", &mut w, &gw), Tensor::new("b", &mut b, &gb)])?;
    /// }
    /// assert!(w.iter().chain(&b).all(|x| x.abs() < 0.5));
    /// # Ok::<(), lrmem_optimizers::OptimError>(())
    /// ```
    LDog, DogConfig, DogState, DogScalars);

/// `x` as f32, saturated at `f32::MAX` (a norm computed in f64).
#[inline(always)]
fn coef(x: f64) -> f32 {
    x.min(f32::MAX as f64) as f32
}

/// x + a·b rounded to f32 from the exact product, as torch's vectorised `add_(b, alpha=a)`
/// computes it with a fused multiply-add (the product of two f32 values is exact in f64; the
/// sum is rounded to f64 first, which differs from one rounding only in rare ties).
#[inline(always)]
fn fused(x: f32, a: f32, b: f32) -> f32 {
    (x as f64 + a as f64 * b as f64) as f32
}

/// √(Σ x²) in f64, rounded to f32: torch's float32 `norm` (the squares of the f32 values of
/// `xs`).
fn norm(xs: impl Iterator<Item = f64>) -> f32 {
    coef(xs.map(|x| x * x).sum::<f64>().sqrt())
}

/// The gradients to step with: g + λx, as the reference's `p.grad.add_(p, alpha=weight_decay)`,
/// or without weight decay the ones [`check_model`] replaced ([`replaced`]); `None`: the
/// caller's gradients as they are. Owned, so that the tensors can be stepped while they are
/// read.
fn decayed(
    tensors: &[Tensor<'_>],
    grads: Vec<Cow<'_, [f32]>>,
    decay: f32,
) -> Vec<Option<Vec<f32>>> {
    if decay == 0.0 {
        return replaced(grads);
    }
    let mut owned = Vec::with_capacity(tensors.len());
    for (t, g) in tensors.iter().zip(&grads) {
        let pairs = g.iter().zip(t.params.iter());
        owned.push(Some(pairs.map(|(&g, &w)| fused(g, decay, w)).collect()));
    }
    owned
}

/// One step of DoG (`layerwise` false) or L-DoG over the tensors of a model.
fn step(
    cfg: &DogConfig,
    states: &mut TensorStates<DogState>,
    global: &mut DogScalars,
    tensors: &mut [Tensor<'_>],
    layerwise: bool,
) -> Result<(), OptimError> {
    let grads = check_model(states, tensors, cfg.non_finite)?;
    let decay = cfg.weight_decay;
    for (t, g) in tensors.iter().zip(&grads) {
        check_decay(t.name, t.params, Some(g), decay)?;
    }
    if tensors.is_empty() {
        // No model to step: nothing changes, the first step is still to come.
        return Ok(());
    }
    let owned = decayed(tensors, grads, decay);
    // Per tensor, as the reference's float32 reductions: ‖x‖ at the block's first step, else
    // ‖x − x₀‖, and ‖g‖².
    let model_first = global.block.is_none();
    let mut etas = Vec::with_capacity(tensors.len());
    let (mut dist2, mut sq_model) = (0.0f64, 0.0f64);
    for (t, g) in tensors.iter().zip(&owned) {
        let g = g.as_deref().unwrap_or(t.grads);
        let st = states.get_or_start(t.name, t.params, cfg)?;
        let first = if layerwise {
            st.block.is_none()
        } else {
            model_first
        };
        let dist = if first {
            norm(t.params.iter().map(|&w| w as f64))
        } else {
            norm(
                t.params
                    .iter()
                    .zip(&st.p0)
                    .map(|(&w, &p0)| w as f64 - p0 as f64),
            )
        };
        let sq = coef(g.iter().map(|&g| g as f64 * g as f64).sum());
        if layerwise {
            let block = match st.block {
                None => DogBlock::first(cfg, dist, sq),
                Some(b) => b.next(dist, sq),
            };
            st.block = Some(block);
            etas.push(match cfg.init_eta {
                Some(eta) if first => eta,
                _ => block.eta(cfg.lr),
            });
        } else {
            dist2 += dist as f64 * dist as f64;
            sq_model += sq as f64;
        }
    }
    if !layerwise {
        // The model as one long vector: the norm of the tensors' norms, the sum of their sums.
        let (dist, sq) = (coef(dist2.sqrt()), coef(sq_model));
        let block = match global.block {
            None => DogBlock::first(cfg, dist, sq),
            Some(b) => b.next(dist, sq),
        };
        global.block = Some(block);
        let eta = match cfg.init_eta {
            Some(eta) if model_first => eta,
            _ => block.eta(cfg.lr),
        };
        etas.resize(tensors.len(), eta);
    }
    // The averager's weight w_t = (γ + 1)/(γ + t), t = k + 1; its f32 factors as torch casts them.
    let (t_avg, gamma) = (global.k as f64 + 1.0, cfg.average as f64);
    let w = (gamma + 1.0) / (gamma + t_avg);
    let (keep, take) = ((1.0 - w) as f32, w as f32);
    for ((t, g), &eta) in tensors.iter_mut().zip(&owned).zip(&etas) {
        let g = g.as_deref().unwrap_or(t.grads);
        for (x, &g) in t.params.iter_mut().zip(g) {
            *x = sat(fused(*x, -eta, g));
        }
        if cfg.average > 0.0 {
            let st = states.get_mut(t.name).expect("made above");
            for (a, &x) in st.avg.iter_mut().zip(t.params.iter()) {
                *a = sat(fused(*a * keep, take, x));
            }
        }
    }
    global.k = global.k.saturating_add(1);
    Ok(())
}

/// The [`Optimizer`] impl of [`Dog`] (`layerwise` false) or [`LDog`].
macro_rules! dog_optimizer {
    ($ty:ident, $layerwise:literal, $what:literal) => {
        impl Optimizer for $ty {
            crate::optimizer::macros::one_tensor_model!(weight_decay);

            #[doc = concat!("One ", $what, " step of the whole model.")]
            fn step_model(&mut self, tensors: &mut [Tensor<'_>]) -> Result<(), OptimError> {
                step(
                    &self.config,
                    &mut self.states,
                    &mut self.global,
                    tensors,
                    $layerwise,
                )
            }

            /// Forgets every tensor's state, r̄, G and the average ([`reset`](Self::reset)).
            fn next_task(&mut self) {
                self.reset();
            }

            /// The polynomial-decay average of tensor `name` with `average` > 0, once it has
            /// stepped: the reference's averaged model, where to evaluate.
            fn eval_params(&self, name: &str) -> Option<&[f32]> {
                if self.config.average > 0.0 {
                    self.states.get(name).map(|s| &s.avg[..])
                } else {
                    None
                }
            }

            /// `lr`, `reps_rel`, `weight_decay`, `eps` and `average` (the registry's keys;
            /// `init_eta` is fixed at construction).
            fn hyperparameters(&self) -> Vec<(String, f32)> {
                hyper::list(&self.config)
            }

            /// Sets a hyperparameter, validated as by the constructor; it applies from the next
            /// step (r̄, G and the average are kept). `reps_rel` and `eps` enter only at a first
            /// step; `average` cannot switch between 0 and > 0 while tensors have state.
            fn set_hyperparameter(&mut self, name: &str, value: f32) -> Result<(), OptimError> {
                self.config = hyper::updated(&self.config, name, value, !self.states.is_empty())?;
                Ok(())
            }
        }
    };
}

dog_optimizer!(Dog, false, "DoG");
dog_optimizer!(LDog, true, "L-DoG");

impl Hyper for DogConfig {
    crate::optimizer::macros::hyper_fields!(lr, reps_rel, weight_decay, eps, average);

    /// `average` = 0 keeps no average.
    fn shape_change(&self, other: &Self) -> Option<&'static str> {
        hyper::buffer_switch("average", self.average, other.average)
    }
}

impl StateRules<DogState> for DogConfig {
    fn fresh(&self, len: usize) -> DogState {
        DogState {
            p0: vec![0.0; len],
            avg: buffer(self.average > 0.0, len),
            block: None,
        }
    }

    /// x₀ and the average start at the tensor's parameters.
    fn start(&self, params: &[f32]) -> DogState {
        DogState {
            p0: params.to_vec(),
            avg: if self.average > 0.0 {
                params.to_vec()
            } else {
                Vec::new()
            },
            block: None,
        }
    }

    fn problem(&self, state: &DogState) -> Option<String> {
        state.block.as_ref().and_then(DogBlock::problem)
    }
}

impl StateFields for DogState {
    fn fields<'a>(&'a self, out: &mut Fields<'a>) {
        out.insert("p0".into(), Field::Values(&self.p0));
        out.insert("avg".into(), Field::Values(&self.avg));
        for (k, v) in self.block.iter().flat_map(DogBlock::fields) {
            out.insert(k.into(), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimizer::{Checkpoint, StateBytes};

    fn run(opt: &mut impl Optimizer, w: &mut [f32], b: &mut [f32], g: (&[f32], &[f32])) {
        opt.step_model(&mut [Tensor::new("w", w, g.0), Tensor::new("b", b, g.1)])
            .unwrap();
    }

    /// The first step by hand: r̄ = r_ε(1 + ‖x₀‖), G = ‖g‖² + ε, x ← x − (r̄/√G)·g; over the
    /// model for DoG, per tensor for L-DoG.
    #[test]
    fn first_step_by_hand() {
        let (w0, b0) = (vec![3.0f32, 4.0], vec![0.0f32]);
        let (gw, gb) = ([1.0f32, 2.0], [2.0f32]);
        let mut dog = Dog::new(DogConfig::default()).unwrap();
        let (mut w, mut b) = (w0.clone(), b0.clone());
        run(&mut dog, &mut w, &mut b, (&gw, &gb));
        let eta = 1e-6f32 * 6.0 / (9.0f32 + 1e-8).sqrt();
        assert_eq!(w, [3.0 - eta, 4.0 - 2.0 * eta]);
        assert_eq!(b, [-2.0 * eta]);
        let mut ldog = LDog::new(DogConfig::default()).unwrap();
        let (mut w, mut b) = (w0, b0);
        run(&mut ldog, &mut w, &mut b, (&gw, &gb));
        let (ew, eb) = (1e-6f32 * 6.0 / 5.0f32.sqrt(), 1e-6f32 / 2.0);
        assert_eq!(w, [3.0 - ew, 4.0 - 2.0 * ew]);
        assert_eq!(b, [-2.0 * eb]);
        let view = ldog.state();
        assert_eq!(view.get("b", "rbar"), Some(Field::Scalar(1e-6)), "{view:?}");
    }

    /// ε = 0 and a zero first gradient: the reference's assertion fails; here nothing moves,
    /// and the next gradient steps as if G had started from it.
    #[test]
    fn zero_gradients_with_zero_eps_do_not_move() {
        let cfg = DogConfig {
            eps: 0.0,
            ..DogConfig::default()
        };
        for layerwise in [false, true] {
            let (mut w, mut b) = (vec![1.0f32, -1.0], vec![0.5f32]);
            let mut states = TensorStates::default();
            let mut global = DogScalars::default();
            let mut step2 = |w: &mut Vec<f32>, b: &mut Vec<f32>, gw: &[f32], gb: &[f32]| {
                step(
                    &cfg,
                    &mut states,
                    &mut global,
                    &mut [Tensor::new("w", w, gw), Tensor::new("b", b, gb)],
                    layerwise,
                )
                .unwrap()
            };
            step2(&mut w, &mut b, &[0.0, 0.0], &[0.0]);
            assert_eq!((w.clone(), b.clone()), (vec![1.0, -1.0], vec![0.5]));
            step2(&mut w, &mut b, &[1.0, 0.0], &[0.0]);
            assert!(
                w[0] < 1.0 && w[0] > 0.99 && w[1] == -1.0 && b == [0.5],
                "{w:?}"
            );
        }
    }

    /// With `init_eta` the first step is η₀·g; r̄ starts at 0 and is the distance afterwards.
    #[test]
    fn init_eta_sets_the_first_step() {
        let cfg = DogConfig {
            init_eta: Some(0.25),
            ..DogConfig::default()
        };
        for mut opt in [
            Box::new(Dog::new(cfg).unwrap()) as Box<dyn Optimizer>,
            Box::new(LDog::new(cfg).unwrap()),
        ] {
            let (mut w, mut b) = (vec![1.0f32], vec![2.0f32]);
            run(&mut opt, &mut w, &mut b, (&[1.0], &[-2.0]));
            assert_eq!((w, b), (vec![0.75], vec![2.5]));
        }
    }

    /// The average starts at x₀, is x₁ after the first step (w₁ = 1), then
    /// (1 − w_t)·x̄ + w_t·x; `average` cannot be switched on or off while tensors have state.
    #[test]
    fn polynomial_average() {
        let cfg = DogConfig {
            average: 8.0,
            init_eta: Some(0.5),
            ..DogConfig::default()
        };
        let mut opt = Dog::new(cfg).unwrap();
        let (mut w, mut b) = (vec![1.0f32], vec![1.0f32]);
        assert_eq!(opt.eval_params("w"), None);
        run(&mut opt, &mut w, &mut b, (&[1.0], &[1.0]));
        assert_eq!(opt.eval_params("w"), Some(&[0.5f32][..]));
        let first = w[0];
        run(&mut opt, &mut w, &mut b, (&[1.0], &[1.0]));
        let want = first * (1.0 - 0.9f64) as f32 + 0.9f64 as f32 * w[0];
        assert_eq!(opt.eval_params("w"), Some(&[want][..]));
        assert!(opt.set_hyperparameter("average", 0.0).is_err());
        opt.set_hyperparameter("average", 4.0).unwrap();
        let plain = Dog::new(DogConfig::default()).unwrap();
        assert_eq!(plain.eval_params("w"), None);
        assert_eq!(plain.bytes_per_coordinate(), 4);
        assert_eq!(opt.bytes_per_coordinate(), 8);
    }

    /// Hostile settings and gradients keep everything finite: r̄ and η saturate, parameters
    /// and their average saturate, G saturates.
    #[test]
    fn saturates_instead_of_overflowing() {
        let cfg = DogConfig {
            lr: 1e6,
            reps_rel: 1e6,
            eps: 0.0,
            average: 1.0,
            ..DogConfig::default()
        };
        for layerwise in [false, true] {
            let mut states = TensorStates::default();
            let mut global = DogScalars::default();
            let mut w = vec![1e30f32, -1e30, 0.0];
            for g in [
                [1e-30f32, -1e18, 1e-45],
                [1e18, 1e18, 1e18],
                [1e-45, 0.0, 1.0],
            ] {
                step(
                    &cfg,
                    &mut states,
                    &mut global,
                    &mut [Tensor::new("w", &mut w, &g)],
                    layerwise,
                )
                .unwrap();
                let st = states.get("w").unwrap();
                assert!(w.iter().chain(&st.avg).all(|x| x.is_finite()), "{w:?}");
            }
        }
    }

    /// Loaded blocks are checked; a checkpoint of DoG does not load into L-DoG.
    #[test]
    fn checkpoints_are_checked() {
        let mut opt = LDog::new(DogConfig::default()).unwrap();
        let (mut w, mut b) = (vec![1.0f32], vec![1.0f32]);
        run(&mut opt, &mut w, &mut b, (&[1.0], &[1.0]));
        let mut bad = opt.clone();
        bad.states.get_mut("w").unwrap().block = Some(DogBlock {
            rbar: -1.0,
            g_sum: 1.0,
        });
        let err = opt.load(&bad.save().unwrap()).unwrap_err();
        assert!(matches!(err, OptimError::Corrupt { .. }), "{err}");
        let mut dog = Dog::new(DogConfig::default()).unwrap();
        run(&mut dog, &mut w, &mut b, (&[1.0], &[1.0]));
        let mut bad = dog.clone();
        bad.global.block = Some(DogBlock {
            rbar: 1.0,
            g_sum: -1.0,
        });
        assert!(dog.load(&bad.save().unwrap()).is_err());
        let err = opt.load(&dog.save().unwrap()).unwrap_err();
        assert!(matches!(err, OptimError::Incompatible { .. }), "{err}");
    }
}
