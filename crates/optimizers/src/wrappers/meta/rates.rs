//! What a step of [`Meta`](crate::Meta) applied: the rates per tensor, summarised while the
//! step runs ([`RateSummary`], [`Quantiles`]), and what an observer sees ([`StepInfo`]).

/// The learning rates that a tensor's last step applied: η per coordinate, the memory's η̂(z)
/// (η₀ for a tensor without a memory; 0 for a coordinate skipped as non-finite).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateSummary {
    /// Coordinates.
    pub count: usize,
    /// Smallest rate.
    pub min: f32,
    /// Largest rate.
    pub max: f32,
    /// Mean rate (summed in f64).
    pub mean: f32,
    /// Percentiles, when the rates per coordinate are kept ([`Meta::record_rates`](crate::Meta::record_rates)) or the
    /// summary was made from them ([`RateSummary::of`]); `None` otherwise.
    pub quantiles: Option<Quantiles>,
}

impl RateSummary {
    /// The summary of `rates`, percentiles included.
    ///
    /// ```
    /// let s = lrmem_optimizers::RateSummary::of(&[0.1, 0.3, 0.2]);
    /// assert_eq!((s.count, s.min, s.max), (3, 0.1, 0.3));
    /// assert_eq!(s.quantiles.unwrap().p50, 0.2);
    /// ```
    pub fn of(rates: &[f32]) -> RateSummary {
        let mut acc = Acc::new();
        acc.add(rates);
        RateSummary {
            quantiles: Quantiles::of(rates),
            ..acc.finish()
        }
    }
}

/// Percentiles of a tensor's rates (nearest rank).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantiles {
    /// 10th percentile.
    pub p10: f32,
    /// Median.
    pub p50: f32,
    /// 90th percentile.
    pub p90: f32,
}

impl Quantiles {
    /// The percentiles of `rates`; `None` if it is empty.
    pub fn of(rates: &[f32]) -> Option<Quantiles> {
        if rates.is_empty() {
            return None;
        }
        let mut sorted = rates.to_vec();
        sorted.sort_by(f32::total_cmp);
        let at = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
        Some(Quantiles {
            p10: at(0.1),
            p50: at(0.5),
            p90: at(0.9),
        })
    }
}

/// Minimum, maximum and sum of rates, taken block by block during a step: eight lanes that the
/// compiler vectorises, so that summarising every step costs little next to the memory's work.
#[derive(Clone, Copy)]
pub(super) struct Acc {
    pub(super) lo: [f32; 8],
    pub(super) hi: [f32; 8],
    pub(super) sum: f64,
    pub(super) count: usize,
}

impl Acc {
    pub(super) fn new() -> Self {
        Acc {
            lo: [f32::INFINITY; 8],
            hi: [f32::NEG_INFINITY; 8],
            sum: 0.0,
            count: 0,
        }
    }

    /// `n` coordinates at one rate.
    pub(super) fn constant(eta: f32, n: usize) -> Self {
        Acc {
            lo: [eta; 8],
            hi: [eta; 8],
            sum: eta as f64 * n as f64,
            count: n,
        }
    }

    #[inline(always)]
    pub(super) fn add(&mut self, eta: &[f32]) {
        let mut sums = [0.0f32; 8];
        let chunks = eta.chunks_exact(8);
        let rest = chunks.remainder();
        for c in chunks {
            for (((s, lo), hi), &e) in sums
                .iter_mut()
                .zip(self.lo.iter_mut())
                .zip(self.hi.iter_mut())
                .zip(c)
            {
                *s += e;
                *lo = if e < *lo { e } else { *lo };
                *hi = if e > *hi { e } else { *hi };
            }
        }
        for &e in rest {
            sums[0] += e;
            self.lo[0] = self.lo[0].min(e);
            self.hi[0] = self.hi[0].max(e);
        }
        self.sum += sums.iter().map(|&s| s as f64).sum::<f64>();
        self.count += eta.len();
    }

    pub(super) fn finish(&self) -> RateSummary {
        let fold =
            |v: &[f32; 8], f: fn(f32, f32) -> f32| v.iter().copied().reduce(f).unwrap_or(0.0);
        if self.count == 0 {
            return RateSummary {
                count: 0,
                min: 0.0,
                max: 0.0,
                mean: 0.0,
                quantiles: None,
            };
        }
        RateSummary {
            count: self.count,
            min: fold(&self.lo, f32::min),
            max: fold(&self.hi, f32::max),
            mean: (self.sum / self.count as f64) as f32,
            quantiles: None,
        }
    }
}

/// What a [`Meta::on_step`](crate::Meta::on_step) observer sees after every step of a tensor.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct StepInfo<'a> {
    /// The tensor's name.
    pub tensor: &'a str,
    /// The key of the memory it uses, if any.
    pub memory: Option<&'a str>,
    /// Steps the tensor has taken, this one included.
    pub step: u64,
    /// The rates this step applied.
    pub rates: RateSummary,
    /// The rate of every coordinate, while [`Meta::record_rates`](crate::Meta::record_rates) is on.
    pub per_coordinate: Option<&'a [f32]>,
}
