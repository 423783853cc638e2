//! The robot task families: they build, runs are deterministic by seed, training and held-out
//! data never share a seed, the cheap threshold check agrees with a full evaluation, and bad
//! settings are errors.

use std::collections::BTreeSet;

use lrmem_optimizers::{Adam, AdamConfig};
use lrmem_tasks::dynamics::SampleOrder;
use lrmem_tasks::lstm::ForwardConfig;
use lrmem_tasks::robot::{
    data_seed, trajectories, PandaForward, PandaInverse, RobotConfig, Split, FORWARD_METRIC,
};
use lrmem_tasks::TaskFamily;

/// Tiny data, so that the tests run in seconds in debug builds.
fn tiny(eval_every: usize) -> RobotConfig {
    RobotConfig {
        train: 2,
        test: 2,
        seconds: 0.2,
        eval_every,
        ..RobotConfig::inverse()
    }
}

/// Forward learner settings that fit the tiny trajectories.
fn short() -> ForwardConfig {
    ForwardConfig {
        subsequence: 16,
        batch: 1,
    }
}

fn adam() -> Adam {
    Adam::new(AdamConfig {
        lr: 1e-3,
        ..AdamConfig::default()
    })
    .unwrap()
}

/// (losses, final metric) of `updates` updates of task `k` of `family` with seed `seed`.
fn run(family: &dyn TaskFamily, k: usize, seed: u64, updates: usize) -> (Vec<u32>, u64) {
    let mut task = family.build(k, seed).unwrap();
    let mut opt = adam();
    let losses = (0..updates)
        .map(|_| task.update(&mut opt).unwrap().to_bits())
        .collect();
    (losses, task.evaluate().unwrap().to_bits())
}

#[test]
fn families_build_three_labelled_tasks() {
    let c = tiny(5);
    let data = trajectories(&c).unwrap();
    let fwd = PandaForward::from_trajectories(&data, short(), 5).unwrap();
    let inv = PandaInverse::from_trajectories(&data, SampleOrder::Shuffled, 5).unwrap();
    for f in [&fwd as &dyn TaskFamily, &inv] {
        assert_eq!(f.len(), 3);
        assert_eq!(f.label(0), "no payload, point-to-point");
        assert_eq!(f.label(1), "1.5 kg, point-to-point");
        assert_eq!(f.label(2), "1.5 kg, sinusoids");
        assert!(f.build(3, 0).is_err());
    }
    assert_eq!(fwd.metric(), FORWARD_METRIC);
    assert_eq!(fwd.name(), "panda-forward");
    assert_eq!(inv.name(), "panda-inverse");
    // Every task is normalised with task 1's training statistics.
    for k in 1..3 {
        assert_eq!(
            fwd.data(k).unwrap().normalizers(),
            fwd.data(0).unwrap().normalizers()
        );
        assert_eq!(
            inv.data(k).unwrap().normalizers(),
            inv.data(0).unwrap().normalizers()
        );
    }
    // The payload changes the torques of the same kind of motion.
    assert_ne!(data[0].train[0].tau(50), data[1].train[0].tau(50));
}

#[test]
fn data_are_fixed_and_training_and_held_out_seeds_are_disjoint() {
    let c = tiny(5);
    let a = trajectories(&c).unwrap();
    let b = trajectories(&c).unwrap();
    assert_eq!(a, b, "the data do not depend on anything but the config");
    let mut train = BTreeSet::new();
    let mut test = BTreeSet::new();
    for k in 0..3 {
        for i in 0..1000 {
            train.insert(data_seed(k, Split::Train, i));
            test.insert(data_seed(k, Split::Test, i));
        }
    }
    assert_eq!(train.len(), 3000);
    assert_eq!(test.len(), 3000);
    assert!(train.is_disjoint(&test));
    // And the trajectories themselves differ between the splits.
    for t in &a {
        for x in &t.train {
            assert!(t.test.iter().all(|y| y != x));
        }
    }
}

#[test]
fn runs_are_deterministic_by_seed() {
    let data = trajectories(&tiny(5)).unwrap();
    let fwd = PandaForward::from_trajectories(&data, short(), 5).unwrap();
    let inv = PandaInverse::from_trajectories(&data, SampleOrder::Shuffled, 5).unwrap();
    for (f, n) in [(&fwd as &dyn TaskFamily, 4), (&inv, 40)] {
        let first = run(f, 1, 3, n);
        assert_eq!(first, run(f, 1, 3, n), "{}: same seed, same bits", f.name());
        assert_ne!(first, run(f, 1, 4, n), "{}: another seed", f.name());
    }
    // A family built again from the same config gives the same runs.
    let again =
        PandaInverse::from_trajectories(&trajectories(&tiny(5)).unwrap(), SampleOrder::Shuffled, 5)
            .unwrap();
    assert_eq!(run(&inv, 2, 9, 30), run(&again, 2, 9, 30));
}

