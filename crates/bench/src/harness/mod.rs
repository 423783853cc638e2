//! The experiment harness: any [`TaskFamily`] × any optimizer of the registry, the papers'
//! transfer protocol, tuning, resumable results.
//!
//! An [`Experiment`] names a protocol (threshold, cap, curve spacing), the [`Arm`]s (an
//! [`OptimizerSpec`] each, and whether it carries its learned state into the next task), the
//! seeds, the base learning rate of the "paper" setting and an optional [`Tuning`]. [`run`]
//! carries it out on a [`TaskFamily`] with [`RunOptions`] (threads, results file, resume) and
//! an [`Observer`] (progress bars, logging); [`run_one`] is one run, for callers that drive
//! their own loop.
//!
//! ```no_run
//! use lrmem_bench::harness::{self, Arm, Experiment, NoObserver, Protocol, RunOptions};
//! use lrmem_tasks::{mnist::{Mnist, PixelScale}, MnistPairs};
//!
//! let mnist = Mnist::load(&lrmem_tasks::mnist::default_dir())?;
//! let family = MnistPairs::new(&mnist, &[(1, 2), (1, 3)], PixelScale::Unit)?;
//! let experiment = Experiment {
//!     arms: vec![Arm::parse("sgd")?, Arm::parse("meta-sgd:xi=0.001+reload")?],
//!     seeds: vec![0, 1],
//!     ..Experiment::new("mnist", Protocol { threshold: 0.98, cap: 3000, curve_every: 150, also: vec![] })
//! };
//! let results = harness::run(&family, &experiment, &RunOptions::default(), &NoObserver)?;
//! for run in &results.runs {
//!     println!("{} seed {}: {:?}", run.spec.arm.name, run.spec.seed, run.tasks[0].outcome);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod store;
mod tune;

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{mpsc, Mutex};
use std::time::Instant;

use lrmem_optimizers::{OptimError, Optimizer, OptimizerSpec};
use lrmem_tasks::{Picture, TaskError, TaskFamily};
use serde::{Deserialize, Serialize};

use crate::BenchError;
pub use store::{ResultsFile, SCHEMA, SCHEMA_VERSION};
pub use tune::{pick_lr, widened, TunedLr};

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
    /// ([`TaskResult::also`]); the main `threshold` alone decides tuning. Empty by default
    /// and then left out of the results file, so that files written before it existed load
    /// and resume unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<f64>,
}

/// Whether a task reached one of [`Protocol::also`]'s thresholds, and when.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Crossing {
    /// The threshold.
    pub threshold: f64,
    /// The first update after which the metric reached it; `None`: censored (or the task
    /// diverged or failed first).
    pub update: Option<usize>,
}

/// One arm: an optimizer with its hyperparameters, and whether it is carried across tasks.
///
/// A plain arm starts every task with a freshly built optimizer. A *reloading* arm keeps its
/// optimizer and calls [`Optimizer::next_task`] between tasks (for a memory of learning rates:
/// keep θ, reset the rest; for most optimizers: a full reset).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Arm {
    /// The name in reports and on the command line (the spec's text unless given).
    pub name: String,
    /// The optimizer. Its `lr` key, if set, overrides the setting's base learning rate.
    pub spec: OptimizerSpec,
    /// Carry the optimizer into the next task with [`Optimizer::next_task`].
    pub reload: bool,
}

impl Arm {
    /// A plain arm named after its spec.
    pub fn new(spec: OptimizerSpec) -> Self {
        Arm {
            name: spec.to_string(),
            spec,
            reload: false,
        }
    }

    /// The same arm, carried across tasks (`+reload` is added to a name derived from the spec).
    pub fn reloading(mut self) -> Self {
        if !self.reload && self.name == self.spec.to_string() {
            self.name.push_str("+reload");
        }
        self.reload = true;
        self
    }

