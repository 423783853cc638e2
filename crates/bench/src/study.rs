//! Does a memory of learning rates pay? The study behind [`MemoryConfig::recommended`]:
//!
//! 1. **Diagnosis** ([`diagnose`]): what the memory does on the cases where it fails — θ per
//!    centre over time, where the queries fall among the centres, how often the signal says
//!    "keep going", the rates each layer actually gets.
//! 2. **Development** ([`StudyPlan::dev`]): the variants of `memory-core` and `optimizers`
//!    (θ in log space, the sign signal, the RMS-scaled query, what a reload carries, Meta-Adam
//!    queried with the gradient) on the development tasks only, at several η₀, scored by
//!    updates to the threshold.
//! 3. **Held-out evaluation** ([`StudyPlan::held_out`]): the recommended memory, frozen in code,
//!    against SGD, Adam and the learning-rate-free peers on tasks never looked at while
//!    choosing, over five decades of η₀ (the sensitivity curves), with the ablation of each
//!    variant, and the three targets checked.
//!
//! Every stage is an [`Experiment`] of the harness, so runs are parallel, resumable and
//! reproducible bit for bit from their seeds.
//!
//! [`MemoryConfig::recommended`]: lrmem_optimizers::MemoryConfig::recommended

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use lrmem_optimizers::registry::{registry, Family, Tier};
use lrmem_optimizers::{Base, Field, Inspect, MemoryConfig, MemoryOptimizer, Meta, MetaConfig};
use lrmem_tasks::TaskFamily;
use serde::{Deserialize, Serialize};

use crate::harness::{self, task_seed, Arm, Experiment, Outcome, Protocol, Results};
use crate::plot::{self, Line};
use crate::BenchError;

/// The recommended memory as an arm: what [`MetaConfig::recommended`] builds, in the
/// registry's words (a test checks that the two step alike).
pub const RECOMMENDED: &str = lrmem_optimizers::RECOMMENDED_SPEC;

/// One diagnosed configuration: a memory over SGD or Adam.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Its name in the report.
    pub name: String,
    /// Adam's directions (`meta-adam`) instead of SGD's.
    pub adam: bool,
    /// The memory and its query.
    pub config: MetaConfig,
}

impl Case {
    /// The memory of the authors' code (their defaults: 20 centres over ±1, Adam on θ, the
    /// clipped product) at η₀ = 10⁻³ and meta learning rate `xi`, over SGD or Adam.
    pub fn authors(xi: f32, adam: bool) -> Case {
        Case {
            name: format!("{}-xi{xi}", if adam { "meta-adam" } else { "meta-sgd" }),
            adam,
            config: MetaConfig {
                memory: MemoryConfig {
                    eta0: 1e-3,
                    optimizer: MemoryOptimizer::adam(xi),
                    ..MemoryConfig::default()
                },
                ..MetaConfig::default()
            },
        }
    }

    /// Meta-Adam queried with the gradient, θ in log space (ξ = 0.01), the sign signal and
    /// the RMS-scaled query over ±3, at η₀ = 10⁻³: the development candidate that makes
    /// Meta-Adam learn.
    pub fn adam_grad() -> Case {
        Case {
            name: "adam-grad-log-sign-rms-xi0.01".into(),
            adam: true,
            config: MetaConfig {
                memory: MemoryConfig {
                    eta0: 1e-3,
                    clip: 3.0,
                    signal: lrmem_optimizers::Signal::Sign,
                    optimizer: MemoryOptimizer::adam(0.01),
                    space: lrmem_optimizers::ThetaSpace::Log,
                    scale: lrmem_optimizers::QueryScale::Rms { beta: 0.99 },
                    ..MemoryConfig::default()
                },
                query: lrmem_optimizers::Query::Gradient,
            },
        }
    }
}

/// What one tensor's memory looked like over a window of updates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorSnapshot {
    /// The tensor.
    pub tensor: String,
    /// θ per centre at the end of the window.
    pub theta: Vec<f32>,
    /// Mean, min and max of the rates its last step applied.
    pub rates: [f32; 3],
    /// Share of the window's queries nearest each centre (sums to 1).
    pub at_centre: Vec<f32>,
    /// Share of the window's queries clipped (at ±clip).
    pub clipped: f32,
    /// Share of the window's coordinates whose query kept its sign (signal > 0) among those
    /// with a non-zero signal.
    pub kept_sign: f32,
    /// RMS of the window's (clipped) queries.
    pub query_rms: f32,
}

/// The memory after `update` updates, and the task's metric then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Updates done.
    pub update: usize,
    /// The task's held-out metric.
    pub metric: f64,
    /// Every tensor with a memory.
    pub tensors: Vec<TensorSnapshot>,
}

/// What [`diagnose`] recorded for one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// The case's name.
    pub case: String,
    /// The task's label.
    pub task: String,
    /// The memory's centres.
    pub centres: Vec<f32>,
    /// The memory's clip.
    pub clip: f32,
    /// One snapshot every `every` updates.
    pub snapshots: Vec<Snapshot>,
    /// The update at which the run stopped early (loss or parameters no longer finite).
    pub diverged: Option<usize>,
}

/// Per-tensor accumulators of one window.
#[derive(Default)]
struct Window {
    counts: Vec<u64>,
    clipped: u64,
    queries: u64,
    kept: u64,
    signals: u64,
    sq: f64,
    prev: Vec<f32>,
}

/// Runs `case` on task `task` of `family` (seeded as the harness seeds run `seed`) for
/// `updates` updates, and records a [`Snapshot`] every `every` updates.
pub fn diagnose(
    family: &dyn TaskFamily,
    task: usize,
    seed: u64,
    case: &Case,
    updates: usize,
    every: usize,
) -> Result<Diagnosis, BenchError> {
    let err = |e: lrmem_optimizers::OptimError| BenchError::Invalid(format!("{}: {e}", case.name));
    let run = DiagnosisRun {
        family,
        task,
        seed,
        case,
        updates,
        every,
    };
    if case.adam {
        run.with(Meta::adam(case.config).map_err(err)?)
    } else {
        run.with(Meta::sgd(case.config).map_err(err)?)
    }
}

/// The arguments of [`diagnose`], for its generic half.
struct DiagnosisRun<'a> {
    family: &'a dyn TaskFamily,
    task: usize,
    seed: u64,
    case: &'a Case,
    updates: usize,
    every: usize,
}

