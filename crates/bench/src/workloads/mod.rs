//! What experiments run: the workload registry (every [`TaskFamily`] an experiment can run, by
//! name), the named arms, and the profiles.
//!
//! Adding a workload to every experiment is its module (a [`TaskFamily`] in the tasks crate)
//! plus one entry in [`registry`]: how to build it, and its protocol's defaults (thresholds,
//! cap, curve spacing, what the quick profile shrinks).
//!
//! - `mod.rs`: [`WorkloadEntry`], [`WorkloadConfig`], [`find`].
//! - `entries.rs`: the entries, with the measurements behind their caps and thresholds.
//! - `build.rs`: how each is built from its options (data, simulation, feature network).
//! - [`arms`]: the optimizers' registry presets as arms, by tier and family.
//! - [`profile`]: what the quick, default and full profiles run on a workload.

pub mod arms;
mod build;
mod entries;
pub mod profile;

use std::collections::BTreeMap;
use std::path::PathBuf;

use lrmem_tasks::TaskFamily;

pub use build::{parse_pairs, parse_pixels, robot_config};
pub use entries::registry;

use crate::harness::Arm;
use crate::BenchError;

/// What a workload is built from: where the data lives and the workload's own options
/// (`key → value`, e.g. `pairs → 1-2,1-3`); a key the workload does not know is an error.
#[derive(Debug, Clone, Default)]
pub struct WorkloadConfig {
    /// The folder holding the data sets (`mnist/`, `fashion-mnist/`; what `cargo xtask data`
    /// fills).
    pub data_root: PathBuf,
    /// The workload's options.
    pub options: BTreeMap<String, String>,
    /// Where a workload may keep what it derives from its data once for every run (BEGAN's
    /// feature network for the Fréchet distance), e.g. `target/lrmem-cache`; `None`: derive it
    /// anew each time.
    pub cache_dir: Option<PathBuf>,
}

/// How an entry builds its task family from its options.
type Build = fn(&WorkloadEntry, &WorkloadConfig) -> Result<Box<dyn TaskFamily + Send>, BenchError>;

/// One registered workload.
pub struct WorkloadEntry {
    /// Its name on the command line and in reports.
    pub name: &'static str,
    /// One line on what it is.
    pub summary: &'static str,
    /// Its options: (key, meaning and default).
    pub options: &'static [(&'static str, &'static str)],
    /// The threshold of its protocol (the papers' value, where they give one).
    pub threshold: f64,
    /// Further thresholds recorded per task ([`Protocol::also`](crate::harness::Protocol)).
    pub also: &'static [f64],
    /// Updates per task of the default profile (the full profile's too).
    pub cap: usize,
    /// Updates per task of the quick profile (CI smoke).
    pub quick_cap: usize,
    /// The curve spacing is a multiple of this (see [`WorkloadEntry::curve_every`]): 1, or the
    /// workload's evaluation period, so that curve points cost no extra evaluation.
    pub curve_unit: usize,
    /// Options the quick profile sets unless given (smaller data, fewer tasks).
    pub quick_options: &'static [(&'static str, &'static str)],
    /// The data set it reads from the data root (`cargo xtask data` fetches it), if any.
    pub data: Option<&'static str>,
    /// Arms its own protocol adds to every profile, as (name, arm text): the reference setting
    /// of the paper it comes from (BEGAN's Adam at 1e−4, β₁ = 0.5).
    pub reference_arms: &'static [(&'static str, &'static str)],
    /// Whether the full profile tunes each arm's learning rate on it (a grid of runs per arm;
    /// too costly where one run takes long).
    pub full_tuning: bool,
    /// Whether it has a single task: the arms carried across tasks (`+reload`) then run
    /// exactly as their fresh twins and are left out.
    pub one_task: bool,
    /// Whether the full profile runs it when the command line names no workload.
    pub in_full_profile: bool,
    build: Build,
}

impl std::fmt::Debug for WorkloadEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkloadEntry")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl WorkloadEntry {
    /// The curve spacing for `cap` updates per task: about 20 points, at least 10 updates
    /// apart, rounded up to a multiple of [`WorkloadEntry::curve_unit`].
    pub fn curve_every(&self, cap: usize) -> usize {
        let unit = self.curve_unit.max(1);
        (cap / 20).max(10).div_ceil(unit) * unit
    }

    /// A profile's `arms` as this workload runs them: without the `+reload` arms on a
    /// one-task workload, then its reference arms (unless an arm of that name is there).
    pub fn arms(&self, arms: Vec<Arm>) -> Vec<Arm> {
        let mut arms: Vec<Arm> = arms
            .into_iter()
            .filter(|a| !(self.one_task && a.reload))
            .collect();
        for (name, text) in self.reference_arms {
            if !arms.iter().any(|a| a.name == *name) {
                arms.push(
                    Arm::parse(text)
                        .expect("every reference arm parses (tested)")
                        .named(name),
                );
            }
        }
        arms
    }

    /// Builds the workload's task family (loading its data).
    pub fn build(&self, config: &WorkloadConfig) -> Result<Box<dyn TaskFamily + Send>, BenchError> {
        if let Some(bad) = config
            .options
            .keys()
            .find(|k| !self.options.iter().any(|(o, _)| o == k))
        {
            return Err(BenchError::Parse(format!(
                "workload `{}` has no option `{bad}`; its options: {}",
                self.name,
                self.options
                    .iter()
                    .map(|(o, _)| *o)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        (self.build)(self, config)
    }
}

/// The registered workload `name`.
pub fn find(name: &str) -> Result<&'static WorkloadEntry, BenchError> {
    registry().iter().find(|w| w.name == name).ok_or_else(|| {
        BenchError::Parse(format!(
            "unknown workload `{name}`; the workloads are: {}",
            registry()
                .iter()
                .map(|w| w.name)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}
