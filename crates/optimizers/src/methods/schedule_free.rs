//! Schedule-Free SGD and AdamW (Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky, "The Road
//! Less Scheduled", NeurIPS 2024): no learning-rate schedule, and no stopping time to know in
//! advance; an online average of the iterates takes the schedule's place. As the reference
//! versions of `schedulefree` 1.4.1 (`sgd_schedulefree_reference.py`,
//! `adamw_schedulefree_reference.py`) compute it, number for number.
//!
//! Three sequences per coordinate: z, the base optimizer's iterate; x, the weighted average of
//! the z's, **the point to evaluate**; and y = βx + (1−β)z, **the point gradients are taken at**
//! (the parameters). With k the model step (from 0) and g the gradients at y:
//!
//! - warmup: lr_k = lr·(k+1)/warmup_steps while k < warmup_steps, else lr;
//! - weights: lr_max = max(lr_max, lr_k), w_k = (k+1)^r · lr_max^weight_lr_power,
//!   W_k = W_{k−1} + w_k, c = w_k/W_k (0 while W_k = 0: the reference's `ZeroDivisionError`
//!   branch, when lr = 0 or lr_max^p underflows; x does not move then);
//! - SGD: z ← z − lr_k·(g + λy);
//! - AdamW: z ← z − lr_k·λ·y (λ·z with `decay_at_z`), v ← β₂v + (1−β₂)g²,
//!   z ← z − lr_k·g/(√(v/(1−β₂^{k+1})) + ε);
//! - then x ← (1−c)·x + c·z and y ← βx + (1−β)z (β = `momentum`, or β₁ for AdamW).
//!
//! On a tensor's first step z = x = y = its parameters. k, W and lr_max are model-wide (the
//! reference's parameter-group entries, Python floats there, f64 here); the tensors are f32, in
//! the reference's order of operations, with its scalar coefficients rounded to f32 as torch
//! rounds them.
//!
//! # Where to evaluate
//!
//! The reference switches its parameters between y and x (`optimizer.train()` /
//! `optimizer.eval()`, and refuses to step in eval mode). Here the parameters are always the
//! training point y, and [`Optimizer::eval_params`] gives x for every tensor that has stepped:
//! copy it into the model to evaluate (or to save the model you deploy), then copy the
//! parameters back before the next step.
//!
//! ```
//! use lrmem_optimizers::{Optimizer, ScheduleFreeSgd, ScheduleFreeSgdConfig, Tensor};
//! let mut opt = ScheduleFreeSgd::new(ScheduleFreeSgdConfig { lr: 0.5, ..Default::default() })?;
//! let loss = |w: &[f32]| w.iter().map(|x| 0.5 * x * x).sum::<f32>(); // ½‖w‖²
//! let mut w = vec![1.0f32, -2.0];
//! for _ in 0..100 {
//!     let g = w.clone(); // the gradient at y, the parameters
//!     opt.step_model(&mut [Tensor::new("w", &mut w, &g)])?;
//! }
//! // Evaluate at x: swap it in, evaluate, and put the training point y back.
//! let y = w.clone();
//! w.copy_from_slice(opt.eval_params("w").expect("`w` has stepped"));
//! let at_x = loss(&w);
//! w.copy_from_slice(&y);
//! assert!(at_x < 1e-2 * loss(&[1.0, -2.0]));
//! assert_eq!(opt.eval_params("bias"), None); // a tensor that never stepped has no x
//! # Ok::<(), lrmem_optimizers::OptimError>(())
//! ```
//!
//! # State
//!
//! Per coordinate z and x (8 bytes), and v for AdamW (12 bytes); the reference also stores y
//! (12 and 16 bytes). y need not be stored: the reference copies it into the parameters after
//! every step, so the parameters are y, and a step computes the new y from x and z alone. The
//! one place the reference reads its stored y is weight decay (λy); here that is the
//! parameters as passed, the same numbers unless the caller changed them between steps (then
//! the reference decays its own copy, and this decays what the caller wrote).
//!
//! # Quirks of the reference
//!
//! Reproduced:
//! - AdamW's `lr = max(group['lr'], eps)` is overwritten before use: a learning rate below ε
//!   is used as it is.
//! - lr_max starts at −1 and keeps the largest scheduled rate: lowering `lr` between steps
//!   ([`Optimizer::set_hyperparameter`]) shortens the steps of z but not the weights of the
//!   average, which use lr_max.
//! - A weight sum of 0 gives c = 0 (the `ZeroDivisionError` branch above).
//!
//! Not reproduced: SGD's coupled weight decay is added into the caller's gradient tensor in
//! place there (`grad.add_`); here the caller's gradients are not changed.
//!
//! # Ranges and guards
//!
//! The configs take the reference's ranges where it checks them (lr ≥ 0, SGD's momentum in
//! (0, 1)) and finite ones elsewhere: rates in [0, 10⁶] with lr·λ ≤ 1, β's in [0, 1), and r
//! and weight_lr_power in [0, 10] (the reference takes any float): with lr ≤ 10⁶ the weights
//! and their sum then stay finite in f64 for any number of steps, where the reference's x
//! would become NaN (∞/∞).
//!
//! Guards the reference does not have, which change nothing in any run it survives: z, x, v
//! and the parameters saturate at ±`f32::MAX` instead of overflowing, and coupled decay that
//! would overflow a diverged parameter (|g + λy| > 10¹⁸) is refused, as by
//! [`Sgd`](crate::Sgd). So hostile gradients and configs never turn state into ∞ or NaN.

