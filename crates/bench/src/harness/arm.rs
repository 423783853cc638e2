//! [`Arm`]: one optimizer of an experiment, with its hyperparameters, and whether it carries
//! what it learned into the next task; its text form `[NAME=]SPEC[+reload]`.

use lrmem_optimizers::OptimizerSpec;
use serde::{Deserialize, Serialize};

use crate::BenchError;

/// One arm: an optimizer with its hyperparameters, and whether it is carried across tasks.
///
/// A plain arm starts every task with a freshly built optimizer. A *reloading* arm keeps its
/// optimizer and calls [`Optimizer::next_task`](lrmem_optimizers::Optimizer::next_task) between tasks (for a memory of learning rates:
/// keep θ, reset the rest; for most optimizers: a full reset).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Arm {
    /// The name in reports and on the command line (the spec's text unless given).
    pub name: String,
    /// The optimizer. Its `lr` key, if set, overrides the setting's base learning rate.
    pub spec: OptimizerSpec,
    /// Carry the optimizer into the next task with [`Optimizer::next_task`](lrmem_optimizers::Optimizer::next_task).
    pub reload: bool,
}

impl Arm {
    /// A plain arm named after its spec.
    pub fn new(spec: OptimizerSpec) -> Self {
        Arm {
            name: spec.to_string(),
            spec,
            reload: false,
        }
    }

    /// The same arm, carried across tasks (`+reload` is added to a name derived from the spec).
    pub fn reloading(mut self) -> Self {
        if !self.reload && self.name == self.spec.to_string() {
            self.name.push_str("+reload");
        }
        self.reload = true;
        self
    }

    /// The same arm under another name.
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// Parses `[NAME=]SPEC[+reload]`, e.g. `meta-sgd:xi=0.05,m=20`, `meta-sgd:xi=0.01+reload`
    /// or `fast=meta-sgd:xi=0.1`; SPEC is [`OptimizerSpec`]'s syntax, so any optimizer of the
    /// registry with any hyperparameters is an arm.
    ///
    /// ```
    /// use lrmem_bench::harness::Arm;
    /// let arm = Arm::parse("meta-sgd:xi=0.01+reload")?;
    /// assert!(arm.reload);
    /// assert_eq!(arm.spec.get("xi"), Some("0.01"));
    /// assert_eq!(Arm::parse("mine=adam:lr=0.003")?.name, "mine");
    /// assert!(Arm::parse("no-such-optimizer").is_err());
    /// # Ok::<(), lrmem_bench::BenchError>(())
    /// ```
    pub fn parse(text: &str) -> Result<Arm, BenchError> {
        let text = text.trim();
        let (body, reload) = match text.strip_suffix("+reload") {
            Some(b) => (b.trim(), true),
            None => (text, false),
        };
        // A label is what comes before a `=` that precedes any `:` (the spec's keys follow `:`).
        let label = match (body.find('='), body.find(':')) {
            (Some(eq), colon) if colon.is_none_or(|c| eq < c) => Some(&body[..eq]),
            _ => None,
        };
        let spec_text = label.map_or(body, |l| &body[l.len() + 1..]);
        let spec = OptimizerSpec::parse(spec_text).map_err(|source| BenchError::Arm {
            arm: text.to_string(),
            source: Box::new(source),
        })?;
        let mut arm = Arm::new(spec);
        if reload {
            arm = arm.reloading();
        }
        if let Some(l) = label {
            let l = l.trim();
            if l.is_empty() {
                return Err(BenchError::Parse(format!(
                    "arm `{text}`: the name before `=` is empty"
                )));
            }
            arm = arm.named(l);
        }
        Ok(arm)
    }

    /// The arm whose first task behaves like this one's (tuning runs only the first task, where
    /// a reloading arm is its plain twin).
    pub fn tuning_twin(&self) -> Arm {
        Arm {
            reload: false,
            ..self.clone()
        }
    }
}
