//! The optimizers' registry is the one list: every experiment's set of optimizers is derived
//! from it, so that a new optimizer (its module and its registry entry) appears in the
//! profiles, the studies' peer sets and the speed suite with no other edit.

use lrmem_bench::studies::{l2l, study};
use lrmem_bench::workloads::profile::{Overrides, Profile};
use lrmem_bench::workloads::{arms, find};
use lrmem_optimizers::registry::{presets, registry, Family, Speed, Tier};

fn names(arms: &[lrmem_bench::harness::Arm]) -> Vec<&str> {
    arms.iter().map(|a| a.name.as_str()).collect()
}

/// Every preset of the registry is an arm of the full profile's experiment, and the profiles'
/// arms nest.
#[test]
fn every_preset_is_an_arm_of_the_full_profile() {
    let mnist = find("mnist").unwrap();
    let full = Profile::Full.experiment(mnist, &Overrides::default());
    for (_, preset) in presets(Tier::Full) {
        assert!(
            full.arms.iter().any(|a| a.name == preset.name),
            "{} is not in the full profile",
            preset.name
        );
    }
    let quick = Profile::Quick.experiment(mnist, &Overrides::default());
    let default = Profile::Default.experiment(mnist, &Overrides::default());
    assert!(quick.arms.iter().all(|a| default.arms.contains(a)));
    assert!(default.arms.iter().all(|a| full.arms.contains(a)));
    assert_eq!((quick.seeds.len(), full.tuning.is_some()), (1, true));
    assert_eq!(
        Profile::Full.workloads(),
        ["mnist", "panda-forward", "panda-inverse", "began"]
    );
}

/// The learning-rate-free peers of the headline tier are exactly the peers the study and the
/// learned optimizer's study run at their defaults; the study sweeps the reference family.
#[test]
fn the_studies_peers_are_the_registrys() {
    let headline = arms::family(Family::LearningRateFree, Tier::Headline);
    assert!(!headline.is_empty());
    assert_eq!(names(&study::free_peers()), names(&headline));
    assert_eq!(names(&l2l::default_arms()), names(&headline));
    let reference: Vec<&str> = registry()
        .iter()
        .filter(|e| e.family == Family::Reference)
        .map(|e| e.name)
        .collect();
    let swept: Vec<&str> = study::rate_peers().iter().map(|(n, _)| *n).collect();
    assert_eq!(swept, reference);
    // The learned optimizer's tuned arms: the reference and papers' presets of the headline
    // tier, fresh on every instance.
    for arm in l2l::tuned_arms() {
        let family = arm.spec.entry().unwrap().family;
        assert!(matches!(family, Family::Reference | Family::Papers) && !arm.reload);
    }
}

/// Every optimizer of the registry is timed, once per case it declares, in registry order, or
/// says why not.
#[test]
fn every_registry_entry_is_timed_or_says_why_not() {
    let all = lrmem_bench::speed::cases();
    let mut expected = Vec::new();
    for entry in registry() {
        match entry.speed {
            Speed::Timed(timed) => {
                assert!(!timed.is_empty(), "{}: timed without a case", entry.name);
                for case in timed {
                    expected.push((entry.spec(case.keys).unwrap(), case.bytes));
                }
            }
            Speed::Untimed(reason) => {
                assert!(
                    !reason.trim().is_empty(),
                    "{}: untimed without a reason",
                    entry.name
                );
                assert!(
                    all.iter().all(|c| c.spec.name() != entry.name),
                    "{} is untimed but in the suite",
                    entry.name
                );
            }
        }
    }
    let got: Vec<_> = all.into_iter().map(|c| (c.spec, c.bytes)).collect();
    assert_eq!(got, expected);
}
