//! Properties of the memory, checked with proptest over configs, gradients and bytes.

use lrmem_memory_core::{
    Layout, Memory, MemoryConfig, MemoryError, MemoryOptimizer, NonFinite, QueryScale, Reload,
    Signal, ThetaSpace, Trace,
};
use proptest::prelude::*;

fn optimizer() -> impl Strategy<Value = MemoryOptimizer> {
    prop_oneof![
        (1e-4f32..0.5).prop_map(MemoryOptimizer::sgd),
        (1e-4f32..0.5).prop_map(MemoryOptimizer::momentum),
        (1e-4f32..0.1).prop_map(MemoryOptimizer::adam),
    ]
}

/// Every query scale, reload policy and θ space (the authors' raw, θ-only, linear among them).
fn variants() -> impl Strategy<Value = (QueryScale, Reload, ThetaSpace)> {
    (
        prop_oneof![
            Just(QueryScale::Raw),
            (0.5f32..0.999).prop_map(|beta| QueryScale::Rms { beta })
        ],
        prop_oneof![
            Just(Reload::Theta),
            Just(Reload::ThetaAndMoments),
            (0.0f32..=1.0).prop_map(|keep| Reload::Decay { keep })
        ],
        prop_oneof![Just(ThetaSpace::Linear), Just(ThetaSpace::Log)],
    )
}

prop_compose! {
    fn config()(m in 2usize..40, clip in 0.05f32..20.0, lm_scale in 0.2f32..2.0, log in any::<bool>(),
                eta0 in 1e-6f32..0.5, opt in optimizer(), sign in any::<bool>(),
                (scale, reload, space) in variants()) -> MemoryConfig {
        let layout = if log { Layout::Log } else { Layout::Linear };
        MemoryConfig {
            num_centers: if log { m + m % 2 } else { m },
            clip, lm_scale, layout, eta0, optimizer: opt,
            signal: if sign { Signal::Sign } else { Signal::ClippedProduct },
            scale, reload, space,
            ..MemoryConfig::default()
        }
    }
}

/// A few steps of gradients of dimension `d` with values spread over and beyond ±clip.
fn grads(d: usize, steps: usize) -> impl Strategy<Value = Vec<Vec<f32>>> {
    prop::collection::vec(prop::collection::vec(-30.0f32..30.0, d), steps)
}

fn trained(config: MemoryConfig, gs: &[Vec<f32>]) -> Memory {
    let mut mem = Memory::new(config).unwrap();
    let mut trace = Trace::new(gs[0].len());
    for g in gs {
        let scaled: Vec<f32> = g.iter().map(|x| x * config.clip / 10.0).collect();
        mem.step(&mut trace, &scaled, |_, _, _| {}).unwrap();
    }
    mem
}

fn rel(a: f32, b: f32) -> f32 {
    (a - b).abs() / b.abs().max(f32::MIN_POSITIVE)
}

