//! The kernels against the reference and against each other: the tiers this CPU runs bit for
//! bit, the binned update within its error bound of the exact sums (module `plan`), the
//! vectorised prediction against `Memory::predict`, the table within its certified bound.

use alloc::vec;
use alloc::vec::Vec;

use super::plan::{bin_error_bound, x_of, X_BIN};
use super::portable::{clear_bins, flush_bins, fold_rows};
use super::table::{Shape, Table, SUB, TOLERANCE};
use super::{Isa, Kernels, Plan, Tier, BLOCK};
use crate::kernel::{Grid, Layout};
use crate::reference::exact;
use crate::signal::Signal;

/// The grids of the tier tests, (M, clip, lm_scale): the default, many centres, few wide
/// kernels, narrow kernels, the fewest centres; each with both signals.
fn cases() -> impl Iterator<Item = ((usize, f32, f32), Signal)> {
    let grids = [
        (20, 1.0, 0.5),
        (100, 10.0, 0.5),
        (5, 0.3, 1.0),
        (33, 2.0, 0.3),
        (2, 1.0, 0.5),
    ];
    grids
        .into_iter()
        .flat_map(|g| [(g, Signal::ClippedProduct), (g, Signal::Sign)])
}

/// A deterministic mix of gradient values: clipped, concentrated near 0, spread, exact zeros.
fn values(n: usize, clip: f32, seed: u64) -> Vec<f32> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|i| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0;
            match i % 7 {
                0 => 3.0 * clip * u.signum(),
                1 => 1e-3 * clip * u,
                2 => 0.0,
                3 => 1e-6 * u,
                _ => 1.2 * clip * u,
            }
        })
        .collect()
}

fn plan(m: usize, clip: f32, lm_scale: f32, signal: Signal) -> (Grid, Plan) {
    let grid = Grid::new(Layout::Linear, m, clip, lm_scale, 9.0);
    let plan = Plan::new(&grid, clip, signal).expect("uniform grid");
    (grid, plan)
}

/// Every tier this CPU can run.
fn isas() -> Vec<Isa> {
    let mut v = vec![Isa::select(Kernels::Portable)];
    for k in [Kernels::Reproducible, Kernels::Fastest] {
        if !v.contains(&Isa::select(k)) {
            v.push(Isa::select(k));
        }
    }
    v
}

/// The portable kernels and the tier [`Kernels::Reproducible`] picks on this CPU (AVX2 +
/// FMA where present) give the same bits: rates, clipped queries, rows and bins.
#[test]
fn reproducible_tier_is_bit_identical_to_portable() {
    let tiers = [
        Isa::select(Kernels::Portable),
        Isa::select(Kernels::Reproducible),
    ];
    for ((m, clip, lm), signal) in cases() {
        let (_, p) = plan(m, clip, lm, signal);
        let n = 20_011;
        let (prev, cur) = (values(n, clip, m as u64), values(n, clip, 9 + m as u64));
        let theta: Vec<f32> = (0..m).map(|i| 10f32.powi(-((i * 7 % 10) as i32))).collect();
        let mut padded = vec![0.0f32; m + 2 * p.k];
        padded[p.k..p.k + m].copy_from_slice(&theta);
        let outputs = tiers.map(|isa| {
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            let bits32 = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            let mut rows = vec![0.0f64; p.m * p.window()];
            on_tier!(isa, t => t.accumulate_rows(&p, &prev, &cur, &mut rows));
            let mut bins = vec![[0.0f64; 4]; p.bin_scratch()];
            let range = on_tier!(isa, t => t.accumulate_bins(&p, &prev, &cur, &mut bins));
            let binned = bits(bins.as_flattened());
            let mut flushed = vec![0.0f64; p.m];
            on_tier!(isa, t => t.flush_bins(&p, &mut bins, range.0, range.1, &mut flushed));
            let (mut eta, mut zc) = (vec![0.0f32; n], vec![0.0f32; n]);
            for ((zb, eb), cb) in cur
                .chunks(BLOCK)
                .zip(eta.chunks_mut(BLOCK))
                .zip(zc.chunks_mut(BLOCK))
            {
                on_tier!(isa, t => t.predict_block(&p, &padded, zb, eb, cb));
            }
            // The tabulated prediction: its table and its evaluation, each on the tier.
            let mut table = Table::new(&p);
            let eps = on_tier!(isa, t => t.build_table(&mut table, &padded, 0..m));
            let mut tabled = vec![0.0f32; n];
            for (zb, eb) in cur.chunks(BLOCK).zip(tabled.chunks_mut(BLOCK)) {
                on_tier!(isa, t => t.predict_table(&table, zb, eb, &mut [0.0; BLOCK]));
            }
            (
                bits(&rows),
                binned,
                range,
                bits(&flushed),
                bits32(&eta),
                bits32(&zc),
                bits32(&tabled),
                bits32(table.coefficients().as_flattened()),
                eps.to_bits(),
            )
        });
        let names = tiers.map(|t| t.name());
        assert!(
            outputs[0] == outputs[1],
            "m={m}: {} and {} kernels differ",
            names[0],
            names[1]
        );
    }
}

