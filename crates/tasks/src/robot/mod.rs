//! The robot-dynamics task families: the simulated Panda's forward dynamics learned by an LSTM
//! ([`PandaForward`]) and its inverse dynamics learned online by an MLP ([`PandaInverse`]),
//! each as a sequence of three tasks a robot meets one after the other.
//!
//! # The sequence
//!
//! | task | payload at the flange | reference motions |
//! |---|---|---|
//! | 1 | none | point-to-point (minimum-jerk moves with holds, like lifting and placing) |
//! | 2 | [`RobotConfig::payload`] (1.5 kg) | point-to-point, the same family |
//! | 3 | [`RobotConfig::payload`] (1.5 kg) | sums of sinusoids (continuous, never resting) |
//!
//! One thing changes at a time, as on a robot cell: first the arm picks up an object (the
//! dynamics change: mass matrix, Coriolis and gravity terms all move), then it keeps holding it
//! but moves differently (the dynamics stay, the states and torques it visits change). The
//! tasks share the arm, so what an optimizer learned about learning on one is plausibly of use
//! on the next — the premise of a reloaded memory of learning rates.
//!
//! Each task's data are generated ([`generate`](crate::panda::motion::generate)) by the Panda
//! tracking its references under computed torque with a controller that knows the payload
//! (Franka's controllers are told the load), without friction and without sensor noise, at
//! 1 ms.
//!
//! # Data: fixed per workload, training and held-out from disjoint seeds
//!
//! Like MNIST's fixed files, the trajectories are the same for every run: trajectory `i` of
//! task `k` comes from [`data_seed`]`(k, split, i)`, where training and held-out seeds never
//! coincide. The run's seed drives only the model's initialisation and the sampling order.
//! The data are generated once per family (in parallel over trajectories, seconds at the
//! defaults) and shared by every run through an `Arc`.
//!
//! # Normalisation: task 1's training statistics for every task
//!
//! Inputs and targets are standardised with the mean and standard deviation of **task 1's
//! training data**, for all three tasks (never with held-out data). Fitting each task anew would
//! also be legitimate (its training data are available), but it would rescale the inputs and
//! the targets at every task switch: the same joint angle would reach the network as a different
//! number, and the gradients an optimizer sees would change scale for a reason that is not the
//! robot's. A reloaded memory carries θ — a map from gradient signals to learning rates — across
//! tasks, so the input scaling is kept fixed across the sequence, as a deployed robot's
//! preprocessing would be. The NMSE does not depend on the scaling (see [`crate::dynamics`]).
//!
//! # Cheap threshold checks
//!
//! The harness asks [`Task::check`] after every update; a full held-out evaluation costs about
//! ten LSTM updates or a few hundred MLP updates. So these tasks evaluate on the held-out set
//! only when the update count is a multiple of [`RobotConfig::eval_every`] and answer from the
//! latest such evaluation in between: a threshold crossing is found at the first multiple of
//! `eval_every` whose evaluation reaches it, i.e. updates-to-threshold are resolved to
//! `eval_every` updates (and overestimated by less than that). What `check` says is exactly
//! what a full evaluation at that multiple said. [`Task::evaluate`] is always a full
//! evaluation at the current update (cached while the model does not change).
//!
//! ```
//! use lrmem_tasks::robot::{PandaInverse, RobotConfig};
//! use lrmem_tasks::TaskFamily;
//! use lrmem_optimizers::{Adam, AdamConfig};
//!
//! // Tiny data, for the example: one 0.3 s training and one held-out trajectory per task.
//! let config = RobotConfig { train: 1, test: 1, seconds: 0.3, eval_every: 10, ..RobotConfig::inverse() };
//! let family = PandaInverse::new(&config)?;
//! assert_eq!(family.len(), 3);
//! let mut task = family.build(1, 7)?; // task 2 (1.5 kg payload), run seed 7
//! let mut opt = Adam::new(AdamConfig { lr: 1e-3, ..AdamConfig::default() })?;
//! for _ in 0..20 {
//!     task.update(&mut opt)?;
//! }
//! assert!(task.evaluate()?.is_finite());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod data;
mod forward;
mod inverse;

use std::sync::Arc;

pub use data::{data_seed, trajectories, RobotConfig, RobotTask, Split, TaskTrajectories};
pub use forward::{ForwardTask, PandaForward};
pub use inverse::{InverseTask, PandaInverse};

use crate::dynamics::{Dataset, Normalizers};
#[cfg(doc)]
use crate::task::Task;
use crate::task::{no_task, Metric};
use crate::TaskError;

/// The metric of [`PandaForward`]: the held-out NMSE of the predicted state change (the
/// next-state NMSE is tiny even for copying the input, see [`crate::dynamics`]).
pub const FORWARD_METRIC: Metric = Metric::minimize("held-out state-change NMSE");
/// The metric of [`PandaInverse`]: the held-out NMSE of the predicted torques.
pub const INVERSE_METRIC: Metric = Metric::minimize("held-out torque NMSE");

/// What both families keep of their tasks: each task's data (normalised with the first task's
/// training statistics, see the module docs), its label, and the evaluation period.
#[derive(Debug, Clone)]
struct Tasks<K> {
    data: Vec<Arc<Dataset<K>>>,
    labels: Vec<String>,
    eval_every: usize,
}

impl<K> Tasks<K> {
    /// The data of every task of `tasks`, made by `data` from its trajectories and the first
    /// task's normalisers (`None` for the first task itself).
    fn new(
        tasks: &[TaskTrajectories],
        eval_every: usize,
        data: impl Fn(&TaskTrajectories, Option<&Normalizers>) -> Result<Dataset<K>, TaskError>,
    ) -> Result<Self, TaskError> {
        if tasks.is_empty() || eval_every == 0 {
            return Err(TaskError::Argument(
                "a robot task family needs at least one task and eval_every ≥ 1".into(),
            ));
        }
        let mut norms: Option<Normalizers> = None;
        let mut all = Vec::new();
        for t in tasks {
            let d = data(t, norms.as_ref())?;
            norms.get_or_insert_with(|| d.normalizers());
            all.push(Arc::new(d));
        }
        Ok(Tasks {
            data: all,
            labels: tasks.iter().map(|t| t.task.label()).collect(),
            eval_every,
        })
    }

    /// The data of task `k`, or the error for a task the family does not have.
    fn get(&self, k: usize) -> Result<&Arc<Dataset<K>>, TaskError> {
        self.data.get(k).ok_or_else(|| no_task(k, self.data.len()))
    }

    /// The label of task `k` (a plain number past the end, as the harness asks only for
    /// `k < len`).
    fn label(&self, k: usize) -> String {
        self.labels
            .get(k)
            .cloned()
            .unwrap_or_else(|| format!("task {}", k + 1))
    }
}
