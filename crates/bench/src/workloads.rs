//! The workload registry: every [`TaskFamily`] an experiment can run, by name.
//!
//! Adding a workload to every experiment is its module (a [`TaskFamily`] in the tasks crate)
//! plus one entry in [`registry`]: how to build it, and its protocol's defaults (thresholds,
//! cap, curve spacing, what the quick profile shrinks).

use std::collections::BTreeMap;
use std::path::PathBuf;

use lrmem_tasks::began::{BeganConfig, BeganMnist, BeganTaskConfig};
use lrmem_tasks::dynamics::SampleOrder;
use lrmem_tasks::fid::FeatureNet;
use lrmem_tasks::mnist::{Mnist, PixelScale};
use lrmem_tasks::robot::{PandaForward, PandaInverse, RobotConfig};
use lrmem_tasks::{MnistPairs, TaskFamily};

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
    build: fn(&WorkloadConfig) -> Result<Box<dyn TaskFamily + Send>, BenchError>,
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
        (self.build)(config)
    }
}

const PAIR_OPTIONS: &[(&str, &str)] = &[
    (
        "dir",
        "the folder of the four IDX files, raw or gzip (default DATA_ROOT/<workload>)",
    ),
    (
        "pairs",
        "the class pairs in task order, e.g. 1-2,1-3,1-4 (the default, the papers')",
    ),
    (
        "pixels",
        "unit (p/255, default), raw (0–255, what the authors' PyTorch loader feeds) or standardized",
    ),
];

const ROBOT_OPTIONS: &[(&str, &str)] = &[
    (
        "train",
        "training trajectories per task (default 64)",
    ),
    ("test", "held-out trajectories per task (default 16)"),
    ("seconds", "length of every trajectory, s (default 1)"),
    (
        "margin",
        "fraction of each joint range kept free at both ends (default 0.4: the middle 20 %, a work cell)",
    ),
    (
        "eval-every",
        "a held-out evaluation for the threshold checks every N updates; crossings are resolved to N (default 50 forward, 500 inverse)",
    ),
    (
        "payload",
        "the payload of tasks 2 and 3, kg (default 1.5)",
    ),
    (
        "order",
        "inverse only: shuffled (default; see lrmem_tasks::robot::RobotConfig::inverse for why) or stream (recorded order, the papers' online setting)",
    ),
];

/// The quick profile's robot data: 8 training trajectories and 4 held-out of 0.5 s per task.
const ROBOT_QUICK: &[(&str, &str)] = &[("train", "8"), ("test", "4"), ("seconds", "0.5")];

const BEGAN_OPTIONS: &[(&str, &str)] = &[
    (
        "dir",
        "the folder of MNIST's four IDX files (default DATA_ROOT/mnist)",
    ),
    (
        "eval-every",
        "a held-out M_global for the threshold checks every N iterations; crossings are resolved to N (default 50)",
    ),
    (
        "eval-images",
        "held-out test images and fixed noise vectors per evaluation (default 256)",
    ),
    ("batch", "real images per iteration (default 8)"),
    (
        "fid-samples",
        "held-out digits and generated samples of the Fréchet distance at every curve point (default 1000; 0: none)",
    ),
];

/// Samples of `began`'s Fréchet distance (the issue asks for ≥ 1,000).
const FID_SAMPLES: usize = 1000;
/// Seed of the feature network of `began`'s Fréchet distance: one network for every run.
const FID_NET_SEED: u64 = 0;

