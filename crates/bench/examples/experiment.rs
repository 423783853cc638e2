//! The harness from your own program: an experiment on a workload of your choosing, results in
//! a resumable file, a report with figures.
//!
//! ```sh
//! cargo run --release -p lrmem-bench --example experiment -- [OUT_DIR]
//! ```
//! It runs online logistic regression on seeded synthetic data (a workload that runs in
//! seconds; swap in `lrmem_tasks::MnistPairs` or any `TaskFamily` of yours) for SGD, Adam and a
//! memory of learning rates, fresh and carried across tasks, 3 seeds, with tuned learning
//! rates; then writes `OUT_DIR/REPORT.md` (default `target/lrmem-example`). Run it twice: the
//! second run resumes from `OUT_DIR/results.jsonl` and carries out nothing.

use std::path::PathBuf;

use lrmem_bench::harness::{self, Arm, Experiment, NoObserver, Protocol, RunOptions, Tuning};
use lrmem_tasks::logistic::LogisticFamily;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/lrmem-example"));
    std::fs::create_dir_all(&out)?;
    let family = LogisticFamily::default();
    let experiment = Experiment {
        arms: ["sgd", "adam", "meta-sgd:xi=0.01", "meta-sgd:xi=0.01+reload"]
            .iter()
            .map(|a| Arm::parse(a))
            .collect::<Result<_, _>>()?,
        seeds: vec![0, 1, 2],
        tuning: Some(Tuning::default()),
        ..Experiment::new(
            "synthetic-logistic",
            Protocol {
                threshold: 0.9,
                cap: 1000,
                curve_every: 50,
                also: vec![],
            },
        )
    };
    let options = RunOptions {
        results: Some(out.join("results.jsonl")),
        resume: true,
        ..RunOptions::default()
    };
    let results = harness::run(&family, &experiment, &options, &NoObserver)?;
    let section = lrmem_bench::report::workload_section(
        &results,
        &out,
        "logistic",
        "Synthetic data (lrmem_tasks::logistic), for illustration only.",
    )?;
    std::fs::write(
        out.join("REPORT.md"),
        format!("# Example report\n\n{section}"),
    )?;
    println!(
        "{} runs ({} carried out now); report: {}",
        results.runs.len(),
        results.executed,
        out.join("REPORT.md").display()
    );
    Ok(())
}
