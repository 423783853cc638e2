//! The sections of `REPORT.md` besides the workloads': MAML's sweep, the learned optimizer's
//! study, the study of the memory's variants, and the robustness summaries. Each runs its
//! study (or, merging shards, reads what the first shard wrote) and writes its raw numbers next
//! to the report.

use std::path::Path;

use super::bench::{copy_into, found_in, list, BenchOptions, Progress, StudyOptions};
use super::{machine, Pictures};
use crate::harness::Both;
use crate::studies::l2l::{L2lResult, L2lStudy};
use crate::studies::maml::{MamlResult, MamlSweep};
use crate::studies::study::{self, StudyContext};
use crate::workloads::profile::Profile;
use crate::BenchError;

/// The result of a study that runs on one machine (MAML, the learned optimizer), and whether
/// this machine reports it. In a job array it runs on the first shard, which reports nothing
/// (`None` on the others); merging reads what that shard wrote (`file`, found in the merged
/// folders and copied into `out`), or runs it here if no folder holds it.
fn one_machine<T: serde::de::DeserializeOwned>(
    o: &BenchOptions,
    file: &str,
    label: &str,
    progress: &dyn Progress,
    run: impl FnOnce() -> Result<T, BenchError>,
) -> Result<Option<(T, bool)>, BenchError> {
    match o.shard {
        Some(s) if s.index() != 1 => Ok(None),
        Some(_) => Ok(Some((run()?, false))),
        None => match found_in(&o.merge, file) {
            Some(from) => {
                progress.line(&format!("== {label}: from {}", from.display()));
                let path = o.out.join(file);
                copy_into(&from, &path)?;
                Ok(Some((read_json(&path)?, true)))
            }
            None => Ok(Some((run()?, true))),
        },
    }
}

/// Writes `value` as JSON at `path` (pretty for files people read).
fn write_json(path: &Path, value: &impl serde::Serialize, pretty: bool) -> Result<(), BenchError> {
    let text = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    }
    .map_err(|e| BenchError::Results {
        path: path.to_path_buf(),
        reason: format!("cannot encode: {e}"),
    })?;
    std::fs::write(path, text).map_err(BenchError::io(path))
}

/// Reads the JSON `path` holds as a `T`.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, BenchError> {
    let text = std::fs::read_to_string(path).map_err(BenchError::io(path))?;
    serde_json::from_str(&text).map_err(|e| BenchError::Results {
        path: path.to_path_buf(),
        reason: format!("not the results of this build's study ({e}); run it again"),
    })
}

/// Runs the MAML learning-rate sweep (its quick grid with the quick profile) from the first
/// seed, writes `maml.json` and returns its section of `REPORT.md`.
pub(super) fn maml_section(
    o: &BenchOptions,
    progress: &dyn Progress,
) -> Result<String, BenchError> {
    let started = std::time::Instant::now();
    let run = || run_maml(o, progress);
    let Some((result, true)) = one_machine(o, "maml.json", "MAML", progress, run)? else {
        return Ok(String::new());
    };
    let md = crate::studies::maml::section(&result, &o.out)?;
    Ok(format!(
        "{md}\n({:.1} s on {}; raw numbers in maml.json.)\n",
        started.elapsed().as_secs_f64(),
        machine()
    ))
}

/// Runs the MAML sweep; writes `maml.json`.
fn run_maml(o: &BenchOptions, progress: &dyn Progress) -> Result<MamlResult, BenchError> {
    let first = o.overrides.first_seed;
    let sweep = if o.profile == Profile::Quick {
        MamlSweep::quick(first)
    } else {
        MamlSweep::full(first)
    };
    progress.line(&format!(
        "== MAML: {} meta-training rates × {} adaptation rates over {} task sets",
        sweep.alphas_t.len(),
        sweep.alphas_r.len(),
        sweep.sets
    ));
    let result = sweep.run()?;
    write_json(&o.out.join("maml.json"), &result, true)?;
    Ok(result)
}

