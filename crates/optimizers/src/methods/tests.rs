//! Unit tests of the per-tensor optimizers that need their private state: step counts that
//! saturate, and loaded states checked before they are trusted.

use crate::{
    Adam, AdamConfig, AdamHd, AdamHdConfig, Optimizer, Sgd, SgdConfig, SgdHd, SgdHdConfig,
};

/// Per-tensor step counts saturate instead of overflowing (a panic with overflow checks, a
/// wrap to 0 without, which would redo the first step's special cases), and the parameters
/// stay finite at any count.
#[test]
fn step_counts_saturate() {
    macro_rules! saturates {
        ($opt:expr) => {{
            let mut opt = $opt;
            let mut w = vec![0.5f32, -0.25];
            opt.step("w", &mut w, &[0.1, -0.2]).unwrap();
            for start in [u64::MAX - 1, u64::MAX] {
                opt.states
                    .get_or_init("w", 2, || unreachable!())
                    .unwrap()
                    .step = start;
                opt.step("w", &mut w, &[0.1, -0.2]).unwrap();
                opt.step("w", &mut w, &[0.3, 0.1]).unwrap();
                assert_eq!(opt.states.get("w").unwrap().step, u64::MAX);
                assert!(w.iter().all(|x| x.is_finite()), "{w:?}");
            }
        }};
    }
    saturates!(Sgd::new(SgdConfig {
        momentum: 0.9,
        ..SgdConfig::default()
    })
    .unwrap());
    saturates!(Adam::new(AdamConfig::default()).unwrap());
    saturates!(SgdHd::new(SgdHdConfig::default()).unwrap());
    saturates!(AdamHd::new(AdamHdConfig::default()).unwrap());
}

/// A loaded state is checked before it is trusted: vectors of the wrong length (a panic on
/// the next step, or coordinates silently frozen), non-finite values, negative second
/// moments and step sizes out of range are `Corrupt` errors naming the tensor, and change
/// nothing. Each damaged checkpoint loaded before.
#[test]
fn loaded_states_are_checked() {
    use crate::{Checkpoint, OptimError, Rprop, RpropConfig};
    fn refused<O: Optimizer + Checkpoint + Clone>(what: &str, good: &O, damage: impl Fn(&mut O)) {
        let mut bad = good.clone();
        damage(&mut bad);
        let bytes = bad.save().unwrap();
        let mut target = good.clone();
        let before = target.save().unwrap();
        let err = target.load(&bytes).unwrap_err();
        assert!(
            matches!(&err, OptimError::Corrupt { reason } if reason.contains("`w`")),
            "{what}: {err}"
        );
        assert_eq!(
            target.save().unwrap(),
            before,
            "{what}: a refused load changes nothing"
        );
    }
    fn stepped<O: Optimizer>(mut opt: O) -> O {
        let mut w = vec![0.5f32, -0.25, 1.0];
        for g in [[0.1f32, -0.2, 0.3], [0.2, 0.1, -0.3]] {
            opt.step("w", &mut w, &g).unwrap();
        }
        opt
    }
    let sgd = stepped(
        Sgd::new(SgdConfig {
            momentum: 0.9,
            ..SgdConfig::default()
        })
        .unwrap(),
    );
    refused("sgd short buf", &sgd, |o| {
        o.states.get_mut("w").unwrap().buf.pop();
    });
    refused("sgd NaN buf", &sgd, |o| {
        o.states.get_mut("w").unwrap().buf[1] = f32::NAN
    });
    let adam = stepped(Adam::new(AdamConfig::default()).unwrap());
    refused("adam long m", &adam, |o| {
        o.states.get_mut("w").unwrap().m.push(0.0)
    });
    refused("adam short v", &adam, |o| {
        o.states.get_mut("w").unwrap().v.pop();
    });
    refused("adam NaN m", &adam, |o| {
        o.states.get_mut("w").unwrap().m[0] = f32::NAN
    });
    refused("adam v < 0", &adam, |o| {
        o.states.get_mut("w").unwrap().v[2] = -1.0
    });
    let rprop = stepped(Rprop::new(RpropConfig::default()).unwrap());
    refused("rprop NaN step", &rprop, |o| {
        o.states.get_mut("w").unwrap().step[0] = f32::NAN
    });
    refused("rprop step > max", &rprop, |o| {
        o.states.get_mut("w").unwrap().step[0] = 1e9
    });
    refused("rprop short prev", &rprop, |o| {
        o.states.get_mut("w").unwrap().prev.pop();
    });
    let sgd_hd = stepped(SgdHd::new(SgdHdConfig::default()).unwrap());
    refused("sgd-hd NaN lr", &sgd_hd, |o| {
        o.states.get_mut("w").unwrap().lr = f32::NAN
    });
    refused("sgd-hd ∞ prev", &sgd_hd, |o| {
        o.states.get_mut("w").unwrap().a[0] = f32::INFINITY
    });
    let adam_hd = stepped(AdamHd::new(AdamHdConfig::default()).unwrap());
    refused("adam-hd v < 0", &adam_hd, |o| {
        o.states.get_mut("w").unwrap().b[0] = -0.5
    });
    // The undamaged checkpoints load.
    let mut again = adam.clone();
    again.load(&adam.save().unwrap()).unwrap();
}