use serde::{Deserialize, Serialize};

use crate::optimizer::hyper::{self, Hyper};
use crate::optimizer::inputs::check_decay;
use crate::optimizer::macros::optimizer_struct;
use crate::optimizer::model::{check_model, replaced, ModelScalars};
use crate::optimizer::model::{coef, sat};
use crate::optimizer::state::{negative, Field, StateRules};
use crate::optimizer::{OptimError, Optimizer, Tensor};
use lrmem_memory_core::NonFinite;

/// The largest r and weight_lr_power: weights (k+1)^r·lr_max^p stay below 10²⁵³ for any step
/// count k < 2⁶⁴ and lr ≤ 10⁶, and so does their sum below 10²⁷³: finite in f64.
const MAX_POWER: f32 = 10.0;

/// Checks the settings both optimizers share (the learning rate, its warmup and the weights
/// of the average, the weight decay).
fn check_shared(
    lr: f32,
    weight_decay: f32,
    r: f32,
    weight_lr_power: f32,
) -> Result<(), OptimError> {
    hyper::check_lr(lr)?;
    hyper::check_weight_decay(lr, weight_decay)?;
    if !(0.0..=MAX_POWER).contains(&r) {
        return Err(OptimError::invalid("r", r, "in [0, 10]"));
    }
    if !(0.0..=MAX_POWER).contains(&weight_lr_power) {
        return Err(OptimError::invalid(
            "weight_lr_power",
            weight_lr_power,
            "in [0, 10]",
        ));
    }
    Ok(())
}

/// Configuration of [`ScheduleFreeSgd`]: the reference's arguments and defaults
/// (`SGDScheduleFreeReference`, `schedulefree` 1.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScheduleFreeSgdConfig {
    /// Learning rate of z, in [0, 10⁶]. Default 1.
    pub lr: f32,
    /// β of the training point y = βx + (1−β)z, in (0, 1) as the reference requires (its
    /// "momentum"). Default 0.9.
    pub momentum: f32,
    /// Weight decay λ, added to the gradient as λy (an L2 penalty), in [0, 10⁶] with
    /// lr·λ ≤ 1. Default 0.
    pub weight_decay: f32,
    /// Steps of linear warmup of the learning rate ((k+1)/warmup_steps of lr at step k).
    /// Default 0 (none).
    pub warmup_steps: u64,
    /// Power r of the polynomial weights (k+1)^r of the average, in [0, 10]. Default 0.
    pub r: f32,
    /// Power of lr_max in the weights of the average, in [0, 10] (0: no weighting by the
    /// learning rate during warmup). Default 2.
    pub weight_lr_power: f32,
    /// NaN/∞ gradients: error (default), or `Skip`: a zero gradient there
    /// ([`NonFinite::Skip`]; the average still moves the coordinate).
    pub non_finite: NonFinite,
}

