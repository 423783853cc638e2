//! [`Meta`]: any base optimizer with its learning rates learned online by memories of learning
//! rates.
//!
//! - `mod.rs`: the config, the optimizer, its routing of tensors to memories, and its
//!   [`Optimizer`] impl;
//! - `step.rs`: one step of a tensor, in the order it runs;
//! - `rates.rs`: what a step applied ([`RateSummary`], [`StepInfo`]);
//! - `transfer.rs`: memories carried into the next task ([`Meta::load_memories`]);
//! - `checkpoint.rs`: the checkpoint formats, their migrations and checks;
//! - `hyper.rs`: the memory's hyperparameters by key.

mod checkpoint;
mod hyper;
mod rates;
mod step;
#[cfg(test)]
mod tests;
mod transfer;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use lrmem_memory_core::{Kernels, Memory, MemoryConfig, RuleState, Trace};
use serde::{Deserialize, Serialize};

pub use checkpoint::saved_memories;
pub(crate) use hyper::MEMORY_FIELDS;
pub use rates::{Quantiles, RateSummary, StepInfo};
pub use transfer::{LoadMemories, LoadReport, MemorySource};

use crate::methods::adam::{Adam, AdamConfig};
use crate::methods::hd::{AdamHd, AdamHdConfig, SgdHd, SgdHdConfig};
use crate::methods::rprop::{Rprop, RpropConfig};
use crate::methods::sgd::{Sgd, SgdConfig};
use crate::optimizer::state::{Field, Fields, Inspect, StateView, TensorStates};
use crate::optimizer::{Base, BaseInfo, IntoBase, OptimError, Optimizer, StateBytes, Tensor};

/// Configuration of [`Meta`].
///
/// Two of the memory's settings are also settings of the base optimizer, and [`Meta::new`]
/// requires them to agree, so that each has one value: `memory.eta0` is η₀, the rate the memory
/// starts from, which replaces the base's `lr`; `memory.non_finite` is the policy for NaN/∞
/// gradients, which `Meta` applies before the base sees a gradient. [`Meta::sgd`],
/// [`Meta::adam`] and the registry's `meta-*` entries take both of the base's from here.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct MetaConfig {
    /// The memory every routed tensor gets (or shares). Its `eta0` is η₀: the initial learning
    /// rate of every local model, the fixed rate of tensors without a memory, and the base's
    /// `lr`; its `clip` bounds the queries; its `non_finite` is the base's `non_finite`.
    pub memory: MemoryConfig,
    /// What every memory is queried with and learns its signal from. Default [`Query::Base`]
    /// (the authors': the gradient for SGD, Adam's m_t for Adam).
    pub query: Query,
}

impl MetaConfig {
    /// The recommended memory ([`MemoryConfig::recommended`]: the authors' settings, which
    /// the study chose) with the base's query, to wrap SGD: what [`RECOMMENDED_SPEC`] builds.
    ///
    /// ```
    /// use lrmem_optimizers::{Meta, MetaConfig, Optimizer};
    /// let mut opt = Meta::sgd(MetaConfig::recommended())?;
    /// let mut w = vec![1.0f32, -2.0];
    /// opt.step("w", &mut w, &[0.5, -0.5])?;
    /// # Ok::<(), lrmem_optimizers::OptimError>(())
    /// ```
    pub fn recommended() -> MetaConfig {
        MetaConfig {
            memory: MemoryConfig::recommended(),
            query: Query::Base,
        }
    }
}

/// [`MetaConfig::recommended`] over SGD as a registry spec (add `lr=…` for another η₀).
pub const RECOMMENDED_SPEC: &str = "meta-sgd:xi=0.001";

