//! The memory of learning rates: θ, its update (Eq. 4–5) and its prediction (Eq. 3).

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use crate::config::{MemoryConfig, QueryScale, Reload};
use crate::error::{check_len, MemoryError};
use crate::fast::{self, Plan};
use crate::kernel::Grid;
use crate::reference;
use crate::rule::RuleState;
use crate::simd::{self, Isa};
use crate::table::{self, Shape};
use crate::trace::Trace;

/// Which instructions a memory's hot loops may use, and so which results it promises.
///
/// Rust neither fuses nor reorders floating-point operations, so one source compiled for
/// different instruction sets computes the same bits. The portable kernels are such a source;
/// [`Kernels::Reproducible`] runs them, compiled for AVX2 + FMA when the CPU has those, and so
/// gives **the same bits on every CPU** (tested against the baseline build). The hand-written
/// AVX-512 kernels of [`Kernels::Fastest`] compute the same formulas with fused multiply-adds,
/// a hardware reciprocal and another summation order: their rates agree with the reproducible
/// ones to about 5·10⁻⁷ relative, not bit for bit, so runs on machines with and without AVX-512
/// drift apart over many steps. The choice is not saved with the memory: it belongs to the
/// machine, not to what was learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Kernels {
    /// The default: the same bits on every CPU (AVX2 + FMA where available, else the
    /// baseline build, which computes the same).
    #[default]
    Reproducible,
    /// The fastest kernels this CPU has: AVX-512 where available (agreeing with
    /// [`Kernels::Reproducible`] to float rounding only), else as `Reproducible`.
    Fastest,
    /// The portable kernels compiled for the build's baseline only (SSE2 on x86-64): what a CPU
    /// without vector extensions gets, for benchmarks. Same bits as `Reproducible`.
    Portable,
}

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
    /// Scratch for G (O(M·K)), kept to avoid allocating per step.
    acc: Vec<f64>,
    g: Vec<f32>,
    /// G before the mean, in f64 (fast paths).
    sums: Vec<f64>,
    /// Constants of the vectorised kernels (evenly spaced centres only).
    plan: Option<Plan>,
    /// Moment accumulators of the binned update, [`Plan::bin_scratch`] entries of 4 f64
    /// (allocated once here, never per step; empty when the binned update does not apply).
    bins: Vec<[f64; 4]>,
    /// The scaled queries of a step under [`QueryScale::Rms`] (empty otherwise).
    query: Vec<f32>,
    /// Which kernels were asked for, and the instructions that run them on this CPU.
    kernels: Kernels,
    isa: Isa,
    /// The prediction as a table (large tensors; docs/algorithm.md §16): its θ-free part,
    /// made on first use, the coefficients for the current θ, and whether they are current
    /// and certified.
    shape: Option<Box<Shape>>,
    coef: Vec<[f32; 4]>,
    coef_ok: bool,
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
        let plan = Plan::new(&grid, config.clip);
        let bins = vec![[0.0; 4]; plan.as_ref().map_or(0, Plan::bin_scratch)];
        let mut mem = Memory {
            padded: vec![0.0; m + 2 * k],
            valid: vec![0.0; m + 2 * k],
            acc: vec![0.0; if grid.uniform().is_some() { m * w } else { m }],
            g: vec![0.0; m],
            sums: vec![0.0; m],
            plan,
            bins,
            query: Vec::new(),
            kernels: Kernels::default(),
            isa: Isa::select(Kernels::default()),
            shape: None,
            coef: Vec::new(),
            coef_ok: false,
            config,
            grid,
            theta,
            rule,
        };
        mem.valid[k..k + m].fill(1.0);
        mem.refresh_padded();
        Ok(mem)
    }

    fn refresh_padded(&mut self) {
        let k = self.grid.uniform().map_or(0, |u| u.k());
        let m = self.theta.len();
        self.padded[k..k + m].copy_from_slice(&self.theta);
        self.coef_ok = false;
    }

    /// Makes the table of the current θ for the queries `z` (finite) if their prediction
    /// should use one, and says whether it may: the table covers the windows that `z` reaches
    /// and its certified error is within [`table::TOLERANCE`]. Valid until θ changes or the
    /// next call; [`Memory::rate_blocks`] uses it only for the queries it was made for.
    pub(crate) fn prepare_table(&mut self, z: &[f32]) -> bool {
        self.coef_ok = false;
        let Some(plan) = self.plan.as_ref() else {
            return false;
        };
        if z.len() < table::MIN_LEN || plan.m < 2 || !table::fits(plan) {
            return false;
        }
        let shape = self.shape.get_or_insert_with(|| Box::new(Shape::new(plan)));
        let windows = shape.windows(plan, z);
        // Making a window's part of the table costs about as much as the exact prediction
        // of a few hundred coordinates.
        if z.len() < table::LEN_PER_WINDOW * windows.clone().count() {
            return false;
        }
        let eps = simd::build_table(self.isa, shape, &self.padded, windows, &mut self.coef);
        self.coef_ok = eps <= table::TOLERANCE;
        self.coef_ok
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
        if self.plan.is_some() {
            self.isa.name()
        } else {
            "reference"
        }
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
        self.isa = Isa::select(kernels);
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

    /// η̂(z): the learning rate the memory predicts for a gradient value z (Eq. 3).
    ///
    /// z is clipped to ±clip first, as every query is. Finite for every finite z; for
    /// z = NaN the result is NaN.
    pub fn predict(&self, z: f32) -> f32 {
        let mut eta = f32::NAN;
        self.model().rates(&[z], |_, e, _| eta = e);
        eta
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

    /// Learning rates for many gradient values at once: `out[d] = η̂(z[d])`.
    pub fn predict_into(&self, z: &[f32], out: &mut [f32]) -> Result<(), MemoryError> {
        check_len("output", z.len(), out.len())?;
        self.for_each_rate(z, |d, eta, _| out[d] = eta);
        Ok(())
    }

    /// Calls `f(d, η̂(clip(z[d])), clip(z[d]))` for every coordinate, in order.
    pub fn for_each_rate(&self, z: &[f32], mut f: impl FnMut(usize, f32, f32)) {
        if self.plan.is_some() && fast::all_finite(z) {
            self.rate_blocks(z, false, |start, eta, zc| {
                for (i, (&e, &c)) in eta.iter().zip(zc).enumerate() {
                    f(start + i, e, c);
                }
            });
            return;
        }
        self.model().rates(z, f);
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
    pub fn for_each_rate_block(&self, z: &[f32], mut f: impl FnMut(usize, &[f32], &[f32])) {
        if self.plan.is_some() && fast::all_finite(z) {
            self.rate_blocks(z, false, f);
            return;
        }
        let mut eta = [0.0f32; fast::BLOCK];
        let mut zc = [0.0f32; fast::BLOCK];
        for (b, zb) in z.chunks(fast::BLOCK).enumerate() {
            let n = zb.len();
            self.model().rates(zb, |d, e, c| {
                eta[d] = e;
                zc[d] = c;
            });
            f(b * fast::BLOCK, &eta[..n], &zc[..n]);
        }
    }

    /// The vectorised prediction in blocks; `self.plan` must be `Some` and `z` finite. With
    /// `tabled`, from the table that [`Memory::prepare_table`] made for these `z` (if it did).
    fn rate_blocks(&self, z: &[f32], tabled: bool, mut f: impl FnMut(usize, &[f32], &[f32])) {
        let Some(plan) = self.plan.as_ref() else {
            return;
        };
        let mut eta = [0.0f32; fast::BLOCK];
        let mut zc = [0.0f32; fast::BLOCK];
        let table = match &self.shape {
            Some(shape) if self.coef_ok && tabled => Some(shape),
            _ => None,
        };
        for (b, zb) in z.chunks(fast::BLOCK).enumerate() {
            let n = zb.len();
            match table {
                Some(shape) => simd::predict_table(
                    self.isa,
                    shape,
                    self.config.clip,
                    &self.coef,
                    zb,
                    &mut eta,
                    &mut zc,
                ),
                None => simd::predict_block(self.isa, plan, &self.padded, zb, &mut eta, &mut zc),
            }
            f(b * fast::BLOCK, &eta[..n], &zc[..n]);
        }
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
        self.accumulate(prev, cur)?;
        out.copy_from_slice(&self.g);
        Ok(())
    }

    /// Fills `self.g` with G; errors (changing nothing else) on a non-finite `cur`.
    /// Returns whether every coordinate of `cur` was finite.
    fn accumulate(&mut self, prev: &[f32], cur: &[f32]) -> Result<bool, MemoryError> {
        if let Some(plan) = self.plan.as_ref() {
            let signal = self.config.signal;
            self.sums.fill(0.0);
            let done = if plan.use_bins(cur.len(), prev) {
                // The kernel checks finiteness on the way (no separate pass over `cur`).
                let (lo, hi, finite) =
                    simd::accumulate_bins(self.isa, plan, signal, prev, cur, &mut self.bins);
                if finite {
                    simd::flush_bins(self.isa, plan, &mut self.bins, lo, hi, &mut self.sums);
                } else {
                    fast::clear_bins(plan, &mut self.bins, lo, hi);
                }
                finite
            } else if fast::all_finite(cur) {
                self.acc.fill(0.0);
                simd::accumulate_rows(self.isa, plan, signal, prev, cur, &mut self.acc);
                fast::fold_rows(plan, &self.acc, &mut self.sums);
                true
            } else {
                false
            };
            if done {
                let scale = reference::mean_scale(cur.len());
                for (g, &s) in self.g.iter_mut().zip(&self.sums) {
                    *g = (s * scale) as f32;
                }
                return Ok(true);
            }
        }
        let finite = fast::all_finite(cur);
        reference::gradient(
            &self.grid,
            &self.config,
            prev,
            cur,
            &mut self.acc,
            &mut self.g,
        )?;
        Ok(finite)
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

    /// [`Memory::learn`] without the length check; returns whether `cur` was all finite.
    fn learn_inner(&mut self, prev: &[f32], cur: &[f32]) -> Result<bool, MemoryError> {
        let finite = self.accumulate(prev, cur)?;
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
        if let QueryScale::Rms { .. } = self.config.scale {
            return self.step_scaled(trace, z, apply);
        }
        self.step_blocks_raw(trace, z, apply)
    }
}

impl Memory {
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
        let mut scaled = [0.0f32; fast::BLOCK];
        let result = self.step_blocks_raw(trace, &q, |start, eta, zc| {
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

    /// Whether the last step's rates came from the table.
    #[cfg(test)]
    pub(crate) fn tabulated(&self) -> bool {
        self.coef_ok
    }

    /// [`Memory::for_each_rate_block`] for the queries of a step: the same rates as
    /// [`Memory::step_blocks`] hands out (tabulated where it would tabulate).
    pub(crate) fn step_rate_blocks(&mut self, z: &[f32], f: impl FnMut(usize, &[f32], &[f32])) {
        if self.plan.is_some() && fast::all_finite(z) {
            self.prepare_table(z);
            self.rate_blocks(z, true, f);
        } else {
            self.for_each_rate_block(z, f);
        }
    }

    /// The step of [`Memory::step_blocks`] on queries as given (no query scale).
    fn step_blocks_raw(
        &mut self,
        trace: &mut Trace,
        z: &[f32],
        mut apply: impl FnMut(usize, &[f32], &[f32]),
    ) -> Result<(), MemoryError> {
        let finite = self.learn_inner(&trace.prev, z)?;
        if finite {
            self.prepare_table(z);
        }
        let prev = &mut trace.prev;
        if finite && self.plan.is_some() {
            self.rate_blocks(z, true, |start, eta, zc| {
                prev[start..start + zc.len()].copy_from_slice(zc);
                apply(start, eta, zc);
            });
            return Ok(());
        }
        let mut eta = [0.0f32; fast::BLOCK];
        let mut zc = [0.0f32; fast::BLOCK];
        for (b, zb) in z.chunks(fast::BLOCK).enumerate() {
            let start = b * fast::BLOCK;
            let n = zb.len();
            self.model().rates(zb, |d, e, c| {
                let ok = zb[d].is_finite();
                eta[d] = if ok { e } else { 0.0 };
                zc[d] = if ok { c } else { 0.0 };
            });
            prev[start..start + n].copy_from_slice(&zc[..n]);
            apply(start, &eta[..n], &zc[..n]);
        }
        Ok(())
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
