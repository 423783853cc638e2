//! The speed report: how long one optimizer step takes per coordinate, against the machine's
//! memory bandwidth, against Adam measured side by side, and against the dense D×M formulation
//! of the authors' code (README.md, "Crates": `bench`).
//!
//! One schema for the whole report: [`measure`] fills a [`SpeedReport`], which is written as
//! JSON (`speed.json`, with a [`SCHEMA`] name and [`VERSION`] checked on read) and rendered from
//! the same types into `SPEED.md` ([`SpeedReport::render_markdown`]) and the scaling figure
//! ([`SpeedReport::plot`], SVG and PNG). Rows are found by typed keys ([`CaseKey`] and D), never
//! by matching label text.
//!
//! ```text
//! cargo run --release -p lrmem-bench --bin speed -- --quick --out target/lrmem-bench
//! cargo xtask bench --speed          # the same, then the section of REPORT.md
//! ```
//!
//! Method ([`measure`]): for each size D, every optimizer gets its own parameter tensor and steps
//! it with two alternating gradients ([`gradients`]). A round times each entry once (a
//! sample of as many steps as make ≥ 2 ms, 5 ms in the full profile), entries in an order
//! rotated by one each round; the reported time is the median over rounds, and ratios (to Adam,
//! to the dense baseline) are medians of per-round ratios, so that slow drifts of a shared
//! machine cancel.

mod cases;
pub mod dense;
mod inputs;
mod measure;
mod model;
mod render;
mod timing;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use cases::{cases, CaseKey, Kernels, SpeedCase, DENSE_PEER, REFERENCE};
pub use inputs::{copy, gradients, memory_config, triad, CENTERS, COPY_BYTES, SIZES, TRIAD_BYTES};
pub use measure::{measure, measure_with_progress, SpeedOptions};
pub use model::{synthetic_images, FixedCost, ModelRow, Phase, FIXED_D, MODELS, PHASE_SIZES};
pub use render::{Bound, Target};
pub(crate) use timing::cpu_name;

/// The `schema` field of a speed report: what the file is.
pub const SCHEMA: &str = "lrmem-speed";
/// The `version` field this build writes and reads. Version 2 keys rows by optimizer spec;
/// version 3 adds the model table, the fixed cost per tensor and the profile.
pub const VERSION: u32 = 3;

/// The authors' PyTorch step at D = 10⁶, M = 20 (their `MetaSgd1d` operations, torch 2, one
/// thread), ms: the figure `tools/reference/time_authors_step.py` measured last on this
/// machine, and prints when torch is not installed.
pub const AUTHORS_STEP_MS: f64 = 466.0;

/// The file names [`SpeedReport::write_files`] writes in its output directory.
pub const JSON_FILE: &str = "speed.json";
/// See [`JSON_FILE`].
pub const MARKDOWN_FILE: &str = "SPEED.md";
/// The scaling figure's stem: `speed_scaling.svg` and `speed_scaling.png`.
pub const FIGURE_STEM: &str = "speed_scaling";

