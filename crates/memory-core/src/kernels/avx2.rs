//! The AVX2 tier: the portable kernels compiled a second time with AVX2 + FMA enabled (the
//! compiler vectorises them 8 lanes wide), and the binned update written out with AVX2
//! intrinsics, the portable update's operations in the same order. Rust neither fuses nor
//! reorders floating-point operations, so this tier computes the portable tier's bits, and
//! [`Kernels::Reproducible`](crate::Kernels::Reproducible) runs it wherever the CPU can
//! (the tier tests compare the two bit for bit).
//!
//! # Why this module contains `unsafe`
//! The crate is otherwise `unsafe`-free (the AVX-512 tier aside). The portable build targets
//! the baseline of x86-64 (SSE2), which leaves most of a modern core idle; the functions here
//! are compiled for AVX2 + FMA instead. Calling a `#[target_feature]` function is `unsafe`
//! because running it on a CPU without those features is undefined behaviour. Every such call
//! is made by a method of [`Avx2`], a token that only [`Avx2::detect`] makes, after `std`'s
//! `is_x86_feature_detected!` reported both features (its field is private to this module,
//! so no other code can make one). Intrinsics that only compute are safe inside a function
//! with the feature enabled; the only other `unsafe` operations are the unaligned vector loads
//! and stores of fixed-size arrays (`&[f32; 8]`, `&[u32; 8]`, `&[f64; 4]`), in bounds by the
//! type of their argument. Audit: search this file for `unsafe`.

use core::ops::Range;

use super::plan::{Plan, Touched};
use super::portable;
use super::table::Table;
use super::Tier;
use crate::signal::Signal;

/// Proof that this CPU runs AVX2 and FMA: made only by [`Avx2::detect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Avx2(());

impl Avx2 {
    /// The tier, if this CPU has AVX2 and FMA.
    pub(crate) fn detect() -> Option<Avx2> {
        (std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"))
            .then_some(Avx2(()))
    }
}

/// The safe entry points: each calls its `#[target_feature]` function.
impl Tier for Avx2 {
    #[inline]
    fn accumulate_rows(self, p: &Plan, prev: &[f32], cur: &[f32], acc: &mut [f64]) {
        // SAFETY: `self` exists only if `Avx2::detect` found AVX2 and FMA on this CPU.
        unsafe { accumulate_rows(p, prev, cur, acc) }
    }

    #[inline]
    fn accumulate_bins(self, p: &Plan, prev: &[f32], cur: &[f32], acc: &mut [[f64; 4]]) -> Touched {
        // SAFETY: `self` exists only if `Avx2::detect` found AVX2 and FMA on this CPU.
        unsafe { accumulate_bins(p, prev, cur, acc) }
    }

    #[inline]
    fn flush_bins(self, p: &Plan, acc: &mut [[f64; 4]], lo: usize, hi: usize, g: &mut [f64]) {
        // SAFETY: `self` exists only if `Avx2::detect` found AVX2 and FMA on this CPU.
        unsafe { flush_bins(p, acc, lo, hi, g) }
    }

    #[inline]
    fn predict_block(self, p: &Plan, padded: &[f32], z: &[f32], eta: &mut [f32], zc: &mut [f32]) {
        // SAFETY: `self` exists only if `Avx2::detect` found AVX2 and FMA on this CPU.
        unsafe { predict_block(p, padded, z, eta, zc) }
    }

    #[inline]
    fn build_table(self, table: &mut Table, padded: &[f32], windows: Range<usize>) -> f64 {
        // SAFETY: `self` exists only if `Avx2::detect` found AVX2 and FMA on this CPU.
        unsafe { build_table(table, padded, windows) }
    }

