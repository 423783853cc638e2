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

/// Checks an analytic gradient against central differences: for each coordinate `i` of
/// `coords`, `loss` of `values` with `values[i]` moved by ±`h` (the others as they are) gives
/// the difference `want`, and `close(analytic[i], want)` must hold (`what[i]` in the message).
/// Returns the differences, for checks that some of them are clearly non-zero (a lost tape
/// gives zero gradients; finite differences do not).
#[track_caller]
pub(crate) fn assert_gradient(
    what: &str,
    analytic: &[f32],
    values: &[f32],
    coords: impl IntoIterator<Item = usize>,
    h: f32,
    close: impl Fn(f32, f32) -> bool,
    mut loss: impl FnMut(&[f32]) -> f32,
) -> Vec<f32> {
    let mut v = values.to_vec();
    coords
        .into_iter()
        .map(|i| {
            let want = fd(&mut v, i, h, &mut loss);
            let got = analytic[i];
            assert!(
                close(got, want),
                "{what}[{i}]: analytic {got} vs finite difference {want}"
            );
            want
        })
        .collect()
}

/// The tolerance of the layers' checks: relative error below `tol`, relative to at least 0.1.
pub(crate) fn within(tol: f32) -> impl Fn(f32, f32) -> bool {
    move |got, want| rel_err(got, want, 1e-1) < tol
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
