//! Data plumbing for learning a robot arm's dynamics, independent of where the trajectories
//! come from (a simulator or a real arm): normalisation fitted on training data only, seeded
//! sampling of subsequences, and the normalised mean squared error (NMSE) the papers report.
//!
//! # The two problems
//!
//! - **Forward dynamics** ([`ForwardData`], trained with [`crate::lstm`]): input
//!   x_t = (q_t, q̇_t, τ_t) ∈ R²¹, target the next state s_{t+1} = (q_{t+1}, q̇_{t+1}) ∈ R¹⁴ or
//!   the state change s_{t+1} − s_t ([`ForwardTarget`]). Each trajectory of `n` recorded steps
//!   gives a sequence of `n − 1` (input, target) pairs.
//! - **Inverse dynamics** ([`InverseData`], trained with [`crate::mlp`]): input
//!   (q, q̇, q̈) ∈ R²¹, target τ ∈ R⁷, one sample per update.
//!
//! # Normalisation
//!
//! Every input and target dimension is standardised, (v − mean) / std, with the mean and the
//! (population) standard deviation of the **training** data only ([`Normalizer::fit`]); the
//! held-out data are transformed with those same statistics, so no information about them
//! reaches training. A dimension that is constant on the training data keeps scale 1 (it is
//! only centred) rather than being divided by zero.
//!
//! # NMSE
//!
//! [`nmse`]: for each output dimension d, the mean squared error over the evaluation set
//! divided by the variance of the target over the same set, then the mean over dimensions:
//!
//! NMSE = (1/D) Σ_d [ (1/N) Σ_n (ŷ_nd − y_nd)² ] / [ (1/N) Σ_n (y_nd − ȳ_d)² ].
//!
//! The papers plot "normalized mean squared error (NMSE)" without writing the formula; this is
//! the usual definition of the robot-learning literature they come from (e.g. the LWPR
//! inverse-dynamics evaluations of Vijayakumar, D'Souza and Schaal, 2005), where an NMSE of 1
//! is what predicting the evaluation set's mean achieves. It is invariant under a per-dimension
//! affine rescaling of targets and predictions alike, so it can be computed in normalised or
//! in physical units with the same result.
//!
//! **The copy baseline.** At 1 ms the state hardly changes, so predicting s_{t+1} = s_t already
//! gives a tiny next-state NMSE (≈ mean over d of E(Δs_d²) / Var(s_d)), while its state-change
//! NMSE is E(Δ²)/Var(Δ) ≥ 1. [`ForwardData::copy_baseline`] computes both, so reports can say
//! how far a model is from that trivial predictor; the state-change NMSE is the informative one.
//!
//! ```
//! use lrmem_tasks::dynamics::{ArmTrajectory, ForwardData, ForwardTarget, JOINTS};
//!
//! // Two short synthetic trajectories: joint j moves as sin(ωj t).
//! let traj = |phase: f64| {
//!     let n = 300;
//!     let (mut q, mut qd, mut qdd, mut tau) = (vec![], vec![], vec![], vec![]);
//!     for t in 0..n {
//!         for j in 0..JOINTS {
//!             let w = 1.0 + j as f64;
//!             let s = w * t as f64 * 1e-3 + phase;
//!             q.push(s.sin());
//!             qd.push(w * s.cos());
//!             qdd.push(-w * w * s.sin());
//!             tau.push(-w * w * s.sin() + 0.1 * s.cos());
//!         }
//!     }
//!     ArmTrajectory::new(q, qd, qdd, tau)
//! };
//! let data = ForwardData::new(&[traj(0.0)?], &[traj(1.0)?], ForwardTarget::StateChange)?;
//! let copy = data.copy_baseline()?;
//! assert!(copy.next_state < 0.01 && copy.state_change >= 1.0);
//! # Ok::<(), lrmem_tasks::TaskError>(())
//! ```

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::TaskError;

