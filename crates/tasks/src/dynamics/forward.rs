//! Forward-dynamics data ([`ForwardData`]): (q, q̇, τ) → the next state or the state change,
//! its held-out NMSE in both forms with the copy baseline, and the seeded [`Subsequences`] an
//! LSTM trains on.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::dataset::{Dataset, Kind, Normalizers, Raw, SequenceSet};
use super::{nmse, ArmTrajectory, FORWARD_INPUT, STATE};
use crate::TaskError;

/// What the forward model predicts (both are evaluated either way, see [`ForwardNmse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardTarget {
    /// The next state s_{t+1}, as in the paper.
    NextState,
    /// The state change s_{t+1} − s_t: the same information, but the targets are not dominated
    /// by the current state the model is already given. The default.
    #[default]
    StateChange,
}

/// Held-out NMSE of a forward model, of the next state and of the state change (see the
/// module docs; the two differ by the normalising variance).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForwardNmse {
    /// NMSE of the predicted s_{t+1} against the true one.
    pub next_state: f64,
    /// NMSE of the predicted s_{t+1} − s_t against the true change.
    pub state_change: f64,
}

/// What forward-dynamics data keep besides their sequences: what the targets are, and the
/// held-out states that evaluation reports the NMSE in both forms from.
#[derive(Debug, Clone)]
pub struct Forward {
    target: ForwardTarget,
    /// Held-out s_t for every target step, concatenated (`steps × STATE`).
    test_now: Vec<f64>,
    /// Held-out s_{t+1} for every target step.
    test_next: Vec<f64>,
}

impl Kind for Forward {
    const NAME: &'static str = "forward";
    const INPUT: usize = FORWARD_INPUT;
    const TARGET: usize = STATE;
}

/// Normalised training and held-out sequences for forward dynamics (see the module docs),
/// with what evaluation needs to report NMSE in both forms.
pub type ForwardData = Dataset<Forward>;

impl Dataset<Forward> {
    /// Builds the sequences of `train` and `test` trajectories (disjoint ones: the caller
    /// generates them from disjoint seeds), normalised with statistics of `train` only.
    pub fn new(
        train: &[ArmTrajectory],
        test: &[ArmTrajectory],
        target: ForwardTarget,
    ) -> Result<Self, TaskError> {
        Self::with_normalizers(train, test, target, None)
    }

    /// As [`ForwardData::new`], but normalised with `fixed` (fitted on another training set,
    /// e.g. the first task's of a sequence: [`ForwardData::normalizers`]) when given; they must
    /// be of forward data (21 inputs, 14 targets) with the same `target`.
    pub fn with_normalizers(
        train: &[ArmTrajectory],
        test: &[ArmTrajectory],
        target: ForwardTarget,
        fixed: Option<&Normalizers>,
    ) -> Result<Self, TaskError> {
        let raw = |tr: &ArmTrajectory| {
            let n = tr.steps() - 1;
            let mut inputs = Vec::with_capacity(n * FORWARD_INPUT);
            let mut targets = Vec::with_capacity(n * STATE);
            for t in 0..n {
                let (now, next) = (tr.state(t), tr.state(t + 1));
                inputs.extend_from_slice(&now);
                inputs.extend_from_slice(tr.tau(t));
                match target {
                    ForwardTarget::NextState => targets.extend_from_slice(&next),
                    ForwardTarget::StateChange => {
                        targets.extend(next.iter().zip(&now).map(|(a, b)| a - b))
                    }
                }
            }
            Raw { inputs, targets }
        };
        let (mut test_now, mut test_next) = (Vec::new(), Vec::new());
        for tr in test {
            for t in 0..tr.steps() - 1 {
                test_now.extend_from_slice(&tr.state(t));
                test_next.extend_from_slice(&tr.state(t + 1));
            }
        }
        let kind = Forward {
            target,
            test_now,
            test_next,
        };
        Dataset::normalised(train, test, fixed, raw, kind)
    }

    /// What the targets are.
    pub fn target(&self) -> ForwardTarget {
        self.kind.target
    }

