//! # memory-core
//!
//! An online **memory of learning rates** (Meier, Kappler & Schaal, "Online Learning of a Memory
//! for Learning Rates", 2017): a locally weighted regression η̂(z; θ) from a gradient value z to
//! a learning rate, learned *while* the model trains.
//!
//! * Prediction (Eq. 3): η̂(z) = Σ_m ψ_m(z) θ_m / Σ_m ψ_m(z), ψ_m(z) = exp(−(z − c_m)²/(2σ²)).
//! * Learning (Eq. 4–5): G_m = mean_d s_d ψ_m(z_{t−1}[d]) with s_d = clamp(z_t z_{t−1}, −1, 1)
//!   (or its sign); θ ascends on G with SGD, momentum or Adam and stays in [θ_min, θ_max].
//!
//! Each step costs O(D·K) for a tensor of D coordinates, K ≈ 9 kernel evaluations per
//! coordinate, and keeps O(M) state per memory plus 4 bytes per coordinate ([`Trace`]): the
//! authors' code keeps two D×M activation matrices instead.
//!
//! `no_std` + `alloc`; feature `std` (default) adds `std::error::Error`, feature `serde`
//! (default) adds serialization and versioned save/load.
//!
//! ```
//! use memory_core::{Memory, MemoryConfig, MemoryOptimizer, Trace};
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
//! # Ok::<(), memory_core::MemoryError>(())
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

extern crate alloc;

mod error;
pub mod kernel;
mod memory;
#[cfg(feature = "serde")]
pub mod persist;
mod rule;
mod signal;

pub use error::MemoryError;
pub use kernel::{Grid, Layout};
pub use memory::{Memory, MemoryConfig, NonFinite, Trace};
pub use rule::{MemoryOptimizer, RuleState};
pub use signal::Signal;