impl DiagnosisRun<'_> {
    fn with<B: Base + Inspect>(&self, mut opt: Meta<B>) -> Result<Diagnosis, BenchError> {
        let DiagnosisRun {
            family,
            task,
            seed,
            case,
            updates,
            every,
        } = *self;
        let context = || format!("diagnosis {} on {}", case.name, family.label(task));
        let task_err = |source| BenchError::Task {
            context: context(),
            source: Box::new(source),
        };
        let mut t = family
            .build(task, task_seed(seed, task))
            .map_err(task_err)?;
        let clip = case.config.memory.clip;
        let mut centres = Vec::new();
        let mut windows: BTreeMap<String, Window> = BTreeMap::new();
        let mut snapshots = Vec::new();
        let mut diverged = None;
        for u in 1..=updates {
            match t.update(&mut opt) {
                Ok(loss) if loss.is_finite() => {}
                _ => {
                    diverged = Some(u);
                    break;
                }
            }
            let view = opt.state();
            for (name, fields) in &view.tensors {
                let Some(Field::Values(trace)) = fields.get("trace") else {
                    continue;
                };
                if trace.is_empty() {
                    continue;
                }
                if centres.is_empty() {
                    if let Some(m) = opt.memory(name) {
                        centres = m.grid().centers().to_vec();
                    }
                }
                let w = windows.entry(name.clone()).or_default();
                if w.counts.len() != centres.len() {
                    w.counts = vec![0; centres.len()];
                }
                for (i, &z) in trace.iter().enumerate() {
                    let k = centres.partition_point(|&c| c < z);
                    let nearest = if k == 0 {
                        0
                    } else if k == centres.len() || z - centres[k - 1] <= centres[k] - z {
                        k - 1
                    } else {
                        k
                    };
                    w.counts[nearest] += 1;
                    w.clipped += u64::from(z.abs() >= clip);
                    w.sq += f64::from(z) * f64::from(z);
                    if let Some(&p) = w.prev.get(i) {
                        let s = p * z;
                        if s != 0.0 {
                            w.signals += 1;
                            w.kept += u64::from(s > 0.0);
                        }
                    }
                }
                w.queries += trace.len() as u64;
                w.prev.clear();
                w.prev.extend_from_slice(trace);
            }
            drop(view);
            if u % every == 0 || u == updates {
                let metric = t.evaluate().map_err(task_err)?;
                let mut tensors = Vec::new();
                for (name, w) in windows.iter_mut() {
                    let (Some(m), Some(r)) = (opt.memory(name), opt.last_rates(name)) else {
                        continue;
                    };
                    let n = w.queries.max(1) as f32;
                    tensors.push(TensorSnapshot {
                        tensor: name.clone(),
                        theta: m.theta().to_vec(),
                        rates: [r.mean, r.min, r.max],
                        at_centre: w.counts.iter().map(|&c| c as f32 / n).collect(),
                        clipped: w.clipped as f32 / n,
                        kept_sign: w.kept as f32 / w.signals.max(1) as f32,
                        query_rms: (w.sq / f64::from(n)).sqrt() as f32,
                    });
                    let prev = std::mem::take(&mut w.prev);
                    *w = Window {
                        counts: vec![0; centres.len()],
                        prev,
                        ..Window::default()
                    };
                }
                snapshots.push(Snapshot {
                    update: u,
                    metric,
                    tensors,
                });
            }
        }
        Ok(Diagnosis {
            case: case.name.clone(),
            task: family.label(task),
            centres,
            clip,
            snapshots,
            diverged,
        })
    }
}

/// A named arm text of the study: a variant, or a peer.
pub type Variant = (&'static str, &'static str);

/// The first development round: the authors' memory and the variants of `memory-core` and
/// `optimizers`, over SGD and over Adam. Names say base, query, θ space, signal, query scale
/// and ξ.
pub const VARIANTS: &[Variant] = &[
    ("authors", "meta-sgd:xi=0.001"),
    (
        "sgd-log-sign-rms-xi0.01",
        "meta-sgd:xi=0.01,space=log,signal=sign,scale=rms,clip=3",
    ),
    (
        "sgd-linear-sign-rms-xi0.001",
        "meta-sgd:xi=0.001,signal=sign,scale=rms,clip=3",
    ),
    (
        "sgd-log-product-rms-xi0.01",
        "meta-sgd:xi=0.01,space=log,scale=rms,clip=3",
    ),
    (
        "sgd-log-sign-raw-xi0.01",
        "meta-sgd:xi=0.01,space=log,signal=sign",
    ),
    (
        "sgd-log-sign-rms-xi0.003",
        "meta-sgd:xi=0.003,space=log,signal=sign,scale=rms,clip=3",
    ),
    (
        "sgd-log-sign-rms-xi0.03",
        "meta-sgd:xi=0.03,space=log,signal=sign,scale=rms,clip=3",
    ),
    (
        "sgd-log-sign-rms-xi0.1",
        "meta-sgd:xi=0.1,space=log,signal=sign,scale=rms,clip=3",
    ),
    ("adam-authors-xi0.01", "meta-adam:xi=0.01"),
    (
        "adam-grad-log-sign-rms-xi0.01",
        "meta-adam:xi=0.01,query=grad,space=log,signal=sign,scale=rms,clip=3",
    ),
    (
        "adam-grad-log-product-rms-xi0.01",
        "meta-adam:xi=0.01,query=grad,space=log,scale=rms,clip=3",
    ),
];

/// The second development round: Meta-Adam queried with the gradient (the best of the first
/// round at η₀ ≤ 10⁻³, which collapsed at 10⁻² because 1% per step could not lower its rate
/// in time) with faster θ: larger relative steps, or θ in linear space.
pub const ROUND2: &[Variant] = &[
    (
        "adam-grad-log-sign-rms-xi0.03",
        "meta-adam:xi=0.03,query=grad,space=log,signal=sign,scale=rms,clip=3",
    ),
    (
        "adam-grad-log-sign-rms-xi0.1",
        "meta-adam:xi=0.1,query=grad,space=log,signal=sign,scale=rms,clip=3",
    ),
    (
        "adam-grad-linear-sign-rms-xi0.001",
        "meta-adam:xi=0.001,query=grad,signal=sign,scale=rms,clip=3",
    ),
    (
        "adam-grad-linear-sign-rms-xi0.0003",
        "meta-adam:xi=0.0003,query=grad,signal=sign,scale=rms,clip=3",
    ),
];

/// The third development round: the memory over two inputs, the gradient and its tensor's
/// gradient scale relative to its running RMS (`meta-ctx-sgd`, `lrmem_memory_core::ContextMemory`),
/// over the authors' settings (the first two rounds' winner), with 5 and with 3 contexts.
pub const ROUND3: &[Variant] = &[
    ("sgd-context5-xi0.001", "meta-ctx-sgd:xi=0.001"),
    ("sgd-context3-xi0.001", "meta-ctx-sgd:xi=0.001,contexts=3"),
];

/// What a reload carries, on the development tasks (first round, on the first proposal
/// `sgd-log-sign-rms-xi0.01`).
pub const RELOADS: &[Variant] = &[
    (
        "sgd-log-sign-rms-reload-theta",
        "meta-sgd:xi=0.01,space=log,signal=sign,scale=rms,clip=3,reload=theta",
    ),
    (
        "sgd-log-sign-rms-reload-moments",
        "meta-sgd:xi=0.01,space=log,signal=sign,scale=rms,clip=3,reload=moments",
    ),
    (
        "sgd-log-sign-rms-reload-decay",
        "meta-sgd:xi=0.01,space=log,signal=sign,scale=rms,clip=3,reload=decay,reload_keep=0.5",
    ),
];

