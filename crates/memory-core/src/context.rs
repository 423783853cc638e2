//! A memory over two inputs: the gradient coordinate z and its tensor's gradient scale
//! relative to its recent past (the papers' future work: a memory whose input is more than the
//! gradient).
//!
//! [`ContextMemory`] keeps K rows of M local models, θ_{k,m}, over a 2-D grid: the memory's M
//! centres in z and K contexts ĉ_k in c_t = ln(r(z_t) / r̄_{t−1}), the log-ratio of this step's
//! gradient RMS r(z_t) = √(mean_d z_t\[d\]²) to the running, bias-corrected RMS r̄ of the steps
//! before it. The kernel is separable, ψ_m(z)·φ_k(c), so the locally weighted regression over
//! the grid factorises (its normaliser Σ_{k,m} φ_k ψ_m = Σ_k φ_k · Σ_m ψ_m):
//!
//! - prediction: η̂(z, c) = Σ_m ψ_m(z) θ̄_m(c) / Σ_m ψ_m(z), θ̄_m(c) = Σ_k w_k(c) θ_{k,m},
//!   w_k = φ_k / Σ_j φ_j — the 1-D memory with the context's blend of rows as its θ;
//! - learning: G_{k,m} = w_k(c_{t−1}) · G_m, with G_m the 1-D memory's gradient (Eq. 4) over
//!   z_{t−1}: the rate applied at t − 1 came from the context of t − 1.
//!
//! So a step costs what the 1-D memory's costs plus one pass for r(z_t) and O(K·M) per step,
//! and with K = 1 it *is* the 1-D memory, bit for bit (the tests check it). What it can learn
//! that the 1-D memory cannot: a different rate when a tensor's gradient is suddenly much
//! larger than usual (an outlier sample, a loss spike) than when it is typical — a learned
//! counterpart of gradient clipping.

use alloc::vec;
use alloc::vec::Vec;

use crate::config::{MemoryConfig, QueryScale, Reload};
use crate::error::check_len;
use crate::memory::Memory;
use crate::rule::RuleState;
use crate::trace::mean_square;
use crate::MemoryError;

/// The finest spacing of contexts, 2·span/(K − 1), that [`ContextConfig::validate`] accepts
/// (natural-log units). The weights are exp(−(d² − near²)/(2·spacing²)) in f32: at spacings
/// near 10⁻¹⁹ the squares underflow and 1/(2·spacing²) overflows, and 0·∞ made every weight
/// NaN. 10⁻⁶ keeps both far inside f32 and is far below any spacing that tells contexts apart.
pub const MIN_CONTEXT_SPACING: f32 = 1e-6;

/// Configuration of a [`ContextMemory`]. Build with struct update syntax over [`Default`].
///
/// ```
/// use lrmem_memory_core::{ContextConfig, ContextMemory, MemoryConfig};
/// let config = ContextConfig { contexts: 3, memory: MemoryConfig { eta0: 1e-2, ..MemoryConfig::default() },
///                              ..ContextConfig::default() };
/// let memory = ContextMemory::new(config)?;
/// assert_eq!(memory.theta().len(), 3 * 20); // K rows of M local models
/// # Ok::<(), lrmem_memory_core::MemoryError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ContextConfig {
    /// The memory over z in every context: centres, kernel, η₀, θ's bounds, the signal, the
    /// memory optimizer and its space, what a reload keeps. Its `scale` must be
    /// [`QueryScale::Raw`]: the context already is the gradient's scale. Default
    /// [`MemoryConfig::default`] (the authors' settings).
    pub memory: MemoryConfig,
    /// K, the contexts, evenly spread over [−span, span]. Default 5. 1 is the 1-D memory.
    pub contexts: usize,
    /// The context range: c_t is clipped to ±span (natural-log units). Default 2: a step whose
    /// gradient RMS is e² ≈ 7.4 times above or below its running RMS is the most extreme
    /// context. In (0, 50], with the contexts' spacing 2·span/(K − 1) at least
    /// [`MIN_CONTEXT_SPACING`].
    pub span: f32,
    /// β of the running mean of the tensor's mean squared gradient, in (0, 1). Default 0.99
    /// (about the last 100 steps).
    pub beta: f32,
}

