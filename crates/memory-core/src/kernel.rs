//! Where the local models sit and how strongly a gradient value activates each of them.
//!
//! ψ_m(z) = exp(−(z − c_m)² / (2σ_m²)), the squared-exponential kernel of the papers. The memory
//! never stores activations: it recomputes the few that matter for each coordinate. For evenly
//! spaced centres only the `2K + 1` centres nearest to z are evaluated, and their kernel values
//! come from two exponentials and a recurrence (see `Grid::window`).

use alloc::vec;
use alloc::vec::Vec;

/// How the centres c_m are laid out over the gradient range [−clip, +clip].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Layout {
    /// `linspace(−clip, clip, M)`, one shared width σ = lm_scale · spacing (authors' default).
    #[default]
    Linear,
    /// `geomspace(1e−6, clip, M/2)` mirrored to negative values, plus 0: M + 1 centres, each with
    /// its own σ = lm_scale × its spacing to the next centre towards zero (authors' `logspace=True`).
    /// Dense near zero, where most gradients of a trained network live. M must be even.
    Log,
}

/// The widest window of centres evaluated by the recurrence (2K + 1 ≤ this).
pub(crate) const MAX_WINDOW: usize = 64;

/// The smallest positive centre of the [`Layout::Log`] layout, as in the authors' code.
pub const LOG_MIN_CENTER: f32 = 1e-6;

/// The centres and kernel widths of one memory, with what evaluation needs precomputed.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    centers: Vec<f32>,
    /// The centres in f64 as the layout defines them (before rounding to f32): distances are
    /// measured from these, so that evaluation does not inherit the rounding of the centres.
    exact: Vec<f64>,
    /// 1 / (2σ_m²) per centre.
    inv_two_var: Vec<f32>,
    /// 1 / (2σ_m²) in units of the centre spacing, for the uniform layout: 1 / (2 lm_scale²).
    h: f32,
    /// Cutoff in σ: centres farther than `cutoff · σ` from z are left out of sums.
    cutoff: f32,
    uniform: Option<Uniform>,
}

/// Precomputed constants of an evenly spaced grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Uniform {
    first: f64,
    inv_spacing: f64,
    /// Half-width of the evaluation window in centres.
    k: usize,
    /// exp(−2h): ratio of consecutive kernel-ratio factors.
    q: f32,
    /// |r| beyond which the window weights are clamped (all neighbours below e^−80 there).
    r_max: f32,
}

impl Grid {
    /// Builds the grid of `layout` with `m` local models over [−clip, clip].
    ///
    /// The caller ([`crate::MemoryConfig::validate`]) has checked the arguments.
    pub(crate) fn new(layout: Layout, m: usize, clip: f32, lm_scale: f32, cutoff: f32) -> Self {
        match layout {
            Layout::Linear => {
                let spacing = 2.0 * clip as f64 / (m - 1) as f64;
                let exact: Vec<f64> = (0..m)
                    .map(|i| -(clip as f64) + i as f64 * spacing)
                    .collect();
                let sigma = lm_scale as f64 * spacing;
                let inv = (1.0 / (2.0 * sigma * sigma)) as f32;
                let h = 1.0 / (2.0 * lm_scale * lm_scale);
                // Centres closer than cutoff·σ to z are fewer than cutoff·lm_scale + 1/2 spacings
                // from the centre nearest to z: K = ⌈cutoff·lm_scale + ½⌉ − 1 on each side.
                let reach = libm::ceil(cutoff as f64 * lm_scale as f64 + 0.5) - 1.0;
                let k = if reach.is_finite() && reach < (m - 1) as f64 {
                    reach as usize
                } else {
                    m - 1
                };
                let r_max = (80.0 / h + 1.0) * 0.5;
                Grid {
                    inv_two_var: vec![inv; m],
                    centers: exact.iter().map(|&c| c as f32).collect(),
                    exact,
                    h,
                    cutoff,
                    // Windows wider than MAX_WINDOW centres use the general sum instead.
                    uniform: (2 * k < MAX_WINDOW).then(|| Uniform {
                        first: -(clip as f64),
                        inv_spacing: 1.0 / spacing,
                        k,
                        q: libm::expf(-2.0 * h),
                        r_max,
                    }),
                }
            }
            Layout::Log => {
                let half = m / 2;
                let pos = geomspace(LOG_MIN_CENTER as f64, clip as f64, half);
                // spacing of each positive centre to the next one towards zero (0 first).
                // The authors keep these as f32 tensors: round once, then measure from them.
                let mut centers: Vec<f32> = Vec::with_capacity(m + 1);
                let mut widths = Vec::with_capacity(m + 1);
                for i in (0..half).rev() {
                    centers.push(-pos[i] as f32);
                    widths.push(pos[i] - if i == 0 { 0.0 } else { pos[i - 1] });
                }
                centers.push(0.0);
                widths.push(pos[0]);
                for i in 0..half {
                    centers.push(pos[i] as f32);
                    widths.push(pos[i] - if i == 0 { 0.0 } else { pos[i - 1] });
                }
                let inv_two_var = widths
                    .iter()
                    .map(|w| {
                        let s = lm_scale as f64 * w;
                        (1.0 / (2.0 * s * s)) as f32
                    })
                    .collect();
                let exact = centers.iter().map(|&c| c as f64).collect();
                Grid {
                    centers,
                    exact,
                    inv_two_var,
                    h: 0.0,
                    cutoff,
                    uniform: None,
                }
            }
        }
    }

