//! What the unit tests of several modules share: central finite differences, seeded inputs,
//! a smooth synthetic arm trajectory and the plain optimizers they train with.

use lrmem_optimizers::{Adam, AdamConfig, Sgd, SgdConfig};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::dynamics::{ArmTrajectory, JOINTS};
use crate::random::uniform;

/// |a − b| / max(|b|, floor).
pub(crate) fn rel_err(a: f32, b: f32, floor: f32) -> f32 {
    (a - b).abs() / b.abs().max(floor)
}

/// Central difference of `f` at `w[i]` with step `h`.
pub(crate) fn fd(w: &mut [f32], i: usize, h: f32, mut f: impl FnMut(&[f32]) -> f32) -> f32 {
    let orig = w[i];
    w[i] = orig + h;
    let up = f(w);
    w[i] = orig - h;
    let down = f(w);
    w[i] = orig;
    (up - down) / (2.0 * h)
}

/// `n` seeded draws from U(−scale, scale).
pub(crate) fn random(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    uniform(&mut ChaCha8Rng::seed_from_u64(seed), n, scale)
}

/// Plain SGD at `lr`.
pub(crate) fn sgd(lr: f32) -> Sgd {
    Sgd::new(SgdConfig::with_lr(lr)).unwrap()
}

/// Adam at `lr`, default betas.
pub(crate) fn adam(lr: f32) -> Adam {
    Adam::new(AdamConfig::with_lr(lr)).unwrap()
}

/// A smooth synthetic arm trajectory (no physics): joint j follows a·sin(ωj·t + φ).
pub(crate) fn synthetic(steps: usize, phase: f64, amp: f64) -> ArmTrajectory {
    let (mut q, mut qd, mut qdd, mut tau) = (vec![], vec![], vec![], vec![]);
    for t in 0..steps {
        for j in 0..JOINTS {
            let w = 2.0 + j as f64;
            let s = w * t as f64 * 1e-3 + phase + j as f64;
            q.push(amp * s.sin());
            qd.push(amp * w * s.cos());
            qdd.push(-amp * w * w * s.sin());
            tau.push(3.0 * (-amp * w * w * s.sin()) + 0.5 * amp * w * s.cos() + j as f64);
        }
    }
    ArmTrajectory::new(q, qd, qdd, tau).unwrap()
}