impl Default for ScheduleFreeSgdConfig {
    fn default() -> Self {
        ScheduleFreeSgdConfig {
            lr: 1.0,
            momentum: 0.9,
            weight_decay: 0.0,
            warmup_steps: 0,
            r: 0.0,
            weight_lr_power: 2.0,
            non_finite: NonFinite::Error,
        }
    }
}

impl ScheduleFreeSgdConfig {
    /// Checks every field (the reference's checks, and finite ranges for the rest).
    pub fn validate(&self) -> Result<(), OptimError> {
        if !(self.momentum > 0.0 && self.momentum < 1.0) {
            return Err(OptimError::invalid("momentum", self.momentum, "in (0, 1)"));
        }
        check_shared(self.lr, self.weight_decay, self.r, self.weight_lr_power)
    }
}

/// Configuration of [`ScheduleFreeAdamW`]: the reference's arguments and defaults
/// (`AdamWScheduleFreeReference`, `schedulefree` 1.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScheduleFreeAdamWConfig {
    /// Learning rate of z, in [0, 10⁶]. Default 0.0025.
    pub lr: f32,
    /// β of the training point y = βx + (1−β)z, in [0, 1) (the reference's β₁). Default 0.9.
    pub beta1: f32,
    /// β₂ of the second moment, in [0, 1). Default 0.999.
    pub beta2: f32,
    /// ε added to the bias-corrected √v, finite and > 0. Default 1e−8.
    pub eps: f32,
    /// Decoupled weight decay λ (z ← z − lr·λ·y), in [0, 10⁶] with lr·λ ≤ 1. Default 0.
    pub weight_decay: f32,
    /// Steps of linear warmup of the learning rate. Default 0 (none).
    pub warmup_steps: u64,
    /// Power r of the polynomial weights (k+1)^r of the average, in [0, 10]. Default 0.
    pub r: f32,
    /// Power of lr_max in the weights of the average, in [0, 10]. Default 2.
    pub weight_lr_power: f32,
    /// Decays z (λz) instead of y. Default false.
    pub decay_at_z: bool,
    /// NaN/∞ gradients: error (default), or `Skip`: a zero gradient there
    /// ([`NonFinite::Skip`]; the average still moves the coordinate).
    pub non_finite: NonFinite,
}

impl Default for ScheduleFreeAdamWConfig {
    fn default() -> Self {
        ScheduleFreeAdamWConfig {
            lr: 0.0025,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            warmup_steps: 0,
            r: 0.0,
            weight_lr_power: 2.0,
            decay_at_z: false,
            non_finite: NonFinite::Error,
        }
    }
}

impl ScheduleFreeAdamWConfig {
    /// Checks every field (the reference checks none; these are the finite ranges in which
    /// every step stays finite).
    pub fn validate(&self) -> Result<(), OptimError> {
        crate::optimizer::hyper::check_moments(self.beta1, self.beta2, self.eps)?;
        check_shared(self.lr, self.weight_decay, self.r, self.weight_lr_power)
    }
}

/// Per-tensor state of [`ScheduleFreeSgd`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ScheduleFreeSgdState {
    /// The base sequence z.
    pub z: Vec<f32>,
    /// The average x, the point to evaluate ([`Optimizer::eval_params`]).
    pub x: Vec<f32>,
}

/// Per-tensor state of [`ScheduleFreeAdamW`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ScheduleFreeAdamWState {
    /// The base sequence z.
    pub z: Vec<f32>,
    /// The average x, the point to evaluate ([`Optimizer::eval_params`]).
    pub x: Vec<f32>,
    /// Second moment v.
    pub exp_avg_sq: Vec<f32>,
}

/// The model-wide scalars of both Schedule-Free optimizers (the reference's parameter-group
/// entries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleFreeScalars {
    /// Steps of the model, k.
    pub k: u64,
    /// The sum W of the weights of the average so far.
    pub weight_sum: f64,
    /// The largest scheduled learning rate so far (−1 before the first step, as the
    /// reference's).
    pub lr_max: f64,
}

