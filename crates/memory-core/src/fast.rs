//! The hot loops for evenly spaced centres: a whole tensor's memory gradient G (Eq. 4) and its
//! learning rates η (Eq. 3) per step, in portable, vectorisable Rust.
//!
//! Everything here computes what [`crate::Memory`]'s reference paths compute, in a different
//! order: coordinates are processed in chunks of [`LANES`] held in fixed-size arrays (so that the
//! compiler maps each arithmetic loop onto SIMD registers, with no bounds checks and no division
//! except η = N/D), and the data-dependent parts (which centre a gradient is nearest to) are
//! plain scalar loads and stores. [`crate::simd`] has AVX-512 versions of the two hottest loops
//! and chooses between them at run time.
//!
//! ## Prediction (exact)
//! For u = (z − c₀)/Δc = j + r with j the nearest centre and |r| ≤ ½, the window weights relative
//! to centre j are 1, a, a²q, a³q³, … to the right and b, b²q, … to the left with a = e^{(2r−1)h},
//! b = e^{−(2r+1)h}, q = e^{−2h}: two exponentials per coordinate, products for the rest. η = N/D
//! with N = Σ w θ, D = Σ w over the centres that exist. Same formula as [`crate::Memory::predict`].
//!
//! ## Update, exact ("rows")
//! The same window with absolute weights ψ (centre weight e^{−hr²}), times the signal s, summed per
//! nearest centre j into a row of 2K+1 f64 accumulators and folded onto centres at the end.
//!
//! ## Update, binned (large tensors)
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

use crate::kernel::{exp, Grid};
use crate::signal::Signal;

/// Coordinates per chunk of the portable kernels (16 f32 = one AVX-512 register).
pub(crate) const LANES: usize = 16;
/// Coordinates per block of rates handed to a caller (the η buffer lives on the stack).
pub(crate) const BLOCK: usize = 256;
/// The fast kernels handle windows of up to 2·MAX_K + 1 centres.
pub(crate) const MAX_K: usize = 15;
/// Bound on |y| of the binned update's Taylor expansion; see the module docs.
pub(crate) const X_BIN: f64 = 0.04;
/// Bins per lane-private window around the bin of z = 0 (see [`accumulate_bins`]).
pub(crate) const HOT: usize = 64;
/// At most this many bins in all: 4 f64 each, so at most 1 MiB of accumulators.
const MAX_BINS: usize = 1 << 15;

/// 1.5·2⁵²: for |x| < 2⁵¹, `x + MAGIC` rounds x to the nearest integer (ties to even) and the low
/// 32 bits of the result's bit pattern hold that integer. Unlike `as` casts this vectorises.
const MAGIC: f64 = 6_755_399_441_055_744.0;

/// Rounds `x` (|x| < 2³¹) to the nearest integer: (as f64, as u32 bit pattern of an i32).
#[inline(always)]
fn round_f64(x: f64) -> (f64, u32) {
    let t = x + MAGIC;
    (t - MAGIC, t.to_bits() as u32)
}