/// The held-out ablation: the recommended memory (the authors' settings, ξ = 10⁻³ over SGD)
/// with one variant switched on at a time, everything else fixed.
pub const ABLATION: &[Variant] = &[
    ("with-sign", "meta-sgd:xi=0.001,signal=sign"),
    ("with-rms", "meta-sgd:xi=0.001,scale=rms,clip=3"),
    (
        "with-sign-rms",
        "meta-sgd:xi=0.001,signal=sign,scale=rms,clip=3",
    ),
    ("with-log-xi0.01", "meta-sgd:xi=0.01,space=log"),
    ("over-adam-grad", "meta-adam:xi=0.001,query=grad"),
    ("over-adam-m", "meta-adam:xi=0.001"),
    ("with-context", "meta-ctx-sgd:xi=0.001"),
];

/// The held-out sensitivity to ξ: the recommended memory at ξ over three decades around its
/// 10⁻³ (which the evaluation stage runs), η₀ = 10⁻³.
pub const XI_SWEEP: &[(f32, Variant)] = &[
    (1e-4, ("xi=0.0001", "meta-sgd:xi=0.0001")),
    (1e-2, ("xi=0.01", "meta-sgd:xi=0.01")),
    (1e-1, ("xi=0.1", "meta-sgd:xi=0.1")),
];

/// The held-out ablation of what a reload keeps (carried across tasks).
pub const ABLATION_RELOADS: &[Variant] = &[
    ("reload-moments", "meta-sgd:xi=0.001,reload=moments"),
    (
        "reload-decay",
        "meta-sgd:xi=0.001,reload=decay,reload_keep=0.5",
    ),
];

/// The peers of the sensitivity curves that take a base learning rate: the registry's
/// [`Family::Reference`] entries (SGD, Adam) at their defaults, each swept over η₀.
pub fn rate_peers() -> Vec<Variant> {
    registry()
        .iter()
        .filter(|e| e.family == Family::Reference)
        .map(|e| (e.name, e.name))
        .collect()
}

/// The learning-rate-free peers at their defaults: the registry's [`Family::LearningRateFree`]
/// presets up to the headline tier, the same set the learned optimizer's study and the default
/// profile run.
pub fn free_peers() -> Vec<Arm> {
    crate::workloads::arms::family(Family::LearningRateFree, Tier::Headline)
}

/// Which arms a stage runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StageKind {
    /// Development: every variant at every development rate, the reload options.
    Dev,
    /// Development, second round: the [`ROUND2`] candidates at every development rate.
    DevRound2,
    /// Development, third round: the [`ROUND3`] candidates (the memory over two inputs) at
    /// every development rate.
    DevRound3,
    /// Held-out evaluation: the recommended memory, the authors', SGD and Adam at every rate,
    /// the learning-rate-free peers at their defaults, the recommended memory reloaded.
    Core,
    /// Held-out ablation: every other variant and reload option, and the recommended memory
    /// at other ξ ([`XI_SWEEP`]), at η₀ = 10⁻³.
    Ablation,
    /// The ablation on the development tasks: the [`StageKind::Ablation`] arms and the
    /// recommended memory itself (fresh and reloaded), everything with the held-out seeds.
    DevAblation,
}

/// One stage's workloads: (workload, options, tasks to run, the tasks that count).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// Which arms it runs.
    pub kind: StageKind,
    /// The workload's registry name.
    pub workload: String,
    /// Its options (e.g. `pairs`).
    pub options: BTreeMap<String, String>,
    /// Tasks of the family to run (the first ones).
    pub tasks: usize,
    /// The 0-based tasks whose results this stage reports (the others ran only to carry a
    /// memory into them).
    pub counted: Vec<usize>,
    /// Development tasks among those run (a dynamics workload's first task), reported apart
    /// from the held-out ones.
    pub development: Vec<usize>,
    /// The threshold, where not the workload's own (one of its further thresholds).
    #[serde(default)]
    pub threshold: Option<f64>,
    /// Updates per task.
    pub cap: usize,
}

/// The whole study: which tasks are development and which held out, the rates and seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyPlan {
    /// Development: where the recommended configuration was chosen.
    pub dev: Vec<Stage>,
    /// Held out: never looked at while choosing.
    pub held_out: Vec<Stage>,
    /// η₀ of the development runs.
    pub dev_rates: Vec<f32>,
    /// Seeds of the development runs (apart from the held-out seeds).
    pub dev_seeds: Vec<u64>,
    /// η₀ of the sensitivity curves (five decades).
    pub rates: Vec<f32>,
    /// Seeds of the held-out runs.
    pub seeds: Vec<u64>,
    /// Diagnosis: updates and snapshot spacing.
    pub diagnosis: [usize; 2],
}

fn stage(
    kind: StageKind,
    workload: &str,
    options: &[(&str, &str)],
    tasks: usize,
    counted: &[usize],
    cap: usize,
) -> Stage {
    Stage {
        kind,
        workload: workload.to_string(),
        options: options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        tasks,
        counted: counted.to_vec(),
        development: Vec::new(),
        threshold: None,
        cap,
    }
}

impl StudyPlan {
    /// The full study: development on MNIST 1v2, 1v3, 1v4 (the papers' sequence); held out,
    /// each as the evaluation of the recommended memory and the ablation, on MNIST 2v3, 4v9,
    /// 5v8 (digit pairs of varied difficulty never looked at) and on Fashion-MNIST 1v2, 1v3,
    /// 1v4; the evaluation on the later tasks of the robot's inverse and forward dynamics
    /// (their first tasks, development tasks, reported apart) and on the GAN; η₀ from 10⁻⁵ to 1; 5 held-out
    /// seeds. After the three choosing rounds, the ablation runs on the development tasks too
    /// (with the held-out seeds), to be reported apart from the held-out ablation.
    pub fn full() -> Self {
        use StageKind::{Ablation, Core, Dev, DevAblation, DevRound2, DevRound3};
        let dev: &[(&str, &str)] = &[("pairs", "1-2,1-3,1-4")];
        let mnist: &[(&str, &str)] = &[("pairs", "2-3,4-9,5-8")];
        let fashion: &[(&str, &str)] = &[("pairs", "1-2,1-3,1-4")];
        StudyPlan {
            dev: vec![
                stage(Dev, "mnist", dev, 3, &[0, 1, 2], 3000),
                stage(DevRound2, "mnist", dev, 3, &[0, 1, 2], 3000),
                stage(DevRound3, "mnist", dev, 3, &[0, 1, 2], 3000),
                // After the choice: what each variant does on the tasks it was chosen on.
                stage(DevAblation, "mnist", dev, 3, &[0, 1, 2], 3000),
            ],
            held_out: vec![
                stage(Core, "mnist", mnist, 3, &[0, 1, 2], 3000),
                stage(Ablation, "mnist", mnist, 3, &[0, 1, 2], 3000),
                stage(Core, "fashion-mnist", fashion, 3, &[0, 1, 2], 3000),
                stage(Ablation, "fashion-mnist", fashion, 3, &[0, 1, 2], 3000),
                Stage {
                    development: vec![0],
                    ..stage(Core, "panda-inverse", &[], 3, &[1, 2], 50_000)
                },
                stage(Core, "began", &[], 1, &[0], 1500),
                // NMSE 0.6, the workload's threshold chosen on its first task (0.1 is out of
                // reach within its cap; see `lrmem_bench::workloads`).
                Stage {
                    development: vec![0],
                    threshold: Some(0.6),
                    ..stage(Core, "panda-forward", &[], 3, &[1, 2], 3000)
                },
            ],
            dev_rates: vec![1e-4, 1e-3, 1e-2],
            dev_seeds: vec![100, 101],
            rates: vec![1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0],
            seeds: (0..5).collect(),
            diagnosis: [3000, 100],
        }
    }