impl Default for ScheduleFreeScalars {
    fn default() -> Self {
        ScheduleFreeScalars {
            k: 0,
            weight_sum: 0.0,
            lr_max: -1.0,
        }
    }
}

impl ModelScalars for ScheduleFreeScalars {
    fn fields(&self) -> Vec<(&'static str, Field<'static>)> {
        vec![
            ("k", Field::Count(self.k)),
            ("weight_sum", Field::Scalar(coef(self.weight_sum))),
            ("lr_max", Field::Scalar(coef(self.lr_max))),
        ]
    }

    /// W finite and ≥ 0; lr_max −1 (no step yet) or a learning rate in [0, 10⁶], so that the
    /// next weights are finite.
    fn problem(&self) -> Option<String> {
        let sum_ok = self.weight_sum.is_finite() && self.weight_sum >= 0.0;
        let max_ok = self.lr_max == -1.0
            || (0.0..=lrmem_memory_core::MAX_RATE as f64).contains(&self.lr_max);
        (!(sum_ok && max_ok)).then(|| {
            format!(
                "has weight_sum = {}, lr_max = {} (weight_sum must be finite and >= 0, lr_max -1 or in [0, 1e6])",
                self.weight_sum, self.lr_max
            )
        })
    }
}

/// What one model step uses of the model-wide scalars.
#[derive(Debug, Clone, Copy)]
struct Averaging {
    /// The warmed-up learning rate lr_k (a Python float in the reference).
    lr: f64,
    /// The weight c of this step's z in the average x.
    ckp1: f64,
}

impl ScheduleFreeScalars {
    /// Takes step k: the warmup, lr_max, the weight and its share c of the sum, in the
    /// reference's order and f64 arithmetic; k moves on.
    fn advance(&mut self, lr: f32, warmup_steps: u64, r: f32, weight_lr_power: f32) -> Averaging {
        let k = self.k;
        // (k+1)/warmup_steps: exact integers in f64 below 2⁵³, so rounded once as Python's.
        let sched = if k < warmup_steps {
            (k as f64 + 1.0) / warmup_steps as f64
        } else {
            1.0
        };
        let lr = lr as f64 * sched;
        self.lr_max = lr.max(self.lr_max);
        let weight =
            libm::pow(k as f64 + 1.0, r as f64) * libm::pow(self.lr_max, weight_lr_power as f64);
        self.weight_sum += weight;
        // The reference catches ZeroDivisionError: c = 0 while every weight so far is 0.
        let ckp1 = if self.weight_sum == 0.0 {
            0.0
        } else {
            weight / self.weight_sum
        };
        self.k = k.saturating_add(1);
        Averaging { lr, ckp1 }
    }
}

/// x ← (1−c)·x + c·z, then the parameters y ← βx + (1−β)z: torch's
/// `x.mul_(1-ckp1).add_(z, alpha=ckp1)` and `x.mul(beta).add_(z, alpha=1-beta)`, with the
/// coefficients rounded to f32 from the f64 the reference computes them in.
fn average(x: &mut [f32], z: &[f32], params: &mut [f32], ckp1: f64, beta: f32) {
    let (keep, take) = (coef(1.0 - ckp1), coef(ckp1));
    let rest = coef(1.0 - beta as f64);
    for ((x, &z), y) in x.iter_mut().zip(z).zip(params.iter_mut()) {
        *x = sat(*x * keep + take * z);
        *y = sat(*x * beta + rest * z);
    }
}

optimizer_struct!(
    /// Schedule-Free SGD over a whole model (see the [module docs](crate::schedule_free)):
    /// train at the parameters y, evaluate at x ([`Optimizer::eval_params`]); no schedule.
    /// Step it with [`step_model`](Optimizer::step_model) and every tensor of the model.
    ///
    /// ```
    /// use lrmem_optimizers::{Optimizer, ScheduleFreeSgd, ScheduleFreeSgdConfig, Tensor};
    /// let mut opt = ScheduleFreeSgd::new(ScheduleFreeSgdConfig { lr: 0.5, ..Default::default() })?;
    /// let (mut w, mut b) = (vec![1.0f32, -2.0], vec![0.5f32]);
    /// for _ in 0..100 {
    ///     let (gw, gb): (Vec<f32>, Vec<f32>) = (w.clone(), b.clone()); // ½‖w‖² + ½b²
    ///     opt.step_model(&mut [Tensor::new("w", &mut w, &gw), Tensor::new("b", &mut b, &gb)])?;
    /// }
    /// let x = opt.eval_params("w").unwrap();
    /// assert!(x.iter().chain(&w).all(|v| v.abs() < 0.1));
    /// # Ok::<(), lrmem_optimizers::OptimError>(())
    /// ```
    ScheduleFreeSgd, ScheduleFreeSgdConfig, ScheduleFreeSgdState, ScheduleFreeScalars);