    #[inline]
    fn predict_table(self, table: &Table, z: &[f32], eta: &mut [f32], zc: &mut [f32]) {
        // SAFETY: `self` exists only if `Avx2::detect` found AVX2 and FMA on this CPU.
        unsafe { predict_table(table, z, eta, zc) }
    }
}
#[target_feature(enable = "avx2,fma")]
fn accumulate_rows(p: &Plan, prev: &[f32], cur: &[f32], acc: &mut [f64]) {
    portable::accumulate_rows(p, prev, cur, acc)
}

/// [`portable::accumulate_bins`] written out with AVX2 intrinsics: the same operations in the
/// same order (no fused multiply-adds), so the same bits, with the payload transposed in
/// registers and the bin indices computed eight lanes at a time (the compiler's version of
/// the portable source goes through the stack).
#[target_feature(enable = "avx2,fma")]
fn accumulate_bins(p: &Plan, prev: &[f32], cur: &[f32], acc: &mut [[f64; 4]]) -> Touched {
    use core::arch::x86_64::*;

    use super::plan::{HOT, LANES};

    let signal = p.signal;
    let Some(b) = p.bins.as_ref() else {
        return (1, 0, true);
    };
    let entries = b.nb * p.m;
    let acc = &mut acc[..p.bin_scratch()];
    let private = entries + LANES;
    let clip = p.clip;
    let (lo_clip, hi_clip) = (_mm256_set1_ps(-clip), _mm256_set1_ps(clip));
    let (one, minus_one, zero) = (
        _mm256_set1_ps(1.0),
        _mm256_set1_ps(-1.0),
        _mm256_setzero_ps(),
    );
    let (scale, offset) = (_mm256_set1_pd(b.scale), _mm256_set1_pd(b.offset));
    let half = _mm256_set1_pd(0.5);
    let magic = _mm256_set1_pd(6_755_399_441_055_744.0);
    let (zero_d, gmax) = (_mm256_setzero_pd(), _mm256_set1_pd((entries - 1) as f64));
    let inv_nb = _mm256_set1_ps(1.0 / b.nb as f32);
    let w0 = _mm256_set1_epi32(b.w0 as i32);
    let hot_last = _mm256_set1_epi32(b.hot as i32 - 1);
    let even = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    // Lane l's private window starts at private + l·HOT.
    let bases = [0, 8].map(|h| {
        _mm256_add_epi32(
            _mm256_set1_epi32((private + h * HOT) as i32),
            _mm256_mullo_epi32(
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                _mm256_set1_epi32(HOT as i32),
            ),
        )
    });
    let mut lo = [_mm256_set1_epi32(-1); 2];
    let mut hi = [_mm256_setzero_si256(); 2];
    let mut finite = true;
    let (body, tail) = portable::chunk_pairs(prev, cur);
    for (pc, cc) in body.chain(tail.as_ref().map(|(p, c)| (p, c))) {
        for h in 0..2 {
            let zp = load8(&pc[8 * h..8 * h + 8]);
            let raw = load8(&cc[8 * h..8 * h + 8]);
            // x − x is 0 for finite x, NaN for ±∞ and NaN.
            let diff = _mm256_sub_ps(raw, raw);
            finite &= _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_ORD_Q>(diff, diff)) == 0xFF;
            let zp = _mm256_min_ps(_mm256_max_ps(zp, lo_clip), hi_clip);
            let zc = _mm256_min_ps(_mm256_max_ps(raw, lo_clip), hi_clip);
            let prod = _mm256_mul_ps(zc, zp);
            let s = match signal {
                Signal::Sign => {
                    let pos = _mm256_cmp_ps::<_CMP_GT_OQ>(prod, zero);
                    let neg = _mm256_cmp_ps::<_CMP_LT_OQ>(prod, zero);
                    _mm256_blendv_ps(_mm256_blendv_ps(zero, one, pos), minus_one, neg)
                }
                _ => _mm256_min_ps(_mm256_max_ps(prod, minus_one), one),
            };
            // Bin g = round(t − ½) clamped, δ = (t − g − ½)/nb, four lanes of f64 at a time.
            let quarter = |x: __m128| {
                let t = _mm256_add_pd(_mm256_mul_pd(_mm256_cvtps_pd(x), scale), offset);
                let gf = _mm256_sub_pd(_mm256_add_pd(_mm256_sub_pd(t, half), magic), magic);
                let gf = _mm256_min_pd(_mm256_max_pd(gf, zero_d), gmax);
                let bits = _mm256_castpd_si256(_mm256_add_pd(gf, magic));
                let g = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(bits, even));
                let d = _mm256_cvtpd_ps(_mm256_sub_pd(_mm256_sub_pd(t, gf), half));
                (g, d)
            };
            let (g0, d0) = quarter(_mm256_castps256_ps128(zp));
            let (g1, d1) = quarter(_mm256_extractf128_ps::<1>(zp));
            let g = _mm256_set_m128i(g1, g0);
            let d = _mm256_mul_ps(_mm256_set_m128(d1, d0), inv_nb);
            let sd = _mm256_mul_ps(s, d);
            let sd2 = _mm256_mul_ps(sd, d);
            let sd3 = _mm256_mul_ps(sd2, d);
            lo[h] = _mm256_min_epu32(lo[h], g);
            hi[h] = _mm256_max_epu32(hi[h], g);
            let off = _mm256_sub_epi32(g, w0);
            let in_hot = _mm256_cmpeq_epi32(_mm256_min_epu32(off, hot_last), off);
            let slot = _mm256_blendv_epi8(g, _mm256_add_epi32(bases[h], off), in_hot);
            let mut slots = [0u32; 8];
            store8i(&mut slots, slot);
            // (s, sδ, sδ², sδ³) of each lane, transposed: lane c of q[c % 4], half c / 4.
            let t0 = _mm256_unpacklo_ps(s, sd);
            let t1 = _mm256_unpackhi_ps(s, sd);
            let t2 = _mm256_unpacklo_ps(sd2, sd3);
            let t3 = _mm256_unpackhi_ps(sd2, sd3);
            let q = [
                _mm256_shuffle_ps::<0x44>(t0, t2),
                _mm256_shuffle_ps::<0xEE>(t0, t2),
                _mm256_shuffle_ps::<0x44>(t1, t3),
                _mm256_shuffle_ps::<0xEE>(t1, t3),
            ];
            for (c, &slot) in slots.iter().enumerate() {
                let quad = if c < 4 {
                    _mm256_castps256_ps128(q[c])
                } else {
                    _mm256_extractf128_ps::<1>(q[c - 4])
                };
                add_quad(&mut acc[slot as usize], _mm256_cvtps_pd(quad));
            }
        }
    }
    portable::fold_hot(p, acc);
    let (mut l, mut u) = ([0u32; 8], [0u32; 8]);
    let (mut lo_all, mut hi_all) = (u32::MAX, 0u32);
    for h in 0..2 {
        store8i(&mut l, lo[h]);
        store8i(&mut u, hi[h]);
        lo_all = l.iter().fold(lo_all, |a, &b| a.min(b));
        hi_all = u.iter().fold(hi_all, |a, &b| a.max(b));
    }
    (lo_all as usize, hi_all as usize, finite)
}

