//! The memory's maths written once, plainly: the prediction η̂ (Eq. 3, docs/algorithm.md §5)
//! and the memory gradient G (Eq. 4, §7). θ's ascent on G (Eq. 5, §8) is
//! `MemoryOptimizer::apply`, in the `rule` module.
//!
//! These loops take one coordinate at a time and work for every grid and every input, so they
//! are what the memory runs wherever the vectorised kernels do not apply: unevenly spaced
//! centres ([`Layout::Log`](crate::Layout::Log)), windows too wide for the kernels, and steps
//! with a non-finite gradient (which these loops report or skip). They are also
//! [`Memory::predict`](crate::Memory::predict), and the reference that the kernels (module
//! `kernels`) are tested against: the kernels compute the same sums for evenly spaced centres,
//! many coordinates at a time and in another order. The test-only `exact` module holds both
//! equations in f64 throughout, the oracle for error bounds.

use crate::config::{MemoryConfig, NonFinite};
use crate::error::MemoryError;
use crate::kernel::{exp, Grid, MAX_WINDOW};

/// What the prediction reads of a memory: its centres, its clip and θ.
pub(crate) struct Model<'a> {
    pub(crate) grid: &'a Grid,
    pub(crate) clip: f32,
    /// θ, one value per centre.
    pub(crate) theta: &'a [f32],
    /// θ with K zeros on either side, and 1 where a slot of `padded` holds a centre (0 where
    /// it does not): the window of an evenly spaced grid may reach past its ends.
    pub(crate) padded: &'a [f32],
    pub(crate) valid: &'a [f32],
}

impl Model<'_> {
    /// Eq. 3 for every query, in order: calls `f(d, η̂(clip(z[d])), clip(z[d]))`.
    ///
    /// η̂(z) = Σ_m ψ_m(z) θ_m / Σ_m ψ_m(z) over the centres within the cutoff, with the
    /// weights relative to the most activated centre's (weight 1), so that neither sum
    /// underflows however far z lies from the centres. The sums are f32.
    #[inline]
    pub(crate) fn rates(&self, z: &[f32], mut f: impl FnMut(usize, f32, f32)) {
        let c = self.clip;
        match self.grid.uniform() {
            // Evenly spaced centres: the 2K + 1 nearest, from the window recurrence of ψ.
            Some(u) => {
                let mut w = [0.0f32; MAX_WINDOW];
                let w = &mut w[..2 * u.k() + 1];
                for (d, &zd) in z.iter().enumerate() {
                    let zc = zd.clamp(-c, c);
                    let first = self.grid.window(u, zc, true, w);
                    f(d, self.window_rate(first, w), zc);
                }
            }
            None => {
                for (d, &zd) in z.iter().enumerate() {
                    let zc = zd.clamp(-c, c);
                    f(d, self.general_rate(zc), zc);
                }
            }
        }
    }

    /// Σ w θ / Σ w over the window whose first centre is `first` (weights `w`, 2K + 1 of them;
    /// slots beyond the grid's ends hold θ = 0 and count 0 in the denominator).
    #[inline(always)]
    fn window_rate(&self, first: isize, w: &[f32]) -> f32 {
        let k = w.len() / 2;
        let base = (first + k as isize) as usize; // index into the padded arrays
        let th = &self.padded[base..base + w.len()];
        let va = &self.valid[base..base + w.len()];
        let (mut num, mut den) = (0.0f32, 0.0f32);
        for ((&wi, &t), &v) in w.iter().zip(th).zip(va) {
            num += wi * t;
            den += wi * v;
        }
        num / den
    }

    /// Eq. 3 by a sum over every centre within the cutoff (uneven grids, or very wide
    /// windows). If none is (a small cutoff), the θ of the most activated centre.
    fn general_rate(&self, z: f32) -> f32 {
        let m = self.theta.len();
        let mut top = f32::NEG_INFINITY;
        let mut nearest = 0;
        for i in 0..m {
            let d = z as f64 - self.grid.exact()[i];
            let e = (-(d * d) * self.grid.inv_two_var()[i] as f64) as f32;
            if e > top {
                top = e;
                nearest = i;
            }
        }
        let (mut num, mut den) = (0.0f32, 0.0f32);
        for i in 0..m {
            if let Some(e) = self.grid.exponent(i, z) {
                let w = exp(e - top);
                num += w * self.theta[i];
                den += w;
            }
        }
        if den > 0.0 {
            num / den
        } else {
            self.theta[nearest]
        }
    }
}

