//! The memory's hyperparameters under [`Meta`](crate::Meta): ξ set on every memory with θ and
//! moments kept, and the names of the memory's fields by the keys that set them.

use lrmem_memory_core::{Memory, MemoryOptimizer};

use crate::optimizer::OptimError;

/// The memory's config fields whose names differ from the keys that set them (`lr` for η₀,
/// `xi` for ξ, `m` for M): what a range error of `Meta::set_hyperparameter` and of the
/// registry's `meta-*` entries names.
pub(crate) const MEMORY_FIELDS: &[(&str, &str)] = &[
    ("eta0", "lr"),
    ("num_centers", "m"),
    ("optimizer.lr", "xi"),
    ("optimizer.momentum", "theta_momentum"),
    ("optimizer.beta1", "theta_beta1"),
    ("optimizer.beta2", "theta_beta2"),
    ("optimizer.eps", "theta_eps"),
];

/// `optimizer` with its learning rate ξ set to `xi` (validated by the memory's config), for
/// [`Meta`](crate::Meta)'s `xi`.
pub(crate) fn memory_optimizer_with_lr(
    optimizer: MemoryOptimizer,
    xi: f32,
) -> Result<MemoryOptimizer, OptimError> {
    Ok(match optimizer {
        MemoryOptimizer::Sgd { .. } => MemoryOptimizer::Sgd { lr: xi },
        MemoryOptimizer::Momentum { momentum, .. } => {
            MemoryOptimizer::Momentum { lr: xi, momentum }
        }
        MemoryOptimizer::Adam {
            beta1, beta2, eps, ..
        } => MemoryOptimizer::Adam {
            lr: xi,
            beta1,
            beta2,
            eps,
        },
        _ => {
            return Err(OptimError::invalid(
                "xi",
                xi,
                "settable only on the memory optimizers sgd, momentum and adam",
            ))
        }
    })
}

/// `memory` with ξ set to `xi`: its θ and its optimizer's moments are kept, so that the next
/// step continues from where it was, with the new ξ.
pub(crate) fn memory_with_xi(memory: &Memory, xi: f32) -> Result<Memory, OptimError> {
    let mut config = *memory.config();
    config.optimizer = memory_optimizer_with_lr(config.optimizer, xi)?;
    Ok(Memory::restore(
        config,
        memory.theta().to_vec(),
        memory.rule_state().clone(),
    )?)
}
