//! The fast path of a memory with evenly spaced centres: G (Eq. 4) and the rates (Eq. 3) of a
//! whole tensor, many coordinates at a time, on the instruction set this CPU offers.
//!
//! A memory with a [`Fast`] hands both phases of its step to it: [`Fast::gradient`] (G) and,
//! once θ has moved, [`Fast::step_rates`] (η; [`Fast::rates`] outside a step). Each phase
//! dispatches once on the tier (`on_tier!`, the only `match` on the instruction set) and then
//! runs that tier's kernels, the six methods of [`Tier`]. One module per tier:
//!
//! * `portable`: portable, vectorisable Rust; every CPU runs it, and it is the source that the
//!   AVX2 tier compiles again.
//! * `avx2`: the portable kernels compiled for AVX2 + FMA, and the binned update written out
//!   with AVX2 intrinsics in the same order: the portable tier's bits.
//! * `avx512`: hand-written AVX-512 kernels for the binned update and the exact prediction;
//!   the same formulas, rounded differently.
//!
//! and what they share: `plan` (the grid's constants and the binned update's, with the
//! binned update's error bound) and `table` (the prediction as a table with a certified
//! bound, docs/algorithm.md §16). The x86-64 tiers exist with `std` only (they need its
//! run-time feature detection) and are the only modules of the crate with `unsafe`; each
//! says why in its documentation. The reference that these kernels are tested against (in
//! `tests`) is the `reference` module.

use core::ops::Range;

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[allow(unsafe_code)]
mod avx2;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[allow(unsafe_code)]
mod avx512;
mod plan;
mod portable;
mod table;

use plan::Touched;
pub(crate) use plan::{Plan, BLOCK};
pub(crate) use portable::all_finite;
use portable::Portable;
use table::Table;

use crate::kernel::Grid;
use crate::reference::mean_scale;
use crate::signal::Signal;

/// Which instructions a memory's hot loops may use, and so which results it promises.
///
/// Rust neither fuses nor reorders floating-point operations, so one source compiled for
/// different instruction sets computes the same bits. The portable kernels are such a source;
/// [`Kernels::Reproducible`] runs them, compiled for AVX2 + FMA when the CPU has those, and so
/// gives **the same bits on every CPU** (tested against the baseline build). The hand-written
/// AVX-512 kernels of [`Kernels::Fastest`] compute the same formulas with fused multiply-adds,
/// a hardware reciprocal and another summation order: their rates agree with the reproducible
/// ones to about 5·10⁻⁷ relative, not bit for bit, so runs on machines with and without AVX-512
/// drift apart over many steps. The choice is not saved with the memory: it belongs to the
/// machine, not to what was learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Kernels {
    /// The default: the same bits on every CPU (AVX2 + FMA where available, else the
    /// baseline build, which computes the same).
    #[default]
    Reproducible,
    /// The fastest kernels this CPU has: AVX-512 where available (agreeing with
    /// [`Kernels::Reproducible`] to float rounding only), else as `Reproducible`.
    Fastest,
    /// The portable kernels compiled for the build's baseline only (SSE2 on x86-64): what a CPU
    /// without vector extensions gets, for benchmarks. Same bits as `Reproducible`.
    Portable,
}

/// The kernels of one instruction-set tier, on the tier's token: a value that only exists if
/// this CPU runs the tier, so that the methods are safe to call.
pub(crate) trait Tier: Copy {
    /// The exact update: s·ψ of every coordinate into rows of 2K + 1 f64 per nearest centre
    /// (`portable::accumulate_rows`).
    fn accumulate_rows(self, p: &Plan, prev: &[f32], cur: &[f32], acc: &mut [f64]);
    /// The binned update: the moments of every coordinate into its bin; returns the bins
    /// touched and whether `cur` was all finite (`portable::accumulate_bins`).
    fn accumulate_bins(self, p: &Plan, prev: &[f32], cur: &[f32], acc: &mut [[f64; 4]]) -> Touched;
    /// The bins `lo..=hi` turned into G (added to `g`) and zeroed (`portable::flush_bins`): a
    /// small matrix product whose cost does not depend on the tensor's size.
    fn flush_bins(self, p: &Plan, acc: &mut [[f64; 4]], lo: usize, hi: usize, g: &mut [f64]);
    /// The exact prediction of a block of at most [`BLOCK`] queries into `eta`, with the
    /// clipped queries into `zc` (`portable::predict_block`).
    fn predict_block(self, p: &Plan, padded: &[f32], z: &[f32], eta: &mut [f32], zc: &mut [f32]);
    /// The cubics of θ (`padded`) for the windows `windows`, and their certified bound
    /// (`Table::build`; the same bits on every tier).
    fn build_table(self, table: &mut Table, padded: &[f32], windows: Range<usize>) -> f64;
    /// The tabulated prediction of a block (`Table::predict_block`; the same bits on every
    /// tier).
    fn predict_table(self, table: &Table, z: &[f32], eta: &mut [f32], zc: &mut [f32]);
}

