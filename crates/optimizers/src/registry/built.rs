//! [`Built`]: what [`OptimizerSpec::build`](crate::OptimizerSpec::build) makes — any optimizer
//! of the registry, with everything every optimizer of this crate can do and a way back to its
//! concrete type.

use std::any::Any;
use std::fmt;

use crate::optimizer::state::{Inspect, StateView};
use crate::optimizer::{Checkpoint, OptimError, Optimizer, StateBytes};

/// The optimizer an [`OptimizerSpec`](crate::OptimizerSpec) built: an [`Optimizer`] (every
/// method forwards to the optimizer it holds), a [`Checkpoint`] (the same bytes as that
/// optimizer's), [`Inspect`] and [`StateBytes`], `Send + Sync`; and the concrete optimizer
/// itself through [`downcast_ref`](Built::downcast_ref) and
/// [`downcast_mut`](Built::downcast_mut), for what only it offers (a memory's rates, Prodigy's
/// d).
pub struct Built(Box<dyn Full>);

/// Everything a [`Built`] can do; implemented by every optimizer of this crate.
trait Full: Optimizer + Checkpoint + StateBytes + Inspect + Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Optimizer + Checkpoint + StateBytes + Inspect + Send + Sync + 'static> Full for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl Built {
    /// Wraps an optimizer; what a registry entry's build function returns.
    pub fn new<O>(optimizer: O) -> Self
    where
        O: Optimizer + Checkpoint + StateBytes + Inspect + Send + Sync + 'static,
    {
        Built(Box::new(optimizer))
    }

    /// The optimizer as its concrete type `O`, if it is one (`Meta<Sgd>` for `meta-sgd`,
    /// `Prodigy` for `prodigy`; the registry's summaries name each entry's type).
    ///
    /// ```
    /// use lrmem_optimizers::{OptimizerSpec, Prodigy, Sgd};
    /// let built = OptimizerSpec::new("prodigy")?.build()?;
    /// assert!(built.downcast_ref::<Prodigy>().is_some_and(|p| (p.d() - 1e-6).abs() < 1e-12));
    /// assert!(built.downcast_ref::<Sgd>().is_none());
    /// # Ok::<(), lrmem_optimizers::SpecError>(())
    /// ```
    pub fn downcast_ref<O: Any>(&self) -> Option<&O> {
        self.0.as_any().downcast_ref()
    }

    /// [`downcast_ref`](Built::downcast_ref), mutably: to call what only the concrete type
    /// offers (`Meta::record_rates`, `Meta::on_step`).
    pub fn downcast_mut<O: Any>(&mut self) -> Option<&mut O> {
        self.0.as_any_mut().downcast_mut()
    }

    /// The optimizer as a plain boxed [`Optimizer`], for code that holds any optimizer.
    pub fn into_box(self) -> Box<dyn Optimizer + Send> {
        self.0
    }
}

impl fmt::Debug for Built {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Built").finish_non_exhaustive()
    }
}

impl Optimizer for Built {
    crate::optimizer::macros::forward_optimizer!(this => this.0);
}

impl Checkpoint for Built {
    fn save(&self) -> Result<Vec<u8>, OptimError> {
        self.0.save()
    }
    fn load(&mut self, bytes: &[u8]) -> Result<(), OptimError> {
        self.0.load(bytes)
    }
}

impl Inspect for Built {
    fn state(&self) -> StateView<'_> {
        self.0.state()
    }
}

impl StateBytes for Built {
    fn bytes_per_coordinate(&self) -> usize {
        self.0.bytes_per_coordinate()
    }
}
