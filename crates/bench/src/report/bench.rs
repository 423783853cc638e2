//! [`run`]: what `cargo xtask bench` reports, as a library call — the workloads of a profile,
//! the studies, the speed suite's section and the robustness section, into `REPORT.md` — on one
//! machine, as one shard of a job array, or merging the shards' results files. The command
//! line only parses [`BenchOptions`]; the library's example calls the same function.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::sections::{l2l_section, maml_section, robustness_section, study_section};
use super::{copy_pictures, machine, workload_section, Pictures};
use crate::harness::{
    self, results_file_name, shard_files, Both, NoObserver, Observer, RunOptions, Shard,
};
use crate::studies::study::StudyPlan;
use crate::workloads::profile::{Overrides, Profile};
use crate::workloads::{self, WorkloadConfig};
use crate::BenchError;

/// What watches [`run`]: lines of progress, and an observer for each experiment (progress
/// bars, say). Both default to nothing.
pub trait Progress: Sync {
    /// A line of progress: a workload starts, a stage of a study.
    fn line(&self, _text: &str) {}

    /// The observer of the next experiment, whose family has `tasks` tasks.
    fn observer(&self, _tasks: usize) -> Box<dyn Observer + '_> {
        Box::new(NoObserver)
    }
}

/// Progress as lines on standard error, without bars.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lines;

impl Progress for Lines {
    fn line(&self, text: &str) {
        eprintln!("{text}");
    }
}

/// Which part of the study of the memory's variants runs (`--study`, `--study-dev`,
/// `--study-stages`, `--study-render`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StudyOptions {
    /// Only the diagnosis and the development stages (with `stages`: and those held-out ones).
    pub dev_only: bool,
    /// Only these held-out stages (indices into the plan's), without the diagnosis and the
    /// development stages unless `dev_only`.
    pub stages: Option<Vec<usize>>,
    /// Run nothing: render the report from the stages' results files.
    pub render: bool,
}

impl StudyOptions {
    /// The profile's plan (the quick smoke, or the whole study) cut to what these options
    /// select.
    pub fn plan(&self, profile: Profile) -> Result<StudyPlan, BenchError> {
        let mut plan = if profile == Profile::Quick {
            StudyPlan::quick()
        } else {
            StudyPlan::full()
        };
        if self.dev_only && self.stages.is_none() {
            plan.held_out.clear();
        }
        if let Some(keep) = &self.stages {
            if let Some(bad) = keep.iter().find(|&&i| i >= plan.held_out.len()) {
                return Err(BenchError::Parse(format!(
                    "--study-stages: there is no held-out stage {bad} (0..{}); see --help for the stages",
                    plan.held_out.len()
                )));
            }
            plan.held_out = keep.iter().map(|&i| plan.held_out[i].clone()).collect();
            // The diagnosis and the development stages are `--study-dev`'s (both flags: the
            // development stages and these held-out ones).
            if !self.dev_only {
                plan.dev.clear();
            }
        }
        Ok(plan)
    }
}

