//! What both kinds of dynamics data share: the per-dimension [`Normalizer`] fitted on
//! training data only, the normalised [`SequenceSet`]s, and [`Dataset`], the training and
//! held-out sets with their normalisers.

use super::ArmTrajectory;
use crate::TaskError;

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

    /// All targets, concatenated in sequence order (`steps × dout`), e.g. for [`super::nmse`].
    pub fn all_targets(&self) -> Vec<f32> {
        self.seqs
            .iter()
            .flat_map(|s| s.targets.iter().copied())
            .collect()
    }
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

/// Raw (physical-unit) rows of inputs and targets of one sequence.
pub(super) struct Raw {
    pub(super) inputs: Vec<f64>,
    pub(super) targets: Vec<f64>,
}

/// A kind of dynamics data: its name in errors, and its input and target dimensions.
pub(super) trait Kind {
    const NAME: &'static str;
    const INPUT: usize;
    const TARGET: usize;
}

/// Normalised training and held-out sequences of one kind of dynamics data, with the
/// normalisers fitted on the training data (see the module docs): [`super::ForwardData`] or
/// [`super::InverseData`], whose kind `K` keeps what else they need.
#[derive(Debug, Clone)]
pub struct Dataset<K> {
    pub(super) train: SequenceSet,
    pub(super) test: SequenceSet,
    pub(super) input_norm: Normalizer,
    pub(super) target_norm: Normalizer,
    pub(super) kind: K,
}

impl<K> Dataset<K> {
    /// The data of `train` and `test` trajectories (at least one each), each turned into
    /// physical-unit rows by `raw`, with input and target normalisers fitted on `train` (or
    /// the `fixed` ones, fitted on an earlier task's training data) applied to both; `kind` is
    /// what else the data keep.
    pub(super) fn normalised(
        train: &[ArmTrajectory],
        test: &[ArmTrajectory],
        fixed: Option<&Normalizers>,
        raw: impl Fn(&ArmTrajectory) -> Raw,
        kind: K,
    ) -> Result<Self, TaskError>
    where
        K: Kind,
    {
        let (din, dout) = (K::INPUT, K::TARGET);
        if train.is_empty() || test.is_empty() {
            return Err(TaskError::Argument(format!(
                "{} dynamics needs at least one training and one held-out trajectory",
                K::NAME
            )));
        }
        let (train, test): (Vec<Raw>, Vec<Raw>) = (
            train.iter().map(&raw).collect(),
            test.iter().map(&raw).collect(),
        );
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
        Ok(Dataset {
            train: apply(&train),
            test: apply(&test),
            input_norm: inorm,
            target_norm: tnorm,
            kind,
        })
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

    /// The target normaliser (fitted on the training targets: next states or state changes,
    /// or torques).
    pub fn target_norm(&self) -> &Normalizer {
        &self.target_norm
    }

    /// Both normalisers, to normalise later data of the same kind the same way
    /// (`with_normalizers` of [`super::ForwardData`] and [`super::InverseData`]).
    pub fn normalizers(&self) -> Normalizers {
        Normalizers {
            input: self.input_norm.clone(),
            target: self.target_norm.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamics::{ForwardData, ForwardTarget, FORWARD_INPUT};
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
}
