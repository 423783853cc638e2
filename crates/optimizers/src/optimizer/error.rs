//! The error type of the optimizers.

use lrmem_memory_core::MemoryError;

/// What can go wrong when stepping, configuring, saving or loading an optimizer.
/// Every message names the tensor and says what to do; on an error nothing was changed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OptimError {
    /// `params` and `grads` differ in length, or a tensor changed size between steps.
    #[error("tensor `{tensor}`: {what} has {found} entries, expected {expected}; pass one gradient per parameter, and keep a tensor's size fixed under one name (to start over, `Optimizer::next_task` forgets every tensor's state and size)")]
    LengthMismatch {
        /// The tensor's name.
        tensor: String,
        /// Which input was off.
        what: &'static str,
        /// The length expected.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// A gradient coordinate was NaN, infinite, or beyond ±[`MAX_GRADIENT`](crate::MAX_GRADIENT)
    /// (10¹⁸, whose square would overflow Adam's second moment and poison it for good).
    #[error("tensor `{tensor}`: unusable gradient {value} at coordinate {index} (NaN, infinite, or beyond ±1e18, where f32 state overflows); nothing was updated. Fix the loss or lower the learning rate, or set {setting} to `NonFinite::Skip` to step over such coordinates")]
    NonFiniteGradient {
        /// The tensor's name.
        tensor: String,
        /// The first non-finite coordinate.
        index: usize,
        /// Its value.
        value: f32,
        /// Where this optimizer's policy for such gradients is set, in words.
        setting: &'static str,
    },
    /// One call of [`Optimizer::step_model`](crate::Optimizer::step_model) named a tensor twice.
    #[error("tensor `{tensor}` was given twice in one model step; give every tensor once, under its own name")]
    DuplicateTensor {
        /// The tensor's name.
        tensor: String,
    },
    /// A parameter was NaN or infinite: the model diverged before this step (refused under
    /// every `NonFinite` policy, which is about gradients).
    #[error("tensor `{tensor}`: parameter {value} at coordinate {index} is not finite; nothing was updated. The model diverged before this step: restart from a checkpoint with a lower learning rate")]
    NonFiniteParameter {
        /// The tensor's name.
        tensor: String,
        /// The first non-finite coordinate.
        index: usize,
        /// Its value.
        value: f32,
    },
    /// Weight decay turned a parameter into an unusable gradient: λ·w (added to the gradient,
    /// or to the direction under `Meta`) is NaN, infinite or beyond ±[`MAX_GRADIENT`](crate::MAX_GRADIENT).
    /// Only a diverged (or NaN) parameter gets there.
    #[error("tensor `{tensor}`: weight decay {weight_decay} times the parameter {param} at coordinate {index} gives {value} (NaN, infinite, or beyond ±1e18, where f32 state overflows); nothing was updated. The parameter has diverged: restart from a checkpoint with a lower learning rate")]
    DecayedGradient {
        /// The tensor's name.
        tensor: String,
        /// The first such coordinate.
        index: usize,
        /// Its parameter.
        param: f32,
        /// The gradient (or direction) term it gave.
        value: f32,
        /// The weight decay λ.
        weight_decay: f32,
    },
    /// Two settings that are one setting disagree ([`Meta`](crate::Meta): the base's `lr` is
    /// η₀, `MetaConfig.memory.eta0`; the base's `non_finite` is `MetaConfig.memory.non_finite`).
    #[error("conflicting optimizer config: {reason}")]
    Conflict {
        /// Both settings with their values, and what to set.
        reason: String,
    },
    /// Tensors and memories of learning rates do not fit together: a name given to
    /// [`Meta::only`](crate::Meta::only) that no tensor has, or a tensor whose memory a strict
    /// [`Meta::load_memories`](crate::Meta::load_memories) did not provide.
    #[error("{reason}")]
    Routing {
        /// Which tensor or name, the names seen, and what to do.
        reason: String,
    },
    /// Saved state is intact but does not fit this optimizer: another kind of optimizer,
    /// another config, an older format, or memories whose θ means something else here.
    #[error("cannot load optimizer state: {reason}")]
    Incompatible {
        /// What differs (both values), and what to do.
        reason: String,
    },
    /// A configuration value is out of range.
    #[error("invalid optimizer config: `{field}` = {value} but it must be {expected}")]
    InvalidConfig {
        /// The field.
        field: &'static str,
        /// Its value, formatted.
        value: String,
        /// The valid range in words.
        expected: &'static str,
    },
    /// The memory of learning rates of a tensor (or its config) refused.
    #[error("memory of learning rates{}: {source}", tensor.as_deref().map(|t| format!(" for tensor `{t}`")).unwrap_or_default())]
    Memory {
        /// The tensor whose step failed, if any.
        tensor: Option<String>,
        /// What the memory said.
        #[source]
        source: MemoryError,
    },
    /// [`Optimizer::set_hyperparameter`](crate::Optimizer::set_hyperparameter) named a
    /// hyperparameter the optimizer does not have.
    #[error("this optimizer has no hyperparameter `{name}`; {}", if known.is_empty() { "it has none that can change after construction".to_owned() } else { format!("it has: {}", known.join(", ")) })]
    UnknownHyperparameter {
        /// The name given.
        name: String,
        /// Every hyperparameter the optimizer has.
        known: Vec<String>,
    },
    /// A hyperparameter that a [`Scheduled`](crate::Scheduled) optimizer sets at every step was
    /// set by hand; the schedule would overwrite it at the next step.
    #[error("hyperparameter `{name}` follows a schedule, which sets it at every step; change the schedule instead of setting it")]
    Scheduled {
        /// The hyperparameter.
        name: String,
    },
    /// A pattern (or exact name) of a parameter group ([`Groups`](crate::Groups)) routed no
    /// tensor of the first model step: a typo, a renamed layer, or a pattern shadowed by an
    /// earlier group.
    #[error("parameter group `{group}`: pattern `{pattern}` matched no tensor of the first model step{}; the tensors were: {}. Fix the pattern or remove it", shadowed_by.as_deref().map(|g| format!(" (the tensors it matches all went to the earlier group `{g}`)")).unwrap_or_default(), seen.join(", "))]
    UnmatchedPattern {
        /// The group's name.
        group: String,
        /// The pattern.
        pattern: String,
        /// The earlier group that took every tensor the pattern matches, if it matched any.
        shadowed_by: Option<String>,
        /// The names of the first model step's tensors.
        seen: Vec<String>,
    },
    /// No parameter group ([`Groups`](crate::Groups)) has this name.
    #[error("there is no parameter group `{name}`; the groups are: {}", known.join(", "))]
    UnknownGroup {
        /// The name given.
        name: String,
        /// Every group's name.
        known: Vec<String>,
    },
    /// Saved optimizer state could not be loaded.
    #[error("cannot load optimizer state: {reason}")]
    Corrupt {
        /// Why, and what to do.
        reason: String,
    },
}

impl OptimError {
    /// `tensor`'s `what` has `found` entries where it should have `expected` (its gradients, or
    /// its parameters after the tensor changed length).
    pub(crate) fn length_mismatch(
        tensor: &str,
        what: &'static str,
        expected: usize,
        found: usize,
    ) -> Self {
        OptimError::LengthMismatch {
            tensor: tensor.to_owned(),
            what,
            expected,
            found,
        }
    }

    /// `field` = `value` is out of range: it must be `expected`.
    pub(crate) fn invalid(
        field: &'static str,
        value: impl std::fmt::Display,
        expected: &'static str,
    ) -> Self {
        OptimError::InvalidConfig {
            field,
            value: value.to_string(),
            expected,
        }
    }
}

impl From<MemoryError> for OptimError {
    fn from(source: MemoryError) -> Self {
        match source {
            MemoryError::Corrupt { reason } => OptimError::Corrupt { reason },
            source => OptimError::Memory {
                tensor: None,
                source,
            },
        }
    }
}