/// What a [`Meta`]'s memories are queried with: the value z whose sign agreement z_t·z_{t−1}
/// is the memory's signal and at which it predicts the rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Query {
    /// The base's query ([`Base::query`]): the gradient for SGD (its momentum buffer with
    /// momentum), Adam's first moment m_t for Adam, as the authors' TensorFlow backend. The
    /// default.
    #[default]
    Base,
    /// The gradient g, whatever the base. For Meta-Adam: m_t is a running mean of the
    /// gradients, so m_t·m_{t−1} keeps its sign for many steps after the steps began to
    /// overshoot and the memory hears "too short" long after it should; g_t·g_{t−1} flips as
    /// soon as a step overshoots. The base's direction does not change.
    Gradient,
}

/// The fields of a memory in a [`StateView`]: θ and its optimizer's state (`m`, `v`, `step`).
pub(crate) fn memory_fields<'a>(theta: &'a [f32], rule: &'a RuleState) -> Fields<'a> {
    let mut f = Fields::new();
    f.insert("theta".into(), Field::Values(theta));
    f.insert("m".into(), Field::Values(&rule.m));
    f.insert("v".into(), Field::Values(&rule.v));
    f.insert("step".into(), Field::Count(rule.step));
    f
}

/// Which memory a tensor uses: `Some(key)` = the memory named `key` (tensors with one key share
/// it), `None` = no memory, a fixed rate η₀ (the authors' `use_memory = False`).
type Routing = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// A step observer ([`Meta::on_step`]), shared by clones of the optimizer.
type Observer = Arc<Mutex<dyn FnMut(&StepInfo<'_>) + Send>>;

/// Where a `Meta` tells the user to set [`NonFinite::Skip`].
const NON_FINITE_SETTING: &str = "`MetaConfig.memory.non_finite` and the base's `non_finite` (they must agree; `Meta::sgd`, `Meta::adam` and the registry's `meta-*` take both from `MetaConfig`)";

/// Per-tensor state of [`Meta`] (the base keeps its own): the memory it uses, the trace of its
/// previous queries, and what its last step applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct MetaTensor {
    /// Key of the memory in use, if any.
    memory: Option<String>,
    /// z_{t−1} per coordinate (empty without a memory).
    trace: Trace,
    /// Steps taken.
    steps: u64,
    /// The rates of the last step, summarised (not saved: it describes a step, not state).
    #[serde(skip)]
    last: Option<RateSummary>,
    /// The rates of the last step per coordinate, while [`Meta::record_rates`] is on.
    #[serde(skip)]
    rates: Vec<f32>,
}

/// The memories a strict or lenient [`Meta::load_memories`] installed.
#[derive(Debug, Clone)]
struct Loaded {
    strict: bool,
    keys: Vec<String>,
}

/// The names of the tensors of the first pass over the model, for [`Meta::only`]'s check.
#[derive(Debug, Clone, Default)]
struct FirstPass {
    done: bool,
    seen: Vec<String>,
}

