//! The vectorised paths of large tensors against the reference paths, through the public API:
//! the binned update against the dense sum, `step_blocks` against `step`, the CPU-specific
//! kernels against the portable ones, and non-finite gradients on the fast path.

mod common;

use common::scaled_error;
use lrmem_memory_core::{
    Kernels, Memory, MemoryConfig, MemoryError, MemoryOptimizer, NonFinite, Signal, Trace,
};

/// Deterministic gradients: clipped, concentrated, spread and zero coordinates.
fn grads(n: usize, clip: f32, seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
            clip * match i % 5 {
                0 => 2.0 * u.signum(),
                1 => 1e-3 * u,
                2 => 0.0,
                _ => 1.1 * u,
            }
        })
        .collect()
}

fn config(m: usize, clip: f32, lm_scale: f32, signal: Signal) -> MemoryConfig {
    MemoryConfig {
        num_centers: m,
        clip,
        lm_scale,
        signal,
        eta0: 1e-2,
        optimizer: MemoryOptimizer::adam(1e-2),
        ..MemoryConfig::default()
    }
}

#[test]
fn large_tensor_update_matches_dense_sum() {
    for (m, clip, lm, signal) in [
        (20, 1.0, 0.5, Signal::ClippedProduct),
        (100, 10.0, 0.5, Signal::Sign),
        (7, 0.5, 0.3, Signal::ClippedProduct),
    ] {
        let c = config(m, clip, lm, signal);
        let (prev, cur) = (grads(300_000, clip, 1), grads(300_000, clip, 2));
        let mut fast = Memory::new(c).unwrap();
        let mut dense = Memory::new(MemoryConfig {
            cutoff: f32::INFINITY,
            ..c
        })
        .unwrap();
        let (mut gf, mut gd) = (vec![0.0; m], vec![0.0; m]);
        fast.gradient(&prev, &cur, &mut gf).unwrap();
        dense.gradient(&prev, &cur, &mut gd).unwrap();
        let e = scaled_error(&gf, &gd);
        assert!(
            e <= 1e-6,
            "M={m}: G off by {e:e} of its scale\n{gf:?}\n{gd:?}"
        );
    }
}

/// `step_blocks` is `step`; the default kernels ([`Kernels::Reproducible`]) give the portable
/// kernels' bits on every CPU (a checkpoint resumes identically on a machine with another
/// instruction set); [`Kernels::Fastest`] agrees to float rounding.
#[test]
fn step_blocks_equals_step_and_kernels_keep_their_promises() {
    for (d, steps) in [(37, 6), (1_000, 200), (5_000, 6), (200_000, 6)] {
        let c = config(20, 1.0, 0.5, Signal::ClippedProduct);
        let mut mems: Vec<Memory> = (0..4).map(|_| Memory::new(c).unwrap()).collect();
        assert_eq!(mems[0].kernels(), Kernels::Reproducible);
        mems[2].set_kernels(Kernels::Portable);
        mems[3].set_kernels(Kernels::Fastest);
        let mut traces = vec![Trace::new(d); 4];
        let mut ws = vec![vec![0.5f32; d]; 4];
        for s in 0..steps {
            let g = grads(d, 1.0, s);
            for (i, ((mem, trace), w)) in mems.iter_mut().zip(&mut traces).zip(&mut ws).enumerate()
            {
                if i == 1 {
                    mem.step_blocks(trace, &g, |start, etas, zs| {
                        for (k, (&e, &z)) in etas.iter().zip(zs).enumerate() {
                            w[start + k] -= e * z;
                        }
                    })
                    .unwrap();
                } else {
                    mem.step(trace, &g, |k, eta, z| w[k] -= eta * z).unwrap();
                }
            }
        }
        for i in [1, 2] {
            assert_eq!(mems[i].theta(), mems[0].theta(), "D={d} memory {i} θ");
            assert_eq!(ws[i], ws[0], "D={d} memory {i} w");
            assert_eq!(traces[i], traces[0], "D={d} memory {i} trace");
        }
        assert!(
            scaled_error(mems[3].theta(), mems[0].theta()) <= 1e-5,
            "D={d} fastest θ"
        );
        assert!(scaled_error(&ws[3], &ws[0]) <= 1e-5, "D={d} fastest w");
    }
}

