//! Data plumbing for learning a robot arm's dynamics, independent of where the trajectories
//! come from (a simulator or a real arm): normalisation fitted on training data only, seeded
//! sampling of subsequences, and the normalised mean squared error (NMSE) the papers report.
//!
//! # The two problems
//!
//! - **Forward dynamics** ([`ForwardData`], trained with [`crate::lstm`]): input
//!   x_t = (q_t, q̇_t, τ_t) ∈ R²¹, target the next state s_{t+1} = (q_{t+1}, q̇_{t+1}) ∈ R¹⁴ or
//!   the state change s_{t+1} − s_t ([`ForwardTarget`]). Each trajectory of `n` recorded steps
//!   gives a sequence of `n − 1` (input, target) pairs.
//! - **Inverse dynamics** ([`InverseData`], trained with [`crate::mlp`]): input
//!   (q, q̇, q̈) ∈ R²¹, target τ ∈ R⁷, one sample per update.
//!
//! # Normalisation
//!
//! Every input and target dimension is standardised, (v − mean) / std, with the mean and the
//! (population) standard deviation of the **training** data only ([`Normalizer::fit`]); the
//! held-out data are transformed with those same statistics, so no information about them
//! reaches training. A dimension that is constant on the training data keeps scale 1 (it is
//! only centred) rather than being divided by zero.
//!
//! # NMSE
//!
//! [`nmse`]: for each output dimension d, the mean squared error over the evaluation set
//! divided by the variance of the target over the same set, then the mean over dimensions:
//!
//! NMSE = (1/D) Σ_d [ (1/N) Σ_n (ŷ_nd − y_nd)² ] / [ (1/N) Σ_n (y_nd − ȳ_d)² ].
//!
//! The papers plot "normalized mean squared error (NMSE)" without writing the formula; this is
//! the usual definition of the robot-learning literature they come from (e.g. the LWPR
//! inverse-dynamics evaluations of Vijayakumar, D'Souza and Schaal, 2005), where an NMSE of 1
//! is what predicting the evaluation set's mean achieves. It is invariant under a per-dimension
//! affine rescaling of targets and predictions alike, so it can be computed in normalised or
//! in physical units with the same result.
//!
//! **The copy baseline.** At 1 ms the state hardly changes, so predicting s_{t+1} = s_t already
//! gives a tiny next-state NMSE (≈ mean over d of E(Δs_d²) / Var(s_d)), while its state-change
//! NMSE is E(Δ²)/Var(Δ) ≥ 1. [`ForwardData::copy_baseline`] computes both, so reports can say
//! how far a model is from that trivial predictor; the state-change NMSE is the informative one.
//!
//! ```
//! use lrmem_tasks::dynamics::{ArmTrajectory, ForwardData, ForwardTarget, JOINTS};
//!
//! // Two short synthetic trajectories: joint j moves as sin(ωj t).
//! let traj = |phase: f64| {
//!     let n = 300;
//!     let (mut q, mut qd, mut qdd, mut tau) = (vec![], vec![], vec![], vec![]);
//!     for t in 0..n {
//!         for j in 0..JOINTS {
//!             let w = 1.0 + j as f64;
//!             let s = w * t as f64 * 1e-3 + phase;
//!             q.push(s.sin());
//!             qd.push(w * s.cos());
//!             qdd.push(-w * w * s.sin());
//!             tau.push(-w * w * s.sin() + 0.1 * s.cos());
//!         }
//!     }
//!     ArmTrajectory::new(q, qd, qdd, tau)
//! };
//! let data = ForwardData::new(&[traj(0.0)?], &[traj(1.0)?], ForwardTarget::StateChange)?;
//! let copy = data.copy_baseline()?;
//! assert!(copy.next_state < 0.01 && copy.state_change >= 1.0);
//! # Ok::<(), lrmem_tasks::TaskError>(())

mod dataset;
mod forward;
mod inverse;
mod nmse;
mod trajectory;

pub use dataset::{Dataset, Normalizer, Normalizers, Sequence, SequenceSet};
pub use forward::{Forward, ForwardData, ForwardNmse, ForwardTarget, Subsequences};
pub use inverse::{Inverse, InverseData, SampleOrder};
pub use nmse::nmse;
pub use trajectory::ArmTrajectory;

/// Joints of the arm (the Panda has seven revolute joints).
pub const JOINTS: usize = 7;
/// Dimension of the arm's state (q, q̇).
pub const STATE: usize = 2 * JOINTS;
/// Dimension of the forward model's input (q, q̇, τ).
pub const FORWARD_INPUT: usize = 3 * JOINTS;
/// Dimension of the inverse model's input (q, q̇, q̈).
pub const INVERSE_INPUT: usize = 3 * JOINTS;
/// The subsequence length of the papers' forward-dynamics LSTM.
pub const SUBSEQUENCE: usize = 128;
