//! # bench
//!
//! How fast lrmem's optimizers step, measured against the machine's memory bandwidth and against
//! the dense formulation of the authors' code. Unpublished; the only crate that depends on
//! criterion.
//!
//! * `benches/step.rs`: one optimizer step on one tensor, every optimizer, D ∈ {10³, 10⁵, 10⁶,
//!   10⁷}, M ∈ {20, 100} for the meta optimizers; throughput in elements/s and bytes/s.
//! * `benches/memory.rs`: the memory alone, update (G and θ) and prediction (η) separately,
//!   lrmem's truncated kernels against [`dense::DenseMemory`].
//! * `benches/bandwidth.rs`: STREAM-style copy and triad on the same sizes (the roofline).
//! * `src/bin/speed.rs`: every optimizer timed side by side, interleaved, on the same tensors,
//!   plus copy/triad; writes the raw numbers as JSON for `cargo xtask bench --speed`.
//!
//! Ratios measured in one run are what to quote: the machines are shared and noisy.

pub mod dense;
pub mod plot;

use memory_core::{MemoryConfig, MemoryOptimizer};
use optimizers::{
    Adam, AdamConfig, Meta, MetaConfig, Optimizer, Rprop, RpropConfig, Sgd, SgdConfig, SgdHd,
    SgdHdConfig, StateBytes,
};

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

/// One optimizer of the suites.
pub struct Case {
    /// Name in reports, e.g. `meta-sgd`.
    pub name: &'static str,
    /// M, for the meta optimizers.
    pub centers: Option<usize>,
    /// Bytes of memory traffic one step needs per coordinate (see [`Case::all`]).
    pub bytes: usize,
    /// Bytes of optimizer state per coordinate ([`StateBytes`]).
    pub state_bytes: usize,
    /// A fresh optimizer.
    pub make: fn(usize) -> Box<dyn Optimizer>,
}

impl Case {
    /// `name` or `name (M=…)`.
    pub fn label(&self) -> String {
        match self.centers {
            Some(m) => format!("{} M={m}", self.name),
            None => self.name.to_string(),
        }
    }

    /// Every optimizer, with the traffic its step needs per coordinate in f32 tensors (4 B):
    ///
    /// | optimizer | reads | writes | bytes |
    /// |---|---|---|---|
    /// | SGD | g, w | w | 12 |
    /// | SGD + momentum | g, w, b | w, b | 20 |
    /// | Adam | g, w, m, v | w, m, v | 28 |
    /// | Rprop | g, w, g_prev, Δ | w, g_prev, Δ | 28 |
    /// | SGD-HD | g, g_prev (dot); g, w | w, g_prev | 24 |
    /// | Meta-SGD | g, z_prev (G); g, w | w, z_prev | 24 |
    /// | Meta-Adam | g, m, v; m, z_prev (G); m, v, w | m, v; w, z_prev | 48 |
    ///
    /// The meta optimizers and SGD-HD need two passes over the gradient: their learning rates
    /// depend on a sum over all coordinates (G, or g·g_prev) that must be complete before the
    /// first coordinate moves. Every step also checks the gradient for NaN/∞ (one more read of
    /// g, 4 B), which the table leaves out.
    pub fn all() -> Vec<Case> {
        let mut v = vec![
            Case {
                name: "sgd",
                centers: None,
                bytes: 12,
                state_bytes: SgdConfig::default().bytes_per_coordinate(),
                make: |_| Box::new(Sgd::new(SgdConfig::with_lr(1e-3)).expect("valid")),
            },
            Case {
                name: "sgd-momentum",
                centers: None,
                bytes: 20,
                state_bytes: momentum().bytes_per_coordinate(),
                make: |_| Box::new(Sgd::new(momentum()).expect("valid")),
            },
            Case {
                name: "adam",
                centers: None,
                bytes: 28,
                state_bytes: AdamConfig::default().bytes_per_coordinate(),
                make: |_| Box::new(Adam::new(AdamConfig::default()).expect("valid")),
            },
            Case {
                name: "rprop",
                centers: None,
                bytes: 28,
                state_bytes: RpropConfig::default().bytes_per_coordinate(),
                make: |_| Box::new(Rprop::new(RpropConfig::default()).expect("valid")),
            },
            Case {
                name: "sgd-hd",
                centers: None,
                bytes: 24,
                state_bytes: SgdHdConfig::default().bytes_per_coordinate(),
                make: |_| Box::new(SgdHd::new(SgdHdConfig::default()).expect("valid")),
            },
        ];
        for m in CENTERS {
            let meta = |m| MetaConfig {
                memory: memory_config(m),
            };
            v.push(Case {
                name: "meta-sgd",
                centers: Some(m),
                bytes: 24,
                state_bytes: Meta::new(SgdConfig::default(), meta(m))
                    .expect("valid")
                    .bytes_per_coordinate(),
                make: |m| {
                    Box::new(
                        Meta::new(
                            SgdConfig::default(),
                            MetaConfig {
                                memory: memory_config(m),
                            },
                        )
                        .expect("valid"),
                    )
                },
            });
            v.push(Case {
                name: "meta-adam",
                centers: Some(m),
                bytes: 48,
                state_bytes: Meta::new(AdamConfig::default(), meta(m))
                    .expect("valid")
                    .bytes_per_coordinate(),
                make: |m| {
                    Box::new(
                        Meta::new(
                            AdamConfig::default(),
                            MetaConfig {
                                memory: memory_config(m),
                            },
                        )
                        .expect("valid"),
                    )
                },
            });
        }
        v
    }

    /// A fresh optimizer of this case.
    pub fn build(&self) -> Box<dyn Optimizer> {
        (self.make)(self.centers.unwrap_or(0))
    }
}

fn momentum() -> SgdConfig {
    SgdConfig {
        momentum: 0.9,
        ..SgdConfig::with_lr(1e-3)
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
