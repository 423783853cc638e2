//! # lrmem-tasks
//!
//! The learning problems lrmem's optimizers are measured on, starting with the papers' headline
//! experiment: online binary MNIST with the authors' LeNet.
//!
//! What lives where, from the ground up:
//!
//! - The harness's interface: [`task`] (the [`Task`] and [`TaskFamily`] traits, [`Metric`],
//!   [`Check`], [`Picture`]); [`TaskError`], every error of the crate.
//! - Data: [`idx`] (IDX files, raw or gzip, strictly validated), [`mnist`] (MNIST /
//!   Fashion-MNIST, digit pairs, the seeded online order), [`dynamics`] (robot-arm
//!   trajectories: normalisation from training data only, seeded subsequences, NMSE),
//!   [`panda`] (a simulated Franka Emika Panda: rigid-body dynamics from its public URDF and
//!   identified inertias, its reference motions).
//! - Models on dfdx 0.13 (CPU): [`lenet`] (the authors' LeNet, PyTorch-exact max-pool),
//!   [`mlp`] (the inverse-dynamics MLP and its online learner), [`lstm`] (the
//!   forward-dynamics LSTM and its BPTT learner), [`fid`] (the Fréchet distance of generated
//!   digits in a 10-class LeNet's feature space). What they share is crate-private: `layers`
//!   (im2col convolution, upsampling, ELU, the bias add and dense layer, layer
//!   initialisation, packing samples into tensors, the MSE), `model` (a model's tensors as a
//!   dfdx collection, and one training update through the adapter) and `random` (every
//!   seeded draw).
//! - The bridge: [`adapter`] lets any [`lrmem_optimizers::Optimizer`] update any dfdx model.
//! - Workloads (task families the harness runs): [`binary_mnist`] (the papers' headline
//!   experiment, [`OnlineMnist`] and its digit pairs [`MnistPairs`]), [`robot`] (the Panda's
//!   forward dynamics with the LSTM and its inverse dynamics online with the MLP, three tasks
//!   each: no payload, a payload, other motions), [`began`] (BEGAN on MNIST: the networks,
//!   the two-player training, the workload), [`logistic`] (online logistic regression on
//!   seeded synthetic data, for tests and examples), [`l2l`] (the learned LSTM optimizer's
//!   task families and its meta-training) and [`maml`] (MAML on mixed linear regression,
//!   solved exactly).
//!
//! dfdx stays inside this crate (re-exported as [`dfdx`] for callers that build models), so a
//! later change of deep-learning backend touches one crate.
//!
//! ```
//! use std::sync::Arc;
//! use lrmem_tasks::mnist::{BinaryPair, Samples, PIXELS};
//! use lrmem_tasks::{OnlineMnist, Task};
//! use lrmem_optimizers::{Sgd, SgdConfig};
//!
//! // Two synthetic images standing in for two digits.
//! let mut pixels = vec![0.0; 2 * PIXELS];
//! pixels[..PIXELS / 2].fill(1.0);
//! pixels[PIXELS + PIXELS / 2..].fill(1.0);
//! let samples = Samples::new(pixels, vec![0, 1])?;
//! let pair = Arc::new(BinaryPair { digits: (0, 1), train: samples.clone(), test: samples });
//! let mut task = OnlineMnist::new(pair, 0)?;
//! let mut opt = Sgd::new(SgdConfig::with_lr(0.05))?;
//! for _ in 0..40 {
//!     task.update(&mut opt)?;
//! }
//! assert_eq!(task.evaluate()?, 1.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod adapter;
pub mod began;
pub mod binary_mnist;
pub mod dynamics;
mod error;
pub mod fid;
pub mod idx;
pub mod l2l;
mod layers;
pub mod lenet;
pub mod logistic;
pub mod lstm;
pub mod maml;
pub mod mlp;
pub mod mnist;
mod model;
pub mod panda;
mod random;
pub mod robot;
pub mod task;
#[cfg(test)]
mod testing;

pub use binary_mnist::{MnistPairs, OnlineMnist, EVAL_BATCH};
pub use dfdx;
pub use error::TaskError;
pub use task::{Check, Goal, Metric, Picture, Task, TaskFamily, ONE_PLAYER};