#[test]
fn bins_meet_their_error_target() {
    for (m, lm) in [
        (2, 0.5),
        (20, 0.5),
        (100, 0.5),
        (10, 1.0),
        (33, 0.2),
        (20, 1.6),
    ] {
        let (grid, p) = plan(m, 1.0, lm, Signal::default());
        if let Some(b) = &p.bins {
            let x = x_of(grid.h() as f64, p.k, b.nb);
            assert!(x <= X_BIN, "m {m} lm {lm}: x {x}");
            assert!(bin_error_bound(x) < 1.2e-7);
        }
    }
}

#[test]
fn binned_update_error_bound() {
    for ((m, clip, lm), signal) in cases() {
        let (grid, p) = plan(m, clip, lm, signal);
        let n = 20_011;
        let prev = values(n, clip, m as u64);
        let cur: Vec<f32> = values(n, clip, 7 + m as u64);
        let (want, mag) = exact::gradient(&grid, clip, signal, &prev, &cur);
        for isa in isas() {
            // Exact rows.
            let mut acc = vec![0.0; p.m * p.window()];
            on_tier!(isa, t => t.accumulate_rows(&p, &prev, &cur, &mut acc));
            let mut rows = vec![0.0; p.m];
            fold_rows(&p, &acc, &mut rows);
            // Bins.
            let e = p.bin_entries();
            let mut bins = vec![[0.0; 4]; p.bin_scratch()];
            let (lo, hi, finite) =
                on_tier!(isa, t => t.accumulate_bins(&p, &prev, &cur, &mut bins));
            assert!(finite);
            let mut binned = vec![0.0; p.m];
            flush_bins(&p, &mut bins, lo, hi, &mut binned);
            assert!(
                bins[..e].iter().all(|q| *q == [0.0; 4]),
                "flush leaves zeros"
            );
            for c in 0..p.m {
                let tol_rows = 1e-7 * mag[c] + 1e-30;
                let tol_bins = 2.5e-7 * mag[c] + 1e-30;
                assert!(
                    (rows[c] - want[c]).abs() <= tol_rows,
                    "{} rows m={m} c={c}: {} vs {}",
                    isa.name(),
                    rows[c],
                    want[c]
                );
                if p.bins.is_some() {
                    assert!(
                        (binned[c] - want[c]).abs() <= tol_bins,
                        "{} bins m={m} c={c}: {} vs {} (|.| {})",
                        isa.name(),
                        binned[c],
                        want[c],
                        mag[c]
                    );
                }
            }
        }
    }
}

