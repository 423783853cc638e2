//! COCOB-Backprop (Orabona & Tommasi, "Training Deep Networks without Learning Rates Through
//! Coin Betting", NeurIPS 2017): each coordinate bets on its gradients' direction a fraction
//! of the wealth it won so far, as optax 0.2.8 `optax.contrib.cocob` computes it, number for
//! number.
//!
//! optax builds it as `chain(add_decayed_weights(weight_decay),
//! scale_by_learning_rate(learning_rate, flip_sign=False), scale_by_cocob(alpha, eps))`, whose
//! update is added to the parameters. Per coordinate, with x₀ the parameter at the tensor's
//! first step, c = lr·(g + λx) and state L = ε, G = R = C = 0 at the start:
//!
//! - L ← max(L, |c|) (the largest gradient so far), G ← G + |c|;
//! - R ← max(R − c·(x − x₀), 0) (the reward, with the parameter before the step);
//! - C ← C − c;
//! - u = −x + (x₀ + C/(L·max(G + L, αL))·(L + R)), and x ← x + u.
//!
//! Every operation is a float32 operation, as the reference's (optax on float32 JAX arrays,
//! its Python floats weakly typed to float32), in its order: x ends at x + (−x + …), not
//! exactly x₀ + …. With λ = 0 the decay is skipped, as optax skips it.
//!
//! Guards the reference does not have, which change nothing in any run it survives:
//! - ε must be positive (with ε = 0, a coordinate whose gradients were all zero divides 0 by 0);
//! - G, C, R and the parameters saturate at ±`f32::MAX` instead of overflowing (x − x₀ of two
//!   diverged parameters too);
//! - where the bet is not finite in f32 (its denominator underflowed or overflowed, where the
//!   reference's parameter becomes ∞ or NaN), it is computed in f64 and saturated;
//! - weight decay that turns a diverged parameter into an unusable gradient (|g + λx| > 10¹⁸)
//!   is refused before anything changes, as SGD and Adam refuse it
//!   ([`OptimError::DecayedGradient`]).

use serde::{Deserialize, Serialize};

use crate::optimizer::hyper::{self, Hyper};
use crate::optimizer::inputs::{check_decay, check_inputs};
use crate::optimizer::macros::optimizer_struct;
use crate::optimizer::model::sat;
use crate::optimizer::state::StateRules;
use crate::optimizer::{OptimError, Optimizer};
use lrmem_memory_core::NonFinite;

/// Configuration of [`Cocob`]: the reference's arguments and defaults (optax 0.2.8).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CocobConfig {
    /// Scales the gradients before COCOB sees them (optax's `learning_rate`, for a
    /// schedule); COCOB is scale-free, so a constant one matters only against ε. Default 1.
    pub lr: f32,
    /// α, the fraction of the wealth not to bet early on: the bet is at most 1/(αL) of it
    /// until G + L ≥ αL. Default 100.
    pub alpha: f32,
    /// ε, the initial L (keeps the first denominators from being 0). Default 1e−8.
    pub eps: f32,
    /// Weight decay λ, added to the gradient (λx) before the learning rate. Default 0.
    pub weight_decay: f32,
    /// NaN/∞ gradients: error (default), or `Skip`: a zero gradient there
    /// ([`NonFinite::Skip`]; the coordinate still follows its bet).
    pub non_finite: NonFinite,
}

impl Default for CocobConfig {
    fn default() -> Self {
        CocobConfig {
            lr: 1.0,
            alpha: 100.0,
            eps: 1e-8,
            weight_decay: 0.0,
            non_finite: NonFinite::Error,
        }
    }
}

impl CocobConfig {
    /// Checks every field (finite ranges; ε > 0, see the module docs).
    pub fn validate(&self) -> Result<(), OptimError> {
        hyper::check_positive("lr", self.lr)?;
        hyper::check_positive("alpha", self.alpha)?;
        hyper::check_positive("eps", self.eps)?;
        hyper::check_nonnegative("weight_decay", self.weight_decay)
    }
}

/// Per-tensor state of COCOB (optax's `COCOBState`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CocobState {
    /// The parameters at the tensor's first step, x₀ (optax's `init_particles`).
    pub p0: Vec<f32>,
    /// C, minus the sum of the gradients.
    pub cumulative_gradients: Vec<f32>,
    /// L, the largest gradient magnitude so far (ε at the start).
    pub scale: Vec<f32>,
    /// G, the sum of the gradient magnitudes.
    pub subgradients: Vec<f32>,
    /// R, the reward (wealth won), ≥ 0.
    pub reward: Vec<f32>,
}

optimizer_struct!(
    /// COCOB-Backprop over named tensors (see the [module docs](crate::cocob) for the update):
    /// no learning rate to tune; each coordinate bets from x₀ on the sign of minus its summed
    /// gradients.
    ///
    /// ```
    /// use lrmem_optimizers::{Cocob, CocobConfig, Optimizer};
    /// let mut opt = Cocob::new(CocobConfig::default())?;
    /// let mut w = vec![1.0f32, -2.0];
    /// for _ in 0..200 {
    ///     let g = w.clone(); // ½‖x‖²
    ///     opt.step("w", &mut w, &g)?;
    /// }
    /// assert!(w.iter().all(|x| x.abs() < 0.5), "{w:?}");
    /// # Ok::<(), lrmem_optimizers::OptimError>(())
    /// ```
    Cocob, CocobConfig, CocobState);

impl Optimizer for Cocob {
    crate::optimizer::macros::config_hyperparameters!();

    crate::optimizer::macros::tensor_checks!(cfg => cfg.weight_decay);