proptest! {

    /// A memory indexed by the query over its running RMS is scale-free: gradients multiplied
    /// by any constant c give the same θ (to float rounding), and the caller gets c times the
    /// clipped query it got before, with the same rates.
    #[test]
    fn rms_query_is_scale_free(mut c in config(), gs in grads(12, 8), log_c in -6.0f32..6.0, beta in 0.5f32..0.999) {
        c.scale = QueryScale::Rms { beta };
        let k = 10f32.powf(log_c / 2.0);
        let run = |factor: f32| {
            let mut mem = Memory::new(c).unwrap();
            let mut trace = Trace::new(12);
            let mut seen = Vec::new();
            for g in &gs {
                let g: Vec<f32> = g.iter().map(|x| x * factor).collect();
                mem.step(&mut trace, &g, |_, eta, z| seen.push((eta, z))).unwrap();
            }
            (mem.theta().to_vec(), seen, trace.query_scale())
        };
        let (theta_a, seen_a, r_a) = run(1.0);
        let (theta_b, seen_b, r_b) = run(k);
        prop_assert!(rel(r_b, k * r_a) < 1e-4, "scale {} vs {}", r_b, k * r_a);
        // Float rounding differs between the two runs, and Adam on θ amplifies it where
        // θ_m = η₀ − Σ steps nearly cancels: a large share of a small θ_m (and of a rate that
        // such a θ_m dominates). A scale that the memory did not remove would move θ and the
        // rates by factors, far beyond this tolerance.
        let scale = theta_a.iter().fold(0.0f32, |m, t| m.max(t.abs()));
        let close = |a: f32, b: f32| (a - b).abs() <= 1e-2 * a.abs() + 1e-4 * scale;
        for (a, b) in theta_a.iter().zip(&theta_b) {
            prop_assert!(close(*a, *b), "theta {:?} vs {:?}", theta_a, theta_b);
        }
        for ((ea, za), (eb, zb)) in seen_a.iter().zip(&seen_b) {
            prop_assert!(close(*ea, *eb), "rate {} vs {}", eb, ea);
            prop_assert!((zb - k * za).abs() <= 1e-3 * (k * za).abs() + 1e-30, "query {} vs {}", zb, k * za);
        }
    }

    /// In log space one memory update multiplies θ by the same factor whatever η₀ is: the
    /// memories of two η₀ a factor apart stay that factor apart (while within the bounds).
    #[test]
    fn log_space_is_relative(mut c in config(), gs in grads(6, 6), ratio in 1.5f32..100.0) {
        c.space = ThetaSpace::Log;
        c.scale = QueryScale::Raw;
        c.eta0 = 1e-4;
        c.theta_max = 1e6;
        let a = trained(c, &gs);
        let b = trained(MemoryConfig { eta0: 1e-4 * ratio, ..c }, &gs);
        for (ta, tb) in a.theta().iter().zip(b.theta()) {
            if *ta > c.theta_min * 10.0 {
                prop_assert!(rel(tb / ta, ratio) < 1e-3, "{} / {} is not {}", tb, ta, ratio);
            }
        }
    }

    /// What a new task keeps is what `reload` says: θ (or θ pulled toward η₀), and the memory
    /// optimizer's state only under `ThetaAndMoments`.
    #[test]
    fn next_task_follows_the_reload_policy(c in config(), gs in grads(5, 4)) {
        let mut mem = trained(c, &gs);
        let (theta, rule) = (mem.theta().to_vec(), mem.rule_state().clone());
        mem.next_task();
        match c.reload {
            Reload::Theta => {
                prop_assert_eq!(mem.theta(), &theta[..]);
                prop_assert_eq!(mem.rule_state().step, 0);
            }
            Reload::ThetaAndMoments => {
                prop_assert_eq!(mem.theta(), &theta[..]);
                prop_assert_eq!(mem.rule_state(), &rule);
            }
            Reload::Decay { keep } => {
                for (t, old) in mem.theta().iter().zip(&theta) {
                    let want = keep * old + (1.0 - keep) * c.eta0;
                    prop_assert!((t - want).abs() <= 1e-6 * want.abs().max(1e-30), "{} vs {}", t, want);
                }
                prop_assert_eq!(mem.rule_state().step, 0);
            }
            _ => unreachable!("every policy is listed"),
        }
    }

    /// η is a convex combination of θ: it lies in [min θ, max θ].
    #[test]
    fn prediction_within_theta_range(c in config(), gs in grads(5, 6), z in -1e3f32..1e3) {
        let mem = trained(c, &gs);
        let (lo, hi) = mem.theta().iter().fold((f32::MAX, f32::MIN), |(l, h), &t| (l.min(t), h.max(t)));
        let eta = mem.predict(z * c.clip);
        prop_assert!(eta >= lo * (1.0 - 1e-5) && eta <= hi * (1.0 + 1e-5), "eta {} outside [{}, {}]", eta, lo, hi);
    }

    /// Finite for every finite input, however far outside ±clip.
    #[test]
    fn prediction_finite_everywhere(c in config(), gs in grads(3, 4), z in prop::num::f32::NORMAL | prop::num::f32::SUBNORMAL | prop::num::f32::ZERO) {
        let mem = trained(c, &gs);
        prop_assert!(mem.predict(z).is_finite());
        prop_assert!(mem.predict(f32::MAX).is_finite() && mem.predict(f32::MIN).is_finite());
    }

    /// The truncated window agrees with the dense sum over all centres within 1e−6 relative
    /// to θ's scale (the parity measure of docs/algorithm.md §13: when θ spans decades, f32
    /// rounding of the kernel weights alone moves a small η by more than 1e−6 of itself, in any
    /// evaluation order).
    #[test]
    fn truncated_prediction_equals_dense(c in config(), gs in grads(4, 5), z in -1.5f32..1.5) {
        let mem = trained(c, &gs);
        let dense = Memory::restore(MemoryConfig { cutoff: f32::INFINITY, ..c }, mem.theta().to_vec(), mem.rule_state().clone()).unwrap();
        let (a, b) = (mem.predict(z * c.clip), dense.predict(z * c.clip));
        let scale = mem.theta().iter().fold(0.0f32, |m, t| m.max(*t));
        prop_assert!((a - b).abs() <= 1e-6 * scale, "truncated {} dense {} (max θ {})", a, b, scale);
        prop_assert!(rel(a, b) <= 1e-4, "truncated {} dense {}", a, b);
    }

    /// The truncated memory update (G) agrees with the dense one.
    #[test]
    fn truncated_update_equals_dense(c in config(), prev in prop::collection::vec(-1.2f32..1.2, 1..64), flip in any::<u64>()) {
        let cur: Vec<f32> = prev.iter().enumerate().map(|(i, p)| if flip >> (i % 64) & 1 == 1 { -p } else { *p * 0.5 }).collect();
        let scale = |v: &[f32]| v.iter().map(|x| x * c.clip).collect::<Vec<_>>();
        let (prev, cur) = (scale(&prev), scale(&cur));
        let mut t = Memory::new(c).unwrap();
        let mut d = Memory::new(MemoryConfig { cutoff: f32::INFINITY, ..c }).unwrap();
        let m = t.theta().len();
        let (mut gt, mut gd) = (vec![0.0; m], vec![0.0; m]);
        t.gradient(&prev, &cur, &mut gt).unwrap();
        d.gradient(&prev, &cur, &mut gd).unwrap();
        let scale = gd.iter().fold(0.0f32, |a, g| a.max(g.abs())).max(1e-30);
        for (a, b) in gt.iter().zip(&gd) {
            prop_assert!((a - b).abs() <= 1e-6 * scale, "G truncated {:?} dense {:?}", gt, gd);
        }
    }

    /// Gradients that all keep their sign never lower any θ_m …
    #[test]
    fn agreeing_signals_never_lower_theta(c in config(), base in prop::collection::vec(0.01f32..1.0, 1..20), steps in 1usize..8, neg in any::<bool>()) {
        let mut mem = Memory::new(c).unwrap();
        let mut trace = Trace::new(base.len());
        let mut before = mem.theta().to_vec();
        for s in 0..steps {
            let g: Vec<f32> = base.iter().map(|b| b * c.clip * (1.0 + s as f32 * 0.1) * if neg { -1.0 } else { 1.0 }).collect();
            mem.step(&mut trace, &g, |_, _, _| {}).unwrap();
            for (a, b) in mem.theta().iter().zip(&before) { prop_assert!(a >= b, "theta fell: {} < {}", a, b); }
            before = mem.theta().to_vec();
        }
    }

    /// … and gradients that all flip their sign never raise one.
    #[test]
    fn flipping_signals_never_raise_theta(c in config(), base in prop::collection::vec(0.01f32..1.0, 1..20), steps in 1usize..8) {
        let mut mem = Memory::new(c).unwrap();
        let mut trace = Trace::new(base.len());
        let mut before = mem.theta().to_vec();
        for s in 0..steps {
            let sign = if s % 2 == 0 { 1.0 } else { -1.0 };
            let g: Vec<f32> = base.iter().map(|b| sign * b * c.clip).collect();
            mem.step(&mut trace, &g, |_, _, _| {}).unwrap();
            for (a, b) in mem.theta().iter().zip(&before) { prop_assert!(a <= b, "theta rose: {} > {}", a, b); }
            before = mem.theta().to_vec();
        }
    }

    /// The memory update does not depend on the order of the coordinates.
    #[test]
    fn update_invariant_to_permutation(c in config(), pairs in prop::collection::vec((-1.5f32..1.5, -1.5f32..1.5), 2..50), rot in 1usize..49) {
        let (prev, cur): (Vec<f32>, Vec<f32>) = pairs.iter().map(|&(a, b)| (a * c.clip, b * c.clip)).unzip();
        let r = rot % prev.len();
        let mut p2 = prev.clone(); p2.rotate_left(r);
        let mut c2 = cur.clone(); c2.rotate_left(r);
        p2.reverse(); c2.reverse();
        let (mut a, mut b) = (Memory::new(c).unwrap(), Memory::new(c).unwrap());
        a.learn(&prev, &cur).unwrap();
        b.learn(&p2, &c2).unwrap();
        for (x, y) in a.theta().iter().zip(b.theta()) {
            prop_assert!(rel(*x, *y) <= 1e-6, "{:?} vs {:?}", a.theta(), b.theta());
        }
    }

    /// A zero signal (current gradient 0) leaves θ exactly unchanged under SGD.
    #[test]
    fn zero_signal_leaves_theta_under_sgd(mut c in config(), prev in prop::collection::vec(-2.0f32..2.0, 1..40), lr in 0.0f32..1.0) {
        c.optimizer = MemoryOptimizer::sgd(lr);
        let mut mem = Memory::new(c).unwrap();
        let zeros = vec![0.0; prev.len()];
        mem.learn(&prev, &zeros).unwrap();
        prop_assert_eq!(mem.theta(), &vec![c.eta0; mem.theta().len()][..]);
    }

    /// save → load restores config, θ and the optimizer state bit for bit.
    #[test]
    fn save_load_is_bit_exact(c in config(), gs in grads(6, 5)) {
        let mem = trained(c, &gs);
        let back = Memory::from_bytes(&mem.to_bytes().unwrap()).unwrap();
        prop_assert_eq!(back.theta().iter().map(|t| t.to_bits()).collect::<Vec<_>>(), mem.theta().iter().map(|t| t.to_bits()).collect::<Vec<_>>());
        prop_assert_eq!(back.rule_state(), mem.rule_state());
        prop_assert_eq!(back.config(), mem.config());
        prop_assert_eq!(back.to_bytes().unwrap(), mem.to_bytes().unwrap());
    }

    /// Damaged bytes give an error, never a panic: truncation, flipped bytes, random bytes.
    #[test]
    fn corrupt_bytes_are_errors(c in config(), cut in any::<prop::sample::Index>(), flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4), junk in prop::collection::vec(any::<u8>(), 0..200)) {
        let bytes = Memory::new(c).unwrap().to_bytes().unwrap();
        prop_assert!(Memory::from_bytes(&bytes[..cut.index(bytes.len())]).is_err());
        let mut flipped = bytes.clone();
        for (i, x) in &flips { let i = i.index(flipped.len()); flipped[i] ^= x; }
        // A flip may land on a float that stays valid; then loading must still succeed cleanly.
        if let Ok(m) = Memory::from_bytes(&flipped) { prop_assert!(m.config().validate().is_ok()); }
        let _ = Memory::from_bytes(&junk);
        let mut prefixed = b"LRMEM\x01\x00\x01".to_vec();
        prefixed.extend_from_slice(&junk);
        let _ = Memory::from_bytes(&prefixed);
    }

    /// NaN and ∞ never reach θ: an error by default (θ untouched), skipped under `NonFinite::Skip`.
    #[test]
    fn non_finite_never_reaches_theta(mut c in config(), g in prop::collection::vec(-1.0f32..1.0, 2..20), at in any::<prop::sample::Index>(), skip in any::<bool>()) {
        c.non_finite = if skip { NonFinite::Skip } else { NonFinite::Error };
        let mut mem = Memory::new(c).unwrap();
        let mut trace = Trace::new(g.len());
        mem.step(&mut trace, &g, |_, _, _| {}).unwrap();
        let theta = mem.theta().to_vec();
        let mut bad = g.clone();
        bad[at.index(g.len())] = f32::NAN;
        let mut touched = false;
        let r = mem.step(&mut trace, &bad, |d, eta, _| { touched |= !eta.is_finite(); let _ = d; });
        prop_assert_eq!(r.is_ok(), skip);
        if !skip { prop_assert_eq!(mem.theta(), &theta[..]); }
        prop_assert!(mem.theta().iter().all(|t| t.is_finite()) && !touched);
        prop_assert!(trace.previous().iter().all(|t| t.is_finite()));
    }

    /// The signal is bounded by 1 in magnitude and has the sign of the product.
    #[test]
    fn signal_bounded(a in -1e6f32..1e6, b in -1e6f32..1e6) {
        for s in [Signal::ClippedProduct, Signal::Sign] {
            let v = s.eval(a, b);
            prop_assert!((-1.0..=1.0).contains(&v));
            prop_assert!(v == 0.0 || (v > 0.0) == (a * b > 0.0));
        }
    }

    /// Invalid configs are rejected with an error, never a panic.
    #[test]
    fn invalid_configs_are_errors(m in 0usize..3, clip in -1.0f32..0.01, eta0 in -1.0f32..3.0) {
        let c = MemoryConfig { num_centers: m, clip, eta0, ..MemoryConfig::default() };
        let valid = m >= 2 && clip > 0.0 && eta0 > 1e-9 && eta0 <= 1.0;
        prop_assert_eq!(Memory::new(c).is_ok(), valid);
    }
}