    /// The centres c_m, in increasing order.
    pub fn centers(&self) -> &[f32] {
        &self.centers
    }

    /// σ_m of each centre.
    pub fn sigmas(&self) -> Vec<f32> {
        self.inv_two_var
            .iter()
            .map(|i| libm::sqrtf(0.5 / i))
            .collect()
    }

    /// Number of local models.
    pub fn len(&self) -> usize {
        self.centers.len()
    }

    /// Always false: a grid has at least two centres.
    pub fn is_empty(&self) -> bool {
        self.centers.is_empty()
    }

    /// The centres evaluated per coordinate: `2K + 1` on an even grid, all of them otherwise.
    pub fn window_len(&self) -> usize {
        match self.uniform {
            Some(u) => 2 * u.k + 1,
            None => self.centers.len(),
        }
    }

    /// ψ_m(z) evaluated directly, in f64 (tests and dense references).
    pub fn activation(&self, m: usize, z: f32) -> f32 {
        let d = z as f64 - self.exact[m];
        libm::exp(-(d * d) * self.inv_two_var[m] as f64) as f32
    }

    /// Kernel values of the window of centres around z, for an evenly spaced grid.
    ///
    /// Returns the index of the first centre of the window (which may lie up to K centres
    /// *before* centre 0 or reach past the last one: such slots belong to no centre and callers
    /// give them zero weight) and writes `2K + 1` values into `out`.
    ///
    /// With `u = (z − c₀)/Δ`, `j` the nearest centre and `r = u − j ∈ [−½, ½]`, the kernel of
    /// centre j + i is `exp(−(r − i)² h)`, h = 1/(2·lm_scale²). Relative to the nearest centre,
    /// consecutive ratios are `a = exp((2r − 1)h)`, `a·q`, `a·q²`, … to the right and
    /// `b = exp(−(2r + 1)h)`, `b·q`, … to the left, with `q = exp(−2h)`: three exponentials per
    /// coordinate (b is not q/a, which is ∞ once a underflows for narrow kernels). Products that
    /// underflow are 0, never NaN, for every finite h.
    ///
    /// `normalised`: if true the nearest centre gets weight 1 (what a prediction Σψθ/Σψ needs:
    /// it never underflows, however far z lies outside the grid); if false the values are the
    /// absolute ψ (what the memory update needs).
    #[inline(always)]
    pub(crate) fn window(&self, u: &Uniform, z: f32, normalised: bool, out: &mut [f32]) -> isize {
        let k = u.k;
        let last = (self.centers.len() - 1) as f64;
        // Position in spacings, in f64 so that r keeps full precision however many centres lie
        // between z and the first one.
        let pos = (z as f64 - u.first) * u.inv_spacing;
        let j = (pos.clamp(0.0, last) + 0.5) as usize; // round half up: j ≥ 0
        let r = (pos - j as f64) as f32;
        // Beyond r_max spacings every neighbour's weight is below e^−80 of the nearest one's;
        // clamping keeps a = exp((2r−1)h) finite there.
        let rc = r.clamp(-u.r_max, u.r_max);
        let centre = if normalised {
            1.0
        } else {
            exp(-(r * r) * self.h)
        };
        let a = exp((2.0 * rc - 1.0) * self.h);
        // b = e^{−(2r+1)h} directly, not as q/a: for narrow kernels (h > 43, lm_scale < 0.108)
        // a underflows to 0 at r near −½ and q/a was ∞, whose products with 0 made NaN rates.
        let b = exp((-2.0 * rc - 1.0) * self.h);
        out[k] = centre;
        let (mut right, mut fr) = (centre, a);
        let (mut left, mut fl) = (centre, b);
        for n in 1..=k {
            right *= fr;
            fr *= u.q;
            left *= fl;
            fl *= u.q;
            out[k + n] = right;
            out[k - n] = left;
        }
        j as isize - k as isize
    }

