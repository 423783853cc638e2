//! # lrmem-optimizers
//!
//! Gradient-descent optimizers over **named `f32` tensors**, and [`Meta`], which wraps any of
//! them and learns the learning rate of every coordinate online with a memory of learning rates
//! ([`lrmem_memory_core`]). A model is a list of named tensors; each call of [`Optimizer::step`]
//! updates one of them, creating its state on first sight.
//!
//! The seam follows optax: a base optimizer produces a *direction* u_t, its own update divided
//! by its learning rate ([`Base`]); a learning rate scales it, w ← w − η ⊙ u. Plain [`Sgd`] and
//! [`Adam`] use a constant η; [`Meta`] wraps any [`Base`] and asks its memory for
//! η_d = η̂(z_d) per coordinate, keeping whatever the base adapts relative to its learning
//! rate. The peers it is measured against, which it can wrap too: [`Rprop`] (iRprop−) and
//! hypergradient descent ([`SgdHd`], [`AdamHd`]). [`MetaContext`] ([`context`]) is Meta-SGD
//! with a memory over two inputs, the gradient and its tensor's gradient scale relative to its
//! running RMS (registry name `meta-ctx-sgd`). [`Meta::last_rates`] and [`Meta::on_step`]
//! show the rates a step applied, and every optimizer shows its state by tensor and field
//! ([`StateView`]).
//! Hyperparameters can change between steps ([`Optimizer::set_hyperparameter`]): [`Scheduled`]
//! sets them from [`schedule`]s (warmup, cosine, …), and [`Groups`] gives groups of tensors
//! optimizers of their own (no weight decay on biases, a memory on some layers only).
//! Feature `burn`: `lrmem_optimizers::burn` trains burn modules with any of them, a whole model per step.
//!
//! The learning-rate-free and schedule-free optimizers practitioners pick today, each matched
//! number for number to its reference implementation: [`Prodigy`] ([`prodigy`]),
//! [`DAdaptAdam`] and [`DAdaptSgd`] ([`dadapt`]), [`Dog`] and [`LDog`] ([`dog`]),
//! [`ScheduleFreeSgd`] and [`ScheduleFreeAdamW`] ([`schedule_free`]), [`Cocob`] ([`cocob`])
//! and [`Mechanic`] over any base ([`mechanic`]). Most need the whole model at once: step them
//! with [`Optimizer::step_model`]; Schedule-Free and averaged DoG evaluate at
//! [`Optimizer::eval_params`].
//!
//! The offline "learning to learn" the memory is measured against: [`l2l::L2l`], the learned
//! LSTM optimizer of Andrychowicz et al. (2016), with weights meta-trained on random quadratics
//! and on an MNIST MLP shipped in the crate (registry name `l2l`).
//!
//! How to choose ξ, M, clip and the layout from your gradients' scale, when the memory helps
//! and when it does not (measured), and carrying a memory into the next task end to end: the
//! practitioner's guide, `docs/guide.md` in the lrmem repository (its examples are doctests
//! of this crate).
//!
//! ```
//! use lrmem_optimizers::{Meta, MetaConfig, Optimizer};
//! use lrmem_memory_core::{MemoryConfig, MemoryOptimizer};
//!
//! // Meta over plain SGD (the authors' MetaSgd1d), here with η₀ = 1e-2, clip 10 and Adam on θ
//! // with ξ = 1e-3 (guide: docs/guide.md).
//! let config = MetaConfig { memory: MemoryConfig { clip: 10.0, eta0: 1e-2,
//!                                                  optimizer: MemoryOptimizer::adam(1e-3),
//!                                                  ..MemoryConfig::default() },
//!                           ..MetaConfig::default() };
//! // η₀ is the base's learning rate: `Meta::sgd` builds plain SGD with lr = memory.eta0.
//! let mut opt = Meta::sgd(config)?;
//! let mut w = vec![3.0f32, -1.0];
//! for _ in 0..100 {
//!     let grad: Vec<f32> = w.iter().map(|x| 2.0 * x).collect(); // ∇‖w‖²
//!     opt.step("w", &mut w, &grad)?;
//! }
//! assert!(w.iter().all(|x| x.abs() < 1.0));
//! # Ok::<(), lrmem_optimizers::OptimError>(())
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod adaptors;
pub mod contract;
mod methods;
mod optimizer;
pub mod registry;
mod wrappers;

#[cfg(feature = "burn")]
pub use adaptors::burn;
#[cfg(feature = "ndarray")]
pub use adaptors::ndarray;
pub use methods::{cocob, dadapt, dog, l2l, prodigy, schedule_free};
pub use wrappers::{context, mechanic, schedule};

pub use methods::adam::{Adam, AdamConfig, AdamState};
pub use methods::cocob::{Cocob, CocobConfig, CocobState};
pub use methods::dadapt::{
    DAdaptAdam, DAdaptAdamConfig, DAdaptAdamScalars, DAdaptAdamState, DAdaptSgd, DAdaptSgdConfig,
    DAdaptSgdScalars, DAdaptSgdState,
};
pub use methods::dog::{Dog, DogBlock, DogConfig, DogScalars, DogState, LDog};
pub use methods::hd::{AdamHd, AdamHdConfig, HdState, SgdHd, SgdHdConfig};
pub use methods::prodigy::{Prodigy, ProdigyConfig, ProdigyScalars, ProdigyState, D_LIMIT};
pub use methods::rprop::{Rprop, RpropConfig, RpropState};
pub use methods::schedule_free::{
    ScheduleFreeAdamW, ScheduleFreeAdamWConfig, ScheduleFreeAdamWState, ScheduleFreeScalars,
    ScheduleFreeSgd, ScheduleFreeSgdConfig, ScheduleFreeSgdState,
};
pub use methods::sgd::{Sgd, SgdConfig, SgdState, MAX_MOMENTUM};
pub use optimizer::checkpoint::checkpoint_kind;
pub use optimizer::inputs::MAX_GRADIENT;
pub use optimizer::state::{Field, Fields, Inspect, StateView};
pub use optimizer::{
    Base, BaseInfo, Checkpoint, Direction, DirectionBuf, IntoBase, OptimError, Optimizer,
    StateBytes, Tensor,
};
pub use registry::{registry, Built, Key, OptimizerSpec, RegistryEntry, SpecError};
pub use wrappers::context::MetaContext;
pub use wrappers::groups::Groups;
pub use wrappers::mechanic::{Mechanic, MechanicConfig, MechanicScalars, MechanicState, MAX_BETAS};
pub use wrappers::meta::{
    saved_memories, LoadMemories, LoadReport, MemorySource, Meta, MetaConfig, Quantiles, Query,
    RateSummary, StepInfo, RECOMMENDED_SPEC,
};
pub use wrappers::schedule::{Schedule, Scheduled};

/// The memory itself (`lrmem-memory-core`), re-exported so that one dependency gives both.
pub use lrmem_memory_core as memory_core;
pub use lrmem_memory_core::{
    ContextConfig, MemoryConfig, MemoryOptimizer, NonFinite, QueryScale, Reload, Signal, ThetaSpace,
};

#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

// The practitioner's guide's examples compile and run as written.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/guide.md")]
struct GuideDoctests;
