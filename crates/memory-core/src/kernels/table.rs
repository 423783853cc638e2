//! The prediction of a tensor as a table: η̂(z) is one fixed function of z while a step's rates
//! are handed out (θ does not change during the pass), so it is tabulated once per step as
//! piecewise cubic polynomials, and each coordinate costs one table load and three
//! multiply-adds instead of an exponential, a window of 2K+1 θ loads and a division
//! (docs/algorithm.md §16). Every instruction-set tier runs the same source, so the rates are
//! the same bits on every CPU.
//!
//! ## The table
//! In units of the centre spacing u = (z − c₀)/Δc ∈ [0, M − 1], the range is cut into
//! [`SUB`] sub-intervals per spacing, (M − 1)·SUB in all, aligned so that every window boundary
//! u = j + ½ (where the exact path's nearest centre changes) is a knot. On each sub-interval
//! η̂ is the cubic Hermite interpolant of the exact truncated-window prediction of its window j,
//! from the values and derivatives at its two ends, computed in f64, and stored as a cubic in
//! x = z − a_i around the sub-interval's f32 knot a_i (which the lookup recomputes bit for bit).
//! A step makes only the windows its queries reach (one pass over them for their range), so
//! that a network's gradients, which sit in a few windows, pay for a few.
//!
//! ## Error bound
//! η̂ = Σ_i θ_i p_i(u) with p_i = ψ_i / Σ_k ψ_k the normalised kernel weights of the window,
//! which do not depend on θ; interpolation is linear, so the interpolant's error is
//! Σ_i θ_i e_i(u), e_i the error of interpolating p_i. For θ_i > 0 (the table is only used then)
//! the relative error is at most
//!
//! ε = Σ_i θ_i E_i / Σ_i θ_i P_i,   E_i ≥ max |e_i|,  P_i = min p_i  over the sub-interval,
//!
//! by the mediant inequality. P_i is exact: log p_i is concave in u (an affine function minus
//! a log-sum-exp of affine functions; the u² of the Gaussians cancels), so its minimum is at an
//! end. E_i is the largest |e_i| on [`PROBES`] points of the sub-interval, doubled: e_i is
//! p_i⁗(ξ)/4!·(u − u₀)²(u − u₁)² (Hermite's remainder), a smooth bump that the probes resolve
//! to far better than a factor 2. Each step the bound ε of every sub-interval it makes is
//! computed from θ, and the table is used only if the largest is at most [`TOLERANCE`] =
//! 10⁻⁷ (40 times below the tolerance of the parity with the authors' code); otherwise the step
//! predicts exactly. Smooth θ passes with room to spare (ε ≈ 1.5·10⁻⁹ for θ varying by
//! decades across the grid, 2–7·10⁻⁸ for θ drawn independently over nine decades); two
//! neighbouring θ pinned at the floor next to centres six decades higher may not, and then
//! the step predicts exactly. The f32 evaluation adds its own rounding (coefficients rounded to f32
//! and three multiply-adds: a few units in the last place, as the exact f32 path has).

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use super::plan::{Plan, LANES, MAX_K};

/// Sub-intervals per centre spacing (even, so that window boundaries are knots).
pub(crate) const SUB: usize = 128;
/// The largest certified relative error with which the table is used.
pub(crate) const TOLERANCE: f64 = 1e-7;
/// Points per sub-interval at which the basis functions' interpolation error is measured
/// (odd, so that the middle, where Hermite's remainder peaks for a steady p⁗, is one).
const PROBES: usize = 7;
/// The largest table (entries): M ≤ 129 centres at [`SUB`] = 128; more centres predict
/// exactly.
const MAX_SIZE: usize = 16384;
/// Tensors with fewer coordinates predict exactly.
const MIN_LEN: usize = 512;
/// Making one window's part of the table (SUB cubics and their bounds, O(SUB·K)) costs about
/// what the exact prediction of this many coordinates saves over the table's: a step
/// tabulates only if it has this many coordinates per window its queries reach (measured by
/// instruction counts with the AVX2 kernels).
const LEN_PER_WINDOW: usize = 400;
/// From this many coordinates on, the whole table is made without looking for the queries'
/// range (one pass fewer over them; the table is then a small part of the step).
const FULL_LEN: usize = 1 << 18;