    /// The seeds of the development stage `stage`: the ablation's are the held-out seeds (its
    /// table needs as many as the held-out one), the choosing rounds' the development seeds.
    pub fn dev_stage_seeds(&self, stage: &Stage) -> &[u64] {
        if stage.kind == StageKind::DevAblation {
            &self.seeds
        } else {
            &self.dev_seeds
        }
    }

    /// A smoke of every stage for CI: one development and one held-out pair, short caps, two
    /// rates, one seed.
    pub fn quick() -> Self {
        use StageKind::{Ablation, Core, Dev};
        StudyPlan {
            dev: vec![stage(Dev, "mnist", &[("pairs", "1-2")], 1, &[0], 200)],
            held_out: vec![
                stage(Core, "mnist", &[("pairs", "2-3")], 1, &[0], 200),
                stage(Ablation, "mnist", &[("pairs", "2-3")], 1, &[0], 200),
            ],
            dev_rates: vec![1e-3],
            dev_seeds: vec![100],
            rates: vec![1e-3, 1e-1],
            seeds: vec![0],
            diagnosis: [100, 50],
        }
    }
}

/// The arms of a sweep: each variant at each rate (`NAME@lr`), carried across tasks where
/// `reload`.
pub fn sweep_arms(
    variants: &[Variant],
    rates: &[f32],
    reload: bool,
) -> Result<Vec<Arm>, BenchError> {
    let mut arms = Vec::new();
    for (name, text) in variants {
        for &lr in rates {
            let mut arm = Arm::parse(text)?;
            arm.spec = arm.spec.with("lr", lr);
            arm = arm.named(&format!("{name}@{lr}"));
            if reload {
                arm = arm.reloading().named(&format!("{name}+reload@{lr}"));
            }
            arms.push(arm);
        }
    }
    Ok(arms)
}

/// Arms at their own defaults.
pub fn default_arms(variants: &[Variant]) -> Result<Vec<Arm>, BenchError> {
    variants
        .iter()
        .map(|(name, text)| Ok(Arm::parse(text)?.named(name)))
        .collect()
}

/// The harness experiment of `stage` with `arms` and `seeds`.
pub fn experiment(stage: &Stage, arms: Vec<Arm>, seeds: &[u64]) -> Result<Experiment, BenchError> {
    let entry = crate::workloads::find(&stage.workload)?;
    let protocol = Protocol {
        threshold: stage.threshold.unwrap_or(entry.threshold),
        cap: stage.cap,
        curve_every: entry.curve_every(stage.cap),
        also: Vec::new(),
    };
    Ok(Experiment {
        arms,
        seeds: seeds.to_vec(),
        // Every arm sets its own `lr` or runs at its defaults; the "paper" setting is the one
        // that runs them.
        base_lr: Some(1e-3),
        tuning: None,
        tasks: Some(stage.tasks),
        ..Experiment::new(&stage.workload, protocol)
    })
}

/// Updates to the threshold of one task of one run, with censored, diverged and failed runs at
/// twice the cap (so that a miss costs more than the slowest success).
pub fn cost(outcome: &Outcome, cap: usize) -> f64 {
    outcome.reached().map_or(2.0 * cap as f64, |u| u as f64)
}

/// Per arm and counted task: (mean updates with misses at the cap, misses, runs), and the
/// arm's score: the mean of ln [`cost`] over tasks and seeds (lower is better).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmSummary {
    /// The arm.
    pub arm: String,
    /// Per counted task: mean updates (misses at the cap), misses, runs.
    pub tasks: Vec<(f64, usize, usize)>,
    /// Mean of ln cost over tasks and seeds.
    pub score: f64,
    /// Mean training time per update over the counted tasks' runs, in µs (forward, backward
    /// and step; comparable between arms of one stage, which ran side by side).
    #[serde(default)]
    pub us_per_update: f64,
}

/// Summarises `results` per arm over `stage`'s counted tasks.
pub fn summarise(results: &Results, stage: &Stage) -> Vec<ArmSummary> {
    let cap = stage.cap;
    results
        .experiment
        .arms
        .iter()
        .map(|arm| {
            let runs: Vec<_> = results
                .runs
                .iter()
                .filter(|r| r.spec.arm.name == arm.name)
                .collect();
            let mut logs = Vec::new();
            let mut times = Vec::new();
            let tasks = stage
                .counted
                .iter()
                .map(|&k| {
                    let mut sum = 0.0;
                    let mut missed = 0;
                    let mut n = 0;
                    for r in &runs {
                        let Some(t) = r.tasks.get(k) else {
                            // The run stopped before this task: a miss.
                            missed += 1;
                            n += 1;
                            sum += cap as f64;
                            logs.push((2.0 * cap as f64).ln());
                            continue;
                        };
                        n += 1;
                        times.push(t.mean_update_us);
                        match t.outcome.reached() {
                            Some(u) => sum += u as f64,
                            None => {
                                missed += 1;
                                sum += cap as f64;
                            }
                        }
                        logs.push(cost(&t.outcome, cap).ln());
                    }
                    (sum / n.max(1) as f64, missed, n)
                })
                .collect();
            let score = logs.iter().sum::<f64>() / logs.len().max(1) as f64;
            ArmSummary {
                arm: arm.name.clone(),
                tasks,
                score,
                us_per_update: times.iter().sum::<f64>() / times.len().max(1) as f64,
            }
        })
        .collect()
}

