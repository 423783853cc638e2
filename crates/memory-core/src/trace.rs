//! The per-tensor state of a memory: the previous queries z_{t−1} (docs/algorithm.md §9).

use alloc::vec;
use alloc::vec::Vec;

use crate::config::QueryScale;

/// Per-tensor run state of a memory: the previous (clipped) query of every coordinate.
///
/// 4 bytes per coordinate. The memory update needs ψ(z_{t−1}) and s(z_t, z_{t−1}); both are
/// recomputed from this, so no activation matrix is ever stored.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Trace {
    pub(crate) prev: Vec<f32>,
    /// The running mean of the tensor's mean squared query ([`QueryScale::Rms`]; untouched
    /// with [`QueryScale::Raw`]).
    pub(crate) mean_sq: f64,
    /// Steps in that running mean (for its bias correction).
    pub(crate) scale_steps: u64,
}

impl Trace {
    /// A trace for a tensor of `len` coordinates; z_{−1} = 0 so the first update is zero.
    pub fn new(len: usize) -> Self {
        Trace {
            prev: vec![0.0; len],
            mean_sq: 0.0,
            scale_steps: 0,
        }
    }

    /// A trace holding the previous queries `prev` and no query scale yet: what the
    /// optimizers' checkpoints of earlier formats, which kept only the queries, load as.
    #[doc(hidden)]
    pub fn from_previous(prev: Vec<f32>) -> Self {
        Trace {
            prev,
            mean_sq: 0.0,
            scale_steps: 0,
        }
    }

    /// The running RMS r_t of the queries ([`QueryScale::Rms`]); 1 before any step and for
    /// [`QueryScale::Raw`].
    pub fn query_scale(&self) -> f32 {
        rms(self.mean_sq, self.scale_steps, None)
    }

    /// Takes this step's queries into the running mean of `scale` and returns r_t (1 for
    /// [`QueryScale::Raw`], and while every query seen was zero or not finite).
    pub(crate) fn observe(&mut self, scale: QueryScale, z: &[f32]) -> f32 {
        let QueryScale::Rms { beta } = scale else {
            return 1.0;
        };
        let mean = mean_square(z);
        let beta = beta as f64;
        self.mean_sq = beta * self.mean_sq + (1.0 - beta) * mean;
        self.scale_steps = self.scale_steps.saturating_add(1);
        rms(self.mean_sq, self.scale_steps, Some(beta))
    }

    /// The previous clipped queries z_{t−1}.
    pub fn previous(&self) -> &[f32] {
        &self.prev
    }

    /// Coordinates tracked.
    pub fn len(&self) -> usize {
        self.prev.len()
    }

    /// True for a zero-length tensor.
    pub fn is_empty(&self) -> bool {
        self.prev.is_empty()
    }

    /// Forget the previous gradient and the query scale (a new task starts).
    pub fn reset(&mut self) {
        self.prev.fill(0.0);
        self.mean_sq = 0.0;
        self.scale_steps = 0;
    }
}

/// The mean of z² over the finite coordinates of `z` (0 if there are none), summed in f64:
/// the tensor's typical size this step, for the query scale and the context memory.
pub(crate) fn mean_square(z: &[f32]) -> f64 {
    let (mut sum, mut n) = (0.0f64, 0usize);
    for &x in z {
        if x.is_finite() {
            sum += x as f64 * x as f64;
            n += 1;
        }
    }
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

/// The bias-corrected RMS √(mean_sq / (1 − β^t)); 1 where it is not a usable positive number
/// (no step yet, or only zero queries so far). Without β (a saved trace read back), 1 − β^t is
/// taken as 1, which it is to within 10⁻⁴ after ~1000 steps of β = 0.99.
fn rms(mean_sq: f64, steps: u64, beta: Option<f64>) -> f32 {
    if steps == 0 {
        return 1.0;
    }
    let correction = match beta {
        Some(b) => 1.0 - libm::pow(b, steps.min(i32::MAX as u64) as f64),
        None => 1.0,
    };
    let r = libm::sqrt(mean_sq / correction) as f32;
    if r.is_finite() && r > 1e-30 {
        r
    } else {
        1.0
    }
}