/// A checkpoint that records a huge length for a tensor (crafted: its checksum is right) is
/// refused as damaged; the check used to build a fresh state of that length to compare with,
/// which aborted the process allocating it (found by coverage-guided fuzzing of `load`).
#[test]
fn a_huge_recorded_length_is_refused_without_allocating_it() {
    use crate::{Checkpoint, OptimError, SgdState};
    let cfg = SgdConfig {
        momentum: 0.9,
        ..SgdConfig::with_lr(0.1)
    };
    for len in [1usize << 60, usize::MAX, 4] {
        let mut states = std::collections::BTreeMap::new();
        let state = SgdState {
            step: 1,
            buf: vec![0.5; 3],
        };
        states.insert("w".to_owned(), (len, state));
        let bytes = crate::optimizer::checkpoint::save("Sgd", &(&cfg, &(), &states)).unwrap();
        let mut opt = Sgd::new(cfg).unwrap();
        let err = opt.load(&bytes).unwrap_err();
        assert!(
            matches!(&err, OptimError::Corrupt { reason } if reason.contains("3 values of `buf`") && reason.contains(&format!("for {len} coordinates"))),
            "{err}"
        );
    }
    // The same file with the true length loads.
    let mut states = std::collections::BTreeMap::new();
    let state = SgdState {
        step: 1,
        buf: vec![0.5; 3],
    };
    states.insert("w".to_owned(), (3usize, state));
    let bytes = crate::optimizer::checkpoint::save("Sgd", &(&cfg, &(), &states)).unwrap();
    Sgd::new(cfg).unwrap().load(&bytes).unwrap();
}

/// SGD's momentum buffer saturates at ±`MAX_MOMENTUM`: left to approach g/(1 − μ) (1.7·10²⁵
/// at |g| = 10¹⁸ with μ the largest f32 below 1, reached after ~10⁷ steps, set directly here),
/// one step at a rate of 10⁶ would carry a parameter near f32::MAX to ∞ and return `Ok`.
#[test]
fn momentum_buffer_saturates_so_a_step_stays_finite() {
    use super::sgd::MAX_MOMENTUM;
    let mu = 1.0 - f32::EPSILON / 2.0; // the largest f32 below 1
    for nesterov in [false, true] {
        let mut sgd = Sgd::new(SgdConfig {
            lr: 1e6,
            momentum: mu,
            nesterov,
            ..SgdConfig::default()
        })
        .unwrap();
        let mut w = vec![-f32::MAX, 0.0];
        sgd.step("w", &mut w, &[1e18, 1e18]).unwrap();
        let reachable = 1e18 / (1.0 - mu);
        sgd.states.get_mut("w").unwrap().buf.fill(reachable);
        let mut w = vec![-f32::MAX, 0.0];
        sgd.step("w", &mut w, &[1e18, 1e18]).unwrap();
        assert!(
            w.iter().all(|x| x.is_finite()),
            "nesterov {nesterov}: {w:?}"
        );
        let buf = &sgd.states.get("w").unwrap().buf;
        assert!(buf.iter().all(|b| b.abs() <= MAX_MOMENTUM), "{buf:?}");
    }
}
