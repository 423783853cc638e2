//! Mechanic (Cutkosky, Defazio & Mehta, "Mechanic: A Learning Rate Tuner", NeurIPS 2023): a
//! wrapper that learns the scale of any base optimizer's steps, as the reference
//! `mechanic-pytorch` 0.0.1 (`mechanic.py`, `mechanize(Base)` with `store_delta=False`) computes
//! it, number for number.
//!
//! The base optimizer steps the parameters as it would alone; Mechanic keeps the point x_ref
//! where the model started (each tensor's parameters at its first step) and replaces the
//! parameters by x_ref + S·Δ, where Δ is the sum of the base's steps and S = Σⱼ sⱼ a scale it
//! learns online, one sⱼ per β ∈ `betas`. Each step k, with g the gradients of the whole model,
//! x the parameters handed in and x' = x + u the parameters after the base's step:
//!
//! - Δ = (x − x_ref)/(S + ε) (recomputed from the parameters, the reference's
//!   `store_delta=False`);
//! - h = ⟨Δ, g + λ·S·(‖g‖/(‖x'‖ + ε))·x'⟩ over the model (λ = `s_decay`; both norms over the
//!   model);
//! - per β: m ← max(β·m, |h|), v ← β²·v + h², r ← max(0, β·r − s·h),
//!   s ← (m·s_init/n + r)/(√v + ε), with n the number of β's, m₀ = 10⁻⁶ and s, v, r starting at 0;
//! - Δ ← Δ + u, and x ← x_ref + max(S, 0)·Δ with the new S.
//!
//! As in the reference, the scalars (s, v, r, m, the β's, λ, s_init, the norms and h) are
//! float32, computed in its order: the per-tensor dot products are summed in f64 and rounded
//! once (torch's BLAS sums in float32 in an order of its own), then added over the tensors in
//! f32; S is summed in the order of torch's `sum` of a short vector. Two quirks of the reference
//! are kept: Δ is recomputed by dividing by S + ε although the parameters were built with S, so
//! that the displacement shrinks by S/(S + ε) each step (about 1% per step while S is near its
//! start, 10⁻⁶); and the decay term uses the parameters after the base's step, x'.
//!
//! Guards the reference does not have, which change nothing in any run it survives: every
//! intermediate value (differences, quotients, products, h, v, r, the wealth, s, S and the
//! parameters) saturates at ±`f32::MAX` instead of overflowing, so that hostile gradients and
//! configs never turn state or parameters into ∞ or NaN (every divisor is at least ε > 0).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::optimizer::hyper;
use crate::optimizer::inputs::check_decay;
use crate::optimizer::model::check_model;
use crate::optimizer::model::{coef, sat};
use crate::optimizer::state::{self, Field, StateRules};
use crate::optimizer::state::{Inspect, StateView, TensorStates};
use crate::optimizer::{Checkpoint, OptimError, Optimizer, StateBytes, Tensor};
use lrmem_memory_core::NonFinite;

/// The most β's a [`MechanicConfig`] may list (the reference's default has 6).
pub const MAX_BETAS: usize = 32;

/// The reference's initial m (`max_product`), 10⁻⁶ as float32.
const MAX_PRODUCT_INIT: f32 = 1e-6;

/// Mechanic's own settings (the base optimizer has its own config): the reference's arguments
/// of `mechanize` and their defaults (`mechanic-pytorch` 0.0.1, with `store_delta=False`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MechanicConfig {
    /// λ, a weight-decay-like term in h (the paper's λ): the reference uses 0.01 in all its
    /// experiments and says smaller values (even 0) often work on larger datasets. Default 0.01.
    pub s_decay: f32,
    /// The decays of the running sums, one scale sⱼ per β (not Adam's β's). Default
    /// (0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999).
    pub betas: Vec<f32>,
    /// The initial scale, an underestimate of the right one (it enters as log(1/s_init) in the
    /// analysis). Default 1e−8.
    pub s_init: f32,
    /// ε added to S in Δ's divisor, to the parameters' norm and to √v. Default 1e−8.
    pub eps: f32,
    /// NaN/∞ gradients: error (default), or `Skip`: a zero gradient there, for the base and for
    /// Mechanic's norms and h alike ([`NonFinite::Skip`]). Mechanic applies it before the base
    /// sees a gradient, so the base's own policy never comes into play.
    pub non_finite: NonFinite,
}