optimizer_struct!(
    /// Schedule-Free AdamW over a whole model (see the [module docs](crate::schedule_free)):
    /// train at the parameters y, evaluate at x ([`Optimizer::eval_params`]); no schedule.
    /// Step it with [`step_model`](Optimizer::step_model) and every tensor of the model.
    ///
    /// ```
    /// use lrmem_optimizers::{Optimizer, ScheduleFreeAdamW, ScheduleFreeAdamWConfig, Tensor};
    /// let config = ScheduleFreeAdamWConfig { lr: 0.05, ..Default::default() };
    /// let mut opt = ScheduleFreeAdamW::new(config)?;
    /// let mut w = vec![1.0f32, -2.0];
    /// for _ in 0..300 {
    ///     let g = w.clone(); // ½‖w‖²
    ///     opt.step_model(&mut [Tensor::new("w", &mut w, &g)])?;
    /// }
    /// assert!(opt.eval_params("w").unwrap().iter().all(|v| v.abs() < 0.2));
    /// # Ok::<(), lrmem_optimizers::OptimError>(())
    /// ```
    ScheduleFreeAdamW, ScheduleFreeAdamWConfig, ScheduleFreeAdamWState, ScheduleFreeScalars);

impl ScheduleFreeSgd {
    /// Model steps taken, k.
    pub fn steps(&self) -> u64 {
        self.global.k
    }
}

impl ScheduleFreeAdamW {
    /// Model steps taken, k.
    pub fn steps(&self) -> u64 {
        self.global.k
    }
}

impl Optimizer for ScheduleFreeSgd {
    crate::optimizer::macros::one_tensor_model!(weight_decay);

    /// One Schedule-Free SGD step of the whole model.
    fn step_model(&mut self, tensors: &mut [Tensor<'_>]) -> Result<(), OptimError> {
        let cfg = self.config;
        let grads = check_model(&self.states, tensors, cfg.non_finite)?;
        for (t, g) in tensors.iter().zip(&grads) {
            check_decay(t.name, t.params, Some(g), cfg.weight_decay)?;
        }
        let grads = replaced(grads);
        let avg = self
            .global
            .advance(cfg.lr, cfg.warmup_steps, cfg.r, cfg.weight_lr_power);
        let lr = coef(avg.lr);
        let decay = cfg.weight_decay;
        for (t, own) in tensors.iter_mut().zip(&grads) {
            let g: &[f32] = own.as_deref().unwrap_or(t.grads);
            let params = &mut *t.params;
            let st = self.states.get_or_start(t.name, params, &cfg)?;
            for ((z, &g), &y) in st.z.iter_mut().zip(g).zip(params.iter()) {
                // grad.add_(y, alpha=weight_decay); z.sub_(grad, alpha=lr).
                let g = if decay != 0.0 { g + decay * y } else { g };
                *z = sat(*z - lr * g);
            }
            average(&mut st.x, &st.z, params, avg.ckp1, cfg.momentum);
        }
        Ok(())
    }

    crate::optimizer::macros::config_hyperparameters!();

    /// x, the average of the z's, once `name` has stepped.
    fn eval_params(&self, name: &str) -> Option<&[f32]> {
        self.states.get(name).map(|s| s.x.as_slice())
    }
}

impl Optimizer for ScheduleFreeAdamW {
    crate::optimizer::macros::one_tensor_model!();