    pub(crate) fn exact(&self) -> &[f64] {
        &self.exact
    }

    pub(crate) fn inv_two_var(&self) -> &[f32] {
        &self.inv_two_var
    }

    /// h = 1 / (2 lm_scale²): 1/(2σ²) in units of the spacing (uniform layout; 0 otherwise).
    pub(crate) fn h(&self) -> f32 {
        self.h
    }

    pub(crate) fn uniform(&self) -> Option<&Uniform> {
        self.uniform.as_ref()
    }

    /// Whether centre `m` is within the cutoff of z (for the uneven layout).
    #[inline(always)]
    pub(crate) fn exponent(&self, m: usize, z: f32) -> Option<f32> {
        let d = z as f64 - self.exact[m];
        let e = (d * d * self.inv_two_var[m] as f64) as f32;
        // (z−c)²/(2σ²) < cutoff²/2
        if e < 0.5 * self.cutoff * self.cutoff {
            Some(-e)
        } else {
            None
        }
    }
}

impl Uniform {
    pub(crate) fn k(&self) -> usize {
        self.k
    }

    /// c₀ in f64.
    pub(crate) fn first(&self) -> f64 {
        self.first
    }

    /// 1 / Δc in f64.
    pub(crate) fn inv_spacing(&self) -> f64 {
        self.inv_spacing
    }

    /// exp(−2h).
    pub(crate) fn q(&self) -> f32 {
        self.q
    }
}

/// The smallest and the largest kernel width σ_m of the grid of `layout` with `m` local
/// models over [−clip, clip], in f64 as [`Grid::new`] computes them before rounding 1/(2σ²) to
/// f32: what [`crate::MemoryConfig::validate`] holds to its sound range.
pub(crate) fn sigma_range(layout: Layout, m: usize, clip: f32, lm_scale: f32) -> (f64, f64) {
    let lm = lm_scale as f64;
    match layout {
        Layout::Linear => {
            let s = lm * (2.0 * clip as f64 / (m - 1) as f64);
            (s, s)
        }
        Layout::Log => {
            // The widths are the first positive centre and the gaps between consecutive ones.
            let pos = geomspace(LOG_MIN_CENTER as f64, clip as f64, m / 2);
            let gaps = pos.windows(2).map(|w| w[1] - w[0]);
            let (lo, hi) = gaps.fold((pos[0], pos[0]), |(lo, hi), g| (lo.min(g), hi.max(g)));
            (lm * lo, lm * hi)
        }
    }
}

/// numpy.geomspace(start, stop, n) in f64.
fn geomspace(start: f64, stop: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![start];
    }
    let (ls, le) = (libm::log10(start), libm::log10(stop));
    let mut v: Vec<f64> = (0..n)
        .map(|i| libm::pow(10.0, ls + (le - ls) * i as f64 / (n - 1) as f64))
        .collect();
    v[0] = start;
    v[n - 1] = stop;
    v
}