/// Eq. 4: G_m = (1/D) Σ_d s_d ψ_m(z_{t−1}\[d\]) into `g`, for the previous queries `prev` and
/// the current ones `cur` (both clipped to ±clip here), with the signal s of `config`.
///
/// Each term s·ψ is formed in f32 and summed in f64 (`acc`: M rows of 2K + 1 on an evenly
/// spaced grid, a row per nearest centre; M sums otherwise). A non-finite `cur` coordinate is
/// an error that leaves θ alone, or under [`NonFinite::Skip`] a zero signal.
pub(crate) fn gradient(
    grid: &Grid,
    config: &MemoryConfig,
    prev: &[f32],
    cur: &[f32],
    acc: &mut [f64],
    g: &mut [f32],
) -> Result<(), MemoryError> {
    let (c, signal) = (config.clip, config.signal);
    let skip = config.non_finite == NonFinite::Skip;
    acc.fill(0.0);
    let mut w = [0.0f32; MAX_WINDOW];
    for (d, (&zp, &zc)) in prev.iter().zip(cur).enumerate() {
        if !zc.is_finite() {
            if skip {
                continue;
            }
            return Err(MemoryError::NonFiniteGradient {
                index: d,
                value: zc,
            });
        }
        let zp = zp.clamp(-c, c);
        let s = signal.eval(zc.clamp(-c, c), zp);
        if s == 0.0 {
            continue;
        }
        match grid.uniform() {
            Some(u) => {
                let n = 2 * u.k() + 1;
                let w = &mut w[..n];
                let first = grid.window(u, zp, false, w);
                // Row = nearest centre; the window's slot i is centre first + i.
                let row = (first + u.k() as isize) as usize * n;
                for (a, &wi) in acc[row..row + n].iter_mut().zip(w.iter()) {
                    *a += (s * wi) as f64;
                }
            }
            None => {
                for (i, a) in acc.iter_mut().enumerate() {
                    if let Some(e) = grid.exponent(i, zp) {
                        *a += (s * exp(e)) as f64;
                    }
                }
            }
        }
    }
    let scale = mean_scale(cur.len());
    match grid.uniform() {
        Some(u) => {
            // Fold rows back onto centres: slot i of row j is centre j − K + i.
            let (k, n, m) = (u.k(), 2 * u.k() + 1, g.len());
            for (c, g) in g.iter_mut().enumerate() {
                let mut sum = 0.0f64;
                for i in 0..n {
                    if let Some(j) = (c + k).checked_sub(i).filter(|&j| j < m) {
                        sum += acc[j * n + i];
                    }
                }
                *g = (sum * scale) as f32;
            }
        }
        None => {
            for (g, &a) in g.iter_mut().zip(acc.iter()) {
                *g = (a * scale) as f32;
            }
        }
    }
    Ok(())
}

/// 1/D in f64 (0 for an empty tensor): the mean of Eq. 4 divides in f64 before rounding to f32.
#[inline]
pub(crate) fn mean_scale(len: usize) -> f64 {
    if len == 0 {
        0.0
    } else {
        1.0 / len as f64
    }
}

/// Eq. 3 and Eq. 4 over the same truncated window as the memory, in f64 throughout (ψ from
/// `libm::exp`): the oracle that the tests hold the f32 loops, these and the kernels', to.
#[cfg(test)]
pub(crate) mod exact {
    use alloc::vec;
    use alloc::vec::Vec;

    use crate::kernel::Grid;
    use crate::signal::Signal;

    /// The centres within K of the one nearest to clip(z), and their ψ (evenly spaced
    /// centres).
    fn window(grid: &Grid, clip: f32, z: f32) -> impl Iterator<Item = (usize, f64)> {
        let u = *grid.uniform().expect("evenly spaced centres");
        let (m, h) = (grid.len(), grid.h() as f64);
        let zc = z.clamp(-clip, clip) as f64;
        let pos = ((zc - u.first()) * u.inv_spacing()).clamp(0.0, (m - 1) as f64);
        let j = libm::round(pos) as isize;
        let k = u.k() as isize;
        (j - k..=j + k)
            .filter(move |c| (0..m as isize).contains(c))
            .map(move |c| {
                let x = pos - c as f64;
                (c as usize, libm::exp(-h * x * x))
            })
    }

    /// η̂(z) of Eq. 3.
    pub(crate) fn rate(grid: &Grid, clip: f32, theta: &[f64], z: f32) -> f64 {
        let (mut num, mut den) = (0.0, 0.0);
        for (c, psi) in window(grid, clip, z) {
            num += psi * theta[c];
            den += psi;
        }
        num / den
    }

    /// D·G of Eq. 4, and Σ_d |s_d ψ_m(z_{t−1}\[d\])| per centre (the scale of its rounding).
    pub(crate) fn gradient(
        grid: &Grid,
        clip: f32,
        signal: Signal,
        prev: &[f32],
        cur: &[f32],
    ) -> (Vec<f64>, Vec<f64>) {
        let (mut g, mut mag) = (vec![0.0; grid.len()], vec![0.0; grid.len()]);
        for (&a, &b) in prev.iter().zip(cur) {
            let zp = a.clamp(-clip, clip);
            let s = signal.eval(b.clamp(-clip, clip), zp) as f64;
            for (c, psi) in window(grid, clip, zp) {
                g[c] += s * psi;
                mag[c] += (s * psi).abs();
            }
        }
        (g, mag)
    }
}