/// Why the speed report could not be measured, read or written.
#[derive(Debug, thiserror::Error)]
pub enum SpeedError {
    /// The JSON is not a speed report of this version (another file, or an older report).
    #[error(
        "not a speed report this build reads: schema {found_schema}, version {found_version} \
         (expected \"{SCHEMA}\", version {VERSION}); measure again with the `speed` binary"
    )]
    Schema {
        /// The `schema` field found, as JSON (`null` if absent).
        found_schema: String,
        /// The `version` field found, as JSON (`null` if absent).
        found_version: String,
    },
    /// The JSON does not parse, or does not have the report's fields.
    #[error("malformed speed report: {0}")]
    Json(#[from] serde_json::Error),
    /// Reading or writing a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An error about the file at `path`.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<SpeedError>,
    },
    /// A case of the suite is not a valid optimizer spec.
    #[error(transparent)]
    Spec(#[from] lrmem_optimizers::SpecError),
    /// An optimizer rejected a step (the suite's gradients are finite: a bug).
    #[error(transparent)]
    Step(#[from] lrmem_optimizers::OptimError),
    /// The memory of a forced-kernel case could not be built.
    #[error(transparent)]
    Memory(#[from] lrmem_memory_core::MemoryError),
    /// A model of the per-update table could not be built or trained.
    #[error("model of the speed suite: {0}")]
    Task(String),
    /// The suite lacks a case that the report needs.
    #[error("the speed suite has no case `{0}`, which the report's ratios are taken to")]
    MissingCase(String),
    /// The options ask for nothing to measure.
    #[error("no sizes to measure")]
    NoSizes,
    /// The scaling figure.
    #[error(transparent)]
    Plot(#[from] crate::plot::PlotError),
}

/// Everything one run of the speed suite measured: what `speed.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeedReport {
    /// [`SCHEMA`].
    pub schema: String,
    /// [`VERSION`].
    pub version: u32,
    /// The quick profile (fewer, shorter rounds).
    pub quick: bool,
    /// Interleaved rounds per size.
    pub rounds: usize,
    /// The CPU's model name.
    pub cpu: String,
    /// The memory kernels the CPU runs by default (`avx2` or `portable`; `avx512` in reports
    /// written before the default became reproducible).
    pub kernel: String,
    /// The tensor sizes D, ascending.
    pub sizes: Vec<usize>,
    /// The cases, in the order of the suite: the row order of every table.
    pub cases: Vec<CaseKey>,
    /// One row per case and size.
    pub rows: Vec<Row>,
    /// The memory bandwidth at each size.
    pub bandwidth: Vec<Bandwidth>,
    /// The dense D×M baseline, at the sizes where it fits in memory.
    pub dense: Vec<Dense>,
    /// One online update of each of [`MODELS`] per case (empty if not measured).
    #[serde(default)]
    pub models: Vec<ModelRow>,
    /// The step of a tensor of [`FIXED_D`] coordinates per case (empty if not measured).
    #[serde(default)]
    pub fixed: Vec<FixedCost>,
    /// The phases of a Meta-SGD step at [`PHASE_SIZES`] (empty if not measured).
    #[serde(default)]
    pub phases: Vec<Phase>,
    /// Wall time of the whole run.
    pub seconds: f64,
}

/// One optimizer at one size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The optimizer.
    pub case: CaseKey,
    /// The tensor size.
    pub d: usize,
    /// Median over rounds, ns per coordinate.
    pub ns_per_coord: f64,
    /// Fastest round.
    pub ns_per_coord_min: f64,
    /// The traffic one step needs ([`cases`]).
    pub bytes_per_coord: usize,
    /// Optimizer state per coordinate (a memory adds O(M) per tensor).
    pub state_bytes: usize,
    /// `bytes_per_coord` over the time: the bandwidth the step achieves.
    pub gbps: f64,
    /// `gbps` as a fraction of the copy bandwidth measured at the same D.
    pub frac_copy: f64,
    /// Time over the copy-bandwidth time of its bytes (1 = at the roofline).
    pub roofline_ratio: f64,
    /// Median of per-round ratios to [`REFERENCE`] (Adam) at the same D.
    pub ratio_to_adam: f64,
}

/// STREAM copy and triad at one size: the roofline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bandwidth {
    /// The tensor size.
    pub d: usize,
    /// Copy, 8 B per element.
    pub copy_gbps: f64,
    /// Triad, 12 B per element.
    pub triad_gbps: f64,
    /// Copy's time per element.
    pub copy_ns_per_coord: f64,
}

/// The dense D×M baseline ([`dense`]) at one size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dense {
    /// The tensor size.
    pub d: usize,
    /// M.
    pub centers: usize,
    /// Median over rounds.
    pub ns_per_coord: f64,
    /// What it is compared with ([`DENSE_PEER`]).
    pub peer: CaseKey,
    /// Median of per-round ratios dense / peer.
    pub speedup_of_meta_sgd: f64,
}