    fn step(&mut self, name: &str, params: &mut [f32], grads: &[f32]) -> Result<(), OptimError> {
        let cfg = self.config;
        let grads = check_inputs(name, params, grads, cfg.non_finite)?;
        check_decay(name, params, Some(&grads), cfg.weight_decay)?;
        let st = self.states.get_or_start(name, params, &cfg)?;
        let (lr, alpha, decay) = (cfg.lr, cfg.alpha, cfg.weight_decay);
        for (i, (x, &g)) in params.iter_mut().zip(grads.iter()).enumerate() {
            let c = lr * if decay != 0.0 { g + decay * *x } else { g };
            let p0 = st.p0[i];
            let l = st.scale[i].max(c.abs());
            let big_g = sat(st.subgradients[i] + c.abs());
            let r = sat(st.reward[i] - c * sat(*x - p0)).max(0.0);
            let cum = sat(st.cumulative_gradients[i] - c);
            let mut bet = cum / (l * (big_g + l).max(alpha * l)) * (l + r);
            if !bet.is_finite() {
                // Where the reference's parameter would become ∞ or NaN.
                let (l, g, r) = (l as f64, big_g as f64, r as f64);
                let b = cum as f64 / (l * (g + l).max(alpha as f64 * l)) * (l + r);
                bet = if b.is_nan() {
                    0.0
                } else {
                    b.clamp(-(f32::MAX as f64), f32::MAX as f64) as f32
                };
            }
            let u = -*x + (p0 + bet);
            *x = sat(*x + u);
            st.scale[i] = l;
            st.subgradients[i] = big_g;
            st.reward[i] = r;
            st.cumulative_gradients[i] = cum;
        }
        Ok(())
    }
}

impl Hyper for CocobConfig {
    crate::optimizer::macros::hyper_fields!(lr, alpha, eps, weight_decay);
}

impl StateRules<CocobState> for CocobConfig {
    fn fresh(&self, len: usize) -> CocobState {
        CocobState {
            p0: vec![0.0; len],
            cumulative_gradients: vec![0.0; len],
            scale: vec![self.eps; len],
            subgradients: vec![0.0; len],
            reward: vec![0.0; len],
        }
    }

    /// x₀ = the tensor's parameters.
    fn start(&self, params: &[f32]) -> CocobState {
        CocobState {
            p0: params.to_vec(),
            ..self.fresh(params.len())
        }
    }

    /// L > 0 (it divides), G ≥ 0 and R ≥ 0.
    fn problem(&self, state: &CocobState) -> Option<String> {
        if let Some(l) = state.scale.iter().find(|&&l| l <= 0.0) {
            return Some(format!("has a scale L = {l} (it must be > 0)"));
        }
        for (field, values) in [
            ("subgradients", &state.subgradients),
            ("reward", &state.reward),
        ] {
            if let Some(x) = values.iter().find(|&&x| x < 0.0) {
                return Some(format!("has `{field}` = {x} (it must be >= 0)"));
            }
        }
        None
    }
}

crate::optimizer::macros::state_fields!(CocobState {
    p0,
    cumulative_gradients,
    scale,
    subgradients,
    reward
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimizer::Checkpoint;

    /// The first step by hand: L = |g|, G = |g|, R = 0, C = −g, x = x₀ − g/(|g|·max(2|g|, α|g|))·|g|.
    #[test]
    fn first_step_by_hand() {
        let mut opt = Cocob::new(CocobConfig::default()).unwrap();
        let mut w = vec![0.5f32, -0.5, 1.0];
        opt.step("w", &mut w, &[2.0, -1.0, 0.0]).unwrap();
        assert_eq!(w, [0.5 - 0.01, -0.5 + 0.01, 1.0]);
        let view = opt.state();
        assert_eq!(view.values("w", "scale"), Some(&[2.0f32, 1.0, 1e-8][..]));
        assert_eq!(
            view.values("w", "cumulative_gradients"),
            Some(&[-2.0f32, 1.0, 0.0][..])
        );
    }

    /// Hostile values keep everything finite: tiny ε and gradients (denominators underflow),
    /// huge parameters (x − x₀ overflows), huge gradients.
    #[test]
    fn saturates_instead_of_overflowing() {
        for cfg in [
            CocobConfig {
                eps: 1e-45,
                alpha: 1e-6,
                ..CocobConfig::default()
            },
            CocobConfig {
                lr: 1e6,
                alpha: 1e6,
                eps: 1e6,
                ..CocobConfig::default()
            },
        ] {
            let mut opt = Cocob::new(cfg).unwrap();
            let mut w = vec![f32::MAX, -f32::MAX, 0.0, 1.0];
            for g in [
                [1e18f32, -1e18, 1e-45, 0.0],
                [-1e18, 1e18, -1e-45, 1e-38],
                [1e-45, 0.0, 1e18, -1e18],
            ] {
                opt.step("w", &mut w, &g).unwrap();
                assert!(w.iter().all(|x| x.is_finite()), "{cfg:?}: {w:?}");
            }
        }
    }

    /// Loaded states are checked: L ≤ 0 or a negative reward is refused.
    #[test]
    fn checkpoints_are_checked() {
        let mut opt = Cocob::new(CocobConfig::default()).unwrap();
        let mut w = vec![1.0f32, 2.0];
        opt.step("w", &mut w, &[0.5, 0.5]).unwrap();
        for damage in [
            |s: &mut CocobState| s.scale[0] = 0.0,
            |s: &mut CocobState| s.reward[1] = -1.0,
            |s: &mut CocobState| s.subgradients[1] = -1.0,
        ] {
            let mut bad = opt.clone();
            damage(bad.states.get_mut("w").unwrap());
            let err = opt.load(&bad.save().unwrap()).unwrap_err();
            assert!(matches!(err, OptimError::Corrupt { .. }), "{err}");
        }
    }
}