#[test]
fn binned_update_reports_non_finite_and_clears() {
    let (_, p) = plan(20, 1.0, 0.5, Signal::ClippedProduct);
    for isa in isas() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let prev = values(10_007, 1.0, 3);
            let mut cur = values(10_007, 1.0, 4);
            cur[5_003] = bad;
            let mut bins = vec![[0.0; 4]; p.bin_scratch()];
            let (lo, hi, finite) =
                on_tier!(isa, t => t.accumulate_bins(&p, &prev, &cur, &mut bins));
            assert!(!finite, "{} missed {bad}", isa.name());
            clear_bins(&p, &mut bins, lo, hi);
            assert!(bins.iter().all(|q| *q == [0.0; 4]));
        }
    }
}

#[test]
fn vectorised_prediction_matches_scalar() {
    for (m, clip, lm) in [
        (20, 1.0, 0.5),
        (100, 10.0, 0.5),
        (5, 0.3, 1.0),
        (60, 2.0, 0.3),
        (2, 1.0, 0.5),
        (200, 1.0, 0.5),
    ] {
        let config = crate::MemoryConfig {
            num_centers: m,
            clip,
            lm_scale: lm,
            ..crate::MemoryConfig::default()
        };
        let mut mem = crate::Memory::new(config).unwrap();
        // θ spread over nine decades, so that the window's weighting matters.
        let theta: Vec<f32> = (0..m).map(|i| 10f32.powi(-((i * 7 % 10) as i32))).collect();
        mem.set_theta(&theta).unwrap();
        let z = values(1001, clip, m as u64);
        for isa in isas() {
            let mut got = vec![0.0f32; z.len()];
            let mut zc = vec![0.0f32; z.len()];
            let (grid, p) = plan(m, clip, lm, Signal::default());
            drop(grid);
            let mut padded = vec![0.0f32; m + 2 * p.k];
            padded[p.k..p.k + m].copy_from_slice(&theta);
            for (i, (zb, (eb, cb))) in z
                .chunks(BLOCK)
                .zip(got.chunks_mut(BLOCK).zip(zc.chunks_mut(BLOCK)))
                .enumerate()
            {
                let _ = i;
                on_tier!(isa, t => t.predict_block(&p, &padded, zb, eb, cb));
            }
            for (d, (&x, &e)) in z.iter().zip(&got).enumerate() {
                let want = mem.predict(x);
                assert!(
                    (e - want).abs() <= 2e-6 * want,
                    "{} m={m} d={d} z={x}: {e} vs {want}",
                    isa.name()
                );
                assert_eq!(zc[d], x.clamp(-clip, clip));
            }
        }
    }
}

