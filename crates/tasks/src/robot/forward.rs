//! [`PandaForward`]: the Panda's forward dynamics learned by the LSTM, three tasks.

use std::sync::Arc;

use super::{trajectories, RobotConfig, TaskTrajectories, Tasks, FORWARD_METRIC};
use crate::dynamics::{Forward, ForwardData, ForwardNmse, ForwardTarget, SUBSEQUENCE};
use crate::lstm::{ForwardConfig, ForwardLearner};
use crate::task::{Check, Evals, Metric, Task, TaskFamily};
use crate::TaskError;

/// Forward dynamics of the Panda with the LSTM ([`ForwardLearner`]), three tasks (see the
/// module docs). Metric: [`FORWARD_METRIC`]; [`Task::extra_metrics`] gives the final
/// state-change and next-state NMSE and the copy baseline's two NMSEs.
#[derive(Debug, Clone)]
pub struct PandaForward {
    tasks: Tasks<Forward>,
    copy: Vec<ForwardNmse>,
    learner: ForwardConfig,
}

impl PandaForward {
    /// Simulates the data of `config` ([`trajectories`]) and builds the family, with the
    /// papers' learner settings (subsequences of 128 steps, batch 1).
    pub fn new(config: &RobotConfig) -> Result<Self, TaskError> {
        Self::with_learner(config, ForwardConfig::default())
    }

    /// As [`PandaForward::new`] with other learner settings.
    pub fn with_learner(config: &RobotConfig, learner: ForwardConfig) -> Result<Self, TaskError> {
        let config = config.validated()?;
        let learner = learner.validated()?;
        if config.steps() <= learner.subsequence {
            return Err(TaskError::Argument(format!(
                "trajectories of {} steps are too short for subsequences of {} steps; \
                 pass seconds > {} (the default subsequence is {SUBSEQUENCE} steps)",
                config.steps(),
                learner.subsequence,
                learner.subsequence as f64 / 1000.0
            )));
        }
        Self::from_trajectories(&trajectories(&config)?, learner, config.eval_every)
    }

    /// The family of already simulated tasks, normalised with the first task's training
    /// statistics (see the module docs).
    pub fn from_trajectories(
        tasks: &[TaskTrajectories],
        learner: ForwardConfig,
        eval_every: usize,
    ) -> Result<Self, TaskError> {
        let tasks = Tasks::new(tasks, eval_every, |t, norms| {
            ForwardData::with_normalizers(&t.train, &t.test, ForwardTarget::StateChange, norms)
        })?;
        Ok(PandaForward {
            copy: tasks
                .data
                .iter()
                .map(|d| d.copy_baseline())
                .collect::<Result<_, _>>()?,
            tasks,
            learner: learner.validated()?,
        })
    }

    /// The data of task `k`.
    pub fn data(&self, k: usize) -> Option<&Arc<ForwardData>> {
        self.tasks.data.get(k)
    }

    /// The copy baseline of task `k` (see [`ForwardData::copy_baseline`]).
    pub fn copy_baseline(&self, k: usize) -> Option<ForwardNmse> {
        self.copy.get(k).copied()
    }
}

impl TaskFamily for PandaForward {
    fn name(&self) -> &str {
        "panda-forward"
    }

    fn len(&self) -> usize {
        self.tasks.data.len()
    }

    fn label(&self, k: usize) -> String {
        self.tasks.label(k)
    }

    fn metric(&self) -> Metric {
        FORWARD_METRIC
    }

    fn build(&self, k: usize, seed: u64) -> Result<Box<dyn Task>, TaskError> {
        let data = self.tasks.get(k)?;
        Ok(Box::new(ForwardTask {
            learner: ForwardLearner::new(data.clone(), self.learner, seed)?,
            evals: Evals::new(self.tasks.eval_every),
            copy: self.copy[k],
        }))
    }
}

/// One task of [`PandaForward`].
#[derive(Debug)]
pub struct ForwardTask {
    learner: ForwardLearner,
    evals: Evals<ForwardNmse>,
    copy: ForwardNmse,
}

impl ForwardTask {
    fn full(&mut self) -> Result<(ForwardNmse, bool), TaskError> {
        let learner = &self.learner;
        self.evals.at(learner.updates(), || learner.evaluate())
    }
}

impl Task for ForwardTask {
    fn update(&mut self, opt: &mut dyn lrmem_optimizers::Optimizer) -> Result<f32, TaskError> {
        self.learner.update(opt)
    }

    fn evaluate(&mut self) -> Result<f64, TaskError> {
        Ok(self.full()?.0.state_change)
    }

    fn metric(&self) -> Metric {
        FORWARD_METRIC
    }

    /// From the evaluation at the latest multiple of `eval_every` (see the module docs).
    fn check(&mut self, threshold: f64) -> Result<Check, TaskError> {
        let learner = &self.learner;
        let samples = learner.data().test().steps() as u64;
        self.evals.check(
            learner.updates(),
            threshold,
            samples,
            |v| v.state_change,
            || learner.evaluate(),
        )
    }

    /// The held-out state-change NMSE (the metric) and next-state NMSE now, and the copy
    /// baseline's next-state and state-change NMSE on the same data.
    fn extra_metrics(&mut self) -> Result<Vec<(String, f64)>, TaskError> {
        let now = self.full()?.0;
        Ok(vec![
            ("state-change NMSE".into(), now.state_change),
            ("next-state NMSE".into(), now.next_state),
            (
                "copy baseline: next-state NMSE".into(),
                self.copy.next_state,
            ),
            (
                "copy baseline: state-change NMSE".into(),
                self.copy.state_change,
            ),
        ])
    }
}