/// A figure of θ per centre over updates (log-log) for the first and the last weight tensor,
/// one file each: `stem_TENSOR.svg`.
pub fn plot_diagnosis(d: &Diagnosis, stem: &Path) -> Result<Vec<std::path::PathBuf>, BenchError> {
    let mut out = Vec::new();
    let Some(first) = d.snapshots.first() else {
        return Ok(out);
    };
    // The first and the last weight tensor (the input layer and the output layer).
    let weights: Vec<usize> = (0..first.tensors.len())
        .filter(|&i| first.tensors[i].tensor.ends_with("weight"))
        .collect();
    let picked: Vec<usize> = match (weights.first(), weights.last()) {
        (Some(&a), Some(&b)) if a != b => vec![a, b],
        (Some(&a), _) => vec![a],
        _ => Vec::new(),
    };
    for ti in picked {
        let t = &first.tensors[ti];
        let lines: Vec<Line> = (0..t.theta.len())
            .map(|m| Line {
                label: format!("c = {:+.2}", d.centres.get(m).copied().unwrap_or(f32::NAN)),
                points: d
                    .snapshots
                    .iter()
                    .filter_map(|s| {
                        s.tensors
                            .get(ti)
                            .map(|x| (s.update as f64, f64::from(x.theta[m])))
                    })
                    .collect(),
                colour: plot::colour(m),
                dashed: false,
            })
            .collect();
        let path = stem.with_file_name(format!(
            "{}_{}",
            stem.file_name().and_then(|s| s.to_str()).unwrap_or("theta"),
            t.tensor.replace('.', "-")
        ));
        let [svg, _] = plot::log_log_lines(
            &path,
            &format!(
                "{} on {}: θ per centre, tensor {}",
                d.case, d.task, t.tensor
            ),
            "updates",
            "θ_m",
            &lines,
        )
        .map_err(|e| BenchError::Plot {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        out.push(svg);
    }
    Ok(out)
}

/// The diagnosis tables: per case, at a few snapshots, each tensor's query spread over the
/// centres, kept-sign share, θ range and applied rates.
pub fn diagnosis_table(d: &Diagnosis) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "\n**{}** on {} ({}):\n",
        d.case,
        d.task,
        match d.diverged {
            Some(u) => format!("diverged at update {u}"),
            None => format!("{} updates", d.snapshots.last().map_or(0, |s| s.update)),
        }
    );
    md.push_str("| update | metric | tensor | query RMS | share at the 2 busiest centres | clipped | kept sign | θ min…max | rate mean (min…max) |\n|---|---|---|---|---|---|---|---|---|\n");
    let n = d.snapshots.len();
    let picks: Vec<usize> = [0, n / 2, n.saturating_sub(1)]
        .into_iter()
        .filter(|&i| i < n)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for i in picks {
        let s = &d.snapshots[i];
        for t in &s.tensors {
            let mut shares = t.at_centre.clone();
            shares.sort_by(|a, b| b.total_cmp(a));
            let busiest = shares.iter().take(2).sum::<f32>();
            let (lo, hi) = t
                .theta
                .iter()
                .fold((f32::MAX, f32::MIN), |(l, h), &x| (l.min(x), h.max(x)));
            let _ = writeln!(
                md,
                "| {} | {:.3} | {} | {:.2e} | {:.0}% | {:.1}% | {:.0}% | {:.1e}…{:.1e} | {:.1e} ({:.1e}…{:.1e}) |",
                s.update,
                s.metric,
                t.tensor,
                t.query_rms,
                100.0 * busiest,
                100.0 * t.clipped,
                100.0 * t.kept_sign,
                lo,
                hi,
                t.rates[0],
                t.rates[1],
                t.rates[2]
            );
        }
    }
    md
}

/// A table of summaries: one row per arm, a column per counted task, and the score.
pub fn summary_table(summaries: &[ArmSummary], labels: &[String], cap: usize) -> String {
    let mut md = String::from("| arm |");
    for l in labels {
        let _ = write!(md, " {l} | missed |");
    }
    md.push_str(" score (mean ln updates) | µs per update |\n|---|");
    for _ in labels {
        md.push_str("---|---|");
    }
    md.push_str("---|---|\n");
    for s in summaries {
        let _ = write!(md, "| {} |", s.arm);
        for &(mean, missed, n) in &s.tasks {
            if n == 0 {
                md.push_str(" — | 0/0 |");
                continue;
            }
            let ge = if missed > 0 { "≥ " } else { "" };
            let _ = write!(md, " {ge}{mean:.0} | {missed}/{n} |");
        }
        if s.tasks.iter().all(|t| t.2 == 0) {
            md.push_str(" — | — |\n");
        } else {
            let _ = writeln!(md, " {:.2} | {:.0} |", s.score, s.us_per_update);
        }
    }
    let _ = writeln!(
        md,
        "\n(Misses count at the cap of {cap} in the means and at twice the cap in the score; µs per update: training time of an update, the threshold checks left out, comparable within a table, whose runs shared the machine alike.)"
    );
    md
}

/// What a study run produced: the diagnoses, and per stage its summaries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyResult {
    /// The plan it ran.
    pub plan: StudyPlan,
    /// The diagnosed cases.
    pub diagnoses: Vec<Diagnosis>,
    /// Per development stage: its task labels and every arm's summary.
    pub dev: Vec<(Vec<String>, Vec<ArmSummary>)>,
    /// Per held-out stage: its task labels and every arm's summary.
    pub held_out: Vec<(Vec<String>, Vec<ArmSummary>)>,
    /// Per held-out stage: the same for its development tasks ([`Stage::development`]; empty
    /// where it has none).
    #[serde(default)]
    pub held_out_dev: Vec<(Vec<String>, Vec<ArmSummary>)>,
}

/// A stage's task labels and arm summaries, for its counted tasks and its development tasks.
type StageSummaries = [(Vec<String>, Vec<ArmSummary>); 2];

/// Where a study runs: the data, the cache, the output folder, the parallel runs.
#[derive(Debug, Clone)]
pub struct StudyContext<'a> {
    /// The data sets' folder (`mnist/`, `fashion-mnist/`).
    pub data_root: &'a Path,
    /// Where workloads keep what they derive from their data.
    pub cache_dir: Option<&'a Path>,
    /// Where results files, figures and the report go.
    pub out: &'a Path,
    /// Runs in parallel.
    pub jobs: usize,
    /// Resume from the results files of an earlier, interrupted study.
    pub resume: bool,
    /// Run nothing: summarise the runs the stages' results files hold (a stage without one
    /// reports no runs), to render the report of a study that has not finished.
    pub render_only: bool,
}

/// The diagnosed cases: the authors' memory at ξ = 0.1, 0.01 and 0.001 over SGD, at 0.01 over
/// Adam, and Meta-Adam queried with the gradient ([`Case::adam_grad`]).
pub fn cases() -> Vec<Case> {
    vec![
        Case::authors(0.1, false),
        Case::authors(0.01, false),
        Case::authors(0.001, false),
        Case::authors(0.01, true),
        Case::adam_grad(),
    ]
}

fn build_family(
    stage: &Stage,
    ctx: &StudyContext<'_>,
) -> Result<Box<dyn TaskFamily + Send>, BenchError> {
    let entry = crate::workloads::find(&stage.workload)?;
    entry.build(&crate::workloads::WorkloadConfig {
        data_root: ctx.data_root.to_path_buf(),
        options: stage.options.clone(),
        cache_dir: ctx.cache_dir.map(Path::to_path_buf),
    })
}

fn run_stage(
    stage: &Stage,
    name: &str,
    arms: Vec<Arm>,
    seeds: &[u64],
    ctx: &StudyContext<'_>,
    observer: &dyn harness::Observer,
) -> Result<StageSummaries, BenchError> {
    let family = build_family(stage, ctx)?;
    // On a one-task workload a reloaded arm runs exactly as its fresh twin.
    let arms = arms
        .into_iter()
        .filter(|a| !(a.reload && stage.tasks == 1))
        .collect();
    let experiment = experiment(stage, arms, seeds)?;
    let path = ctx.out.join(format!("study-{name}.jsonl"));
    let results = if ctx.render_only {
        let runs = if path.exists() {
            let (saved, runs) = harness::ResultsFile::read(&path)?;
            if saved != experiment {
                return Err(BenchError::Results {
                    path,
                    reason: "it was written for another experiment than this build's plan; render with the build that ran it".into(),
                });
            }
            runs
        } else {
            Vec::new()
        };
        harness::Results {
            experiment,
            task_labels: (0..family.len()).map(|k| family.label(k)).collect(),
            metric: String::new(),
            runs,
            tuned: BTreeMap::new(),
            executed: 0,
        }
    } else {
        let options = harness::RunOptions {
            jobs: ctx.jobs,
            results: Some(path),
            resume: ctx.resume,
            shard: None,
        };
        harness::run(family.as_ref(), &experiment, &options, observer)?
    };
    let labels = stage.counted.iter().map(|&k| family.label(k)).collect();
    let dev = Stage {
        counted: stage.development.clone(),
        ..stage.clone()
    };
    let dev_labels = dev.counted.iter().map(|&k| family.label(k)).collect();
    Ok([
        (labels, summarise(&results, stage)),
        (dev_labels, summarise(&results, &dev)),
    ])
}

