//! The learned LSTM optimizer (Andrychowicz et al. 2016) against the peers, on the paper's two
//! task families: meta-train it on each ([`lrmem_tasks::l2l::meta_train`], cost reported), then
//! run every arm on held-out instances of both families for the trained horizon and ten times
//! longer.
//!
//! The arms, from the optimizers' registry: the reference and the papers' presets of the headline
//! tier (SGD, Adam, the memory of learning rates over SGD and over Adam, Rprop, hypergradient
//! descent; [`tuned_arms`]) each at the learning rate that did best on a validation instance (a
//! grid, never the reported instances); the learning-rate-free peers at their defaults
//! ([`default_arms`]); the LSTM trained on the quadratics and the LSTM trained on MNIST, each on
//! both families (on its own family it generalises to new instances, on the other to a new kind
//! of problem).

mod report;
mod run;

use lrmem_optimizers::registry::{Family as OptimizerFamily, Tier};
use serde::{Deserialize, Serialize};

use crate::harness::Arm;

pub use report::section;

/// The study's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct L2lStudy {
    /// Meta-training epochs (instances) on the quadratics and on MNIST.
    pub epochs: [usize; 2],
    /// Validation every this many epochs during meta-training.
    pub eval_every: usize,
    /// Held-out instances per family and arm.
    pub seeds: usize,
    /// The horizon the LSTM is trained on (100).
    pub horizon: usize,
    /// The longer horizon every arm also runs.
    pub long: usize,
    /// Learning rates tried first for the tuned arms, on one validation instance; while the
    /// best sits at an edge, the grid grows past it by factors of 3 (up to 4 times).
    pub grid: Vec<f32>,
    /// Seed of meta-training and of every instance.
    pub seed: u64,
}

impl L2lStudy {
    /// The full study: 3,000 epochs on the quadratics, 250 on MNIST, 10 held-out instances,
    /// horizons 100 and 1,000.
    pub fn full(seed: u64) -> Self {
        L2lStudy {
            epochs: [3000, 250],
            eval_every: 20,
            seeds: 10,
            horizon: 100,
            long: 1000,
            grid: vec![1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0],
            seed,
        }
    }

    /// A smoke run: a few epochs, 2 instances, horizons 20 and 60.
    pub fn quick(seed: u64) -> Self {
        L2lStudy {
            epochs: [4, 2],
            eval_every: 2,
            seeds: 2,
            horizon: 20,
            long: 60,
            grid: vec![1e-2, 0.1],
            seed,
        }
    }
}

/// Meta-training on one family: what it cost and where it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trained {
    /// The family (`quadratic`, `mnist`).
    pub family: String,
    /// Epochs run.
    pub epochs: usize,
    /// The epoch whose weights were kept (best on validation).
    pub best_epoch: usize,
    /// Adam steps on φ.
    pub meta_updates: usize,
    /// Meta-updates skipped (a non-finite loss or meta-gradient).
    pub skipped: usize,
    /// Optimizee steps run, validation included.
    pub optimizee_steps: u64,
    /// Wall time of meta-training, seconds (one core).
    pub seconds: f64,
    /// (epoch, mean validation loss over the horizon).
    pub validation: Vec<(usize, f64)>,
    /// The weights, as [`L2lWeights::save`](lrmem_optimizers::l2l::L2lWeights::save) writes them.
    pub weights: Vec<u8>,
}

/// One arm on one family: its learning rate and, per held-out instance, the loss before every
/// step (shorter where the run diverged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmRuns {
    /// The family.
    pub family: String,
    /// The arm's name.
    pub arm: String,
    /// The spec it ran (for the learned optimizer, the weights it ran with are in its name).
    pub spec: String,
    /// The learning rate chosen on validation, for tuned arms.
    pub tuned_lr: Option<f32>,
    /// Losses per instance.
    pub losses: Vec<Vec<f32>>,
    /// Held-out (test-split) loss and accuracy at the end, where the family has them.
    pub held_out: Vec<Option<(f64, f64)>>,
    /// Wall time of all its runs, seconds.
    pub seconds: f64,
}

/// Everything the study measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct L2lResult {
    /// The settings.
    pub study: L2lStudy,
    /// Meta-training, per family.
    pub trained: Vec<Trained>,
    /// Every arm on every family.
    pub runs: Vec<ArmRuns>,
}

/// The version of meta-training's cache files: raise it when meta-training changes, so that
/// old results are not read as new.
pub const CACHE_VERSION: u32 = 1;

/// The arms tuned on validation: the registry's presets of the reference and the papers'
/// families up to the headline tier that run fresh on every instance (the study runs one
/// instance per run: a reload has nothing to carry).
pub fn tuned_arms() -> Vec<Arm> {
    crate::workloads::arms::tier(Tier::Headline)
        .into_iter()
        .filter(|a| {
            !a.reload
                && a.spec.entry().is_ok_and(|e| {
                    matches!(
                        e.family,
                        OptimizerFamily::Reference | OptimizerFamily::Papers
                    )
                })
        })
        .collect()
}

/// The arms at their defaults: the registry's learning-rate-free presets up to the headline
/// tier, the same set the study's held-out stages and the default profile run.
pub fn default_arms() -> Vec<Arm> {
    crate::workloads::arms::family(OptimizerFamily::LearningRateFree, Tier::Headline)
}