/// A base optimizer whose learning rates come from memories of learning rates, learned online.
///
/// Per step and tensor (docs/algorithm.md §11): the base takes the gradient and gives its
/// direction u and query z ([`Base`]; SGD: z = g, Adam: z = m_t); z is clipped to ±clip; the
/// memory learns from s = signal(z_t, z_{t−1}) at ψ(z_{t−1}); each coordinate moves by
/// −η̂(z_t\[d\])·u_d. **The memory's rate replaces the base's learning rate** and keeps what the
/// base adapts relative to it: u is the base's own update divided by its `lr`, so η₀ (the rate
/// the memory starts from, `MetaConfig.memory.eta0`) *is* the base's `lr`, and the two must
/// agree. Over plain [`Sgd`] this is exactly the authors' `MetaSgd1d`.
///
/// By default every tensor gets its own memory, keyed by its name. [`Meta::only`] and
/// [`Meta::with_routing`] choose which tensors use a memory and which share one. A memory
/// shared by several tensors learns from each of them in turn, in the order they step.
///
/// ```
/// use lrmem_optimizers::{Adam, AdamConfig, Meta, MetaConfig, Optimizer, Sgd, SgdConfig};
/// // Any base optimizer, built and validated by its own constructor (η₀ = its lr = 1e-3).
/// let mut opt = Meta::new(Sgd::new(SgdConfig::with_lr(1e-3))?, MetaConfig::default())?;
/// // Meta-Adam; only the tensor "w" uses a memory, "b" steps at η₀.
/// let mut opt = Meta::new(AdamConfig::default(), MetaConfig::default())?.only(&["w", "b"]);
/// let (mut w, mut b) = (vec![1.0f32; 4], vec![0.5f32]);
/// opt.step("w", &mut w, &[0.1, -0.2, 0.3, 0.0])?;
/// opt.step("b", &mut b, &[1.0])?;
/// assert!(opt.memory("w").is_some() && opt.memory("b").is_some());
/// // What the last step applied: a fresh memory predicts η₀ everywhere (up to rounding).
/// let rates = opt.last_rates("w").unwrap();
/// assert_eq!(rates.count, 4);
/// assert!((rates.min - 1e-3).abs() < 1e-9 && (rates.max - 1e-3).abs() < 1e-9);
/// # Ok::<(), lrmem_optimizers::OptimError>(())
/// ```
#[derive(Clone)]
pub struct Meta<B> {
    base: B,
    config: MetaConfig,
    routing: Routing,
    /// The names given to [`Meta::only`], checked at the end of the first pass.
    only: Option<Arc<[String]>>,
    memories: BTreeMap<String, Memory>,
    tensors: TensorStates<MetaTensor>,
    /// Scratch for the bases that write their direction ([`DirectionBuf`]).
    dir: Vec<f32>,
    pass: FirstPass,
    loaded: Option<Loaded>,
    /// Memories created fresh since the last [`Meta::load_memories`].
    fresh: Vec<String>,
    record: bool,
    observer: Option<Observer>,
    /// The kernels every memory runs ([`Meta::set_kernels`]); not saved.
    kernels: Kernels,
}

impl<B: std::fmt::Debug> std::fmt::Debug for Meta<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meta")
            .field("base", &self.base)
            .field("config", &self.config)
            .field("memories", &self.memories)
            .field("tensors", &self.tensors)
            .finish_non_exhaustive()
    }
}

impl Meta<Sgd> {
    /// The authors' `MetaSgd1d`: plain SGD (lr = `memory.eta0`, `non_finite` =
    /// `memory.non_finite`) with its rates from the memory.
    pub fn sgd(config: MetaConfig) -> Result<Self, OptimError> {
        Meta::new(
            SgdConfig {
                lr: config.memory.eta0,
                non_finite: config.memory.non_finite,
                ..SgdConfig::default()
            },
            config,
        )
    }
}

impl Meta<Adam> {
    /// Adam's directions with rates from the memory, the authors' TensorFlow backend: default
    /// betas and ε, lr = `memory.eta0`, `non_finite` = `memory.non_finite`.
    pub fn adam(config: MetaConfig) -> Result<Self, OptimError> {
        Meta::new(
            AdamConfig {
                lr: config.memory.eta0,
                non_finite: config.memory.non_finite,
                ..AdamConfig::default()
            },
            config,
        )
    }
}

/// The config of every base of this crate is a base (`Meta::new(SgdConfig { … }, …)`), built by
/// the optimizer's own constructor, which validates it.
macro_rules! config_into_base {
    ($($config:ty => $base:ty),* $(,)?) => {
        $(
            impl IntoBase for $config {
                type Base = $base;
                fn into_base(self) -> Result<$base, OptimError> {
                    <$base>::new(self)
                }
            }
        )*
    };
}

config_into_base!(
    SgdConfig => Sgd,
    AdamConfig => Adam,
    RpropConfig => Rprop,
    SgdHdConfig => SgdHd,
    AdamHdConfig => AdamHd,
);