    /// Held-out NMSE of `pred`: the model's normalised targets for every held-out step, in
    /// sequence order (`test().steps() × STATE`, as [`SequenceSet::all_targets`]). Non-finite
    /// predictions (a diverged model) give a NaN or infinite NMSE, not an error.
    pub fn nmse(&self, pred: &[f32]) -> Result<ForwardNmse, TaskError> {
        if pred.len() != self.kind.test_now.len() {
            return Err(TaskError::Argument(format!(
                "{} predicted values for {} held-out steps of {STATE}",
                pred.len(),
                self.kind.test_now.len() / STATE
            )));
        }
        let mut next = Vec::with_capacity(pred.len());
        let mut change = Vec::with_capacity(pred.len());
        for (i, &p) in pred.iter().enumerate() {
            let d = i % STATE;
            let v = self.target_norm.invert(d, p);
            let now = self.kind.test_now[i];
            let (n, c) = match self.kind.target {
                ForwardTarget::NextState => (v, v - now),
                ForwardTarget::StateChange => (now + v, v),
            };
            next.push(n);
            change.push(c);
        }
        self.nmse_of(&next, &change)
    }

    /// The NMSE of predicting no change, s_{t+1} = s_t (see the module docs).
    pub fn copy_baseline(&self) -> Result<ForwardNmse, TaskError> {
        self.nmse_of(&self.kind.test_now, &vec![0.0; self.kind.test_now.len()])
    }

    fn nmse_of(&self, next: &[f64], change: &[f64]) -> Result<ForwardNmse, TaskError> {
        let true_change: Vec<f64> = self
            .kind
            .test_next
            .iter()
            .zip(&self.kind.test_now)
            .map(|(a, b)| a - b)
            .collect();
        Ok(ForwardNmse {
            next_state: nmse(next, &self.kind.test_next, STATE)
                .map_err(|e| rename(e, "the held-out next states"))?,
            state_change: nmse(change, &true_change, STATE)
                .map_err(|e| rename(e, "the held-out state changes"))?,
        })
    }
}

fn rename(e: TaskError, what: &str) -> TaskError {
    match e {
        TaskError::ConstantTarget { dim, .. } => TaskError::ConstantTarget {
            what: what.into(),
            dim,
        },
        e => e,
    }
}

/// Seeded sampling of subsequences (windows of `len` consecutive steps) from a
/// [`SequenceSet`], uniformly over all windows of all sequences long enough.
#[derive(Debug, Clone)]
pub struct Subsequences {
    len: usize,
    /// (sequence, windows) for the sequences with at least `len` steps.
    windows: Vec<(usize, usize)>,
    total: u64,
    rng: ChaCha8Rng,
}

impl Subsequences {
    /// A sampler of windows of `len` steps over `set`, drawing from ChaCha8 stream 0 of `seed`.
    /// An error if `len` is 0 or no sequence has `len` steps.
    pub fn new(set: &SequenceSet, len: usize, seed: u64) -> Result<Self, TaskError> {
        let windows: Vec<(usize, usize)> = (0..set.sequences().len())
            .filter(|&i| set.len_of(i) >= len)
            .map(|i| (i, set.len_of(i) - len + 1))
            .collect();
        let total = windows.iter().map(|&(_, w)| w as u64).sum();
        if len == 0 || total == 0 {
            return Err(TaskError::Argument(format!(
                "no subsequence of {len} steps: the longest training sequence has {} steps; use shorter subsequences or longer trajectories",
                (0..set.sequences().len()).map(|i| set.len_of(i)).max().unwrap_or(0)
            )));
        }
        Ok(Subsequences {
            len,
            windows,
            total,
            rng: ChaCha8Rng::seed_from_u64(seed),
        })
    }

