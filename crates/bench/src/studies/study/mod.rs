//! Does a memory of learning rates pay? The study behind [`MemoryConfig::recommended`]:
//!
//! 1. **Diagnosis** ([`diagnose`]): what the memory does on the cases where it fails — θ per
//!    centre over time, where the queries fall among the centres, how often the signal says
//!    "keep going", the rates each layer actually gets.
//! 2. **Development** ([`StudyPlan::dev`]): the variants of `memory-core` and `optimizers`
//!    (θ in log space, the sign signal, the RMS-scaled query, what a reload carries, Meta-Adam
//!    queried with the gradient) on the development tasks only, at several η₀, scored by
//!    updates to the threshold.
//! 3. **Held-out evaluation** ([`StudyPlan::held_out`]): the recommended memory, frozen in code,
//!    against SGD, Adam and the learning-rate-free peers on tasks never looked at while
//!    choosing, over five decades of η₀ (the sensitivity curves), with the ablation of each
//!    variant, and the three targets checked.
//!
//! Every stage is an [`Experiment`](crate::harness::Experiment) of the harness, so runs are parallel, resumable and
//! reproducible bit for bit from their seeds.
//!
//! [`MemoryConfig::recommended`]: lrmem_optimizers::MemoryConfig::recommended

//!
//! Where each part lives: `plan.rs` (the variants, peers, stages and their arms), `diagnosis.rs`,
//! `summary.rs` (scores, results, targets), `run.rs` (the stages as harness experiments, with
//! shards and merges), `report.rs` (the section and its figures).

mod diagnosis;
mod plan;
mod report;
mod run;
mod summary;

pub use diagnosis::{cases, diagnose, Case, Diagnosis, Snapshot, TensorSnapshot};
#[cfg(test)]
use plan::stage;
use plan::swept;
pub use plan::{
    default_arms, dev_arms, experiment, free_peers, rate_peers, stage_arms, sweep_arms, Stage,
    StageKind, StudyPlan, Variant, ABLATION, ABLATION_RELOADS, RECOMMENDED, RELOADS, ROUND2,
    ROUND3, VARIANTS, XI_SWEEP,
};
pub use report::{diagnosis_table, plot_diagnosis, section, summary_table};
pub use run::{run, StudyContext};
pub use summary::{cost, summarise, targets, ArmSummary, StudyResult};
use summary::{mean_updates, StageSummaries};

#[cfg(test)]
mod tests;