/// Errors unless the base's `lr` and `non_finite` are the memory's `eta0` and `non_finite`.
fn check_agreement(info: &BaseInfo, config: &MetaConfig) -> Result<(), OptimError> {
    let (m, kind) = (&config.memory, info.kind);
    if info.lr != m.eta0 {
        return Err(OptimError::Conflict {
            reason: format!(
                "`MetaConfig.memory.eta0` = {} but the base's `lr` = {} ({kind}). Meta replaces the base's learning rate by the memory's, which starts at η₀, so they are one setting: set the base's `lr` to {} or `MetaConfig.memory.eta0` to {} (`Meta::sgd` and `Meta::adam` take the base's `lr` from `memory.eta0`)",
                m.eta0, info.lr, m.eta0, info.lr
            ),
        });
    }
    if info.non_finite != m.non_finite {
        return Err(OptimError::Conflict {
            reason: format!(
                "`MetaConfig.memory.non_finite` = {:?} but the base's `non_finite` = {:?} ({kind}). Meta applies the policy before the base sees a gradient, so they are one setting: set both to the same value (`Meta::sgd` and `Meta::adam` take the base's from `memory.non_finite`)",
                m.non_finite, info.non_finite
            ),
        });
    }
    Ok(())
}

/// `` `a`, `b` `` (or "none").
fn listed<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> String {
    let v: Vec<String> = names
        .into_iter()
        .map(|s| format!("`{}`", s.as_ref()))
        .collect();
    if v.is_empty() {
        "none".to_owned()
    } else {
        v.join(", ")
    }
}

impl<B: Base> Meta<B> {
    /// Wraps `base`: a [`Base`] optimizer (`Sgd::new(…)?`) or a base's config
    /// (`SgdConfig { … }`, validated by the optimizer's constructor).
    ///
    /// Validates the memory config, and that `config.memory.eta0` equals the base's `lr` and
    /// `config.memory.non_finite` the base's `non_finite` ([`OptimError::Conflict`] names both
    /// fields and values otherwise): each is one setting, see [`MetaConfig`]. A base that has
    /// stepped already keeps its state.
    pub fn new(base: impl IntoBase<Base = B>, config: MetaConfig) -> Result<Self, OptimError> {
        config.memory.validate()?;
        let base = base.into_base()?;
        check_agreement(&base.info(), &config)?;
        Ok(Meta {
            base,
            config,
            routing: Arc::new(|name: &str| Some(name.to_owned())),
            only: None,
            memories: BTreeMap::new(),
            tensors: TensorStates::default(),
            dir: Vec::new(),
            pass: FirstPass::default(),
            loaded: None,
            fresh: Vec::new(),
            record: false,
            observer: None,
            kernels: Kernels::default(),
        })
    }

    /// Routes tensors to memories: `route(name)` = `Some(key)` for the memory `key`, `None` for
    /// no memory. Must be set before the first step.
    ///
    /// ```
    /// # use lrmem_optimizers::{Meta, MetaConfig};
    /// // One memory for all weights, none for biases.
    /// let opt = Meta::sgd(MetaConfig::default())?
    ///     .with_routing(|name| (!name.ends_with(".bias")).then(|| "weights".to_string()));
    /// # Ok::<(), lrmem_optimizers::OptimError>(())
    /// ```
    pub fn with_routing(
        mut self,
        route: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.routing = Arc::new(route);
        self.only = None;
        self
    }

    /// Only the named tensors get a memory each (the authors' `use_memory` list); the others
    /// step at η₀.
    ///
    /// A name that no tensor has by the end of the first pass over the model (the first time a
    /// tensor steps again, or the end of the first [`Optimizer::step_model`]) is an
    /// [`OptimError::Routing`] error that lists the names stepped: a typo would otherwise turn
    /// the memory off in silence. The error repeats until the names are fixed.
    pub fn only(self, names: &[&str]) -> Self {
        let list: Arc<[String]> = names.iter().map(|s| s.to_string()).collect();
        let keep = list.clone();
        let mut meta =
            self.with_routing(move |n| keep.iter().any(|x| x == n).then(|| n.to_owned()));
        meta.only = Some(list);
        meta
    }