#[test]
fn literal_two_centre_memory() {
    // Centres at ±1, σ = 0.5·2 = 1. θ = [0.1, 0.3]: η(0) is their mean, η(1) weights the right
    // centre by 1 and the left by e^{-2}.
    let c = MemoryConfig {
        num_centers: 2,
        clip: 1.0,
        lm_scale: 0.5,
        eta0: 0.1,
        ..MemoryConfig::default()
    };
    let mut mem = Memory::new(c).unwrap();
    mem.set_theta(&[0.1, 0.3]).unwrap();
    assert!((mem.predict(0.0) - 0.2).abs() < 1e-7);
    let e = (-2.0f64).exp();
    let want = (0.3 + 0.1 * e) / (1.0 + e);
    assert!((mem.predict(1.0) as f64 - want).abs() < 1e-7);
    assert!(
        (mem.predict(50.0) as f64 - want).abs() < 1e-7,
        "clipped to +1"
    );
}

#[test]
fn literal_sgd_update() {
    // M = 3 at [-1, 0, 1], σ = 0.5. One coordinate: prev = 0.5, cur = 0.5 → s = 0.25.
    // ψ(0.5) = [e^{-4.5}, e^{-0.5}, e^{-0.5}]; G = 0.25·ψ; θ += 0.1·G.
    let c = MemoryConfig {
        num_centers: 3,
        clip: 1.0,
        eta0: 0.01,
        optimizer: MemoryOptimizer::sgd(0.1),
        ..MemoryConfig::default()
    };
    let mut mem = Memory::new(c).unwrap();
    mem.learn(&[0.5], &[0.5]).unwrap();
    let psi = [(-4.5f64).exp(), (-0.5f64).exp(), (-0.5f64).exp()];
    for (t, p) in mem.theta().iter().zip(psi) {
        let want = 0.01 + 0.1 * 0.25 * p;
        assert!((*t as f64 - want).abs() < 1e-8, "{t} vs {want}");
    }
}

