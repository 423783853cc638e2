//! The profiles of `cargo xtask bench` — quick, default, full — as the library runs them: which
//! arms (a tier of the optimizers' registry), seeds, caps, data and tuning each gives a
//! workload's experiment, and what the command line may change ([`Overrides`]).

use std::collections::BTreeMap;

use lrmem_optimizers::registry::Tier;

use super::{arms, registry, WorkloadEntry};
use crate::harness::{Arm, Experiment, Protocol, Tuning};

/// How much of the protocol a profile runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// The CI smoke run: the smoke tier's arms, one seed, the workload's quick cap and smaller
    /// data (its quick options).
    Quick,
    /// The headline tables: the headline tier's arms (the memory, the papers' peers and the
    /// learning-rate-free peers at their defaults), 2 seeds, the paper's learning rate only.
    #[default]
    Default,
    /// The papers' protocol: every preset arm, 5 seeds, the paper and the tuned settings (where
    /// the workload tunes), and every workload of the full profile unless some are named.
    Full,
}

impl Profile {
    /// The registry tier whose presets it runs.
    pub fn tier(self) -> Tier {
        match self {
            Profile::Quick => Tier::Smoke,
            Profile::Default => Tier::Headline,
            Profile::Full => Tier::Full,
        }
    }

    /// Its arms before a workload adds or leaves out any ([`WorkloadEntry::arms`]): every
    /// preset of its tier, in registry order.
    pub fn arms(self) -> Vec<Arm> {
        arms::tier(self.tier())
    }

    /// Seeds per arm.
    pub fn seeds(self) -> u64 {
        match self {
            Profile::Quick => 1,
            Profile::Default => 2,
            Profile::Full => 5,
        }
    }

    /// Updates per task on `entry`.
    pub fn cap(self, entry: &WorkloadEntry) -> usize {
        match self {
            Profile::Quick => entry.quick_cap,
            Profile::Default | Profile::Full => entry.cap,
        }
    }

    /// Whether it runs the tuned setting on `entry`.
    pub fn tunes(self, entry: &WorkloadEntry) -> bool {
        self == Profile::Full && entry.full_tuning
    }

    /// The workloads it runs when none is named: MNIST, or with [`Profile::Full`] every
    /// workload marked [`WorkloadEntry::in_full_profile`], in registry order.
    pub fn workloads(self) -> Vec<&'static str> {
        match self {
            Profile::Full => registry()
                .iter()
                .filter(|w| w.in_full_profile)
                .map(|w| w.name)
                .collect(),
            Profile::Quick | Profile::Default => vec!["mnist"],
        }
    }

    /// `entry`'s options: those of `given` that it has, then (quick profile) its quick options
    /// unless given.
    pub fn options(
        self,
        entry: &WorkloadEntry,
        given: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let mut opts: BTreeMap<String, String> = given
            .iter()
            .filter(|(k, _)| entry.options.iter().any(|(o, _)| o == k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if self == Profile::Quick {
            for (k, v) in entry.quick_options {
                opts.entry(k.to_string()).or_insert_with(|| v.to_string());
            }
        }
        opts
    }

    /// The experiment it runs on `entry`, with `overrides` applied.
    pub fn experiment(self, entry: &WorkloadEntry, overrides: &Overrides) -> Experiment {
        let cap = overrides.cap.unwrap_or(self.cap(entry));
        let mut e = Experiment::new(
            entry.name,
            Protocol {
                threshold: overrides.threshold.unwrap_or(entry.threshold),
                cap,
                curve_every: entry.curve_every(cap),
                also: entry.also.to_vec(),
            },
        );
        e.arms = overrides
            .arms
            .clone()
            .unwrap_or_else(|| entry.arms(self.arms()));
        let first = overrides.first_seed;
        let seeds = overrides.seeds.unwrap_or(self.seeds());
        e.seeds = (first..first.saturating_add(seeds)).collect();
        e.tuning = overrides
            .tune
            .unwrap_or(self.tunes(entry))
            .then(Tuning::default);
        e
    }
}

/// What the command line changes of a profile's experiments; `None` keeps the profile's (or
/// the workload's) own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// The metric value to reach.
    pub threshold: Option<f64>,
    /// The arms, instead of the profile's and the workload's.
    pub arms: Option<Vec<Arm>>,
    /// Seeds per arm.
    pub seeds: Option<u64>,
    /// The first seed: seeds are `first_seed..first_seed + N` (a development seed, away from
    /// the reported 0..N, to choose a setting on).
    pub first_seed: u64,
    /// Updates per task.
    pub cap: Option<usize>,
    /// Whether to run the tuned setting.
    pub tune: Option<bool>,
}
