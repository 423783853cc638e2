//! The report of an experiment: markdown tables and figures (SVG and PNG) from [`Results`](crate::harness::Results).
//!
//! [`workload_section`] renders one workload's results as a section of `REPORT.md` and writes
//! its figures next to it: per setting, the arm × task table of updates to the threshold, one
//! small-multiples figure per task (a panel per arm: the metric against updates, mean and
//! min–max band over seeds, the threshold), and the updates-to-threshold figure.
//!
//! - `workload.rs`: [`workload_section`], a workload's section.
//! - `tables.rs`: the tables ([`table`], [`summarise`], [`per_seed`], …).
//! - `figures.rs`: the curves and the updates-to-threshold bars.
//! - `pictures.rs`: the pictures tasks make ([`Pictures`] writes them as runs finish).
//! - `bench.rs`: [`run`], everything `cargo xtask bench` reports — the workloads, the studies,
//!   the speed suite's and the robustness sections — from [`BenchOptions`], in one machine, in a
//!   shard of a job array, or merging the shards' results files.
//! - `sections.rs`: the sections other than a workload's (MAML, L2L, the study, robustness).

mod bench;
mod figures;
mod pictures;
mod sections;
mod tables;
mod workload;

pub use bench::{run, BenchOptions, Lines, Progress, StudyOptions, Written};
pub use pictures::{copy_pictures, picture_stem, write_picture, Pictures};
pub use sections::robustness_section;
pub use tables::{
    per_seed, summarise, summarise_at, table, table_at, updates, updates_at, Summary,
};
pub use workload::workload_section;

/// A description of the machine: CPU model, cores, OS and architecture.
pub fn machine() -> String {
    let cpu = crate::speed::cpu_name().unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{cpu}, {cores} cores, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}