/// Everything `cargo xtask bench` can be asked, parsed.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// How much of the protocol runs.
    pub profile: Profile,
    /// Only the speed suite's section (`--speed`).
    pub speed_only: bool,
    /// The speed suite's section, from `speed.json` in [`out`](Self::out) (measured before by
    /// the `speed` binary; `--no-speed` leaves it out).
    pub speed: bool,
    /// Only MAML's learning-rate sweep (`--maml`; with `--l2l` and `--study`, those too).
    pub maml: bool,
    /// Only the learned optimizer's study (`--l2l`).
    pub l2l: bool,
    /// Only the study of the memory's variants, or the part of it selected.
    pub study: Option<StudyOptions>,
    /// The workloads named on the command line; `None`: the profile's.
    pub workloads: Option<Vec<String>>,
    /// Workload options (`--set KEY=VALUE`, `--data`, `--pairs`, `--pixels`), each given to
    /// the selected workloads that have it.
    pub workload_options: BTreeMap<String, String>,
    /// The data sets' folder.
    pub data_root: PathBuf,
    /// Where workloads and studies keep what they derive once (feature networks,
    /// meta-training).
    pub cache_dir: Option<PathBuf>,
    /// What the command line changes of the profile's experiments.
    pub overrides: Overrides,
    /// Parallel runs.
    pub jobs: usize,
    /// The report's folder.
    pub out: PathBuf,
    /// Keep the finished runs of the results files and run the rest.
    pub resume: bool,
    /// Run only this shard of every experiment's runs, each into its own results file; no
    /// `REPORT.md` then (merging the shards' folders writes it).
    pub shard: Option<Shard>,
    /// Join the results files in these folders (the shards' `out`) instead of running;
    /// with `resume`, what no file holds runs here.
    pub merge: Vec<PathBuf>,
    /// The folder of the last fuzzing and soak summaries (`FUZZ.md`, `SOAK.md`), for the
    /// robustness section.
    pub robustness_dir: Option<PathBuf>,
}

impl BenchOptions {
    /// The default profile on MNIST, everything else at its default, writing into `out`.
    pub fn new(data_root: PathBuf, out: PathBuf) -> Self {
        BenchOptions {
            profile: Profile::Default,
            speed_only: false,
            speed: false,
            maml: false,
            l2l: false,
            study: None,
            workloads: None,
            workload_options: BTreeMap::new(),
            data_root,
            cache_dir: None,
            overrides: Overrides::default(),
            jobs: std::thread::available_parallelism().map_or(2, |n| n.get()),
            out,
            resume: false,
            shard: None,
            merge: Vec::new(),
            robustness_dir: None,
        }
    }

    /// Whether only studies run (`--maml`, `--l2l`, `--study`), no workload.
    pub fn studies_only(&self) -> bool {
        self.maml || self.l2l || self.study.is_some()
    }

    /// The workloads to run, in order, each once: those named, else the profile's.
    pub fn workloads(&self) -> Vec<String> {
        match &self.workloads {
            Some(w) => {
                let mut v: Vec<String> = Vec::new();
                for x in w {
                    if !v.contains(x) {
                        v.push(x.clone());
                    }
                }
                v
            }
            None => self
                .profile
                .workloads()
                .into_iter()
                .map(String::from)
                .collect(),
        }
    }

    /// The data sets (folders of [`data_root`](Self::data_root)) the run reads and that a
    /// fetch can provide: none for the speed suite, MAML alone, or a data folder given.
    pub fn data_sets(&self) -> Result<Vec<&'static str>, BenchError> {
        if self.speed_only || self.maml || self.workload_options.contains_key("dir") {
            return Ok(Vec::new());
        }
        if self.study.is_some() {
            return Ok(vec!["mnist", "fashion-mnist"]);
        }
        let mut sets = Vec::new();
        for w in self.workloads() {
            if let Some(set) = workloads::find(&w)?.data {
                if !sets.contains(&set) {
                    sets.push(set);
                }
            }
        }
        Ok(sets)
    }

    /// Checks what the command line combined: known workloads, options some selected workload
    /// has, a finite threshold, at least one job, a shard or a merge where they apply.
    pub fn validate(&self) -> Result<(), BenchError> {
        let names = self.workloads();
        for w in &names {
            workloads::find(w)?;
        }
        if let Some(key) = self.workload_options.keys().find(|k| {
            !names
                .iter()
                .any(|w| workloads::find(w).is_ok_and(|e| e.options.iter().any(|(o, _)| o == *k)))
        }) {
            return Err(BenchError::Parse(format!(
                "no selected workload ({}) has the option `{key}`; see --help for each workload's options",
                names.join(", ")
            )));
        }
        if let Some(t) = self.overrides.threshold.filter(|t| !t.is_finite()) {
            return Err(BenchError::Parse(format!(
                "--threshold must be a finite number, got {t}"
            )));
        }
        if self.jobs == 0 {
            return Err(BenchError::Parse("--jobs must be at least 1".into()));
        }
        if self.shard.is_some() && !self.merge.is_empty() {
            return Err(BenchError::Parse(
                "--shard runs one slice, --merge joins them all: give one of them".into(),
            ));
        }
        let parallel = self.shard.is_some() || !self.merge.is_empty();
        if parallel && (self.speed_only || self.maml || self.l2l) {
            return Err(BenchError::Parse(
                "--shard and --merge are for the workloads' experiments (mnist, --robot, --gan, --full) and the study; --speed, --maml and --l2l run on one machine".into(),
            ));
        }
        if parallel && self.study.as_ref().is_some_and(|s| s.render) {
            return Err(BenchError::Parse(
                "--study-render renders the results files in --out: run it without --shard or --merge".into(),
            ));
        }
        Ok(())
    }
}