/// Checks after every update against full evaluations: at multiples of `eval_every` the
/// check says what the evaluation says; in between it repeats the last such answer.
fn check_agrees(family: &dyn TaskFamily, eval_every: usize, updates: usize) {
    let mut task = family.build(0, 1).unwrap();
    let mut twin = family.build(0, 1).unwrap();
    let mut opt = adam();
    let mut twin_opt = adam();
    let mut last: Option<f64> = None;
    for t in 1..=updates {
        task.update(&mut opt).unwrap();
        twin.update(&mut twin_opt).unwrap();
        // The twin evaluates fully at every update (the reference).
        let full = twin.evaluate().unwrap();
        if t % eval_every == 0 {
            last = Some(full);
        }
        let Some(reference) = last else {
            assert!(
                !task.check(f64::INFINITY).unwrap().reached,
                "no evaluation yet"
            );
            continue;
        };
        for threshold in [reference * 0.999, reference, reference * 1.001] {
            let c = task.check(threshold).unwrap();
            assert_eq!(
                c.reached,
                reference <= threshold,
                "update {t}, threshold {threshold}, evaluation {reference}"
            );
        }
        // `evaluate` is a full evaluation now, and it agrees with the twin's.
        assert_eq!(task.evaluate().unwrap().to_bits(), full.to_bits());
    }
}

#[test]
fn checks_answer_exactly_what_the_evaluation_at_the_latest_multiple_said() {
    let data = trajectories(&tiny(3)).unwrap();
    let fwd = PandaForward::from_trajectories(&data, short(), 3).unwrap();
    check_agrees(&fwd, 3, 7);
    let inv = PandaInverse::from_trajectories(&data, SampleOrder::Stream, 4).unwrap();
    check_agrees(&inv, 4, 13);
}

#[test]
fn the_forward_task_reports_next_state_nmse_and_the_copy_baseline() {
    let data = trajectories(&tiny(2)).unwrap();
    let fwd = PandaForward::from_trajectories(&data, short(), 2).unwrap();
    let mut task = fwd.build(2, 0).unwrap();
    task.update(&mut adam()).unwrap();
    let extra = task.extra_metrics().unwrap();
    let names: Vec<&str> = extra.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "state-change NMSE",
            "next-state NMSE",
            "copy baseline: next-state NMSE",
            "copy baseline: state-change NMSE"
        ]
    );
    assert_eq!(extra[0].1.to_bits(), task.evaluate().unwrap().to_bits());
    let copy = fwd.copy_baseline(2).unwrap();
    assert_eq!(extra[2].1, copy.next_state);
    assert_eq!(extra[3].1, copy.state_change);
    assert!(copy.next_state < 1e-2 && copy.state_change >= 1.0);
    // The inverse task's is its final metric.
    let inv = PandaInverse::from_trajectories(&data, SampleOrder::Stream, 2).unwrap();
    let mut task = inv.build(0, 0).unwrap();
    task.update(&mut adam()).unwrap();
    let extra = task.extra_metrics().unwrap();
    assert_eq!(extra.len(), 1);
    assert_eq!(extra[0].1.to_bits(), task.evaluate().unwrap().to_bits());
}

#[test]
fn bad_settings_are_errors() {
    let ok = tiny(5);
    for bad in [
        RobotConfig { train: 0, ..ok },
        RobotConfig { test: 0, ..ok },
        RobotConfig {
            seconds: f64::NAN,
            ..ok
        },
        RobotConfig { seconds: 0.0, ..ok },
        RobotConfig {
            eval_every: 0,
            ..ok
        },
        RobotConfig { payload: 0.0, ..ok },
        RobotConfig { payload: 3.5, ..ok },
        RobotConfig { margin: 0.5, ..ok },
    ] {
        assert!(bad.validated().is_err(), "{bad:?}");
        assert!(PandaInverse::new(&bad).is_err(), "{bad:?}");
    }
    // Trajectories shorter than one BPTT subsequence (128 steps by default).
    let short_runs = RobotConfig { seconds: 0.1, ..ok };
    let e = PandaForward::new(&short_runs).unwrap_err().to_string();
    assert!(e.contains("too short"), "{e}");
    assert!(PandaForward::from_trajectories(&[], short(), 5).is_err());
    assert!(PandaInverse::from_trajectories(&[], SampleOrder::Stream, 5).is_err());
}