impl SpeedReport {
    /// The row of `case` at size `d`.
    pub fn row(&self, case: &CaseKey, d: usize) -> Option<&Row> {
        self.rows.iter().find(|r| &r.case == case && r.d == d)
    }

    /// Any row of `case` (for what does not depend on D: bytes, state).
    pub fn any_row(&self, case: &CaseKey) -> Option<&Row> {
        self.rows.iter().find(|r| &r.case == case)
    }

    /// The bandwidth measured at size `d`.
    pub fn bandwidth_at(&self, d: usize) -> Option<&Bandwidth> {
        self.bandwidth.iter().find(|b| b.d == d)
    }

    /// The dense baseline at size `d`.
    pub fn dense_at(&self, d: usize) -> Option<&Dense> {
        self.dense.iter().find(|x| x.d == d)
    }

    /// The update of `model` with `case`.
    pub fn model_row(&self, model: &str, case: &CaseKey) -> Option<&ModelRow> {
        self.models
            .iter()
            .find(|r| r.model == model && &r.case == case)
    }

    /// Parses a report, checking [`SCHEMA`] and [`VERSION`] before the fields, so that an older
    /// or foreign file is a [`SpeedError::Schema`], not a confusing missing-field error.
    pub fn from_json(text: &str) -> Result<Self, SpeedError> {
        let value: serde_json::Value = serde_json::from_str(text)?;
        let schema = value.get("schema");
        let version = value.get("version");
        let ok = schema.and_then(|s| s.as_str()) == Some(SCHEMA)
            && version.and_then(|v| v.as_u64()) == Some(u64::from(VERSION));
        if !ok {
            let show = |v: Option<&serde_json::Value>| v.map_or("null".into(), |v| v.to_string());
            return Err(SpeedError::Schema {
                found_schema: show(schema),
                found_version: show(version),
            });
        }
        Ok(serde_json::from_value(value)?)
    }

    /// The report as pretty JSON, ending with a newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serialises") + "\n"
    }

    /// Reads `path` ([`from_json`](SpeedReport::from_json)); errors name the file.
    pub fn read(path: &Path) -> Result<Self, SpeedError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpeedError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        SpeedReport::from_json(&text).map_err(|e| SpeedError::File {
            path: path.to_path_buf(),
            source: Box::new(e),
        })
    }

    /// Writes the JSON to `path`.
    pub fn write(&self, path: &Path) -> Result<(), SpeedError> {
        std::fs::write(path, self.to_json()).map_err(|source| SpeedError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Writes everything into `dir` (created if missing): [`JSON_FILE`], [`MARKDOWN_FILE`] and
    /// the figure `FIGURE_STEM.{svg,png}`. Returns the paths written.
    pub fn write_files(&self, dir: &Path) -> Result<Vec<PathBuf>, SpeedError> {
        std::fs::create_dir_all(dir).map_err(|source| SpeedError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let json = dir.join(JSON_FILE);
        self.write(&json)?;
        let figures = self.plot(&dir.join(FIGURE_STEM))?;
        let md = dir.join(MARKDOWN_FILE);
        std::fs::write(&md, self.render_markdown()).map_err(|source| SpeedError::Io {
            path: md.clone(),
            source,
        })?;
        let mut out = vec![json, md];
        out.extend(figures);
        Ok(out)
    }
}

/// The speed section of `REPORT.md`: the report in `dir/speed.json`, rendered
/// ([`SpeedReport::render_markdown`]; it links the figure by its file name, so it belongs in a
/// file in `dir`).
pub fn report_section(dir: &Path) -> Result<String, SpeedError> {
    Ok(SpeedReport::read(&dir.join(JSON_FILE))?.render_markdown())
}

#[cfg(test)]
mod tests;