impl Default for MechanicConfig {
    fn default() -> Self {
        MechanicConfig {
            s_decay: 0.01,
            betas: vec![0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999],
            s_init: 1e-8,
            eps: 1e-8,
            non_finite: NonFinite::Error,
        }
    }
}

impl MechanicConfig {
    /// Checks every field: λ in [0, 10⁶], 1 to [`MAX_BETAS`] β's each in [0, 1), s_init in
    /// (0, 10⁶] (the reference: it "cannot be set to zero"), ε finite and > 0.
    pub fn validate(&self) -> Result<(), OptimError> {
        hyper::check_nonnegative("s_decay", self.s_decay)?;
        if self.betas.is_empty() || self.betas.len() > MAX_BETAS {
            return Err(OptimError::invalid(
                "betas",
                format!("{:?}", self.betas),
                "1 to 32 values",
            ));
        }
        if let Some(&b) = self.betas.iter().find(|b| !(0.0..1.0).contains(*b)) {
            return Err(OptimError::invalid("betas", b, "each in [0, 1)"));
        }
        hyper::check_positive("s_init", self.s_init)?;
        hyper::check_eps(self.eps)
    }
}

/// Per-tensor state of Mechanic: the reference point.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MechanicState {
    /// The parameters at the tensor's first step, x_ref.
    pub p_ref: Vec<f32>,
}

/// Mechanic's model-wide scalars, one value per β (the reference's `_mechanic` state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MechanicScalars {
    /// Steps of the model (the reference's `iter_count`).
    pub iter_count: u64,
    /// The scales sⱼ; their sum S scales the base's displacement.
    pub s: Vec<f32>,
    /// The discounted sums of squared products, v.
    pub sum_squared_products: Vec<f32>,
    /// The rewards, r (≥ 0).
    pub reward: Vec<f32>,
    /// The discounted largest |h|, m.
    pub max_product: Vec<f32>,
}

impl MechanicScalars {
    /// The scalars before the first step, for `n` β's (the reference's `_init_state`).
    fn fresh(n: usize) -> Self {
        MechanicScalars {
            iter_count: 0,
            s: vec![0.0; n],
            sum_squared_products: vec![0.0; n],
            reward: vec![0.0; n],
            max_product: vec![MAX_PRODUCT_INIT; n],
        }
    }

    /// The vectors by name.
    fn vectors(&self) -> [(&'static str, &[f32]); 4] {
        [
            ("s", &self.s),
            ("sum_squared_products", &self.sum_squared_products),
            ("reward", &self.reward),
            ("max_product", &self.max_product),
        ]
    }

    /// Checks loaded scalars against the config's number of β's: one value per β in each
    /// vector, every value finite and ≥ 0 (as every step leaves them).
    fn check(&self, n: usize) -> Result<(), OptimError> {
        for (name, v) in self.vectors() {
            let problem = if v.len() != n {
                Some(format!("has {} values of `{name}` for {n} betas", v.len()))
            } else {
                v.iter()
                    .find(|x| !(x.is_finite() && **x >= 0.0))
                    .map(|x| format!("has `{name}` = {x} (must be finite and >= 0)"))
            };
            if let Some(p) = problem {
                return Err(OptimError::Corrupt {
                    reason: format!(
                        "the model-wide state {p}; the checkpoint is damaged or was not written by lrmem"
                    ),
                });
            }
        }
        Ok(())
    }
}

/// Mechanic over a base optimizer `B` (see the [module docs](crate::mechanic) for the update):
/// the base steps, Mechanic learns how far along the base's path from the starting point the
/// parameters should be. Its step needs the whole model: hand every tensor to
/// [`step_model`](Optimizer::step_model) at once ([`step`](Optimizer::step) on one tensor is a
/// model of that tensor alone).
///
/// ```
/// use lrmem_optimizers::{Mechanic, MechanicConfig, Optimizer, Sgd, SgdConfig, Tensor};
/// // The reference's README: `mechanize(torch.optim.SGD)(params, lr=1.0)`.
/// let mut opt = Mechanic::new(Sgd::new(SgdConfig::with_lr(1.0))?, MechanicConfig::default())?;
/// let (mut w, mut b) = (vec![1.0f32, -2.0], vec![0.5f32]);
/// for _ in 0..200 {
///     let (gw, gb): (Vec<f32>, Vec<f32>) = (w.clone(), b.clone()); // ½‖x‖²
///     opt.step_model(&mut [Tensor::new("w", &mut w, &gw), Tensor::new("b", &mut b, &gb)])?;
/// }
/// assert!(w.iter().chain(&b).all(|x| x.abs() < 0.1));
/// assert!(opt.scale() > 0.0); // S, the scale it learned
/// # Ok::<(), lrmem_optimizers::OptimError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Mechanic<B> {
    base: B,
    /// `Mechanic<Base>`, the base's kind read from its checkpoint header at construction.
    kind: String,
    config: MechanicConfig,
    states: TensorStates<MechanicState>,
    global: MechanicScalars,
}

