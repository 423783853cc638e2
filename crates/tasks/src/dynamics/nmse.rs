//! [`nmse`], the normalised mean squared error the papers report (see the module docs).

use crate::TaskError;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