    /// One Schedule-Free AdamW step of the whole model.
    fn step_model(&mut self, tensors: &mut [Tensor<'_>]) -> Result<(), OptimError> {
        let cfg = self.config;
        let grads = replaced(check_model(&self.states, tensors, cfg.non_finite)?);
        // 1 − β₂^{k+1}, with k before this step.
        let bc2 = coef(1.0 - libm::pow(cfg.beta2 as f64, self.global.k as f64 + 1.0));
        let avg = self
            .global
            .advance(cfg.lr, cfg.warmup_steps, cfg.r, cfg.weight_lr_power);
        let neg_lr = -coef(avg.lr);
        let decay = cfg.weight_decay;
        // z.sub_(decay_point, alpha=lr*decay), lr·λ ≤ 1.
        let wd = coef(avg.lr * decay as f64);
        let (b2, c2, eps) = (cfg.beta2, coef(1.0 - cfg.beta2 as f64), cfg.eps);
        for (t, own) in tensors.iter_mut().zip(&grads) {
            let g: &[f32] = own.as_deref().unwrap_or(t.grads);
            let params = &mut *t.params;
            let st = self.states.get_or_start(t.name, params, &cfg)?;
            for (((z, v), &g), &y) in
                st.z.iter_mut()
                    .zip(st.exp_avg_sq.iter_mut())
                    .zip(g)
                    .zip(params.iter())
            {
                if decay != 0.0 {
                    let point = if cfg.decay_at_z { *z } else { y };
                    *z = sat(*z - wd * point);
                }
                // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1-beta2)
                *v = (*v * b2 + c2 * g * g).min(f32::MAX);
                // exp_avg_sq.div(bias_correction2).sqrt_().add_(eps): ≥ ε > 0.
                let denom = (*v / bc2).sqrt() + eps;
                // z.addcdiv_(grad, denom, value=-lr)
                *z = sat(*z + neg_lr * g / denom);
            }
            average(&mut st.x, &st.z, params, avg.ckp1, cfg.beta1);
        }
        Ok(())
    }

    crate::optimizer::macros::config_hyperparameters!();

    /// x, the average of the z's, once `name` has stepped.
    fn eval_params(&self, name: &str) -> Option<&[f32]> {
        self.states.get(name).map(|s| s.x.as_slice())
    }
}

impl Hyper for ScheduleFreeSgdConfig {
    crate::optimizer::macros::hyper_fields!(lr, momentum, weight_decay, r, weight_lr_power);
}

impl Hyper for ScheduleFreeAdamWConfig {
    crate::optimizer::macros::hyper_fields!(
        lr,
        beta1,
        beta2,
        eps,
        weight_decay,
        r,
        weight_lr_power
    );
}

impl StateRules<ScheduleFreeSgdState> for ScheduleFreeSgdConfig {
    fn fresh(&self, len: usize) -> ScheduleFreeSgdState {
        ScheduleFreeSgdState {
            z: vec![0.0; len],
            x: vec![0.0; len],
        }
    }

    /// z = x = the tensor's parameters.
    fn start(&self, params: &[f32]) -> ScheduleFreeSgdState {
        ScheduleFreeSgdState {
            z: params.to_vec(),
            x: params.to_vec(),
        }
    }
}

impl StateRules<ScheduleFreeAdamWState> for ScheduleFreeAdamWConfig {
    fn fresh(&self, len: usize) -> ScheduleFreeAdamWState {
        ScheduleFreeAdamWState {
            z: vec![0.0; len],
            x: vec![0.0; len],
            exp_avg_sq: vec![0.0; len],
        }
    }

    /// z = x = the tensor's parameters, a zero second moment.
    fn start(&self, params: &[f32]) -> ScheduleFreeAdamWState {
        ScheduleFreeAdamWState {
            z: params.to_vec(),
            x: params.to_vec(),
            ..self.fresh(params.len())
        }
    }

    fn problem(&self, state: &ScheduleFreeAdamWState) -> Option<String> {
        negative("exp_avg_sq", &state.exp_avg_sq)
    }
}

crate::optimizer::macros::state_fields!(ScheduleFreeSgdState { z, x });

crate::optimizer::macros::state_fields!(ScheduleFreeAdamWState { z, x, exp_avg_sq });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimizer::Checkpoint;

    fn sgd(config: ScheduleFreeSgdConfig) -> ScheduleFreeSgd {
        ScheduleFreeSgd::new(config).unwrap()
    }

