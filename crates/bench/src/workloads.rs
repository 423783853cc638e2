//! The workload registry: every [`TaskFamily`] an experiment can run, by name.
//!
//! Adding a workload to every experiment is its module (a [`TaskFamily`] in the tasks crate)
//! plus one line in [`registry`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use lrmem_tasks::mnist::{Mnist, PixelScale};
use lrmem_tasks::{MnistPairs, TaskFamily};

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

/// Every workload, one line each.
pub fn registry() -> &'static [WorkloadEntry] {
    const REGISTRY: &[WorkloadEntry] = &[
        WorkloadEntry {
            name: "mnist",
            summary: "sequential binary MNIST: online LeNet, one image per update, test accuracy",
            options: PAIR_OPTIONS,
            threshold: 0.98,
            build: |c| pairs(c, "mnist"),
        },
        WorkloadEntry {
            name: "fashion-mnist",
            summary: "the same protocol on Fashion-MNIST class pairs",
            options: PAIR_OPTIONS,
            threshold: 0.98,
            build: |c| pairs(c, "fashion-mnist"),
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