#[test]
fn literal_adam_first_steps() {
    // Adam on θ: the first update sees G = 0 (z_{-1} = 0) but counts as t = 1;
    // the second has |step| ≈ ξ·√(1−β₂²)/(1−β₁²)·m/√v.
    let c = MemoryConfig {
        num_centers: 2,
        clip: 1.0,
        eta0: 0.5,
        optimizer: MemoryOptimizer::adam(0.01),
        ..MemoryConfig::default()
    };
    let mut mem = Memory::new(c).unwrap();
    let mut trace = Trace::new(1);
    mem.step(&mut trace, &[1.0], |_, _, _| {}).unwrap();
    assert_eq!(mem.theta(), &[0.5, 0.5]);
    assert_eq!(mem.rule_state().step, 1);
    mem.step(&mut trace, &[1.0], |_, _, _| {}).unwrap();
    // G = [ψ(1) at -1, ψ(1) at +1] = [e^{-2}, 1]; m = 0.1G, v = 0.001G²;
    // step = 0.01·√(1−0.999²)/(1−0.9²)·(0.1G)/(√(0.001)|G| + 1e-8) ≈ 0.01 · 0.0447/0.19 · 3.1623
    let step = 0.01 * (1.0f64 - 0.999f64.powi(2)).sqrt() / (1.0 - 0.81) * 0.1 / 0.001f64.sqrt();
    for t in mem.theta() {
        assert!(
            (*t as f64 - (0.5 + step)).abs() < 1e-5,
            "{t} vs {}",
            0.5 + step
        );
    }
}

