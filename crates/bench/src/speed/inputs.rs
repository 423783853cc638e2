//! What the speed suites step: the tensor sizes, the memory every meta optimizer uses, the
//! gradients, and the STREAM kernels that measure the machine's memory bandwidth (the
//! roofline every step is compared with).

use lrmem_memory_core::{MemoryConfig, MemoryOptimizer};

/// The tensor sizes of every suite.
pub const SIZES: [usize; 4] = [1_000, 100_000, 1_000_000, 10_000_000];
/// The memory sizes of the meta optimizers.
pub const CENTERS: [usize; 2] = [20, 100];

/// The memory every meta optimizer of the suites uses: M centres over ±1, the defaults otherwise
/// (lm_scale 0.5, cutoff 9σ, Adam on θ with ξ = 1e−3), η₀ = 1e−3.
pub fn memory_config(m: usize) -> MemoryConfig {
    MemoryConfig {
        num_centers: m,
        clip: 1.0,
        eta0: 1e-3,
        optimizer: MemoryOptimizer::adam(1e-3),
        ..MemoryConfig::default()
    }
}

/// Two gradient vectors of `d` coordinates, deterministic, shaped like a network's gradients
/// relative to clip = 1: most coordinates small (|g| ~ 0.02), some of the order of the clip,
/// 2% beyond it; between the two vectors 70% of the coordinates keep their sign. Alternating
/// them gives the memory both agreeing and flipping signals.
pub fn gradients(d: usize, seed: u64) -> [Vec<f32>; 2] {
    let mut rng = SplitMix(seed ^ 0x5EED);
    let mut a = Vec::with_capacity(d);
    let mut b = Vec::with_capacity(d);
    for _ in 0..d {
        let scale = match rng.next() % 100 {
            0..=1 => 3.0,
            2..=21 => 0.3,
            _ => 0.02,
        };
        let x = scale * rng.normal();
        let keep = rng.next() % 10 < 7;
        let y = x * (0.5 + rng.uniform()) * if keep { 1.0 } else { -1.0 };
        a.push(x);
        b.push(y);
    }
    [a, b]
}

/// Uniform and normal deviates from SplitMix64 (deterministic, dependency-free).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// In [0, 1).
    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Approximately N(0, 1): the sum of four uniforms, rescaled.
    fn normal(&mut self) -> f32 {
        let s: f32 = (0..4).map(|_| self.uniform()).sum();
        (s - 2.0) * 1.732_050_8
    }
}

/// STREAM copy: `dst ← src`. 8 bytes per element.
#[inline(never)]
pub fn copy(dst: &mut [f32], src: &[f32]) {
    dst.copy_from_slice(src);
}

/// STREAM triad: `a ← b + s·c`. 12 bytes per element.
#[inline(never)]
pub fn triad(a: &mut [f32], b: &[f32], c: &[f32], s: f32) {
    for ((a, &b), &c) in a.iter_mut().zip(b).zip(c) {
        *a = b + s * c;
    }
}

/// Bytes per element of [`copy`] and [`triad`].
pub const COPY_BYTES: usize = 8;
/// See [`COPY_BYTES`].
pub const TRIAD_BYTES: usize = 12;
