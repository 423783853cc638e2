//! Inverse-dynamics data ([`InverseData`]): (q, q̇, q̈) → τ, one sample per step, and the
//! [`SampleOrder`] online learning sees them in.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::dataset::{Dataset, Kind, Normalizers, Raw};
use super::{ArmTrajectory, INVERSE_INPUT, JOINTS};
use crate::TaskError;

/// The order in which online inverse dynamics sees its training samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SampleOrder {
    /// As the robot records them: trajectory after trajectory, step after step (consecutive
    /// samples are 1 ms apart and strongly correlated). The papers' online setting. Default.
    #[default]
    Stream,
    /// A seeded random permutation of all training samples, cycled.
    Shuffled,
}

/// Inverse-dynamics data keep nothing besides their samples.
#[derive(Debug, Clone, Copy)]
pub struct Inverse;

impl Kind for Inverse {
    const NAME: &'static str = "inverse";
    const INPUT: usize = INVERSE_INPUT;
    const TARGET: usize = JOINTS;
}

/// Normalised training and held-out samples for inverse dynamics (see the module docs).
pub type InverseData = Dataset<Inverse>;

impl Dataset<Inverse> {
    /// Samples (q, q̇, q̈) → τ of every step of `train` and `test` trajectories, normalised with
    /// statistics of `train` only.
    pub fn new(train: &[ArmTrajectory], test: &[ArmTrajectory]) -> Result<Self, TaskError> {
        Self::with_normalizers(train, test, None)
    }

    /// As [`InverseData::new`], but normalised with `fixed` (fitted on another training set,
    /// e.g. the first task's of a sequence: [`InverseData::normalizers`]) when given; they must
    /// be of inverse data (21 inputs, 7 targets).
    pub fn with_normalizers(
        train: &[ArmTrajectory],
        test: &[ArmTrajectory],
        fixed: Option<&Normalizers>,
    ) -> Result<Self, TaskError> {
        let raw = |tr: &ArmTrajectory| {
            let n = tr.steps();
            let mut inputs = Vec::with_capacity(n * INVERSE_INPUT);
            for t in 0..n {
                inputs.extend_from_slice(tr.q(t));
                inputs.extend_from_slice(tr.qd(t));
                inputs.extend_from_slice(tr.qdd(t));
            }
            Raw {
                inputs,
                targets: tr.tau.clone(),
            }
        };
        Dataset::normalised(train, test, fixed, raw, Inverse)
    }

    /// The training samples as (sequence, step) in `order`: one pass over all of them
    /// (callers cycle it), shuffled with ChaCha8 stream 0 of `seed` for
    /// [`SampleOrder::Shuffled`].
    pub fn order(&self, order: SampleOrder, seed: u64) -> Vec<(u32, u32)> {
        let mut all: Vec<(u32, u32)> = (0..self.train.sequences().len())
            .flat_map(|i| (0..self.train.len_of(i)).map(move |t| (i as u32, t as u32)))
            .collect();
        if order == SampleOrder::Shuffled {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            // Fisher–Yates.
            for i in (1..all.len()).rev() {
                let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                all.swap(i, j);
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::synthetic;

    #[test]
    fn inverse_samples_and_orders() {
        let data = InverseData::new(
            &[synthetic(30, 0.0, 1.0), synthetic(20, 1.0, 1.0)],
            &[synthetic(10, 2.0, 1.0)],
        )
        .unwrap();
        assert_eq!((data.train().steps(), data.test().steps()), (50, 10));
        let stream = data.order(SampleOrder::Stream, 0);
        assert_eq!(stream[0], (0, 0));
        assert_eq!(stream[30], (1, 0));
        let mut shuffled = data.order(SampleOrder::Shuffled, 3);
        assert_ne!(shuffled, stream);
        assert_eq!(shuffled, data.order(SampleOrder::Shuffled, 3));
        shuffled.sort();
        assert_eq!(shuffled, stream);
    }
}
