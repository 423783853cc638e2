//! Runs spread over machines: the shards of an experiment are disjoint, and merged they give
//! the results one machine gives, run by run; a results file of another experiment is refused.

mod common;

use std::path::PathBuf;

use common::{experiment, family, tmp, without_times};
use lrmem_bench::harness::{
    self, merge, results_file_name, Experiment, NoObserver, RunOptions, Shard, Tuning,
};
use lrmem_bench::BenchError;

/// Three arms (one carried across tasks), three seeds, and a tuning whose grid widens: every
/// setting, and an arm's tuning rounds that depend on its earlier ones.
fn sharded_experiment() -> Experiment {
    let mut e = experiment(&["sgd", "adam", "meta-sgd:xi=0.01+reload"], 3, 0.85, 150);
    e.tuning = Some(Tuning {
        grid: vec![1e-2, 3e-2],
        seeds: vec![7],
        max_widen: 1,
        bounds: (1e-6, 1.0),
    });
    e
}

fn options(results: PathBuf, shard: Option<Shard>, resume: bool) -> RunOptions {
    RunOptions {
        jobs: 2,
        results: Some(results),
        resume,
        shard,
    }
}

/// Runs the shards of `count` of `e` into `dir`, each into its own results file.
fn run_shards(e: &Experiment, dir: &std::path::Path, count: usize) -> Vec<PathBuf> {
    (1..=count)
        .map(|k| {
            let shard = Shard::new(k, count).unwrap();
            let path = dir.join(results_file_name("logistic", Some(shard)));
            let o = options(path.clone(), Some(shard), false);
            harness::run(&family(), e, &o, &NoObserver).unwrap();
            path
        })
        .collect()
}

#[test]
fn three_shards_merged_equal_one_machine_run_by_run() {
    let e = sharded_experiment();
    let dir = tmp("shards").parent().unwrap().to_path_buf();
    let whole = harness::run(
        &family(),
        &e,
        &options(dir.join("whole.jsonl"), None, false),
        &NoObserver,
    )
    .unwrap();
    let files = run_shards(&e, &dir, 3);
    // Disjoint: every run in exactly one shard's file.
    let mut keys: Vec<String> = Vec::new();
    for f in &files {
        let (_, runs) = harness::ResultsFile::read(f).unwrap();
        keys.extend(runs.iter().map(|r| r.spec.key()));
    }
    keys.sort();
    let mut all: Vec<String> = whole.runs.iter().map(|r| r.spec.key()).collect();
    all.sort();
    assert_eq!(keys, all, "the shards hold every run once");
    assert!(
        files
            .iter()
            .all(|f| harness::ResultsFile::read(f).unwrap().1.len() < all.len()),
        "each shard holds a part"
    );
    // Found by name in the folder, merged into a fresh file, without running anything.
    let found = harness::shard_files(std::slice::from_ref(&dir), "logistic").unwrap();
    assert_eq!(found, files);
    let merged_path = dir.join("logistic.jsonl");
    let merged = merge(
        &family(),
        &e,
        &found,
        &options(merged_path.clone(), None, false),
        &NoObserver,
    )
    .unwrap();
    assert_eq!(merged.executed, 0);
    assert_eq!(merged.runs.len(), whole.runs.len());
    let (merged, whole) = (without_times(merged), without_times(whole));
    for (m, w) in merged.runs.iter().zip(&whole.runs) {
        assert_eq!(m, w, "run {}", w.spec.key());
    }
    assert_eq!(merged, whole);
    // The merged file resumes like one machine's: nothing left to run.
    let again = harness::run(
        &family(),
        &e,
        &options(merged_path, None, true),
        &NoObserver,
    )
    .unwrap();
    assert_eq!((again.executed, without_times(again)), (0, whole));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_of_another_experiment_is_refused_with_what_to_do() {
    let e = sharded_experiment();
    let dir = tmp("other").parent().unwrap().to_path_buf();
    let mut files = run_shards(&e, &dir, 2);
    let mut other = e.clone();
    other.seeds = vec![0, 1];
    let stray = dir.join("stray.jsonl");
    harness::run(
        &family(),
        &other,
        &options(stray.clone(), Some(Shard::new(1, 2).unwrap()), false),
        &NoObserver,
    )
    .unwrap();
    files.push(stray.clone());
    let err = merge(
        &family(),
        &e,
        &files,
        &options(dir.join("merged.jsonl"), None, false),
        &NoObserver,
    )
    .unwrap_err();
    let BenchError::OtherExperiment { path, differs } = &err else {
        panic!("{err}");
    };
    assert_eq!((path, differs.as_str()), (&stray, "seeds"));
    let message = err.to_string();
    assert!(
        message.contains("merge only the results files of one experiment"),
        "{message}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_shard_is_named_and_resume_runs_it() {
    let e = sharded_experiment();
    let dir = tmp("missing").parent().unwrap().to_path_buf();
    let files = run_shards(&e, &dir, 3);
    let merged_path = dir.join("logistic.jsonl");
    let without_last = &files[..2];
    let err = merge(
        &family(),
        &e,
        without_last,
        &options(merged_path.clone(), None, false),
        &NoObserver,
    )
    .unwrap_err();
    assert!(matches!(err, BenchError::MissingRuns { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("shard(s) 3/3"), "{message}");
    assert!(message.contains("--resume"), "{message}");
    // With resume the merge carries out what no file holds.
    let resumed = merge(
        &family(),
        &e,
        without_last,
        &options(merged_path, None, true),
        &NoObserver,
    )
    .unwrap();
    let shard3 = harness::ResultsFile::read(&files[2]).unwrap().1.len();
    assert_eq!(resumed.executed, shard3);
    let whole = harness::run(&family(), &e, &common::options(2), &NoObserver).unwrap();
    assert_eq!(without_times(resumed), without_times(whole));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_shard_resumes_only_its_own_file() {
    let e = sharded_experiment();
    let path = tmp("resume-shard");
    let one = Shard::new(1, 2).unwrap();
    harness::run(
        &family(),
        &e,
        &options(path.clone(), Some(one), false),
        &NoObserver,
    )
    .unwrap();
    let two = Shard::new(2, 2).unwrap();
    let err = harness::run(
        &family(),
        &e,
        &options(path.clone(), Some(two), true),
        &NoObserver,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("shard 1/2") && err.contains("--shard"),
        "{err}"
    );
    let again = harness::run(
        &family(),
        &e,
        &options(path.clone(), Some(one), true),
        &NoObserver,
    )
    .unwrap();
    assert_eq!(again.executed, 0);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}