/// Runs the learned optimizer's study (its smoke with the quick profile) from the first seed,
/// writes `l2l.json` and the meta-trained weights (`l2l-FAMILY.lrw`, what `l2l:weights=PATH`
/// reads) and returns its section of `REPORT.md`.
pub(super) fn l2l_section(o: &BenchOptions, progress: &dyn Progress) -> Result<String, BenchError> {
    let started = std::time::Instant::now();
    let run = || run_l2l(o, progress);
    let Some((result, true)) = one_machine(o, "l2l.json", "L2L", progress, run)? else {
        return Ok(String::new());
    };
    // The weights beside the results, also when they were read from a shard's folder.
    for t in &result.trained {
        let path = o.out.join(format!("l2l-{}.lrw", t.family));
        std::fs::write(&path, &t.weights).map_err(BenchError::io(&path))?;
    }
    let md = crate::studies::l2l::section(&result, &o.out)?;
    Ok(format!(
        "{md}\n({:.0} s on {}; raw numbers in l2l.json, weights in l2l-quadratic.lrw and l2l-mnist.lrw.)\n",
        started.elapsed().as_secs_f64(),
        machine()
    ))
}

/// Meta-trains and runs the learned optimizer's study; writes `l2l.json`.
fn run_l2l(o: &BenchOptions, progress: &dyn Progress) -> Result<L2lResult, BenchError> {
    let first = o.overrides.first_seed;
    let study = if o.profile == Profile::Quick {
        L2lStudy::quick(first)
    } else {
        L2lStudy::full(first)
    };
    let dir = o.data_root.join("mnist");
    let mnist = lrmem_tasks::mnist::Mnist::load(&dir).map_err(|source| BenchError::Task {
        context: format!("the L2L study needs MNIST in {}", dir.display()),
        source: Box::new(source),
    })?;
    progress.line(&format!(
        "== L2L: meta-training {:?} epochs (quadratics, MNIST), then {} held-out instances × {} steps",
        study.epochs, study.seeds, study.long
    ));
    let lines = |line: &str| progress.line(&format!("   {line}"));
    let result = study.run(&mnist, o.cache_dir.as_deref(), &lines)?;
    write_json(&o.out.join("l2l.json"), &result, false)?;
    Ok(result)
}

/// Runs the study of the memory's variants (its smoke with the quick profile), writes
/// `study.json`, the stages' results files and figures, and returns its section of
/// `REPORT.md` (`None` for a shard, whose stages' files the merge reports).
pub(super) fn study_section(
    o: &BenchOptions,
    selection: &StudyOptions,
    progress: &dyn Progress,
) -> Result<Option<String>, BenchError> {
    let plan = selection.plan(o.profile)?;
    let ctx = StudyContext {
        data_root: &o.data_root,
        cache_dir: o.cache_dir.as_deref(),
        out: &o.out,
        jobs: o.jobs,
        resume: o.resume,
        render_only: selection.render,
        shard: o.shard,
        merge: &o.merge,
    };
    let started = std::time::Instant::now();
    let bars = progress.observer(3);
    let pictures = Pictures {
        out: o.out.clone(),
        prefix: "study".into(),
    };
    let observer = Both(bars.as_ref(), &pictures);
    let lines = |stage: &str| progress.line(&format!("== study: {stage}"));
    let Some(md) = study::run(&plan, &ctx, &observer, &lines)? else {
        return Ok(None);
    };
    let merged = if o.merge.is_empty() {
        String::new()
    } else {
        format!(" merged from {}", list(&o.merge))
    };
    Ok(Some(format!(
        "{md}\n({:.0} s on {}{merged}; raw numbers in study.json and study-*.jsonl.)\n",
        started.elapsed().as_secs_f64(),
        machine()
    )))
}

/// The summaries of the last `cargo xtask fuzz`, `cargo xtask soak` and `cargo xtask fuzz
/// --coverage` (their `FUZZ.md`, `SOAK.md` and `AFL.md` in `dir`), where they exist, as a
/// section of `REPORT.md`; empty if none does.
pub fn robustness_section(dir: &Path) -> String {
    let mut md = String::new();
    for (file, title) in [
        ("FUZZ.md", "Fuzzing (`cargo xtask fuzz`)"),
        ("SOAK.md", "Soak (`cargo xtask soak`)"),
        (
            "AFL.md",
            "Coverage-guided fuzzing (`cargo xtask fuzz --coverage`)",
        ),
    ] {
        if let Ok(text) = std::fs::read_to_string(dir.join(file)) {
            if md.is_empty() {
                md.push_str("\n## Robustness: every promise under hostile input\n\n");
                md.push_str("From the last runs of the commands below on this checkout; each fails if a promise (no panic, an error changes nothing, finite parameters and θ after `Ok`) broke.\n");
            }
            md.push_str(&format!("\n### {title}\n\n{text}\n"));
        }
    }
    md
}
