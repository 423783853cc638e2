//! [`PandaInverse`]: the Panda's inverse dynamics learned online by the MLP, three tasks.

use std::sync::Arc;

use super::{trajectories, RobotConfig, TaskTrajectories, Tasks, INVERSE_METRIC};
use crate::dynamics::{Inverse, InverseData, SampleOrder};
use crate::mlp::InverseLearner;
use crate::task::{Check, Evals, Metric, Task, TaskFamily};
use crate::TaskError;

/// Online inverse dynamics of the Panda with the MLP ([`InverseLearner`]), one sample per
/// update, three tasks (see the module docs). Metric: [`INVERSE_METRIC`].
#[derive(Debug, Clone)]
pub struct PandaInverse {
    tasks: Tasks<Inverse>,
    order: SampleOrder,
}

impl PandaInverse {
    /// Simulates the data of `config` ([`trajectories`]) and builds the family.
    pub fn new(config: &RobotConfig) -> Result<Self, TaskError> {
        let config = config.validated()?;
        Self::from_trajectories(&trajectories(&config)?, config.order, config.eval_every)
    }

    /// The family of already simulated tasks, normalised with the first task's training
    /// statistics (see the module docs).
    pub fn from_trajectories(
        tasks: &[TaskTrajectories],
        order: SampleOrder,
        eval_every: usize,
    ) -> Result<Self, TaskError> {
        let tasks = Tasks::new(tasks, eval_every, |t, norms| {
            InverseData::with_normalizers(&t.train, &t.test, norms)
        })?;
        Ok(PandaInverse { tasks, order })
    }

    /// The data of task `k`.
    pub fn data(&self, k: usize) -> Option<&Arc<InverseData>> {
        self.tasks.data.get(k)
    }
}

impl TaskFamily for PandaInverse {
    fn name(&self) -> &str {
        "panda-inverse"
    }

    fn len(&self) -> usize {
        self.tasks.data.len()
    }

    fn label(&self, k: usize) -> String {
        self.tasks.label(k)
    }

    fn metric(&self) -> Metric {
        INVERSE_METRIC
    }

    fn build(&self, k: usize, seed: u64) -> Result<Box<dyn Task>, TaskError> {
        let data = self.tasks.get(k)?;
        Ok(Box::new(InverseTask {
            learner: InverseLearner::new(data.clone(), self.order, seed)?,
            evals: Evals::new(self.tasks.eval_every),
        }))
    }
}

/// One task of [`PandaInverse`].
#[derive(Debug)]
pub struct InverseTask {
    learner: InverseLearner,
    evals: Evals<f64>,
}

impl Task for InverseTask {
    fn update(&mut self, opt: &mut dyn lrmem_optimizers::Optimizer) -> Result<f32, TaskError> {
        self.learner.update(opt)
    }

    fn evaluate(&mut self) -> Result<f64, TaskError> {
        let learner = &self.learner;
        Ok(self.evals.at(learner.updates(), || learner.evaluate())?.0)
    }

    fn metric(&self) -> Metric {
        INVERSE_METRIC
    }

    /// The held-out torque NMSE (the metric) after the last update, also when no threshold
    /// was reached.
    fn extra_metrics(&mut self) -> Result<Vec<(String, f64)>, TaskError> {
        Ok(vec![("torque NMSE".into(), self.evaluate()?)])
    }

    /// From the evaluation at the latest multiple of `eval_every` (see the module docs).
    fn check(&mut self, threshold: f64) -> Result<Check, TaskError> {
        let learner = &self.learner;
        let samples = learner.data().test().steps() as u64;
        self.evals.check(
            learner.updates(),
            threshold,
            samples,
            |v| *v,
            || learner.evaluate(),
        )
    }
}
