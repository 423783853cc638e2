//! What a memory is: its configuration (docs/algorithm.md §2) and the options that shape it.

use crate::error::MemoryError;
use crate::kernel::Layout;
use crate::rule::{MemoryOptimizer, ThetaSpace};
use crate::signal::Signal;
#[cfg(doc)]
use crate::{Memory, Trace};

/// What to do with a NaN or infinite gradient coordinate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum NonFinite {
    /// Return [`MemoryError::NonFiniteGradient`] and change nothing (default).
    #[default]
    Error,
    /// Treat the coordinate as a zero gradient: it gives the memory no signal, NaN/∞ never
    /// reach θ, and [`Memory::step`] does not apply it (its caller's parameter does not move).
    /// Through an optimizer of lrmem-optimizers the coordinate is a zero gradient for the base
    /// optimizer too: plain SGD does not move it, but a base with state still does, as for any
    /// zero gradient (momentum, weight decay, Adam's first moment).
    Skip,
}

/// The narrowest kernel [`MemoryConfig::validate`] accepts, as a multiple of the centre spacing:
/// narrower kernels change no rate (each coordinate already gets its nearest centre's alone) and
/// would overflow 1/(2σ²).
pub const MIN_LM_SCALE: f32 = 1e-6;

/// The narrowest kernel width σ = lm_scale · spacing (in the query's units) that
/// [`MemoryConfig::validate`] accepts: the grid keeps 1/(2σ²) in f32, which overflows below
/// σ ≈ 3.8·10⁻²⁰. Reached through a tiny `clip` with many centres or a narrow kernel
/// (docs/algorithm.md §2, "Sound ranges").
pub const MIN_SIGMA: f32 = 1e-19;

/// The widest kernel width σ that [`MemoryConfig::validate`] accepts: above σ ≈ 6.5·10¹⁸,
/// 1/(2σ²) underflows f32's normal range and the kernel turns flat where it is evaluated by
/// the general sum (every centre weighted 1). Reached through a `clip` far beyond any gradient
/// an optimizer accepts (±10¹⁸) (docs/algorithm.md §2, "Sound ranges").
pub const MAX_SIGMA: f32 = 1e18;

/// The largest rate [`MemoryConfig::validate`] accepts, for θ_max and for the memory
/// optimizer's ξ: far above any learning rate in use, and far enough below `f32::MAX` that
/// sums of rates and steps of θ stay finite.
pub const MAX_RATE: f32 = 1e6;

/// Configuration of one memory of learning rates. Build with struct update syntax over
/// [`Default`], then [`Memory::new`] validates it.
///
/// ```
/// use lrmem_memory_core::{Memory, MemoryConfig, MemoryOptimizer};
/// let config = MemoryConfig { num_centers: 20, clip: 1.0, eta0: 1e-3,
///                             optimizer: MemoryOptimizer::sgd(1e-2), ..MemoryConfig::default() };
/// let memory = Memory::new(config)?;
/// assert_eq!(memory.theta(), &[1e-3; 20][..]);
/// # Ok::<(), lrmem_memory_core::MemoryError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MemoryConfig {
    /// M, the number of local models (centres). Default 20 (the papers' MNIST runs). At least 2;
    /// even for [`Layout::Log`], which adds a centre at 0.
    pub num_centers: usize,
    /// Gradients are clipped to ±clip, and the centres span that range. Default 1.0. With M
    /// and lm_scale it sets the kernel width σ = lm_scale · 2·clip/(M − 1), which must lie in
    /// [[`MIN_SIGMA`], [`MAX_SIGMA`]] (for [`Layout::Log`], every centre's σ): with the default
    /// M = 20 and lm_scale 0.5, clip ∈ [1.9e−18, 1.9e19].
    pub clip: f32,
    /// Kernel width as a multiple of the centre spacing: σ = lm_scale · Δc. Default 0.5. At
    /// least 1e−6 ([`MIN_LM_SCALE`]): far below 0.1 the neighbours' weights vanish and each
    /// coordinate gets the rate of its nearest centre alone; narrower still, 1/(2σ²) would
    /// overflow.
    pub lm_scale: f32,
    /// Centre layout. Default [`Layout::Linear`].
    pub layout: Layout,
    /// η₀: the initial learning rate, θ_m = η₀ for every m. Default 1e−3.
    pub eta0: f32,
    /// Lower bound of θ. Default 1e−9 (the authors'). Negative only where a negative rate is
    /// meant — it ascends the loss — as for MAML's meta-training inner rate, whose best value
    /// is negative (see `lrmem_tasks::maml` in this workspace); at least −[`MAX_RATE`].
    pub theta_min: f32,
    /// Upper bound of θ. Default 1. At most [`MAX_RATE`] (10⁶).
    pub theta_max: f32,
    /// The learning signal s_d. Default [`Signal::ClippedProduct`] (the authors' code).
    pub signal: Signal,
    /// How θ follows G. Default Adam with ξ = 1e−3 (the authors' default).
    pub optimizer: MemoryOptimizer,
    /// Kernel cutoff in σ: centres this far or farther from a gradient value are left out of its
    /// sums. Default 9, from measurements against the authors' dense code: with SGD on θ, 6σ
    /// already matches to float noise, but Adam on θ normalises G, so that even G_m ≈ 1e−9
    /// (a centre 6.4σ from the only gradient, D = 1, log-spaced centres) moves θ_m by a full
    /// step: at 6σ such replays differ by up to 3e−3 of θ's scale. At 9σ the dropped terms are
    /// below e^−40.5 ≈ 2.6e−18, which no f32 Adam step resolves, and predictions agree with the
    /// dense sum within 1e−6 relative whatever the spread of θ. On evenly spaced centres with
    /// lm_scale 0.5 this evaluates 9 centres per coordinate. `f32::INFINITY` = dense.
    /// (docs/algorithm.md §4.)
    pub cutoff: f32,
    /// NaN/∞ handling. Default [`NonFinite::Error`].
    pub non_finite: NonFinite,
    /// Where the memory optimizer moves θ: θ itself (default [`ThetaSpace::Linear`], the
    /// authors') or ln θ ([`ThetaSpace::Log`]: ξ is a relative change per step; needs
    /// θ_min > 0).
    pub space: ThetaSpace,
    /// What the memory is indexed by: the query itself (default [`QueryScale::Raw`], the
    /// authors') or the query over its tensor's running RMS ([`QueryScale::Rms`]), so that
    /// the centres cover where a tensor's queries fall whatever its scale.
    pub scale: QueryScale,
    /// What [`Memory::next_task`] carries into the next task besides θ. Default
    /// [`Reload::Theta`] (the paper's reloading: θ only).
    pub reload: Reload,
}

