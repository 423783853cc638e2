//! The study's plan, scores and targets.

use super::*;
use crate::harness::{Arm, Outcome};
use lrmem_optimizers::{Meta, MetaConfig, Optimizer};

/// Every variant, reload option and peer parses and builds at every rate of the plans.
#[test]
fn every_arm_builds() {
    for plan in [StudyPlan::full(), StudyPlan::quick()] {
        for arm in dev_arms(&plan)
            .unwrap()
            .into_iter()
            .chain(stage_arms(&plan, StageKind::DevRound2).unwrap())
            .chain(stage_arms(&plan, StageKind::DevRound3).unwrap())
            .chain(stage_arms(&plan, StageKind::Core).unwrap())
            .chain(stage_arms(&plan, StageKind::Ablation).unwrap())
            .chain(stage_arms(&plan, StageKind::DevAblation).unwrap())
        {
            arm.spec
                .build()
                .unwrap_or_else(|e| panic!("{}: {e}", arm.name));
        }
    }
}

/// The recommended arm steps exactly as `MetaConfig::recommended()` over SGD.
#[test]
fn the_recommended_arm_is_the_recommended_config() {
    let mut a = Arm::parse(RECOMMENDED).unwrap().spec.build().unwrap();
    let mut b = Meta::sgd(MetaConfig::recommended()).unwrap();
    let (mut wa, mut wb) = (vec![0.5f32, -1.0, 0.25], vec![0.5f32, -1.0, 0.25]);
    for t in 0..20 {
        let g: Vec<f32> = wa.iter().map(|x| x - 0.1 * (t as f32).sin()).collect();
        a.step("w", &mut wa, &g).unwrap();
        b.step("w", &mut wb, &g).unwrap();
    }
    assert_eq!(wa, wb);
    assert_eq!(a.memory_thetas(), b.memory_thetas());
}

/// The targets read the summaries as the issue states them: within 1.5× of the best peer
/// that reached every run, wins against every learning-rate-free peer, reload ratio.
#[test]
fn targets_follow_the_summaries() {
    let plan = StudyPlan {
        rates: vec![1e-4, 1e-3],
        ..StudyPlan::quick()
    };
    let arm = |name: &str, tasks: Vec<(f64, usize, usize)>| ArmSummary {
        arm: name.into(),
        tasks,
        score: 0.0,
        us_per_update: 0.0,
    };
    let labels = vec!["a".to_string(), "b".to_string()];
    let mut s = vec![
        arm("recommended@0.0001", vec![(140.0, 0, 5), (100.0, 0, 5)]),
        arm("recommended@0.001", vec![(120.0, 0, 5), (60.0, 0, 5)]),
        arm("sgd@0.001", vec![(100.0, 0, 5), (3000.0, 5, 5)]),
        arm("adam@0.001", vec![(90.0, 1, 5), (80.0, 0, 5)]),
        arm(
            "recommended+reload@0.001",
            vec![(120.0, 0, 5), (30.0, 0, 5)],
        ),
    ];
    for v in free_peers() {
        s.push(arm(&v.name, vec![(200.0, 0, 5), (50.0, 0, 5)]));
    }
    let stage = stage(StageKind::Core, "mnist", &[], 2, &[0, 1], 100);
    let t = targets(&plan, &stage, &labels, &s);
    // Task a: best peer reaching every run is SGD at 100 → worst ratio 1.4; task b: the
    // free peers' 50 → 100/50 = 2.
    assert!(!t[0].1, "{:?}", t[0]);
    assert!(t[0].2.contains("2.00"), "{:?}", t[0]);
    // Wins on task a only: 1 of 2 < 2/3.
    assert!(!t[1].1 && t[1].2.starts_with("1 of 2"), "{:?}", t[1]);
    // Reload: 30/60 = 0.5 on the later task.
    assert!(t[2].1, "{:?}", t[2]);
}

/// Misses cost twice the cap, and a summary counts them.
#[test]
fn misses_cost_more_than_any_success() {
    assert_eq!(cost(&Outcome::Reached { update: 7 }, 100), 7.0);
    assert_eq!(cost(&Outcome::Censored, 100), 200.0);
    let diverged = Outcome::Diverged {
        update: 3,
        reason: "NaN".into(),
    };
    assert_eq!(cost(&diverged, 100), 200.0);
}