    /// The same arm under another name.
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// Parses `[NAME=]SPEC[+reload]`, e.g. `meta-sgd:xi=0.05,m=20`, `meta-sgd:xi=0.01+reload`
    /// or `fast=meta-sgd:xi=0.1`; SPEC is [`OptimizerSpec`]'s syntax, so any optimizer of the
    /// registry with any hyperparameters is an arm.
    ///
    /// ```
    /// use lrmem_bench::harness::Arm;
    /// let arm = Arm::parse("meta-sgd:xi=0.01+reload")?;
    /// assert!(arm.reload);
    /// assert_eq!(arm.spec.get("xi"), Some("0.01"));
    /// assert_eq!(Arm::parse("mine=adam:lr=0.003")?.name, "mine");
    /// assert!(Arm::parse("no-such-optimizer").is_err());
    /// # Ok::<(), lrmem_bench::BenchError>(())
    /// ```
    pub fn parse(text: &str) -> Result<Arm, BenchError> {
        let text = text.trim();
        let (body, reload) = match text.strip_suffix("+reload") {
            Some(b) => (b.trim(), true),
            None => (text, false),
        };
        // A label is what comes before a `=` that precedes any `:` (the spec's keys follow `:`).
        let label = match (body.find('='), body.find(':')) {
            (Some(eq), colon) if colon.is_none_or(|c| eq < c) => Some(&body[..eq]),
            _ => None,
        };
        let spec_text = label.map_or(body, |l| &body[l.len() + 1..]);
        let spec = OptimizerSpec::parse(spec_text).map_err(|source| BenchError::Arm {
            arm: text.to_string(),
            source: Box::new(source),
        })?;
        let mut arm = Arm::new(spec);
        if reload {
            arm = arm.reloading();
        }
        if let Some(l) = label {
            let l = l.trim();
            if l.is_empty() {
                return Err(BenchError::Parse(format!(
                    "arm `{text}`: the name before `=` is empty"
                )));
            }
            arm = arm.named(l);
        }
        Ok(arm)
    }

    /// The arm whose first task behaves like this one's (tuning runs only the first task, where
    /// a reloading arm is its plain twin).
    pub fn tuning_twin(&self) -> Arm {
        Arm {
            reload: false,
            ..self.clone()
        }
    }
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

    /// What identifies a run in a results file.
    pub(crate) fn key(&self) -> String {
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

/// How a task of a run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Outcome {
    /// The metric reached the threshold after `update` updates.
    Reached {
        /// The first update after which the threshold was reached.
        update: usize,
    },
    /// The cap came first.
    Censored,
    /// The loss, a gradient or a parameter left the floats at `update`; the task stopped.
    Diverged {
        /// The update that diverged.
        update: usize,
        /// What was not finite.
        reason: String,
    },
    /// The optimizer or the task refused to go on for another reason (recorded, the
    /// experiment goes on).
    Failed {
        /// The update that failed.
        update: usize,
        /// The error.
        error: String,
    },
}

impl Outcome {
    /// Updates to the threshold, if reached.
    pub fn reached(&self) -> Option<usize> {
        match self {
            Outcome::Reached { update } => Some(*update),
            _ => None,
        }
    }
}

/// What one task of one run gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    /// The task's label (e.g. `1 vs 2`).
    pub label: String,
    /// How it ended.
    pub outcome: Outcome,
    /// What stopped the task before the cap (divergence or failure), also after a crossing.
    pub stopped: Option<Outcome>,
    /// (updates, metric) every `curve_every` updates, and at the crossing.
    pub curve: Vec<(usize, f64)>,
    /// Updates carried out.
    pub updates: usize,
    /// Mean wall time of one training update (forward, backward, step), µs.
    pub mean_update_us: f64,
    /// Held-out samples the threshold checks evaluated (their cost).
    pub check_samples: u64,
    /// One entry per threshold of [`Protocol::also`], in order (absent in older files).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<Crossing>,
    /// The task's [`Task::extra_metrics`](lrmem_tasks::Task::extra_metrics) after its last
    /// update (absent in older files and for tasks without any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<(String, f64)>,
    /// Further held-out curves ([`Task::curve_metrics`](lrmem_tasks::Task::curve_metrics)),
    /// by name: (updates, value) at every multiple of the curve spacing (absent in older files
    /// and for tasks without any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub curves: Vec<(String, Vec<(usize, f64)>)>,
}