/// What [`run`] wrote: the report, or for a shard its results files (the report is the
/// merge's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// `REPORT.md`, unless a shard ran.
    pub report: Option<PathBuf>,
    /// The results files of a shard's runs.
    pub shard_files: Vec<PathBuf>,
}

/// Runs what `options` ask and writes `REPORT.md` (and every results file and figure) into
/// its folder: the studies alone when asked, else the speed section alone when asked, else
/// every workload (then, with the full profile and no workload named, MAML and the learned
/// optimizer), the speed section and the robustness section. A shard writes its results
/// files only; merging the shards' folders writes the report one machine would.
pub fn run(options: &BenchOptions, progress: &dyn Progress) -> Result<Written, BenchError> {
    let o = options;
    o.validate()?;
    std::fs::create_dir_all(&o.out).map_err(BenchError::io(&o.out))?;
    let mut written = Written::default();
    let mut md = String::from("# lrmem benchmark report\n");
    if o.studies_only() {
        if let Some(study) = &o.study {
            let section = study_section(o, study, progress)?;
            match section {
                Some(s) => md.push_str(&s),
                None => written.shard_files.push(o.out.clone()),
            }
        }
        if o.maml {
            md.push_str(&maml_section(o, progress)?);
        }
        if o.l2l {
            md.push_str(&l2l_section(o, progress)?);
        }
        return finish(o, md, written);
    }
    let speed = if o.speed_only || o.speed {
        Some(crate::speed::report_section(&o.out)?)
    } else {
        None
    };
    md.push('\n');
    if o.speed_only {
        md.push_str(
            speed
                .as_deref()
                .unwrap_or("(no speed measurements were written)"),
        );
        let path = o.out.join("REPORT.md");
        std::fs::write(&path, md).map_err(BenchError::io(&path))?;
        written.report = Some(path);
        return Ok(written);
    }
    for workload in o.workloads() {
        let (section, file) = run_workload(o, &workload, progress)?;
        md.push_str(&section);
        written.shard_files.extend(file);
    }
    if o.profile == Profile::Full && o.workloads.is_none() {
        md.push_str(&maml_section(o, progress)?);
        md.push_str(&l2l_section(o, progress)?);
    }
    if let Some(s) = speed {
        md.push_str(&s);
        md.push('\n');
    }
    if let Some(dir) = &o.robustness_dir {
        md.push_str(&robustness_section(dir));
    }
    finish(o, md, written)
}

/// Writes `md` as `REPORT.md`, unless a shard ran.
fn finish(o: &BenchOptions, md: String, mut written: Written) -> Result<Written, BenchError> {
    if o.shard.is_none() {
        let path = o.out.join("REPORT.md");
        std::fs::write(&path, md).map_err(BenchError::io(&path))?;
        written.report = Some(path);
    }
    Ok(written)
}