    /// The first two steps by hand: c = 1 then 1/2 (equal weights), y = βx + (1−β)z is the
    /// parameters, x is the evaluation point, and a tensor that never stepped has none.
    #[test]
    fn two_steps_by_hand() {
        let mut opt = sgd(ScheduleFreeSgdConfig {
            lr: 0.5,
            ..Default::default()
        });
        assert_eq!(opt.eval_params("w"), None);
        let mut w = vec![1.0f32, -2.0];
        opt.step("w", &mut w, &[1.0, 1.0]).unwrap();
        // z = x = w − 0.5·g; y = z.
        assert_eq!(opt.eval_params("w").unwrap(), &[0.5, -2.5]);
        assert_eq!(w, [0.5, -2.5]);
        opt.step("w", &mut w, &[2.0, -1.0]).unwrap();
        // z = (−0.5, −2); x = (0.5·0.5 + 0.5·(−0.5), 0.5·(−2.5) + 0.5·(−2)) = (0, −2.25).
        let x = opt.eval_params("w").unwrap().to_vec();
        assert_eq!(x, [0.0, -2.25]);
        let z = opt.state().values("w", "z").unwrap().to_vec();
        assert_eq!(z, [-0.5, -2.0]);
        let y: Vec<f32> = x
            .iter()
            .zip(&z)
            .map(|(&x, &z)| x * 0.9 + coef(1.0 - 0.9f32 as f64) * z)
            .collect();
        assert_eq!(w, y);
        assert_eq!(opt.eval_params("b"), None);
        assert_eq!(opt.steps(), 2);
    }

    /// lr = 0 makes every weight 0: the reference's ZeroDivisionError branch, c = 0, and
    /// nothing moves (no 0/0).
    #[test]
    fn zero_weights_leave_x_where_it_is() {
        let mut opt = sgd(ScheduleFreeSgdConfig {
            lr: 0.0,
            ..Default::default()
        });
        let mut w = vec![1.0f32, -2.0];
        for _ in 0..3 {
            opt.step("w", &mut w, &[1.0, 1.0]).unwrap();
        }
        assert_eq!(w, [1.0, -2.0]);
        assert_eq!(opt.eval_params("w").unwrap(), &[1.0, -2.0]);
        assert_eq!(opt.global.weight_sum, 0.0);
        assert_eq!(opt.global.k, 3);
    }

    /// Warmup: lr_k = lr·(k+1)/warmup_steps, and lr_max follows it.
    #[test]
    fn warmup_and_weights() {
        let mut g = ScheduleFreeScalars::default();
        let a = g.advance(0.5, 4, 0.0, 2.0);
        assert_eq!((a.lr, a.ckp1), (0.125, 1.0));
        let a = g.advance(0.5, 4, 0.0, 2.0);
        assert_eq!(a.lr, 0.25);
        // weights 0.125², 0.25²: c = 0.0625/0.078125 = 0.8.
        assert!((a.ckp1 - 0.8).abs() < 1e-15);
        for _ in 0..2 {
            g.advance(0.5, 4, 0.0, 2.0);
        }
        assert_eq!(g.advance(0.5, 4, 0.0, 2.0).lr, 0.5);
        assert_eq!(g.lr_max, 0.5);
        // r: weights (k+1)^r.
        let mut g = ScheduleFreeScalars::default();
        g.advance(1.0, 0, 1.0, 0.0);
        assert!((g.advance(1.0, 0, 1.0, 0.0).ckp1 - 2.0 / 3.0).abs() < 1e-15);
    }