/// One finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// What was run.
    pub spec: RunSpec,
    /// One result per task, in order.
    pub tasks: Vec<TaskResult>,
    /// θ of every memory of learning rates at the end, by memory key (`None` for optimizers
    /// without one).
    pub theta: Option<Vec<(String, Vec<f32>)>>,
    /// Wall time of the whole run, s.
    pub wall_s: f64,
}

/// Watches an experiment without taking part in it: progress bars, logs, θ snapshots. Every
/// method has an empty default; runs happen on several threads at once, hence `Sync`.
pub trait Observer: Sync {
    /// A batch of runs is about to be carried out (`label`: e.g. "paper", "tuning round 1").
    fn phase_started(&self, _label: &str, _runs: &[RunSpec]) {}
    /// A run starts.
    fn run_started(&self, _run: &RunSpec) {}
    /// Update `update` of task `task` finished with training loss `loss`.
    fn updated(&self, _run: &RunSpec, _task: usize, _update: usize, _loss: f32) {}
    /// A full evaluation of task `task` after `update` updates gave `value`.
    fn evaluated(&self, _run: &RunSpec, _task: usize, _update: usize, _value: f64) {}
    /// Task `task` ended; `optimizers` are the arm's optimizers at that point, one per player
    /// of the family ([`TaskFamily::players`]; one for most workloads).
    fn task_finished(
        &self,
        _run: &RunSpec,
        _task: usize,
        _result: &TaskResult,
        _optimizers: &[&dyn Optimizer],
    ) {
    }
    /// Task `task` ended with this picture of what its model makes
    /// ([`Task::picture`](lrmem_tasks::Task::picture); a GAN's samples), after its last
    /// update; not for tasks stopped early.
    fn pictured(&self, _run: &RunSpec, _task: usize, _picture: &Picture) {}
    /// A run ended (also for runs skipped because a resumed results file had them).
    fn run_finished(&self, _result: &RunResult) {}
    /// The batch of runs announced by [`Observer::phase_started`] is done.
    fn phase_finished(&self, _label: &str) {}
}

/// An observer that watches nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl Observer for NoObserver {}

/// The seed of task `k` of a run with seed `seed` (SplitMix64 of both): tasks of one run get
/// independent models and data orders, the same on every machine.
pub fn task_seed(seed: u64, k: usize) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15u64.wrapping_mul(k as u64 + 1));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Whether an error means the run diverged (something left the floats) rather than failed.
fn non_finite(e: &TaskError) -> bool {
    matches!(
        e,
        TaskError::Diverged { .. }
            | TaskError::Optim {
                source: OptimError::NonFiniteGradient { .. },
                ..
            }
            | TaskError::Optim {
                source: OptimError::Memory {
                    source: lrmem_optimizers::memory_core::MemoryError::NonFiniteGradient { .. },
                    ..
                },
                ..
            }
    )
}