impl<B: Optimizer + Checkpoint + Clone> Mechanic<B> {
    /// Mechanic over `base`, with `config` validated. The base's kind (for checkpoints and
    /// messages, `Mechanic<Sgd>`) is read from the header of a checkpoint of it.
    pub fn new(base: B, config: MechanicConfig) -> Result<Self, OptimError> {
        config.validate()?;
        let kind = format!(
            "Mechanic<{}>",
            crate::optimizer::checkpoint::checkpoint_kind(&base.save()?)?
        );
        let global = MechanicScalars::fresh(config.betas.len());
        Ok(Mechanic {
            base,
            kind,
            config,
            states: TensorStates::default(),
            global,
        })
    }
}

impl<B> Mechanic<B> {
    /// Mechanic's own configuration.
    pub fn config(&self) -> &MechanicConfig {
        &self.config
    }

    /// The base optimizer.
    pub fn base(&self) -> &B {
        &self.base
    }

    /// The kind of optimizer, as checkpoints and messages name it (`Mechanic<Sgd>`).
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// S = Σⱼ sⱼ, the scale of the base's displacement from the reference point (what the
    /// reference logs as `s`); 0 before the first step.
    pub fn scale(&self) -> f32 {
        torch_sum(&self.global.s)
    }

    /// The model-wide scalars.
    pub fn scalars(&self) -> &MechanicScalars {
        &self.global
    }

    /// Forget every tensor's reference point and the scalars (a new task starts); the base is
    /// left as it is (see [`Optimizer::next_task`], which resets the base too).
    pub fn reset(&mut self) {
        self.states.clear();
        self.global = MechanicScalars::fresh(self.config.betas.len());
    }

    /// The base's view of its state ([`StateView`]), with each tensor's reference point as
    /// field `ref` and Mechanic's scalars among the model-wide fields: `iter_count`, and `s`,
    /// `sum_squared_products`, `reward` and `max_product` with one value per β.
    pub fn state(&self) -> StateView<'_>
    where
        B: Inspect,
    {
        let mut view = self.base.state();
        for (name, st) in self.states.iter() {
            view.tensors
                .entry(name.to_owned())
                .or_default()
                .insert("ref".into(), Field::Values(&st.p_ref));
        }
        view.model
            .insert("iter_count".into(), Field::Count(self.global.iter_count));
        for (name, v) in self.global.vectors() {
            view.model.insert(name.into(), Field::Values(v));
        }
        view
    }
}

/// The sum of a short f32 vector in the order of torch's CPU `sum` (four partial sums, the
/// remainder added to the first, then the others), which the reference uses for S. Exact for
/// fewer than 8 values (torch vectorises longer rows; the default has 6 β's); as close as any
/// order otherwise.
fn torch_sum(x: &[f32]) -> f32 {
    let mut partial = [0.0f32; 4];
    let rows = x.len() / 4;
    for row in x[..rows * 4].chunks_exact(4) {
        for (p, &v) in partial.iter_mut().zip(row) {
            *p += v;
        }
    }
    for &v in &x[rows * 4..] {
        partial[0] += v;
    }
    sat(partial[0] + partial[1] + partial[2] + partial[3])
}

/// ⟨a, b⟩ in f64 (the reference's float32 `torch.dot`, summed exactly enough to round once).
fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

impl<B: Optimizer + Checkpoint + Clone> Optimizer for Mechanic<B> {
    crate::optimizer::macros::one_tensor_model!(step_only);

