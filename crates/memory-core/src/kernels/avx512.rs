//! The AVX-512 tier ([`Kernels::Fastest`](crate::Kernels::Fastest)): hand-written kernels
//! for the two hottest loops, the binned update and the exact prediction, 16 coordinates per
//! register, with fused multiply-adds, a hardware reciprocal and their own summation order, so
//! that they agree with the portable tier to float rounding only. The other kernels are the
//! AVX2 tier's (the rows and the table's build, bound by memory, not arithmetic) or the
//! portable source compiled for AVX-512 (the table's prediction, the same bits as every tier).
//!
//! # Why this module contains `unsafe`
//! As in the AVX2 tier: calling a `#[target_feature]` function is `unsafe` because running it
//! on a CPU without those features is undefined behaviour. Every such call is made by a method
//! of [`Avx512`], a token that only [`Avx512::detect`] makes, after `std`'s
//! `is_x86_feature_detected!` reported AVX-512 F, DQ and VL besides the AVX2 and FMA of the
//! [`Avx2`] token it holds (its fields are private to this module, so no other code can make
//! one). Intrinsics that only compute are safe inside a function with the features enabled;
//! the only other `unsafe` operations are the unaligned vector loads and stores of fixed-size
//! arrays (`&[f32; 16]` → 64 bytes, `&[f64; 4]`), in bounds by the type of their argument.
//! Audit: search this file for `unsafe`.

use core::arch::x86_64::*;
use core::ops::Range;

use super::avx2::Avx2;
use super::plan::{Plan, Touched, HOT, LANES};
use super::portable;
use super::table::Table;
use super::Tier;
use crate::signal::Signal;

/// Proof that this CPU runs AVX-512 F, DQ and VL, AVX2 and FMA: made only by
/// [`Avx512::detect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Avx512 {
    avx2: Avx2,
}

impl Avx512 {
    /// The tier, if this CPU has AVX-512 F, DQ and VL, AVX2 and FMA.
    pub(crate) fn detect() -> Option<Avx512> {
        let avx2 = Avx2::detect()?;
        (std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512dq")
            && std::is_x86_feature_detected!("avx512vl"))
        .then_some(Avx512 { avx2 })
    }

    /// The AVX2 tier, which every CPU with AVX-512 runs too.
    pub(crate) fn avx2(self) -> Avx2 {
        self.avx2
    }
}

/// The safe entry points: each calls its `#[target_feature]` function, or the AVX2 tier's.
impl Tier for Avx512 {
    #[inline]
    fn accumulate_rows(self, p: &Plan, prev: &[f32], cur: &[f32], acc: &mut [f64]) {
        self.avx2.accumulate_rows(p, prev, cur, acc)
    }

    #[inline]
    fn accumulate_bins(self, p: &Plan, prev: &[f32], cur: &[f32], acc: &mut [[f64; 4]]) -> Touched {
        // SAFETY: `self` exists only if `Avx512::detect` found AVX-512 F/DQ/VL, AVX2 and FMA.
        unsafe { accumulate_bins(p, prev, cur, acc) }
    }

    #[inline]
    fn flush_bins(self, p: &Plan, acc: &mut [[f64; 4]], lo: usize, hi: usize, g: &mut [f64]) {
        self.avx2.flush_bins(p, acc, lo, hi, g)
    }

    #[inline]
    fn predict_block(self, p: &Plan, padded: &[f32], z: &[f32], eta: &mut [f32], zc: &mut [f32]) {
        // SAFETY: `self` exists only if `Avx512::detect` found AVX-512 F/DQ/VL, AVX2 and FMA.
        unsafe { predict_block(p, padded, z, eta, zc) }
    }

    #[inline]
    fn build_table(self, table: &mut Table, padded: &[f32], windows: Range<usize>) -> f64 {
        self.avx2.build_table(table, padded, windows)
    }

    #[inline]
    fn predict_table(self, table: &Table, z: &[f32], eta: &mut [f32], zc: &mut [f32]) {
        // SAFETY: `self` exists only if `Avx512::detect` found AVX-512 F/DQ/VL, AVX2 and FMA.
        unsafe { predict_table(table, z, eta, zc) }
    }
}

const ROUND: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