/// Whether the table of `plan`'s grid is within [`MAX_SIZE`] and its f32 lookup is sound: the
/// position scale SUB/Δc, the knot step Δc/SUB and the last knot are finite normal f32 (a clip
/// near f32's ends leaves them; such a grid predicts exactly).
fn fits(plan: &Plan) -> bool {
    let intervals = (plan.m.max(2) - 1) * SUB;
    let scale = plan.inv_spacing * SUB as f64;
    let (scale32, step32) = (scale as f32, (1.0 / scale) as f32);
    let last = plan.first as f32 + (intervals + 1) as f32 * step32;
    intervals.next_power_of_two() <= MAX_SIZE
        && scale32.is_normal()
        && step32.is_normal()
        && last.is_finite()
}

/// The table of one memory: its θ-free [`Shape`], made once, and the cubics of θ made by the
/// last step, with whether they were certified.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    shape: Shape,
    clip: f32,
    coef: Vec<[f32; 4]>,
    /// The last step made the cubics (of its θ, for its queries) and their certified error is
    /// within [`TOLERANCE`]: its rates came from the table.
    pub(crate) ok: bool,
}

impl Table {
    /// The table of `plan`'s grid, with no cubics yet.
    pub(crate) fn new(plan: &Plan) -> Table {
        Table {
            shape: Shape::new(plan),
            clip: plan.clip,
            coef: Vec::new(),
            ok: false,
        }
    }

    /// The table for a step's finite queries `z`, made in `slot` on first use, and the windows
    /// of it to make: `None` where tabulating does not pay (a grid whose table would exceed
    /// [`MAX_SIZE`], fewer than [`MIN_LEN`] coordinates, or fewer than [`LEN_PER_WINDOW`] per
    /// window the queries reach).
    pub(crate) fn for_step<'a>(
        slot: &'a mut Option<Box<Table>>,
        plan: &Plan,
        z: &[f32],
    ) -> Option<(&'a mut Table, Range<usize>)> {
        if z.len() < MIN_LEN || plan.m < 2 || !fits(plan) {
            return None;
        }
        let table = slot.get_or_insert_with(|| Box::new(Table::new(plan)));
        let windows = table.shape.windows(plan, z);
        // Making a window's part of the table costs about as much as the exact prediction
        // of a few hundred coordinates.
        if z.len() < LEN_PER_WINDOW * windows.clone().count() {
            return None;
        }
        Some((table, windows))
    }

    /// The cubics of θ for the windows `windows` and their certified bound ([`Shape::build`]).
    #[inline(always)]
    pub(crate) fn build(&mut self, padded: &[f32], windows: Range<usize>) -> f64 {
        self.shape.build(padded, windows, &mut self.coef)
    }

    /// The cubics (as many as the table has entries, once built).
    #[cfg(test)]
    pub(crate) fn coefficients(&self) -> &[[f32; 4]] {
        &self.coef
    }

    /// The tabulated rates of a block ([`Shape::predict_block`]).
    #[inline(always)]
    pub(crate) fn predict_block(&self, z: &[f32], eta: &mut [f32], zc: &mut [f32]) {
        self.shape.predict_block(self.clip, &self.coef, z, eta, zc)
    }
}