    /// The checks its step begins with (every tensor's inputs and length), then the base's on
    /// the gradients the base would step with; changes nothing.
    fn check_model(&self, tensors: &mut [Tensor<'_>]) -> Result<(), OptimError> {
        let grads = check_model(&self.states, tensors, self.config.non_finite)?;
        let mut inner: Vec<Tensor<'_>> = tensors
            .iter_mut()
            .zip(&grads)
            .map(|(t, g)| Tensor::new(t.name, &mut *t.params, g))
            .collect();
        self.base.check_model(&mut inner)
    }

    /// One Mechanic step of the whole model: the base's step, then the tuner's.
    ///
    /// Errors change nothing: every tensor is checked first. The base may still refuse (weight
    /// decay on a diverged parameter, whose decayed gradient is not usable): where the base
    /// has a `weight_decay` and some g + λw is not usable, the base steps on a clone, kept
    /// only if it succeeds, so that its refusal changes nothing either. Otherwise the base
    /// steps in place (a clone of its state every step would cost a copy of its moments); if
    /// it fails anyway, which no base of this crate does on inputs checked as here, the
    /// parameters are restored (a base's own `step_model` checks every tensor before it moves
    /// any, so that its state is unchanged too). An empty model is a step of nothing: nothing changes (the
    /// reference needs at least one parameter).
    fn step_model<'a>(&mut self, tensors: &mut [Tensor<'a>]) -> Result<(), OptimError> {
        // The checked gradients, borrowed from the tensors' own (not from `tensors`, which the
        // steps below borrow mutably).
        let grads: Vec<Cow<'a, [f32]>> =
            check_model(&self.states, tensors, self.config.non_finite)?
                .into_iter()
                .zip(tensors.iter())
                .map(|(checked, t)| match checked {
                    Cow::Borrowed(_) => Cow::Borrowed(t.grads),
                    Cow::Owned(v) => Cow::Owned(v),
                })
                .collect();
        if tensors.is_empty() {
            return Ok(());
        }
        // x before the base's step: restores the parameters if the base fails, gives its step
        // u = x' − x and Δ, and then holds the new Δ.
        let mut olds: Vec<Vec<f32>> = tensors.iter().map(|t| t.params.to_vec()).collect();
        let risky = self
            .base
            .hyperparameter("weight_decay")
            .filter(|&wd| wd != 0.0)
            .is_some_and(|wd| {
                tensors
                    .iter()
                    .zip(&grads)
                    .any(|(t, g)| check_decay(t.name, t.params, Some(&g[..]), wd).is_err())
            });
        let stepped = {
            let mut inner: Vec<Tensor<'_>> = tensors
                .iter_mut()
                .zip(&grads)
                .map(|(t, g)| Tensor::new(t.name, &mut *t.params, g))
                .collect();
            if risky {
                let mut base = self.base.clone();
                base.step_model(&mut inner).map(|()| self.base = base)
            } else {
                self.base.step_model(&mut inner)
            }
        };
        if let Err(e) = stepped {
            for (t, old) in tensors.iter_mut().zip(&olds) {
                t.params.copy_from_slice(old);
            }
            return Err(e);
        }
        // Nothing fails from here on.
        let cfg = &self.config;
        let eps = cfg.eps;
        for (t, old) in tensors.iter().zip(&olds) {
            self.states.get_or_start(t.name, old, cfg)?;
        }
        let sc = &mut self.global;
        let sum_s = torch_sum(&sc.s);
        let divisor = sat(sum_s + eps);
        let (mut norm_sq, mut grad_sq) = (0.0f32, 0.0f32);
        for (t, grad) in tensors.iter().zip(&grads) {
            norm_sq = sat(norm_sq + coef(dot(t.params, t.params)));
            grad_sq = sat(grad_sq + coef(dot(grad, grad)));
        }
        let (global_norm, grad_norm) = (norm_sq.sqrt(), grad_sq.sqrt());
        let norm_eps = sat(global_norm + eps);
        let s_decay = cfg.s_decay;
        let mut h = 0.0f32;
        for ((t, grad), old) in tensors.iter().zip(&grads).zip(olds.iter_mut()) {
            let st = self.states.get(t.name).expect("made above");
            let mut sum = 0.0f64;
            for (((x, &p), &g), &r) in old
                .iter_mut()
                .zip(t.params.iter())
                .zip(grad.iter())
                .zip(&st.p_ref)
            {
                let delta = sat(sat(*x - r) / divisor);
                let decay = sat(sat(sat(sat(s_decay * p) * sum_s) * grad_norm) / norm_eps);
                sum += delta as f64 * sat(g + decay) as f64;
                *x = sat(delta + sat(p - *x));
            }
            h = sat(h + coef(sum));
        }
        sc.iter_count = sc.iter_count.saturating_add(1);
        let n = cfg.betas.len() as f32;
        for (j, &b) in cfg.betas.iter().enumerate() {
            sc.max_product[j] = (b * sc.max_product[j]).max(h.abs());
            sc.sum_squared_products[j] =
                (sc.sum_squared_products[j] * (b * b) + sat(h * h)).min(f32::MAX);
            sc.reward[j] = sat(sc.reward[j] * b - sat(sc.s[j] * h)).max(0.0);
            let wealth = sat(sat(sc.max_product[j] * cfg.s_init) / n + sc.reward[j]);
            sc.s[j] = sat(wealth / sat(sc.sum_squared_products[j].sqrt() + eps));
        }
        // The reference's `max(torch.sum(s), 0.0)`; S ≥ 0 here.
        let scale = torch_sum(&sc.s).max(0.0);
        for (t, delta) in tensors.iter_mut().zip(&olds) {
            let st = self.states.get(t.name).expect("made above");
            for ((p, &d), &r) in t.params.iter_mut().zip(delta).zip(&st.p_ref) {
                *p = sat(r + sat(d * scale));
            }
        }
        Ok(())
    }

    /// Forgets every reference point and scalar ([`reset`](Mechanic::reset)), and calls the
    /// base's `next_task` (which, for every base of this crate but [`Meta`](crate::Meta),
    /// forgets everything too).
    fn next_task(&mut self) {
        self.base.next_task();
        self.reset();
    }

    /// The base's memories (for a [`Meta`](crate::Meta) base).
    fn memory_thetas(&self) -> Vec<(String, Vec<f32>)> {
        self.base.memory_thetas()
    }

    /// The base's hyperparameters (its `lr`, …), then `s_decay`.
    fn hyperparameters(&self) -> Vec<(String, f32)> {
        let mut out = self.base.hyperparameters();
        out.push(("s_decay".into(), self.config.s_decay));
        out
    }

    /// Sets `s_decay` (validated as by [`Mechanic::new`]; the scalars are kept), or one of the
    /// base's hyperparameters through the base, both from the next step on.
    fn set_hyperparameter(&mut self, name: &str, value: f32) -> Result<(), OptimError> {
        if name == "s_decay" {
            let mut config = self.config.clone();
            config.s_decay = value;
            config.validate()?;
            self.config = config;
            return Ok(());
        }
        if self.base.hyperparameter(name).is_none() {
            return Err(hyper::unknown(name, &self.hyperparameters()));
        }
        self.base.set_hyperparameter(name, value)
    }
}

