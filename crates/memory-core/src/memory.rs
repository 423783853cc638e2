//! The memory of learning rates and its step, top-down: G from the last two queries (Eq. 4),
//! θ's ascent on G (Eq. 5), the rates of the new θ (Eq. 3) (docs/algorithm.md §9).
//!
//! Each equation runs on the fast path of evenly spaced centres (module `kernels`, one
//! dispatch per phase to the CPU's tier) where it applies, and as the reference (module
//! `reference`) elsewhere: other layouts, windows too wide for the kernels, non-finite
//! gradients.

use alloc::vec;
use alloc::vec::Vec;

use crate::config::{MemoryConfig, QueryScale, Reload};
use crate::error::{check_len, MemoryError};
use crate::kernel::Grid;
use crate::kernels::{all_finite, Fast, Kernels, BLOCK};
use crate::reference;
use crate::rule::RuleState;
use crate::trace::Trace;

/// A memory of learning rates η̂(z; θ) = Σ_m ψ_m(z) θ_m / Σ_m ψ_m(z), learned online.
///
/// Holds θ (what transfers between tasks), the optimizer state of θ (reset on reload) and the
/// precomputed grid; O(M) memory. The per-coordinate state lives in a [`Trace`] owned by the
/// caller, one per tensor, so that one memory can serve several tensors.
///
/// ```
/// use lrmem_memory_core::{Memory, MemoryConfig, MemoryOptimizer, Trace};
/// let mut mem = Memory::new(MemoryConfig { optimizer: MemoryOptimizer::sgd(0.1), eta0: 0.01,
///                                          ..MemoryConfig::default() })?;
/// let mut w = [1.0f32, -2.0];
/// let mut trace = Trace::new(2);
/// for _ in 0..3 {
///     let g = [2.0 * w[0], 2.0 * w[1]];        // ∇ of w·w
///     mem.step(&mut trace, &g, |d, eta, z| w[d] -= eta * z)?;
/// }
/// // Gradients kept their sign, so every learning rate in use grew above η₀.
/// assert!(mem.theta().iter().all(|&t| t >= 0.01));
/// # Ok::<(), lrmem_memory_core::MemoryError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Memory {
    config: MemoryConfig,
    grid: Grid,
    theta: Vec<f32>,
    rule: RuleState,
    /// θ padded with K zeros on both sides, and 1/0 validity, for the window sums.
    padded: Vec<f32>,
    valid: Vec<f32>,
    /// The reference G's sums (O(M·K)) and G itself, kept to avoid allocating per step.
    acc: Vec<f64>,
    g: Vec<f32>,
    /// The scaled queries of a step under [`QueryScale::Rms`] (empty otherwise).
    query: Vec<f32>,
    /// Which kernels were asked for.
    kernels: Kernels,
    /// The fast path (evenly spaced centres only): its kernels' constants, tier, scratch and
    /// prediction table.
    fast: Option<Fast>,
}

impl PartialEq for Memory {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config && self.theta == other.theta && self.rule == other.rule
    }
}

impl Memory {
    /// A memory with θ_m = η₀ everywhere. Fails if the config is invalid.
    pub fn new(config: MemoryConfig) -> Result<Self, MemoryError> {
        config.validate()?;
        let theta = vec![config.eta0; config.local_models()];
        Self::build(config, theta, None)
    }

    /// A memory from saved parts (what [`Memory::to_bytes`] writes): the config is validated,
    /// θ must have one value per local model within [θ_min, θ_max], moments must be finite.
    pub fn restore(
        config: MemoryConfig,
        theta: Vec<f32>,
        rule: RuleState,
    ) -> Result<Self, MemoryError> {
        Self::build(config, theta, Some(rule))
    }