/// The tier that runs a memory's kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    /// Every CPU: the portable kernels, compiled for the build's target.
    Portable(Portable),
    /// The portable kernels compiled for AVX2 + FMA: the same bits.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    Avx2(avx2::Avx2),
    /// Hand-written AVX-512 kernels: the same formulas, rounded differently.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    Avx512(avx512::Avx512),
}

/// Evaluates `$body` with `$t` bound to the [`Tier`] of the [`Isa`] `$isa`: the one dispatch
/// on the instruction set, written once.
macro_rules! on_tier {
    ($isa:expr, $t:ident => $body:expr) => {
        match $isa {
            Isa::Portable($t) => $body,
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            Isa::Avx2($t) => $body,
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            Isa::Avx512($t) => $body,
        }
    };
}

impl Isa {
    /// The tier that runs `kernels` on this CPU.
    pub(crate) fn select(kernels: Kernels) -> Isa {
        match kernels {
            Kernels::Portable => Isa::Portable(Portable),
            Kernels::Fastest => Isa::detect(),
            // The best tier that computes the portable kernels' bits.
            _ => match Isa::detect() {
                #[cfg(all(feature = "std", target_arch = "x86_64"))]
                Isa::Avx512(t) => Isa::Avx2(t.avx2()),
                other => other,
            },
        }
    }

    /// The best tier this CPU runs. Without `std` there is no run-time detection: the
    /// portable kernels run, compiled for whatever the build targets (e.g.
    /// `-C target-cpu=native`).
    fn detect() -> Isa {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        {
            if let Some(t) = avx512::Avx512::detect() {
                return Isa::Avx512(t);
            }
            if let Some(t) = avx2::Avx2::detect() {
                return Isa::Avx2(t);
            }
        }
        Isa::Portable(Portable)
    }

    /// A short name for reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Isa::Portable(_) => "portable",
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            Isa::Avx2(_) => "avx2",
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            Isa::Avx512(_) => "avx512",
        }
    }
}

/// The fast path's state: the grid's constants, the tier, the scratch of the update (allocated
/// once here, never per step) and the prediction table of the current θ.
#[derive(Debug, Clone)]
pub(crate) struct Fast {
    plan: Plan,
    isa: Isa,
    /// The exact update's rows, M·(2K + 1) f64.
    rows: Vec<f64>,
    /// Moment accumulators of the binned update, [`Plan::bin_scratch`] entries of 4 f64
    /// (empty when the binned update does not apply).
    bins: Vec<[f64; 4]>,
    /// G before the mean, in f64.
    sums: Vec<f64>,
    /// The prediction as a table (large tensors; docs/algorithm.md §16), made on first use.
    table: Option<Box<Table>>,
}

impl Fast {
    /// The fast path of `grid`, if its centres are evenly spaced and its window small enough
    /// for the kernels.
    pub(crate) fn new(grid: &Grid, clip: f32, signal: Signal, kernels: Kernels) -> Option<Fast> {
        let plan = Plan::new(grid, clip, signal)?;
        Some(Fast {
            rows: vec![0.0; plan.m * plan.window()],
            bins: vec![[0.0; 4]; plan.bin_scratch()],
            sums: vec![0.0; plan.m],
            isa: Isa::select(kernels),
            plan,
            table: None,
        })
    }

    /// Runs the kernels `kernels` asks for from now on.
    pub(crate) fn set_kernels(&mut self, kernels: Kernels) {
        self.isa = Isa::select(kernels);
    }