/// Runs (or merges) `workload`'s experiment; returns its section of `REPORT.md` and, for a
/// shard, its results file (the section is then empty).
fn run_workload(
    o: &BenchOptions,
    workload: &str,
    progress: &dyn Progress,
) -> Result<(String, Option<PathBuf>), BenchError> {
    let entry = workloads::find(workload)?;
    let experiment = o.profile.experiment(entry, &o.overrides);
    let config = WorkloadConfig {
        data_root: o.data_root.clone(),
        options: o.profile.options(entry, &o.workload_options),
        cache_dir: o.cache_dir.clone(),
    };
    progress.line(&format!("== workload {workload}: building its tasks"));
    let family = entry.build(&config)?;
    let results_path = o.out.join(results_file_name(entry.name, o.shard));
    let options = RunOptions {
        jobs: o.jobs,
        results: Some(results_path.clone()),
        resume: o.resume,
        shard: o.shard,
    };
    let bars = progress.observer(family.len());
    let pictures = Pictures {
        out: o.out.clone(),
        prefix: entry.name.to_string(),
    };
    let observer = Both(bars.as_ref(), &pictures);
    let started = std::time::Instant::now();
    let results = if o.merge.is_empty() {
        harness::run(family.as_ref(), &experiment, &options, &observer)?
    } else {
        let files = shard_files(&o.merge, entry.name)?;
        copy_pictures(&o.merge, &o.out, entry.name)?;
        harness::merge(family.as_ref(), &experiment, &files, &options, &observer)?
    };
    let elapsed = started.elapsed().as_secs_f64();
    if o.shard.is_some() {
        return Ok((String::new(), Some(results_path)));
    }
    let json = o.out.join(format!("{}.json", entry.name));
    let text = serde_json::to_string_pretty(&results).map_err(|e| BenchError::Results {
        path: json.clone(),
        reason: format!("cannot encode the results: {e}"),
    })?;
    std::fs::write(&json, text).map_err(BenchError::io(&json))?;
    let taken_from = if o.merge.is_empty() {
        format!("{} (`--resume`)", results_path.display())
    } else {
        format!(
            "the results files in {} (`--merge`), joined into {}",
            list(&o.merge),
            results_path.display()
        )
    };
    let mut about = format!(
        "Data: {} (options: {}). {} runs carried out now ({elapsed:.0} s on {}, {} parallel runs), {} taken from {taken_from}.",
        data_text(o, entry, &config),
        options_text(&config.options),
        results.executed,
        machine(),
        o.jobs,
        results.runs.len() - results.executed,
    );
    let _ = write!(
        about,
        " The paper setting gives every arm base learning rate {}.",
        experiment
            .base_lr
            .map_or("(none)".to_string(), |lr| format!("{lr:e}")),
    );
    let section = workload_section(&results, &o.out, entry.name, &about)?;
    Ok((section, None))
}

/// Where the workload's data came from, in words.
fn data_text(
    o: &BenchOptions,
    entry: &workloads::WorkloadEntry,
    config: &WorkloadConfig,
) -> String {
    if entry.options.iter().any(|(k, _)| *k == "dir") {
        config.options.get("dir").cloned().unwrap_or_else(|| {
            o.data_root
                .join(entry.data.unwrap_or(entry.name))
                .display()
                .to_string()
        })
    } else {
        "simulated when the workload is built (fixed data seeds)".to_string()
    }
}

/// A workload's options as `k=v, …`, or `defaults`.
fn options_text(options: &BTreeMap<String, String>) -> String {
    if options.is_empty() {
        "defaults".to_string()
    } else {
        options
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Folders as a list for a sentence.
pub(super) fn list(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first of `dirs` that holds `file`.
pub(super) fn found_in(dirs: &[PathBuf], file: &str) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(file)).find(|p| p.is_file())
}

/// Copies `from` to `to` unless they are the same file.
pub(super) fn copy_into(from: &Path, to: &Path) -> Result<(), BenchError> {
    let same = from.canonicalize().ok() == to.canonicalize().ok() && to.exists();
    if !same {
        std::fs::copy(from, to).map_err(BenchError::io(to))?;
    }
    Ok(())
}