/// Joints of the arm (the Panda has seven revolute joints).
pub const JOINTS: usize = 7;
/// Dimension of the arm's state (q, q̇).
pub const STATE: usize = 2 * JOINTS;
/// Dimension of the forward model's input (q, q̇, τ).
pub const FORWARD_INPUT: usize = 3 * JOINTS;
/// Dimension of the inverse model's input (q, q̇, q̈).
pub const INVERSE_INPUT: usize = 3 * JOINTS;
/// The subsequence length of the papers' forward-dynamics LSTM.
pub const SUBSEQUENCE: usize = 128;

/// One recorded trajectory of the arm at a fixed time step: for each step, the joint positions
/// q, velocities q̇, accelerations q̈ and torques τ, each row-major `steps × JOINTS`. Kept in f64
/// because simulators produce f64 and the state change over 1 ms is small next to the state.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmTrajectory {
    q: Vec<f64>,
    qd: Vec<f64>,
    qdd: Vec<f64>,
    tau: Vec<f64>,
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
    fn state(&self, t: usize) -> [f64; STATE] {
        let mut s = [0.0; STATE];
        s[..JOINTS].copy_from_slice(self.q(t));
        s[JOINTS..].copy_from_slice(self.qd(t));
        s
    }
}

/// Per-dimension standardisation, (v − mean) / scale, with statistics of training data only
/// (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Normalizer {
    mean: Vec<f64>,
    scale: Vec<f64>,
}

impl Normalizer {
    /// Mean and population standard deviation of each of the `dim` columns of `rows`
    /// (row-major, concatenated over all chunks). A constant column gets scale 1. Empty data,
    /// ragged rows and non-finite values are errors.
    pub fn fit<'a>(
        rows: impl IntoIterator<Item = &'a [f64]>,
        dim: usize,
    ) -> Result<Self, TaskError> {
        if dim == 0 {
            return Err(TaskError::Argument("normaliser of dimension 0".into()));
        }
        let (mut n, mut mean, mut m2) = (0u64, vec![0.0f64; dim], vec![0.0f64; dim]);
        for chunk in rows {
            if !chunk.len().is_multiple_of(dim) {
                return Err(TaskError::Argument(format!(
                    "{} values are not whole rows of {dim}",
                    chunk.len()
                )));
            }
            for row in chunk.chunks_exact(dim) {
                n += 1;
                // Welford: one pass, no cancellation.
                for ((m, s), &v) in mean.iter_mut().zip(&mut m2).zip(row) {
                    if !v.is_finite() {
                        return Err(TaskError::NonFiniteData {
                            what: "normaliser training data".into(),
                            index: (n as usize - 1) * dim,
                        });
                    }
                    let d = v - *m;
                    *m += d / n as f64;
                    *s += d * (v - *m);
                }
            }
        }
        if n == 0 {
            return Err(TaskError::Argument(
                "no training rows to fit a normaliser on".into(),
            ));
        }
        let scale = m2
            .iter()
            .zip(&mean)
            .map(|(&s, &m)| {
                let std = (s / n as f64).sqrt();
                // Constant up to rounding: centre only.
                if std > 1e-12 * (1.0 + m.abs()) {
                    std
                } else {
                    1.0
                }
            })
            .collect();
        Ok(Normalizer { mean, scale })
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// The training means.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The scales (training standard deviations, 1 for constant dimensions).
    pub fn scale(&self) -> &[f64] {
        &self.scale
    }

    /// Appends the normalised `row` (length [`dim`](Self::dim)) to `out`.
    pub fn apply_into(&self, row: &[f64], out: &mut Vec<f32>) {
        debug_assert_eq!(row.len(), self.dim());
        out.extend(
            row.iter()
                .zip(self.mean.iter().zip(&self.scale))
                .map(|(&v, (&m, &s))| ((v - m) / s) as f32),
        );
    }

    /// The physical value of normalised component `d`.
    pub fn invert(&self, d: usize, v: f32) -> f64 {
        f64::from(v) * self.scale[d] + self.mean[d]
    }
}

/// Normalised (input, target) sequences, row-major: `inputs[t·din..(t+1)·din]` is step `t`'s
/// input and `targets[t·dout..]` its target.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    /// Normalised inputs, `len × din`.
    pub inputs: Vec<f32>,
    /// Normalised targets, `len × dout`.
    pub targets: Vec<f32>,
}

