//! What the harness's tests share: a workload that runs in milliseconds (online logistic
//! regression on seeded synthetic data), experiments on it, and results compared without their
//! wall times.

#![allow(dead_code)] // each test file uses its own part

use lrmem_bench::harness::{Arm, Experiment, Protocol, Results, RunOptions};
use lrmem_tasks::logistic::LogisticFamily;

/// Three small tasks of online logistic regression.
pub fn family() -> LogisticFamily {
    LogisticFamily {
        dim: 10,
        train: 300,
        test: 200,
        tasks: 3,
        ..LogisticFamily::default()
    }
}

/// `threshold` within `cap` updates, a curve point every 25.
pub fn protocol(threshold: f64, cap: usize) -> Protocol {
    Protocol {
        threshold,
        cap,
        curve_every: 25,
        also: vec![],
    }
}

/// `arms` (in `Arm::parse`'s syntax) with seeds 0..`seeds` on [`family`].
pub fn experiment(arms: &[&str], seeds: u64, threshold: f64, cap: usize) -> Experiment {
    Experiment {
        arms: arms.iter().map(|a| Arm::parse(a).unwrap()).collect(),
        seeds: (0..seeds).collect(),
        ..Experiment::new("synthetic-logistic", protocol(threshold, cap))
    }
}

/// `jobs` parallel runs, no results file.
pub fn options(jobs: usize) -> RunOptions {
    RunOptions {
        jobs,
        ..RunOptions::default()
    }
}

/// The results with wall times zeroed: what must reproduce bit for bit.
pub fn without_times(mut r: Results) -> Results {
    for run in &mut r.runs {
        run.wall_s = 0.0;
        for t in &mut run.tasks {
            t.mean_update_us = 0.0;
        }
    }
    r.executed = 0;
    r
}

/// A results file's path in a folder of its own for the test `name`.
pub fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lrmem-harness-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("results.jsonl")
}
