//! # lrmem-tasks
//!
//! The learning problems lrmem's optimizers are measured on, starting with the papers' headline
//! experiment: online binary MNIST with the authors' LeNet.
//!
//! - [`idx`]: IDX files (raw or gzip), strictly validated.
//! - [`mnist`]: MNIST / Fashion-MNIST loading, digit pairs, the seeded online order.
//! - [`lenet`]: the authors' LeNet on dfdx 0.13 (im2col convolution, PyTorch-exact max-pool).
//! - [`logistic`]: online logistic regression on seeded synthetic data, a workload that runs
//!   in milliseconds for tests and examples.
//! - [`dynamics`]: robot-arm trajectories for dynamics learning: normalisation from training
//!   data only, seeded subsequences, NMSE.
//! - [`lstm`]: an LSTM forward-dynamics model on dfdx, trained by backpropagation through time.
//! - [`mlp`]: a small MLP for online inverse dynamics.
//! - [`fid`]: the Fréchet distance of generated digits in a 10-class LeNet's feature space.
//! - [`began`]: BEGAN on MNIST, the papers' GAN experiment: two players, an optimizer each.
//! - [`l2l`]: the learned LSTM optimizer's task families (random quadratics, an MNIST MLP) and
//!   its meta-training by truncated backpropagation through time.
//! - [`adapter`]: lets any [`lrmem_optimizers::Optimizer`] update any dfdx model.
//! - [`panda`]: a simulated Franka Emika Panda arm (rigid-body dynamics from its public URDF
//!   and identified inertias), for the robot-dynamics tasks.
//! - [`robot`]: the robot-dynamics task families (the Panda's forward dynamics with the LSTM,
//!   its inverse dynamics online with the MLP), three tasks each: no payload, a payload, other
//!   motions.
//! - [`task`]: the small [`Task`] and [`TaskFamily`] traits the experiment harness runs,
//!   [`OnlineMnist`] and its family of digit pairs [`MnistPairs`].
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
//! let mut opt = Sgd::new(SgdConfig { lr: 0.05, ..SgdConfig::default() })?;
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

pub use dfdx;
pub use error::TaskError;
pub use task::{
    Check, Goal, Metric, MnistPairs, OnlineMnist, Picture, Task, TaskFamily, EVAL_BATCH, ONE_PLAYER,
};