// The only memory accesses through pointers. Each takes a reference to a fixed-size array,
// so the 64 (or 16, 32) bytes it reads or writes are in bounds by type.

#[inline]
#[target_feature(enable = "avx512f")]
fn load16(a: &[f32; 16]) -> __m512 {
    // SAFETY: `a` is 16 readable f32; loadu has no alignment requirement.
    unsafe { _mm512_loadu_ps(a.as_ptr()) }
}

#[inline]
#[target_feature(enable = "avx512f")]
fn store16(a: &mut [f32; 16], v: __m512) {
    // SAFETY: `a` is 16 writable f32; storeu has no alignment requirement.
    unsafe { _mm512_storeu_ps(a.as_mut_ptr(), v) }
}

#[inline]
#[target_feature(enable = "avx512f,avx512vl")]
fn add_quad(slot: &mut [f64; 4], q: __m256d) {
    // SAFETY: `slot` is 4 readable and writable f64; unaligned access.
    unsafe {
        let s = _mm256_loadu_pd(slot.as_ptr());
        _mm256_storeu_pd(slot.as_mut_ptr(), _mm256_add_pd(s, q));
    }
}

/// e^x as [`crate::kernel::exp`] (same reduction and polynomial), with FMA and `vscalefps`.
#[inline]
#[target_feature(enable = "avx512f")]
fn exp16(x: __m512) -> __m512 {
    let xc = _mm512_min_ps(
        _mm512_max_ps(x, _mm512_set1_ps(-87.3)),
        _mm512_set1_ps(88.0),
    );
    let n =
        _mm512_roundscale_ps::<ROUND>(_mm512_mul_ps(xc, _mm512_set1_ps(core::f32::consts::LOG2_E)));
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693_359_4), xc);
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.121_944_4e-4), r);
    let c = |v: f32| _mm512_set1_ps(v);
    let mut p = _mm512_fmadd_ps(c(1.987_569_1e-4), r, c(1.398_199_9e-3));
    p = _mm512_fmadd_ps(p, r, c(8.333_452e-3));
    p = _mm512_fmadd_ps(p, r, c(4.166_579_6e-2));
    p = _mm512_fmadd_ps(p, r, c(1.666_666_5e-1));
    p = _mm512_fmadd_ps(p, r, c(0.5));
    let y = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, c(1.0)));
    let v = _mm512_scalef_ps(y, n);
    let under = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, c(-87.3));
    _mm512_mask_blend_ps(under, v, _mm512_setzero_ps())
}

/// Both halves of 16 f32 lanes as f64.
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn widen(v: __m512) -> (__m512d, __m512d) {
    (
        _mm512_cvtps_pd(_mm512_castps512_ps256(v)),
        _mm512_cvtps_pd(_mm512_extractf32x8_ps::<1>(v)),
    )
}

/// `widen` as an array.
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn widen_pd(v: __m512) -> [__m512d; 2] {
    let (a, b) = widen(v);
    [a, b]
}

/// Two f64 halves back to 16 f32 lanes.
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn narrow(lo: __m512d, hi: __m512d) -> __m512 {
    _mm512_insertf32x8::<1>(
        _mm512_castps256_ps512(_mm512_cvtpd_ps(lo)),
        _mm512_cvtpd_ps(hi),
    )
}

/// Two f64 halves holding integers to 16 i32 lanes.
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn narrow_i(lo: __m512d, hi: __m512d) -> __m512i {
    _mm512_inserti32x8::<1>(
        _mm512_castsi256_si512(_mm512_cvtpd_epi32(lo)),
        _mm512_cvtpd_epi32(hi),
    )
}

#[inline]
#[target_feature(enable = "avx512f")]
fn clip16(v: __m512, clip: f32) -> __m512 {
    _mm512_min_ps(
        _mm512_max_ps(v, _mm512_set1_ps(-clip)),
        _mm512_set1_ps(clip),
    )
}