    fn build(
        config: MemoryConfig,
        theta: Vec<f32>,
        rule: Option<RuleState>,
    ) -> Result<Self, MemoryError> {
        config.validate()?;
        let grid = Grid::new(
            config.layout,
            config.num_centers,
            config.clip,
            config.lm_scale,
            config.cutoff,
        );
        let m = grid.len();
        check_len("theta", m, theta.len())?;
        if let Some(bad) = theta
            .iter()
            .find(|t| !(config.theta_min..=config.theta_max).contains(*t))
        {
            return Err(MemoryError::corrupt(alloc::format!(
                "theta value {bad} lies outside [theta_min, theta_max] = [{}, {}]",
                config.theta_min,
                config.theta_max
            )));
        }
        let rule = rule.unwrap_or_else(|| RuleState::new(m));
        check_len("memory optimizer state", m, rule.m.len())?;
        check_len("memory optimizer state", m, rule.v.len())?;
        if rule.m.iter().chain(&rule.v).any(|x| !x.is_finite()) {
            return Err(MemoryError::corrupt(
                "memory optimizer moments are not finite",
            ));
        }
        if rule.v.iter().any(|&x| x < 0.0) {
            return Err(MemoryError::corrupt(
                "the memory optimizer's second moment is negative (its square root would be NaN)",
            ));
        }
        let k = grid.uniform().map_or(0, |u| u.k());
        let w = grid.window_len();
        let mut mem = Memory {
            padded: vec![0.0; m + 2 * k],
            valid: vec![0.0; m + 2 * k],
            acc: vec![0.0; if grid.uniform().is_some() { m * w } else { m }],
            g: vec![0.0; m],
            query: Vec::new(),
            kernels: Kernels::default(),
            fast: Fast::new(&grid, config.clip, config.signal, Kernels::default()),
            config,
            grid,
            theta,
            rule,
        };
        mem.valid[k..k + m].fill(1.0);
        mem.refresh_padded();
        Ok(mem)
    }

    /// θ changed: its padded copy follows (a step makes its prediction table afresh).
    fn refresh_padded(&mut self) {
        let k = self.grid.uniform().map_or(0, |u| u.k());
        let m = self.theta.len();
        self.padded[k..k + m].copy_from_slice(&self.theta);
    }

    /// The configuration.
    pub fn config(&self) -> &MemoryConfig {
        &self.config
    }

    /// Which instructions run this memory's hot loops: `"avx512"`, `"avx2"` or `"portable"`
    /// (vectorised, evenly spaced centres; see [`Kernels`]), or `"reference"` (other layouts).
    /// For reports.
    #[doc(hidden)]
    pub fn kernel_name(&self) -> &'static str {
        self.fast.as_ref().map_or("reference", Fast::name)
    }

    /// Chooses the kernels of the hot loops (see [`Kernels`] for what each promises). Takes
    /// effect from the next step; θ and the moments are untouched.
    ///
    /// ```
    /// use lrmem_memory_core::{Kernels, Memory, MemoryConfig};
    /// let mut memory = Memory::new(MemoryConfig::default())?;
    /// assert_eq!(memory.kernels(), Kernels::Reproducible);
    /// memory.set_kernels(Kernels::Fastest); // AVX-512 where the CPU has it
    /// # Ok::<(), lrmem_memory_core::MemoryError>(())
    /// ```
    pub fn set_kernels(&mut self, kernels: Kernels) {
        self.kernels = kernels;
        if let Some(fast) = &mut self.fast {
            fast.set_kernels(kernels);
        }
    }

    /// The kernels chosen with [`set_kernels`](Memory::set_kernels) (default
    /// [`Kernels::Reproducible`]).
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// The centres and kernel widths.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// θ, one learning rate per local model.
    pub fn theta(&self) -> &[f32] {
        &self.theta
    }

    /// The memory optimizer's state (moments and step count).
    pub fn rule_state(&self) -> &RuleState {
        &self.rule
    }

    /// Replace θ (e.g. with values learned elsewhere); they must lie in [θ_min, θ_max].
    pub fn set_theta(&mut self, theta: &[f32]) -> Result<(), MemoryError> {
        check_len("theta", self.theta.len(), theta.len())?;
        if let Some((i, &t)) = theta
            .iter()
            .enumerate()
            .find(|(_, t)| !(self.config.theta_min..=self.config.theta_max).contains(*t))
        {
            return Err(MemoryError::invalid(
                "theta",
                alloc::format!("{t} (index {i})"),
                "within [theta_min, theta_max]",
            ));
        }
        self.theta.copy_from_slice(theta);
        self.refresh_padded();
        Ok(())
    }

    /// Start a new task: keep θ, reset the memory optimizer's moments and step count
    /// (the paper's "meta-learning with reloading"). Reset the tensors' [`Trace`]s too.
    pub fn reset(&mut self) {
        self.rule = RuleState::new(self.theta.len());
    }

    /// Start a new task as [`MemoryConfig::reload`] says: keep θ (or pull it toward η₀) and
    /// reset the memory optimizer's state, or keep both. Reset the tensors' [`Trace`]s too.
    ///
    /// ```
    /// use lrmem_memory_core::{Memory, MemoryConfig, Reload};
    /// let config = MemoryConfig { eta0: 0.01, reload: Reload::Decay { keep: 0.5 },
    ///                             ..MemoryConfig::default() };
    /// let mut memory = Memory::new(config)?;
    /// memory.set_theta(&[0.03; 20])?;
    /// memory.next_task();
    /// assert!((memory.theta()[0] - 0.02).abs() < 1e-7);
    /// # Ok::<(), lrmem_memory_core::MemoryError>(())
    /// ```
    pub fn next_task(&mut self) {
        match self.config.reload {
            Reload::Theta => self.reset(),
            Reload::ThetaAndMoments => {}
            Reload::Decay { keep } => {
                let (eta0, lo, hi) = (
                    self.config.eta0,
                    self.config.theta_min,
                    self.config.theta_max,
                );
                for t in &mut self.theta {
                    *t = (keep * *t + (1.0 - keep) * eta0).clamp(lo, hi);
                }
                self.refresh_padded();
                self.reset();
            }
        }
    }
}