#[test]
fn reset_keeps_theta_only() {
    let c = MemoryConfig {
        optimizer: MemoryOptimizer::adam(0.05),
        ..MemoryConfig::default()
    };
    let mut mem = Memory::new(c).unwrap();
    let mut trace = Trace::new(3);
    for _ in 0..5 {
        mem.step(&mut trace, &[0.3, 0.2, -0.1], |_, _, _| {})
            .unwrap();
    }
    let theta = mem.theta().to_vec();
    assert!(theta.iter().any(|t| *t != c.eta0));
    mem.reset();
    trace.reset();
    assert_eq!(mem.theta(), &theta[..]);
    assert_eq!(mem.rule_state().step, 0);
    assert!(mem.rule_state().m.iter().all(|x| *x == 0.0));
    assert!(trace.previous().iter().all(|x| *x == 0.0));
}

#[test]
fn length_mismatch_is_an_error() {
    let mut mem = Memory::new(MemoryConfig::default()).unwrap();
    let mut trace = Trace::new(3);
    assert!(mem.step(&mut trace, &[1.0, 2.0], |_, _, _| {}).is_err());
    assert!(mem.learn(&[1.0], &[1.0, 2.0]).is_err());
    let mut out = [0.0; 2];
    assert!(mem.predict_into(&[1.0], &mut out).is_err());
}