impl Default for ContextConfig {
    fn default() -> Self {
        ContextConfig {
            memory: MemoryConfig::default(),
            contexts: 5,
            span: 2.0,
            beta: 0.99,
        }
    }
}

impl ContextConfig {
    /// Checks every field; the error names the field and its range.
    pub fn validate(&self) -> Result<(), MemoryError> {
        self.memory.validate()?;
        if self.memory.scale != QueryScale::Raw {
            return Err(MemoryError::invalid(
                "memory.scale",
                "Rms",
                "Raw for a context memory (its context already is the gradient's scale; use one or the other)",
            ));
        }
        if !(1..=64).contains(&self.contexts) {
            return Err(MemoryError::invalid(
                "contexts",
                self.contexts,
                "in 1..=64 (1 is the plain memory)",
            ));
        }
        if !(self.span.is_finite() && self.span > 0.0 && self.span <= 50.0) {
            return Err(MemoryError::invalid(
                "span",
                self.span,
                "in (0, 50] (natural-log units; 2 covers gradients 7.4× above or below their running RMS)",
            ));
        }
        // Span and K are valid alone; the contexts' spacing 2·span/(K − 1) must leave room in
        // f32 for the weights' exponent (d² − near²)/(2·spacing²) (docs/algorithm.md §15).
        if self.contexts > 1 && 2.0 * self.span / ((self.contexts - 1) as f32) < MIN_CONTEXT_SPACING
        {
            return Err(MemoryError::invalid(
                "span",
                self.span,
                "such that the contexts' spacing 2·span/(contexts − 1) is at least 1e-6 (finer \
                 contexts tell apart gradient scales within a millionth of each other, and their \
                 weights underflow f32): raise span or use fewer contexts",
            ));
        }
        if !(self.beta > 0.0 && self.beta < 1.0) {
            return Err(MemoryError::invalid(
                "beta",
                self.beta,
                "in (0, 1) (0.99 averages about the last 100 steps)",
            ));
        }
        Ok(())
    }

    /// The normalised context weights w_k(c) (Σ w_k = 1), written into `w` (K entries).
    ///
    /// φ_k(c) = exp(−(c − ĉ_k)²/(2σ²)) with σ the contexts' spacing; computed relative to the
    /// nearest context, whose φ is then exactly 1, so that no weight underflows to a 0/0 and
    /// K = 1 gives exactly w = \[1\].
    fn weights(&self, c: f32, w: &mut [f32]) {
        let k = self.contexts;
        if k == 1 {
            w[0] = 1.0;
            return;
        }
        let span = self.span;
        let spacing = 2.0 * span / (k - 1) as f32;
        let centre = |i: usize| -span + spacing * i as f32;
        let c = c.clamp(-span, span);
        let near = (0..k)
            .map(|i| (c - centre(i)).abs())
            .fold(f32::INFINITY, f32::min);
        let inv = 1.0 / (2.0 * spacing * spacing);
        let mut sum = 0.0f32;
        for (i, wi) in w.iter_mut().enumerate() {
            let d = c - centre(i);
            *wi = libm::expf(-(d * d - near * near) * inv);
            sum += *wi;
        }
        for wi in w.iter_mut() {
            *wi /= sum;
        }
    }
}

/// The per-tensor state of a [`ContextMemory`]: the previous clipped query of every
/// coordinate (as a [`Trace`](crate::Trace)), the running mean square of the tensor's
/// gradients and the previous step's context weights. 4 bytes per coordinate.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ContextTrace {
    prev: Vec<f32>,
    mean_sq: f64,
    steps: u64,
    /// w(c_{t−1}); empty before the first step.
    weights: Vec<f32>,
}

impl ContextTrace {
    /// A trace for a tensor of `len` coordinates (z_{−1} = 0: the first update is zero).
    pub fn new(len: usize) -> Self {
        ContextTrace {
            prev: vec![0.0; len],
            mean_sq: 0.0,
            steps: 0,
            weights: Vec::new(),
        }
    }