/// The checkpoint's body: Mechanic's config, scalars and reference points, and the base's own
/// checkpoint.
type Saved = (
    MechanicConfig,
    MechanicScalars,
    TensorStates<MechanicState>,
    Vec<u8>,
);

impl<B: Optimizer + Checkpoint + Clone> Checkpoint for Mechanic<B> {
    fn save(&self) -> Result<Vec<u8>, OptimError> {
        crate::optimizer::checkpoint::save(
            &self.kind,
            &(&self.config, &self.global, &self.states, self.base.save()?),
        )
    }

    /// Checks which optimizer wrote the checkpoint before decoding it (a `Mechanic` over the
    /// same kind of base), then restores Mechanic's config (`s_decay` and the rest as saved, as
    /// torch's `load_state_dict` restores the reference's `_mechanic` state), its scalars,
    /// every reference point and the base's state, each checked first (the config's ranges,
    /// one finite, non-negative value per β, finite reference points, the base's own checks):
    /// a damaged one is [`OptimError::Corrupt`]. All or nothing.
    fn load(&mut self, bytes: &[u8]) -> Result<(), OptimError> {
        let (config, global, states, base): Saved =
            crate::optimizer::checkpoint::load(&self.kind, bytes)?;
        config.validate()?;
        global.check(config.betas.len())?;
        state::check_loaded(&config, &states)?;
        // Last: the base's load is all or nothing itself.
        self.base.load(&base)?;
        self.config = config;
        self.global = global;
        self.states = states;
        Ok(())
    }
}

impl<B: Inspect> Inspect for Mechanic<B> {
    fn state(&self) -> StateView<'_> {
        Mechanic::state(self)
    }
}

impl<B: StateBytes> StateBytes for Mechanic<B> {
    /// The base's bytes plus 4 for the reference point (and, during a step, 4 more for the
    /// copy of the parameters that becomes Δ).
    fn bytes_per_coordinate(&self) -> usize {
        self.base.bytes_per_coordinate() + 4
    }
}