#[test]
fn non_finite_on_the_fast_path() {
    let d = 100_000;
    let c = config(20, 1.0, 0.5, Signal::ClippedProduct);
    // Error: nothing changes, and the error names the first bad coordinate.
    let mut mem = Memory::new(c).unwrap();
    let mut trace = Trace::new(d);
    mem.step(&mut trace, &grads(d, 1.0, 1), |_, _, _| {})
        .unwrap();
    let (theta, prev) = (mem.theta().to_vec(), trace.clone());
    let mut bad = grads(d, 1.0, 2);
    bad[77_777] = f32::NAN;
    bad[88_888] = f32::INFINITY;
    let err = mem.step(&mut trace, &bad, |_, _, _| {}).unwrap_err();
    assert!(matches!(
        err,
        MemoryError::NonFiniteGradient { index: 77_777, .. }
    ));
    assert_eq!(mem.theta(), &theta[..]);
    assert_eq!(trace, prev);
    // Skip: the same as a zero gradient there, except that the coordinate is not applied.
    let skip = MemoryConfig {
        non_finite: NonFinite::Skip,
        ..c
    };
    let (mut s, mut z) = (Memory::new(skip).unwrap(), Memory::new(skip).unwrap());
    let (mut ts, mut tz) = (Trace::new(d), Trace::new(d));
    let first = grads(d, 1.0, 1);
    s.step(&mut ts, &first, |_, _, _| {}).unwrap();
    z.step(&mut tz, &first, |_, _, _| {}).unwrap();
    let mut zeroed = bad.clone();
    zeroed[77_777] = 0.0;
    zeroed[88_888] = 0.0;
    let mut touched = Vec::new();
    s.step_blocks(&mut ts, &bad, |start, etas, zs| {
        for (i, (&e, &x)) in etas.iter().zip(zs).enumerate() {
            if start + i == 77_777 || start + i == 88_888 {
                touched.push((e, x));
            }
        }
    })
    .unwrap();
    z.step(&mut tz, &zeroed, |_, _, _| {}).unwrap();
    assert_eq!(touched, vec![(0.0, 0.0), (0.0, 0.0)]);
    assert!(scaled_error(s.theta(), z.theta()) <= 1e-6);
    assert_eq!(ts.previous()[77_777], 0.0);
}

#[test]
fn rates_in_blocks_equal_single_predictions() {
    let c = config(100, 3.0, 0.5, Signal::ClippedProduct);
    let mut mem = Memory::new(c).unwrap();
    let theta: Vec<f32> = (0..100i32).map(|i| 10f32.powi(-(i * 3 % 9))).collect();
    mem.set_theta(&theta).unwrap();
    let z = grads(10_001, 3.0, 9);
    let mut seen = 0;
    mem.for_each_rate_block(&z, |start, etas, zs| {
        assert!(etas.len() <= 256 && etas.len() == zs.len());
        assert_eq!(start, seen);
        seen += etas.len();
        for (i, (&e, &c)) in etas.iter().zip(zs).enumerate() {
            let want = mem.predict(z[start + i]);
            assert!((e - want).abs() <= 2e-6 * want, "{e} vs {want}");
            assert_eq!(c, z[start + i].clamp(-3.0, 3.0));
        }
    });
    assert_eq!(seen, z.len());
}

/// Narrow kernels give finite rates and a finite θ on every path: every lm_scale from the
/// minimum up, with the default cutoff and the dense one, both layouts, small and large tensors
/// (`lm_scale` ≤ 0.107 gave NaN: the window recurrence divided by an exponential that underflowed).
/// Narrower than the minimum is a typed error.
#[test]
fn narrow_kernels_give_finite_rates() {
    use lrmem_memory_core::{Layout, MIN_LM_SCALE};
    let queries: Vec<f32> = (0..=400).map(|i| -1.2 + i as f32 * 0.006).collect();
    for layout in [Layout::Linear, Layout::Log] {
        for cutoff in [9.0, f32::INFINITY] {
            for lm_scale in [
                MIN_LM_SCALE,
                1e-4,
                0.01,
                0.05,
                0.056,
                0.08,
                0.1,
                0.107,
                0.11,
                0.2,
                0.5,
                3.0,
            ] {
                let c = MemoryConfig {
                    layout,
                    cutoff,
                    ..config(20, 1.0, lm_scale, Signal::ClippedProduct)
                };
                let what = format!("{layout:?}, cutoff {cutoff}, lm_scale {lm_scale}");
                let mut mem = Memory::new(c).unwrap();
                for &z in queries.iter().chain(&[-0.936_842_1, 0.0, 1.0, -1.0]) {
                    let eta = mem.predict(z);
                    assert!(eta.is_finite() && eta > 0.0, "{what}: η̂({z}) = {eta}");
                }
                for d in [7, 5_000] {
                    let mut trace = Trace::new(d);
                    for seed in 0..4 {
                        let g = grads(d, 1.0, seed);
                        mem.step(&mut trace, &g, |_, eta, _| {
                            assert!(eta.is_finite(), "{what}: a rate is {eta}");
                        })
                        .unwrap();
                    }
                    assert!(
                        mem.theta().iter().all(|t| t.is_finite()),
                        "{what}: θ {:?}",
                        mem.theta()
                    );
                }
            }
        }
    }
    for bad in [MIN_LM_SCALE / 2.0, 1e-20, 0.0, -0.5, f32::NAN] {
        let err = Memory::new(config(20, 1.0, bad, Signal::ClippedProduct)).unwrap_err();
        assert!(
            matches!(
                err,
                MemoryError::InvalidConfig {
                    field: "lm_scale",
                    ..
                }
            ),
            "{bad}: {err:?}"
        );
    }
}