/// The step.
impl Memory {
    /// One full step of the memory on one tensor (docs/algorithm.md §9):
    /// learn from (z_{t−1}, z_t), then call `apply(d, η_d, clip(z_t[d]))` for every coordinate
    /// with the freshly updated memory's rate, and remember z_t in `trace`.
    ///
    /// `apply` is where the caller moves its parameter, e.g. `w[d] -= eta * z` for SGD. On an
    /// error nothing has been changed and `apply` has not been called.
    pub fn step(
        &mut self,
        trace: &mut Trace,
        z: &[f32],
        mut apply: impl FnMut(usize, f32, f32),
    ) -> Result<(), MemoryError> {
        // The block walk, one coordinate at a time; a coordinate skipped under
        // `NonFinite::Skip` (raw value not finite: clipping would turn ±∞ into ±clip) is not
        // handed to `apply`.
        self.step_blocks(trace, z, |start, eta, zc| {
            for (i, (&e, &c)) in eta.iter().zip(zc).enumerate() {
                if z[start + i].is_finite() {
                    apply(start + i, e, c);
                }
            }
        })
    }

    /// [`Memory::step`] with the rates handed over in blocks: `apply(start, etas, zs)` moves
    /// coordinates `start..start + etas.len()`, where `etas[i]` is η̂ and `zs[i]` the clipped
    /// query of coordinate `start + i`. Blocks cover the tensor in order, at most 256 at a time.
    ///
    /// This is the fast way to step a tensor: the block is a contiguous slice, so the caller's
    /// loop over it vectorises (`Memory::step` calls its closure once per coordinate). A
    /// coordinate skipped under [`NonFinite::Skip`](crate::NonFinite::Skip) gets η = 0 and z = 0.
    ///
    /// ```
    /// use lrmem_memory_core::{Memory, MemoryConfig, Trace};
    /// let mut mem = Memory::new(MemoryConfig::default())?;
    /// let mut w = vec![1.0f32; 1000];
    /// let mut trace = Trace::new(w.len());
    /// let g = vec![0.5f32; 1000];
    /// mem.step_blocks(&mut trace, &g, |start, etas, zs| {
    ///     let w = &mut w[start..start + etas.len()];
    ///     for ((w, &eta), &z) in w.iter_mut().zip(etas).zip(zs) {
    ///         *w -= eta * z;
    ///     }
    /// })?;
    /// assert!((w[0] - (1.0 - 1e-3 * 0.5)).abs() < 1e-7);
    /// # Ok::<(), lrmem_memory_core::MemoryError>(())
    /// ```
    pub fn step_blocks(
        &mut self,
        trace: &mut Trace,
        z: &[f32],
        apply: impl FnMut(usize, &[f32], &[f32]),
    ) -> Result<(), MemoryError> {
        check_len("gradient", trace.prev.len(), z.len())?;
        match self.config.scale {
            QueryScale::Rms { .. } => self.step_scaled(trace, z, apply),
            _ => self.step_raw(trace, z, apply),
        }
    }

    /// [`Memory::step_blocks`] with [`QueryScale::Rms`]: the memory learns from and predicts
    /// at q = z / r_t; `apply` gets the rates and r_t·clip(q), the clipped query in z's units.
    /// On an error nothing has changed (the trace's running mean included).
    fn step_scaled(
        &mut self,
        trace: &mut Trace,
        z: &[f32],
        mut apply: impl FnMut(usize, &[f32], &[f32]),
    ) -> Result<(), MemoryError> {
        let saved = (trace.mean_sq, trace.scale_steps);
        let r = trace.observe(self.config.scale, z);
        let mut q = core::mem::take(&mut self.query);
        q.clear();
        q.extend(z.iter().map(|&x| x / r));
        let mut scaled = [0.0f32; BLOCK];
        let result = self.step_raw(trace, &q, |start, eta, zc| {
            let n = zc.len();
            for (s, &c) in scaled[..n].iter_mut().zip(zc) {
                *s = c * r;
            }
            apply(start, eta, &scaled[..n]);
        });
        self.query = q;
        if result.is_err() {
            (trace.mean_sq, trace.scale_steps) = saved;
        }
        result
    }

