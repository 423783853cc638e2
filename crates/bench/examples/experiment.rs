//! The harness from your own program: an experiment on a workload of your choosing, results in
//! a resumable file, a report with figures.
//!
//! ```sh
//! cargo run --release -p lrmem-bench --example experiment -- [OUT_DIR]
//! cargo run --release -p lrmem-bench --example experiment -- OUT_DIR --workload NAME [--quick]
//! ```
//! Without `--workload` it runs online logistic regression on seeded synthetic data (a
//! workload that runs in seconds; swap in `lrmem_tasks::MnistPairs` or any `TaskFamily` of
//! yours) for SGD, Adam and a memory of learning rates, fresh and carried across tasks, 3
//! seeds, with tuned learning rates; then writes `OUT_DIR/REPORT.md` (default
//! `target/lrmem-example`) with its tables and figures, and the pictures a task makes. Run it
//! twice: the second run resumes from `OUT_DIR/results.jsonl` and carries out nothing.
//!
//! With `--workload NAME` (`mnist`, `began`, …; data in `$LRMEM_DATA` or `data/`) it runs that
//! registered workload in the default profile (`--quick`: the smoke profile) through
//! `lrmem_bench::report::run`, the function behind `cargo xtask bench`: the same results
//! files, report and figures, without the speed suite.

use std::path::PathBuf;

use lrmem_bench::harness::{self, Arm, Experiment, Protocol, RunOptions, Tuning};
use lrmem_bench::report::{BenchOptions, Lines, Pictures};
use lrmem_bench::workloads::profile::Profile;
use lrmem_tasks::logistic::LogisticFamily;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/lrmem-example"));
    match args.iter().position(|a| a == "--workload") {
        Some(i) => {
            let name = args.get(i + 1).ok_or("--workload needs a name")?;
            registered(out, name, args.iter().any(|a| a == "--quick"))
        }
        None => synthetic(out),
    }
}

/// A registered workload through the library's report, as `cargo xtask bench` runs it.
fn registered(out: PathBuf, workload: &str, quick: bool) -> Result<(), Box<dyn std::error::Error>> {
    let data = std::env::var_os("LRMEM_DATA").map_or_else(|| PathBuf::from("data"), PathBuf::from);
    let mut options = BenchOptions::new(data, out);
    options.workloads = Some(vec![workload.to_string()]);
    if quick {
        options.profile = Profile::Quick;
    }
    let written = lrmem_bench::report::run(&options, &Lines)?;
    if let Some(report) = written.report {
        println!("report: {}", report.display());
    }
    Ok(())
}

/// Your own experiment on your own task family.
fn synthetic(out: PathBuf) -> Result<(), Box<dyn std::error::Error>> {
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
    // Writes the pictures tasks make (a GAN's samples; none for logistic regression) where the
    // report looks for them.
    let pictures = Pictures {
        out: out.clone(),
        prefix: "logistic".into(),
    };
    let results = harness::run(&family, &experiment, &options, &pictures)?;
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
