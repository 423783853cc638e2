//! The optimizers of the speed suite, as optimizer specs with the memory traffic of their step.

use lrmem_optimizers::{Optimizer, OptimizerSpec, SpecError};
use serde::{Deserialize, Serialize};

/// Every optimizer of the speed suite (the `speed` binary and the criterion suites `step` and
/// `model`): an optimizer spec (see `lrmem_optimizers::OptimizerSpec`) and the bytes of memory traffic
/// one step needs per coordinate, with f32 tensors (4 B). Adding an optimizer to the suite is one
/// line here.
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
/// | Meta-SGD, context memory | g (RMS); g, z_prev (G); g, w | w, z_prev | 28 |
/// | Prodigy | g, w, x₀, s, m, v; m, v, w | s, m, v; w | 52 |
/// | D-Adapt Adam | g, s, m, v; m, v, w | s, m, v; w | 44 |
/// | DoG | g, w, x₀ (distance, Σg²); g, w | w | 24 |
/// | Schedule-Free AdamW | g, w, z, x, v | z, x, v, w | 36 |
/// | COCOB | g, w, x₀, C, L, G, R | C, L, G, R, w | 48 |
/// | Mechanic over Adam | w (copy); Adam's; w, ref, g, copy; ref | copy; Adam's; w | 64 |
///
/// The meta optimizers and SGD-HD need two passes over the gradient: their learning rates
/// depend on a sum over all coordinates (G, or g·g_prev) that must be complete before the first
/// coordinate moves. Every step also checks the gradient for NaN/∞ (one more read of g, 4 B),
/// which the table leaves out. The meta optimizers use the memory's defaults (centres over ±1,
/// lm_scale 0.5, cutoff 9σ, Adam on θ with ξ = 1e−3, η₀ = 1e−3), which is
/// [`crate::memory_config`].
pub const CASES: &[(&str, usize)] = &[
    ("sgd", 12),
    ("sgd:momentum=0.9", 20),
    ("adam", 28),
    ("rprop", 28),
    ("sgd-hd", 24),
    ("meta-sgd:m=20", 24),
    ("meta-adam:m=20", 48),
    ("meta-sgd:m=100", 24),
    ("meta-adam:m=100", 48),
    ("meta-ctx-sgd", 28),
    ("prodigy", 52),
    ("dadapt-adam", 44),
    ("dog", 24),
    ("sf-adamw", 36),
    ("cocob", 48),
    ("mechanic-adam", 64),
];

/// The case every ratio of the report is taken to: the optimizer most models train with.
pub const REFERENCE: &str = "adam";

/// The case the dense D×M baseline is compared with: the same algorithm, lrmem's kernels.
pub const DENSE_PEER: &str = "meta-sgd:m=20";

/// One optimizer of the suite: what to build, and the traffic of its step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeedCase {
    /// The optimizer and its hyperparameters.
    pub spec: OptimizerSpec,
    /// Bytes of memory traffic one step needs per coordinate (see [`CASES`]).
    pub bytes: usize,
}

impl SpeedCase {
    /// Parses one line of [`CASES`].
    pub fn new(spec: &str, bytes: usize) -> Result<Self, SpecError> {
        Ok(SpeedCase {
            spec: spec.parse()?,
            bytes,
        })
    }

    /// The name in reports and criterion ids: the spec's canonical text.
    pub fn label(&self) -> String {
        self.spec.to_string()
    }

    /// A fresh optimizer.
    pub fn build(&self) -> Result<Box<dyn Optimizer + Send>, SpecError> {
        Ok(self.spec.build()?.into_box())
    }

    /// Bytes of optimizer state per coordinate (`lrmem_optimizers::StateBytes`).
    pub fn state_bytes(&self) -> Result<usize, SpecError> {
        self.spec.state_bytes()
    }

    /// Whether the optimizer keeps a memory of learning rates (it has the key `m`), whose
    /// O(M) state per tensor comes on top of [`state_bytes`](SpeedCase::state_bytes).
    pub fn has_memory(&self) -> bool {
        has_memory(&self.spec)
    }
}

pub(crate) fn has_memory(spec: &OptimizerSpec) -> bool {
    spec.entry().is_ok_and(|e| e.key("m").is_some())
}

/// [`CASES`], parsed. The list is constant and a test parses and builds every line, so this
/// cannot fail at run time.
pub fn cases() -> Vec<SpeedCase> {
    CASES
        .iter()
        .map(|&(spec, bytes)| SpeedCase::new(spec, bytes).expect("CASES are valid specs (tested)"))
        .collect()
}

/// Which kernels an optimizer ran with: the memory's default (reproducible: AVX2 or portable,
/// the same bits), the portable ones forced, to show what a CPU without vector units gets, or
/// the fastest (AVX-512 where the CPU has it), to show what reproducibility costs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Kernels {
    /// The kernels the memory picks at run time.
    #[default]
    Dispatched,
    /// The portable kernels, forced.
    Portable,
    /// The fastest kernels of this CPU (`Kernels::Fastest` of the memory).
    Fastest,
}

/// What a row of the report measured: which optimizer, with which kernels. With the size D it
/// identifies a row ([`SpeedReport::row`](super::SpeedReport::row)); the report is looked up
/// by these keys, never by label text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CaseKey {
    /// The optimizer.
    pub spec: OptimizerSpec,
    /// Its kernels.
    #[serde(default)]
    pub kernels: Kernels,
}

impl CaseKey {
    /// The case `spec` with the kernels the CPU picks. Panics on a spec that does not parse:
    /// for literals such as [`REFERENCE`]; parse the spec yourself for text from outside.
    pub fn of(spec: &str) -> Self {
        CaseKey {
            spec: spec
                .parse()
                .unwrap_or_else(|e| panic!("`{spec}` is not an optimizer spec: {e}")),
            kernels: Kernels::Dispatched,
        }
    }

    /// The same optimizer with the portable kernels.
    pub fn portable(self) -> Self {
        CaseKey {
            kernels: Kernels::Portable,
            ..self
        }
    }

    /// The same optimizer with the fastest kernels.
    pub fn fastest(self) -> Self {
        CaseKey {
            kernels: Kernels::Fastest,
            ..self
        }
    }

    /// The name in tables and legends: the spec, and `(portable kernels)` or
    /// `(fastest kernels)` where forced.
    pub fn label(&self) -> String {
        match self.kernels {
            Kernels::Dispatched => self.spec.to_string(),
            Kernels::Portable => format!("{} (portable kernels)", self.spec),
            Kernels::Fastest => format!("{} (fastest kernels)", self.spec),
        }
    }

    /// M, for the optimizers with a memory (the spec's `m`, or its default).
    pub fn centers(&self) -> Option<usize> {
        let entry = self.spec.entry().ok()?;
        let key = entry.key("m")?;
        self.spec.get("m").unwrap_or(key.default).parse().ok()
    }
}

impl From<&SpeedCase> for CaseKey {
    fn from(case: &SpeedCase) -> Self {
        CaseKey {
            spec: case.spec.clone(),
            kernels: Kernels::Dispatched,
        }
    }
}