    /// Coordinates tracked.
    pub fn len(&self) -> usize {
        self.prev.len()
    }

    /// True for a zero-length tensor.
    pub fn is_empty(&self) -> bool {
        self.prev.is_empty()
    }

    /// The previous clipped queries z_{t−1}.
    pub fn previous(&self) -> &[f32] {
        &self.prev
    }

    /// The previous step's context weights w(c_{t−1}) (empty before the first step).
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// Forget the previous gradient, the running RMS and the context (a new task starts).
    pub fn reset(&mut self) {
        self.prev.fill(0.0);
        self.mean_sq = 0.0;
        self.steps = 0;
        self.weights.clear();
    }

    /// Checks a trace read back from saved bytes against `config`: what a step writes, finite
    /// queries within ±clip, a mean square in [0, f32::MAX²], weights empty or K values in
    /// [0, 1] summing to 1. A damaged one is an error naming the field.
    pub fn check(&self, config: &ContextConfig) -> Result<(), MemoryError> {
        let clip = config.memory.clip;
        if let Some(i) = self.prev.iter().position(|x| x.is_nan() || x.abs() > clip) {
            return Err(MemoryError::corrupt(alloc::format!(
                "the context trace's previous query {i} is {}, not a finite query within ±clip = ±{clip} (what a step writes)",
                self.prev[i]
            )));
        }
        // A running mean of squares of f32 values: at most f32::MAX².
        let max_sq = f32::MAX as f64 * f32::MAX as f64;
        if !(self.mean_sq >= 0.0 && self.mean_sq <= max_sq) {
            return Err(MemoryError::corrupt(
                "the context trace's running mean square is not a number in [0, f32::MAX²] (what a step writes)",
            ));
        }
        // What `ContextConfig::weights` can produce: K values in [0, 1] that sum to 1, up to
        // the rounding of K f32 divisions and the sum. Such weights keep G_{k,m} = w_k·G_m
        // within the 1-D memory's |G_m| ≤ 1, which bounds the memory optimizer's moments.
        let sum: f64 = self.weights.iter().map(|&w| w as f64).sum();
        let tolerance = 1e-6 * config.contexts as f64;
        if !(self.weights.is_empty()
            || (self.weights.len() == config.contexts
                && self.weights.iter().all(|w| (0.0..=1.0).contains(w))
                && (sum - 1.0).abs() <= tolerance))
        {
            return Err(MemoryError::corrupt(
                "the context trace's weights are neither empty nor one weight in [0, 1] per context summing to 1 (what a step writes); the saved state is damaged or was not written by lrmem",
            ));
        }
        Ok(())
    }

    /// c_t for this step's gradients `z` (0 at the first step and where r(z_t) is not a usable
    /// number), and the running mean square it leaves (not yet stored).
    fn context(&self, beta: f32, span: f32, z: &[f32]) -> (f32, f64) {
        let now = mean_square(z);
        let beta = beta as f64;
        let next = beta * self.mean_sq + (1.0 - beta) * now;
        if self.steps == 0 || self.mean_sq <= 0.0 {
            return (0.0, next);
        }
        let corrected = self.mean_sq / (1.0 - libm::pow(beta, self.steps.min(1 << 30) as f64));
        let c = 0.5 * libm::log(now / corrected);
        let c = if c.is_nan() { 0.0 } else { c as f32 };
        (c.clamp(-span, span), next)
    }
}