    /// The base optimizer.
    pub fn base(&self) -> &B {
        &self.base
    }

    /// The configuration.
    pub fn config(&self) -> &MetaConfig {
        &self.config
    }

    /// The memory with key `key` (by default, the tensor's name), once it has stepped.
    pub fn memory(&self, key: &str) -> Option<&Memory> {
        self.memories.get(key)
    }

    /// All memories, by key.
    pub fn memories(&self) -> impl Iterator<Item = (&str, &Memory)> {
        self.memories.iter().map(|(k, m)| (k.as_str(), m))
    }

    /// Chooses the kernels of every memory, present and future (default
    /// [`Kernels::Reproducible`]: the same bits on every CPU; [`Kernels::Fastest`] uses AVX-512
    /// where the CPU has it and agrees to float rounding only). Not saved in checkpoints: a
    /// loaded checkpoint runs with this optimizer's choice.
    ///
    /// ```
    /// use lrmem_optimizers::memory_core::Kernels;
    /// use lrmem_optimizers::{Meta, MetaConfig};
    /// let mut opt = Meta::sgd(MetaConfig::default())?;
    /// opt.set_kernels(Kernels::Fastest);
    /// assert_eq!(opt.kernels(), Kernels::Fastest);
    /// # Ok::<(), lrmem_optimizers::OptimError>(())
    /// ```
    pub fn set_kernels(&mut self, kernels: Kernels) {
        self.kernels = kernels;
        for m in self.memories.values_mut() {
            m.set_kernels(kernels);
        }
    }

    /// The kernels set with [`set_kernels`](Meta::set_kernels).
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// Meta-learning with reloading: keep every memory's θ, reset everything else (memory
    /// optimizer moments, traces, the base optimizer's state) for a new task, or whatever else
    /// the memory's [`Reload`](crate::Reload) policy (`MetaConfig.memory.reload`) says
    /// ([`Memory::next_task`]). The same as [`Optimizer::next_task`].
    pub fn reload(&mut self) {
        for m in self.memories.values_mut() {
            m.next_task();
        }
        self.tensors.clear();
        self.base.next_task();
    }

    /// Forgets everything, θ included: every memory, every tensor's state and length, the base
    /// optimizer's state, what [`load_memories`](Meta::load_memories) installed, and the first
    /// pass over the model. Afterwards the optimizer steps as one freshly built with the same
    /// base, config and routing (its observer and [`record_rates`](Meta::record_rates) stay).
    pub fn reset(&mut self) {
        self.memories.clear();
        self.tensors.clear();
        self.base.next_task();
        self.dir = Vec::new();
        self.pass = FirstPass::default();
        self.loaded = None;
        self.fresh.clear();
    }

    /// The learning rates that the last step of tensor `name` applied (`None` before its first
    /// step, and after [`reload`](Meta::reload) or loading a checkpoint). With
    /// [`record_rates`](Meta::record_rates) on, the percentiles too.
    pub fn last_rates(&self, name: &str) -> Option<RateSummary> {
        let t = self.tensors.get(name)?;
        let mut summary = t.last?;
        if !t.rates.is_empty() {
            summary.quantiles = Quantiles::of(&t.rates);
        }
        Some(summary)
    }

    /// The rate of every coordinate at the last step of tensor `name`, while
    /// [`record_rates`](Meta::record_rates) is on.
    pub fn rates(&self, name: &str) -> Option<&[f32]> {
        let t = self.tensors.get(name)?;
        (!t.rates.is_empty()).then_some(&t.rates[..])
    }

