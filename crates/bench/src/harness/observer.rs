//! [`Observer`]: what watches an experiment without taking part in it.

use lrmem_optimizers::Optimizer;
use lrmem_tasks::Picture;

use super::{RunResult, RunSpec, TaskResult};

/// Watches an experiment without taking part in it: progress bars, logs, θ snapshots. Every
/// method has an empty default; runs happen on several threads at once, hence `Sync`.
pub trait Observer: Sync {
    /// A batch of runs is about to be carried out (`label`: e.g. "paper", "tuning round 1").
    fn phase_started(&self, _label: &str, _runs: &[RunSpec]) {}
    /// A run starts.
    fn run_started(&self, _run: &RunSpec) {}
    /// Update `update` of task `task` finished with training loss `loss`.
    fn updated(&self, _run: &RunSpec, _task: usize, _update: usize, _loss: f32) {}
    /// A full evaluation of task `task` after `update` updates gave `value`.
    fn evaluated(&self, _run: &RunSpec, _task: usize, _update: usize, _value: f64) {}
    /// Task `task` ended; `optimizers` are the arm's optimizers at that point, one per player
    /// of the family ([`TaskFamily::players`](lrmem_tasks::TaskFamily::players); one for most workloads).
    fn task_finished(
        &self,
        _run: &RunSpec,
        _task: usize,
        _result: &TaskResult,
        _optimizers: &[&dyn Optimizer],
    ) {
    }
    /// Task `task` ended with this picture of what its model makes
    /// ([`Task::picture`](lrmem_tasks::Task::picture); a GAN's samples), after its last
    /// update; not for tasks stopped early.
    fn pictured(&self, _run: &RunSpec, _task: usize, _picture: &Picture) {}
    /// A run ended (also for runs skipped because a resumed results file had them).
    fn run_finished(&self, _result: &RunResult) {}
    /// The batch of runs announced by [`Observer::phase_started`] is done.
    fn phase_finished(&self, _label: &str) {}
}

/// An observer that watches nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl Observer for NoObserver {}

/// Two observers at once: each event goes to the first, then to the second (progress bars and
/// the report's pictures, say).
#[derive(Clone, Copy)]
pub struct Both<'a>(pub &'a dyn Observer, pub &'a dyn Observer);

impl Observer for Both<'_> {
    fn phase_started(&self, label: &str, runs: &[RunSpec]) {
        self.0.phase_started(label, runs);
        self.1.phase_started(label, runs);
    }
    fn run_started(&self, run: &RunSpec) {
        self.0.run_started(run);
        self.1.run_started(run);
    }
    fn updated(&self, run: &RunSpec, task: usize, update: usize, loss: f32) {
        self.0.updated(run, task, update, loss);
        self.1.updated(run, task, update, loss);
    }
    fn evaluated(&self, run: &RunSpec, task: usize, update: usize, value: f64) {
        self.0.evaluated(run, task, update, value);
        self.1.evaluated(run, task, update, value);
    }
    fn task_finished(
        &self,
        run: &RunSpec,
        task: usize,
        result: &TaskResult,
        optimizers: &[&dyn Optimizer],
    ) {
        self.0.task_finished(run, task, result, optimizers);
        self.1.task_finished(run, task, result, optimizers);
    }
    fn pictured(&self, run: &RunSpec, task: usize, picture: &Picture) {
        self.0.pictured(run, task, picture);
        self.1.pictured(run, task, picture);
    }
    fn run_finished(&self, result: &RunResult) {
        self.0.run_finished(result);
        self.1.run_finished(result);
    }
    fn phase_finished(&self, label: &str) {
        self.0.phase_finished(label);
        self.1.phase_finished(label);
    }
}
