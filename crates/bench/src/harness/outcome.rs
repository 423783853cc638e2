//! What one run gave: per task an [`Outcome`] with its curves and costs ([`TaskResult`]), and
//! the run as a whole ([`RunResult`]).

use serde::{Deserialize, Serialize};

use super::RunSpec;

/// Whether a task reached one of [`Protocol::also`](super::Protocol::also)'s thresholds, and when.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Crossing {
    /// The threshold.
    pub threshold: f64,
    /// The first update after which the metric reached it; `None`: censored (or the task
    /// diverged or failed first).
    pub update: Option<usize>,
}

/// How a task of a run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Outcome {
    /// The metric reached the threshold after `update` updates.
    Reached {
        /// The first update after which the threshold was reached.
        update: usize,
    },
    /// The cap came first.
    Censored,
    /// The loss, a gradient or a parameter left the floats at `update`; the task stopped.
    Diverged {
        /// The update that diverged.
        update: usize,
        /// What was not finite.
        reason: String,
    },
    /// The optimizer or the task refused to go on for another reason (recorded, the
    /// experiment goes on).
    Failed {
        /// The update that failed.
        update: usize,
        /// The error.
        error: String,
    },
}

impl Outcome {
    /// Updates to the threshold, if reached.
    pub fn reached(&self) -> Option<usize> {
        match self {
            Outcome::Reached { update } => Some(*update),
            _ => None,
        }
    }
}

/// What one task of one run gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    /// The task's label (e.g. `1 vs 2`).
    pub label: String,
    /// How it ended.
    pub outcome: Outcome,
    /// What stopped the task before the cap (divergence or failure), also after a crossing.
    pub stopped: Option<Outcome>,
    /// (updates, metric) every `curve_every` updates, and at the crossing.
    pub curve: Vec<(usize, f64)>,
    /// Updates carried out.
    pub updates: usize,
    /// Mean wall time of one training update (forward, backward, step), µs.
    pub mean_update_us: f64,
    /// Held-out samples the threshold checks evaluated (their cost).
    pub check_samples: u64,
    /// One entry per threshold of [`Protocol::also`](super::Protocol::also), in order (absent in older files).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<Crossing>,
    /// The task's [`Task::extra_metrics`](lrmem_tasks::Task::extra_metrics) after its last
    /// update (absent in older files and for tasks without any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<(String, f64)>,
    /// Further held-out curves ([`Task::curve_metrics`](lrmem_tasks::Task::curve_metrics)),
    /// by name: (updates, value) at every multiple of the curve spacing (absent in older files
    /// and for tasks without any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub curves: Vec<(String, Vec<(usize, f64)>)>,
}

/// One finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// What was run.
    pub spec: RunSpec,
    /// One result per task, in order.
    pub tasks: Vec<TaskResult>,
    /// θ of every memory of learning rates at the end, by memory key (`None` for optimizers
    /// without one).
    pub theta: Option<Vec<(String, Vec<f32>)>>,
    /// Wall time of the whole run, s.
    pub wall_s: f64,
}