    /// Keeps the rate of every coordinate of each tensor's last step ([`Meta::rates`],
    /// percentiles in [`Meta::last_rates`], [`StepInfo::per_coordinate`]). Off by default: it
    /// costs 4 bytes per coordinate; turning it off frees them.
    pub fn record_rates(&mut self, on: bool) {
        self.record = on;
        if !on {
            for name in self.tensors.names().map(str::to_owned).collect::<Vec<_>>() {
                if let Some(t) = self.tensors.get_mut(&name) {
                    t.rates = Vec::new();
                }
            }
        }
    }

    /// Calls `observer` after every step of every tensor with what the step applied
    /// ([`StepInfo`]): to log the rates as training goes. Replaces any earlier observer; clones
    /// of the optimizer share it.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use lrmem_optimizers::{Meta, MetaConfig, Optimizer};
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// let mut opt = Meta::sgd(MetaConfig::default())?;
    /// let sink = log.clone();
    /// opt.on_step(move |info| sink.lock().unwrap().push((info.tensor.to_owned(), info.step, info.rates.mean)));
    /// opt.step("w", &mut [1.0f32, 2.0], &[0.1, 0.2])?;
    /// let (tensor, step, mean) = log.lock().unwrap()[0].clone();
    /// assert_eq!((tensor.as_str(), step), ("w", 1));
    /// assert!((mean - 1e-3).abs() < 1e-9); // a fresh memory's rate is η₀
    /// # Ok::<(), lrmem_optimizers::OptimError>(())
    /// ```
    pub fn on_step(&mut self, observer: impl FnMut(&StepInfo<'_>) + Send + 'static) {
        self.observer = Some(Arc::new(Mutex::new(observer)));
    }

    /// Every tensor's and every memory's state, by name and field ([`StateView`]): per tensor
    /// `memory`, `trace`, `steps` (and `rates` while recorded) and the base's fields as
    /// `base.<field>`; per memory `theta`, `m`, `v` and `step`.
    pub fn state(&self) -> StateView<'_>
    where
        B: Inspect,
    {
        let base = self.base.state();
        let tensors = self
            .tensors
            .iter()
            .map(|(name, t)| {
                let mut f = Fields::new();
                if let Some(key) = &t.memory {
                    f.insert("memory".into(), Field::Text(key));
                }
                f.insert("trace".into(), Field::Values(t.trace.previous()));
                f.insert("steps".into(), Field::Count(t.steps));
                if !t.rates.is_empty() {
                    f.insert("rates".into(), Field::Values(&t.rates));
                }
                if let Some(fields) = base.tensors.get(name) {
                    for (k, v) in fields {
                        f.insert(format!("base.{k}"), *v);
                    }
                }
                (name.to_owned(), f)
            })
            .collect();
        let memories = self
            .memories
            .iter()
            .map(|(key, m)| (key.clone(), memory_fields(m.theta(), m.rule_state())))
            .collect();
        StateView {
            tensors,
            memories,
            model: Fields::new(),
        }
    }

    /// The kind a checkpoint of this optimizer names: `Meta<Sgd>`.
    fn kind(&self) -> String {
        format!("Meta<{}>", self.base.info().kind)
    }
}

impl<B: Base> Optimizer for Meta<B> {
    /// Keeps every memory's θ and resets everything else: [`Meta::reload`].
    fn next_task(&mut self) {
        self.reload();
    }

    /// Every memory's θ ([`Memory::theta`]), by memory key.
    fn memory_thetas(&self) -> Vec<(String, Vec<f32>)> {
        self.memories
            .iter()
            .map(|(k, m)| (k.clone(), m.theta().to_vec()))
            .collect()
    }