    /// The tier's name, for reports.
    pub(crate) fn name(&self) -> &'static str {
        self.isa.name()
    }

    /// Whether the last step's rates came from the table.
    #[cfg(test)]
    pub(crate) fn tabulated(&self) -> bool {
        self.table.as_ref().is_some_and(|t| t.ok)
    }

    /// G (Eq. 4) into `g` and true; or false, changing nothing else, if `cur` is not all
    /// finite (the reference then reports or skips the coordinate).
    pub(crate) fn gradient(&mut self, prev: &[f32], cur: &[f32], g: &mut [f32]) -> bool {
        on_tier!(self.isa, t => self.gradient_on(t, prev, cur, g))
    }

    /// [`Fast::gradient`] on the tier `t`: binned for large tensors, exact rows otherwise.
    #[inline(always)]
    fn gradient_on<T: Tier>(&mut self, t: T, prev: &[f32], cur: &[f32], g: &mut [f32]) -> bool {
        let p = &self.plan;
        self.sums.fill(0.0);
        let finite = if p.use_bins(cur.len(), prev) {
            // The kernel checks finiteness on the way (no separate pass over `cur`).
            let (lo, hi, finite) = t.accumulate_bins(p, prev, cur, &mut self.bins);
            if finite {
                t.flush_bins(p, &mut self.bins, lo, hi, &mut self.sums);
            } else {
                portable::clear_bins(p, &mut self.bins, lo, hi);
            }
            finite
        } else if all_finite(cur) {
            self.rows.fill(0.0);
            t.accumulate_rows(p, prev, cur, &mut self.rows);
            portable::fold_rows(p, &self.rows, &mut self.sums);
            true
        } else {
            false
        };
        if finite {
            let scale = mean_scale(cur.len());
            for (g, &s) in g.iter_mut().zip(&self.sums) {
                *g = (s * scale) as f32;
            }
        }
        finite
    }

    /// Eq. 3 for the finite queries `z` of a step once θ has moved (`padded`: θ with K zeros on
    /// either side), in blocks of at most [`BLOCK`]: calls `f(start, etas, zs)` with
    /// `etas[i] = η̂(clip(z[start + i]))` and `zs[i] = clip(z[start + i])`. From a table of θ
    /// where the tensor is large enough for one to pay and its bound certifies it.
    pub(crate) fn step_rates(
        &mut self,
        padded: &[f32],
        z: &[f32],
        f: impl FnMut(usize, &[f32], &[f32]),
    ) {
        on_tier!(self.isa, t => {
            let tabled = self.prepare_table(t, padded, z);
            self.rates_on(t, padded, z, tabled, f)
        })
    }

    /// [`Fast::step_rates`] without a table: the exact rates, as [`Memory::predict`] computes
    /// them.
    ///
    /// [`Memory::predict`]: crate::Memory::predict
    pub(crate) fn rates(&self, padded: &[f32], z: &[f32], f: impl FnMut(usize, &[f32], &[f32])) {
        on_tier!(self.isa, t => self.rates_on(t, padded, z, false, f))
    }

    /// Makes the table of θ for the queries `z` on the tier `t` if their prediction should use
    /// one, and says whether it may: the table covers the windows that `z` reaches and its
    /// certified error is within [`table::TOLERANCE`].
    #[inline]
    fn prepare_table<T: Tier>(&mut self, t: T, padded: &[f32], z: &[f32]) -> bool {
        if let Some(table) = &mut self.table {
            table.ok = false;
        }
        let Some((table, windows)) = Table::for_step(&mut self.table, &self.plan, z) else {
            return false;
        };
        let eps = t.build_table(table, padded, windows);
        table.ok = eps <= table::TOLERANCE;
        table.ok
    }

    /// The rates of `z` on the tier `t`, from the table if `tabled`.
    #[inline(always)]
    fn rates_on<T: Tier>(
        &self,
        t: T,
        padded: &[f32],
        z: &[f32],
        tabled: bool,
        mut f: impl FnMut(usize, &[f32], &[f32]),
    ) {
        let mut eta = [0.0f32; BLOCK];
        let mut zc = [0.0f32; BLOCK];
        let table = match &self.table {
            Some(table) if tabled => Some(table),
            _ => None,
        };
        for (b, zb) in z.chunks(BLOCK).enumerate() {
            let n = zb.len();
            match table {
                Some(table) => t.predict_table(table, zb, &mut eta, &mut zc),
                None => t.predict_block(&self.plan, padded, zb, &mut eta, &mut zc),
            }
            f(b * BLOCK, &eta[..n], &zc[..n]);
        }
    }
}

#[cfg(test)]
mod tests;
