//! Configs where each value is valid alone but the combination leaves f32 (docs/algorithm.md
//! §2, "Sound ranges"): the memory either refuses them with a typed error naming the field, or
//! steps them with finite rates, the same ones `predict` gives. Generated at the boundaries.

use lrmem_memory_core::{
    ContextConfig, ContextMemory, ContextTrace, Layout, Memory, MemoryConfig, MemoryError,
    QueryScale, Signal, Trace,
};
use proptest::prelude::*;

/// Steps `mem` on `steps` gradients of `n` coordinates spread over ±2·clip (every other one
/// negative and smaller) and checks that every rate handed out is finite, within [θ_min, θ_max],
/// (to rounding) and what `predict` says for that query (the step may use the table, `predict` never does).
fn check_rates(mut mem: Memory, n: usize, scale: f32, steps: usize) -> Result<(), String> {
    let c = *mem.config();
    let mut trace = Trace::new(n);
    for s in 0..steps {
        let z: Vec<f32> = (0..n)
            .map(|d| {
                let x = ((d * 37 + s * 11) % 101) as f32 / 50.0 - 1.0; // in [−1, 1]
                if d % 2 == 0 {
                    x * scale
                } else {
                    -0.3 * x * scale
                }
            })
            .collect();
        let mut got = vec![f32::NAN; n];
        mem.step_blocks(&mut trace, &z, |start, eta, _| {
            got[start..start + eta.len()].copy_from_slice(eta)
        })
        .map_err(|e| e.to_string())?;
        if mem.theta().iter().any(|t| !t.is_finite()) {
            return Err(format!("step {s}: θ not finite: {:?}", mem.theta()));
        }
        let mut want = vec![0.0f32; n];
        mem.predict_into(&z, &mut want).map_err(|e| e.to_string())?;
        for d in 0..n {
            let (g, w) = (got[d], want[d]);
            // A convex blend of θ, up to its f32 rounding.
            let slack = 1e-6 * c.theta_min.abs().max(c.theta_max.abs());
            if !(g.is_finite() && g >= c.theta_min - slack && g <= c.theta_max + slack) {
                return Err(format!("step {s}: rate {d} = {g} for z = {}", z[d]));
            }
            if (g - w).abs() > 1e-5 * w.abs() + 1e-30 {
                return Err(format!(
                    "step {s}: rate {d} = {g}, predict says {w} (z = {})",
                    z[d]
                ));
            }
        }
    }
    Ok(())
}

/// A tiny clip is sound down to where 1/(2σ²) leaves f32: the step's rates (from the
/// prediction table on 5,000 coordinates) are finite and agree with `predict`; before, every
/// clip ≤ 1e−16 handed out NaN rates while `predict(0)` said η₀.
#[test]
fn tiny_clip_gives_finite_rates() {
    for clip in [1e-15f32, 1e-16, 1e-17, 2e-18] {
        let config = MemoryConfig {
            clip,
            ..MemoryConfig::default()
        };
        for n in [4096, 5000] {
            for scale in [1e-3 * clip, 0.5 * clip, 2.0 * clip] {
                check_rates(Memory::new(config).unwrap(), n, scale, 4)
                    .unwrap_or_else(|e| panic!("clip {clip:e}, n {n}, z ~ {scale:e}: {e}"));
            }
        }
    }
}

/// The widest clip that keeps σ within f32's sound range steps with finite rates for queries
/// at every scale up to it, and the prediction table's f32 knots stay finite.
#[test]
fn wide_clip_gives_finite_rates() {
    let config = MemoryConfig {
        clip: 1.8e19,
        ..MemoryConfig::default()
    };
    for scale in [1e12f32, 1e18, 1.8e19] {
        check_rates(Memory::new(config).unwrap(), 5000, scale, 4)
            .unwrap_or_else(|e| panic!("z ~ {scale:e}: {e}"));
    }
}

fn refused_field(config: MemoryConfig) -> Option<&'static str> {
    match Memory::new(config) {
        Err(MemoryError::InvalidConfig { field, .. }) => Some(field),
        _ => None,
    }
}