/// What indexes the memory: the query z itself, or z relative to its tensor's typical size.
///
/// The authors clip queries to ±clip and spread the centres over that range; a layer whose
/// gradients are all far smaller than clip (single-image gradients of a LeNet are mostly below
/// 10⁻², against centres 0.1 apart) puts every coordinate at the same one or two centres, and
/// the memory is then one learning rate per tensor. Dividing by a running RMS puts the
/// queries where the centres are, whatever the layer's scale.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum QueryScale {
    /// z as given (the default, the authors').
    #[default]
    Raw,
    /// z / r_t with r_t² the bias-corrected running mean of the tensor's mean squared query:
    /// r_t² = (1 − β)Σ_τ β^{t−τ} mean_d z_τ\[d\]² / (1 − β^t), kept in the tensor's
    /// [`Trace`]. Scale-free: a tensor whose gradients are all multiplied by a constant gets
    /// the same rates relative to that constant (up to clipping and the memory's θ bounds).
    /// The memory's `clip` is then in RMS units (3 means three RMS). The step direction and
    /// the clipped query handed to the caller stay in the query's own units (r_t · clip(z/r_t)).
    Rms {
        /// β, the running mean's decay, in (0, 1). 0.99 averages about the last 100 steps.
        beta: f32,
    },
}

/// What [`Memory::next_task`] keeps when a new task starts, besides θ.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Reload {
    /// θ only; the memory optimizer's moments and step count start afresh (the paper's
    /// "meta-learning with reloading", the authors'). The default.
    #[default]
    Theta,
    /// θ and the memory optimizer's moments and step count: θ goes on moving as it did when
    /// the last task ended.
    ThetaAndMoments,
    /// θ pulled toward η₀: θ ← keep·θ + (1 − keep)·η₀, moments afresh; a hedge against rates
    /// that suited the end of the last task (small, near convergence) but not the start of
    /// the next.
    Decay {
        /// The share of the learned θ kept, in [0, 1] (0: start at η₀; 1: as `Theta`).
        keep: f32,
    },
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            num_centers: 20,
            clip: 1.0,
            lm_scale: 0.5,
            layout: Layout::Linear,
            eta0: 1e-3,
            theta_min: 1e-9,
            theta_max: 1.0,
            signal: Signal::ClippedProduct,
            optimizer: MemoryOptimizer::default(),
            cutoff: 9.0,
            non_finite: NonFinite::Error,
            space: ThetaSpace::Linear,
            scale: QueryScale::Raw,
            reload: Reload::Theta,
        }
    }
}

impl MemoryConfig {
    /// The memory lrmem recommends: chosen on development tasks only (MNIST 1v2, 1v3, 1v4 at
    /// η₀ = 10⁻⁴, 10⁻³ and 10⁻², by updates to 98%; the README's study) among the authors'
    /// settings and every variant of this crate (θ in log space, the sign signal, the
    /// RMS-scaled query, other ξ, over SGD and over Adam), and evaluated unchanged on held-out
    /// tasks. The authors' settings won: Adam on θ with ξ = 10⁻³ in θ's own units moves θ to
    /// the scale of ξ within tens of steps whatever η₀ is, which the relative (log-space) steps
    /// cannot, and every Meta-Adam variant collapsed at η₀ = 10⁻² as Adam does. So this is
    /// [`MemoryConfig::default`], named so that code saying "the recommended memory" keeps
    /// meaning the study's answer when a later study changes it.
    ///
    /// ```
    /// use lrmem_memory_core::MemoryConfig;
    /// assert_eq!(MemoryConfig::recommended(), MemoryConfig::default());
    /// ```
    pub fn recommended() -> MemoryConfig {
        MemoryConfig::default()
    }

