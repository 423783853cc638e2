//! The seam between a base optimizer and the wrappers that set its learning rates: a base
//! produces a *direction* u, its own update divided by its learning rate, and a wrapper moves
//! every coordinate by −η_d·u_d with rates of its own (optax's seam; docs/algorithm.md §11–§12).

use lrmem_memory_core::NonFinite;

use crate::optimizer::{OptimError, Optimizer};

/// How a base's direction u relates to the query z that the memory is asked with: what
/// [`Base::direction`] returns, so that [`Meta`](crate::Meta) can move every coordinate by −η_d·u_d.
///
/// The query is clipped to the memory's ±clip before the memory sees it; `ClippedQuery` lets a
/// base use that clipped value as its direction without another pass over the tensor (plain
/// SGD, the authors' `MetaSgd1d`, which steps by η̂(z)·clip(g)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Direction {
    /// u_d = clip(z_d): the clipped query is the direction; the buffer is not used.
    ClippedQuery,
    /// u_d = clip(z_d) + b_d, with b in the buffer (SGD's weight decay λw).
    ClippedQueryPlus,
    /// u_d = b_d: the buffer holds the whole direction.
    Values,
}

/// Scratch space for one direction value per coordinate, lent by [`Meta`](crate::Meta) to
/// [`Base::direction`]. Allocated on first use and reused across steps and tensors, so that a
/// base that never asks for it (plain SGD) costs no memory and no pass.
#[derive(Debug)]
pub struct DirectionBuf<'a> {
    buf: &'a mut Vec<f32>,
    len: usize,
}

impl<'a> DirectionBuf<'a> {
    /// Lends `buf` for a tensor of `len` coordinates (it grows to `len` when first asked for).
    pub fn new(buf: &'a mut Vec<f32>, len: usize) -> Self {
        DirectionBuf { buf, len }
    }

    /// The buffer: exactly one value per coordinate of the tensor. Its contents are left over
    /// from earlier steps: write every value that the returned [`Direction`] reads.
    pub fn values(&mut self) -> &mut [f32] {
        if self.buf.len() < self.len {
            self.buf.resize(self.len, 0.0);
        }
        &mut self.buf[..self.len]
    }
}

/// What [`Meta`](crate::Meta) needs to know of a base besides its direction: its name, and the two settings
/// that `Meta` takes over.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct BaseInfo {
    /// The base's type as messages and checkpoints name it (`"Sgd"`): a `Meta` over it saves
    /// checkpoints of kind `Meta<Sgd>`.
    pub kind: &'static str,
    /// The base's learning rate, which `Meta` replaces by the memory's: η₀, the memory's rate
    /// before it learns, so it must equal `MetaConfig.memory.eta0`.
    pub lr: f32,
    /// The base's policy for non-finite gradients, which `Meta` applies before the base sees
    /// a gradient: it must equal `MetaConfig.memory.non_finite`.
    pub non_finite: NonFinite,
}

impl BaseInfo {
    /// A base of type `kind` with learning rate `lr` and policy `non_finite`.
    pub fn new(kind: &'static str, lr: f32, non_finite: NonFinite) -> Self {
        BaseInfo {
            kind,
            lr,
            non_finite,
        }
    }
}

/// A base optimizer that [`Meta`](crate::Meta) can wrap, implemented by the optimizers themselves ([`Sgd`](crate::Sgd),
/// [`Adam`](crate::Adam), [`Rprop`](crate::Rprop), [`SgdHd`](crate::SgdHd), [`AdamHd`](crate::AdamHd)).
///
/// **The rule** (docs/algorithm.md §11–§12): the memory's rate η replaces the base's learning
/// rate lr and keeps whatever the base adapts relative to it. The direction is
/// u = (the base's own update)/lr, so that w ← w − η ⊙ u is the base's own step wherever
/// η = lr. The memory is queried with, and learns from, z = the gradient unless the base says
/// otherwise ([`query`](Base::query)). Per base:
///
/// - [`Sgd`](crate::Sgd): u = g (with its weight decay, momentum and Nesterov). Plain SGD steps by
///   η̂(z)·clip(g), the authors' `MetaSgd1d`; with momentum the query is the buffer.
/// - [`Adam`](crate::Adam): z = m_t and u = m_t/(√v_t + ε), the authors' TensorFlow backend (without Adam's
///   bias corrections, which the memory's rate absorbs).
/// - [`Rprop`](crate::Rprop): u = sign(g)·Δ/Δ₀, the relative step: Rprop's per-coordinate step size Δ relative
///   to where it starts, so that the memory's rate takes the place of Δ₀.
/// - [`SgdHd`](crate::SgdHd), [`AdamHd`](crate::AdamHd): u = (α_t/α₀)·(their direction): the hypergradient rate α_t, learned
///   as without `Meta`, scales the memory's rate by how far it moved from α₀.
///
/// Two required methods. [`direction`](Base::direction) is called once per step of a tensor,
/// before the memory learns; it takes the gradient into the base's state and must not move the
/// parameters.
pub trait Base: Optimizer + Send + Sync {
    /// The base's name, learning rate and non-finite policy.
    fn info(&self) -> BaseInfo;

    /// Takes this step's gradient of tensor `name` into the base's state (created on first
    /// sight; a tensor must keep its length) and says what its direction u is, writing into
    /// `buf` what the returned [`Direction`] reads. `params` are the parameters before the step
    /// (weight decay reads them); `grads` are finite (`Meta` has applied the non-finite policy).
    /// On an error the base's state is unchanged.
    fn direction(
        &mut self,
        name: &str,
        params: &[f32],
        grads: &[f32],
        buf: DirectionBuf<'_>,
    ) -> Result<Direction, OptimError>;

    /// Refuses what [`direction`](Base::direction) would refuse for this tensor, changing
    /// nothing: what lets [`Meta`](crate::Meta) check every tensor of a model step before any
    /// moves. `grads` are those `direction` would get (finite). The base's own
    /// [`check_step`](Optimizer::check_step) by default, for a base whose direction checks what
    /// its step checks; a base whose direction checks more (Adam's decoupled weight decay, which
    /// its step applies as a factor but its direction adds as λw) says so here.
    fn check_direction(&self, name: &str, params: &[f32], grads: &[f32]) -> Result<(), OptimError> {
        self.check_step(name, params, grads)
    }

    /// The query z of tensor `name` after [`direction`](Base::direction): one value per
    /// coordinate, which the memory clips, learns from and predicts rates for. The gradient by
    /// default.
    fn query<'a>(&'a self, name: &str, grads: &'a [f32]) -> &'a [f32] {
        let _ = name;
        grads
    }
}

/// What [`Meta::new`](crate::Meta::new) takes as its base: a [`Base`] optimizer itself, or the config of one of
/// this crate's optimizers (built and validated by that optimizer's constructor), so that
/// `Meta::new(SgdConfig::default(), …)` and `Meta::new(Sgd::new(…)?, …)` both work.
pub trait IntoBase {
    /// The optimizer it becomes.
    type Base: Base;
    /// Builds (and validates) the base.
    fn into_base(self) -> Result<Self::Base, OptimError>;
}

/// A base is itself.
impl<B: Base> IntoBase for B {
    type Base = B;
    fn into_base(self) -> Result<B, OptimError> {
        Ok(self)
    }
}