/// A set of normalised sequences with their input and target dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceSet {
    din: usize,
    dout: usize,
    seqs: Vec<Sequence>,
}

impl SequenceSet {
    /// The sequences.
    pub fn sequences(&self) -> &[Sequence] {
        &self.seqs
    }

    /// Input dimension.
    pub fn din(&self) -> usize {
        self.din
    }

    /// Target dimension.
    pub fn dout(&self) -> usize {
        self.dout
    }

    /// Length (steps) of sequence `i`.
    pub fn len_of(&self, i: usize) -> usize {
        self.seqs[i].targets.len() / self.dout
    }

    /// Steps over all sequences.
    pub fn steps(&self) -> usize {
        self.seqs.iter().map(|s| s.targets.len()).sum::<usize>() / self.dout
    }

    /// All targets, concatenated in sequence order (`steps × dout`), e.g. for [`nmse`].
    pub fn all_targets(&self) -> Vec<f32> {
        self.seqs
            .iter()
            .flat_map(|s| s.targets.iter().copied())
            .collect()
    }
}

/// Raw (physical-unit) rows of inputs and targets of one sequence.
struct Raw {
    inputs: Vec<f64>,
    targets: Vec<f64>,
}

/// Fits input and target normalisers on `train` (or takes the `fixed` ones, fitted on an
/// earlier task's training data), then normalises `train` and `test` with them.
fn normalise(
    train: &[Raw],
    test: &[Raw],
    din: usize,
    dout: usize,
    fixed: Option<&Normalizers>,
) -> Result<(SequenceSet, SequenceSet, Normalizer, Normalizer), TaskError> {
    let (inorm, tnorm) = match fixed {
        Some(n) => {
            if n.input.dim() != din || n.target.dim() != dout {
                return Err(TaskError::Argument(format!(
                    "normalisers of dimensions {} → {} given for data of dimensions {din} → {dout}; \
                     pass the normalisers of the same kind of data (forward or inverse)",
                    n.input.dim(),
                    n.target.dim()
                )));
            }
            (n.input.clone(), n.target.clone())
        }
        None => (
            Normalizer::fit(train.iter().map(|r| &r.inputs[..]), din)?,
            Normalizer::fit(train.iter().map(|r| &r.targets[..]), dout)?,
        ),
    };
    let apply = |raw: &[Raw]| SequenceSet {
        din,
        dout,
        seqs: raw
            .iter()
            .map(|r| {
                let mut inputs = Vec::with_capacity(r.inputs.len());
                for row in r.inputs.chunks_exact(din) {
                    inorm.apply_into(row, &mut inputs);
                }
                let mut targets = Vec::with_capacity(r.targets.len());
                for row in r.targets.chunks_exact(dout) {
                    tnorm.apply_into(row, &mut targets);
                }
                Sequence { inputs, targets }
            })
            .collect(),
    };
    Ok((apply(train), apply(test), inorm, tnorm))
}

/// An input and a target normaliser fitted together (e.g. on the first task of a sequence and
/// reused for the later ones, so that a model's inputs mean the same across the sequence).
#[derive(Debug, Clone, PartialEq)]
pub struct Normalizers {
    /// The input normaliser.
    pub input: Normalizer,
    /// The target normaliser.
    pub target: Normalizer,
}

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

/// Normalised training and held-out sequences for forward dynamics (see the module docs),
/// with what evaluation needs to report NMSE in both forms.
#[derive(Debug, Clone)]
pub struct ForwardData {
    target: ForwardTarget,
    train: SequenceSet,
    test: SequenceSet,
    input_norm: Normalizer,
    target_norm: Normalizer,
    /// Held-out s_t for every target step, concatenated (`steps × STATE`).
    test_now: Vec<f64>,
    /// Held-out s_{t+1} for every target step.
    test_next: Vec<f64>,
}