/// The θ-free part of the table: kernel values at the knots and each sub-interval's error
/// and minimum tables, per kind of window (which of its 2K+1 centres exist).
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    k: usize,
    m: usize,
    /// ψ_i and dψ_i/du at local knot e (offset −½ + e/SUB from the window's centre), for
    /// i = 0..2K+1 (centre j − K + i): `psi[i * (SUB + 1) + e]`.
    psi: Vec<f64>,
    dpsi: Vec<f64>,
    /// Per kind of window.
    kinds: Vec<Kind>,
    /// The kind of window j.
    kind_of: Vec<usize>,
    /// The position in sub-intervals, t = (z − first)·scale (f64 for the build, f32 for the
    /// lookup), and the knots a_i = first + i·step in f32, computed the same way by the build
    /// and the lookup so that both see the same bits.
    scale: f64,
    first: f32,
    scale32: f32,
    step32: f32,
    /// The last sub-interval, (M − 1)·SUB − 1, and the table's length, a power of two above
    /// it (so that a masked index is in bounds by construction).
    last: u32,
    size: usize,
}

/// The tables of one kind of window.
#[derive(Debug, Clone)]
struct Kind {
    /// 1/D and D'/D at the knots (D = Σ of the existing ψ_i).
    inv_d: Vec<f64>,
    dd_over_d: Vec<f64>,
    /// `err[i * SUB + s]` = E_i and `low[i * SUB + s]` = P_i of sub-interval s.
    err: Vec<f64>,
    low: Vec<f64>,
}

impl Shape {
    /// The θ-free tables for `plan`'s grid.
    pub(crate) fn new(plan: &Plan) -> Shape {
        let (k, m, h) = (plan.k, plan.m, plan.h as f64);
        let w = 2 * k + 1;
        let mut psi = vec![0.0; (SUB + 1) * w];
        let mut dpsi = vec![0.0; (SUB + 1) * w];
        for e in 0..SUB + 1 {
            let r = knot(e);
            for i in 0..w {
                let x = r - (i as f64 - k as f64);
                let v = libm::exp(-h * x * x);
                psi[i * (SUB + 1) + e] = v;
                dpsi[i * (SUB + 1) + e] = -2.0 * h * x * v;
            }
        }
        let mut kinds: Vec<(usize, usize, Kind)> = Vec::new();
        let mut kind_of = Vec::with_capacity(m);
        for j in 0..m {
            let (left, right) = (j.min(k), (m - 1 - j).min(k));
            let at = match kinds.iter().position(|&(l, r, _)| (l, r) == (left, right)) {
                Some(at) => at,
                None => {
                    kinds.push((left, right, Kind::new(k, h, left, right, &psi, &dpsi)));
                    kinds.len() - 1
                }
            };
            kind_of.push(at);
        }
        let scale = plan.inv_spacing * SUB as f64;
        let intervals = ((m - 1) * SUB).max(1);
        Shape {
            k,
            m,
            psi,
            dpsi,
            kinds: kinds.into_iter().map(|(_, _, kind)| kind).collect(),
            kind_of,
            scale,
            first: plan.first as f32,
            scale32: scale as f32,
            step32: (1.0 / scale) as f32,
            last: (intervals - 1) as u32,
            size: intervals.next_power_of_two(),
        }
    }

    /// The windows (nearest centres) that the finite queries `z` reach, with one more on
    /// either side: the part of the table a prediction of `z` reads, even where the f32
    /// lookup rounds across a window's edge.
    pub(crate) fn windows(&self, plan: &Plan, z: &[f32]) -> Range<usize> {
        if z.len() >= FULL_LEN {
            return 0..self.m;
        }
        match plan.nearest_span(z) {
            Some((a, b)) => a.saturating_sub(1)..(b + 2).min(self.m),
            None => 0..self.m,
        }
    }