#[inline]
#[target_feature(enable = "avx512f")]
fn signal16(signal: Signal, zc: __m512, zp: __m512) -> __m512 {
    let prod = _mm512_mul_ps(zc, zp);
    match signal {
        Signal::Sign => {
            let zero = _mm512_setzero_ps();
            let pos = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(prod, zero);
            let neg = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(prod, zero);
            let s = _mm512_mask_blend_ps(pos, zero, _mm512_set1_ps(1.0));
            _mm512_mask_blend_ps(neg, s, _mm512_set1_ps(-1.0))
        }
        _ => _mm512_min_ps(
            _mm512_max_ps(prod, _mm512_set1_ps(-1.0)),
            _mm512_set1_ps(1.0),
        ),
    }
}

/// The binned update (see [`portable::accumulate_bins`]). Coordinates clipped to ±clip all sit
/// in one bin each; their signals are summed in registers and added to that bin once, so
/// that they do not form one long chain of dependent additions to the same memory. All
/// running state stays in registers (masked stores to memory that is read back in the
/// next chunk would stall on store-to-load forwarding).
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
fn accumulate_bins(p: &Plan, prev: &[f32], cur: &[f32], acc: &mut [[f64; 4]]) -> Touched {
    let signal = p.signal;
    let Some(b) = p.bins.as_ref() else {
        return (1, 0, true);
    };
    let entries = b.nb * p.m;
    let acc = &mut acc[..p.bin_scratch()];
    let (body, tail) = portable::chunk_pairs(prev, cur);
    let clip = p.clip;
    let lanes = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    // Clipped lanes add zeros to their own dummy slot after the bins; bins of the window
    // around z = 0 go to the lane's private copy (see `portable::accumulate_bins`).
    let lane_dummy = _mm512_add_epi32(lanes, _mm512_set1_epi32(entries as i32));
    let w0 = _mm512_set1_epi32(b.w0 as i32);
    let hot = _mm512_set1_epi32(b.hot as i32);
    let private = _mm512_add_epi32(
        _mm512_mullo_epi32(lanes, _mm512_set1_epi32(HOT as i32)),
        _mm512_set1_epi32((entries + LANES) as i32),
    );
    let (scale, offset) = (_mm512_set1_pd(b.scale), _mm512_set1_pd(b.offset));
    let gmax = _mm512_set1_pd((entries - 1) as f64);
    let half = _mm512_set1_pd(0.5);
    let inv_nb = _mm512_set1_ps(1.0 / b.nb as f32);
    let (lo_clip, hi_clip) = (_mm512_set1_ps(-clip), _mm512_set1_ps(clip));
    let zero_d = _mm512_setzero_pd();
    let mut lo = _mm512_set1_epi32(i32::MAX);
    let mut hi = _mm512_set1_epi32(0);
    let (mut s_lo, mut s_hi) = ([zero_d; 2], [zero_d; 2]);
    let mut finite: u16 = 0xFFFF;
    for (pv, cv) in body.chain(tail.as_ref().map(|(p, c)| (p, c))) {
        let zp = _mm512_min_ps(_mm512_max_ps(load16(pv), lo_clip), hi_clip);
        let raw = load16(cv);
        // x − x is 0 for finite x and NaN for ±∞ and NaN.
        finite &= _mm512_cmp_ps_mask::<_CMP_ORD_Q>(_mm512_sub_ps(raw, raw), _mm512_setzero_ps());
        let zc = _mm512_min_ps(_mm512_max_ps(raw, lo_clip), hi_clip);
        let s = signal16(signal, zc, zp);
        let at_lo = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(zp, lo_clip);
        let at_hi = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(zp, hi_clip);
        let clipped = at_lo | at_hi;
        let (sa, sb) = widen(s);
        s_lo[0] = _mm512_mask_add_pd(s_lo[0], at_lo as u8, s_lo[0], sa);
        s_lo[1] = _mm512_mask_add_pd(s_lo[1], (at_lo >> 8) as u8, s_lo[1], sb);
        s_hi[0] = _mm512_mask_add_pd(s_hi[0], at_hi as u8, s_hi[0], sa);
        s_hi[1] = _mm512_mask_add_pd(s_hi[1], (at_hi >> 8) as u8, s_hi[1], sb);
        // Position in bins t, bin g = round(t − ½) and offset δ = t − g − ½ (in bins).
        let (xa, xb) = widen(zp);
        let ta = _mm512_fmadd_pd(xa, scale, offset);
        let tb = _mm512_fmadd_pd(xb, scale, offset);
        let ga = _mm512_roundscale_pd::<ROUND>(_mm512_sub_pd(ta, half));
        let gb = _mm512_roundscale_pd::<ROUND>(_mm512_sub_pd(tb, half));
        let ga = _mm512_min_pd(_mm512_max_pd(ga, zero_d), gmax);
        let gb = _mm512_min_pd(_mm512_max_pd(gb, zero_d), gmax);
        let da = _mm512_sub_pd(_mm512_sub_pd(ta, ga), half);
        let db = _mm512_sub_pd(_mm512_sub_pd(tb, gb), half);
        let g = narrow_i(ga, gb);
        lo = _mm512_mask_min_epi32(lo, !clipped, lo, g);
        hi = _mm512_mask_max_epi32(hi, !clipped, hi, g);
        let off = _mm512_sub_epi32(g, w0);
        let in_hot = _mm512_cmplt_epu32_mask(off, hot);
        let idx = _mm512_mask_blend_epi32(in_hot, g, _mm512_add_epi32(private, off));
        let idx = _mm512_mask_blend_epi32(clipped, idx, lane_dummy);
        let d = _mm512_mul_ps(narrow(da, db), inv_nb);
        let s = _mm512_maskz_mov_ps(!clipped, s);
        let p1 = _mm512_mul_ps(s, d);
        let p2 = _mm512_mul_ps(p1, d);
        let p3 = _mm512_mul_ps(p2, d);
        // Transpose (s, sδ, sδ², sδ³) × 16 lanes into 16 quads: lane 4c + r lands in
        // 128-bit lane c of q_r. Quads and indices leave the registers by extracts
        // (a 512-bit store reloaded in parts would stall on store-to-load forwarding).
        let t0 = _mm512_unpacklo_ps(s, p1);
        let t1 = _mm512_unpackhi_ps(s, p1);
        let t2 = _mm512_unpacklo_ps(p2, p3);
        let t3 = _mm512_unpackhi_ps(p2, p3);
        let q = [
            widen_pd(_mm512_shuffle_ps::<0x44>(t0, t2)),
            widen_pd(_mm512_shuffle_ps::<0xEE>(t0, t2)),
            widen_pd(_mm512_shuffle_ps::<0x44>(t1, t3)),
            widen_pd(_mm512_shuffle_ps::<0xEE>(t1, t3)),
        ];
        scatter_lane::<0>(&q, _mm512_extracti32x4_epi32::<0>(idx), acc);
        scatter_lane::<1>(&q, _mm512_extracti32x4_epi32::<1>(idx), acc);
        scatter_lane::<2>(&q, _mm512_extracti32x4_epi32::<2>(idx), acc);
        scatter_lane::<3>(&q, _mm512_extracti32x4_epi32::<3>(idx), acc);
    }
    portable::fold_hot(p, acc);
    // The clipped coordinates: Σ s at each end, added to its bin with its exact δ.
    let mut lo = _mm512_reduce_min_epi32(lo);
    let mut hi = _mm512_reduce_max_epi32(hi);
    let ends = [
        (_mm512_reduce_add_pd(_mm512_add_pd(s_lo[0], s_lo[1])), -clip),
        (_mm512_reduce_add_pd(_mm512_add_pd(s_hi[0], s_hi[1])), clip),
    ];
    for (sum, z) in ends {
        if sum == 0.0 {
            continue;
        }
        let t = z as f64 * b.scale + b.offset;
        let g = libm::round(t - 0.5).clamp(0.0, (entries - 1) as f64);
        let d = ((t - g - 0.5) as f32 * (1.0 / b.nb as f32)) as f64;
        let gi = g as usize;
        let slot = &mut acc[gi];
        slot[0] += sum;
        slot[1] += sum * d;
        slot[2] += sum * d * d;
        slot[3] += sum * d * d * d;
        lo = lo.min(gi as i32);
        hi = hi.max(gi as i32);
    }
    let finite = finite == 0xFFFF;
    if lo > hi {
        (1, 0, finite)
    } else {
        (lo as usize, hi as usize, finite)
    }
}