// The only memory accesses through pointers. Each takes a reference to a fixed-size
// array or a slice of checked length, so the bytes it reads or writes are in bounds.

#[inline]
#[target_feature(enable = "avx2")]
fn load8(a: &[f32]) -> core::arch::x86_64::__m256 {
    let a: &[f32; 8] = a.try_into().unwrap_or(&[0.0; 8]);
    // SAFETY: `a` is 8 readable f32; loadu has no alignment requirement.
    unsafe { core::arch::x86_64::_mm256_loadu_ps(a.as_ptr()) }
}

#[inline]
#[target_feature(enable = "avx2")]
fn store8i(a: &mut [u32; 8], v: core::arch::x86_64::__m256i) {
    // SAFETY: `a` is 32 writable bytes; storeu has no alignment requirement.
    unsafe { core::arch::x86_64::_mm256_storeu_si256(a.as_mut_ptr().cast(), v) }
}

#[inline]
#[target_feature(enable = "avx2")]
fn add_quad(slot: &mut [f64; 4], q: core::arch::x86_64::__m256d) {
    use core::arch::x86_64::*;
    // SAFETY: `slot` is 4 readable and writable f64; unaligned access.
    unsafe {
        let s = _mm256_loadu_pd(slot.as_ptr());
        _mm256_storeu_pd(slot.as_mut_ptr(), _mm256_add_pd(s, q));
    }
}

#[target_feature(enable = "avx2,fma")]
fn build_table(table: &mut Table, padded: &[f32], windows: Range<usize>) -> f64 {
    table.build(padded, windows)
}

#[target_feature(enable = "avx2,fma")]
fn flush_bins(p: &Plan, acc: &mut [[f64; 4]], lo: usize, hi: usize, g: &mut [f64]) {
    portable::flush_bins(p, acc, lo, hi, g)
}

#[target_feature(enable = "avx2,fma")]
fn predict_table(table: &Table, z: &[f32], eta: &mut [f32], zc: &mut [f32]) {
    table.predict_block(z, eta, zc)
}

#[target_feature(enable = "avx2,fma")]
fn predict_block(p: &Plan, padded: &[f32], z: &[f32], eta: &mut [f32], zc: &mut [f32]) {
    portable::predict_block(p, padded, z, eta, zc)
}