/// Iterations of `began` per run: what the full profile's budget allows (20 arms × 5 seeds
/// within 30 min on 2 cores: ≈ 17 ms per iteration at batch 8 on a free core, ≈ 2 s of
/// held-out M_global every 50 iterations and ≈ 0.2 s per Fréchet distance point, ≈ 30 s a
/// run). Far short of BEGAN's own training (tens of thousands of iterations): on the
/// development seed the reference arm's generator still draws blurred strokes at 1500
/// iterations, and "1"s after 6000 (the `began` example of the tasks crate).
const BEGAN_CAP: usize = 1500;
/// The `began` threshold on held-out M_global, fixed on the development seed 1000 (the
/// reported seeds are 0–4) before the comparison: the value the reference arm (Adam at
/// BEGAN's 1e−4, β₁ = 0.5) reaches by half the cap (0.29 after 750 iterations, then flat
/// near 0.29–0.31), rounded up to 0.3.
const BEGAN_THRESHOLD: f64 = 0.3;
/// A further, harder threshold of `began`: 0.2, which Adam at the base rate 1e−3 reaches
/// after ≈ 850 iterations on the development seed and the reference arm not within the cap.
const BEGAN_ALSO: &[f64] = &[0.2];

/// Every workload, one entry each.
pub fn registry() -> &'static [WorkloadEntry] {
    const REGISTRY: &[WorkloadEntry] = &[
        WorkloadEntry {
            name: "mnist",
            summary: "sequential binary MNIST: online LeNet, one image per update, test accuracy",
            options: PAIR_OPTIONS,
            threshold: 0.98,
            also: &[],
            cap: 3000,
            quick_cap: 1500,
            curve_unit: 1,
            quick_options: &[("pairs", "1-2,1-3")],
            data: Some("mnist"),
            reference_arms: &[],
            full_tuning: true,
            one_task: false,
            build: |c| pairs(c, "mnist"),
        },
        WorkloadEntry {
            name: "fashion-mnist",
            summary: "the same protocol on Fashion-MNIST class pairs",
            options: PAIR_OPTIONS,
            threshold: 0.98,
            also: &[],
            cap: 3000,
            quick_cap: 1500,
            curve_unit: 1,
            quick_options: &[("pairs", "1-2,1-3")],
            data: Some("fashion-mnist"),
            reference_arms: &[],
            full_tuning: true,
            one_task: false,
            build: |c| pairs(c, "fashion-mnist"),
        },
        WorkloadEntry {
            name: "panda-forward",
            summary: "simulated Panda, LSTM forward dynamics (128-step BPTT): no payload, 1.5 kg, sinusoids; held-out state-change NMSE",
            options: ROBOT_OPTIONS,
            threshold: 0.1,
            also: FORWARD_ALSO,
            cap: FORWARD_CAP,
            quick_cap: 300,
            curve_unit: 50,
            quick_options: ROBOT_QUICK,
            data: None,
            reference_arms: &[],
            full_tuning: true,
            one_task: false,
            build: |c| Ok(Box::new(robot_forward(c)?)),
        },
        WorkloadEntry {
            name: "panda-inverse",
            summary: "simulated Panda, online inverse dynamics (MLP, one sample per update): no payload, 1.5 kg, sinusoids; held-out torque NMSE",
            options: ROBOT_OPTIONS,
            threshold: 0.1,
            also: &[0.03],
            cap: INVERSE_CAP,
            quick_cap: 3000,
            curve_unit: 500,
            quick_options: ROBOT_QUICK,
            data: None,
            reference_arms: &[],
            full_tuning: true,
            one_task: false,
            build: |c| Ok(Box::new(robot_inverse(c)?)),
        },
        WorkloadEntry {
            name: "began",
            summary: "BEGAN on MNIST (the workshop paper's GAN): an optimizer per player, held-out M_global",
            options: BEGAN_OPTIONS,
            threshold: BEGAN_THRESHOLD,
            also: BEGAN_ALSO,
            cap: BEGAN_CAP,
            quick_cap: 100,
            curve_unit: 50,
            quick_options: &[("eval-every", "25"), ("eval-images", "64"), ("fid-samples", "200")],
            data: Some("mnist"),
            reference_arms: &[("adam-began", "adam:lr=1e-4,beta1=0.5")],
            full_tuning: false,
            one_task: true,
            build: began,
        },
    ];
    REGISTRY
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