/// Where σ = lm_scale·spacing leaves [1e−19, 1e18] (1/(2σ²) overflows or underflows f32), the
/// config is refused naming `clip`: before, clip = 1e−20 or 1e−30 handed out NaN rates on large
/// tensors, and clip = f32::MAX did for queries above ~10³⁵.
#[test]
fn kernel_width_outside_f32_is_refused() {
    for clip in [1e-20f32, 1e-30, 1e-40, 1e20, 1e30, f32::MAX] {
        let config = MemoryConfig {
            clip,
            ..MemoryConfig::default()
        };
        assert_eq!(refused_field(config), Some("clip"), "clip {clip:e}");
    }
    // The combination, not clip alone: a wider kernel or fewer centres make clip = 1e−20 sound.
    let ok = MemoryConfig {
        clip: 1e-20,
        lm_scale: 100.0,
        num_centers: 4,
        ..MemoryConfig::default()
    };
    assert!(Memory::new(ok).is_ok());
    let msg = Memory::new(MemoryConfig {
        clip: 1e-30,
        ..MemoryConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains("lm_scale") && msg.contains("num_centers"),
        "{msg}"
    );
}

/// A context memory whose contexts are closer than 1e−6 (span/(K−1) tiny) is refused: before,
/// span = 1e−30 made every context weight 0/0 = NaN and θ NaN after one step.
#[test]
fn context_spacing_outside_f32_is_refused() {
    let config = ContextConfig {
        span: 1e-30,
        ..ContextConfig::default()
    };
    match ContextMemory::new(config) {
        Err(MemoryError::InvalidConfig { field, .. }) => assert_eq!(field, "span"),
        Ok(mut memory) => {
            let mut trace = ContextTrace::new(4);
            for _ in 0..2 {
                memory
                    .step_blocks(&mut trace, &[0.1, -0.2, 0.3, 0.1], |_, _, _| {})
                    .unwrap();
            }
            panic!("accepted; θ after two steps: {:?}", &memory.theta()[..4]);
        }
        Err(other) => panic!("{other:?}"),
    }
    // One context has no spacing: any span is sound.
    assert!(ContextMemory::new(ContextConfig {
        span: 1e-30,
        contexts: 1,
        ..ContextConfig::default()
    })
    .is_ok());
}

/// The smallest and largest σ of an evenly spaced config, as the grid makes them (f64).
fn sigma_range(c: &MemoryConfig) -> (f64, f64) {
    assert_eq!(c.layout, Layout::Linear);
    let s = c.lm_scale as f64 * 2.0 * c.clip as f64 / (c.num_centers - 1) as f64;
    (s, s)
}

proptest! {
    /// Configs generated around both ends of σ's sound range, over every M, lm_scale and
    /// cutoff (dense included): accepted exactly when σ lies within [1e−19, 1e18], and then
    /// every rate of a step is finite and agrees with `predict`, for queries at the clip's
    /// scale and far beyond it.
    #[test]
    fn sigma_boundary_is_sound(m in 2usize..200, log_lm in -6.0f64..3.0, f in -1.0f64..1.0,
                               high in any::<bool>(), dense in any::<bool>(), n in prop_oneof![Just(7usize), Just(600), Just(5000)]) {
        let lm = 10f64.powf(log_lm) as f32;
        // σ = f·10 ^ ±(1..) around the boundary: clip = σ·(M−1)/(2·lm).
        let target = if high { 1e18 } else { 1e-19 } * 10f64.powf(f);
        let clip = (target * (m - 1) as f64 / (2.0 * lm as f64)) as f32;
        prop_assume!(clip.is_finite() && clip > 0.0);
        let config = MemoryConfig { num_centers: m, lm_scale: lm, clip,
                                    cutoff: if dense { f32::INFINITY } else { 9.0 },
                                    ..MemoryConfig::default() };
        let (lo, hi) = sigma_range(&config);
        let sound = lo >= 1e-19 && hi <= 1e18;
        match Memory::new(config) {
            Ok(mem) => {
                prop_assert!(sound || (lo / 1e-19 - 1.0).abs() < 1e-6 || (hi / 1e18 - 1.0).abs() < 1e-6,
                             "accepted σ = {lo:e}");
                prop_assert!(mem.grid().sigmas().iter().all(|s| s.is_finite() && *s > 0.0));
                for scale in [clip, 1e-3 * clip] {
                    if let Err(e) = check_rates(mem.clone(), n, scale, 3) {
                        prop_assert!(false, "{config:?}, z ~ {scale:e}: {e}");
                    }
                }
            }
            Err(MemoryError::InvalidConfig { field, .. }) => {
                prop_assert!(!sound || (lo / 1e-19 - 1.0).abs() < 1e-6 || (hi / 1e18 - 1.0).abs() < 1e-6,
                             "refused σ = {lo:e} ({field})");
                prop_assert_eq!(field, "clip");
            }
            Err(e) => prop_assert!(false, "{e}"),
        }
    }

    /// Log-spaced centres near their narrowest (clip just above 1e−6, many centres, narrow
    /// kernels): accepted configs step with finite rates that agree with `predict`.
    #[test]
    fn log_layout_boundary_is_sound(half in 1usize..2048, log_clip in -5.99f64..-3.0,
                                    log_lm in -6.0f64..1.0) {
        let config = MemoryConfig { num_centers: 2 * half, layout: Layout::Log,
                                    clip: 10f64.powf(log_clip) as f32,
                                    lm_scale: 10f64.powf(log_lm) as f32,
                                    ..MemoryConfig::default() };
        if let Ok(mem) = Memory::new(config) {
            prop_assert!(mem.grid().sigmas().iter().all(|s| s.is_finite() && *s > 0.0),
                         "{config:?}");
            if let Err(e) = check_rates(mem, 300, config.clip, 3) {
                prop_assert!(false, "{config:?}: {e}");
            }
        }
    }

    /// The hostile sweep, over every field's whole valid range at once (clip log-uniform over
    /// f32's positive range, lm_scale over [1e−6, 1e6], both layouts and signals, the RMS query
    /// scale, tiny and dense cutoffs) with queries of any finite magnitude: every accepted config
    /// steps with finite rates within θ's bounds, the raw query's rates agree with `predict`,
    /// and the memory saves and loads back identically after every step.
    #[test]
    fn accepted_configs_step_finite(log_clip in -38.0f64..38.5, log_lm in -6.0f64..6.0,
                                    m in 2usize..300, log in any::<bool>(), sign in any::<bool>(),
                                    rms in any::<bool>(), cutoff in prop_oneof![Just(9.0f32), Just(1e-3), Just(f32::INFINITY)],
                                    n in prop_oneof![Just(5usize), Just(600), Just(5000)],
                                    zs in prop::collection::vec((-38.0f64..38.5, any::<bool>()), 3)) {
        let clip = 10f64.powf(log_clip).min(f32::MAX as f64) as f32;
        let config = MemoryConfig {
            num_centers: if log { m + m % 2 } else { m },
            layout: if log { Layout::Log } else { Layout::Linear },
            clip, lm_scale: 10f64.powf(log_lm) as f32, cutoff,
            signal: if sign { Signal::Sign } else { Signal::ClippedProduct },
            scale: if rms { QueryScale::Rms { beta: 0.9 } } else { QueryScale::Raw },
            ..MemoryConfig::default()
        };
        let Ok(mut mem) = Memory::new(config) else { return Ok(()) };
        prop_assert!(mem.grid().sigmas().iter().all(|s| s.is_finite() && *s > 0.0), "{config:?}");
        let mut trace = Trace::new(n);
        for (s, &(log_z, neg)) in zs.iter().enumerate() {
            let mag = 10f64.powf(log_z).min(f32::MAX as f64) as f32;
            let z: Vec<f32> = (0..n)
                .map(|d| {
                    let x = mag * (1.0 - ((d * 37 + s * 11) % 101) as f32 / 202.0);
                    if (d % 2 == 0) == neg { -x } else { x }
                })
                .collect();
            let mut got = vec![f32::NAN; n];
            mem.step_blocks(&mut trace, &z, |start, eta, _| {
                got[start..start + eta.len()].copy_from_slice(eta)
            })
            .unwrap();
            let slack = 1e-6 * config.theta_max;
            prop_assert!(got.iter().all(|g| g.is_finite() && *g >= config.theta_min - slack
                                             && *g <= config.theta_max + slack),
                         "{config:?}, step {s}, |z| ~ {mag:e}: {:?}", &got[..5]);
            if !rms {
                let mut want = vec![0.0f32; n];
                mem.predict_into(&z, &mut want).unwrap();
                for d in 0..n {
                    prop_assert!((got[d] - want[d]).abs() <= 1e-5 * want[d].abs() + 1e-30,
                                 "{config:?}, step {s}: rate {d} = {}, predict {}", got[d], want[d]);
                }
            }
            let back = Memory::from_bytes(&mem.to_bytes().unwrap()).unwrap();
            prop_assert!(back == mem, "{config:?}, step {s}: the saved memory loads back otherwise");
        }
    }

    /// Context memories around the finest spacing and over every K and span: accepted configs
    /// step with finite θ, and every trace a step leaves passes the load check (its weights are
    /// what `ContextTrace::check` accepts), whatever the gradients' scale jumps.
    #[test]
    fn context_traces_pass_their_own_check(k in 1usize..=64, log_f in -1.0f64..1.0, wide in any::<bool>(),
                                           scales in prop::collection::vec(-30.0f64..30.0, 6)) {
        let span = if wide {
            50.0 * 10f64.powf(log_f.min(0.0)) as f32
        } else {
            (1e-6 * 10f64.powf(log_f) * (k.max(2) - 1) as f64 / 2.0) as f32
        };
        let config = ContextConfig { contexts: k, span, ..ContextConfig::default() };
        let spacing_ok = k == 1 || 2.0 * span / (k - 1) as f32 >= 1e-6;
        match ContextMemory::new(config) {
            Err(MemoryError::InvalidConfig { field, .. }) => {
                prop_assert!(!spacing_ok, "refused {config:?} ({field})");
                prop_assert_eq!(field, "span");
            }
            Err(e) => prop_assert!(false, "{e}"),
            Ok(mut memory) => {
                prop_assert!(spacing_ok, "accepted {config:?}");
                let mut trace = ContextTrace::new(16);
                for (s, &log_scale) in scales.iter().enumerate() {
                    let scale = 10f64.powf(log_scale) as f32;
                    let z: Vec<f32> = (0..16)
                        .map(|d| scale * (((d * 7 + s * 3) % 11) as f32 / 11.0 - 0.4))
                        .collect();
                    memory.step_blocks(&mut trace, &z, |_, _, _| {}).unwrap();
                    prop_assert!(memory.theta().iter().all(|t| t.is_finite()));
                    prop_assert!(memory.rule_state().m.iter().chain(&memory.rule_state().v).all(|x| x.is_finite()));
                    if let Err(e) = trace.check(&config) {
                        prop_assert!(false, "{config:?}, step {s}: {e}; weights {:?}", trace.weights());
                    }
                }
            }
        }
    }
}
