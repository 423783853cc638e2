//! Running the study: the diagnosis, then every stage as a harness experiment into its own
//! results file (one shard's slice, the shards' files merged, or rendered from the files
//! alone), then `study.json` and the report's section.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lrmem_tasks::TaskFamily;

use super::{
    cases, diagnose, experiment, section, stage_arms, summarise, Diagnosis, Stage, StageSummaries,
    StudyPlan, StudyResult,
};
use crate::harness::{self, Arm, Results, Shard};
use crate::BenchError;

/// Where the diagnosis is kept, with what it was run on, for `--resume`, rendering and merging.
const DIAGNOSIS_FILE: &str = "study-diagnosis.json";

/// Where a study runs: the data, the cache, the output folder, the parallel runs, and whether
/// it runs, resumes, takes one shard, merges shards or only renders.
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
    /// Carry out only this shard of every stage's runs, each stage into a file of its own
    /// (`study-STAGE.shard-K-of-N.jsonl`); the diagnosis runs on the first shard. A shard
    /// writes no `study.json` and no section: merging the shards' folders does.
    pub shard: Option<Shard>,
    /// Join the stages' results files in these folders (the shards' `--out`) instead of
    /// running them ([`harness::merge`]; with `resume`, what no file holds runs here); the
    /// diagnosis comes from the first folder that holds one of this plan.
    pub merge: &'a [PathBuf],
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

/// The results of stage `name` ran, merged or read, as the context says.
fn stage_results(
    family: &dyn TaskFamily,
    experiment: harness::Experiment,
    name: &str,
    ctx: &StudyContext<'_>,
    observer: &dyn harness::Observer,
) -> Result<Results, BenchError> {
    let stem = format!("study-{name}");
    let path = ctx.out.join(harness::results_file_name(&stem, None));
    if ctx.render_only {
        let runs = if path.exists() {
            let (saved, runs) = harness::ResultsFile::read(&path)?;
            if !harness::store::is_same_experiment(&saved, &experiment) {
                return Err(BenchError::Results {
                    path,
                    reason: "it was written for another experiment than this build's plan; render with the build that ran it".into(),
                });
            }
            runs
        } else {
            Vec::new()
        };
        return Ok(Results {
            experiment,
            task_labels: (0..family.len()).map(|k| family.label(k)).collect(),
            metric: String::new(),
            runs,
            tuned: BTreeMap::new(),
            executed: 0,
        });
    }
    let options = harness::RunOptions {
        jobs: ctx.jobs,
        results: Some(ctx.out.join(harness::results_file_name(&stem, ctx.shard))),
        resume: ctx.resume,
        shard: ctx.shard,
    };
    if ctx.merge.is_empty() {
        harness::run(family, &experiment, &options, observer)
    } else {
        let files = harness::shard_files(ctx.merge, &stem)?;
        harness::merge(family, &experiment, &files, &options, observer)
    }
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
    let results = stage_results(family.as_ref(), experiment, name, ctx, observer)?;
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

/// What the diagnosis was run on, as its file records it: the first development stage, the
/// updates and snapshot spacing, the development seeds.
type DiagnosisFile = (Stage, [usize; 2], Vec<u64>, Vec<Diagnosis>);

/// The diagnosis of `plan` on its first development task (none without a development stage):
/// read from [`DIAGNOSIS_FILE`] where the context allows (resuming, rendering, merging: in the
/// output folder, then in the merged folders), else run and written there.
fn diagnoses(
    plan: &StudyPlan,
    ctx: &StudyContext<'_>,
    progress: &dyn Fn(&str),
) -> Result<Vec<Diagnosis>, BenchError> {
    use rayon::prelude::*;
    let Some(first) = plan.dev.first() else {
        return Ok(Vec::new());
    };
    let path = ctx.out.join(DIAGNOSIS_FILE);
    let key = (first, plan.diagnosis, &plan.dev_seeds);
    let mut places = Vec::new();
    if ctx.resume || ctx.render_only || !ctx.merge.is_empty() {
        places.push(path.clone());
    }
    places.extend(ctx.merge.iter().map(|d| d.join(DIAGNOSIS_FILE)));
    let cached = places.iter().find_map(|p| {
        std::fs::read(p)
            .ok()
            .and_then(|b| serde_json::from_slice::<DiagnosisFile>(&b).ok())
            .filter(|(st, d, seeds, _)| (st, *d, seeds) == key)
            .map(|(_, _, _, d)| (p, d))
    });
    let diagnoses = match cached {
        Some((from, d)) => {
            progress(&format!("diagnosis (from {})", from.display()));
            if *from == path {
                return Ok(d);
            }
            d
        }
        None if ctx.render_only || (!ctx.merge.is_empty() && !ctx.resume) => {
            progress(&format!(
                "diagnosis: not rendered (no {DIAGNOSIS_FILE} of this plan)"
            ));
            return Ok(Vec::new());
        }
        None if ctx.shard.is_some_and(|s| s.index() != 1) => {
            progress("diagnosis: on shard 1");
            return Ok(Vec::new());
        }
        None => {
            progress("diagnosis");
            let family = build_family(first, ctx)?;
            let [updates, every] = plan.diagnosis;
            let seed = plan.dev_seeds.first().copied().unwrap_or(100);
            cases()
                .par_iter()
                .map(|c| diagnose(family.as_ref(), 0, seed, c, updates, every))
                .collect::<Result<Vec<_>, _>>()?
        }
    };
    let json = serde_json::to_vec(&(first, plan.diagnosis, &plan.dev_seeds, &diagnoses))
        .map_err(|e| BenchError::Invalid(e.to_string()))?;
    std::fs::create_dir_all(ctx.out)
        .and_then(|()| std::fs::write(&path, json))
        .map_err(BenchError::io(&path))?;
    Ok(diagnoses)
}

/// Runs the whole study and writes `study.json`, the figures and the stage results files
/// into `ctx.out`; returns the report's section (`None` for a shard, whose runs are a part of
/// the study's: merging the shards' folders gives the section).
pub fn run(
    plan: &StudyPlan,
    ctx: &StudyContext<'_>,
    observer: &dyn harness::Observer,
    progress: &dyn Fn(&str),
) -> Result<Option<String>, BenchError> {
    let diagnoses = diagnoses(plan, ctx, progress)?;
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
    if ctx.shard.is_some() {
        return Ok(None);
    }
    let result = StudyResult {
        plan: plan.clone(),
        diagnoses,
        dev,
        held_out,
        held_out_dev,
    };
    let path = ctx.out.join("study.json");
    let json = serde_json::to_string(&result).map_err(|e| BenchError::Invalid(e.to_string()))?;
    std::fs::write(&path, json).map_err(BenchError::io(&path))?;
    section(&result, ctx.out).map(Some)
}
