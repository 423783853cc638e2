//! The optimizers of the speed suite, as optimizer specs with the memory traffic of their step:
//! every case the optimizers' registry times.

use lrmem_optimizers::registry::{registry, Speed};
use lrmem_optimizers::{Optimizer, OptimizerSpec, SpecError};
use serde::{Deserialize, Serialize};

/// How the speed suite times each optimizer: every `Speed::Timed` case of the registry
/// (`lrmem_optimizers::RegistryEntry::speed`), in registry order, as [`cases`] lists them, with
/// the bytes of memory traffic one step needs per coordinate (f32 tensors, 4 B) that each entry
/// declares. A new optimizer joins the suite (the `speed` binary and the criterion suites `step`
/// and `model`) through its registry entry alone; this table is the summary of what the entries
/// declare.
///
/// | optimizer | reads | writes | bytes |
/// |---|---|---|---|
/// | SGD | g, w | w | 12 |
/// | SGD + momentum | g, w, b | w, b | 20 |
/// | Adam | g, w, m, v | w, m, v | 28 |
/// | Meta-SGD (M = 20, 100) | g, z_prev (G); g, w | w, z_prev | 24 |
/// | Meta-Adam (M = 20, 100) | g, m, v; m, z_prev (G); m, v, w | m, v; w, z_prev | 48 |
/// | Rprop | g, w, g_prev, Δ | w, g_prev, Δ | 28 |
/// | SGD-HD | g, g_prev (dot); g, w | w, g_prev | 24 |
/// | Adam-HD | g, m, v (dot); g, w, m, v | w, m, v | 40 |
/// | Meta-Rprop | g, z_prev (G); g, g_prev, Δ; u, w | g_prev, Δ, u; w, z_prev | 52 |
/// | Meta-SGD-HD | g, g_prev (dot); g, z_prev (G); g; u, w | g_prev, u; w, z_prev | 44 |
/// | Meta-Adam-HD | g, m, v (dot), then as Meta-Adam | as Meta-Adam | 60 |
/// | Meta-SGD, context memory | g (RMS); g, z_prev (G); g, w | w, z_prev | 28 |
/// | Prodigy | g, w, x₀, s, m, v; m, v, w | s, m, v; w | 52 |
/// | D-Adapt Adam | g, s, m, v; m, v, w | s, m, v; w | 44 |
/// | D-Adapt SGD | g, s; x₀, s | s; w | 24 |
/// | DoG, L-DoG | g, w, x₀ (distance, Σg²); g, w | w | 24 |
/// | Schedule-Free SGD | g, w, z, x | z, x, w | 28 |
/// | Schedule-Free AdamW | g, w, z, x, v | z, x, v, w | 36 |
/// | COCOB | g, w, x₀, C, L, G, R | C, L, G, R, w | 48 |
/// | Mechanic over SGD | w (copy); SGD's; w, ref, g, copy; ref | copy; SGD's; w | 48 |
/// | Mechanic over Adam | w (copy); Adam's; w, ref, g, copy; ref | copy; Adam's; w | 64 |
///
/// The learned optimizer (`l2l`) is `Speed::Untimed`, with its reason in the registry.
///
/// The meta optimizers and the hypergradient methods need two passes over the gradient: their
/// learning rates depend on a sum over all coordinates (G, or g·g_prev) that must be complete
/// before the first coordinate moves. Every step also checks the gradient for NaN/∞ (one more
/// read of g, 4 B), which the table leaves out. The meta optimizers use the memory's defaults
/// (centres over ±1, lm_scale 0.5, cutoff 9σ, Adam on θ with ξ = 1e−3, η₀ = 1e−3), which is
/// [`super::memory_config`].
pub fn cases() -> Vec<SpeedCase> {
    registry()
        .iter()
        .flat_map(|entry| {
            let timed = match entry.speed {
                Speed::Timed(cases) => cases,
                Speed::Untimed(_) => &[],
            };
            timed.iter().map(move |case| SpeedCase {
                spec: entry
                    .spec(case.keys)
                    .expect("every speed case of the registry parses (tested)"),
                bytes: case.bytes,
            })
        })
        .collect()
}

/// The case every ratio of the report is taken to: the optimizer most models train with.
pub const REFERENCE: &str = "adam";

/// The case the dense D×M baseline is compared with: the same algorithm, lrmem's kernels.
pub const DENSE_PEER: &str = "meta-sgd:m=20";

/// One optimizer of the suite: what to build, and the traffic of its step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeedCase {
    /// The optimizer and its hyperparameters.
    pub spec: OptimizerSpec,
    /// Bytes of memory traffic one step needs per coordinate (see [`cases`]).
    pub bytes: usize,
}

impl SpeedCase {
    /// The case `spec` with `bytes` of traffic per coordinate (a case of your own; the suite's
    /// are [`cases`]).
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