    /// The largest accepted rates, powers and gradients, at any step count: parameters, x, z,
    /// v and the weight sum stay finite.
    #[test]
    fn extremes_stay_finite() {
        let mut sgd = sgd(ScheduleFreeSgdConfig {
            lr: 1e6,
            momentum: 1e-6,
            weight_decay: 1e-6,
            r: 10.0,
            weight_lr_power: 10.0,
            ..Default::default()
        });
        let mut adam = ScheduleFreeAdamW::new(ScheduleFreeAdamWConfig {
            lr: 1e6,
            beta2: 0.99999994,
            eps: 1e-45,
            weight_decay: 1e-6,
            r: 10.0,
            weight_lr_power: 10.0,
            decay_at_z: true,
            ..Default::default()
        })
        .unwrap();
        // λ·w within 10¹⁸ for SGD at first; 3e38 for AdamW, whose decay is decoupled.
        let (mut a, mut b) = (vec![0.0f32, -1e23, 1e20], vec![1e30f32, -3.0e38, 0.0]);
        for (i, k) in [0, 1, 1 << 40, u64::MAX - 1, u64::MAX]
            .into_iter()
            .enumerate()
        {
            sgd.global.k = k;
            adam.global.k = k;
            let s = if i % 2 == 0 { 1.0 } else { -1.0 };
            let g = [s * 1e18, -s * 1e-30, s * 1e-45];
            if sgd.step("a", &mut a, &g).is_err() {
                a = vec![0.5; 3]; // weight decay of a diverged parameter is refused
            }
            adam.step("b", &mut b, &g).unwrap();
            let xs = [sgd.eval_params("a"), adam.eval_params("b")];
            assert!(xs.iter().all(|x| x.unwrap().iter().all(|v| v.is_finite())));
            assert!(a.iter().chain(&b).all(|v| v.is_finite()), "{a:?} {b:?}");
            assert!(sgd.global.weight_sum.is_finite() && adam.global.weight_sum.is_finite());
            assert!(sgd.global.problem().is_none() && adam.global.problem().is_none());
        }
        let st = adam.states.get("b").unwrap();
        assert!(st
            .z
            .iter()
            .chain(&st.x)
            .chain(&st.exp_avg_sq)
            .all(|v| v.is_finite()));
    }

    /// The reference's ranges (momentum in (0, 1)) and the guards' (r, weight_lr_power).
    #[test]
    fn configs_are_validated() {
        for momentum in [0.0, 1.0, -0.5, f32::NAN] {
            let c = ScheduleFreeSgdConfig {
                momentum,
                ..Default::default()
            };
            assert!(ScheduleFreeSgd::new(c).is_err(), "{momentum}");
        }
        for (r, p) in [(-1.0, 2.0), (10.5, 2.0), (0.0, -1.0), (0.0, f32::INFINITY)] {
            let c = ScheduleFreeAdamWConfig {
                r,
                weight_lr_power: p,
                ..Default::default()
            };
            assert!(ScheduleFreeAdamW::new(c).is_err(), "{r} {p}");
        }
        let c = ScheduleFreeAdamWConfig {
            beta1: 0.0,
            lr: 0.0,
            ..Default::default()
        };
        assert!(ScheduleFreeAdamW::new(c).is_ok());
    }

    /// Damaged model-wide scalars are refused on load and change nothing.
    #[test]
    fn loaded_scalars_are_checked() {
        let mut opt = ScheduleFreeAdamW::new(ScheduleFreeAdamWConfig::default()).unwrap();
        let mut w = vec![0.5f32, -0.25];
        opt.step("w", &mut w, &[0.1, -0.2]).unwrap();
        let good = opt.save().unwrap();
        for damage in [
            |g: &mut ScheduleFreeScalars| g.weight_sum = -1.0,
            |g: &mut ScheduleFreeScalars| g.weight_sum = f64::NAN,
            |g: &mut ScheduleFreeScalars| g.lr_max = 1e300,
            |g: &mut ScheduleFreeScalars| g.lr_max = -0.5,
        ] {
            let mut bad = opt.clone();
            damage(&mut bad.global);
            let bytes = bad.save().unwrap();
            let err = opt.load(&bytes).unwrap_err();
            assert!(matches!(err, OptimError::Corrupt { .. }), "{err}");
            assert_eq!(opt.save().unwrap(), good);
        }
        let mut bad = opt.clone();
        bad.states.get_mut("w").unwrap().exp_avg_sq[0] = -1.0;
        assert!(opt.load(&bad.save().unwrap()).is_err());
        // A large but finite weight sum (beyond f32) loads.
        let mut big = opt.clone();
        big.global.weight_sum = 1e200;
        opt.load(&big.save().unwrap()).unwrap();
    }
}