/// A memory of learning rates over (z, c): K rows of the 1-D memory's M local models, blended
/// by the tensor's gradient-scale context: the prediction is the 1-D memory's with a blend
/// of rows as θ, the update credits each row by its weight in the previous step's context
/// (docs/algorithm.md §15 of the repository).
///
/// ```
/// use lrmem_memory_core::{ContextConfig, ContextMemory, ContextTrace};
/// let mut memory = ContextMemory::new(ContextConfig::default())?;
/// let mut w = vec![1.0f32; 4];
/// let mut trace = ContextTrace::new(w.len());
/// for _ in 0..10 {
///     let g = w.clone(); // ∇ of ½‖w‖²
///     memory.step_blocks(&mut trace, &g, |start, etas, zs| {
///         for (i, (&eta, &z)) in etas.iter().zip(zs).enumerate() {
///             w[start + i] -= eta * z;
///         }
///     })?;
/// }
/// assert!(w[0] < 1.0);
/// # Ok::<(), lrmem_memory_core::MemoryError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ContextMemory {
    config: ContextConfig,
    /// θ_{k,m}, row k = context k.
    theta: Vec<f32>,
    rule: RuleState,
    /// The 1-D memory that computes G and predicts with the blend θ̄ (its own θ = θ̄).
    view: Memory,
    g: Vec<f32>,
    gk: Vec<f32>,
    blend: Vec<f32>,
    w: Vec<f32>,
}

impl PartialEq for ContextMemory {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config && self.theta == other.theta && self.rule == other.rule
    }
}

impl ContextMemory {
    /// A memory with every θ_{k,m} = η₀. Fails if the config is invalid.
    pub fn new(config: ContextConfig) -> Result<Self, MemoryError> {
        config.validate()?;
        let m = config.memory.local_models();
        let theta = vec![config.memory.eta0; config.contexts * m];
        Self::restore(config, theta, RuleState::new(config.contexts * m))
    }