/// Carries out one run: builds the optimizer, then each task of `family` in order (a fresh
/// optimizer per task, or the same one after [`Optimizer::next_task`] for a reloading arm),
/// `protocol.cap` updates each, checking the threshold after every update until it is reached.
///
/// Bit for bit reproducible: everything random comes from `spec.seed` through
/// [`task_seed`]. A diverging or failing task is an [`Outcome`], not an error; errors are for
/// what stops the run as a whole (an optimizer that cannot be built, a task that cannot be).
pub fn run_one(
    family: &dyn TaskFamily,
    protocol: &Protocol,
    spec: &RunSpec,
    observer: &dyn Observer,
) -> Result<RunResult, BenchError> {
    let started = Instant::now();
    observer.run_started(spec);
    let build = || {
        spec.optimizer_spec()
            .build()
            .map_err(|source| BenchError::Arm {
                arm: spec.arm.name.clone(),
                source: Box::new(source),
            })
    };
    // One optimizer of the arm per player (a GAN's generator and discriminator).
    let players = family.players();
    let build_all = || {
        (0..players.len())
            .map(|_| build())
            .collect::<Result<Vec<_>, _>>()
    };
    let mut opts = build_all()?;
    let mut results = Vec::new();
    for k in 0..spec.tasks.min(family.len()) {
        if k > 0 {
            if spec.arm.reload {
                opts.iter_mut().for_each(|o| o.next_task());
            } else {
                opts = build_all()?;
            }
        }
        let context = || {
            format!(
                "{} task {} ({}), arm {}, seed {}",
                family.name(),
                k + 1,
                family.label(k),
                spec.arm.name,
                spec.seed
            )
        };
        let task_err = |source| BenchError::Task {
            context: context(),
            source: Box::new(source),
        };
        let mut task = family.build(k, task_seed(spec.seed, k)).map_err(task_err)?;
        let mut reached_at = None;
        let mut also_at: Vec<Option<usize>> = vec![None; protocol.also.len()];
        let mut stopped = None;
        let mut curve = Vec::new();
        let mut curves: Vec<(String, Vec<(usize, f64)>)> = Vec::new();
        let mut samples = 0u64;
        let mut train_time = 0.0f64;
        let mut done = 0usize;
        for t in 1..=protocol.cap {
            let start = Instant::now();
            let mut refs: Vec<&mut dyn Optimizer> =
                opts.iter_mut().map(|o| o as &mut dyn Optimizer).collect();
            let step = task.update_players(&mut refs);
            train_time += start.elapsed().as_secs_f64();
            match step {
                Ok(loss) if loss.is_finite() => observer.updated(spec, k, t, loss),
                Ok(loss) => {
                    stopped = Some(Outcome::Diverged {
                        update: t,
                        reason: format!("training loss {loss}"),
                    });
                    break;
                }
                Err(e) if non_finite(&e) => {
                    stopped = Some(Outcome::Diverged {
                        update: t,
                        reason: e.to_string(),
                    });
                    break;
                }
                Err(e) => {
                    stopped = Some(Outcome::Failed {
                        update: t,
                        error: e.to_string(),
                    });
                    break;
                }
            }
            done = t;
            let mut crossed = false;
            if reached_at.is_none() {
                let check = task.check(protocol.threshold).map_err(task_err)?;
                samples += check.samples;
                if check.reached {
                    reached_at = Some(t);
                    crossed = true;
                }
            }
            for (at, &threshold) in also_at.iter_mut().zip(&protocol.also) {
                if at.is_none() {
                    let check = task.check(threshold).map_err(task_err)?;
                    samples += check.samples;
                    if check.reached {
                        *at = Some(t);
                        crossed = true;
                    }
                }
            }
            if crossed && !t.is_multiple_of(protocol.curve_every) {
                let value = task.evaluate().map_err(task_err)?;
                observer.evaluated(spec, k, t, value);
                curve.push((t, value));
            }
            if t % protocol.curve_every == 0 {
                let value = task.evaluate().map_err(task_err)?;
                observer.evaluated(spec, k, t, value);
                curve.push((t, value));
                for (name, v) in task.curve_metrics().map_err(task_err)? {
                    match curves.iter_mut().find(|(n, _)| *n == name) {
                        Some((_, c)) => c.push((t, v)),
                        None => curves.push((name, vec![(t, v)])),
                    }
                }
            }
        }
        // The task's own extra numbers, unless it stopped early (its model is then unusable).
        let extra = if stopped.is_none() {
            if let Some(picture) = task.picture().map_err(task_err)? {
                observer.pictured(spec, k, &picture);
            }
            task.extra_metrics().map_err(task_err)?
        } else {
            Vec::new()
        };
        // A task that reached the threshold and then diverged still reached it; `stopped`
        // keeps what ended it early.
        let outcome = match (reached_at, &stopped) {
            (Some(update), _) => Outcome::Reached { update },
            (None, Some(stop)) => stop.clone(),
            (None, None) => Outcome::Censored,
        };
        let result = TaskResult {
            label: family.label(k),
            outcome,
            stopped,
            curve,
            updates: done,
            mean_update_us: train_time * 1e6 / done.max(1) as f64,
            check_samples: samples,
            also: protocol
                .also
                .iter()
                .zip(also_at)
                .map(|(&threshold, update)| Crossing { threshold, update })
                .collect(),
            extra,
            curves,
        };
        let refs: Vec<&dyn Optimizer> = opts.iter().map(|o| o as &dyn Optimizer).collect();
        observer.task_finished(spec, k, &result, &refs);
        results.push(result);
    }
    // The memories' θ, named `player/tensor` when there is more than one player.
    let theta: Vec<(String, Vec<f32>)> = if let [opt] = &opts[..] {
        opt.memory_thetas()
    } else {
        players
            .iter()
            .zip(&opts)
            .flat_map(|(p, o)| {
                o.memory_thetas()
                    .into_iter()
                    .map(move |(name, theta)| (format!("{p}/{name}"), theta))
            })
            .collect()
    };
    let result = RunResult {
        spec: spec.clone(),
        tasks: results,
        theta: (!theta.is_empty()).then_some(theta),
        wall_s: started.elapsed().as_secs_f64(),
    };
    observer.run_finished(&result);
    Ok(result)
}

