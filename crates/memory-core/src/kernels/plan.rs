//! What the kernels know about a grid of evenly spaced centres ([`Plan`]), and the constants of
//! the binned update of large tensors ([`Bins`]), whose error bound this module proves.
//!
//! ## The binned update (large tensors)
//! Scattering 2K+1 = 9 values per coordinate is what limits the exact update. For large tensors
//! each row is split into `nb` bins of width β = 1/nb spacings; a coordinate at bin centre ρ plus
//! δ (|δ| ≤ β/2) adds the four moments s·(1, δ, δ², δ³) to its bin (one 4-wide f64 add), and at the
//! end of the step every bin's moments are turned into its contribution to the 2K+1 centres of its
//! row with precomputed coefficients: ψ(ρ + δ − i) = ψ(ρ − i) · e^{y}, y = −2h(ρ−i)δ − hδ², and e^{y}
//! is replaced by its Taylor polynomial of degree 3 in δ. **Error bound**: with
//! x = 2h(K+½)·β/2 + h(β/2)² ≥ |y|, the coefficients of e^{y(δ)} in δ are dominated by those of
//! e^{x(δ)}, so the remainder is at most e^{x} − (1 + x + x²/2 + x³/6) ≤ x⁴eˣ/24 **relative to each
//! term** s·ψ_m(u). `nb` is chosen so that x ≤ [`X_BIN`] = 0.04: every term is off by at most
//! 1.1·10⁻⁷ of itself, i.e. |G_m − G_m^exact| ≤ 1.1·10⁻⁷ · mean_d |s_d ψ_m(u_d)|. That is the size
//! of the rounding the exact path already makes when it rounds each term s·ψ to f32 (6·10⁻⁸),
//! and far below what the authors' f32 code makes. `tests::binned_update_error_bound` checks it.

use alloc::vec;
use alloc::vec::Vec;

use crate::kernel::Grid;
use crate::signal::Signal;

/// Coordinates per chunk of the portable kernels (16 f32 = one AVX-512 register).
pub(crate) const LANES: usize = 16;
/// Coordinates per block of rates handed to a caller (the η buffer lives on the stack).
pub(crate) const BLOCK: usize = 256;
/// The fast kernels handle windows of up to 2·MAX_K + 1 centres.
pub(crate) const MAX_K: usize = 15;
/// Bound on |y| of the binned update's Taylor expansion; see the module docs.
pub(crate) const X_BIN: f64 = 0.04;
/// Bins per lane-private window around the bin of z = 0 (see `portable::accumulate_bins`).
pub(crate) const HOT: usize = 64;
/// At most this many bins in all: 4 f64 each, so at most 1 MiB of accumulators.
const MAX_BINS: usize = 1 << 15;

/// What a binned update reports: the bins it touched, `lo..=hi` (none if lo > hi), and whether
/// its current queries were all finite.
pub(crate) type Touched = (usize, usize, bool);

/// What the fast kernels need to know about a memory with evenly spaced centres.
#[derive(Clone)]
pub(crate) struct Plan {
    pub(crate) m: usize,
    pub(crate) k: usize,
    pub(crate) h: f32,
    pub(crate) q: f32,
    pub(crate) clip: f32,
    /// The memory's learning signal s.
    pub(crate) signal: Signal,
    /// u = (z − first)·inv_spacing, in f64.
    pub(crate) first: f64,
    pub(crate) inv_spacing: f64,
    /// q^{n(n−1)/2} for n = 0..=K: the window weight of centre j ± n is a^n or b^n times this.
    pub(crate) qpow: Vec<f32>,
    pub(crate) bins: Option<Bins>,
}

/// The binned update's constants.
#[derive(Clone)]
pub(crate) struct Bins {
    /// Bins per row (per centre).
    pub(crate) nb: usize,
    /// t = z·scale + offset is the position in bins, with bin g covering [g, g + 1).
    pub(crate) scale: f64,
    pub(crate) offset: f64,
    /// coef[(i·nb + kk)·4 + p]: the degree-p Taylor coefficient of ψ_{j−K+i}(j + ρ_kk + δ) in δ.
    pub(crate) coef: Vec<f64>,
    /// First bin and length (≤ [`HOT`]) of the window around z = 0 that every lane has a
    /// private copy of.
    pub(crate) w0: usize,
    pub(crate) hot: usize,
}

impl core::fmt::Debug for Plan {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Plan")
            .field("k", &self.k)
            .field("bins_per_row", &self.bins.as_ref().map(|b| b.nb))
            .finish_non_exhaustive()
    }
}

impl Plan {
    /// The plan of an evenly spaced grid, if its window is small enough for the fast kernels.
    pub(crate) fn new(grid: &Grid, clip: f32, signal: Signal) -> Option<Plan> {
        let u = grid.uniform()?;
        let k = u.k();
        // Narrower kernels than σ = spacing/12.6 (h > 40) take the reference path: their
        // window weights underflow in f32.
        if k > MAX_K || grid.h() > 40.0 {
            return None;
        }
        let m = grid.len();
        let h = grid.h();
        let bins = Bins::new(m, k, h as f64, u.first(), u.inv_spacing());
        let qpow = (0..=k)
            .map(|n| libm::exp(-2.0 * h as f64 * (n * n.saturating_sub(1)) as f64 / 2.0) as f32)
            .collect();
        Some(Plan {
            m,
            k,
            h,
            qpow,
            q: u.q(),
            clip,
            signal,
            first: u.first(),
            inv_spacing: u.inv_spacing(),
            bins,
        })
    }

