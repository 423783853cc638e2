//! # lrmem-memory-core
//!
//! An online **memory of learning rates** (Meier, Kappler & Schaal, "Online Learning of a Memory
//! for Learning Rates", 2017): a locally weighted regression η̂(z; θ) from a gradient value z to
//! a learning rate, learned *while* the model trains.
//!
//! ## What lives where
//! * `memory`: [`Memory`], θ and one step on one tensor read top-down: G (Eq. 4), θ's ascent
//!   (Eq. 5), the rates of the new θ (Eq. 3) (docs/algorithm.md §9).
//! * `reference`: Eq. 3 and Eq. 4 written once, one coordinate at a time: what runs for every
//!   grid and every input, and what the fast kernels are tested against.
//! * `rule`: Eq. 5, how θ ascends on G ([`MemoryOptimizer`], [`ThetaSpace`]); `signal`: the
//!   learning signal s ([`Signal`]); [`kernel`]: the centres and the kernel ψ ([`Grid`],
//!   [`Layout`]).
//! * `kernels/`: the fast path of evenly spaced centres, one dispatch ([`Kernels`]) into one
//!   module per instruction-set tier (portable, AVX2, AVX-512: the only modules with
//!   `unsafe`), the binned update with its error bound and the prediction table with its
//!   certified bound.
//! * `config`: [`MemoryConfig`] and its options; `trace`: [`Trace`], the per-tensor state;
//!   `context`: [`ContextMemory`], a memory over (z, the gradient's scale); `persist`:
//!   versioned, checksummed save/load (feature `serde`); `error`: [`MemoryError`].
//!
//! ## The algorithm
//! * Prediction (Eq. 3): η̂(z) = Σ_m ψ_m(z) θ_m / Σ_m ψ_m(z), ψ_m(z) = exp(−(z − c_m)²/(2σ²)).
//! * Learning (Eq. 4–5): G_m = mean_d s_d ψ_m(z_{t−1}\[d\]) with s_d = clamp(z_t z_{t−1}, −1, 1)
//!   (or its sign); θ ascends on G with SGD, momentum or Adam and stays in [θ_min, θ_max].
//!
//! Each step costs O(D) for a tensor of D coordinates, independent of M: only the 2K + 1 = 9
//! centres within the kernel cutoff of a gradient value are evaluated (K = 4 at the default
//! cutoff 9σ and lm_scale 0.5). State: **4 bytes per coordinate** (the previous query, a
//! [`Trace`]) plus O(M) per memory (θ and its optimizer's moments, 3M f32, and scratch; for
//! evenly spaced centres the large-tensor update also keeps M·nb bins of 32 bytes, nb ≈ 225 at
//! lm_scale 0.5, a θ-independent table of (2K+1)·nb·32 bytes and 32 KiB of per-lane bins). The
//! authors' code keeps two D×M activation matrices instead.
//!
//! ## Speed
//! A step is two passes over the tensor: the update (G needs every coordinate before θ moves)
//! and the prediction. For evenly spaced centres both are vectorised ([`Memory::step_blocks`]
//! hands the rates over in contiguous blocks); with `std` on x86-64 they run AVX2 code, or with
//! [`Kernels::Fastest`] AVX-512 code, chosen at run time (see [`Kernels`] for what each
//! promises). The prediction is [`Memory::predict`]'s formula, or for large tensors a table of
//! it whose error is certified below 10⁻⁷ (docs/algorithm.md §16). The update of large
//! tensors accumulates, per bin of width 1/nb spacings, the moments s·(1, δ, δ², δ³) of the
//! offsets δ from the bin centre and turns them into G with a degree-3 Taylor expansion of the
//! kernel: every term s·ψ_m(z) is off by at most 1.1·10⁻⁷ of itself (a bound proved in
//! `kernels/plan.rs` and checked by the kernels' tests), the size of the f32 rounding of the
//! term itself.
//!
//! `no_std` + `alloc`; feature `std` (default) adds `std::error::Error`, feature `serde`
//! (default) adds serialization and versioned save/load.
//!
//! ```
//! use lrmem_memory_core::{Memory, MemoryConfig, MemoryOptimizer, Trace};
//! // Minimise f(w) = ½‖w‖² with learning rates the memory learns on the way.
//! let config = MemoryConfig { clip: 4.0, eta0: 0.01, optimizer: MemoryOptimizer::adam(0.01),
//!                             ..MemoryConfig::default() };
//! let mut memory = Memory::new(config)?;
//! let mut w = vec![3.0f32, -2.0, 1.0];
//! let mut trace = Trace::new(w.len());
//! for _ in 0..200 {
//!     let grad = w.clone();
//!     memory.step(&mut trace, &grad, |d, eta, g| w[d] -= eta * g)?;
//! }
//! assert!(w.iter().all(|x| x.abs() < 0.1));
//! # Ok::<(), lrmem_memory_core::MemoryError>(())
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]
#![deny(unsafe_code)]

extern crate alloc;

mod config;
mod context;
mod error;
pub mod kernel;
// The only modules with `unsafe` (the AVX2 and AVX-512 tiers) are inside; see their docs.
mod kernels;
mod memory;
mod reference;
// Plumbing, hidden from the docs: lrmem-optimizers writes its checkpoints in the same checked
// envelope; users save and load through `Memory::to_bytes` / `from_bytes` and the optimizers'
// `Checkpoint`.
#[cfg(feature = "serde")]
#[doc(hidden)]
pub mod persist;
mod rule;
mod signal;
mod trace;

pub use config::{
    MemoryConfig, NonFinite, QueryScale, Reload, MAX_RATE, MAX_SIGMA, MIN_LM_SCALE, MIN_SIGMA,
};
pub use context::{ContextConfig, ContextMemory, ContextTrace, MIN_CONTEXT_SPACING};
pub use error::MemoryError;
pub use kernel::{Grid, Layout};
pub use kernels::Kernels;
pub use memory::Memory;
pub use rule::{MemoryOptimizer, RuleState, ThetaSpace};
pub use signal::Signal;
pub use trace::Trace;