/// What the fast kernels need to know about a memory with evenly spaced centres.
#[derive(Clone)]
pub(crate) struct Plan {
    pub(crate) m: usize,
    pub(crate) k: usize,
    pub(crate) h: f32,
    pub(crate) q: f32,
    pub(crate) clip: f32,
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
    pub(crate) fn new(grid: &Grid, clip: f32) -> Option<Plan> {
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

/// True if every value is finite; one vectorisable pass.
pub(crate) fn all_finite(z: &[f32]) -> bool {
    let mut ok = true;
    let mut chunks = z.chunks_exact(LANES);
    for c in &mut chunks {
        let mut all = true;
        for &x in c {
            all &= x.is_finite();
        }
        ok &= all;
    }
    ok && chunks.remainder().iter().all(|x| x.is_finite())
}

/// Pairs of full chunks of `prev` and `cur`.
pub(crate) type ChunkIter<'a> =
    core::iter::Zip<core::slice::Iter<'a, [f32; LANES]>, core::slice::Iter<'a, [f32; LANES]>>;
/// The last, partial chunks, padded with zeros.
pub(crate) type Tail = ([f32; LANES], [f32; LANES]);

/// Full chunks of LANES coordinates of `prev` and `cur`, then the tail padded with zeros
/// (z = 0 gives s = 0: no contribution).
#[inline(always)]
pub(crate) fn chunk_pairs<'a>(prev: &'a [f32], cur: &'a [f32]) -> (ChunkIter<'a>, Option<Tail>) {
    let n = prev.len().min(cur.len());
    let (prev, cur) = (&prev[..n], &cur[..n]);
    let full = n - n % LANES;
    let body = prev[..full]
        .as_chunks::<LANES>()
        .0
        .iter()
        .zip(cur[..full].as_chunks::<LANES>().0);
    let tail = (full < n).then(|| {
        let (mut p, mut c) = ([0.0f32; LANES], [0.0f32; LANES]);
        p[..n - full].copy_from_slice(&prev[full..]);
        c[..n - full].copy_from_slice(&cur[full..]);
        (p, c)
    });
    (body, tail)
}

/// The signal of a chunk, both inputs already clipped.
#[inline(always)]
fn signal_chunk(signal: Signal, zc: &[f32; LANES], zp: &[f32; LANES]) -> [f32; LANES] {
    let mut s = [0.0f32; LANES];
    match signal {
        Signal::Sign => {
            for l in 0..LANES {
                let p = zc[l] * zp[l];
                s[l] = if p > 0.0 {
                    1.0
                } else if p < 0.0 {
                    -1.0
                } else {
                    0.0
                };
            }
        }
        _ => {
            for l in 0..LANES {
                s[l] = (zc[l] * zp[l]).clamp(-1.0, 1.0);
            }
        }
    }
    s
}

#[inline(always)]
fn clip_chunk(z: &[f32; LANES], clip: f32) -> [f32; LANES] {
    let mut o = [0.0f32; LANES];
    for l in 0..LANES {
        o[l] = z[l].clamp(-clip, clip);
    }
    o
}

/// Nearest centre j (clamped to the grid) and offset r = u − j of each lane.
#[inline(always)]
fn locate(p: &Plan, zc: &[f32; LANES]) -> ([u32; LANES], [f32; LANES]) {
    let last = (p.m - 1) as f64;
    let mut j = [0u32; LANES];
    let mut r = [0.0f32; LANES];
    for l in 0..LANES {
        let pos = ((zc[l] as f64 - p.first) * p.inv_spacing).clamp(0.0, last);
        let (jf, ji) = round_f64(pos);
        j[l] = ji;
        r[l] = (pos - jf) as f32;
    }
    (j, r)
}

#[inline(always)]
fn exp_chunk(x: [f32; LANES]) -> [f32; LANES] {
    let mut o = [0.0f32; LANES];
    for l in 0..LANES {
        o[l] = exp(x[l]);
    }
    o
}

/// Exact update: adds s·ψ_{j−K+i}(u) to `acc[j·w + i]` (f64) for every coordinate.
/// `acc` holds M rows of w = 2K+1 entries.
#[inline(always)]
pub(crate) fn accumulate_rows(
    p: &Plan,
    signal: Signal,
    prev: &[f32],
    cur: &[f32],
    acc: &mut [f64],
) {
    let acc = &mut acc[..p.m * p.window()];
    let (body, tail) = chunk_pairs(prev, cur);
    // Scratch arrays sized for the window (the default K = 4 has its own copy, so that they
    // live in registers and are not zeroed per chunk).
    if p.k <= 4 {
        for (pc, cc) in body.chain(tail.as_ref().map(|(p, c)| (p, c))) {
            rows_chunk::<9>(p, signal, pc, cc, acc);
        }
    } else {
        for (pc, cc) in body.chain(tail.as_ref().map(|(p, c)| (p, c))) {
            rows_chunk::<{ 2 * MAX_K + 1 }>(p, signal, pc, cc, acc);
        }
    }
}

/// [`accumulate_rows`] for one chunk.
#[inline(always)]
fn rows_chunk<const W: usize>(
    p: &Plan,
    signal: Signal,
    pc: &[f32; LANES],
    cc: &[f32; LANES],
    acc: &mut [f64],
) {
    let (k, w, h, q) = (p.k, p.window(), p.h, p.q);
    let rows = p.m;
    let mut wts = [[0.0f32; LANES]; W];
    {
        let zp = clip_chunk(pc, p.clip);
        let zc = clip_chunk(cc, p.clip);
        let s = signal_chunk(signal, &zc, &zp);
        let (j, r) = locate(p, &zp);
        let mut ea = [0.0f32; LANES];
        let mut eb = [0.0f32; LANES];
        let mut ec = [0.0f32; LANES];
        for l in 0..LANES {
            ea[l] = (2.0 * r[l] - 1.0) * h;
            eb[l] = (-2.0 * r[l] - 1.0) * h;
            ec[l] = -(r[l] * r[l]) * h;
        }
        let (a, b, c) = (exp_chunk(ea), exp_chunk(eb), exp_chunk(ec));
        let mut right = [0.0f32; LANES];
        let mut left = [0.0f32; LANES];
        let (mut fr, mut fl) = (a, b);
        for l in 0..LANES {
            right[l] = c[l] * s[l];
            left[l] = right[l];
        }
        wts[k] = right;
        for n in 1..=k {
            for l in 0..LANES {
                right[l] *= fr[l];
                fr[l] *= q;
                left[l] *= fl[l];
                fl[l] *= q;
            }
            wts[k + n] = right;
            wts[k - n] = left;
        }
        for l in 0..LANES {
            let base = (j[l] as usize).min(rows - 1) * w;
            let row = &mut acc[base..base + w];
            for (i, a) in row.iter_mut().enumerate() {
                *a += wts[i][l] as f64;
            }
        }
    }
}

/// Folds the rows of [`accumulate_rows`] onto centres: G_c += Σ_i acc[(c + K − i)·w + i].
pub(crate) fn fold_rows(p: &Plan, acc: &[f64], g: &mut [f64]) {
    let (k, w, m) = (p.k, p.window(), p.m);
    for j in 0..m {
        let row = &acc[j * w..(j + 1) * w];
        for (i, &a) in row.iter().enumerate() {
            let c = j + i;
            if c >= k && c - k < m {
                g[c - k] += a;
            }
        }
    }
}

/// Binned update of a chunk: bin indices and the payload s·(1, δ, δ², δ³), and whether `cc`
/// was all finite.
#[inline(always)]
pub(crate) fn bin_chunk(
    p: &Plan,
    b: &Bins,
    signal: Signal,
    pc: &[f32; LANES],
    cc: &[f32; LANES],
) -> ([u32; LANES], [[f32; 4]; LANES], bool) {
    let mut finite = true;
    for &x in cc {
        finite &= x.is_finite();
    }
    let zp = clip_chunk(pc, p.clip);
    let zc = clip_chunk(cc, p.clip);
    let s = signal_chunk(signal, &zc, &zp);
    let gmax = (b.nb * p.m - 1) as f64;
    let inv_nb = 1.0 / b.nb as f32;
    let mut g = [0u32; LANES];
    let mut pay = [[0.0f32; 4]; LANES];
    for l in 0..LANES {
        let t = zp[l] as f64 * b.scale + b.offset;
        let (gf, _) = round_f64(t - 0.5);
        let gf = gf.clamp(0.0, gmax);
        let (_, gi) = round_f64(gf);
        g[l] = gi;
        let d = (t - gf - 0.5) as f32 * inv_nb;
        let sd = s[l] * d;
        let sd2 = sd * d;
        pay[l] = [s[l], sd, sd2, sd2 * d];
    }
    (g, pay, finite)
}

/// Binned update: adds each coordinate's moments to its bin. `acc` is the scratch of
/// [`Plan::bin_scratch`]: M·nb bins, one dummy slot per lane, and per lane a private copy of the
/// [`HOT`] bins around z = 0.
///
/// Many coordinates falling into one bin in a row would make one long chain of dependent
/// additions to one memory slot (each waits for the previous one's store). A network's
/// gradients mostly sit near zero, so coordinates whose bin lies in the window around z = 0 add
/// to their lane's private copy instead: a lane sees every 16th coordinate, which is far enough
/// apart. The copies are folded back at the end. (Two shared banks, alternated between
/// consecutive coordinates, were measured too: ~20% faster on concentrated gradients, as much
/// slower on spread ones, 50% for M = 100 whose table then no longer fits in L2.)
///
/// Returns the range of bins touched and whether every value of `cur` was finite (if not, the
/// caller must [`clear_bins`] and take the reference path).
#[inline(always)]
pub(crate) fn accumulate_bins(
    p: &Plan,
    signal: Signal,
    prev: &[f32],
    cur: &[f32],
    acc: &mut [[f64; 4]],
) -> (usize, usize, bool) {
    let Some(b) = p.bins.as_ref() else {
        return (1, 0, true);
    };
    let entries = b.nb * p.m;
    let acc = &mut acc[..p.bin_scratch()];
    let private = entries + LANES;
    let (mut lo, mut hi) = ([u32::MAX; LANES], [0u32; LANES]);
    let mut finite = true;
    let (body, tail) = chunk_pairs(prev, cur);
    for (pc, cc) in body.chain(tail.as_ref().map(|(p, c)| (p, c))) {
        let (g, pay, ok) = bin_chunk(p, b, signal, pc, cc);
        finite &= ok;
        let mut slot = [0usize; LANES];
        for l in 0..LANES {
            lo[l] = lo[l].min(g[l]);
            hi[l] = hi[l].max(g[l]);
            let off = (g[l] as usize).wrapping_sub(b.w0);
            slot[l] = if off < b.hot {
                private + l * HOT + off
            } else {
                g[l] as usize
            };
        }
        for l in 0..LANES {
            for (a, &x) in acc[slot[l]].iter_mut().zip(&pay[l]) {
                *a += x as f64;
            }
        }
    }
    fold_hot(p, acc);
    let lo = lo.iter().copied().min().unwrap_or(u32::MAX) as usize;
    let hi = hi.iter().copied().max().unwrap_or(0) as usize;
    (lo, hi, finite)
}

/// Adds every lane's private window (and zeroes it) into the shared bins.
pub(crate) fn fold_hot(p: &Plan, acc: &mut [[f64; 4]]) {
    let Some(b) = p.bins.as_ref() else {
        return;
    };
    let entries = b.nb * p.m;
    let (main, rest) = acc.split_at_mut(entries + LANES);
    let window = &mut main[b.w0..b.w0 + b.hot];
    for lane in rest.chunks_exact_mut(HOT).take(LANES) {
        for (w, x) in window.iter_mut().zip(lane.iter_mut()) {
            for (a, y) in w.iter_mut().zip(x.iter_mut()) {
                *a += *y;
                *y = 0.0;
            }
        }
    }
}

/// Zeroes the bins `lo..=hi` (after an update that met a non-finite value).
pub(crate) fn clear_bins(p: &Plan, acc: &mut [[f64; 4]], lo: usize, hi: usize) {
    let entries = p.bin_entries();
    if lo > hi || entries == 0 {
        return;
    }
    acc[lo..=hi.min(entries - 1)].fill([0.0; 4]);
}

/// Turns the bins `lo..=hi` into G (adds to `g`) and zeroes them.
#[inline(always)]
pub(crate) fn flush_bins(p: &Plan, acc: &mut [[f64; 4]], lo: usize, hi: usize, g: &mut [f64]) {
    let Some(b) = p.bins.as_ref() else {
        return;
    };
    if lo > hi {
        return;
    }
    let (nb, k, w, m) = (b.nb, p.k, p.window(), p.m);
    for j in lo / nb..=(hi / nb).min(m - 1) {
        // Only the bins of row j within lo..=hi were touched: a network's gradients sit in a
        // few rows, often in part of one.
        let (a, e) = (
            lo.max(j * nb) - j * nb,
            hi.min(j * nb + nb - 1) - j * nb + 1,
        );
        let row = &mut acc[j * nb + a..j * nb + e];
        let moments = row.as_flattened();
        for i in 0..w {
            let c = j + i;
            if c < k || c - k >= m {
                continue;
            }
            let coef = &b.coef[(i * nb + a) * 4..(i * nb + e) * 4];
            g[c - k] += dot(coef, moments);
        }
        row.fill([0.0; 4]);
    }
}

/// Σ a·b in f64 with eight partial sums (vectorisable without reassociating a single sum).
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut s = [0.0f64; 8];
    let n = a.len().min(b.len());
    let (ac, ar) = a[..n].as_chunks::<8>();
    let (bc, br) = b[..n].as_chunks::<8>();
    for (x, y) in ac.iter().zip(bc) {
        for t in 0..8 {
            s[t] += x[t] * y[t];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ar.iter().zip(br) {
        tail += x * y;
    }
    // Halves first, then pairs: the order that keeps the partial sums in two 4-wide registers.
    let h = [s[0] + s[4], s[1] + s[5], s[2] + s[6], s[3] + s[7]];
    ((h[0] + h[2]) + (h[1] + h[3])) + tail
}

/// Exact prediction for one chunk: η of every lane and its clipped query. `padded` is θ with K
/// zeros on either side.
#[inline(always)]
pub(crate) fn predict_chunk<const W: usize>(
    p: &Plan,
    padded: &[f32],
    z: &[f32; LANES],
) -> ([f32; LANES], [f32; LANES]) {
    let (k, h) = (p.k, p.h);
    let m = p.m as u32;
    let zc = clip_chunk(z, p.clip);
    let (j, r) = locate(p, &zc);
    let mut ea = [0.0f32; LANES];
    let mut eb = [0.0f32; LANES];
    for l in 0..LANES {
        ea[l] = (2.0 * r[l] - 1.0) * h;
        eb[l] = (-2.0 * r[l] - 1.0) * h;
    }
    let (a, b) = (exp_chunk(ea), exp_chunk(eb));
    // θ of the window of each lane, slot-major: th[i][l] = θ_{j_l − K + i}.
    let mut th = [[0.0f32; LANES]; W];
    let w = 2 * k + 1;
    let top = padded.len() - w;
    for l in 0..LANES {
        let base = (j[l] as usize).min(top);
        for (i, &t) in padded[base..base + w].iter().enumerate() {
            th[i][l] = t;
        }
    }
    // Weights a^n·q^{n(n−1)/2} to the right, b^n·q^{n(n−1)/2} to the left of centre j.
    let mut num = th[k];
    let mut den = [1.0f32; LANES];
    let (mut pa, mut pb) = (a, b);
    for n in 1..=k {
        let (nu, qn) = (n as u32, p.qpow[n]);
        for l in 0..LANES {
            let (wr, wl) = (pa[l] * qn, pb[l] * qn);
            pa[l] *= a[l];
            pb[l] *= b[l];
            num[l] += wr * th[k + n][l] + wl * th[k - n][l];
            let vr = if j[l] + nu < m { wr } else { 0.0 };
            let vl = if j[l] >= nu { wl } else { 0.0 };
            den[l] += vr + vl;
        }
    }
    let mut eta = [0.0f32; LANES];
    for l in 0..LANES {
        eta[l] = num[l] / den[l];
    }
    (eta, zc)
}

/// Exact prediction of a block (any length ≤ [`BLOCK`]) into `eta` and `zc`.
#[inline(always)]
pub(crate) fn predict_block(p: &Plan, padded: &[f32], z: &[f32], eta: &mut [f32], zc: &mut [f32]) {
    // Scratch sized for the window, as in `accumulate_rows`.
    if p.k <= 4 {
        predict_block_w::<9>(p, padded, z, eta, zc)
    } else {
        predict_block_w::<{ 2 * MAX_K + 1 }>(p, padded, z, eta, zc)
    }
}

#[inline(always)]
fn predict_block_w<const W: usize>(
    p: &Plan,
    padded: &[f32],
    z: &[f32],
    eta: &mut [f32],
    zc: &mut [f32],
) {
    let n = z.len();
    let (eta, zc) = (&mut eta[..n], &mut zc[..n]);
    let mut zs = z.chunks_exact(LANES);
    let mut es = eta.chunks_exact_mut(LANES);
    let mut cs = zc.chunks_exact_mut(LANES);
    for ((zz, e), c) in (&mut zs).zip(&mut es).zip(&mut cs) {
        let zz: &[f32; LANES] = zz.try_into().unwrap_or(&[0.0; LANES]);
        let (ee, cc) = predict_chunk::<W>(p, padded, zz);
        e.copy_from_slice(&ee);
        c.copy_from_slice(&cc);
    }
    let rest = zs.remainder();
    if !rest.is_empty() {
        let mut zz = [0.0f32; LANES];
        zz[..rest.len()].copy_from_slice(rest);
        let (ee, cc) = predict_chunk::<W>(p, padded, &zz);
        let r = rest.len();
        es.into_remainder()[..r].copy_from_slice(&ee[..r]);
        cs.into_remainder()[..r].copy_from_slice(&cc[..r]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Layout;
    use crate::simd::{self, Isa};

    /// A deterministic mix of gradient values: clipped, concentrated near 0, spread, exact zeros.
    fn values(n: usize, clip: f32, seed: u64) -> Vec<f32> {
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|i| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0;
                match i % 7 {
                    0 => 3.0 * clip * u.signum(),
                    1 => 1e-3 * clip * u,
                    2 => 0.0,
                    3 => 1e-6 * u,
                    _ => 1.2 * clip * u,
                }
            })
            .collect()
    }

    fn plan(m: usize, clip: f32, lm_scale: f32) -> (Grid, Plan) {
        let grid = Grid::new(Layout::Linear, m, clip, lm_scale, 9.0);
        let plan = Plan::new(&grid, clip).expect("uniform grid");
        (grid, plan)
    }

    /// Every tier this CPU can run.
    fn isas() -> Vec<Isa> {
        use crate::memory::Kernels;
        let mut v = vec![Isa::portable()];
        for k in [Kernels::Reproducible, Kernels::Fastest] {
            if !v.contains(&Isa::select(k)) {
                v.push(Isa::select(k));
            }
        }
        v
    }

    /// The portable kernels and the tier [`Kernels::Reproducible`] picks on this CPU (AVX2 +
    /// FMA where present) give the same bits: rates, clipped queries, rows and bins.
    #[test]
    fn reproducible_tier_is_bit_identical_to_portable() {
        use crate::memory::Kernels;
        let tiers = [Isa::portable(), Isa::select(Kernels::Reproducible)];
        for (m, clip, lm, signal) in [
            (20, 1.0, 0.5, Signal::ClippedProduct),
            (100, 10.0, 0.5, Signal::Sign),
            (5, 0.3, 1.0, Signal::ClippedProduct),
            (33, 2.0, 0.3, Signal::Sign),
            (2, 1.0, 0.5, Signal::ClippedProduct),
        ] {
            let (_, p) = plan(m, clip, lm);
            let n = 20_011;
            let (prev, cur) = (values(n, clip, m as u64), values(n, clip, 9 + m as u64));
            let theta: Vec<f32> = (0..m).map(|i| 10f32.powi(-((i * 7 % 10) as i32))).collect();
            let mut padded = vec![0.0f32; m + 2 * p.k];
            padded[p.k..p.k + m].copy_from_slice(&theta);
            let outputs = tiers.map(|isa| {
                let mut rows = vec![0.0f64; p.m * p.window()];
                simd::accumulate_rows(isa, &p, signal, &prev, &cur, &mut rows);
                let mut bins = vec![[0.0f64; 4]; p.bin_scratch()];
                let range = simd::accumulate_bins(isa, &p, signal, &prev, &cur, &mut bins);
                let (mut eta, mut zc) = (vec![0.0f32; n], vec![0.0f32; n]);
                for ((zb, eb), cb) in cur
                    .chunks(BLOCK)
                    .zip(eta.chunks_mut(BLOCK))
                    .zip(zc.chunks_mut(BLOCK))
                {
                    simd::predict_block(isa, &p, &padded, zb, eb, cb);
                }
                // The tabulated prediction: its table and its evaluation, each on the tier.
                let shape = crate::table::Shape::new(&p);
                let mut coef = Vec::new();
                let eps = simd::build_table(isa, &shape, &padded, 0..m, &mut coef);
                let mut tabled = vec![0.0f32; n];
                for (zb, eb) in cur.chunks(BLOCK).zip(tabled.chunks_mut(BLOCK)) {
                    simd::predict_table(isa, &shape, p.clip, &coef, zb, eb, &mut [0.0; BLOCK]);
                }
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                let bits32 = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                (
                    bits(&rows),
                    bits(bins.as_flattened()),
                    range,
                    bits32(&eta),
                    bits32(&zc),
                    bits32(&tabled),
                    bits32(coef.as_flattened()),
                    eps.to_bits(),
                )
            });
            let names = tiers.map(|t| t.name());
            assert!(
                outputs[0] == outputs[1],
                "m={m}: {} and {} kernels differ",
                names[0],
                names[1]
            );
        }
    }

    #[test]
    fn bins_meet_their_error_target() {
        for (m, lm) in [
            (2, 0.5),
            (20, 0.5),
            (100, 0.5),
            (10, 1.0),
            (33, 0.2),
            (20, 1.6),
        ] {
            let (grid, p) = plan(m, 1.0, lm);
            if let Some(b) = &p.bins {
                let x = x_of(grid.h() as f64, p.k, b.nb);
                assert!(x <= X_BIN, "m {m} lm {lm}: x {x}");
                assert!(bin_error_bound(x) < 1.2e-7);
            }
        }
    }

    #[test]
    fn binned_update_error_bound() {
        for (m, clip, lm, signal) in [
            (20, 1.0, 0.5, Signal::ClippedProduct),
            (100, 10.0, 0.5, Signal::ClippedProduct),
            (5, 0.3, 1.0, Signal::Sign),
            (33, 2.0, 0.3, Signal::ClippedProduct),
            (2, 1.0, 0.5, Signal::Sign),
        ] {
            let (grid, p) = plan(m, clip, lm);
            let n = 20_011;
            let prev = values(n, clip, m as u64);
            let cur: Vec<f32> = values(n, clip, 7 + m as u64);
            let (want, mag) = crate::reference::exact::gradient(&grid, clip, signal, &prev, &cur);
            for isa in isas() {
                // Exact rows.
                let mut acc = vec![0.0; p.m * p.window()];
                simd::accumulate_rows(isa, &p, signal, &prev, &cur, &mut acc);
                let mut rows = vec![0.0; p.m];
                fold_rows(&p, &acc, &mut rows);
                // Bins.
                let e = p.bin_entries();
                let mut bins = vec![[0.0; 4]; p.bin_scratch()];
                let (lo, hi, finite) =
                    simd::accumulate_bins(isa, &p, signal, &prev, &cur, &mut bins);
                assert!(finite);
                let mut binned = vec![0.0; p.m];
                flush_bins(&p, &mut bins, lo, hi, &mut binned);
                assert!(
                    bins[..e].iter().all(|q| *q == [0.0; 4]),
                    "flush leaves zeros"
                );
                for c in 0..p.m {
                    let tol_rows = 1e-7 * mag[c] + 1e-30;
                    let tol_bins = 2.5e-7 * mag[c] + 1e-30;
                    assert!(
                        (rows[c] - want[c]).abs() <= tol_rows,
                        "{} rows m={m} c={c}: {} vs {}",
                        isa.name(),
                        rows[c],
                        want[c]
                    );
                    if p.bins.is_some() {
                        assert!(
                            (binned[c] - want[c]).abs() <= tol_bins,
                            "{} bins m={m} c={c}: {} vs {} (|.| {})",
                            isa.name(),
                            binned[c],
                            want[c],
                            mag[c]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn binned_update_reports_non_finite_and_clears() {
        let (_, p) = plan(20, 1.0, 0.5);
        for isa in isas() {
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let prev = values(10_007, 1.0, 3);
                let mut cur = values(10_007, 1.0, 4);
                cur[5_003] = bad;
                let mut bins = vec![[0.0; 4]; p.bin_scratch()];
                let (lo, hi, finite) =
                    simd::accumulate_bins(isa, &p, Signal::ClippedProduct, &prev, &cur, &mut bins);
                assert!(!finite, "{} missed {bad}", isa.name());
                clear_bins(&p, &mut bins, lo, hi);
                assert!(bins.iter().all(|q| *q == [0.0; 4]));
            }
        }
    }

    #[test]
    fn vectorised_prediction_matches_scalar() {
        for (m, clip, lm) in [
            (20, 1.0, 0.5),
            (100, 10.0, 0.5),
            (5, 0.3, 1.0),
            (60, 2.0, 0.3),
            (2, 1.0, 0.5),
            (200, 1.0, 0.5),
        ] {
            let config = crate::MemoryConfig {
                num_centers: m,
                clip,
                lm_scale: lm,
                ..crate::MemoryConfig::default()
            };
            let mut mem = crate::Memory::new(config).unwrap();
            // θ spread over nine decades, so that the window's weighting matters.
            let theta: Vec<f32> = (0..m).map(|i| 10f32.powi(-((i * 7 % 10) as i32))).collect();
            mem.set_theta(&theta).unwrap();
            let z = values(1001, clip, m as u64);
            for isa in isas() {
                let mut got = vec![0.0f32; z.len()];
                let mut zc = vec![0.0f32; z.len()];
                let (grid, p) = plan(m, clip, lm);
                drop(grid);
                let mut padded = vec![0.0f32; m + 2 * p.k];
                padded[p.k..p.k + m].copy_from_slice(&theta);
                for (i, (zb, (eb, cb))) in z
                    .chunks(BLOCK)
                    .zip(got.chunks_mut(BLOCK).zip(zc.chunks_mut(BLOCK)))
                    .enumerate()
                {
                    let _ = i;
                    simd::predict_block(isa, &p, &padded, zb, eb, cb);
                }
                for (d, (&x, &e)) in z.iter().zip(&got).enumerate() {
                    let want = mem.predict(x);
                    assert!(
                        (e - want).abs() <= 2e-6 * want,
                        "{} m={m} d={d} z={x}: {e} vs {want}",
                        isa.name()
                    );
                    assert_eq!(zc[d], x.clamp(-clip, clip));
                }
            }
        }
    }
}