/// The arms of a development stage: every variant fresh at every development rate, and the
/// reload options at the default η₀ 10⁻³ carried across tasks.
pub fn dev_arms(plan: &StudyPlan) -> Result<Vec<Arm>, BenchError> {
    let mut arms = sweep_arms(VARIANTS, &plan.dev_rates, false)?;
    arms.extend(sweep_arms(RELOADS, &[1e-3], true)?);
    Ok(arms)
}

/// The arms swept over η₀ on a held-out stage: the recommended memory, the authors' (when they
/// differ) and the peers that take a learning rate.
fn swept() -> Vec<Variant> {
    let mut v = vec![("recommended", RECOMMENDED)];
    if RECOMMENDED != VARIANTS[0].1 {
        v.push(VARIANTS[0]);
    }
    v.extend(rate_peers());
    v
}

/// The arms of a stage of `kind`: for [`StageKind::Core`] the recommended memory, the
/// authors' and the rate-taking peers at every rate, the learning-rate-free peers at their
/// defaults and the recommended memory reloaded; for [`StageKind::Ablation`] every other
/// variant and reload option at η₀ = 10⁻³; for [`StageKind::Dev`], [`dev_arms`].
pub fn stage_arms(plan: &StudyPlan, kind: StageKind) -> Result<Vec<Arm>, BenchError> {
    match kind {
        StageKind::Dev => dev_arms(plan),
        StageKind::DevRound2 => sweep_arms(ROUND2, &plan.dev_rates, false),
        StageKind::DevRound3 => sweep_arms(ROUND3, &plan.dev_rates, false),
        StageKind::Core => {
            let mut arms = sweep_arms(&swept(), &plan.rates, false)?;
            arms.extend(free_peers());
            arms.extend(sweep_arms(&[("recommended", RECOMMENDED)], &[1e-3], true)?);
            Ok(arms)
        }
        StageKind::DevAblation => {
            let mut arms = sweep_arms(&[("recommended", RECOMMENDED)], &[1e-3], false)?;
            arms.extend(sweep_arms(&[("recommended", RECOMMENDED)], &[1e-3], true)?);
            arms.extend(stage_arms(plan, StageKind::Ablation)?);
            Ok(arms)
        }
        StageKind::Ablation => {
            let mut arms = sweep_arms(ABLATION, &[1e-3], false)?;
            let xi: Vec<Variant> = XI_SWEEP.iter().map(|(_, v)| *v).collect();
            arms.extend(sweep_arms(&xi, &[1e-3], false)?);
            arms.extend(sweep_arms(ABLATION_RELOADS, &[1e-3], true)?);
            Ok(arms)
        }
    }
}

/// Runs the whole study and writes `study.json`, the figures and the stage results files
/// into `ctx.out`; returns the report's section.
pub fn run(
    plan: &StudyPlan,
    ctx: &StudyContext<'_>,
    observer: &dyn harness::Observer,
    progress: &dyn Fn(&str),
) -> Result<String, BenchError> {
    use rayon::prelude::*;
    // The diagnosis runs on the first development task (none without a development stage).
    let mut diagnoses = Vec::new();
    if let Some(first) = plan.dev.first() {
        // Kept in `study-diagnosis.json` for `--resume`, with what it was run on.
        let path = ctx.out.join("study-diagnosis.json");
        let key = (first, plan.diagnosis, &plan.dev_seeds);
        let cached = std::fs::read(&path)
            .ok()
            .filter(|_| ctx.resume || ctx.render_only)
            .and_then(|b| {
                serde_json::from_slice::<(Stage, [usize; 2], Vec<u64>, Vec<Diagnosis>)>(&b).ok()
            })
            .filter(|(st, d, seeds, _)| (st, *d, seeds) == key);
        if let Some((_, _, _, d)) = cached {
            progress("diagnosis (from study-diagnosis.json)");
            diagnoses = d;
        } else if ctx.render_only {
            progress("diagnosis: not rendered (no study-diagnosis.json of this plan)");
        } else {
            progress("diagnosis");
            let family = build_family(first, ctx)?;
            let [updates, every] = plan.diagnosis;
            let seed = plan.dev_seeds.first().copied().unwrap_or(100);
            diagnoses = cases()
                .par_iter()
                .map(|c| diagnose(family.as_ref(), 0, seed, c, updates, every))
                .collect::<Result<Vec<_>, _>>()?;
            let json = serde_json::to_vec(&(first, plan.diagnosis, &plan.dev_seeds, &diagnoses))
                .map_err(|e| BenchError::Invalid(e.to_string()))?;
            std::fs::create_dir_all(ctx.out)
                .and_then(|()| std::fs::write(&path, json))
                .map_err(|source| BenchError::Io {
                    path: path.clone(),
                    source,
                })?;
        }
    }
    let mut dev = Vec::new();
    for (i, stage) in plan.dev.iter().enumerate() {
        progress(&format!("development: {}", stage.workload));
        let [counted, _] = run_stage(
            stage,
            &format!("dev{i}-{}", stage.workload),
            stage_arms(plan, stage.kind)?,
            plan.dev_stage_seeds(stage),
            ctx,
            observer,
        )?;
        dev.push(counted);
    }
    let mut held_out = Vec::new();
    let mut held_out_dev = Vec::new();
    for stage in &plan.held_out {
        progress(&format!("held out: {}", stage.workload));
        let [counted, development] = run_stage(
            stage,
            &format!(
                "held-out-{}-{}",
                stage.workload,
                format!("{:?}", stage.kind).to_lowercase()
            ),
            stage_arms(plan, stage.kind)?,
            &plan.seeds,
            ctx,
            observer,
        )?;
        held_out.push(counted);
        held_out_dev.push(development);
    }
    let result = StudyResult {
        plan: plan.clone(),
        diagnoses,
        dev,
        held_out,
        held_out_dev,
    };
    let path = ctx.out.join("study.json");
    std::fs::write(
        &path,
        serde_json::to_string(&result).map_err(|e| BenchError::Invalid(e.to_string()))?,
    )
    .map_err(|source| BenchError::Io {
        path: path.clone(),
        source,
    })?;
    section(&result, ctx.out)
}

/// The mean updates of `arm` over a stage's counted tasks (misses at the cap); `None` where a
/// task has no run.
fn mean_updates(summaries: &[ArmSummary], arm: &str) -> Option<f64> {
    let s = summaries
        .iter()
        .find(|s| s.arm == arm)
        .filter(|s| s.tasks.iter().all(|t| t.2 > 0))?;
    Some(s.tasks.iter().map(|t| t.0).sum::<f64>() / s.tasks.len().max(1) as f64)
}

