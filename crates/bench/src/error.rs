//! The error type of the experiment harness.

use std::path::PathBuf;

/// What can stop an experiment. Runs that diverge or whose optimizer fails are *outcomes*
/// recorded in the results, not errors: an error here means the experiment as a whole cannot
/// go on (a bad arm, missing data, an unreadable results file).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// An arm's optimizer cannot be built from its spec.
    #[error("arm `{arm}`: {source}")]
    Arm {
        /// The arm's name.
        arm: String,
        /// What the optimizer registry said.
        #[source]
        source: Box<lrmem_optimizers::SpecError>,
    },
    /// The arm or workload text on the command line is not understood.
    #[error("{0}")]
    Parse(String),
    /// A task could not be built or run (e.g. missing data).
    #[error("{context}: {source}")]
    Task {
        /// Which workload, task and seed.
        context: String,
        /// What the task said.
        #[source]
        source: Box<lrmem_tasks::TaskError>,
    },
    /// The experiment itself is inconsistent (no arms, no seeds, a cap of 0, …).
    #[error("invalid experiment: {0}")]
    Invalid(String),
    /// The results file cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The results file is not one this harness can resume.
    #[error("{path}: {reason}")]
    Results {
        /// The file.
        path: PathBuf,
        /// Why, and what to do.
        reason: String,
    },
    /// A results file given to merge was written for another experiment than the one merged.
    #[error(
        "{path}: written for another experiment (it differs in: {differs}); merge only the \
         results files of one experiment (the shards of one command, run with the same options), \
         and move this one out of the folders merged"
    )]
    OtherExperiment {
        /// The file.
        path: PathBuf,
        /// The top-level fields of the experiment that differ.
        differs: String,
    },
    /// Runs of the experiment are in none of the results files merged.
    #[error(
        "{count} runs are in none of the files merged (the first: {first}){shards}; run those \
         shards and merge again, or merge with --resume to run them here"
    )]
    MissingRuns {
        /// How many.
        count: usize,
        /// The first missing run, in words.
        first: String,
        /// `; they belong to shard(s) 2/3, 3/3` where the files say which, else empty.
        shards: String,
    },
    /// The speed suite's report could not be read or written.
    #[error(transparent)]
    Speed(#[from] crate::speed::SpeedError),
    /// A figure could not be drawn.
    #[error("figure {path}: {reason}")]
    Plot {
        /// The figure's file.
        path: PathBuf,
        /// What the plotting backend said.
        reason: String,
    },
}

impl BenchError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BenchError {
        let path = path.into();
        move |source| BenchError::Io { path, source }
    }
}