/// How the learning rates of the tuned setting are picked: a grid on the first task, widened
/// at its edges until the pick is interior.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tuning {
    /// The learning rates tried first, ascending.
    pub grid: Vec<f32>,
    /// Seeds of the tuning runs (disjoint from the experiment's seeds).
    pub seeds: Vec<u64>,
    /// At most this many extra rates per side when the pick is at an edge of the grid.
    pub max_widen: usize,
    /// Rates outside [lo, hi] are never tried.
    pub bounds: (f32, f32),
}

impl Default for Tuning {
    /// {1e−4, 3e−4, …, 3e−2}, seeds 100 and 101, up to 3 more rates per side within
    /// [1e−6, 1].
    fn default() -> Self {
        Tuning {
            grid: vec![1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
            seeds: vec![100, 101],
            max_widen: 3,
            bounds: (1e-6, 1.0),
        }
    }
}

impl Tuning {
    /// The tuning of `arm`: this one, or for a peer that runs at its defaults
    /// ([`RegistryEntry::runs_at_defaults`](lrmem_optimizers::RegistryEntry::runs_at_defaults)),
    /// the same grid and bounds moved from around 1e−3 (the papers' rate, which the default
    /// grid brackets) to around the peer's default `lr`: Prodigy's {0.1, 0.3, …, 30} × its
    /// default 1.
    pub fn for_arm(&self, arm: &Arm) -> Tuning {
        let default = arm
            .spec
            .entry()
            .ok()
            .filter(|e| e.runs_at_defaults())
            .and_then(|e| e.default_lr());
        match default {
            Some(lr) => {
                let scale = |x: f32| (f64::from(x) * f64::from(lr) / 1e-3) as f32;
                Tuning {
                    grid: self.grid.iter().map(|&x| scale(x)).collect(),
                    bounds: (scale(self.bounds.0), scale(self.bounds.1)),
                    ..self.clone()
                }
            }
            None => self.clone(),
        }
    }
}

/// Whether `arm` gets the protocol's base learning rate in the paper setting: unless its spec
/// sets `lr`, or it is a peer that runs at its own defaults
/// ([`RegistryEntry::runs_at_defaults`](lrmem_optimizers::RegistryEntry::runs_at_defaults)).
pub fn takes_base_lr(arm: &Arm) -> bool {
    arm.spec.get("lr").is_none() && !arm.spec.entry().is_ok_and(|e| e.runs_at_defaults())
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

    fn validate(&self) -> Result<(), BenchError> {
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

/// How [`run`] carries an experiment out (nothing here changes its results).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Runs in parallel (one task per thread). Default: the machine's cores.
    pub jobs: usize,
    /// Where to append each finished run as one JSON line (`None`: keep them in memory only).
    pub results: Option<PathBuf>,
    /// Skip the runs the results file already holds (it must have been written for the same
    /// [`Experiment`]); a torn last line is dropped and its run redone.
    pub resume: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            results: None,
            resume: false,
        }
    }
}