    /// Window length 2K + 1.
    pub(crate) fn window(&self) -> usize {
        2 * self.k + 1
    }

    /// Bins of the binned update, M·nb (0 without bins).
    pub(crate) fn bin_entries(&self) -> usize {
        self.bins.as_ref().map_or(0, |b| b.nb * self.m)
    }

    /// Length of the binned update's scratch: the M·nb bins, one dummy slot per lane, and
    /// every lane's private window of [`HOT`] bins (0 without bins).
    pub(crate) fn bin_scratch(&self) -> usize {
        match self.bin_entries() {
            0 => 0,
            e => e + LANES + LANES * HOT,
        }
    }

    /// Whether the binned update pays off for a tensor of `len` coordinates whose previous
    /// queries are `prev`. Its end-of-step work is up to nb·(2K+1)·4 f64 multiply-adds per
    /// row of centres that the queries reach (~1.5·10⁴ instructions per row for K = 4, AVX2),
    /// against ~60 instructions per coordinate saved over the exact rows: it wins from about
    /// nb·(2K+1)/8 coordinates per row reached (253 for lm_scale 0.5; measured by instruction
    /// counts). A network's gradients reach a few rows, so mid-sized tensors bin too; the
    /// rows are counted (one pass over `prev`) only where the answer depends on them.
    pub(crate) fn use_bins(&self, len: usize, prev: &[f32]) -> bool {
        let Some(b) = self.bins.as_ref() else {
            return false;
        };
        let per_row = b.nb * self.window() / 8;
        if len < per_row {
            return false;
        }
        if len >= per_row * self.m {
            return true;
        }
        len >= per_row * self.rows_reached(prev)
    }

    /// How many rows (nearest centres) the finite queries `z` fall in, first to last.
    fn rows_reached(&self, z: &[f32]) -> usize {
        self.nearest_span(z).map_or(1, |(a, b)| b - a + 1)
    }

    /// The nearest centres of the smallest and the largest of the finite queries `z`
    /// (clipped); `None` for no queries. One vectorisable pass.
    pub(crate) fn nearest_span(&self, z: &[f32]) -> Option<(usize, usize)> {
        let (mut lo, mut hi) = ([self.clip; LANES], [-self.clip; LANES]);
        let (chunks, rest) = z.as_chunks::<LANES>();
        for c in chunks {
            for l in 0..LANES {
                lo[l] = if c[l] < lo[l] { c[l] } else { lo[l] };
                hi[l] = if c[l] > hi[l] { c[l] } else { hi[l] };
            }
        }
        for (l, &x) in rest.iter().enumerate() {
            lo[l] = if x < lo[l] { x } else { lo[l] };
            hi[l] = if x > hi[l] { x } else { hi[l] };
        }
        let lo = lo.iter().fold(self.clip, |a, &b| a.min(b)).max(-self.clip);
        let hi = hi.iter().fold(-self.clip, |a, &b| a.max(b)).min(self.clip);
        if z.is_empty() || lo > hi {
            return None;
        }
        let last = (self.m - 1) as f64;
        let centre = |x: f32| {
            let u = ((x as f64 - self.first) * self.inv_spacing).clamp(0.0, last);
            libm::round(u) as usize
        };
        Some((centre(lo), centre(hi)))
    }
}

impl Bins {
    fn new(m: usize, k: usize, h: f64, first: f64, inv_spacing: f64) -> Option<Bins> {
        // x = 2h(K+½)·β/2 + h(β/2)² ≤ X_BIN with β = 1/nb.
        let reach = h * (k as f64 + 0.5);
        let mut nb = libm::ceil(reach / X_BIN) as usize;
        if nb == 0 {
            nb = 1;
        }
        while x_of(h, k, nb) > X_BIN {
            nb += 1;
        }
        if nb.checked_mul(m)? > MAX_BINS {
            return None;
        }
        let w = 2 * k + 1;
        let mut coef = vec![0.0f64; w * nb * 4];
        for i in 0..w {
            for kk in 0..nb {
                // Offset of the bin centre from centre j − K + i, in spacings.
                let rho = -0.5 + (kk as f64 + 0.5) / nb as f64;
                let l = rho - (i as f64 - k as f64);
                let e = libm::exp(-h * l * l);
                let c = &mut coef[(i * nb + kk) * 4..][..4];
                c[0] = e;
                c[1] = e * (-2.0 * h * l);
                c[2] = e * (2.0 * h * h * l * l - h);
                c[3] = e * (2.0 * h * h * l - 4.0 / 3.0 * h * h * h * l * l * l);
            }
        }
        let offset = (0.5 - first * inv_spacing) * nb as f64;
        let entries = nb * m;
        let zero_bin = libm::floor(offset).clamp(0.0, (entries - 1) as f64) as usize;
        let hot = HOT.min(entries);
        let w0 = zero_bin.saturating_sub(hot / 2).min(entries - hot);
        Some(Bins {
            nb,
            scale: inv_spacing * nb as f64,
            offset,
            coef,
            w0,
            hot,
        })
    }
}

/// The bound x on |y| for `nb` bins per row (see the module docs).
pub(crate) fn x_of(h: f64, k: usize, nb: usize) -> f64 {
    let half = 0.5 / nb as f64;
    2.0 * h * (k as f64 + 0.5) * half + h * half * half
}

/// The relative error bound x⁴eˣ/24 of one term of the binned update.
#[cfg(test)]
pub(crate) fn bin_error_bound(x: f64) -> f64 {
    x * x * x * x * libm::exp(x) / 24.0
}