/// Adds the quads of 128-bit lane `C` of `q` (coordinates 4C..4C+4) to their slots; `idx`
/// holds the four slot indices. `q[r]` is already widened to f64: lane pair C of it is
/// the 256-bit half C/2 of `q[r][C % 2]`.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
fn scatter_lane<const C: i32>(q: &[[__m512d; 2]; 4], idx: __m128i, acc: &mut [[f64; 4]]) {
    let half = |v: &[__m512d; 2]| {
        let w = v[(C / 2) as usize];
        if C % 2 == 0 {
            _mm512_castpd512_pd256(w)
        } else {
            _mm512_extractf64x4_pd::<1>(w)
        }
    };
    add_quad(
        &mut acc[_mm_extract_epi32::<0>(idx) as u32 as usize],
        half(&q[0]),
    );
    add_quad(
        &mut acc[_mm_extract_epi32::<1>(idx) as u32 as usize],
        half(&q[1]),
    );
    add_quad(
        &mut acc[_mm_extract_epi32::<2>(idx) as u32 as usize],
        half(&q[2]),
    );
    add_quad(
        &mut acc[_mm_extract_epi32::<3>(idx) as u32 as usize],
        half(&q[3]),
    );
}

/// The tabulated prediction, the portable source compiled for AVX-512 (the same bits as
/// every other tier).
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
fn predict_table(table: &Table, z: &[f32], eta: &mut [f32], zc: &mut [f32]) {
    table.predict_block(z, eta, zc)
}