    /// The step of [`Memory::step_blocks`] on queries as given (no query scale).
    fn step_raw(
        &mut self,
        trace: &mut Trace,
        z: &[f32],
        mut apply: impl FnMut(usize, &[f32], &[f32]),
    ) -> Result<(), MemoryError> {
        // Eq. 4–5: G from (z_{t−1}, z_t), then θ's ascent (an error changes nothing).
        let finite = self.learn_inner(&trace.prev, z)?;
        // Eq. 3 with the new θ; z_t (clipped) becomes the trace's z_{t−1}.
        let prev = &mut trace.prev;
        self.step_rates(z, finite, |start, eta, zc| {
            prev[start..start + zc.len()].copy_from_slice(zc);
            apply(start, eta, zc);
        });
        Ok(())
    }

    /// One memory update from queries z_{t−1} = `prev` and z_t = `cur` (Eq. 4–5): G, the memory
    /// optimizer's step on θ, then θ ← clamp(θ, θ_min, θ_max). Both are clipped to ±clip. A
    /// non-finite `prev` coordinate is an error that changes nothing (a non-finite `cur` follows
    /// [`MemoryConfig::non_finite`]).
    pub fn learn(&mut self, prev: &[f32], cur: &[f32]) -> Result<(), MemoryError> {
        check_len("previous queries", cur.len(), prev.len())?;
        check_finite(prev)?;
        self.learn_inner(prev, cur).map(|_| ())
    }

    /// [`Memory::learn`] without the checks of `prev`; returns whether `cur` was all finite.
    fn learn_inner(&mut self, prev: &[f32], cur: &[f32]) -> Result<bool, MemoryError> {
        let finite = self.update_gradient(prev, cur)?;
        // Eq. 5 (and its momentum and Adam forms), then θ ← clamp(θ, θ_min, θ_max).
        let g = core::mem::take(&mut self.g);
        self.config.optimizer.apply(
            &mut self.rule,
            &g,
            &mut self.theta,
            (self.config.theta_min, self.config.theta_max),
            self.config.space,
        );
        self.g = g;
        self.refresh_padded();
        Ok(finite)
    }

    /// The memory gradient G_m = mean_d s_d ψ_m(z_{t−1}\[d\]) (Eq. 4) for queries `cur` = z_t and
    /// `prev` = z_{t−1}, both clipped to ±clip here. Writes M values into `out`. A non-finite
    /// `prev` coordinate is an error (a non-finite `cur` follows [`MemoryConfig::non_finite`]).
    pub fn gradient(
        &mut self,
        prev: &[f32],
        cur: &[f32],
        out: &mut [f32],
    ) -> Result<(), MemoryError> {
        check_len("previous queries", cur.len(), prev.len())?;
        check_len("memory gradient", self.theta.len(), out.len())?;
        check_finite(prev)?;
        self.update_gradient(prev, cur)?;
        out.copy_from_slice(&self.g);
        Ok(())
    }

    /// Eq. 4 into `self.g`: on the fast path if there is one and `cur` is finite, else by the
    /// reference, which errs (changing nothing else) on a non-finite `cur` or skips it.
    /// Returns whether every coordinate of `cur` was finite.
    fn update_gradient(&mut self, prev: &[f32], cur: &[f32]) -> Result<bool, MemoryError> {
        if let Some(fast) = &mut self.fast {
            if fast.gradient(prev, cur, &mut self.g) {
                return Ok(true);
            }
        }
        let finite = all_finite(cur);
        let (grid, config) = (&self.grid, &self.config);
        reference::gradient(grid, config, prev, cur, &mut self.acc, &mut self.g)?;
        Ok(finite)
    }

    /// Eq. 3 for a step's queries `z` once θ has moved, in blocks: the rates
    /// [`Memory::step_blocks`] hands out, from the table where it is certified (`finite`: `z`
    /// is known to be all finite). A coordinate whose query is not finite gets η = 0, z = 0.
    fn step_rates(&mut self, z: &[f32], finite: bool, f: impl FnMut(usize, &[f32], &[f32])) {
        match &mut self.fast {
            Some(fast) if finite => fast.step_rates(&self.padded, z, f),
            _ => self.reference_blocks(z, true, f),
        }
    }

