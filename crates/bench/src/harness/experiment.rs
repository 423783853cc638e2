//! What an experiment is ([`Experiment`]: the [`Protocol`], the arms, the seeds, the settings),
//! one of its runs ([`RunSpec`]), how [`run`](super::run) carries it out ([`RunOptions`]) and
//! what it gives ([`Results`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use lrmem_optimizers::OptimizerSpec;
use serde::{Deserialize, Serialize};

use super::{takes_base_lr, Arm, RunResult, Shard, TunedLr, Tuning};
use crate::BenchError;

/// How every run of an experiment is carried out, whatever the arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Protocol {
    /// The value of the task's metric to reach (the papers' MNIST: test accuracy 0.98).
    pub threshold: f64,
    /// Updates per task; a task that has not reached the threshold by then is censored.
    pub cap: usize,
    /// A full evaluation for the metric curve every this many updates (and at the crossings).
    pub curve_every: usize,
    /// Further thresholds, each recorded per task as the first update that reached it
    /// ([`TaskResult::also`](super::TaskResult::also)); the main `threshold` alone decides tuning. Empty by default
    /// and then left out of the results file, so that files written before it existed load
    /// and resume unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<f64>,
}

/// Which part of an experiment a run belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Setting {
    /// Every arm at the protocol's base learning rate (the papers: 1e−3).
    Paper,
    /// A learning-rate candidate on the first task (picking the tuned rates).
    Tuning,
    /// Each arm at the base learning rate tuning picked for it.
    Tuned,
}

/// One run: an arm, its base learning rate and a seed, through the first `tasks` tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// Which setting the run belongs to.
    pub setting: Setting,
    /// The optimizer and whether it is carried across tasks.
    pub arm: Arm,
    /// The base learning rate set as the spec's `lr` (η₀ for a memory, Δ₀ for Rprop); `None`
    /// keeps the spec's own.
    pub lr: Option<f32>,
    /// Seed of every task's model initialisation and data order.
    pub seed: u64,
    /// How many tasks of the family to run (tuning runs only the first).
    pub tasks: usize,
}

impl RunSpec {
    /// The optimizer this run builds: the arm's spec with `lr` set.
    pub fn optimizer_spec(&self) -> OptimizerSpec {
        match self.lr {
            Some(lr) => self.arm.spec.clone().with("lr", lr),
            None => self.arm.spec.clone(),
        }
    }

    /// The base learning rate the run's optimizer gets: the setting's, else the spec's own
    /// `lr` (`None` when neither sets one: the optimizer's default).
    pub fn base_lr(&self) -> Option<f32> {
        self.lr
            .or_else(|| self.arm.spec.get("lr").and_then(|s| s.parse().ok()))
    }

    /// What identifies a run in a results file (and, for a paper run, which shard holds it:
    /// [`Shard::holds`]).
    pub fn key(&self) -> String {
        format!(
            "{:?}|{}|{}|{:?}|{}|{}",
            self.setting,
            self.arm.name,
            self.arm.reload,
            self.lr.map(f32::to_bits),
            self.seed,
            self.tasks
        )
    }
}

/// Everything that defines an experiment's results (what a resumed results file must match).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// The workload's name (for the record and the report).
    pub workload: String,
    /// How runs are carried out.
    pub protocol: Protocol,
    /// The arms, in report order.
    pub arms: Vec<Arm>,
    /// The seeds of every arm's runs.
    pub seeds: Vec<u64>,
    /// The "paper" setting's base learning rate for every arm (`None`: skip that setting).
    pub base_lr: Option<f32>,
    /// The tuned setting (`None`: skip it).
    pub tuning: Option<Tuning>,
    /// Tasks of the family to run (`None`: all).
    pub tasks: Option<usize>,
}

impl Experiment {
    /// An experiment on `workload` with `protocol`: no arms yet, seed 0, base learning rate
    /// 1e−3 (the papers'), no tuning, every task.
    pub fn new(workload: &str, protocol: Protocol) -> Self {
        Experiment {
            workload: workload.to_string(),
            protocol,
            arms: Vec::new(),
            seeds: vec![0],
            base_lr: Some(1e-3),
            tuning: None,
            tasks: None,
        }
    }

    pub(super) fn validate(&self) -> Result<(), BenchError> {
        let p = &self.protocol;
        if p.cap == 0 || p.curve_every == 0 {
            return Err(BenchError::Invalid(
                "the cap and the curve spacing must be at least 1 update".into(),
            ));
        }
        if let Some(t) = std::iter::once(&p.threshold)
            .chain(&p.also)
            .find(|t| !t.is_finite())
        {
            return Err(BenchError::Invalid(format!(
                "every threshold must be finite, got {t}"
            )));
        }
        if self.arms.is_empty() || self.seeds.is_empty() {
            return Err(BenchError::Invalid(
                "an experiment needs at least one arm and one seed".into(),
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for arm in &self.arms {
            if !names.insert(&arm.name) {
                return Err(BenchError::Invalid(format!(
                    "two arms are named `{}`; name them apart with NAME=SPEC",
                    arm.name
                )));
            }
            let spec = match self.base_lr {
                Some(lr) if takes_base_lr(arm) => arm.spec.clone().with("lr", lr),
                _ => arm.spec.clone(),
            };
            spec.build().map_err(|source| BenchError::Arm {
                arm: arm.name.clone(),
                source: Box::new(source),
            })?;
        }
        if let Some(t) = &self.tuning {
            if t.grid.is_empty() || t.seeds.is_empty() {
                return Err(BenchError::Invalid(
                    "tuning needs a grid and at least one seed".into(),
                ));
            }
            if t.grid.windows(2).any(|w| w[0] >= w[1])
                || t.grid
                    .iter()
                    .any(|x| x.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater))
            {
                return Err(BenchError::Invalid(format!(
                    "the tuning grid must be positive and ascending, got {:?}",
                    t.grid
                )));
            }
        }
        Ok(())
    }
}

/// How [`run`](super::run) carries an experiment out (nothing here changes its results).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Runs in parallel (one task per thread). Default: the machine's cores.
    pub jobs: usize,
    /// Where to append each finished run as one JSON line (`None`: keep them in memory only).
    pub results: Option<PathBuf>,
    /// Skip the runs the results file already holds (it must have been written for the same
    /// [`Experiment`]); a torn last line is dropped and its run redone.
    pub resume: bool,
    /// Carry out only this slice of the runs (one machine of a job array; `None`: every run).
    /// The shards of an experiment are disjoint and together hold every run; [`merge`] joins
    /// their results files.
    ///
    /// [`merge`]: super::merge
    pub shard: Option<Shard>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            results: None,
            resume: false,
            shard: None,
        }
    }
}

/// What [`run`](super::run) returns: every run, in a fixed order (paper runs arm by arm and seed by seed,
/// then the tuning runs, then the tuned runs), and the tuned learning rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// The experiment.
    pub experiment: Experiment,
    /// The workload's task labels, in order.
    pub task_labels: Vec<String>,
    /// The metric's name.
    pub metric: String,
    /// Every run.
    pub runs: Vec<RunResult>,
    /// The learning rate tuning picked per arm (by the tuning twin's name), with how it was
    /// picked.
    pub tuned: BTreeMap<String, TunedLr>,
    /// Runs carried out by this call (the rest came from a resumed results file).
    pub executed: usize,
}