    /// Fills the part of `coef` for the windows `windows` with the table of θ (`padded`: θ
    /// with K zeros on either side) and returns the certified bound ε of that part (∞ if
    /// some θ ≤ 0). The table has (M − 1)·[`SUB`] sub-intervals (padded to a power of two;
    /// the rest of `coef` keeps what it held). M ≥ 2.
    #[inline(always)]
    pub(crate) fn build(
        &self,
        padded: &[f32],
        windows: Range<usize>,
        coef: &mut Vec<[f32; 4]>,
    ) -> f64 {
        let (k, m) = (self.k, self.m);
        let w = 2 * k + 1;
        if self.size > MAX_SIZE || padded[k..k + m].iter().any(|&t| t.is_nan() || t <= 0.0) {
            return f64::INFINITY;
        }
        if coef.len() != self.size {
            coef.clear();
            coef.resize(self.size, [0.0; 4]);
        }
        let dt = 1.0 / SUB as f64;
        let mut worst = 0.0f64;
        // Per window: N and N' at the knots, the bound's sums per sub-interval, then the
        // cubics. Every inner loop runs over knots or sub-intervals, so it vectorises.
        let (mut n, mut dn) = ([0.0f64; SUB + 1], [0.0f64; SUB + 1]);
        let (mut num, mut den) = ([0.0f64; SUB], [0.0f64; SUB]);
        let (mut f, mut df) = ([0.0f64; SUB + 1], [0.0f64; SUB + 1]);
        for j in windows.start..windows.end.min(m) {
            let kind = &self.kinds[self.kind_of[j]];
            n.fill(0.0);
            dn.fill(0.0);
            num.fill(0.0);
            den.fill(0.0);
            for (i, &t) in padded[j..j + w].iter().enumerate() {
                // Centres beyond the grid's ends are zeros in `padded`.
                let t = t as f64;
                let (ps, ds) = (
                    &self.psi[i * (SUB + 1)..][..SUB + 1],
                    &self.dpsi[i * (SUB + 1)..][..SUB + 1],
                );
                for e in 0..SUB + 1 {
                    n[e] += t * ps[e];
                    dn[e] += t * ds[e];
                }
                let (er, lw) = (&kind.err[i * SUB..][..SUB], &kind.low[i * SUB..][..SUB]);
                for s in 0..SUB {
                    num[s] += t * er[s];
                    den[s] += t * lw[s];
                }
            }
            for e in 0..SUB + 1 {
                f[e] = n[e] * kind.inv_d[e];
                df[e] = (dn[e] * kind.inv_d[e] - f[e] * kind.dd_over_d[e]) * dt;
            }
            // Sub-intervals of window j inside [0, M − 1]: local s in lo..hi, global
            // index base + s.
            let lo = if j == 0 { SUB / 2 } else { 0 };
            let hi = if j == m - 1 { SUB / 2 } else { SUB };
            let base = (j * SUB).wrapping_sub(SUB / 2);
            for s in lo..hi {
                worst = worst.max(num[s] / den[s]);
                let (f0, f1, d0, d1) = (f[s], f[s + 1], df[s], df[s + 1]);
                // The Hermite cubic in φ = position within the sub-interval ∈ [0, 1] …
                let c = [
                    f0,
                    d0,
                    3.0 * (f1 - f0) - 2.0 * d0 - d1,
                    2.0 * (f0 - f1) + d0 + d1,
                ];
                // … rewritten in x = z − a_g, with a_g the f32 knot the lookup computes:
                // φ = φ₀ + x·scale, φ₀ = (a_g − exact knot)·scale (a rounding, tiny).
                let g = base.wrapping_add(s);
                let a = self.knot32(g as i32) as f64;
                let phi0 = (a - self.first as f64) * self.scale - g as f64;
                let cubic = shift(c, phi0, self.scale);
                // A cubic that does not fit f32 (its x^p coefficient scales as (SUB/Δc)^p: a
                // tiny clip) certifies nothing: the step then predicts exactly.
                if !cubic.iter().all(|x| x.is_finite()) {
                    worst = f64::INFINITY;
                }
                coef[g] = cubic;
            }
        }
        worst
    }

