//! The study's plan: the variants of each development round, the held-out ablation, the peers,
//! the stages (which tasks are development and which held out, with their caps), and the arms
//! and harness experiment of each stage.

use std::collections::BTreeMap;

use lrmem_optimizers::registry::{registry, Family, Tier};
use serde::{Deserialize, Serialize};

use crate::harness::{Arm, Experiment, Protocol};
use crate::BenchError;

/// The recommended memory as an arm: what [`MetaConfig::recommended`](lrmem_optimizers::MetaConfig::recommended) builds, in the
/// registry's words (a test checks that the two step alike).
pub const RECOMMENDED: &str = lrmem_optimizers::RECOMMENDED_SPEC;

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

pub(super) fn stage(
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

/// The arms of a development stage: every variant fresh at every development rate, and the
/// reload options at the default η₀ 10⁻³ carried across tasks.
pub fn dev_arms(plan: &StudyPlan) -> Result<Vec<Arm>, BenchError> {
    let mut arms = sweep_arms(VARIANTS, &plan.dev_rates, false)?;
    arms.extend(sweep_arms(RELOADS, &[1e-3], true)?);
    Ok(arms)
}

/// The arms swept over η₀ on a held-out stage: the recommended memory, the authors' (when they
/// differ) and the peers that take a learning rate.
pub(super) fn swept() -> Vec<Variant> {
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