/// What [`run`] returns: every run, in a fixed order (paper runs arm by arm and seed by seed,
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

/// Carries out `experiment` on `family`: the paper setting (every arm at the base learning
/// rate), then, with [`Experiment::tuning`], the tuning runs on the first task (widening the
/// grid while a pick sits at its edge) and the tuned setting. Each finished run is appended to
/// the results file at once, so a killed experiment resumes where it stopped.
pub fn run(
    family: &dyn TaskFamily,
    experiment: &Experiment,
    options: &RunOptions,
    observer: &dyn Observer,
) -> Result<Results, BenchError> {
    experiment.validate()?;
    if family.is_empty() {
        return Err(BenchError::Invalid(format!(
            "workload `{}` has no tasks",
            family.name()
        )));
    }
    if options.jobs == 0 {
        return Err(BenchError::Invalid("jobs must be at least 1".into()));
    }
    let mut file = match &options.results {
        Some(path) => Some(ResultsFile::open(path, experiment, options.resume)?),
        None => None,
    };
    let mut done: BTreeMap<String, RunResult> = file
        .as_mut()
        .map(|f| f.take_done())
        .unwrap_or_default()
        .into_iter()
        .map(|r| (r.spec.key(), r))
        .collect();
    let mut executed = 0usize;
    let tasks = experiment.tasks.unwrap_or(usize::MAX);
    let mut exec = |label: &str, specs: Vec<RunSpec>| -> Result<Vec<RunResult>, BenchError> {
        let (ready, todo): (Vec<_>, Vec<_>) = specs
            .into_iter()
            .enumerate()
            .partition(|(_, s)| done.contains_key(&s.key()));
        let mut out: Vec<(usize, RunResult)> = ready
            .into_iter()
            .map(|(i, s)| (i, done.remove(&s.key()).expect("partitioned on it")))
            .collect();
        for (_, r) in &out {
            observer.run_finished(r);
        }
        if !todo.is_empty() {
            let runs: Vec<RunSpec> = todo.iter().map(|(_, s)| s.clone()).collect();
            observer.phase_started(label, &runs);
            executed += todo.len();
            let fresh = execute(
                family,
                &experiment.protocol,
                todo,
                options.jobs,
                observer,
                |r| match file.as_mut() {
                    Some(f) => f.append(r),
                    None => Ok(()),
                },
            )?;
            out.extend(fresh);
            observer.phase_finished(label);
        }
        out.sort_by_key(|(i, _)| *i);
        Ok(out.into_iter().map(|(_, r)| r).collect())
    };

    let mut runs = Vec::new();
    if let Some(lr) = experiment.base_lr {
        let specs = experiment
            .arms
            .iter()
            .flat_map(|arm| {
                let lr = takes_base_lr(arm).then_some(lr);
                experiment.seeds.iter().map(move |&seed| RunSpec {
                    setting: Setting::Paper,
                    arm: arm.clone(),
                    lr,
                    seed,
                    tasks,
                })
            })
            .collect();
        runs.extend(exec("paper", specs)?);
    }
    let mut tuned = BTreeMap::new();
    if let Some(tuning) = &experiment.tuning {
        let mut twins: Vec<Arm> = Vec::new();
        for arm in &experiment.arms {
            let twin = arm.tuning_twin();
            if !twins.iter().any(|t| t.name == twin.name) && arm.spec.get("lr").is_none() {
                twins.push(twin);
            }
        }
        let plans: BTreeMap<String, Tuning> = twins
            .iter()
            .map(|t| (t.name.clone(), tuning.for_arm(t)))
            .collect();
        let mut grids: BTreeMap<String, Vec<f32>> = plans
            .iter()
            .map(|(name, plan)| (name.clone(), plan.grid.clone()))
            .collect();
        let mut tuning_runs: Vec<RunResult> = Vec::new();
        let mut pending: Vec<(Arm, f32)> = twins
            .iter()
            .flat_map(|t| plans[&t.name].grid.iter().map(move |&lr| (t.clone(), lr)))
            .collect();
        for round in 0..=2 * tuning.max_widen {
            if pending.is_empty() {
                break;
            }
            let specs: Vec<RunSpec> = pending
                .iter()
                .flat_map(|(arm, lr)| {
                    tuning.seeds.iter().map(move |&seed| RunSpec {
                        setting: Setting::Tuning,
                        arm: arm.clone(),
                        lr: Some(*lr),
                        seed,
                        tasks: 1,
                    })
                })
                .collect();
            let label = if round == 0 {
                "tuning".to_string()
            } else {
                format!("tuning, widened grid (round {round})")
            };
            tuning_runs.extend(exec(&label, specs)?);
            pending.clear();
            for twin in &twins {
                let grid = grids.get_mut(&twin.name).expect("one grid per twin");
                let plan = &plans[&twin.name];
                if let Some(lr) =
                    widened(&tuning_runs, &twin.name, grid, plan, &experiment.protocol)
                {
                    grid.push(lr);
                    grid.sort_by(f32::total_cmp);
                    pending.push((twin.clone(), lr));
                }
            }
        }
        for twin in &twins {
            let grid = &grids[&twin.name];
            tuned.insert(
                twin.name.clone(),
                pick_lr(&tuning_runs, &twin.name, grid, &experiment.protocol),
            );
        }
        runs.extend(tuning_runs);
        let specs = experiment
            .arms
            .iter()
            .flat_map(|arm| {
                let lr = tuned.get(&arm.tuning_twin().name).map(|t| t.lr);
                experiment.seeds.iter().map(move |&seed| RunSpec {
                    setting: Setting::Tuned,
                    arm: arm.clone(),
                    lr,
                    seed,
                    tasks,
                })
            })
            .collect();
        runs.extend(exec("tuned", specs)?);
    }
    Ok(Results {
        experiment: experiment.clone(),
        task_labels: (0..family.len().min(tasks))
            .map(|k| family.label(k))
            .collect(),
        metric: family.metric().name.to_string(),
        runs,
        tuned,
        executed,
    })
}

