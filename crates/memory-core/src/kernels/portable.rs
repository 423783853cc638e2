//! The portable tier: the kernels in portable, vectorisable Rust, and the source that the AVX2
//! tier compiles again with AVX2 + FMA enabled.
//!
//! Everything here computes what the reference (module `reference`) computes, in a different
//! order: coordinates are processed in chunks of [`LANES`] held in fixed-size arrays (so that the
//! compiler maps each arithmetic loop onto SIMD registers, with no bounds checks and no division
//! except η = N/D), and the data-dependent parts (which centre a gradient is nearest to) are
//! plain scalar loads and stores.
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
//! Each coordinate adds the moments s·(1, δ, δ², δ³) of its offset δ from its bin's centre to
//! the bin, and the end of the step turns the bins into G with a degree-3 Taylor expansion of
//! the kernel (the error bound is in the `plan` module).

use core::ops::Range;

use super::plan::{Bins, Plan, Touched, HOT, LANES, MAX_K};
use super::table::Table;
use super::Tier;
use crate::kernel::exp;
use crate::signal::Signal;

/// The portable tier, which every CPU runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Portable;

impl Tier for Portable {
    fn accumulate_rows(self, p: &Plan, prev: &[f32], cur: &[f32], acc: &mut [f64]) {
        accumulate_rows(p, prev, cur, acc)
    }

    fn accumulate_bins(self, p: &Plan, prev: &[f32], cur: &[f32], acc: &mut [[f64; 4]]) -> Touched {
        accumulate_bins(p, prev, cur, acc)
    }

    fn flush_bins(self, p: &Plan, acc: &mut [[f64; 4]], lo: usize, hi: usize, g: &mut [f64]) {
        flush_bins(p, acc, lo, hi, g)
    }

    fn predict_block(self, p: &Plan, padded: &[f32], z: &[f32], eta: &mut [f32], zc: &mut [f32]) {
        predict_block(p, padded, z, eta, zc)
    }

    fn build_table(self, table: &mut Table, padded: &[f32], windows: Range<usize>) -> f64 {
        table.build(padded, windows)
    }

    fn predict_table(self, table: &Table, z: &[f32], eta: &mut [f32], zc: &mut [f32]) {
        table.predict_block(z, eta, zc)
    }
}

/// 1.5·2⁵²: for |x| < 2⁵¹, `x + MAGIC` rounds x to the nearest integer (ties to even) and the low
/// 32 bits of the result's bit pattern hold that integer. Unlike `as` casts this vectorises.
const MAGIC: f64 = 6_755_399_441_055_744.0;

/// Rounds `x` (|x| < 2³¹) to the nearest integer: (as f64, as u32 bit pattern of an i32).
#[inline(always)]
fn round_f64(x: f64) -> (f64, u32) {
    let t = x + MAGIC;
    (t - MAGIC, t.to_bits() as u32)
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
pub(crate) fn accumulate_rows(p: &Plan, prev: &[f32], cur: &[f32], acc: &mut [f64]) {
    let signal = p.signal;
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
pub(super) fn accumulate_bins(
    p: &Plan,
    prev: &[f32],
    cur: &[f32],
    acc: &mut [[f64; 4]],
) -> Touched {
    let signal = p.signal;
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

/// Exact prediction of a block (any length ≤ [`BLOCK`](super::BLOCK)) into `eta` and `zc`.
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