/// The three targets on one held-out stage, in words: (target, met, detail).
pub fn targets(
    plan: &StudyPlan,
    stage: &Stage,
    labels: &[String],
    s: &[ArmSummary],
) -> Vec<(String, bool, String)> {
    let find = |name: &str| s.iter().find(|a| a.arm == name);
    let rate_name = |v: &str, lr: f32| format!("{v}@{lr}");
    let mut out = Vec::new();
    // 1. η₀ in [1e-4, 1e-1]: within 1.5× the best tuned peer, no misses.
    let mut worst = (0.0f64, String::new());
    let mut missed = 0;
    let mut all = true;
    let mut unreached = Vec::new();
    for (k, label) in labels.iter().enumerate() {
        let mut best = f64::INFINITY;
        for (v, _) in rate_peers() {
            for &lr in &plan.rates {
                if let Some(a) = find(&rate_name(v, lr)) {
                    if a.tasks[k].1 == 0 {
                        best = best.min(a.tasks[k].0);
                    }
                }
            }
        }
        for peer in free_peers() {
            if let Some(a) = find(&peer.name) {
                if a.tasks[k].1 == 0 {
                    best = best.min(a.tasks[k].0);
                }
            }
        }
        if best.is_infinite() {
            // No peer reached the threshold in every run: there is no best to compare with.
            unreached.push(label.as_str());
        }
        for &lr in plan.rates.iter().filter(|&&r| (1e-4..=1e-1).contains(&r)) {
            let Some(a) = find(&rate_name("recommended", lr)) else {
                all = false;
                continue;
            };
            missed += a.tasks[k].1;
            if best.is_infinite() {
                continue;
            }
            let ratio = a.tasks[k].0 / best;
            if ratio > worst.0 {
                worst = (ratio, format!("{label} at η₀ = {lr}"));
            }
        }
    }
    out.push((
        "η₀ anywhere in [1e−4, 1e−1]: within 1.5× the updates of the best tuned peer, no missed run".into(),
        all && missed == 0 && worst.0 <= 1.5 && unreached.is_empty(),
        format!(
            "worst ratio {:.2} ({}); {missed} missed runs{}",
            worst.0,
            worst.1,
            if unreached.is_empty() {
                String::new()
            } else {
                format!("; no peer reached the threshold in every run on {}", unreached.join(", "))
            }
        ),
    ));
    // 2. At defaults: fewer updates than every learning-rate-free peer on ≥ 2/3 of tasks.
    let rec = find(&rate_name("recommended", 1e-3));
    let mut wins = 0;
    for k in 0..labels.len() {
        let Some(r) = rec else { break };
        let beats = free_peers()
            .iter()
            .all(|v| find(&v.name).is_none_or(|p| r.tasks[k].0 < p.tasks[k].0));
        wins += usize::from(beats);
    }
    out.push((
        "at defaults, fewer updates than every learning-rate-free peer on ≥ 2/3 of the tasks"
            .into(),
        3 * wins >= 2 * labels.len() && !labels.is_empty(),
        format!("{wins} of {} tasks", labels.len()),
    ));
    // 3. Reloading pays on the later tasks: ≤ 0.7× a fresh memory's updates.
    let fresh = find(&rate_name("recommended", 1e-3));
    let reload = find(&rate_name("recommended+reload", 1e-3));
    let detail;
    // The counted tasks after a sequence's first (the ones a reloaded memory starts).
    let later: Vec<usize> = (0..labels.len())
        .filter(|&k| stage.counted.get(k).is_some_and(|&task| task > 0))
        .collect();
    let met = match (fresh, reload) {
        (Some(f), Some(r)) if !later.is_empty() => {
            let ratios: Vec<f64> = later.iter().map(|&k| r.tasks[k].0 / f.tasks[k].0).collect();
            let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
            detail = format!("mean ratio {mean:.2} on the later tasks ({ratios:.2?})");
            mean <= 0.7
        }
        _ => {
            detail = "not measured (one task)".into();
            false
        }
    };
    out.push((
        "reloading pays: ≤ 0.7× a fresh memory's updates on the later tasks".into(),
        met,
        detail,
    ));
    out
}

/// The summaries of the evaluation stage on the same workload as held-out stage `i`.
fn core_of(r: &StudyResult, i: usize) -> Option<&[ArmSummary]> {
    let workload = &r.plan.held_out.get(i)?.workload;
    let c = r
        .plan
        .held_out
        .iter()
        .position(|c| c.kind == StageKind::Core && &c.workload == workload)?;
    r.held_out.get(c).map(|(_, cs)| cs.as_slice())
}