    /// A memory from saved parts: the config is validated, θ must have K·M values within
    /// [θ_min, θ_max] and the moments K·M finite values (what [`ContextMemory::new`] and
    /// [`ContextMemory::theta`] / [`ContextMemory::rule_state`] describe).
    pub fn restore(
        config: ContextConfig,
        theta: Vec<f32>,
        rule: RuleState,
    ) -> Result<Self, MemoryError> {
        config.validate()?;
        let m = config.memory.local_models();
        let km = config.contexts * m;
        check_len("context memory theta", km, theta.len())?;
        // Validates θ's bounds and the moments through the 1-D memory's own checks, row by
        // row (the moments of row k are entries k·M..(k+1)·M).
        check_len("memory optimizer state", km, rule.m.len())?;
        check_len("memory optimizer state", km, rule.v.len())?;
        for k in 0..config.contexts {
            let r = k * m..(k + 1) * m;
            Memory::restore(
                config.memory,
                theta[r.clone()].to_vec(),
                RuleState {
                    step: rule.step,
                    m: rule.m[r.clone()].to_vec(),
                    v: rule.v[r].to_vec(),
                },
            )?;
        }
        let view = Memory::new(config.memory)?;
        Ok(ContextMemory {
            config,
            theta,
            rule,
            view,
            g: vec![0.0; m],
            gk: vec![0.0; km],
            blend: vec![0.0; m],
            w: vec![0.0; config.contexts],
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ContextConfig {
        &self.config
    }

    /// θ, K rows of M local models (row k: context k, from −span to span).
    pub fn theta(&self) -> &[f32] {
        &self.theta
    }

    /// The memory optimizer's state (K·M moments and the step count).
    pub fn rule_state(&self) -> &RuleState {
        &self.rule
    }

    /// The context weights w_k(c) for a context value c (what a step with c_t = c blends).
    pub fn context_weights(&self, c: f32) -> Vec<f32> {
        let mut w = vec![0.0; self.config.contexts];
        self.config.weights(c, &mut w);
        w
    }

    /// Start a new task as [`MemoryConfig::reload`] says (θ kept, or pulled toward η₀; the
    /// memory optimizer's moments reset or kept). Reset the tensors' [`ContextTrace`]s too.
    pub fn next_task(&mut self) {
        let cfg = self.config.memory;
        match cfg.reload {
            Reload::Theta => self.rule = RuleState::new(self.theta.len()),
            Reload::ThetaAndMoments => {}
            Reload::Decay { keep } => {
                for t in &mut self.theta {
                    *t = (keep * *t + (1.0 - keep) * cfg.eta0).clamp(cfg.theta_min, cfg.theta_max);
                }
                self.rule = RuleState::new(self.theta.len());
            }
        }
    }

    /// One step on one tensor: learn from (z_{t−1}, z_t) with G_{k,m} = w_k(c_{t−1})·G_m,
    /// then call `apply(start, etas, zs)` for consecutive blocks of coordinates with the rates
    /// of the blend θ̄(c_t) and the clipped queries, and remember z_t and c_t in `trace`.
    /// A coordinate skipped under [`NonFinite::Skip`](crate::NonFinite::Skip) gets η = 0 and
    /// z = 0. On an error nothing has changed and `apply` has not been called.
    pub fn step_blocks(
        &mut self,
        trace: &mut ContextTrace,
        z: &[f32],
        mut apply: impl FnMut(usize, &[f32], &[f32]),
    ) -> Result<(), MemoryError> {
        check_len("gradient", trace.prev.len(), z.len())?;
        // G over z_{t−1} (an error here, on a non-finite z_t under NonFinite::Error, changes
        // nothing).
        self.view.gradient(&trace.prev, z, &mut self.g)?;
        let cfg = self.config;
        let (c, mean_sq) = trace.context(cfg.beta, cfg.span, z);
        cfg.weights(c, &mut self.w);
        let m = self.g.len();
        let prev_w = if trace.weights.is_empty() {
            &self.w
        } else {
            &trace.weights
        };
        for (row, &wk) in self.gk.chunks_mut(m).zip(prev_w) {
            for (o, &g) in row.iter_mut().zip(&self.g) {
                *o = wk * g;
            }
        }
        let mem = cfg.memory;
        mem.optimizer.apply(
            &mut self.rule,
            &self.gk,
            &mut self.theta,
            (mem.theta_min, mem.theta_max),
            mem.space,
        );
        self.blend.fill(0.0);
        for (row, &wk) in self.theta.chunks(m).zip(&self.w) {
            for (b, &t) in self.blend.iter_mut().zip(row) {
                *b += wk * t;
            }
        }
        for b in &mut self.blend {
            *b = b.clamp(mem.theta_min, mem.theta_max);
        }
        // A convex blend of rows within θ's bounds, clamped: always within them.
        self.view.set_theta(&self.blend)?;
        // The same prediction (exact or tabulated) as a plain memory's step, skipped
        // coordinates included (η = 0, z = 0).
        let prev = &mut trace.prev;
        self.view.step_rate_blocks(z, |start, eta, zc| {
            prev[start..start + zc.len()].copy_from_slice(zc);
            apply(start, eta, zc);
        });
        trace.mean_sq = mean_sq;
        trace.steps = trace.steps.saturating_add(1);
        trace.weights.clear();
        trace.weights.extend_from_slice(&self.w);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryOptimizer, NonFinite, Trace};

    fn grads(t: usize, n: usize) -> Vec<f32> {
        // Gradients whose sign flips in places and whose scale jumps every 7th step.
        (0..n)
            .map(|d| {
                let x = ((d * 37 + t * 11) % 23) as f32 / 23.0 - 0.4;
                let scale = if t % 7 == 3 { 5.0 } else { 0.05 };
                scale * x * if (d + t).is_multiple_of(5) { -1.0 } else { 1.0 }
            })
            .collect()
    }

    /// With one context the 2-D memory is the 1-D memory: the same θ and rates, bit for bit.
    #[test]
    fn one_context_is_the_plain_memory() {
        for n in [3usize, 300, 5000] {
            let memory = MemoryConfig {
                optimizer: MemoryOptimizer::adam(1e-2),
                ..MemoryConfig::default()
            };
            let mut plain = Memory::new(memory).unwrap();
            let mut ctx = ContextMemory::new(ContextConfig {
                memory,
                contexts: 1,
                ..ContextConfig::default()
            })
            .unwrap();
            let (mut tp, mut tc) = (Trace::new(n), ContextTrace::new(n));
            for t in 0..20 {
                let z = grads(t, n);
                let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
                plain
                    .step_blocks(&mut tp, &z, |s, e, _| a[s..s + e.len()].copy_from_slice(e))
                    .unwrap();
                ctx.step_blocks(&mut tc, &z, |s, e, _| b[s..s + e.len()].copy_from_slice(e))
                    .unwrap();
                assert_eq!(a, b, "n = {n}, step {t}");
                assert_eq!(plain.theta(), ctx.theta(), "n = {n}, step {t}");
            }
        }
    }

    /// Rows learn apart: when the steps of large gradients are the ones whose sign does not
    /// hold, the large-gradient context's row ends below the typical one's. Clipping at 0.01
    /// puts both kinds of steps at the same centres, so only the context tells them apart.
    #[test]
    fn contexts_learn_apart() {
        let n = 200;
        let mut ctx = ContextMemory::new(ContextConfig {
            memory: MemoryConfig {
                optimizer: MemoryOptimizer::sgd(10.0),
                eta0: 0.01,
                clip: 0.01,
                ..MemoryConfig::default()
            },
            contexts: 3,
            ..ContextConfig::default()
        })
        .unwrap();
        let mut trace = ContextTrace::new(n);
        for t in 0..200 {
            // Typical steps keep their sign; every 5th step is 25× larger with the sign
            // flipped, and the step after it flips back.
            let big = t % 5 == 4;
            let s = if big { -1.0 } else { 1.0 };
            let scale = if big { 0.5 } else { 0.02 };
            let z: Vec<f32> = (0..n).map(|d| s * scale * (1.0 + (d % 3) as f32)).collect();
            ctx.step_blocks(&mut trace, &z, |_, _, _| {}).unwrap();
        }
        let m = ctx.config().memory.local_models();
        let mean = |k: usize| ctx.theta()[k * m..(k + 1) * m].iter().sum::<f32>() / m as f32;
        // Typical steps sit in the lowest context (c ≈ −2.4, clipped to −2), large ones
        // between the upper two (c ≈ 0.8).
        assert!(mean(0) > 0.01, "typical row {}", mean(0));
        assert!(mean(2) < 0.01, "large-gradient row {}", mean(2));
    }

    /// Errors change nothing: a NaN gradient under NonFinite::Error, a length mismatch.
    #[test]
    fn errors_change_nothing() {
        let mut ctx = ContextMemory::new(ContextConfig::default()).unwrap();
        let mut trace = ContextTrace::new(4);
        ctx.step_blocks(&mut trace, &[0.1, -0.2, 0.3, 0.1], |_, _, _| {})
            .unwrap();
        let (before, tb) = (ctx.clone(), trace.clone());
        let mut called = false;
        let err = ctx.step_blocks(&mut trace, &[0.1, f32::NAN, 0.3, 0.1], |_, _, _| {
            called = true
        });
        assert!(matches!(
            err,
            Err(MemoryError::NonFiniteGradient { index: 1, .. })
        ));
        assert!(ctx
            .step_blocks(&mut trace, &[0.1], |_, _, _| called = true)
            .is_err());
        assert!(!called);
        assert_eq!(ctx, before);
        assert_eq!(trace, tb);
    }

    /// Under NonFinite::Skip a non-finite coordinate gets η = 0 and z = 0, the rest step.
    #[test]
    fn skip_zeroes_non_finite_coordinates() {
        let memory = MemoryConfig {
            non_finite: NonFinite::Skip,
            ..MemoryConfig::default()
        };
        let mut ctx = ContextMemory::new(ContextConfig {
            memory,
            ..ContextConfig::default()
        })
        .unwrap();
        let mut trace = ContextTrace::new(3);
        let mut seen = vec![];
        ctx.step_blocks(&mut trace, &[0.1, f32::INFINITY, -0.1], |_, e, z| {
            seen = e.iter().copied().zip(z.iter().copied()).collect()
        })
        .unwrap();
        assert_eq!(seen[1], (0.0, 0.0));
        assert!(seen[0].0 > 0.0 && seen[2].0 > 0.0);
        assert!(trace.previous().iter().all(|x| x.is_finite()));
    }

    /// Saved bytes round-trip; a plain memory's bytes, damaged bytes and θ outside its bounds
    /// are errors.
    #[cfg(feature = "serde")]
    #[test]
    fn saved_bytes_are_checked() {
        let mut ctx = ContextMemory::new(ContextConfig::default()).unwrap();
        let mut trace = ContextTrace::new(8);
        for t in 0..5 {
            ctx.step_blocks(&mut trace, &grads(t, 8), |_, _, _| {})
                .unwrap();
        }
        let bytes = ctx.to_bytes().unwrap();
        assert_eq!(ContextMemory::from_bytes(&bytes).unwrap(), ctx);
        let plain = Memory::new(MemoryConfig::default())
            .unwrap()
            .to_bytes()
            .unwrap();
        assert!(ContextMemory::from_bytes(&plain).is_err());
        let mut bad = bytes.clone();
        bad[12] ^= 1;
        assert!(ContextMemory::from_bytes(&bad).is_err());
        let mut theta = ctx.theta().to_vec();
        theta[7] = 2.0;
        assert!(matches!(
            ContextMemory::restore(*ctx.config(), theta, ctx.rule_state().clone()),
            Err(MemoryError::Corrupt { .. })
        ));
        assert!(
            ContextMemory::restore(*ctx.config(), vec![1e-3; 3], ctx.rule_state().clone()).is_err()
        );
    }

    /// A trace passes its load check only with what a step writes: every forged field is
    /// refused (a weight of 3e38 made the memory optimizer's moments ∞ one step later).
    #[test]
    fn check_refuses_what_no_step_writes() {
        let config = ContextConfig::default();
        let mut ctx = ContextMemory::new(config).unwrap();
        let mut trace = ContextTrace::new(8);
        for t in 0..4 {
            ctx.step_blocks(&mut trace, &grads(t, 8), |_, _, _| {})
                .unwrap();
            trace.check(&config).unwrap();
        }
        let forged: [fn(&mut ContextTrace); 6] = [
            |t| t.weights[2] = 3e38,
            |t| t.weights[0] = -0.1,
            |t| t.weights.iter_mut().for_each(|w| *w = 0.5),
            |t| t.weights.truncate(3),
            |t| t.prev[1] = 1.5,
            |t| t.mean_sq = 1e300,
        ];
        for (i, forge) in forged.iter().enumerate() {
            let mut bad = trace.clone();
            forge(&mut bad);
            assert!(
                matches!(bad.check(&config), Err(MemoryError::Corrupt { .. })),
                "forgery {i}"
            );
        }
    }

    /// Weights are a partition of unity that peaks at the nearest context.
    #[test]
    fn weights_sum_to_one() {
        let ctx = ContextMemory::new(ContextConfig::default()).unwrap();
        for c in [-10.0f32, -2.0, -0.3, 0.0, 0.7, 2.0, 1e9, f32::NEG_INFINITY] {
            let w = ctx.context_weights(c);
            let sum: f32 = w.iter().sum();
            assert!((sum - 1.0).abs() < 1e-6, "c = {c}: {w:?}");
        }
        let w = ctx.context_weights(1.0);
        assert!(w[3] > w[2] && w[3] > w[4], "{w:?}");
    }

    /// Invalid configs are refused with the field named.
    #[test]
    fn invalid_configs() {
        for (bad, field) in [
            (
                ContextConfig {
                    contexts: 0,
                    ..ContextConfig::default()
                },
                "contexts",
            ),
            (
                ContextConfig {
                    span: f32::NAN,
                    ..ContextConfig::default()
                },
                "span",
            ),
            (
                ContextConfig {
                    beta: 1.0,
                    ..ContextConfig::default()
                },
                "beta",
            ),
            (
                ContextConfig {
                    memory: MemoryConfig {
                        scale: QueryScale::Rms { beta: 0.99 },
                        ..MemoryConfig::default()
                    },
                    ..ContextConfig::default()
                },
                "memory.scale",
            ),
        ] {
            match ContextMemory::new(bad) {
                Err(MemoryError::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}
