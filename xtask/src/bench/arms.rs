//! The arms of the MNIST experiment: every optimizer a user would pick, and the memory.

use anyhow::Result;
use optimizers::{
    Adam, AdamConfig, AdamHd, AdamHdConfig, MemoryConfig, MemoryOptimizer, Meta, MetaConfig,
    Optimizer, Rprop, RpropConfig, Sgd, SgdConfig, SgdHd, SgdHdConfig,
};
use serde::Serialize;

/// The papers' memory for MNIST: M = 20 local models (REFERENCE.md §2). The papers do not give
/// the clip; LeNet's per-sample gradients lie well inside ±1 (cross-entropy gradients on the
/// logits are bounded by 1), so the centres span [−1, 1].
pub const CENTERS: usize = 20;
/// Gradient clip and centre range of the memory.
pub const CLIP: f32 = 1.0;

/// One arm: an optimizer family with its settings, except the base learning rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Arm {
    /// Plain SGD.
    Sgd,
    /// Adam.
    Adam,
    /// SGD with a memory of learning rates (Adam on θ with meta learning rate ξ), fresh per task.
    MetaSgd { xi: f32 },
    /// The same, with the memory reloaded from the previous task (θ kept, the rest reset).
    MetaSgdReload { xi: f32 },
    /// Adam with a memory of learning rates (the authors' TF backend).
    MetaAdam { xi: f32 },
    /// iRprop−.
    Rprop,
    /// SGD with hypergradient descent on its learning rate (β = 1e−3).
    SgdHd,
    /// Adam with hypergradient descent (β = 1e−7).
    AdamHd,
}

impl Arm {
    /// Every arm of the papers' protocol.
    pub fn all() -> Vec<Arm> {
        let mut v = vec![Arm::Sgd, Arm::Adam];
        for xi in [0.1, 0.01, 0.001] {
            v.push(Arm::MetaSgd { xi });
        }
        for xi in [0.1, 0.01, 0.001] {
            v.push(Arm::MetaSgdReload { xi });
        }
        v.extend([
            Arm::MetaAdam { xi: 0.01 },
            Arm::Rprop,
            Arm::SgdHd,
            Arm::AdamHd,
        ]);
        v
    }

    /// A short stable name, used on the command line and in reports.
    pub fn name(&self) -> String {
        match self {
            Arm::Sgd => "sgd".into(),
            Arm::Adam => "adam".into(),
            Arm::MetaSgd { xi } => format!("meta-sgd-xi{xi}"),
            Arm::MetaSgdReload { xi } => format!("meta-sgd-reload-xi{xi}"),
            Arm::MetaAdam { xi } => format!("meta-adam-xi{xi}"),
            Arm::Rprop => "rprop".into(),
            Arm::SgdHd => "sgd-hd".into(),
            Arm::AdamHd => "adam-hd".into(),
        }
    }

    /// Parses [`Arm::name`].
    pub fn parse(s: &str) -> Result<Arm> {
        Arm::all()
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "unknown arm `{s}`; the arms are: {}",
                    Arm::all()
                        .iter()
                        .map(Arm::name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    }

    /// Whether the optimizer is kept across tasks (only θ survives: `Meta::reload`).
    pub fn reloads(&self) -> bool {
        matches!(self, Arm::MetaSgdReload { .. })
    }

    /// The arm whose task-1 behaviour this arm shares (for tuning: a reload arm is its fresh
    /// twin on the first task).
    pub fn tuning_twin(&self) -> Arm {
        match *self {
            Arm::MetaSgdReload { xi } => Arm::MetaSgd { xi },
            a => a,
        }
    }

    /// Builds the optimizer with base learning rate `lr` (η₀ for the meta arms, Δ₀ for Rprop).
    pub fn build(&self, lr: f32) -> Result<ArmOptimizer> {
        let memory = |xi: f32| MetaConfig {
            memory: MemoryConfig {
                num_centers: CENTERS,
                clip: CLIP,
                eta0: lr,
                optimizer: MemoryOptimizer::adam(xi),
                ..MemoryConfig::default()
            },
        };
        Ok(match *self {
            Arm::Sgd => ArmOptimizer::Plain(Box::new(Sgd::new(SgdConfig::with_lr(lr))?)),
            Arm::Adam => ArmOptimizer::Plain(Box::new(Adam::new(AdamConfig::with_lr(lr))?)),
            Arm::MetaSgd { xi } | Arm::MetaSgdReload { xi } => {
                ArmOptimizer::MetaSgd(Box::new(Meta::new(SgdConfig::default(), memory(xi))?))
            }
            Arm::MetaAdam { xi } => {
                ArmOptimizer::Plain(Box::new(Meta::new(AdamConfig::default(), memory(xi))?))
            }
            Arm::Rprop => ArmOptimizer::Plain(Box::new(Rprop::new(RpropConfig::with_lr(lr))?)),
            Arm::SgdHd => ArmOptimizer::Plain(Box::new(SgdHd::new(SgdHdConfig {
                lr,
                ..SgdHdConfig::default()
            })?)),
            Arm::AdamHd => ArmOptimizer::Plain(Box::new(AdamHd::new(AdamHdConfig {
                lr,
                ..AdamHdConfig::default()
            })?)),
        })
    }
}

/// An arm's optimizer; Meta-SGD is kept concrete so that it can be reloaded between tasks.
pub enum ArmOptimizer {
    /// Any optimizer, rebuilt for every task.
    Plain(Box<dyn Optimizer + Send>),
    /// Meta-SGD, reloadable.
    MetaSgd(Box<Meta<SgdConfig>>),
}

impl ArmOptimizer {
    /// The optimizer to step with.
    pub fn optimizer(&mut self) -> &mut dyn Optimizer {
        match self {
            ArmOptimizer::Plain(o) => o.as_mut(),
            ArmOptimizer::MetaSgd(o) => o.as_mut(),
        }
    }

    /// Keep every memory's θ, reset the rest (no-op for other optimizers).
    pub fn reload(&mut self) {
        if let ArmOptimizer::MetaSgd(m) = self {
            m.reload();
        }
    }

    /// Mean θ of every memory (for the report: what the memory learned), if any.
    pub fn theta_summary(&self) -> Option<Vec<(String, Vec<f32>)>> {
        match self {
            ArmOptimizer::MetaSgd(m) => Some(
                m.memories()
                    .map(|(k, mem)| (k.to_string(), mem.theta().to_vec()))
                    .collect(),
            ),
            ArmOptimizer::Plain(_) => None,
        }
    }
}