    /// `lr`: η₀, which is the base's `lr` too (one setting, see [`MetaConfig`]): the rate of
    /// tensors without a memory, θ of every memory made from now on, and a multiplier on the
    /// rates of every memory made at another η₀: a memory made at η₀ hands out its rates
    /// η̂(z) times lr/η₀ (within ±10⁶), so that a schedule on `lr` scales every step as it
    /// scales SGD's, while θ keeps what it learned and learns on as without the schedule
    /// (docs/guide.md §11). `xi`: ξ, the memory optimizer's learning rate, of every memory (each
    /// keeps θ and moments) and of those to come. Then the base's own hyperparameters but its
    /// `lr` (`momentum`, `beta1`, …), under the keys of the `meta-*` entries of the registry.
    fn hyperparameters(&self) -> Vec<(String, f32)> {
        let memory = &self.config.memory;
        let mut out = vec![
            ("lr".to_owned(), memory.eta0),
            ("xi".to_owned(), memory.optimizer.lr()),
        ];
        out.extend(
            self.base
                .hyperparameters()
                .into_iter()
                .filter(|(k, _)| k != "lr" && k != "xi"),
        );
        out
    }

    /// Sets `lr` (η₀ and the base's `lr`), `xi`, or a hyperparameter of the base, validated as
    /// by the constructors (an error names the key and changes nothing). No learned state
    /// changes: θ and its moments stay as they are (the memories' rates follow `lr` as a
    /// multiplier), and the base's state follows its own `lr` at its next step; a value set
    /// and set back leaves the optimizer exactly as it was.
    fn set_hyperparameter(&mut self, name: &str, value: f32) -> Result<(), OptimError> {
        let mut memory = self.config.memory;
        match name {
            "lr" => memory.eta0 = value,
            "xi" => memory.optimizer = hyper::memory_optimizer_with_lr(memory.optimizer, value)?,
            _ if self.base.hyperparameter(name).is_some() => {
                return self.base.set_hyperparameter(name, value)
            }
            _ => {
                return Err(crate::optimizer::hyper::unknown(
                    name,
                    &self.hyperparameters(),
                ))
            }
        }
        memory
            .validate()
            .map_err(|e| crate::optimizer::hyper::rename(e.into(), &[MEMORY_FIELDS]))?;
        if name == "lr" {
            self.base.set_hyperparameter("lr", value)?;
        } else {
            self.memories = self
                .memories
                .iter()
                .map(|(k, m)| Ok((k.clone(), hyper::memory_with_xi(m, value)?)))
                .collect::<Result<_, OptimError>>()?;
        }
        self.config.memory = memory;
        Ok(())
    }

    /// Steps the tensors one by one, as the default does, once every tensor passed
    /// [`check_model`](Optimizer::check_model); on the first pass over the model, a name given
    /// to [`Meta::only`] that none of them has is an error before any tensor steps.
    fn step_model(&mut self, tensors: &mut [Tensor<'_>]) -> Result<(), OptimError> {
        self.check_model(tensors)?;
        if self.only.is_some() && !self.pass.done {
            let names: Vec<&str> = tensors.iter().map(|t| t.name).collect();
            self.check_only(&names)?;
        }
        for t in tensors.iter_mut() {
            self.step(t.name, t.params, t.grads)?;
        }
        if self.only.is_some() {
            self.pass.done = true;
        }
        Ok(())
    }

    fn step(&mut self, name: &str, params: &mut [f32], grads: &[f32]) -> Result<(), OptimError> {
        self.step_tensor(name, params, grads)
    }

    /// The step's checks: the gradient under the memory's policy, the tensor's length or its
    /// routing, and the base's own checks; changes nothing.
    fn check_step(&self, name: &str, params: &[f32], grads: &[f32]) -> Result<(), OptimError> {
        self.check_tensor(name, params, grads)
    }
}

impl<B: Base + Inspect> Inspect for Meta<B> {
    fn state(&self) -> StateView<'_> {
        Meta::state(self)
    }
}

impl<B: Base + StateBytes> StateBytes for Meta<B> {
    /// The base's bytes plus 4 for the previous query (plus, for bases that write their
    /// direction, one buffer the size of the largest tensor, and 4 more while
    /// [`Meta::record_rates`] is on).
    fn bytes_per_coordinate(&self) -> usize {
        self.base.bytes_per_coordinate() + 4
    }
}
