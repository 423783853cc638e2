//! [`ArmTrajectory`]: one recorded trajectory of the arm, the raw material of both kinds of
//! dynamics data.

use super::{JOINTS, STATE};
use crate::TaskError;

/// One recorded trajectory of the arm at a fixed time step: for each step, the joint positions
/// q, velocities q̇, accelerations q̈ and torques τ, each row-major `steps × JOINTS`. Kept in f64
/// because simulators produce f64 and the state change over 1 ms is small next to the state.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmTrajectory {
    q: Vec<f64>,
    qd: Vec<f64>,
    qdd: Vec<f64>,
    /// Every step's torques, for the inverse-dynamics targets.
    pub(super) tau: Vec<f64>,
}

impl ArmTrajectory {
    /// A trajectory from its four arrays; they must have the same length, a whole number of
    /// steps (a multiple of [`JOINTS`]), at least two steps, and only finite values.
    pub fn new(q: Vec<f64>, qd: Vec<f64>, qdd: Vec<f64>, tau: Vec<f64>) -> Result<Self, TaskError> {
        let n = q.len();
        if qd.len() != n || qdd.len() != n || tau.len() != n {
            return Err(TaskError::Argument(format!(
                "trajectory arrays have {} (q), {} (qd), {} (qdd), {} (tau) values; they must be equally long",
                n,
                qd.len(),
                qdd.len(),
                tau.len()
            )));
        }
        if !n.is_multiple_of(JOINTS) || n < 2 * JOINTS {
            return Err(TaskError::Argument(format!(
                "a trajectory needs at least two steps of {JOINTS} joints; got {n} values"
            )));
        }
        for (name, v) in [("q", &q), ("qd", &qd), ("qdd", &qdd), ("tau", &tau)] {
            if let Some(index) = v.iter().position(|x| !x.is_finite()) {
                return Err(TaskError::NonFiniteData {
                    what: format!("trajectory array {name}"),
                    index,
                });
            }
        }
        Ok(ArmTrajectory { q, qd, qdd, tau })
    }

    /// Recorded steps.
    pub fn steps(&self) -> usize {
        self.q.len() / JOINTS
    }

    /// Joint positions at step `t`.
    pub fn q(&self, t: usize) -> &[f64] {
        &self.q[t * JOINTS..(t + 1) * JOINTS]
    }

    /// Joint velocities at step `t`.
    pub fn qd(&self, t: usize) -> &[f64] {
        &self.qd[t * JOINTS..(t + 1) * JOINTS]
    }

    /// Joint accelerations at step `t`.
    pub fn qdd(&self, t: usize) -> &[f64] {
        &self.qdd[t * JOINTS..(t + 1) * JOINTS]
    }

    /// Joint torques at step `t`.
    pub fn tau(&self, t: usize) -> &[f64] {
        &self.tau[t * JOINTS..(t + 1) * JOINTS]
    }

    /// The state (q, q̇) at step `t`.
    pub(super) fn state(&self, t: usize) -> [f64; STATE] {
        let mut s = [0.0; STATE];
        s[..JOINTS].copy_from_slice(self.q(t));
        s[JOINTS..].copy_from_slice(self.qd(t));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamics::{ForwardData, ForwardTarget, InverseData};
    use crate::testing::synthetic;

    #[test]
    fn bad_trajectories_are_errors() {
        let ok = synthetic(3, 0.0, 1.0);
        let (q, qd, qdd, tau) = (ok.q.clone(), ok.qd.clone(), ok.qdd.clone(), ok.tau.clone());
        assert!(ArmTrajectory::new(q.clone(), qd.clone(), qdd.clone(), tau[1..].to_vec()).is_err());
        assert!(ArmTrajectory::new(
            q[..7].to_vec(),
            qd[..7].to_vec(),
            qdd[..7].to_vec(),
            tau[..7].to_vec()
        )
        .is_err());
        let mut bad = tau.clone();
        bad[9] = f64::NAN;
        assert!(matches!(
            ArmTrajectory::new(q.clone(), qd.clone(), qdd.clone(), bad),
            Err(TaskError::NonFiniteData { index: 9, .. })
        ));
        assert!(
            ForwardData::new(&[], std::slice::from_ref(&ok), ForwardTarget::NextState).is_err()
        );
        assert!(InverseData::new(std::slice::from_ref(&ok), &[]).is_err());
    }
}