/// Runs `specs` on `jobs` threads; `finished` sees each result as soon as it is there (on this
/// thread, in completion order); the results come back tagged with their index.
fn execute(
    family: &dyn TaskFamily,
    protocol: &Protocol,
    specs: Vec<(usize, RunSpec)>,
    jobs: usize,
    observer: &dyn Observer,
    mut finished: impl FnMut(&RunResult) -> Result<(), BenchError>,
) -> Result<Vec<(usize, RunResult)>, BenchError> {
    let n = specs.len();
    let queue = Mutex::new(specs.into_iter().collect::<VecDeque<_>>());
    let (tx, rx) = mpsc::channel();
    let mut out = Vec::with_capacity(n);
    let mut first_error = None;
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(n) {
            let tx = tx.clone();
            let queue = &queue;
            scope.spawn(move || {
                // Parallel runs each keep to a thread of their own: dfdx's CPU matmuls split
                // over rayon's global pool, where the runs would trade places (a thousand
                // context switches per BEGAN update, ≈ 15 % slower with 2 runs on 2 cores).
                let pool = (jobs > 1)
                    .then(|| rayon::ThreadPoolBuilder::new().num_threads(1).build().ok())
                    .flatten();
                loop {
                    let Some((i, spec)) = queue.lock().expect("queue lock").pop_front() else {
                        break;
                    };
                    let run = || run_one(family, protocol, &spec, observer);
                    let r = match &pool {
                        Some(pool) => pool.install(run),
                        None => run(),
                    };
                    if tx.send((i, r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (i, r) in rx {
            match r.and_then(|r| finished(&r).map(|()| r)) {
                Ok(r) => out.push((i, r)),
                Err(e) => {
                    // Stop handing out work; the runs in flight finish and are dropped.
                    queue.lock().expect("queue lock").clear();
                    first_error.get_or_insert(e);
                }
            }
        }
    });
    match first_error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}