/// The sensitivity to ξ on the ablation stage `i`: mean updates of the recommended memory
/// against ξ at η₀ = 10⁻³ (ξ = 10⁻³ from the evaluation stage of the same workload), as a
/// figure and a line of text.
fn xi_figure(r: &StudyResult, i: usize, out: &Path) -> Result<String, BenchError> {
    let stage = &r.plan.held_out[i];
    let s = &r.held_out[i].1;
    let mut points: Vec<(f64, f64)> = XI_SWEEP
        .iter()
        .filter_map(|(xi, (name, _))| {
            mean_updates(s, &format!("{name}@0.001")).map(|u| (f64::from(*xi), u))
        })
        .collect();
    let core = core_of(r, i).and_then(|cs| mean_updates(cs, "recommended@0.001"));
    if let Some(u) = core {
        points.push((1e-3, u));
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    if points.is_empty() {
        return Ok(String::new());
    }
    let stem = out.join(format!("study_xi_{i}_{}", stage.workload));
    let line = Line {
        label: "recommended memory, η₀ = 1e-3".into(),
        points: points.clone(),
        colour: plot::colour(0),
        dashed: false,
    };
    let [svg, _] = plot::log_log_lines(
        &stem,
        &format!(
            "{}: updates to the threshold against ξ (held out; misses at the cap)",
            stage.workload
        ),
        "ξ (the memory's learning rate)",
        "mean updates over the tasks",
        &[line],
    )
    .map_err(|e| BenchError::Plot {
        path: stem.clone(),
        reason: e.to_string(),
    })?;
    let mut md = String::from("\nSensitivity to ξ (the recommended memory, η₀ = 10⁻³; mean updates over the tasks, misses at the cap): ");
    let list: Vec<String> = points
        .iter()
        .map(|(xi, u)| format!("ξ = {xi:.0e}: {u:.0}"))
        .collect();
    md.push_str(&list.join(", "));
    if let Some(name) = svg.file_name().and_then(|s| s.to_str()) {
        let _ = write!(md, "\n\n![sensitivity to ξ]({name})\n");
    }
    Ok(md)
}

/// The study's section of the report: diagnosis, development, held-out evaluation with the
/// sensitivity figure, ablation and the targets.
pub fn section(r: &StudyResult, out: &Path) -> Result<String, BenchError> {
    let mut md =
        String::from("\n## Does the memory pay? Diagnosis, development, held-out evaluation\n");
    let _ = writeln!(
        md,
        "\nThe recommended memory (`{RECOMMENDED}`, `MemoryConfig::recommended()`) was chosen on the development stages alone and is frozen in code; the held-out stages were never looked at while choosing.\n"
    );
    if !r.diagnoses.is_empty() {
        md.push_str("\n### Diagnosis\n\nWhat the memory does on the first development task (one seed): each tensor's queries over the centres, the share that kept their sign (the signal), θ and the rates applied.\n");
        for d in &r.diagnoses {
            md.push_str(&diagnosis_table(d));
            let stem = out.join(format!("study_theta_{}", d.case));
            for svg in plot_diagnosis(d, &stem)? {
                if let Some(name) = svg.file_name().and_then(|s| s.to_str()) {
                    let _ = writeln!(md, "\n![θ per centre]({name})");
                }
            }
        }
    }
    if !r.dev.is_empty() {
        md.push_str("\n### Development (choosing)\n");
    }
    for ((labels, s), stage) in r.dev.iter().zip(&r.plan.dev) {
        let _ = writeln!(
            md,
            "\n`{}` ({:?}), seeds {:?}, {}:\n",
            stage.workload,
            stage.options,
            r.plan.dev_stage_seeds(stage),
            if stage.kind == StageKind::DevAblation {
                "the ablation: each variant switched on alone in the recommended memory, everything else fixed, η₀ = 10⁻³".to_string()
            } else {
                format!("η₀ ∈ {:?} (reload arms at 10⁻³)", r.plan.dev_rates)
            }
        );
        md.push_str(&summary_table(s, labels, stage.cap));
    }
    // The choice: every candidate of every development round, by its score averaged over the
    // development rates.
    let mut by_variant: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (_, s) in &r.dev {
        for a in s {
            if let Some((v, _)) = a.arm.split_once('@') {
                by_variant.entry(v).or_default().push(a.score);
            }
        }
    }
    let mut ranked: Vec<(f64, &str)> = by_variant
        .iter()
        .filter(|(v, _)| {
            VARIANTS
                .iter()
                .chain(ROUND2)
                .chain(ROUND3)
                .any(|(n, _)| n == *v)
        })
        .map(|(v, xs)| (xs.iter().sum::<f64>() / xs.len() as f64, *v))
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    if !ranked.is_empty() {
        md.push_str("\nEvery candidate of the development rounds, ranked by its score averaged over the development rates (lower is better): ");
        let list: Vec<String> = ranked
            .iter()
            .map(|(x, v)| format!("`{v}` {x:.2}"))
            .collect();
        md.push_str(&list.join(", "));
        md.push('\n');
    }
    if !r.held_out.is_empty() {
        md.push_str("\n### Held out (evaluating, unchanged)\n");
    }
    for (i, ((labels, s), stage)) in r.held_out.iter().zip(&r.plan.held_out).enumerate() {
        let _ = writeln!(
            md,
            "\n`{}` ({:?}{}), {}, seeds {:?}, updates to the threshold (at most {}):\n",
            stage.workload,
            stage.options,
            stage
                .threshold
                .map(|t| format!(", threshold {t}"))
                .unwrap_or_default(),
            match stage.kind {
                StageKind::Core => "the recommended memory against the peers",
                _ => "the ablation: each variant switched on alone in the recommended memory, everything else fixed, η₀ = 10⁻³",
            },
            r.plan.seeds,
            stage.cap
        );
        if stage.kind == StageKind::Ablation {
            // The "off" rows: the recommended memory itself, from the evaluation stage of the
            // same workload (same tasks and seeds).
            let mut rows: Vec<ArmSummary> = core_of(r, i)
                .into_iter()
                .flat_map(|cs| cs.iter())
                .filter(|a| a.arm == "recommended@0.001" || a.arm == "recommended+reload@0.001")
                .map(|a| ArmSummary {
                    arm: format!(
                        "{} (off: the evaluation stage's run, its µs from that run)",
                        a.arm
                    ),
                    ..a.clone()
                })
                .collect();
            rows.extend(s.iter().cloned());
            md.push_str(&summary_table(&rows, labels, stage.cap));
        } else {
            md.push_str(&summary_table(s, labels, stage.cap));
        }
        if let Some((dev_labels, dev)) = r.held_out_dev.get(i).filter(|(l, _)| !l.is_empty()) {
            let _ = writeln!(
                md,
                "\nThe same arms on the workload's development task (run to carry a reloaded memory into the held-out ones; reported apart, not held out):\n"
            );
            md.push_str(&summary_table(dev, dev_labels, stage.cap));
        }
        if stage.kind == StageKind::Ablation {
            md.push_str(&xi_figure(r, i, out)?);
        }
        if stage.kind != StageKind::Core {
            continue;
        }
        // Sensitivity: mean updates against η₀.
        let mut lines = Vec::new();
        let swept = swept();
        for (c, (v, _)) in swept.iter().enumerate() {
            lines.push(Line {
                label: (*v).to_string(),
                points: r
                    .plan
                    .rates
                    .iter()
                    .filter_map(|&lr| {
                        mean_updates(s, &format!("{v}@{lr}")).map(|u| (f64::from(lr), u))
                    })
                    .collect(),
                colour: plot::colour(c),
                dashed: false,
            });
        }
        let (lo, hi) = (
            f64::from(r.plan.rates.first().copied().unwrap_or(1e-5)),
            f64::from(r.plan.rates.last().copied().unwrap_or(1.0)),
        );
        for (c, v) in free_peers().iter().enumerate() {
            let v = &v.name;
            if let Some(u) = mean_updates(s, v) {
                lines.push(Line {
                    label: format!("{v} (defaults)"),
                    points: vec![(lo, u), (hi, u)],
                    colour: plot::colour(swept.len() + c),
                    dashed: true,
                });
            }
        }
        let stem = out.join(format!("study_sensitivity_{i}_{}", stage.workload));
        let [svg, _] = plot::log_log_lines(
            &stem,
            &format!(
                "{}: updates to the threshold against η₀ (held out; misses at the cap)",
                stage.workload
            ),
            "η₀ (base learning rate)",
            "mean updates over the tasks",
            &lines,
        )
        .map_err(|e| BenchError::Plot {
            path: stem.clone(),
            reason: e.to_string(),
        })?;
        if let Some(name) = svg.file_name().and_then(|s| s.to_str()) {
            let _ = writeln!(md, "\n![sensitivity]({name})\n");
        }
        let runs: usize = s.iter().map(|a| a.tasks.first().map_or(0, |t| t.2)).sum();
        let expected = s.len() * r.plan.seeds.len();
        if runs < expected {
            let _ = writeln!(
                md,
                "\n(Incomplete: {runs} of {expected} runs so far; the targets are checked once the stage is complete.)"
            );
            continue;
        }
        md.push_str("\n| target | met | measured |\n|---|---|---|\n");
        for (t, met, detail) in targets(&r.plan, stage, labels, s) {
            let _ = writeln!(
                md,
                "| {t} | {} | {detail} |",
                if met { "yes" } else { "**no**" }
            );
        }
    }
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lrmem_optimizers::Optimizer;

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
}
