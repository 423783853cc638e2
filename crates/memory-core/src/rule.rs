//! How θ ascends on the memory gradient G (docs/algorithm.md §8): the memory's own optimizer.

use alloc::vec;
use alloc::vec::Vec;

use crate::error::MemoryError;

/// The optimizer that moves θ along G_m. Its learning rate ξ is the paper's meta learning rate.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum MemoryOptimizer {
    /// θ ← θ + ξ·G (the paper's update, Eq. 5).
    Sgd {
        /// ξ, the meta learning rate.
        lr: f32,
    },
    /// b ← μ·b + G; θ ← θ + ξ·b (TensorFlow's momentum optimizer, the authors' TF backend).
    Momentum {
        /// ξ, the meta learning rate.
        lr: f32,
        /// μ. The authors use 0.9.
        momentum: f32,
    },
    /// Adam ascending on G, as the authors' `memory_optimizer.Adam`:
    /// m ← β₁m + (1−β₁)G, v ← β₂v + (1−β₂)G², θ ← θ + ξ·√(1−β₂ᵗ)/(1−β₁ᵗ)·m/(√v + ε).
    /// The authors' default: it normalises G, so ξ is a step size in θ's own units.
    Adam {
        /// ξ, the meta learning rate.
        lr: f32,
        /// β₁, default 0.9.
        beta1: f32,
        /// β₂, default 0.999.
        beta2: f32,
        /// ε, default 1e−8.
        eps: f32,
    },
}

impl Default for MemoryOptimizer {
    /// Adam with ξ = 1e−3, β = (0.9, 0.999), ε = 1e−8: the authors' Rosenbrock notebook.
    fn default() -> Self {
        MemoryOptimizer::adam(1e-3)
    }
}

impl MemoryOptimizer {
    /// Plain ascent θ ← θ + ξG.
    pub fn sgd(lr: f32) -> Self {
        MemoryOptimizer::Sgd { lr }
    }

    /// Momentum 0.9 with meta learning rate `lr`.
    pub fn momentum(lr: f32) -> Self {
        MemoryOptimizer::Momentum { lr, momentum: 0.9 }
    }

    /// Adam with meta learning rate `lr` and the usual β₁ = 0.9, β₂ = 0.999, ε = 1e−8.
    pub fn adam(lr: f32) -> Self {
        MemoryOptimizer::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }

    /// The meta learning rate ξ.
    pub fn lr(&self) -> f32 {
        match *self {
            MemoryOptimizer::Sgd { lr }
            | MemoryOptimizer::Momentum { lr, .. }
            | MemoryOptimizer::Adam { lr, .. } => lr,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), MemoryError> {
        let lr = self.lr();
        if !(0.0..=crate::config::MAX_RATE).contains(&lr) {
            return Err(MemoryError::invalid(
                "optimizer.lr",
                lr,
                "in [0, 1e6] (0 freezes the memory; above θ_max, one step crosses θ's whole range)",
            ));
        }
        match *self {
            MemoryOptimizer::Sgd { .. } => {}
            MemoryOptimizer::Momentum { momentum, .. } => {
                if !(0.0..1.0).contains(&momentum) {
                    return Err(MemoryError::invalid(
                        "optimizer.momentum",
                        momentum,
                        "in [0, 1)",
                    ));
                }
            }
            MemoryOptimizer::Adam {
                beta1, beta2, eps, ..
            } => {
                if !(0.0..1.0).contains(&beta1) {
                    return Err(MemoryError::invalid("optimizer.beta1", beta1, "in [0, 1)"));
                }
                if !(0.0..1.0).contains(&beta2) {
                    return Err(MemoryError::invalid("optimizer.beta2", beta2, "in [0, 1)"));
                }
                if !(eps.is_finite() && eps > 0.0) {
                    return Err(MemoryError::invalid("optimizer.eps", eps, "finite and > 0"));
                }
            }
        }
        Ok(())
    }

    /// One ascent step of θ on G in `space` (ln θ for [`ThetaSpace::Log`]), then
    /// θ ← clamp(θ, lo, hi).
    pub(crate) fn apply(
        &self,
        state: &mut RuleState,
        g: &[f32],
        theta: &mut [f32],
        (lo, hi): (f32, f32),
        space: ThetaSpace,
    ) {
        match space {
            ThetaSpace::Linear => self.ascend(state, g, theta, |t, d| *t += d),
            // Every rule's step Δ does not depend on where it starts: multiply by e^Δ, so that
            // Δ = 0 leaves θ exactly as it was (a round trip through ln and exp would not).
            ThetaSpace::Log => self.ascend(state, g, theta, |t, d| *t *= libm::expf(d)),
        }
        for t in theta.iter_mut() {
            *t = t.clamp(lo, hi);
        }
    }

    /// The optimizer's step Δ_m along G for every local model, applied to θ_m by `apply`
    /// (θ + Δ in linear space; Δ itself does not depend on θ).
    #[inline(always)]
    fn ascend(
        &self,
        state: &mut RuleState,
        g: &[f32],
        theta: &mut [f32],
        apply: impl Fn(&mut f32, f32),
    ) {
        // Saturating: a memory shared by many tensors counts every one of their steps, and the
        // bias corrections are 1 long before the count could wrap.
        state.step = state.step.saturating_add(1);
        match *self {
            MemoryOptimizer::Sgd { lr } => {
                for (t, &gm) in theta.iter_mut().zip(g) {
                    apply(t, lr * gm);
                }
            }
            MemoryOptimizer::Momentum { lr, momentum } => {
                for ((t, b), &gm) in theta.iter_mut().zip(&mut state.m).zip(g) {
                    *b = momentum * *b + gm;
                    apply(t, lr * *b);
                }
            }
            MemoryOptimizer::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => {
                // The step size is computed in f64 like the authors' Python `math` expression.
                // t as f64, never through i32 (which wrapped negative after 2³¹ − 1 steps and
                // made θ NaN); identical for every t the authors' code can reach.
                let t = state.step as f64;
                let bc1 = 1.0 - libm::pow(beta1 as f64, t);
                let bc2 = 1.0 - libm::pow(beta2 as f64, t);
                let step = (lr as f64 * libm::sqrt(bc2) / bc1) as f32;
                for (((th, m), v), &gm) in
                    theta.iter_mut().zip(&mut state.m).zip(&mut state.v).zip(g)
                {
                    *m = beta1 * *m + (1.0 - beta1) * gm;
                    *v = beta2 * *v + (1.0 - beta2) * gm * gm;
                    apply(th, step * (*m / (libm::sqrtf(*v) + eps)));
                }
            }
        }
    }
}

/// The space in which the memory optimizer moves θ: what its learning rate ξ means.
///
/// In [`ThetaSpace::Linear`] (the papers' Eq. 5 and the authors' code) a step moves θ by an
/// amount in θ's own units, so one ξ is a huge relative change for a small θ (ξ = 0.1 takes
/// η₀ = 10⁻³ to 0.1 in a step of Adam on θ) and a negligible one for a large θ, and a run's
/// behaviour depends on η₀ and ξ together. In [`ThetaSpace::Log`] the memory optimizer moves
/// ln θ, so every step multiplies θ by a factor, as Rprop's η⁺/η⁻ do: ξ is a relative change
/// per step whatever θ's scale (with Adam on θ about ξ at most, ξ = 0.01 ≈ 1% per step), and
/// every η₀ in [θ_min, θ_max] moves at the same pace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum ThetaSpace {
    /// θ ← θ + Δ (the papers' and the authors'). The default.
    #[default]
    Linear,
    /// ln θ ← ln θ + Δ, i.e. θ ← θ·e^Δ: multiplicative updates. Needs θ_min > 0.
    Log,
}