    /// Checks every field against its valid range; the error names the field and the range.
    pub fn validate(&self) -> Result<(), MemoryError> {
        if self.num_centers < 2 {
            return Err(MemoryError::invalid(
                "num_centers",
                self.num_centers,
                "at least 2",
            ));
        }
        if self.num_centers > 1 << 16 {
            return Err(MemoryError::invalid(
                "num_centers",
                self.num_centers,
                "at most 65536",
            ));
        }
        if self.layout == Layout::Log && !self.num_centers.is_multiple_of(2) {
            return Err(MemoryError::invalid(
                "num_centers",
                self.num_centers,
                "even for Layout::Log (M/2 centres per sign, plus 0)",
            ));
        }
        if !(self.clip.is_finite() && self.clip > 0.0) {
            return Err(MemoryError::invalid("clip", self.clip, "finite and > 0"));
        }
        if self.layout == Layout::Log && self.clip <= crate::kernel::LOG_MIN_CENTER {
            return Err(MemoryError::invalid(
                "clip",
                self.clip,
                "> 1e-6 for Layout::Log",
            ));
        }
        if !(self.lm_scale.is_finite() && self.lm_scale >= MIN_LM_SCALE) {
            return Err(MemoryError::invalid(
                "lm_scale",
                self.lm_scale,
                "finite and ≥ 1e-6 (at 1e-6 every coordinate already gets the rate of its nearest centre alone)",
            ));
        }
        // Each of clip, lm_scale and M is valid alone; their product σ must stay where the
        // grid's f32 1/(2σ²) is a normal number (docs/algorithm.md §2, "Sound ranges").
        let (lo, hi) =
            crate::kernel::sigma_range(self.layout, self.num_centers, self.clip, self.lm_scale);
        if !(lo >= MIN_SIGMA as f64 && hi <= MAX_SIGMA as f64) {
            return Err(MemoryError::invalid(
                "clip",
                self.clip,
                "such that every kernel width σ = lm_scale · centre spacing lies in [1e-19, 1e18] \
                 (1/(2σ²) must fit f32): with a tiny clip raise it, widen the kernel (lm_scale) or \
                 use fewer centres (num_centers); a clip above ~1e19 clips nothing an optimizer \
                 accepts (gradients beyond ±1e18 are refused), so lower it",
            ));
        }
        if !(self.theta_max.is_finite() && self.theta_max <= MAX_RATE) {
            return Err(MemoryError::invalid(
                "theta_max",
                self.theta_max,
                "finite and ≤ 1e6 (a rate above it overflows Σψθ and every step; learning rates are ≤ 1 in practice)",
            ));
        }
        if !(self.theta_min >= -MAX_RATE && self.theta_min < self.theta_max) {
            return Err(MemoryError::invalid(
                "theta_min",
                self.theta_min,
                "≥ −1e6 and below theta_max (below 0 only where a negative rate, which ascends \
                 the loss, is meant)",
            ));
        }
        if !(self.eta0 > self.theta_min && self.eta0 <= self.theta_max) {
            return Err(MemoryError::invalid(
                "eta0",
                self.eta0,
                "in (theta_min, theta_max]",
            ));
        }
        if self.cutoff.is_nan() || self.cutoff <= 0.0 {
            return Err(MemoryError::invalid(
                "cutoff",
                self.cutoff,
                "> 0 (in kernel widths; INFINITY for the dense sum)",
            ));
        }
        if self.space == ThetaSpace::Log && self.theta_min <= 0.0 {
            return Err(MemoryError::invalid(
                "theta_min",
                self.theta_min,
                "> 0 with space = Log (θ moves in ln θ, which needs θ > 0; e.g. 1e-9)",
            ));
        }
        if let QueryScale::Rms { beta } = self.scale {
            if !(beta > 0.0 && beta < 1.0) {
                return Err(MemoryError::invalid(
                    "scale.beta",
                    beta,
                    "in (0, 1) (0.99 averages about the last 100 steps)",
                ));
            }
        }
        if let Reload::Decay { keep } = self.reload {
            if !(0.0..=1.0).contains(&keep) {
                return Err(MemoryError::invalid(
                    "reload.keep",
                    keep,
                    "in [0, 1] (the share of θ kept at a new task)",
                ));
            }
        }
        self.optimizer.validate()
    }

    /// Number of local models the layout creates (M, or M + 1 for [`Layout::Log`]).
    pub fn local_models(&self) -> usize {
        match self.layout {
            Layout::Linear => self.num_centers,
            Layout::Log => self.num_centers + 1,
        }
    }
}