/// Parses `1-2,1-3` into digit pairs.
pub fn parse_pairs(text: &str) -> Result<Vec<(u8, u8)>, BenchError> {
    text.split(',')
        .map(|p| {
            let bad =
                || BenchError::Parse(format!("pair `{p}` is not of the form A-B (digits 0–9)"));
            let (a, b) = p.split_once('-').ok_or_else(bad)?;
            Ok((
                a.trim().parse().map_err(|_| bad())?,
                b.trim().parse().map_err(|_| bad())?,
            ))
        })
        .collect()
}

/// Parses a pixel scaling name.
pub fn parse_pixels(text: &str) -> Result<PixelScale, BenchError> {
    match text {
        "unit" => Ok(PixelScale::Unit),
        "raw" => Ok(PixelScale::Raw),
        "standardized" => Ok(PixelScale::Standardized),
        other => Err(BenchError::Parse(format!(
            "pixels must be unit, raw or standardized, not `{other}`"
        ))),
    }
}

fn pairs(config: &WorkloadConfig, set: &str) -> Result<Box<dyn TaskFamily + Send>, BenchError> {
    let pairs = parse_pairs(
        config
            .options
            .get("pairs")
            .map_or("1-2,1-3,1-4", String::as_str),
    )?;
    let pixels = parse_pixels(config.options.get("pixels").map_or("unit", String::as_str))?;
    let dir = config
        .options
        .get("dir")
        .map_or_else(|| config.data_root.join(set), PathBuf::from);
    let context = || format!("workload `{set}` (data in {})", dir.display());
    let data = Mnist::load(&dir).map_err(|source| BenchError::Task {
        context: context(),
        source: Box::new(source),
    })?;
    let family = MnistPairs::new(&data, &pairs, pixels)
        .and_then(|f| MnistPairs::from_pairs(set, f.pairs().to_vec()))
        .map_err(|source| BenchError::Task {
            context: context(),
            source: Box::new(source),
        })?;
    Ok(Box::new(family))
}

/// Updates per task of `panda-forward`: about what the default profile's time allows (11
/// arms × 2 seeds × 3 tasks at ≈ 5 ms per 128-step BPTT update with its checks on a free
/// core: ≈ 8 min with 2 jobs; 6 arms took 800 s on 2 heavily shared cores). Measured on task 1 (`robot_tasks` example of the tasks crate): after 3000
/// updates at lr 1e−3 Adam's held-out state-change NMSE is ≈ 0.44 and SGD's ≈ 1.0 (at 1e−2:
/// Adam ≈ 0.55, SGD ≈ 0.66), so NMSE 0.1 is not reached within this cap at the papers' rate:
/// the forward workload's thresholds are censored in the default profile and its final NMSEs
/// (the report's end-of-task table) carry the comparison.
const FORWARD_CAP: usize = 3000;
/// Further thresholds of `panda-forward`: the NMSE 0.03, and NMSE 0.6, chosen on
/// task 1 (the development task) so that the updates-to-threshold table separates arms at
/// all. Why 0.1 and 0.03 are out of reach: the state change of q is q̇·dt (linear in the
/// input, learned), but the change of q̇ is M(q)⁻¹(τ − h(q, q̇))·dt, and under computed-torque
/// tracking τ is mostly gravity, so q̈ is a small difference of large terms. Measured on task 1
/// (`robot_tasks` example of the tasks crate, `perdim` mode): a least-squares affine model
/// reaches held-out NMSE 0.000 on the seven q dimensions but 0.23–1.13 on the q̇ ones (0.34
/// overall); the LSTM after 2000 Adam updates at 1e−3 reaches 0.46 (q dimensions 0.10–0.41,
/// q̇ dimensions 0.32–1.20), and 0.51 in batches of 16. Adam crosses 0.6 after ≈ 1000 updates
/// on task 1, SGD not within the cap.
const FORWARD_ALSO: &[f64] = &[0.03, 0.6];
/// Updates per task of `panda-inverse`. Measured on task 1 (shuffled order, lr 1e−3): Adam
/// reaches NMSE 0.1 after ≈ 10 000 updates and then plateaus near 0.08; SGD plateaus near
/// 0.23. Plain optimizers step at ≈ 0.1 ms per update, the memory arms at ≈ 1 ms (their
/// per-tensor cost dominates on the MLP's small tensors), so the default profile takes
/// ≈ 15–25 min on 2 cores, most of it in the memory arms.
const INVERSE_CAP: usize = 50_000;