/// The memory optimizer's moments and step count: per-run state, reset on reload.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RuleState {
    /// Steps taken (Adam's t).
    pub step: u64,
    /// First moment (Adam) or velocity (momentum); zeros for SGD.
    pub m: Vec<f32>,
    /// Second moment (Adam); zeros otherwise.
    pub v: Vec<f32>,
}

impl RuleState {
    /// Fresh state for `m` local models.
    pub fn new(m: usize) -> Self {
        RuleState {
            step: 0,
            m: vec![0.0; m],
            v: vec![0.0; m],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// The step count saturates instead of wrapping (or panicking with overflow checks), and the
    /// bias correction stays finite at every count.
    #[test]
    fn any_step_count_keeps_theta_finite() {
        for opt in [
            MemoryOptimizer::adam(1e-3),
            MemoryOptimizer::sgd(1e-3),
            MemoryOptimizer::momentum(1e-3),
        ] {
            for start in [i32::MAX as u64 - 1, u32::MAX as u64, u64::MAX - 1, u64::MAX] {
                let mut state = RuleState::new(3);
                state.step = start;
                let mut theta = vec![1e-3f32; 3];
                for _ in 0..3 {
                    opt.apply(
                        &mut state,
                        &[0.1, -0.1, 0.0],
                        &mut theta,
                        (1e-9, 1.0),
                        ThetaSpace::Linear,
                    );
                }
                assert!(
                    theta.iter().all(|t| t.is_finite() && *t > 0.0),
                    "{opt:?} from step {start}: {theta:?}"
                );
                assert_eq!(state.step, start.saturating_add(3));
            }
        }
    }

    /// In log space a step multiplies θ by a factor that does not depend on θ: the same G moves
    /// θ = 10⁻⁴ and θ = 10⁻¹ by the same ratio, and plain ascent with ξ multiplies by e^{ξG}.
    #[test]
    fn log_space_steps_are_relative() {
        let opt = MemoryOptimizer::adam(0.01);
        let mut state = RuleState::new(2);
        let mut theta = vec![1e-4f32, 1e-1];
        opt.apply(
            &mut state,
            &[0.3, 0.3],
            &mut theta,
            (1e-9, 1.0),
            ThetaSpace::Log,
        );
        let (r0, r1) = (theta[0] / 1e-4, theta[1] / 1e-1);
        assert!((r0 - r1).abs() < 1e-5, "{r0} vs {r1}");
        // Adam's first step is ξ·sign(G): a factor e^0.01.
        assert!((r0 - libm::expf(0.01)).abs() < 1e-5, "{r0}");
        let sgd = MemoryOptimizer::sgd(0.5);
        let mut theta = vec![1e-3f32];
        sgd.apply(
            &mut RuleState::new(1),
            &[-0.2],
            &mut theta,
            (1e-9, 1.0),
            ThetaSpace::Log,
        );
        assert!((theta[0] / 1e-3 - libm::expf(-0.1)).abs() < 1e-5);
        // Linear space: the same Adam step adds ξ, a factor 101 for θ = 10⁻⁴.
        let mut theta = vec![1e-4f32];
        opt.apply(
            &mut RuleState::new(1),
            &[0.3],
            &mut theta,
            (1e-9, 1.0),
            ThetaSpace::Linear,
        );
        assert!((theta[0] - (1e-4 + 0.01)).abs() < 1e-6);
    }
}