impl ForwardData {
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
        if train.is_empty() || test.is_empty() {
            return Err(TaskError::Argument(
                "forward dynamics needs at least one training and one held-out trajectory".into(),
            ));
        }
        let raw = |trajs: &[ArmTrajectory]| -> Vec<Raw> {
            trajs
                .iter()
                .map(|tr| {
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
                })
                .collect()
        };
        let (train_set, test_set, input_norm, target_norm) =
            normalise(&raw(train), &raw(test), FORWARD_INPUT, STATE, fixed)?;
        let (mut test_now, mut test_next) = (Vec::new(), Vec::new());
        for tr in test {
            for t in 0..tr.steps() - 1 {
                test_now.extend_from_slice(&tr.state(t));
                test_next.extend_from_slice(&tr.state(t + 1));
            }
        }
        Ok(ForwardData {
            target,
            train: train_set,
            test: test_set,
            input_norm,
            target_norm,
            test_now,
            test_next,
        })
    }

    /// What the targets are.
    pub fn target(&self) -> ForwardTarget {
        self.target
    }

    /// Normalised training sequences.
    pub fn train(&self) -> &SequenceSet {
        &self.train
    }

    /// Normalised held-out sequences.
    pub fn test(&self) -> &SequenceSet {
        &self.test
    }

    /// The input normaliser (fitted on the training inputs).
    pub fn input_norm(&self) -> &Normalizer {
        &self.input_norm
    }

    /// The target normaliser (fitted on the training targets).
    pub fn target_norm(&self) -> &Normalizer {
        &self.target_norm
    }

    /// Both normalisers, to normalise later data the same way
    /// ([`ForwardData::with_normalizers`]).
    pub fn normalizers(&self) -> Normalizers {
        Normalizers {
            input: self.input_norm.clone(),
            target: self.target_norm.clone(),
        }
    }

    /// Held-out NMSE of `pred`: the model's normalised targets for every held-out step, in
    /// sequence order (`test().steps() × STATE`, as [`SequenceSet::all_targets`]). Non-finite
    /// predictions (a diverged model) give a NaN or infinite NMSE, not an error.
    pub fn nmse(&self, pred: &[f32]) -> Result<ForwardNmse, TaskError> {
        if pred.len() != self.test_now.len() {
            return Err(TaskError::Argument(format!(
                "{} predicted values for {} held-out steps of {STATE}",
                pred.len(),
                self.test_now.len() / STATE
            )));
        }
        let mut next = Vec::with_capacity(pred.len());
        let mut change = Vec::with_capacity(pred.len());
        for (i, &p) in pred.iter().enumerate() {
            let d = i % STATE;
            let v = self.target_norm.invert(d, p);
            let now = self.test_now[i];
            let (n, c) = match self.target {
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
        self.nmse_of(&self.test_now, &vec![0.0; self.test_now.len()])
    }

    fn nmse_of(&self, next: &[f64], change: &[f64]) -> Result<ForwardNmse, TaskError> {
        let true_change: Vec<f64> = self
            .test_next
            .iter()
            .zip(&self.test_now)
            .map(|(a, b)| a - b)
            .collect();
        Ok(ForwardNmse {
            next_state: nmse(next, &self.test_next, STATE)
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

/// The normalised mean squared error of `pred` against `target`, both row-major with `dim`
/// columns: per column MSE / variance of the target column (population variance over the
/// evaluation set), averaged over columns (see the module docs). Accumulates in f64.
///
/// Non-finite predictions give a NaN or infinite result (a diverged model is a result, not bad
/// input); a length mismatch, no rows, a non-finite target or a constant target column are
/// errors.
///
/// ```
/// use lrmem_tasks::dynamics::nmse;
/// let target = [0.0, 10.0, 2.0, 20.0]; // two rows, two columns
/// // Predicting each column's mean gives NMSE 1.
/// assert_eq!(nmse(&[1.0, 15.0, 1.0, 15.0], &target, 2)?, 1.0);
/// assert_eq!(nmse(&target, &target, 2)?, 0.0);
/// # Ok::<(), lrmem_tasks::TaskError>(())
/// ```
pub fn nmse<P: Copy + Into<f64>, Y: Copy + Into<f64>>(
    pred: &[P],
    target: &[Y],
    dim: usize,
) -> Result<f64, TaskError> {
    if dim == 0
        || pred.len() != target.len()
        || target.is_empty()
        || !target.len().is_multiple_of(dim)
    {
        return Err(TaskError::Argument(format!(
            "NMSE of {} predictions against {} targets in rows of {dim}: they must be equally long whole rows",
            pred.len(),
            target.len()
        )));
    }
    if let Some(index) = target.iter().position(|&y| !y.into().is_finite()) {
        return Err(TaskError::NonFiniteData {
            what: "the NMSE targets".into(),
            index,
        });
    }
    let n = (target.len() / dim) as f64;
    let mut mean = vec![0.0f64; dim];
    for (i, &y) in target.iter().enumerate() {
        mean[i % dim] += y.into();
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let (mut var, mut mse) = (vec![0.0f64; dim], vec![0.0f64; dim]);
    for (i, (&p, &y)) in pred.iter().zip(target).enumerate() {
        let (p, y, d) = (p.into(), y.into(), i % dim);
        var[d] += (y - mean[d]).powi(2);
        mse[d] += (p - y).powi(2);
    }
    let mut sum = 0.0;
    for (d, (&v, &e)) in var.iter().zip(&mse).enumerate() {
        // Relative to the column's magnitude: rounding alone must not count as variation.
        if v <= (1e-24 * mean[d] * mean[d]).max(f64::MIN_POSITIVE) * n {
            return Err(TaskError::ConstantTarget {
                what: "the NMSE targets".into(),
                dim: d,
            });
        }
        sum += e / v;
    }
    Ok(sum / dim as f64)
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
        let windows: Vec<(usize, usize)> = (0..set.seqs.len())
            .filter(|&i| set.len_of(i) >= len)
            .map(|i| (i, set.len_of(i) - len + 1))
            .collect();
        let total = windows.iter().map(|&(_, w)| w as u64).sum();
        if len == 0 || total == 0 {
            return Err(TaskError::Argument(format!(
                "no subsequence of {len} steps: the longest training sequence has {} steps; use shorter subsequences or longer trajectories",
                (0..set.seqs.len()).map(|i| set.len_of(i)).max().unwrap_or(0)
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

/// Normalised training and held-out samples for inverse dynamics (see the module docs).
#[derive(Debug, Clone)]
pub struct InverseData {
    train: SequenceSet,
    test: SequenceSet,
    input_norm: Normalizer,
    target_norm: Normalizer,
}

impl InverseData {
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
        if train.is_empty() || test.is_empty() {
            return Err(TaskError::Argument(
                "inverse dynamics needs at least one training and one held-out trajectory".into(),
            ));
        }
        let raw = |trajs: &[ArmTrajectory]| -> Vec<Raw> {
            trajs
                .iter()
                .map(|tr| {
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
                })
                .collect()
        };
        let (train, test, input_norm, target_norm) =
            normalise(&raw(train), &raw(test), INVERSE_INPUT, JOINTS, fixed)?;
        Ok(InverseData {
            train,
            test,
            input_norm,
            target_norm,
        })
    }

    /// Normalised training samples (one sequence per trajectory).
    pub fn train(&self) -> &SequenceSet {
        &self.train
    }

    /// Normalised held-out samples.
    pub fn test(&self) -> &SequenceSet {
        &self.test
    }

    /// The input normaliser (fitted on the training inputs).
    pub fn input_norm(&self) -> &Normalizer {
        &self.input_norm
    }

    /// The torque normaliser (fitted on the training torques).
    pub fn target_norm(&self) -> &Normalizer {
        &self.target_norm
    }

    /// Both normalisers, to normalise later data the same way
    /// ([`InverseData::with_normalizers`]).
    pub fn normalizers(&self) -> Normalizers {
        Normalizers {
            input: self.input_norm.clone(),
            target: self.target_norm.clone(),
        }
    }

    /// The training samples as (sequence, step) in `order`: one pass over all of them
    /// (callers cycle it), shuffled with ChaCha8 stream 0 of `seed` for
    /// [`SampleOrder::Shuffled`].
    pub fn order(&self, order: SampleOrder, seed: u64) -> Vec<(u32, u32)> {
        let mut all: Vec<(u32, u32)> = (0..self.train.seqs.len())
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
    fn normaliser_fits_training_statistics_only() {
        let train = [synthetic(400, 0.0, 1.0), synthetic(300, 0.5, 1.0)];
        // Held-out data on another scale: it must not move the statistics.
        let test = [synthetic(200, 2.0, 5.0)];
        let data = ForwardData::new(&train, &test, ForwardTarget::NextState).unwrap();
        let other =
            ForwardData::new(&train, &[synthetic(50, 0.3, 0.1)], ForwardTarget::NextState).unwrap();
        assert_eq!(data.input_norm(), other.input_norm());
        assert_eq!(data.target_norm(), other.target_norm());
        // The training inputs are standardised: mean 0, std 1 per dimension.
        let rows: Vec<f32> = data
            .train()
            .sequences()
            .iter()
            .flat_map(|s| s.inputs.iter().copied())
            .collect();
        for d in 0..FORWARD_INPUT {
            let col: Vec<f64> = rows
                .iter()
                .skip(d)
                .step_by(FORWARD_INPUT)
                .map(|&v| f64::from(v))
                .collect();
            let m = col.iter().sum::<f64>() / col.len() as f64;
            let v = col.iter().map(|x| (x - m).powi(2)).sum::<f64>() / col.len() as f64;
            assert!(
                m.abs() < 1e-5 && (v - 1.0).abs() < 1e-4,
                "dim {d}: mean {m}, var {v}"
            );
        }
        // Held-out inputs use the training statistics: q₀ of the first held-out step.
        let n = data.input_norm();
        let want = ((test[0].q(0)[0] - n.mean()[0]) / n.scale()[0]) as f32;
        assert_eq!(data.test().sequences()[0].inputs[0], want);
        assert_eq!(data.test().steps(), 199);
        assert_eq!(data.train().steps(), 399 + 299);
    }

    #[test]
    fn constant_dimension_is_centred_not_divided_by_zero() {
        let n = Normalizer::fit([&[1.0, 2.0, 1.0, 4.0][..]], 2).unwrap();
        assert_eq!(n.scale()[0], 1.0);
        assert_eq!(n.mean(), [1.0, 3.0]);
        let mut out = vec![];
        n.apply_into(&[3.0, 5.0], &mut out);
        assert_eq!(out, [2.0, 2.0]);
        assert_eq!(n.invert(1, 2.0), 5.0);
    }

    #[test]
    fn nmse_definition() {
        // Column 0: target var 1, errors all 1 → 1; column 1: var 100, errors 0 → 0.
        let target = [0.0, 0.0, 2.0, 20.0];
        let pred = [1.0, 0.0, 1.0, 20.0];
        assert!((nmse(&pred, &target, 2).unwrap() - 0.5).abs() < 1e-12);
        // Invariant to a per-column affine map of both.
        let map = |v: &[f64]| -> Vec<f64> {
            v.iter()
                .enumerate()
                .map(|(i, x)| {
                    if i % 2 == 0 {
                        3.0 * x - 7.0
                    } else {
                        0.1 * x + 2.0
                    }
                })
                .collect()
        };
        let a = nmse(&map(&pred), &map(&target), 2).unwrap();
        assert!((a - 0.5).abs() < 1e-12);
        // Diverged predictions: NaN, not an error.
        assert!(nmse(&[f64::NAN, 0.0, 1.0, 20.0], &target, 2)
            .unwrap()
            .is_nan());
        // Bad input: errors.
        assert!(matches!(
            nmse(&[0.0, 1.0, 0.0, 1.0], &[1.0, 0.0, 1.0, 5.0], 2),
            Err(TaskError::ConstantTarget { dim: 0, .. })
        ));
        assert!(matches!(
            nmse(&pred, &[0.0, f64::INFINITY, 2.0, 20.0], 2),
            Err(TaskError::NonFiniteData { index: 1, .. })
        ));
        assert!(nmse(&pred[..3], &target[..3], 2).is_err());
        assert!(nmse::<f64, f64>(&[], &[], 2).is_err());
    }

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
