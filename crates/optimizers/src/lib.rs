//! # optimizers
//!
//! Gradient-descent optimizers over **named `f32` tensors**, and [`Meta`], which wraps any of
//! them and learns the learning rate of every coordinate online with a memory of learning rates
//! ([`memory_core`]). A model is a list of named tensors; each call of [`Optimizer::step`]
//! updates one of them, creating its state on first sight.
//!
//! The seam follows optax: a base optimizer produces a *direction* u_t ([`Direction`]); a
//! learning rate scales it, w ← w − η ⊙ u. Plain [`Sgd`] and [`Adam`] use a constant η;
//! [`Meta`] asks its memory for η_d = η̂(z_d) per coordinate. The peers it is measured
//! against: [`Rprop`] (iRprop−) and hypergradient descent ([`SgdHd`], [`AdamHd`]).
//!
//! ```
//! use optimizers::{Meta, MetaConfig, Optimizer, SgdConfig};
//! use memory_core::{MemoryConfig, MemoryOptimizer};
//!
//! // Meta-SGD as in the authors' MetaSgd1d: η₀ = 1e-2, Adam on θ with ξ = 1e-3.
//! let config = MetaConfig { memory: MemoryConfig { clip: 10.0, eta0: 1e-2,
//!                                                  optimizer: MemoryOptimizer::adam(1e-3),
//!                                                  ..MemoryConfig::default() },
//!                           ..MetaConfig::default() };
//! let mut opt = Meta::new(SgdConfig::default(), config)?;
//! let mut w = vec![3.0f32, -1.0];
//! for _ in 0..100 {
//!     let grad: Vec<f32> = w.iter().map(|x| 2.0 * x).collect(); // ∇‖w‖²
//!     opt.step("w", &mut w, &grad)?;
//! }
//! assert!(w.iter().all(|x| x.abs() < 1.0));
//! # Ok::<(), optimizers::OptimError>(())
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod adam;
pub mod contract;
mod error;
mod hd;
mod meta;
#[cfg(feature = "ndarray")]
pub mod ndarray;
mod rprop;
mod sgd;
mod state;

pub use adam::{Adam, AdamConfig, AdamState};
pub use error::OptimError;
pub use hd::{AdamHd, AdamHdConfig, HdState, SgdHd, SgdHdConfig};
pub use memory_core::{self, MemoryConfig, MemoryOptimizer, NonFinite};
pub use meta::{Meta, MetaConfig, MetaTensor};
pub use rprop::{Rprop, RpropConfig, RpropState};
pub use sgd::{Sgd, SgdConfig, SgdState};
pub use state::{check_inputs, TensorStates};

use serde::{de::DeserializeOwned, Serialize};

/// Steps one named parameter tensor. The one trait a training loop needs.
///
/// Per-tensor state is created on the first step of each name and kept under it; a tensor
/// must keep its length. Implementations check `grads.len() == params.len()` and finiteness
/// before changing anything, so an `Err` leaves parameters and state as they were.
pub trait Optimizer {
    /// w ← update(w, g) for the tensor `name`.
    fn step(&mut self, name: &str, params: &mut [f32], grads: &[f32]) -> Result<(), OptimError>;
}

/// Whole-optimizer state that can be saved and loaded (postcard in lrmem's versioned envelope).
pub trait Checkpoint {
    /// Every tensor's state (and, for [`Meta`], every memory) as bytes.
    fn save(&self) -> Result<Vec<u8>, OptimError>;
    /// Replaces the state with what [`Checkpoint::save`] wrote. The checkpoint must come from
    /// the same kind of optimizer with the same config; damaged bytes are an error, and on an
    /// error the optimizer is unchanged.
    fn load(&mut self, bytes: &[u8]) -> Result<(), OptimError>;
}

/// A base optimizer as [`Meta`] sees it: the maths of the step direction, without a learning rate.
///
/// Per step and tensor, [`Meta`] calls [`advance`](Direction::advance) once, reads the query
/// z = [`query`](Direction::query) (clipped to the memory's range), and moves every coordinate by
/// `−η̂(z_d) · direction(…, z_d)`. SGD: z = u = g. Adam (the authors' TF backend): z = m_t,
/// u = m_t/(√v_t + ε).
pub trait Direction: Send + Sync {
    /// Per-tensor state of the base (momentum buffers, moments, …).
    type State: Clone + std::fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync;
    /// A short name, stored in checkpoints.
    const NAME: &'static str;
    /// Fresh state for a tensor of `len` coordinates.
    fn init(&self, len: usize) -> Self::State;
    /// Takes this step's gradient into the state (moments, momentum). Called once per step.
    fn advance(&self, state: &mut Self::State, params: &[f32], grads: &[f32]);
    /// The values the memory is queried with, one per coordinate (after `advance`).
    fn query<'a>(&self, state: &'a Self::State, grads: &'a [f32]) -> &'a [f32];
    /// u_d: the direction of coordinate `d`, given its clipped query `z`, gradient `g` and value `w`.
    fn direction(&self, state: &Self::State, d: usize, z: f32, g: f32, w: f32) -> f32;

    /// w_i ← w_i − η_i·u_{start+i} for a block of coordinates starting at `start` (`eta`, `z`,
    /// `grads` and `params` are that block). The default calls [`direction`](Direction::direction)
    /// per coordinate; a base whose direction is simple overrides it with a loop the compiler
    /// vectorises.
    fn apply_block(
        &self,
        state: &Self::State,
        start: usize,
        eta: &[f32],
        z: &[f32],
        grads: &[f32],
        params: &mut [f32],
    ) {
        for (i, (((w, &e), &zc), &g)) in params.iter_mut().zip(eta).zip(z).zip(grads).enumerate() {
            *w -= e * self.direction(state, start + i, zc, g, *w);
        }
    }
}

/// Bytes of optimizer state per parameter coordinate, for capacity planning and reports.
pub trait StateBytes {
    /// Bytes per coordinate (excluding O(1)- or O(M)-per-tensor terms).
    fn bytes_per_coordinate(&self) -> usize;
}

#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