    /// η̂ of one chunk from the table `coef` (built for this grid), and the clipped queries.
    #[inline(always)]
    pub(crate) fn predict_chunk<const N: usize>(
        &self,
        clip: f32,
        coef: &[[f32; 4]; N],
        z: &[f32; LANES],
    ) -> ([f32; LANES], [f32; LANES]) {
        // N is a power of two: the masked indices below are in bounds by their type.
        let mask = N - 1;
        let mut idx = [0u32; LANES];
        let mut x = [0.0f32; LANES];
        let mut zc = [0.0f32; LANES];
        for l in 0..LANES {
            zc[l] = z[l].clamp(-clip, clip);
            // The sub-interval ⌊t⌋ by rounding t − ½ in f32 (off by one only within a
            // rounding of a knot, where the neighbouring cubic agrees), kept in the table.
            let t = (zc[l] - self.first) * self.scale32 - 0.5;
            let i = ((t + MAGIC32).to_bits() as i32 & 0x7F_FFFF) - 0x40_0000;
            let i = i.max(0).min(self.last as i32);
            idx[l] = i as u32;
            x[l] = zc[l] - self.knot32(i);
        }
        let mut c = [[0.0f32; LANES]; 4];
        for l in 0..LANES {
            let q = coef[idx[l] as usize & mask];
            for p in 0..4 {
                c[p][l] = q[p];
            }
        }
        let mut eta = [0.0f32; LANES];
        for l in 0..LANES {
            let x = x[l];
            eta[l] = c[0][l] + x * (c[1][l] + x * (c[2][l] + x * c[3][l]));
        }
        (eta, zc)
    }

    /// [`Shape::predict_chunk`] over a block (any length ≤ [`BLOCK`](super::BLOCK)), with the
    /// table `coef` that [`Shape::build`] made (`size` entries).
    #[inline(always)]
    pub(crate) fn predict_block(
        &self,
        clip: f32,
        coef: &[[f32; 4]],
        z: &[f32],
        eta: &mut [f32],
        zc: &mut [f32],
    ) {
        macro_rules! sized {
            ($($n:literal)*) => {
                match coef.len() {
                    $($n => {
                        if let Ok(c) = <&[[f32; 4]; $n]>::try_from(coef) {
                            self.block(clip, c, z, eta, zc);
                        }
                    })*
                    _ => debug_assert!(false, "a table of {} entries", coef.len()),
                }
            };
        }
        // Every power of two up to MAX_SIZE.
        sized!(128 256 512 1024 2048 4096 8192 16384);
    }

    #[inline(always)]
    fn block<const N: usize>(
        &self,
        clip: f32,
        coef: &[[f32; 4]; N],
        z: &[f32],
        eta: &mut [f32],
        zc: &mut [f32],
    ) {
        let n = z.len();
        let (eta, zc) = (&mut eta[..n], &mut zc[..n]);
        let (zs, rest) = z.as_chunks::<LANES>();
        let (es, _) = eta.as_chunks_mut::<LANES>();
        let (cs, _) = zc.as_chunks_mut::<LANES>();
        for ((zz, e), c) in zs.iter().zip(es).zip(cs) {
            (*e, *c) = self.predict_chunk(clip, coef, zz);
        }
        if !rest.is_empty() {
            let full = n - rest.len();
            let mut zz = [0.0f32; LANES];
            zz[..rest.len()].copy_from_slice(rest);
            let (e, c) = self.predict_chunk(clip, coef, &zz);
            eta[full..].copy_from_slice(&e[..rest.len()]);
            zc[full..].copy_from_slice(&c[..rest.len()]);
        }
    }
}

impl Shape {
    /// The f32 knot a_i = first + i·step of sub-interval i, as the lookup computes it.
    #[inline(always)]
    fn knot32(&self, i: i32) -> f32 {
        self.first + i as f32 * self.step32
    }
}

/// Local position of knot e: −½ + e/SUB spacings from the window's centre.
fn knot(e: usize) -> f64 {
    -0.5 + e as f64 / SUB as f64
}