impl StateRules<MechanicState> for MechanicConfig {
    fn fresh(&self, len: usize) -> MechanicState {
        MechanicState {
            p_ref: vec![0.0; len],
        }
    }

    /// The reference point is the parameters before the tensor's first step.
    fn start(&self, params: &[f32]) -> MechanicState {
        MechanicState {
            p_ref: params.to_vec(),
        }
    }
}

crate::optimizer::macros::state_fields!(MechanicState { p_ref as "ref" });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::adam::{Adam, AdamConfig};
    use crate::methods::sgd::{Sgd, SgdConfig};
    use crate::registry::{Built, OptimizerSpec, SpecError};

    fn built(s: &str) -> Built {
        s.parse::<OptimizerSpec>()
            .unwrap()
            .build()
            .unwrap_or_else(|e| panic!("`{s}`: {e}"))
    }

    /// Mechanic at its default config over `base`.
    fn mechanic<B: Optimizer + Checkpoint + Clone>(base: B) -> Mechanic<B> {
        Mechanic::new(base, MechanicConfig::default()).unwrap()
    }

    /// Two tensors through a few whole-model steps.
    fn run(opt: &mut impl Optimizer, steps: usize) -> (Vec<f32>, Vec<f32>) {
        let (mut a, mut b) = (vec![0.3f32, -0.7, 1.1, 0.05], vec![0.5f32, -0.25]);
        for t in 0..steps {
            let ga: Vec<f32> = a
                .iter()
                .enumerate()
                .map(|(i, x)| 1.5 * x - 0.2 * (i as f32 + t as f32).sin())
                .collect();
            let gb: Vec<f32> = b.iter().map(|x| 0.5 * x + 0.1).collect();
            opt.step_model(&mut [Tensor::new("a", &mut a, &ga), Tensor::new("b", &mut b, &gb)])
                .unwrap();
        }
        (a, b)
    }

    #[test]
    fn torch_sum_adds_in_torchs_order() {
        // ((((x0 + x4) + x5) + x1) + x2) + x3, which differs from left to right here.
        let x = [1.0f32, 1e8, -1e8, 0.0, 1e-8, 3.0];
        let torch = ((((x[0] + x[4]) + x[5]) + x[1]) + x[2]) + x[3];
        assert_eq!(torch_sum(&x), torch);
        assert_ne!(x.iter().sum::<f32>(), torch);
        assert_eq!(torch_sum(&[]), 0.0);
        assert_eq!(torch_sum(&[f32::MAX, f32::MAX]), f32::MAX);
    }

    #[test]
    fn every_key_reaches_the_config() {
        let config = MechanicConfig {
            s_decay: 0.1,
            s_init: 1e-6,
            eps: 1e-7,
            non_finite: NonFinite::Skip,
            ..MechanicConfig::default()
        };
        let by_hand = Mechanic::new(
            Adam::new(AdamConfig {
                lr: 0.01,
                beta1: 0.8,
                beta2: 0.99,
                eps: 1e-6,
                weight_decay: 0.01,
                decoupled: true,
                non_finite: NonFinite::Skip,
            })
            .unwrap(),
            config.clone(),
        )
        .unwrap();
        let mut spec = built(
            "mechanic-adam:lr=0.01,beta1=0.8,beta2=0.99,eps=1e-6,weight_decay=0.01,decoupled=true,\
             s_decay=0.1,s_init=1e-6,s_eps=1e-7,non_finite=skip",
        );
        assert_eq!(spec.save().unwrap(), by_hand.save().unwrap());
        let mut by_hand = by_hand;
        assert_eq!(run(&mut spec, 5), run(&mut by_hand, 5));
        assert_eq!(spec.save().unwrap(), by_hand.save().unwrap());
        let by_hand = Mechanic::new(
            Sgd::new(SgdConfig {
                lr: 0.5,
                momentum: 0.5,
                dampening: 0.0,
                nesterov: true,
                weight_decay: 0.01,
                non_finite: NonFinite::Skip,
            })
            .unwrap(),
            config,
        )
        .unwrap();
        let spec = built(
            "mechanic-sgd:lr=0.5,momentum=0.5,nesterov=true,weight_decay=0.01,s_decay=0.1,\
             s_init=1e-6,s_eps=1e-7,non_finite=skip",
        );
        assert_eq!(spec.save().unwrap(), by_hand.save().unwrap());
    }

    #[test]
    fn range_errors_name_the_key() {
        for (s, key) in [
            ("mechanic-adam:s_eps=0", "s_eps"),
            ("mechanic-adam:eps=0", "eps"),
            ("mechanic-sgd:s_eps=inf", "s_eps"),
            ("mechanic-sgd:s_decay=-1", "s_decay"),
            ("mechanic-sgd:s_init=0", "s_init"),
            ("mechanic-adam:s_init=1e7", "s_init"),
            ("mechanic-sgd:momentum=1", "momentum"),
            ("mechanic-sgd:lr=-1", "lr"),
        ] {
            let err = s.parse::<OptimizerSpec>().unwrap().build().unwrap_err();
            assert!(
                matches!(&err, SpecError::Invalid(OptimError::InvalidConfig { field, .. }) if *field == key),
                "`{s}`: {err}"
            );
        }
        let bad_betas = [vec![], vec![0.9, 1.0], vec![0.5; MAX_BETAS + 1], vec![-0.1]];
        for betas in bad_betas {
            let config = MechanicConfig {
                betas,
                ..MechanicConfig::default()
            };
            let sgd = Sgd::new(SgdConfig::default()).unwrap();
            assert!(Mechanic::new(sgd, config).is_err());
        }
    }

    #[test]
    fn hyperparameters_are_the_bases_and_s_decay() {
        let mut opt = built("mechanic-sgd:lr=0.5");
        let names: Vec<String> = opt.hyperparameters().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            names,
            ["lr", "momentum", "dampening", "weight_decay", "s_decay"]
        );
        opt.set_hyperparameter("s_decay", 0.2).unwrap();
        opt.set_lr(0.25).unwrap();
        assert_eq!(opt.hyperparameter("s_decay"), Some(0.2));
        assert_eq!(opt.lr(), Some(0.25));
        let before = opt.save().unwrap();
        assert!(opt.set_hyperparameter("s_decay", -1.0).is_err());
        let err = opt.set_hyperparameter("beta1", 0.9).unwrap_err();
        assert!(err.to_string().contains("s_decay"), "{err}");
        assert_eq!(opt.save().unwrap(), before);
    }

    /// A base that refuses (weight decay on a diverged parameter) leaves everything as it
    /// was, the tensors before the refused one included; decoupled decay, which the base
    /// accepts there, steps to finite values.
    #[test]
    fn a_refusing_base_changes_nothing() {
        for spec in [
            "mechanic-sgd:weight_decay=0.5",
            "mechanic-adam:weight_decay=0.5",
        ] {
            let mut opt = built(spec);
            run(&mut opt, 3);
            let before = opt.save().unwrap();
            let (mut a, mut b) = (vec![0.1f32, 0.2], vec![1e30f32, 0.0]);
            let (a0, b0) = (a.clone(), b.clone());
            let err = opt
                .step_model(&mut [
                    Tensor::new("c", &mut a, &[0.1, 0.1]),
                    Tensor::new("d", &mut b, &[0.1, 0.1]),
                ])
                .unwrap_err();
            assert!(
                matches!(err, OptimError::DecayedGradient { .. }),
                "{spec}: {err}"
            );
            assert_eq!((a, b), (a0, b0), "{spec}");
            assert_eq!(opt.save().unwrap(), before, "{spec}");
        }
        let mut opt = built("mechanic-adam:weight_decay=0.5,decoupled=true");
        let (mut a, mut b) = (vec![0.1f32, 0.2], vec![1e30f32, 0.0]);
        opt.step_model(&mut [
            Tensor::new("c", &mut a, &[0.1, 0.1]),
            Tensor::new("d", &mut b, &[0.1, 0.1]),
        ])
        .unwrap();
        assert!(a.iter().chain(&b).all(|x| x.is_finite()));
    }

    /// Hostile configs, parameters and gradients: after `Ok`, parameters and scalars are
    /// finite.
    #[test]
    fn extremes_stay_finite() {
        for spec in [
            "mechanic-sgd:lr=1e6,s_init=1e6,s_eps=1e-45,s_decay=1e6",
            "mechanic-sgd:lr=1e6,s_init=1e6,s_eps=3e38,s_decay=0",
            "mechanic-adam:lr=1e6,s_init=1e6,s_eps=1e-45",
            "mechanic-sgd:lr=1e-45,s_init=1e-45",
            "mechanic-sgd",
        ] {
            let mut opt = built(spec);
            let mut w = vec![f32::MAX, -f32::MAX, 1e-45, 0.0, 1.0];
            for t in 0..30 {
                let g: Vec<f32> = (0..5)
                    .map(|i| if (i + t) % 3 == 0 { 1e18 } else { -1e18 })
                    .collect();
                opt.step("w", &mut w, &g).unwrap();
                assert!(w.iter().all(|x| x.is_finite()), "{spec}: {w:?}");
            }
            let bytes = opt.save().unwrap();
            built(spec).load(&bytes).unwrap();
        }
    }

    /// A damaged scalar or reference point is `Corrupt` and changes nothing.
    #[test]
    fn loaded_state_is_checked() {
        let mut good = mechanic(Sgd::new(SgdConfig::with_lr(0.5)).unwrap());
        run(&mut good, 3);
        type Damage = fn(&mut Mechanic<Sgd>);
        let damages: [(&str, Damage); 6] = [
            ("negative s", |o| o.global.s[1] = -1.0),
            ("NaN reward", |o| o.global.reward[0] = f32::NAN),
            ("∞ max_product", |o| {
                o.global.max_product[5] = f32::INFINITY
            }),
            ("short v", |o| {
                o.global.sum_squared_products.pop();
            }),
            ("NaN ref", |o| {
                o.states.get_mut("a").unwrap().p_ref[0] = f32::NAN
            }),
            ("bad config", |o| o.config.betas = vec![]),
        ];
        for (what, damage) in damages {
            let mut bad = good.clone();
            damage(&mut bad);
            let bytes = bad.save().unwrap();
            let mut target = good.clone();
            let err = target.load(&bytes).unwrap_err();
            assert!(
                matches!(
                    err,
                    OptimError::Corrupt { .. } | OptimError::InvalidConfig { .. }
                ),
                "{what}: {err}"
            );
            assert_eq!(target, good, "{what}: a refused load changed nothing");
        }
        let mut again = good.clone();
        again.load(&good.save().unwrap()).unwrap();
        assert_eq!(again, good);
    }

    #[test]
    fn checkpoints_name_the_base() {
        let sgd = built("mechanic-sgd").save().unwrap();
        assert_eq!(
            crate::optimizer::checkpoint::checkpoint_kind(&sgd).unwrap(),
            "Mechanic<Sgd>"
        );
        let err = built("mechanic-adam").load(&sgd).unwrap_err();
        assert!(
            matches!(&err, OptimError::Incompatible { reason } if reason.contains("Mechanic<Sgd>") && reason.contains("Mechanic<Adam>")),
            "{err}"
        );
    }

    #[test]
    fn state_shows_the_base_and_mechanic() {
        let mut opt = mechanic(Adam::new(AdamConfig::with_lr(0.1)).unwrap());
        assert_eq!(opt.scale(), 0.0);
        run(&mut opt, 2);
        let view = opt.state();
        assert_eq!(
            view.values("a", "ref"),
            Some(&[0.3f32, -0.7, 1.1, 0.05][..])
        );
        assert!(view.values("b", "m").is_some(), "the base's fields");
        assert_eq!(view.model.get("iter_count"), Some(&Field::Count(2)));
        let s = view.model["s"].values().unwrap();
        assert_eq!(s.len(), 6);
        assert_eq!(torch_sum(s), opt.scale());
        assert!(opt.scale() > 0.0);
        assert_eq!(opt.bytes_per_coordinate(), 12);
    }

    /// The first step: S = Σβ·10⁻⁶·s_init/6/ε as the reference computes it (h = 0, since
    /// Δ = 0), and the parameters move by S times the base's step.
    #[test]
    fn first_step_is_the_references() {
        let mut opt = mechanic(Sgd::new(SgdConfig::with_lr(1.0)).unwrap());
        let mut w = vec![1.0f32, -2.0];
        opt.step("w", &mut w, &[0.5, 0.25]).unwrap();
        let cfg = MechanicConfig::default();
        let s: Vec<f32> = cfg
            .betas
            .iter()
            .map(|&b| ((b * 1e-6f32) * 1e-8f32 / 6.0) / (0.0f32.sqrt() + 1e-8f32))
            .collect();
        assert_eq!(opt.global.s, s);
        let scale = torch_sum(&s);
        assert_eq!(w, [1.0 + (-0.5f32) * scale, -2.0 + (-0.25f32) * scale]);
    }
}