fn lcg(seed: u64) -> impl FnMut() -> f64 {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Where the bound certifies the table, the table's rates are within it (plus the f32
/// evaluation's rounding) of the exact prediction, on dense queries, for smooth and for
/// wild θ on several grids; and smooth θ (a learned memory's) is certified.
#[test]
fn certified_bound_holds() {
    for (m, clip, lm) in [
        (20, 1.0, 0.5),
        (100, 10.0, 0.5),
        (5, 0.3, 1.0),
        (33, 2.0, 0.3),
    ] {
        let (grid, p) = plan(m, clip, lm, Signal::default());
        let h = grid.h() as f64;
        let shape = Shape::new(&p);
        let mut rng = lcg(m as u64);
        for case in 0..12 {
            // Cases 0..6: smooth (one to three decades across the grid); then wild
            // (independent draws over nine decades).
            let theta: Vec<f32> = (0..m)
                .map(|i| {
                    let x = i as f64 / (m - 1) as f64;
                    let e = if case < 6 {
                        -3.0 - (case as f64 / 2.0) * libm::sin(3.0 * x + case as f64)
                    } else {
                        -9.0 * rng()
                    };
                    libm::pow(10.0, e) as f32
                })
                .collect();
            let mut padded = vec![0.0f32; m + 2 * p.k];
            padded[p.k..p.k + m].copy_from_slice(&theta);
            let mut coef = Vec::new();
            let eps = shape.build(&padded, 0..m, &mut coef);
            assert_eq!(coef.len(), ((m - 1) * SUB).next_power_of_two());
            // The default width (h = 2) and wider certify smooth θ; narrower kernels
            // change faster and may fall back to the exact prediction.
            if case < 6 && h <= 2.0 {
                assert!(
                    eps <= TOLERANCE,
                    "m {m} case {case}: smooth θ not certified ({eps:e})"
                );
            }
            if eps > 1e-3 {
                continue;
            }
            let th64: Vec<f64> = theta.iter().map(|&t| t as f64).collect();
            let mut worst = 0.0f64;
            for q in 0..20_000 {
                let z = ((rng() * 2.2 - 1.1) * clip as f64) as f32;
                let z = if q % 50 == 0 { clip } else { z };
                let (mut eta, mut zc) = ([0.0f32], [0.0f32]);
                shape.predict_block(clip, &coef, &[z], &mut eta, &mut zc);
                let want = exact::rate(&grid, clip, &th64, z);
                worst = worst.max((eta[0] as f64 - want).abs() / want);
            }
            assert!(
                worst <= eps + 5e-7,
                "m {m} case {case}: error {worst:e} above the bound {eps:e}"
            );
        }
    }
}

/// A memory's step hands out the table's rates where it tabulates, within 10⁻⁶ of the
/// exact prediction of the θ it ends with: gradients in a narrow range (part of the table
/// made) and spread ones (all of it), at sizes on both sides of the thresholds.
#[test]
fn steps_hand_out_tabulated_rates_within_tolerance() {
    use crate::{Memory, MemoryConfig, Trace};
    for (n, spread) in [(600, 0.01f32), (5_000, 0.01), (20_000, 0.02), (20_000, 1.5)] {
        let mut mem = Memory::new(MemoryConfig::default()).unwrap();
        let mut trace = Trace::new(n);
        let mut rng = lcg(n as u64);
        let mut tabulated = 0;
        for t in 0..30 {
            let z: Vec<f32> = (0..n)
                // 70% of the coordinates keep their sign from step to step.
                .map(|d| {
                    let flip = d % 10 < 3 && t % 2 == 1;
                    (spread as f64 * (rng() * 2.0 - 1.0)) as f32 * if flip { -1.0 } else { 1.0 }
                })
                .collect();
            let mut rates = vec![0.0f32; n];
            mem.step_blocks(&mut trace, &z, |s, e, _| {
                rates[s..s + e.len()].copy_from_slice(e)
            })
            .unwrap();
            for (d, (&x, &r)) in z.iter().zip(&rates).enumerate() {
                let want = mem.predict(x);
                assert!(
                    (r - want).abs() <= 1e-6 * want,
                    "n {n} spread {spread} step {t} d {d}: {r} vs {want}"
                );
            }
            tabulated += usize::from(mem.tabulated());
        }
        // Small tensors predict exactly; a larger one tabulates where θ is smooth enough for
        // the bound: nearly always with narrow gradients, in part with spread ones (θ at its
        // floor next to larger θ is not).
        let least = match (n, spread > 1.0) {
            (..=1_000, _) => 0,
            (_, false) => 20,
            (_, true) => 1,
        };
        if least == 0 {
            assert_eq!(tabulated, 0, "n {n} spread {spread}");
        } else {
            assert!(
                tabulated >= least,
                "n {n} spread {spread}: tabulated {tabulated} of 30"
            );
        }
    }
}

/// θ ≤ 0 anywhere is never certified (the bound needs positive weights).
#[test]
fn non_positive_theta_is_not_certified() {
    let (_, p) = plan(20, 1.0, 0.5, Signal::ClippedProduct);
    let shape = Shape::new(&p);
    let mut padded = vec![0.0f32; 20 + 2 * p.k];
    padded[p.k..p.k + 20].fill(1e-3);
    padded[p.k + 7] = 0.0;
    assert!(shape.build(&padded, 0..20, &mut Vec::new()).is_infinite());
}