/// What validation must refuse, each a config that was accepted and broke a promise: rates that
/// overflow (θ_max or ξ near `f32::MAX`), negative rates (gradient ascent), and non-finite previous
/// queries handed to the public `learn`/`gradient`, which made θ NaN. Refusals change nothing.
#[test]
fn validation_closes_the_gaps() {
    use lrmem_memory_core::{MemoryError, MAX_RATE};
    let invalid = |c: MemoryConfig, field: &str| {
        let err = Memory::new(c).unwrap_err();
        assert!(
            matches!(&err, MemoryError::InvalidConfig { field: f, .. } if *f == field),
            "{c:?}: {err:?}"
        );
    };
    let d = MemoryConfig::default();
    invalid(
        MemoryConfig {
            eta0: f32::MAX,
            theta_max: f32::MAX,
            ..d
        },
        "theta_max",
    );
    invalid(
        MemoryConfig {
            theta_max: MAX_RATE * 2.0,
            ..d
        },
        "theta_max",
    );
    for bad in [-MAX_RATE * 2.0, f32::NAN, 1.0] {
        invalid(
            MemoryConfig {
                theta_min: bad,
                ..d
            },
            "theta_min",
        );
    }
    for opt in [
        MemoryOptimizer::adam(f32::MAX),
        MemoryOptimizer::sgd(f32::MAX),
        MemoryOptimizer::momentum(MAX_RATE * 2.0),
    ] {
        invalid(
            MemoryConfig {
                optimizer: opt,
                ..d
            },
            "optimizer.lr",
        );
    }
    // The limits themselves are accepted, and give finite rates and θ.
    let edge = MemoryConfig {
        eta0: MAX_RATE,
        theta_max: MAX_RATE,
        theta_min: 0.0,
        optimizer: MemoryOptimizer::adam(MAX_RATE),
        ..d
    };
    let mut mem = Memory::new(edge).unwrap();
    let mut trace = Trace::new(3);
    for g in [[0.5f32, -0.5, 1e-3], [0.5, 0.5, -1e-3], [-0.2, 0.1, 0.0]] {
        mem.step(&mut trace, &g, |_, eta, _| assert!(eta.is_finite()))
            .unwrap();
    }
    assert!(mem.theta().iter().all(|t| t.is_finite()));

    let mut mem = Memory::new(d).unwrap();
    let theta = mem.theta().to_vec();
    for bad in [f32::NAN, f32::INFINITY] {
        let prev = [0.1, bad, 0.2];
        let err = mem.learn(&prev, &[0.1, 0.1, 0.1]).unwrap_err();
        assert!(
            matches!(err, MemoryError::NonFiniteGradient { index: 1, .. }),
            "{err:?}"
        );
        let mut out = vec![0.0; mem.theta().len()];
        assert!(mem.gradient(&prev, &[0.1, 0.1, 0.1], &mut out).is_err());
        assert_eq!(mem.theta(), &theta[..]);
    }
}