/// 1.5·2²³: for |x| < 2²², `x + MAGIC32` rounds x to the nearest integer n, and the low 23
/// bits of the sum's bit pattern are n + 2²²; unlike `as` casts this vectorises.
const MAGIC32: f32 = 12_582_912.0;

/// The cubic Σ c_p φ^p rewritten in x with φ = φ₀ + x·scale, rounded to f32.
fn shift(c: [f64; 4], phi0: f64, scale: f64) -> [f32; 4] {
    let p = phi0;
    let d0 = c[0] + p * (c[1] + p * (c[2] + p * c[3]));
    let d1 = c[1] + p * (2.0 * c[2] + 3.0 * p * c[3]);
    let d2 = c[2] + 3.0 * p * c[3];
    [
        d0 as f32,
        (d1 * scale) as f32,
        (d2 * scale * scale) as f32,
        (c[3] * scale * scale * scale) as f32,
    ]
}

impl Kind {
    /// The tables of a window with `left` and `right` existing neighbours of its centre.
    fn new(k: usize, h: f64, left: usize, right: usize, psi: &[f64], dpsi: &[f64]) -> Kind {
        let w = 2 * k + 1;
        let exists: Vec<f64> = (0..w)
            .map(|i| f64::from(u8::from(i + left >= k && i <= k + right)))
            .collect();
        let mut inv_d = vec![0.0; SUB + 1];
        let mut dd_over_d = vec![0.0; SUB + 1];
        for e in 0..SUB + 1 {
            let d: f64 = (0..w).map(|i| exists[i] * psi[i * (SUB + 1) + e]).sum();
            let dd: f64 = (0..w).map(|i| exists[i] * dpsi[i * (SUB + 1) + e]).sum();
            inv_d[e] = 1.0 / d;
            dd_over_d[e] = dd / d;
        }
        // p_i (and p_i') of every i at a local position: one D per point.
        let basis = |r: f64, p: &mut [f64], dp: &mut [f64]| {
            let (mut d, mut dd) = (0.0, 0.0);
            for i in 0..w {
                let y = r - (i as f64 - k as f64);
                let v = exists[i] * libm::exp(-h * y * y);
                p[i] = v;
                dp[i] = -2.0 * h * y * v;
                d += v;
                dd += dp[i];
            }
            for i in 0..w {
                dp[i] = (dp[i] * d - p[i] * dd) / (d * d);
                p[i] /= d;
            }
        };
        let dt = 1.0 / SUB as f64;
        let mut err = vec![0.0; SUB * w];
        let mut low = vec![0.0; SUB * w];
        const N: usize = 2 * MAX_K + 1;
        let (mut p1, mut q1) = ([0.0; N], [0.0; N]);
        let (mut p, mut q) = ([0.0; N], [0.0; N]);
        basis(knot(0), &mut p1[..w], &mut q1[..w]);
        for s in 0..SUB {
            let (p0, q0) = (p1, q1);
            basis(knot(s + 1), &mut p1[..w], &mut q1[..w]);
            let mut e_max = [0.0f64; N];
            for probe in 1..=PROBES {
                let f = probe as f64 / (PROBES + 1) as f64;
                basis(knot(s) + f * dt, &mut p[..w], &mut q[..w]);
                for i in 0..w {
                    let (a0, a1) = (q0[i] * dt, q1[i] * dt);
                    let c2 = 3.0 * (p1[i] - p0[i]) - 2.0 * a0 - a1;
                    let c3 = 2.0 * (p0[i] - p1[i]) + a0 + a1;
                    let interp = p0[i] + f * (a0 + f * (c2 + f * c3));
                    e_max[i] = e_max[i].max((p[i] - interp).abs());
                }
            }
            for i in 0..w {
                low[i * SUB + s] = p0[i].min(p1[i]);
                err[i * SUB + s] = 2.0 * e_max[i];
            }
        }
        Kind {
            inv_d,
            dd_over_d,
            err,
            low,
        }
    }
}