    /// The window length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true (a sampler has windows of at least one step); for clippy's `len` rule.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The next window: (sequence index, first step).
    pub fn sample(&mut self) -> (usize, usize) {
        // Unbiased draw in [0, total) by rejection (total ≪ 2⁶⁴, so rejections are rare).
        let zone = u64::MAX - u64::MAX % self.total;
        let mut k = loop {
            let r = self.rng.next_u64();
            if r < zone {
                break r % self.total;
            }
        };
        for &(seq, w) in &self.windows {
            if k < w as u64 {
                return (seq, k as usize);
            }
            k -= w as u64;
        }
        unreachable!("k < total")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::synthetic;

    #[test]
    fn copy_baseline_and_both_targets_agree() {
        let train = [synthetic(500, 0.0, 1.0)];
        let test = [synthetic(300, 1.0, 1.0)];
        for target in [ForwardTarget::NextState, ForwardTarget::StateChange] {
            let data = ForwardData::new(&train, &test, target).unwrap();
            // Perfect predictions: NMSE 0 in both forms (up to f32 normalisation rounding).
            let perfect = data.test().all_targets();
            let e = data.nmse(&perfect).unwrap();
            assert!(e.next_state < 1e-9, "{target:?}: {e:?}");
            assert!(e.state_change < 1e-4, "{target:?}: {e:?}");
            // The copy baseline by hand: next-state NMSE = Σ_d E[Δ²]/Var(s') / 14.
            let copy = data.copy_baseline().unwrap();
            let tr = &test[0];
            let mut want = 0.0;
            for d in 0..STATE {
                let next: Vec<f64> = (1..tr.steps()).map(|t| tr.state(t)[d]).collect();
                let now: Vec<f64> = (0..tr.steps() - 1).map(|t| tr.state(t)[d]).collect();
                let m = next.iter().sum::<f64>() / next.len() as f64;
                let var = next.iter().map(|x| (x - m).powi(2)).sum::<f64>();
                let err = next
                    .iter()
                    .zip(&now)
                    .map(|(a, b)| (a - b).powi(2))
                    .sum::<f64>();
                want += err / var / STATE as f64;
            }
            assert!((copy.next_state - want).abs() < 1e-12 * want.max(1.0));
            assert!(
                copy.next_state < 1e-2 && copy.state_change >= 1.0,
                "{copy:?}"
            );
            // Predicting "no change" in the model's own units gives the copy baseline.
            let zero_change: Vec<f32> = match target {
                ForwardTarget::StateChange => (0..perfect.len())
                    .map(|i| {
                        let d = i % STATE;
                        let n = data.target_norm();
                        (-n.mean()[d] / n.scale()[d]) as f32
                    })
                    .collect(),
                ForwardTarget::NextState => continue,
            };
            let e = data.nmse(&zero_change).unwrap();
            assert!((e.state_change - copy.state_change).abs() < 1e-4 * copy.state_change);
        }
    }

    #[test]
    fn subsequences_are_seeded_and_cover_every_window() {
        let data = ForwardData::new(
            &[
                synthetic(10, 0.0, 1.0),
                synthetic(4, 0.0, 1.0),
                synthetic(6, 1.0, 1.0),
            ],
            &[synthetic(10, 2.0, 1.0)],
            ForwardTarget::StateChange,
        )
        .unwrap();
        // Sequences of 9, 3 and 5 steps; windows of 4: 6 + 0 + 2.
        let mut a = Subsequences::new(data.train(), 4, 7).unwrap();
        let mut b = Subsequences::new(data.train(), 4, 7).unwrap();
        let mut c = Subsequences::new(data.train(), 4, 8).unwrap();
        let (xa, xb, xc): (Vec<_>, Vec<_>, Vec<_>) = (0..400)
            .map(|_| (a.sample(), b.sample(), c.sample()))
            .fold((vec![], vec![], vec![]), |mut acc, (x, y, z)| {
                acc.0.push(x);
                acc.1.push(y);
                acc.2.push(z);
                acc
            });
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
        let mut seen = std::collections::BTreeSet::new();
        for &(s, t) in &xa {
            assert!(
                t + 4 <= data.train().len_of(s),
                "window ({s}, {t}) runs off"
            );
            seen.insert((s, t));
        }
        assert_eq!(seen.len(), 8, "every window is drawn: {seen:?}");
        assert!(Subsequences::new(data.train(), 10, 0).is_err());
        assert!(Subsequences::new(data.train(), 0, 0).is_err());
    }
}