/// A saved memory ends with a CRC-32C: every single-byte corruption and every truncation is
/// refused. Memories saved before the checksum (format version 1, `tests/fixtures/memory_v1.bin`)
/// still load, equal to the memory the same steps reach today.
#[test]
fn saved_memories_are_checksummed() {
    let config = MemoryConfig {
        clip: 2.0,
        eta0: 0.01,
        optimizer: MemoryOptimizer::adam(0.05),
        ..MemoryConfig::default()
    };
    let mut mem = Memory::new(config).unwrap();
    let mut trace = Trace::new(3);
    for t in 0..4 {
        let g: Vec<f32> = (0..3)
            .map(|i| std::hint::black_box((i + 3 * t) as f32 * 0.7).sin() * 1.3)
            .collect();
        mem.step(&mut trace, &g, |_, _, _| {}).unwrap();
    }
    let bytes = mem.to_bytes().unwrap();
    assert_eq!(Memory::from_bytes(&bytes).unwrap(), mem);
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut damaged = bytes.clone();
            damaged[i] ^= flip;
            assert!(
                Memory::from_bytes(&damaged).is_err(),
                "byte {i} ^ {flip:#x} loaded"
            );
        }
    }
    for cut in 0..bytes.len() {
        assert!(Memory::from_bytes(&bytes[..cut]).is_err(), "{cut} bytes");
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/memory_v1.bin");
    let v1 = std::fs::read(path).unwrap();
    assert_eq!(u16::from_le_bytes([v1[5], v1[6]]), 1);
    assert_eq!(Memory::from_bytes(&v1).unwrap(), mem);
}

/// The new options are validated like every field, and a refused step changes nothing, the
/// running query scale included.
#[test]
fn variant_options_are_checked() {
    let invalid = |c: MemoryConfig, field: &str| match Memory::new(c) {
        Err(MemoryError::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
        other => panic!("{field}: {other:?}"),
    };
    invalid(
        MemoryConfig {
            space: ThetaSpace::Log,
            theta_min: 0.0,
            ..MemoryConfig::default()
        },
        "theta_min",
    );
    for beta in [0.0, 1.0, f32::NAN] {
        invalid(
            MemoryConfig {
                scale: QueryScale::Rms { beta },
                ..MemoryConfig::default()
            },
            "scale.beta",
        );
    }
    for keep in [-0.1, 1.5, f32::NAN] {
        invalid(
            MemoryConfig {
                reload: Reload::Decay { keep },
                ..MemoryConfig::default()
            },
            "reload.keep",
        );
    }
    let mut mem = Memory::new(MemoryConfig {
        scale: QueryScale::Rms { beta: 0.9 },
        ..MemoryConfig::default()
    })
    .unwrap();
    let mut trace = Trace::new(3);
    mem.step(&mut trace, &[0.1, -0.2, 0.3], |_, _, _| {})
        .unwrap();
    let (before, scale) = (mem.clone(), trace.clone());
    assert!(mem
        .step(&mut trace, &[0.1, f32::NAN, 0.3], |_, _, _| {})
        .is_err());
    assert!(mem.step(&mut trace, &[0.1, 0.3], |_, _, _| {}).is_err());
    assert_eq!(mem, before);
    assert_eq!(trace, scale);
}

/// A configured θ_min below zero lets θ, and so the rates, go negative where the signal says
/// that a step against the gradient did harm (MAML's meta-training inner rate); the bound holds.
#[test]
fn a_negative_theta_min_gives_negative_rates() {
    let mut m = Memory::new(MemoryConfig {
        num_centers: 3,
        eta0: 0.5,
        theta_min: -1.0,
        signal: Signal::Sign,
        optimizer: MemoryOptimizer::sgd(0.2),
        ..MemoryConfig::default()
    })
    .unwrap();
    let (prev, cur) = ([0.5f32; 4], [-0.5f32; 4]);
    for _ in 0..40 {
        m.learn(&prev, &cur).unwrap();
    }
    let rate = m.predict(0.5);
    assert!(rate < 0.0, "{rate}");
    assert!(
        m.theta().iter().all(|&t| (-1.0..=0.5).contains(&t)),
        "{:?}",
        m.theta()
    );
    assert!(m.theta().iter().any(|&t| t == -1.0), "{:?}", m.theta());
}