/// e^x in single precision, fast and branch-free enough to vectorise.
///
/// Cody–Waite reduction x = n·ln 2 + r, |r| ≤ ln2/2, and Cephes' degree-6 minimax polynomial for
/// e^r; 2^n is assembled in the exponent bits. Inputs below −87.3 return 0 (no denormals),
/// inputs above 88 saturate at e^88. Maximum relative error over [−87.3, 88] is below 3 ulp
/// (2·10⁻⁷), which `tests::exp_error_bound` checks on every 97th float of that range.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = core::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5·2²³: adding it rounds to an integer
    let xc = x.clamp(-87.3, 88.0);
    let t = xc * LOG2E + ROUND;
    let n = t - ROUND;
    let r = xc - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    let bits = ((t.to_bits() as i32 - ROUND.to_bits() as i32 + 127) as u32) << 23;
    let v = y * f32::from_bits(bits);
    if x < -87.3 {
        0.0
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_error_bound() {
        let mut worst = 0.0f64;
        let lo = (-87.3f32).to_bits();
        // Walk the negative range by bit pattern, then the positive one.
        let mut b = 0u32;
        while b <= lo {
            let x = f32::from_bits(b | 0x8000_0000);
            if x >= -87.3 {
                let e = libm::exp(x as f64);
                worst = worst.max(((exp(x) as f64 - e) / e).abs());
            }
            b += 97;
        }
        let mut b = 0u32;
        while f32::from_bits(b) <= 88.0 {
            let x = f32::from_bits(b);
            let e = libm::exp(x as f64);
            worst = worst.max(((exp(x) as f64 - e) / e).abs());
            b += 97;
        }
        assert!(worst < 2.0e-7, "worst relative error {worst}");
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(1000.0).is_finite());
    }

    #[test]
    fn linear_grid_matches_linspace() {
        let g = Grid::new(Layout::Linear, 5, 1.0, 0.5, 6.0);
        assert_eq!(g.centers(), &[-1.0, -0.5, 0.0, 0.5, 1.0]);
        let s = g.sigmas();
        assert!((s[0] - 0.25).abs() < 1e-7);
        assert_eq!(g.window_len(), 7);
        assert_eq!(Grid::new(Layout::Linear, 20, 1.0, 0.5, 9.0).window_len(), 9);
    }

    #[test]
    fn log_grid_matches_authors_layout() {
        // get_logspace_centers_and_sigmas(-1, 1, 4, 0.5): geomspace(1e-6, 1, 2) = [1e-6, 1]
        let g = Grid::new(Layout::Log, 4, 1.0, 0.5, 6.0);
        assert_eq!(g.centers(), &[-1.0, -1e-6, 0.0, 1e-6, 1.0]);
        let s = g.sigmas();
        let expect = [
            0.5 * (1.0 - 1e-6),
            0.5e-6,
            0.5e-6,
            0.5e-6,
            0.5 * (1.0 - 1e-6),
        ];
        for (a, b) in s.iter().zip(expect) {
            assert!(((a - b) / b).abs() < 1e-5, "{s:?}");
        }
    }

    #[test]
    fn window_matches_direct_kernel() {
        let g = Grid::new(Layout::Linear, 11, 2.0, 0.5, 9.0);
        let u = *g.uniform().unwrap();
        let mut w = [0.0f32; 9];
        for &z in &[-2.0f32, -1.93, -0.5, 0.0, 0.123, 1.99, 2.0] {
            let first = g.window(&u, z, false, &mut w);
            for (n, &v) in w.iter().enumerate() {
                let m = first + n as isize;
                if (0..11).contains(&m) {
                    let want = g.activation(m as usize, z);
                    assert!(
                        (v - want).abs() <= 1e-5 * want + 1e-30,
                        "z={z} m={m} {v} {want}"
                    );
                }
            }
        }
    }
}