/// The exact prediction (see [`portable::predict_block`]); θ's window values come from
/// registers by `vpermt2ps` when θ (padded) has at most 128 entries.
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
fn predict_block(p: &Plan, padded: &[f32], z: &[f32], eta: &mut [f32], zc: &mut [f32]) {
    let len = padded.len();
    if len > 128 {
        return portable::predict_block(p, padded, z, eta, zc);
    }
    let mut tab = [0.0f32; 128];
    tab[..len].copy_from_slice(padded);
    let (tab, _) = tab.as_chunks::<16>();
    let mut t = [_mm512_setzero_ps(); 8];
    for (r, c) in t.iter_mut().zip(tab) {
        *r = load16(c);
    }
    match len {
        0..=32 => predict_regs::<2>(p, &t, z, eta, zc),
        33..=64 => predict_regs::<4>(p, &t, z, eta, zc),
        _ => predict_regs::<8>(p, &t, z, eta, zc),
    }
}

/// θ_pad\[idx\] for 16 lanes from a table held in R registers.
#[inline]
#[target_feature(enable = "avx512f")]
fn lookup<const R: usize>(t: &[__m512; 8], idx: __m512i) -> __m512 {
    let a = _mm512_permutex2var_ps(t[0], idx, t[1]);
    if R == 2 {
        return a;
    }
    let b = _mm512_permutex2var_ps(t[2], idx, t[3]);
    let bit5 = _mm512_test_epi32_mask(idx, _mm512_set1_epi32(32));
    let ab = _mm512_mask_blend_ps(bit5, a, b);
    if R == 4 {
        return ab;
    }
    let c = _mm512_permutex2var_ps(t[4], idx, t[5]);
    let d = _mm512_permutex2var_ps(t[6], idx, t[7]);
    let cd = _mm512_mask_blend_ps(bit5, c, d);
    let bit6 = _mm512_test_epi32_mask(idx, _mm512_set1_epi32(64));
    _mm512_mask_blend_ps(bit6, ab, cd)
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
fn predict_regs<const R: usize>(
    p: &Plan,
    t: &[__m512; 8],
    z: &[f32],
    eta: &mut [f32],
    zc: &mut [f32],
) {
    let n = z.len();
    let (eta, zc) = (&mut eta[..n], &mut zc[..n]);
    let full = n - n % LANES;
    let (zs, _) = z[..full].as_chunks::<LANES>();
    let (es, _) = eta[..full].as_chunks_mut::<LANES>();
    let (cs, _) = zc[..full].as_chunks_mut::<LANES>();
    for ((zv, ev), cv) in zs.iter().zip(es).zip(cs) {
        let (e, c) = predict16::<R>(p, t, load16(zv));
        store16(ev, e);
        store16(cv, c);
    }
    if full < n {
        let mut zv = [0.0f32; LANES];
        zv[..n - full].copy_from_slice(&z[full..]);
        let (e, c) = predict16::<R>(p, t, load16(&zv));
        let (mut ev, mut cv) = ([0.0f32; LANES], [0.0f32; LANES]);
        store16(&mut ev, e);
        store16(&mut cv, c);
        eta[full..].copy_from_slice(&ev[..n - full]);
        zc[full..].copy_from_slice(&cv[..n - full]);
    }
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
fn predict16<const R: usize>(p: &Plan, t: &[__m512; 8], z: __m512) -> (__m512, __m512) {
    let zc = clip16(z, p.clip);
    let (xlo, xhi) = widen(zc);
    let (first, inv) = (_mm512_set1_pd(p.first), _mm512_set1_pd(p.inv_spacing));
    let last = _mm512_set1_pd((p.m - 1) as f64);
    let locate = |x: __m512d| {
        let pos = _mm512_mul_pd(_mm512_sub_pd(x, first), inv);
        let pos = _mm512_min_pd(_mm512_max_pd(pos, _mm512_setzero_pd()), last);
        let j = _mm512_roundscale_pd::<ROUND>(pos);
        (j, _mm512_sub_pd(pos, j))
    };
    let (jlo, rlo) = locate(xlo);
    let (jhi, rhi) = locate(xhi);
    let j = narrow_i(jlo, jhi);
    let r = narrow(rlo, rhi);
    let h = _mm512_set1_ps(p.h);
    let h2 = _mm512_set1_ps(2.0 * p.h);
    let q = _mm512_set1_ps(p.q);
    let a = exp16(_mm512_fmsub_ps(r, h2, h));
    // b = e^{−(2r+1)h} = q / a: a reciprocal (14 bits, one Newton step: ~f32 precision)
    // instead of a second exponential. a ≥ e^{−2h} is a normal float for h ≤ 40
    // (`Plan::new` keeps the fast path to those).
    let b = _mm512_mul_ps(q, recip(a));
    let k = p.k as i32;
    let centre = _mm512_add_epi32(j, _mm512_set1_epi32(k));
    // Weights a^n·q^{n(n−1)/2} (right) and b^n·q^{n(n−1)/2} (left); four independent sums
    // keep the dependency chains short.
    let mut num_c = lookup::<R>(t, centre);
    let mut num_l = _mm512_setzero_ps();
    let mut den_r = _mm512_set1_ps(1.0);
    let mut den_l = _mm512_setzero_ps();
    let (mut pa, mut pb) = (a, b);
    for (n, &qn) in (1..=k).zip(&p.qpow[1..]) {
        let qn = _mm512_set1_ps(qn);
        let wr = _mm512_mul_ps(pa, qn);
        let wl = _mm512_mul_ps(pb, qn);
        pa = _mm512_mul_ps(pa, a);
        pb = _mm512_mul_ps(pb, b);
        let nv = _mm512_set1_epi32(n);
        let tr = lookup::<R>(t, _mm512_add_epi32(centre, nv));
        let tl = lookup::<R>(t, _mm512_sub_epi32(centre, nv));
        num_c = _mm512_fmadd_ps(wr, tr, num_c);
        num_l = _mm512_fmadd_ps(wl, tl, num_l);
        // Centres j ± n exist iff j < M − n and j ≥ n.
        let vr = _mm512_cmplt_epi32_mask(j, _mm512_set1_epi32(p.m as i32 - n));
        let vl = _mm512_cmpge_epi32_mask(j, nv);
        den_r = _mm512_mask_add_ps(den_r, vr, den_r, wr);
        den_l = _mm512_mask_add_ps(den_l, vl, den_l, wl);
    }
    let num = _mm512_add_ps(num_c, num_l);
    let den = _mm512_add_ps(den_r, den_l);
    (_mm512_mul_ps(num, recip(den)), zc)
}

/// 1/x to about f32 precision: `vrcp14ps` and one Newton–Raphson step (relative error
/// below 2⁻²⁷ before the final rounding), for normal positive x.
#[inline]
#[target_feature(enable = "avx512f")]
fn recip(x: __m512) -> __m512 {
    let y = _mm512_rcp14_ps(x);
    // y(2 − xy)
    _mm512_mul_ps(y, _mm512_fnmadd_ps(x, y, _mm512_set1_ps(2.0)))
}