/// Option `key` of `options` as a number, or `default` when it is not given.
fn num<T: std::str::FromStr>(
    options: &BTreeMap<String, String>,
    key: &str,
    default: T,
) -> Result<T, BenchError> {
    match options.get(key) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| {
            BenchError::Parse(format!("option {key}={v}: not a number of the right kind"))
        }),
    }
}

/// The robot data settings of `config`'s options over `defaults`.
pub fn robot_config(
    config: &WorkloadConfig,
    defaults: RobotConfig,
) -> Result<RobotConfig, BenchError> {
    let o = &config.options;
    let order = match o.get("order").map(String::as_str) {
        None => defaults.order,
        Some("stream") => SampleOrder::Stream,
        Some("shuffled") => SampleOrder::Shuffled,
        Some(other) => {
            return Err(BenchError::Parse(format!(
                "option order={other}: pass stream or shuffled"
            )))
        }
    };
    let c = RobotConfig {
        train: num(o, "train", defaults.train)?,
        test: num(o, "test", defaults.test)?,
        seconds: num(o, "seconds", defaults.seconds)?,
        eval_every: num(o, "eval-every", defaults.eval_every)?,
        payload: num(o, "payload", defaults.payload)?,
        margin: num(o, "margin", defaults.margin)?,
        order,
    };
    c.validated().map_err(|source| BenchError::Task {
        context: "the robot workload's options".into(),
        source: Box::new(source),
    })
}

fn robot_forward(config: &WorkloadConfig) -> Result<PandaForward, BenchError> {
    if config.options.contains_key("order") {
        return Err(BenchError::Parse(
            "option order is for panda-inverse only (the forward model samples subsequences)"
                .into(),
        ));
    }
    let c = robot_config(config, RobotConfig::forward())?;
    PandaForward::new(&c).map_err(|source| BenchError::Task {
        context: "workload `panda-forward` (simulating its data)".into(),
        source: Box::new(source),
    })
}

fn robot_inverse(config: &WorkloadConfig) -> Result<PandaInverse, BenchError> {
    let c = robot_config(config, RobotConfig::inverse())?;
    PandaInverse::new(&c).map_err(|source| BenchError::Task {
        context: "workload `panda-inverse` (simulating its data)".into(),
        source: Box::new(source),
    })
}

fn began(config: &WorkloadConfig) -> Result<Box<dyn TaskFamily + Send>, BenchError> {
    let o = &config.options;
    let defaults = BeganTaskConfig::default();
    let cfg = BeganTaskConfig {
        model: BeganConfig {
            batch: num(o, "batch", defaults.model.batch)?,
            ..defaults.model
        },
        eval_every: num(o, "eval-every", defaults.eval_every)?,
        eval_images: num(o, "eval-images", defaults.eval_images)?,
    };
    let dir = o
        .get("dir")
        .map_or_else(|| config.data_root.join("mnist"), PathBuf::from);
    let context = || format!("workload `began` (data in {})", dir.display());
    let err = |source| BenchError::Task {
        context: context(),
        source: Box::new(source),
    };
    let data = Mnist::load(&dir).map_err(err)?;
    let family = BeganMnist::new(&data, cfg).map_err(err)?;
    let samples = num(o, "fid-samples", FID_SAMPLES)?;
    if samples == 0 {
        return Ok(Box::new(family));
    }
    // Trained once (≈ 1 min on a core) and kept, so that every run and every later
    // experiment measures with the same network.
    let net = match &config.cache_dir {
        Some(d) => FeatureNet::cached(
            &d.join(format!("began-featurenet-seed{FID_NET_SEED}.bin")),
            &data,
            FID_NET_SEED,
        ),
        None => FeatureNet::train(&data, FID_NET_SEED),
    }
    .map_err(err)?;
    Ok(Box::new(family.with_fid(&data, net, samples).map_err(err)?))
}