    /// The rates of a step (as [`Memory::step_blocks`] hands them out, skipped coordinates
    /// included) for queries `z` and the current θ, for a memory that learned by other means
    /// (the context memory's view).
    pub(crate) fn step_rate_blocks(&mut self, z: &[f32], f: impl FnMut(usize, &[f32], &[f32])) {
        let finite = self.fast.is_some() && all_finite(z);
        self.step_rates(z, finite, f);
    }

    /// Whether the last step's rates came from the table.
    #[cfg(test)]
    pub(crate) fn tabulated(&self) -> bool {
        self.fast.as_ref().is_some_and(Fast::tabulated)
    }
}

/// The prediction alone.
impl Memory {
    /// η̂(z): the learning rate the memory predicts for a gradient value z (Eq. 3).
    ///
    /// z is clipped to ±clip first, as every query is. Finite for every finite z; for
    /// z = NaN the result is NaN.
    pub fn predict(&self, z: f32) -> f32 {
        let mut eta = f32::NAN;
        self.model().rates(&[z], |_, e, _| eta = e);
        eta
    }

    /// Learning rates for many gradient values at once: `out[d] = η̂(z[d])`.
    pub fn predict_into(&self, z: &[f32], out: &mut [f32]) -> Result<(), MemoryError> {
        check_len("output", z.len(), out.len())?;
        self.for_each_rate(z, |d, eta, _| out[d] = eta);
        Ok(())
    }

    /// Calls `f(d, η̂(clip(z[d])), clip(z[d]))` for every coordinate, in order.
    pub fn for_each_rate(&self, z: &[f32], mut f: impl FnMut(usize, f32, f32)) {
        self.for_each_rate_block(z, |start, eta, zc| {
            for (i, (&e, &c)) in eta.iter().zip(zc).enumerate() {
                f(start + i, e, c);
            }
        });
    }

    /// Learning rates in blocks: calls `f(start, etas, zs)` with `etas[i] = η̂(clip(z[start+i]))`
    /// and `zs[i] = clip(z[start+i])`, for consecutive blocks that cover `z` in order.
    ///
    /// The fast way to use the rates: the block is a contiguous slice, so a loop over it
    /// vectorises. Blocks hold at most 256 coordinates.
    ///
    /// ```
    /// use lrmem_memory_core::{Memory, MemoryConfig};
    /// let mem = Memory::new(MemoryConfig::default())?;
    /// let z = vec![0.1f32; 1000];
    /// let mut eta = vec![0.0f32; 1000];
    /// mem.for_each_rate_block(&z, |start, etas, _| eta[start..start + etas.len()].copy_from_slice(etas));
    /// assert!(eta.iter().all(|&e| (e - 1e-3).abs() < 1e-9));
    /// # Ok::<(), lrmem_memory_core::MemoryError>(())
    /// ```
    pub fn for_each_rate_block(&self, z: &[f32], f: impl FnMut(usize, &[f32], &[f32])) {
        match &self.fast {
            Some(fast) if all_finite(z) => fast.rates(&self.padded, z, f),
            _ => self.reference_blocks(z, false, f),
        }
    }

    /// The reference prediction (Eq. 3) in blocks of at most [`BLOCK`], as the kernels hand
    /// them out. With `mask`, a coordinate whose query is not finite gets η = 0 and z = 0
    /// (what a step hands out for a skipped coordinate).
    fn reference_blocks(&self, z: &[f32], mask: bool, mut f: impl FnMut(usize, &[f32], &[f32])) {
        let mut eta = [0.0f32; BLOCK];
        let mut zc = [0.0f32; BLOCK];
        let model = self.model();
        for (b, zb) in z.chunks(BLOCK).enumerate() {
            let n = zb.len();
            model.rates(zb, |d, e, c| {
                let keep = !mask || zb[d].is_finite();
                eta[d] = if keep { e } else { 0.0 };
                zc[d] = if keep { c } else { 0.0 };
            });
            f(b * BLOCK, &eta[..n], &zc[..n]);
        }
    }

    /// What the reference prediction (Eq. 3) reads of this memory.
    fn model(&self) -> reference::Model<'_> {
        reference::Model {
            grid: &self.grid,
            clip: self.config.clip,
            theta: &self.theta,
            padded: &self.padded,
            valid: &self.valid,
        }
    }
}

/// The previous queries given to the public [`Memory::learn`] and [`Memory::gradient`] must be
/// finite (a [`Trace`] only ever holds finite ones): ψ of NaN would make G and θ NaN.
fn check_finite(prev: &[f32]) -> Result<(), MemoryError> {
    match prev.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(index) => Err(MemoryError::NonFiniteGradient {
            index,
            value: prev[index],
        }),
    }
}
