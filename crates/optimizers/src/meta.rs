//! [`Meta`]: any base optimizer with its learning rates learned online by memories of learning rates.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use lrmem_memory_core::{
    persist, Kernels, Layout, Memory, MemoryConfig, MemoryOptimizer, NonFinite, QueryScale, Reload,
    Signal, ThetaSpace, Trace,
};
use serde::{Deserialize, Serialize};

use crate::spec::{Built, Key, Params, RegistryEntry, SpecError};
use crate::state::{self, check_inputs, Field, Fields, Inspect, StateView, TensorStates};
use crate::{
    Adam, AdamConfig, AdamHd, AdamHdConfig, Base, BaseInfo, Checkpoint, Direction, DirectionBuf,
    IntoBase, OptimError, Optimizer, Rprop, RpropConfig, Sgd, SgdConfig, SgdHd, SgdHdConfig,
    StateBytes, Tensor,
};

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

/// The learning rates that a tensor's last step applied: η per coordinate, the memory's η̂(z)
/// (η₀ for a tensor without a memory; 0 for a coordinate skipped as non-finite).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateSummary {
    /// Coordinates.
    pub count: usize,
    /// Smallest rate.
    pub min: f32,
    /// Largest rate.
    pub max: f32,
    /// Mean rate (summed in f64).
    pub mean: f32,
    /// Percentiles, when the rates per coordinate are kept ([`Meta::record_rates`]) or the
    /// summary was made from them ([`RateSummary::of`]); `None` otherwise.
    pub quantiles: Option<Quantiles>,
}

impl RateSummary {
    /// The summary of `rates`, percentiles included.
    ///
    /// ```
    /// let s = lrmem_optimizers::RateSummary::of(&[0.1, 0.3, 0.2]);
    /// assert_eq!((s.count, s.min, s.max), (3, 0.1, 0.3));
    /// assert_eq!(s.quantiles.unwrap().p50, 0.2);
    /// ```
    pub fn of(rates: &[f32]) -> RateSummary {
        let mut acc = Acc::new();
        acc.add(rates);
        RateSummary {
            quantiles: Quantiles::of(rates),
            ..acc.finish()
        }
    }
}

/// Percentiles of a tensor's rates (nearest rank).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantiles {
    /// 10th percentile.
    pub p10: f32,
    /// Median.
    pub p50: f32,
    /// 90th percentile.
    pub p90: f32,
}

impl Quantiles {
    /// The percentiles of `rates`; `None` if it is empty.
    pub fn of(rates: &[f32]) -> Option<Quantiles> {
        if rates.is_empty() {
            return None;
        }
        let mut sorted = rates.to_vec();
        sorted.sort_by(f32::total_cmp);
        let at = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
        Some(Quantiles {
            p10: at(0.1),
            p50: at(0.5),
            p90: at(0.9),
        })
    }
}

/// Minimum, maximum and sum of rates, taken block by block during a step: eight lanes that the
/// compiler vectorises, so that summarising every step costs little next to the memory's work.
#[derive(Clone, Copy)]
struct Acc {
    lo: [f32; 8],
    hi: [f32; 8],
    sum: f64,
    count: usize,
}

impl Acc {
    fn new() -> Self {
        Acc {
            lo: [f32::INFINITY; 8],
            hi: [f32::NEG_INFINITY; 8],
            sum: 0.0,
            count: 0,
        }
    }

    /// `n` coordinates at one rate.
    fn constant(eta: f32, n: usize) -> Self {
        Acc {
            lo: [eta; 8],
            hi: [eta; 8],
            sum: eta as f64 * n as f64,
            count: n,
        }
    }

    #[inline(always)]
    fn add(&mut self, eta: &[f32]) {
        let mut sums = [0.0f32; 8];
        let chunks = eta.chunks_exact(8);
        let rest = chunks.remainder();
        for c in chunks {
            for (((s, lo), hi), &e) in sums
                .iter_mut()
                .zip(self.lo.iter_mut())
                .zip(self.hi.iter_mut())
                .zip(c)
            {
                *s += e;
                *lo = if e < *lo { e } else { *lo };
                *hi = if e > *hi { e } else { *hi };
            }
        }
        for &e in rest {
            sums[0] += e;
            self.lo[0] = self.lo[0].min(e);
            self.hi[0] = self.hi[0].max(e);
        }
        self.sum += sums.iter().map(|&s| s as f64).sum::<f64>();
        self.count += eta.len();
    }

    fn finish(&self) -> RateSummary {
        let fold =
            |v: &[f32; 8], f: fn(f32, f32) -> f32| v.iter().copied().reduce(f).unwrap_or(0.0);
        if self.count == 0 {
            return RateSummary {
                count: 0,
                min: 0.0,
                max: 0.0,
                mean: 0.0,
                quantiles: None,
            };
        }
        RateSummary {
            count: self.count,
            min: fold(&self.lo, f32::min),
            max: fold(&self.hi, f32::max),
            mean: (self.sum / self.count as f64) as f32,
            quantiles: None,
        }
    }
}

/// What a [`Meta::on_step`] observer sees after every step of a tensor.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct StepInfo<'a> {
    /// The tensor's name.
    pub tensor: &'a str,
    /// The key of the memory it uses, if any.
    pub memory: Option<&'a str>,
    /// Steps the tensor has taken, this one included.
    pub step: u64,
    /// The rates this step applied.
    pub rates: RateSummary,
    /// The rate of every coordinate, while [`Meta::record_rates`] is on.
    pub per_coordinate: Option<&'a [f32]>,
}

/// Where [`Meta::load_memories`] takes memories from.
#[derive(Debug, Clone, Copy)]
pub enum MemorySource<'a> {
    /// The bytes of a `Meta` checkpoint ([`Checkpoint::save`]) over any base, including those
    /// of checkpoint format version 1.
    Checkpoint(&'a [u8]),
    /// Memories by key: from [`saved_memories`], or another `Meta`'s [`Meta::memories`].
    Memories(&'a [(String, Memory)]),
}

impl<'a> From<&'a [u8]> for MemorySource<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        MemorySource::Checkpoint(bytes)
    }
}

impl<'a> From<&'a Vec<u8>> for MemorySource<'a> {
    fn from(bytes: &'a Vec<u8>) -> Self {
        MemorySource::Checkpoint(bytes)
    }
}

impl<'a> From<&'a [(String, Memory)]> for MemorySource<'a> {
    fn from(memories: &'a [(String, Memory)]) -> Self {
        MemorySource::Memories(memories)
    }
}

impl<'a> From<&'a Vec<(String, Memory)>> for MemorySource<'a> {
    fn from(memories: &'a Vec<(String, Memory)>) -> Self {
        MemorySource::Memories(memories)
    }
}

/// How [`Meta::load_memories`] installs saved memories.
#[derive(Debug, Clone, Copy)]
pub struct LoadMemories<'a> {
    /// `(saved key, key here)` pairs: the memory saved under the first key is installed under
    /// the second (a tensor renamed since). Every saved key named must exist.
    pub rename: &'a [(&'a str, &'a str)],
    /// `true` (the default): from now on, a tensor that first steps with a memory key that has
    /// no memory is an error naming it, instead of a fresh memory at η₀, so that a renamed
    /// tensor or a memory missing from the file is never silently fresh. `false`: such
    /// memories start fresh and [`Meta::fresh_memories`] lists them.
    pub strict: bool,
}

impl Default for LoadMemories<'_> {
    fn default() -> Self {
        LoadMemories {
            rename: &[],
            strict: true,
        }
    }
}

/// What [`Meta::load_memories`] installed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct LoadReport {
    /// Keys of the memories installed (after renaming), in order.
    pub loaded: Vec<String>,
    /// Those of them that replaced a memory the optimizer had.
    pub replaced: Vec<String>,
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

/// w ← w − η·u for one block, u as `kind` says (`zc`: the clipped queries, `b`: the buffer),
/// and the block's rates into `acc`.
#[inline(always)]
fn apply(kind: Direction, w: &mut [f32], eta: &[f32], zc: &[f32], b: &[f32], acc: &mut Acc) {
    match kind {
        Direction::ClippedQuery => {
            // Plain SGD, the hot path: the rates are summarised in the same pass.
            let (mut lo, mut hi, mut sums) = (acc.lo, acc.hi, [0.0f32; 8]);
            let mut wc = w.chunks_exact_mut(8);
            let mut ec = eta.chunks_exact(8);
            let mut zcc = zc.chunks_exact(8);
            for ((w, e), z) in (&mut wc).zip(&mut ec).zip(&mut zcc) {
                for i in 0..8 {
                    let e = e[i];
                    w[i] -= e * z[i];
                    sums[i] += e;
                    lo[i] = if e < lo[i] { e } else { lo[i] };
                    hi[i] = if e > hi[i] { e } else { hi[i] };
                }
            }
            for ((w, &e), &z) in wc
                .into_remainder()
                .iter_mut()
                .zip(ec.remainder())
                .zip(zcc.remainder())
            {
                *w -= e * z;
                sums[0] += e;
                lo[0] = lo[0].min(e);
                hi[0] = hi[0].max(e);
            }
            acc.lo = lo;
            acc.hi = hi;
            acc.sum += sums.iter().map(|&s| s as f64).sum::<f64>();
            acc.count += eta.len();
            return;
        }
        Direction::ClippedQueryPlus => {
            for (((w, &e), &z), &b) in w.iter_mut().zip(eta).zip(zc).zip(b) {
                *w -= e * (z + b);
            }
        }
        Direction::Values => {
            for ((w, &e), &u) in w.iter_mut().zip(eta).zip(b) {
                *w -= e * u;
            }
        }
    }
    acc.add(eta);
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

    /// Installs a memory under `key` (e.g. one loaded with [`Memory::from_bytes`] from a
    /// previous task); the tensors routed to `key` will use it.
    ///
    /// A memory made with this optimizer's memory config is installed as it is. Any other
    /// keeps only its θ and takes this optimizer's config for everything else (ξ, the memory
    /// optimizer, with fresh moments, the signal, the bounds), as
    /// [`load_memories`](Meta::load_memories) does; θ must mean the same here (same M, layout,
    /// clip and lm_scale) and lie within this config's bounds, else
    /// [`OptimError::Incompatible`] names the field.
    pub fn insert_memory(&mut self, key: &str, memory: Memory) -> Result<(), OptimError> {
        let mut memory = if *memory.config() == self.config.memory {
            memory
        } else {
            self.adopt(key, &memory)?
        };
        memory.set_kernels(self.kernels);
        self.memories.insert(key.to_owned(), memory);
        Ok(())
    }

    /// A memory with this optimizer's memory config and the θ of `memory`, which must mean the
    /// same here.
    fn adopt(&self, key: &str, memory: &Memory) -> Result<Memory, OptimError> {
        let (saved, here) = (memory.config(), &self.config.memory);
        let mut diffs = Vec::new();
        if saved.num_centers != here.num_centers {
            diffs.push(format!(
                "`memory.num_centers`: saved {}, here {}",
                saved.num_centers, here.num_centers
            ));
        }
        if saved.layout != here.layout {
            diffs.push(format!(
                "`memory.layout`: saved {:?}, here {:?}",
                saved.layout, here.layout
            ));
        }
        if saved.clip != here.clip {
            diffs.push(format!(
                "`memory.clip`: saved {}, here {}",
                saved.clip, here.clip
            ));
        }
        if saved.lm_scale != here.lm_scale {
            diffs.push(format!(
                "`memory.lm_scale`: saved {}, here {}",
                saved.lm_scale, here.lm_scale
            ));
        }
        if !diffs.is_empty() {
            return Err(OptimError::Incompatible {
                reason: format!(
                    "the memory `{key}` was made for other local models ({}): θ_m is the rate at the centre c_m, which M, layout, clip and lm_scale place, so θ only fits a memory with the same ones; build this optimizer with the saved values of these fields",
                    diffs.join("; ")
                ),
            });
        }
        let mut adopted = Memory::new(*here)?;
        adopted.set_kernels(self.kernels);
        adopted.set_theta(memory.theta()).map_err(|e| {
            let lo = memory.theta().iter().copied().fold(f32::INFINITY, f32::min);
            let hi = memory.theta().iter().copied().fold(f32::NEG_INFINITY, f32::max);
            OptimError::Incompatible {
                reason: format!(
                    "θ of the memory `{key}` spans [{lo}, {hi}], outside this optimizer's bounds `memory.theta_min` = {}, `memory.theta_max` = {} ({e}); widen them to hold it",
                    here.theta_min, here.theta_max
                ),
            }
        })?;
        Ok(adopted)
    }

    /// Installs saved memories' θ in this optimizer, to start a new task from them: the
    /// papers' transfer, with whatever config this optimizer was built with (another ξ, memory
    /// optimizer, signal or base).
    ///
    /// Only θ is taken: every memory gets this optimizer's memory config and fresh moments
    /// (as after [`reload`](Meta::reload)). θ must mean the same here: M, layout, clip and
    /// lm_scale must match, and θ must lie within `theta_min`/`theta_max`; otherwise
    /// [`OptimError::Incompatible`] names the field with both values. `options.rename` maps
    /// saved keys onto the keys of renamed tensors. With `options.strict` (the default), a
    /// tensor that later steps with a memory key that got no memory is an error naming it
    /// rather than a fresh memory. All or nothing: on an error nothing is installed.
    ///
    /// ```
    /// use lrmem_memory_core::MemoryOptimizer;
    /// use lrmem_optimizers::{Checkpoint, LoadMemories, Meta, MetaConfig, Optimizer};
    /// let mut first = Meta::sgd(MetaConfig::default())?;
    /// let mut w = vec![1.0f32; 8];
    /// first.step("conv1.weight", &mut w, &[0.5; 8])?;
    /// let saved = first.save()?;
    ///
    /// // Next task: lower ξ, and the layer has been renamed.
    /// let mut config = MetaConfig::default();
    /// config.memory.optimizer = MemoryOptimizer::adam(1e-4);
    /// let mut next = Meta::sgd(config)?;
    /// let report = next.load_memories(
    ///     &saved,
    ///     LoadMemories { rename: &[("conv1.weight", "features.0.weight")], ..Default::default() },
    /// )?;
    /// assert_eq!(report.loaded, ["features.0.weight"]);
    /// next.step("features.0.weight", &mut w, &[0.5; 8])?;
    /// // A tensor whose memory was not loaded is an error, not a silently fresh memory.
    /// assert!(next.step("fc.weight", &mut w, &[0.5; 8]).is_err());
    /// # Ok::<(), lrmem_optimizers::OptimError>(())
    /// ```
    pub fn load_memories<'s>(
        &mut self,
        source: impl Into<MemorySource<'s>>,
        options: LoadMemories<'_>,
    ) -> Result<LoadReport, OptimError> {
        let saved: Vec<(String, Memory)> = match source.into() {
            MemorySource::Checkpoint(bytes) => saved_memories(bytes)?,
            MemorySource::Memories(list) => list.to_vec(),
        };
        let saved_keys = || listed(saved.iter().map(|(k, _)| k));
        for (i, (old, _)) in options.rename.iter().enumerate() {
            if !saved.iter().any(|(k, _)| k == old) {
                return Err(OptimError::Routing {
                    reason: format!(
                        "`LoadMemories::rename` maps `{old}`, but no memory was saved under that key; the saved keys are: {}",
                        saved_keys()
                    ),
                });
            }
            if options.rename[..i].iter().any(|(o, _)| o == old) {
                return Err(OptimError::Routing {
                    reason: format!("`LoadMemories::rename` maps `{old}` twice; map it once"),
                });
            }
        }
        let mut renamed: BTreeMap<&str, (&str, &Memory)> = BTreeMap::new();
        for (k, m) in &saved {
            let key = options
                .rename
                .iter()
                .find(|(o, _)| o == k)
                .map_or(k.as_str(), |(_, n)| *n);
            if let Some((other, _)) = renamed.insert(key, (k.as_str(), m)) {
                return Err(OptimError::Routing {
                    reason: format!(
                        "the saved memories `{other}` and `{k}` would both be installed under `{key}`; rename one of them to another key"
                    ),
                });
            }
        }
        let mut built = Vec::with_capacity(renamed.len());
        for (key, (_, m)) in &renamed {
            built.push((key.to_string(), self.adopt(key, m)?));
        }
        let report = LoadReport {
            loaded: built.iter().map(|(k, _)| k.clone()).collect(),
            replaced: built
                .iter()
                .filter(|(k, _)| self.memories.contains_key(k))
                .map(|(k, _)| k.clone())
                .collect(),
        };
        self.memories.extend(built);
        self.loaded = Some(Loaded {
            strict: options.strict,
            keys: report.loaded.clone(),
        });
        self.fresh.clear();
        Ok(report)
    }

    /// Keys of the memories created fresh, at η₀, since the last
    /// [`load_memories`](Meta::load_memories) with `strict: false` (empty after a strict one,
    /// which refuses to create them): which tensors did not get a saved memory.
    pub fn fresh_memories(&self) -> &[String] {
        &self.fresh
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
    /// the memory's [`Reload`] policy (`MetaConfig.memory.reload`) says
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
            .map(|(key, m)| {
                let rule = m.rule_state();
                let mut f = Fields::new();
                f.insert("theta".into(), Field::Values(m.theta()));
                f.insert("m".into(), Field::Values(&rule.m));
                f.insert("v".into(), Field::Values(&rule.v));
                f.insert("step".into(), Field::Count(rule.step));
                (key.clone(), f)
            })
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

    /// The memory key of a tensor seen for the first time; under a strict
    /// [`load_memories`](Meta::load_memories), an error if that memory does not exist.
    fn route_new(&self, name: &str) -> Result<Option<String>, OptimError> {
        let key = (self.routing)(name);
        if let (Some(k), Some(loaded)) = (&key, &self.loaded) {
            if loaded.strict && !self.memories.contains_key(k) {
                let used: BTreeSet<&str> = self
                    .tensors
                    .iter()
                    .filter_map(|(_, t)| t.memory.as_deref())
                    .collect();
                return Err(OptimError::Routing {
                    reason: format!(
                        "tensor `{name}` uses the memory `{k}`, which `Meta::load_memories` did not load (it loaded {}; not used by any tensor yet: {}). If the tensor was renamed, map its saved memory with `LoadMemories {{ rename: &[(\"<saved key>\", \"{k}\")], .. }}`; to let it start fresh at η₀, load with `strict: false`",
                        listed(&loaded.keys),
                        listed(loaded.keys.iter().filter(|k| !used.contains(k.as_str())))
                    ),
                });
            }
        }
        Ok(key)
    }

    /// Tracks the first pass over the model for [`Meta::only`]: when a tensor steps again, every
    /// name given to `only` must have stepped.
    fn first_pass(&mut self, name: &str) -> Result<(), OptimError> {
        if self.only.is_none() || self.pass.done {
            return Ok(());
        }
        if !self.pass.seen.iter().any(|s| s == name) {
            self.pass.seen.push(name.to_owned());
            return Ok(());
        }
        self.check_only(&[])?;
        self.pass.done = true;
        Ok(())
    }

    /// Errors if a name given to [`Meta::only`] is neither among the tensors seen so far nor in
    /// `also`.
    fn check_only(&self, also: &[&str]) -> Result<(), OptimError> {
        let Some(only) = &self.only else {
            return Ok(());
        };
        let seen = &self.pass.seen;
        let known = |n: &str| seen.iter().any(|s| s == n) || also.contains(&n);
        let missing: Vec<&str> = only
            .iter()
            .map(String::as_str)
            .filter(|n| !known(n))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let stepped = seen.iter().map(String::as_str).chain(
            also.iter()
                .copied()
                .filter(|a| !seen.iter().any(|s| s == a)),
        );
        Err(OptimError::Routing {
            reason: format!(
                "`Meta::only` names {}, which no tensor of the first pass over the model has (the tensors stepped: {}); such a tensor would step at η₀ without a memory. Give `only` the names the model steps with",
                listed(&missing),
                listed(stepped)
            ),
        })
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
    /// tensors without a memory, and θ of every memory made from now on; a memory that exists
    /// keeps its θ, which is what it learned. `xi`: ξ, the memory optimizer's learning rate, of
    /// every memory (each keeps θ and moments) and of those to come. Then the base's own
    /// hyperparameters but its `lr` (`momentum`, `beta1`, …), under the keys of the `meta-*`
    /// entries of the registry.
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
    /// by the constructors (an error names the key and changes nothing).
    fn set_hyperparameter(&mut self, name: &str, value: f32) -> Result<(), OptimError> {
        let mut memory = self.config.memory;
        match name {
            "lr" => memory.eta0 = value,
            "xi" => {
                memory.optimizer = crate::hyper::memory_optimizer_with_lr(memory.optimizer, value)?
            }
            _ if self.base.hyperparameter(name).is_some() => {
                return self.base.set_hyperparameter(name, value)
            }
            _ => return Err(crate::hyper::unknown(name, &self.hyperparameters())),
        }
        memory
            .validate()
            .map_err(|e| crate::hyper::rename(e.into(), MEMORY_FIELDS))?;
        if name == "lr" {
            self.base.set_hyperparameter("lr", value)?;
        } else {
            self.memories = self
                .memories
                .iter()
                .map(|(k, m)| Ok((k.clone(), crate::hyper::memory_with_xi(m, value)?)))
                .collect::<Result<_, OptimError>>()?;
        }
        self.config.memory = memory;
        Ok(())
    }

    /// Steps the tensors one by one, as the default does; on the first pass over the model, a
    /// name given to [`Meta::only`] that none of them has is an error before any tensor steps.
    fn step_model(&mut self, tensors: &mut [Tensor<'_>]) -> Result<(), OptimError> {
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
        let mem_cfg = self.config.memory;
        let grads = check_inputs(name, params, grads, mem_cfg.non_finite).map_err(|e| match e {
            OptimError::NonFiniteGradient {
                tensor,
                index,
                value,
                ..
            } => OptimError::NonFiniteGradient {
                tensor,
                index,
                value,
                setting: NON_FINITE_SETTING,
            },
            e => e,
        })?;
        let n = params.len();
        let route = match self.tensors.len_of(name) {
            Some(len) if len != n => {
                return Err(OptimError::LengthMismatch {
                    tensor: name.to_owned(),
                    what: "params",
                    expected: len,
                    found: n,
                })
            }
            Some(_) => None,
            None => Some(self.route_new(name)?),
        };
        self.first_pass(name)?;
        let kind =
            self.base
                .direction(name, params, &grads, DirectionBuf::new(&mut self.dir, n))?;
        if kind != Direction::ClippedQuery && self.dir.len() < n {
            // A base that did not write its buffer: move by zeros rather than read past it.
            self.dir.resize(n, 0.0);
        }
        if let Some(memory) = route {
            if let Some(key) = &memory {
                if !self.memories.contains_key(key) {
                    let mut fresh = Memory::new(mem_cfg)?;
                    fresh.set_kernels(self.kernels);
                    self.memories.insert(key.clone(), fresh);
                    if self.loaded.is_some() {
                        self.fresh.push(key.clone());
                    }
                }
            }
            let trace = Trace::new(if memory.is_some() { n } else { 0 });
            self.tensors.get_or_init(name, n, || MetaTensor {
                memory,
                trace,
                steps: 0,
                last: None,
                rates: Vec::new(),
            })?;
        }
        let self_query = self.config.query;
        if self_query != Query::Base && kind == Direction::ClippedQuery && self.dir.len() < n {
            self.dir.resize(n, 0.0);
        }
        let Meta {
            base,
            memories,
            tensors,
            dir,
            record,
            observer,
            ..
        } = self;
        let MetaTensor {
            memory,
            trace,
            steps,
            last,
            rates,
        } = tensors.get_mut(name).expect("made above");
        let record = *record;
        let query = self_query;
        if record {
            rates.resize(n, 0.0);
        } else if !rates.is_empty() {
            *rates = Vec::new();
        }
        let base_query = base.query(name, &grads);
        let z = match query {
            Query::Base => base_query,
            Query::Gradient => &grads[..],
        };
        let mut kind = kind;
        if query != Query::Base && kind != Direction::Values {
            // The base's direction reads its own clipped query; the memory no longer hands it
            // over, so write it out.
            let clip = mem_cfg.clip;
            for (u, &q) in dir.iter_mut().zip(base_query) {
                let q = q.clamp(-clip, clip);
                *u = if kind == Direction::ClippedQueryPlus {
                    q + *u
                } else {
                    q
                };
            }
            kind = Direction::Values;
        }
        let dir = &dir[..];
        let buf = |start: usize, end: usize| dir.get(start..end).unwrap_or(&[]);
        let acc = match memory.as_deref() {
            Some(key) => {
                let mem = memories.get_mut(key).expect("a tensor's memory exists");
                let mut acc = Acc::new();
                mem.step_blocks(trace, z, |start, eta, zc| {
                    let end = start + eta.len();
                    apply(
                        kind,
                        &mut params[start..end],
                        eta,
                        zc,
                        buf(start, end),
                        &mut acc,
                    );
                    if record {
                        rates[start..end].copy_from_slice(eta);
                    }
                })
                .map_err(|source| OptimError::Memory {
                    tensor: Some(name.to_owned()),
                    source,
                })?;
                acc
            }
            None => {
                let (eta, clip) = (mem_cfg.eta0, mem_cfg.clip);
                for (d, w) in params.iter_mut().enumerate() {
                    let zc = z[d].clamp(-clip, clip);
                    let u = match kind {
                        Direction::ClippedQuery => zc,
                        Direction::ClippedQueryPlus => zc + dir[d],
                        Direction::Values => dir[d],
                    };
                    *w -= eta * u;
                }
                if record {
                    rates.fill(eta);
                }
                Acc::constant(eta, n)
            }
        };
        *steps += 1;
        let summary = acc.finish();
        *last = Some(summary);
        if let Some(observer) = observer {
            let info = StepInfo {
                tensor: name,
                memory: memory.as_deref(),
                step: *steps,
                rates: summary,
                per_coordinate: record.then_some(&rates[..]),
            };
            let mut f = observer.lock().unwrap_or_else(|e| e.into_inner());
            f(&info);
        }
        Ok(())
    }
}

/// What a [`Meta`] checkpoint holds (format version 4): the config, the base's own checkpoint,
/// every memory, every tensor's routing and trace.
#[derive(Deserialize)]
struct MetaCheckpoint {
    config: MetaConfig,
    base: Vec<u8>,
    memories: Vec<(String, Vec<u8>)>,
    tensors: TensorStates<MetaTensor>,
}

/// A [`Meta`] checkpoint of format versions 2 and 3: the config was the memory's config of
/// that time alone, a tensor's trace its previous queries alone.
#[derive(Deserialize)]
struct MetaCheckpointV3 {
    config: persist::MemoryConfigV2,
    base: Vec<u8>,
    memories: Vec<(String, Vec<u8>)>,
    tensors: TensorStates<MetaTensorV3>,
}

/// A tensor's state in a [`MetaCheckpointV3`].
#[derive(Deserialize)]
struct MetaTensorV3 {
    memory: Option<String>,
    trace: Vec<f32>,
    steps: u64,
}

impl MetaCheckpoint {
    /// The body of a checkpoint of format `version` (2 or later), in today's layout: what an
    /// earlier version did not have takes the value that behaves as it did then.
    fn decode(version: u16, body: &[u8]) -> Result<MetaCheckpoint, OptimError> {
        if version >= 4 {
            return Ok(persist::decode(body)?);
        }
        let old: MetaCheckpointV3 = persist::decode(body)?;
        Ok(MetaCheckpoint {
            config: MetaConfig {
                memory: old.config.into(),
                query: Query::Base,
            },
            base: old.base,
            memories: old.memories,
            tensors: old.tensors.map(|t| MetaTensor {
                memory: t.memory,
                trace: Trace::from_previous(t.trace),
                steps: t.steps,
                last: None,
                rates: Vec::new(),
            }),
        })
    }
}

/// [`MetaCheckpoint`] as written, borrowing from the optimizer (the same bytes).
#[derive(Serialize)]
struct MetaCheckpointRef<'a> {
    config: &'a MetaConfig,
    base: Vec<u8>,
    memories: Vec<(&'a str, Vec<u8>)>,
    tensors: &'a TensorStates<MetaTensor>,
}

/// The saved memories of a `Meta` checkpoint (any base; format version 1 included), by key:
/// what [`Meta::load_memories`] installs, to inspect or filter first.
///
/// ```
/// use lrmem_optimizers::{saved_memories, Checkpoint, Meta, MetaConfig, Optimizer};
/// let mut opt = Meta::adam(MetaConfig::default())?;
/// opt.step("w", &mut [1.0f32], &[0.5])?;
/// let memories = saved_memories(&opt.save()?)?;
/// assert_eq!(memories[0].0, "w");
/// # Ok::<(), lrmem_optimizers::OptimError>(())
/// ```
pub fn saved_memories(bytes: &[u8]) -> Result<Vec<(String, Memory)>, OptimError> {
    let opened = state::open(bytes)?;
    if !opened.kind.starts_with("Meta<") {
        return Err(OptimError::Incompatible {
            reason: format!(
                "this checkpoint was saved by {}, which has no memories of learning rates; memories come from the checkpoint of a `Meta`",
                opened.kind
            ),
        });
    }
    let raw = match opened.version {
        1 => v1_memories(&opened.kind, opened.body)?,
        version => MetaCheckpoint::decode(version, opened.body)?.memories,
    };
    raw.into_iter()
        .map(|(k, b)| Ok((k, Memory::from_bytes(&b)?)))
        .collect()
}

/// The memories of a version-1 `Meta` checkpoint: its body began with the base's config (as
/// version 1 laid out `SgdConfig` and `AdamConfig`, the only bases then), the memory config and
/// the memories.
fn v1_memories(kind: &str, body: &[u8]) -> Result<Vec<(String, Vec<u8>)>, OptimError> {
    type SgdV1 = (f32, f32, f32, bool, f32, NonFinite);
    type AdamV1 = (f32, f32, f32, f32, f32, bool, NonFinite);
    type Memories = Vec<(String, Vec<u8>)>;
    use persist::MemoryConfigV2;
    let damaged = |e: postcard::Error| OptimError::Corrupt {
        reason: format!("the payload is damaged or truncated ({e})"),
    };
    match kind {
        "Meta<Sgd>" => postcard::take_from_bytes::<(SgdV1, MemoryConfigV2, Memories)>(body)
            .map(|((_, _, m), _)| m)
            .map_err(damaged),
        "Meta<Adam>" => postcard::take_from_bytes::<(AdamV1, MemoryConfigV2, Memories)>(body)
            .map(|((_, _, m), _)| m)
            .map_err(damaged),
        other => Err(OptimError::Incompatible {
            reason: format!("a version-1 checkpoint of kind {other} is not one this build reads"),
        }),
    }
}

impl<B: Base + Checkpoint> Checkpoint for Meta<B> {
    fn save(&self) -> Result<Vec<u8>, OptimError> {
        let memories = self
            .memories
            .iter()
            .map(|(k, m)| Ok((k.as_str(), m.to_bytes()?)))
            .collect::<Result<Vec<_>, OptimError>>()?;
        let ck = MetaCheckpointRef {
            config: &self.config,
            base: self.base.save()?,
            memories,
            tensors: &self.tensors,
        };
        state::save(&self.kind(), &ck)
    }

    /// Resumes exactly where [`save`](Checkpoint::save) left off: the checkpoint must come from
    /// a `Meta` over the same kind of base (else an error naming both kinds) with the same
    /// memory structure (else an error naming every differing field with both values). Its
    /// rates, η₀ (`lr`) and ξ (`xi`), and the base's hyperparameters are restored as saved, as
    /// torch's `load_state_dict` does; set new ones after loading. To start from a checkpoint's
    /// θ with another config, use [`Meta::load_memories`], which also reads the checkpoints of
    /// format version 1. Every saved memory, trace and base state is checked before it is
    /// trusted (configs agreeing with the checkpoint's, finite traces within ±clip, the base's own
    /// checks): a damaged checkpoint is [`OptimError::Corrupt`]. The routing of every tensor seen
    /// is saved; the routing rule ([`Meta::only`], [`Meta::with_routing`]) is code, so tensors first
    /// seen after loading follow this optimizer's. All or nothing.
    fn load(&mut self, bytes: &[u8]) -> Result<(), OptimError> {
        let kind = self.kind();
        let opened = state::open(bytes)?;
        opened.expect(&kind)?;
        if opened.version < 2 {
            return Err(OptimError::Incompatible {
                reason: format!(
                    "this {kind} checkpoint has format version {}, whose `Meta` kept the base's state in a layout this build cannot resume from; carry its memories' θ over with `Meta::load_memories`, which reads it",
                    opened.version
                ),
            });
        }
        let ck = MetaCheckpoint::decode(opened.version, opened.body)?;
        // `lr` (η₀) and `xi` change between steps: the checkpoint's values are restored, as
        // torch's `load_state_dict` restores a parameter group's lr; every other field must match.
        let mut config = self.config;
        config.memory.eta0 = ck.config.memory.eta0;
        if let Ok(optimizer) = crate::hyper::memory_optimizer_with_lr(
            config.memory.optimizer,
            ck.config.memory.optimizer.lr(),
        ) {
            config.memory.optimizer = optimizer;
        }
        if let Some(diff) = state::config_diff(&ck.config, &config) {
            return Err(OptimError::Incompatible {
                reason: format!(
                    "the checkpoint was saved with another config ({diff}); build the optimizer with the saved values to resume from it, or start from its θ with this config through `Meta::load_memories`"
                ),
            });
        }
        let mut memories = BTreeMap::new();
        for (k, bytes) in ck.memories {
            let mut memory = Memory::from_bytes(&bytes)?;
            memory.set_kernels(self.kernels);
            // Every memory has the checkpoint's memory config but η₀, which a memory keeps from
            // when it was made (η₀ changes between steps; θ is what it learned since).
            let mut seen = *memory.config();
            seen.eta0 = config.memory.eta0;
            if let Some(diff) = state::config_diff(&seen, &config.memory) {
                return Err(OptimError::Corrupt {
                    reason: format!(
                        "the memory `{k}` was saved with another config than the checkpoint's ({diff}); the checkpoint is damaged or was not written by lrmem"
                    ),
                });
            }
            memories.insert(k, memory);
        }
        let clip = config.memory.clip;
        for (name, t) in ck.tensors.iter() {
            let len = ck.tensors.len_of(name).unwrap_or(0);
            let expected = if t.memory.is_some() { len } else { 0 };
            if t.trace.len() != expected {
                return Err(OptimError::Corrupt {
                    reason: format!(
                        "tensor `{name}` has {len} coordinates but a trace of {}",
                        t.trace.len()
                    ),
                });
            }
            // A trace holds clipped, finite queries; anything else would poison θ.
            let outside = |z: &&f32| !z.is_finite() || z.abs() > clip;
            if let Some(bad) = t.trace.previous().iter().find(outside) {
                return Err(OptimError::Corrupt {
                    reason: format!(
                        "the trace of tensor `{name}` holds {bad}, outside the memory's ±clip = ±{clip}; the checkpoint is damaged or was not written by lrmem"
                    ),
                });
            }
            if let Some(key) = &t.memory {
                if !memories.contains_key(key) {
                    return Err(OptimError::Corrupt {
                        reason: format!("tensor `{name}` refers to a memory `{key}` that is not in the checkpoint"),
                    });
                }
            }
        }
        self.base.load(&ck.base)?;
        self.config = config;
        self.memories = memories;
        self.tensors = ck.tensors;
        Ok(())
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

/// The keys of the memory every `meta-*` entry takes, then the base's keys. `meta-ctx-sgd`
/// takes them without the query scale's and the query's (`@context`).
macro_rules! memory_keys {
    ($($base:expr),* $(,)?) => {
        $crate::meta::memory_keys!(@keys [
            Key { name: "scale", meaning: "what indexes the memory: raw (the query, the authors') or rms (the query over its tensor's running RMS; clip is then in RMS units)", default: "raw" },
            Key { name: "scale_beta", meaning: "decay of scale=rms's running mean, in (0, 1)", default: "0.99" },
        ] [
            Key { name: "query", meaning: "what the memory is queried with: base (the base's query: g for SGD, m_t for Adam, the authors') or grad (the gradient)", default: "base" },
        ] $($base),*)
    };
    (@context $($base:expr),* $(,)?) => {
        $crate::meta::memory_keys!(@keys [] [] $($base),*)
    };
    (@keys [$($scale:expr,)*] [$($query:expr,)*] $($base:expr),*) => {
        &[
            Key { name: "lr", meaning: "eta0: the initial learning rate, theta_m = eta0 for every local model, in (theta_min, theta_max]", default: "0.001" },
            Key { name: "xi", meaning: "the memory optimizer's learning rate xi (the meta learning rate), >= 0", default: "0.001" },
            Key { name: "theta_opt", meaning: "how theta follows the signal: adam, sgd (theta + xi*G) or momentum", default: "adam" },
            Key { name: "theta_momentum", meaning: "momentum of theta_opt=momentum, in [0, 1)", default: "0.9" },
            Key { name: "theta_beta1", meaning: "beta1 of theta_opt=adam, in [0, 1)", default: "0.9" },
            Key { name: "theta_beta2", meaning: "beta2 of theta_opt=adam, in [0, 1)", default: "0.999" },
            Key { name: "theta_eps", meaning: "epsilon of theta_opt=adam, > 0", default: "1e-8" },
            Key { name: "m", meaning: "number of local models M (centres), at least 2 (even for layout=log)", default: "20" },
            Key { name: "clip", meaning: "queries are clipped to +-clip, and the centres span that range, > 0", default: "1" },
            Key { name: "lm_scale", meaning: "kernel width as a multiple of the centre spacing, > 0", default: "0.5" },
            Key { name: "layout", meaning: "centre layout: linear or log (dense near zero)", default: "linear" },
            Key { name: "theta_min", meaning: "lower bound of theta", default: "1e-9" },
            Key { name: "theta_max", meaning: "upper bound of theta, > theta_min", default: "1" },
            Key { name: "signal", meaning: "learning signal: product (clamp(z_t*z_t-1, -1, 1), the authors' code) or sign", default: "product" },
            Key { name: "cutoff", meaning: "kernel cutoff in kernel widths, > 0 (inf: the dense sum)", default: "9" },
            Key { name: "space", meaning: "where the memory optimizer moves theta: linear (theta, the authors') or log (ln theta: xi is a relative change per step; theta_min > 0)", default: "linear" },
            $($scale,)*
            Key { name: "reload", meaning: "what next_task keeps besides theta: theta (moments afresh, the paper's), moments (theta and the memory optimizer's state) or decay (theta pulled toward lr by reload_keep)", default: "theta" },
            Key { name: "reload_keep", meaning: "reload=decay's share of theta kept, in [0, 1]", default: "0.5" },
            $($query,)*
            $crate::spec::NON_FINITE,
            $($base),*
        ]
    };
}

pub(crate) use memory_keys;

/// Config fields of the memory whose validation names differ from their keys.
pub(crate) const MEMORY_FIELDS: &[(&str, &str)] = &[
    ("eta0", "lr"),
    ("num_centers", "m"),
    ("optimizer.lr", "xi"),
    ("optimizer.momentum", "theta_momentum"),
    ("optimizer.beta1", "theta_beta1"),
    ("optimizer.beta2", "theta_beta2"),
    ("optimizer.eps", "theta_eps"),
];

/// `meta-sgd` in the [`registry`](crate::registry): `meta-sgd:lr=X,xi=Y` is
/// `Meta::sgd(MetaConfig { memory: MemoryConfig { eta0: X, optimizer: MemoryOptimizer::adam(Y),
/// ..MemoryConfig::default() }, ..MetaConfig::default() })`. The base's `lr` and `non_finite` are the memory's.
pub(crate) const SGD_SPEC: RegistryEntry = RegistryEntry {
    name: "meta-sgd",
    summary: "SGD with every tensor's learning rates from its own memory of learning rates, learned online (the authors' MetaSgd1d); next_task keeps theta",
    keys: memory_keys![
        crate::sgd::MOMENTUM,
        crate::sgd::DAMPENING,
        crate::sgd::NESTEROV,
        crate::sgd::WEIGHT_DECAY,
    ],
    fields: MEMORY_FIELDS,
    build: |p| {
        let config = meta_keys(p)?;
        let memory = config.memory;
        let base = SgdConfig {
            lr: memory.eta0,
            non_finite: memory.non_finite,
            ..crate::sgd::direction_keys(p)?
        };
        Ok(Built::new(Meta::new(base, config)?))
    },
};

/// `meta-adam` in the [`registry`](crate::registry): as `meta-sgd`, on Adam's directions.
pub(crate) const ADAM_SPEC: RegistryEntry = RegistryEntry {
    name: "meta-adam",
    summary: "Adam's directions with every tensor's learning rates from its own memory of learning rates, queried with Adam's first moment (the authors' TF backend); next_task keeps theta",
    keys: memory_keys![
        crate::adam::BETA1,
        crate::adam::BETA2,
        crate::adam::EPS,
        crate::adam::WEIGHT_DECAY,
        crate::adam::DECOUPLED,
    ],
    fields: MEMORY_FIELDS,
    build: |p| {
        let config = meta_keys(p)?;
        let memory = config.memory;
        let base = AdamConfig {
            lr: memory.eta0,
            non_finite: memory.non_finite,
            ..crate::adam::direction_keys(p)?
        };
        Ok(Built::new(Meta::new(base, config)?))
    },
};

/// `name == other`, in a const context.
const fn same(name: &str, other: &str) -> bool {
    let (a, b) = (name.as_bytes(), other.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The key `name` of a base's registry entry, so that a `meta-*` entry describes the base's
/// keys in the base's own words (a missing key fails to compile).
const fn base_key(keys: &'static [Key], name: &str) -> Key {
    let mut i = 0;
    while i < keys.len() {
        if same(keys[i].name, name) {
            return keys[i];
        }
        i += 1;
    }
    panic!("the base's registry entry has no such key")
}

/// The memory's fields and Rprop's, by the keys that set them.
const RPROP_FIELDS: &[(&str, &str)] = &[
    ("eta0", "lr"),
    ("num_centers", "m"),
    ("optimizer.lr", "xi"),
    ("optimizer.momentum", "theta_momentum"),
    ("optimizer.beta1", "theta_beta1"),
    ("optimizer.beta2", "theta_beta2"),
    ("optimizer.eps", "theta_eps"),
    ("etas", "eta_minus/eta_plus"),
    ("step_sizes", "step_min/step_max"),
];

/// The memory's fields and the hypergradient optimizers', by the keys that set them.
const HD_FIELDS: &[(&str, &str)] = &[
    ("eta0", "lr"),
    ("num_centers", "m"),
    ("optimizer.lr", "xi"),
    ("optimizer.momentum", "theta_momentum"),
    ("optimizer.beta1", "theta_beta1"),
    ("optimizer.beta2", "theta_beta2"),
    ("optimizer.eps", "theta_eps"),
    ("hypergrad_lr", "beta"),
];

/// `meta-rprop` in the [`registry`](crate::registry): Rprop's relative steps sign(g)·Δ/Δ₀ with
/// the memory's rates in place of Δ₀ (`lr` is η₀ = Δ₀).
pub(crate) const RPROP_SPEC: RegistryEntry = RegistryEntry {
    name: "meta-rprop",
    summary: "Rprop's relative steps sign(g)*Delta/Delta0 with every tensor's learning rates from its own memory of learning rates (lr is eta0 = Delta0); next_task keeps theta",
    keys: memory_keys![
        base_key(crate::rprop::SPEC.keys, "eta_minus"),
        base_key(crate::rprop::SPEC.keys, "eta_plus"),
        base_key(crate::rprop::SPEC.keys, "step_min"),
        base_key(crate::rprop::SPEC.keys, "step_max"),
    ],
    fields: RPROP_FIELDS,
    build: |p| {
        let config = meta_keys(p)?;
        let memory = config.memory;
        let d = RpropConfig::default();
        let base = RpropConfig {
            lr: memory.eta0,
            etas: (p.f32("eta_minus", d.etas.0)?, p.f32("eta_plus", d.etas.1)?),
            step_sizes: (
                p.f32("step_min", d.step_sizes.0)?,
                p.f32("step_max", d.step_sizes.1)?,
            ),
            non_finite: memory.non_finite,
        };
        Ok(Built::new(Meta::new(base, config)?))
    },
};

/// `meta-sgd-hd` in the [`registry`](crate::registry): SGD-HD's directions (α_t/α₀)·g with the
/// memory's rates (`lr` is η₀ = α₀).
pub(crate) const SGD_HD_SPEC: RegistryEntry = RegistryEntry {
    name: "meta-sgd-hd",
    summary: "SGD-HD's directions (alpha_t/alpha0)*g with every tensor's learning rates from its own memory of learning rates (lr is eta0 = alpha0); next_task keeps theta",
    keys: memory_keys![base_key(crate::hd::SGD_HD_SPEC.keys, "beta")],
    fields: HD_FIELDS,
    build: |p| {
        let config = meta_keys(p)?;
        let memory = config.memory;
        let base = SgdHdConfig {
            lr: memory.eta0,
            hypergrad_lr: p.f32("beta", SgdHdConfig::default().hypergrad_lr)?,
            non_finite: memory.non_finite,
        };
        Ok(Built::new(Meta::new(base, config)?))
    },
};

/// `meta-adam-hd` in the [`registry`](crate::registry): Adam-HD's update divided by α₀, with the
/// memory's rates (`lr` is η₀ = α₀).
pub(crate) const ADAM_HD_SPEC: RegistryEntry = RegistryEntry {
    name: "meta-adam-hd",
    summary: "Adam-HD's update divided by alpha0 with every tensor's learning rates from its own memory of learning rates (lr is eta0 = alpha0); next_task keeps theta",
    keys: memory_keys![
        base_key(crate::hd::ADAM_HD_SPEC.keys, "beta"),
        crate::adam::BETA1,
        crate::adam::BETA2,
        crate::adam::EPS,
    ],
    fields: HD_FIELDS,
    build: |p| {
        let config = meta_keys(p)?;
        let memory = config.memory;
        let d = AdamHdConfig::default();
        let base = AdamHdConfig {
            lr: memory.eta0,
            hypergrad_lr: p.f32("beta", d.hypergrad_lr)?,
            beta1: p.f32("beta1", d.beta1)?,
            beta2: p.f32("beta2", d.beta2)?,
            eps: p.f32("eps", d.eps)?,
            non_finite: memory.non_finite,
        };
        Ok(Built::new(Meta::new(base, config)?))
    },
};

/// Which [`MemoryOptimizer`] `theta_opt` names.
#[derive(Clone, Copy)]
enum ThetaOpt {
    Sgd,
    Momentum,
    Adam,
}

/// Reads the memory's keys over [`MemoryConfig::default`].
pub(crate) fn read_memory_keys(p: &mut Params<'_>) -> Result<MemoryConfig, SpecError> {
    // Destructured in full so that a new field of the config fails to compile until it has a key.
    let MemoryConfig {
        num_centers,
        clip,
        lm_scale,
        layout,
        eta0,
        theta_min,
        theta_max,
        signal,
        optimizer,
        cutoff,
        non_finite,
        space,
        scale,
        reload,
    } = MemoryConfig::default();
    let default_opt = match optimizer {
        MemoryOptimizer::Sgd { .. } => ThetaOpt::Sgd,
        MemoryOptimizer::Momentum { .. } => ThetaOpt::Momentum,
        _ => ThetaOpt::Adam,
    };
    let kind = p.choice(
        "theta_opt",
        default_opt,
        &[
            ("adam", ThetaOpt::Adam),
            ("sgd", ThetaOpt::Sgd),
            ("momentum", ThetaOpt::Momentum),
        ],
    )?;
    let xi = p.f32("xi", optimizer.lr())?;
    const MOMENTUM_KEYS: &[&str] = &["theta_momentum"];
    const ADAM_KEYS: &[&str] = &["theta_beta1", "theta_beta2", "theta_eps"];
    let optimizer = match kind {
        ThetaOpt::Sgd => {
            p.forbid(MOMENTUM_KEYS, "applies only with theta_opt=momentum")?;
            p.forbid(ADAM_KEYS, "applies only with theta_opt=adam")?;
            MemoryOptimizer::sgd(xi)
        }
        ThetaOpt::Momentum => {
            p.forbid(ADAM_KEYS, "applies only with theta_opt=adam")?;
            match MemoryOptimizer::momentum(xi) {
                MemoryOptimizer::Momentum { lr, momentum } => MemoryOptimizer::Momentum {
                    lr,
                    momentum: p.f32("theta_momentum", momentum)?,
                },
                _ => unreachable!("MemoryOptimizer::momentum makes Momentum"),
            }
        }
        ThetaOpt::Adam => {
            p.forbid(MOMENTUM_KEYS, "applies only with theta_opt=momentum")?;
            match MemoryOptimizer::adam(xi) {
                MemoryOptimizer::Adam {
                    lr,
                    beta1,
                    beta2,
                    eps,
                } => MemoryOptimizer::Adam {
                    lr,
                    beta1: p.f32("theta_beta1", beta1)?,
                    beta2: p.f32("theta_beta2", beta2)?,
                    eps: p.f32("theta_eps", eps)?,
                },
                _ => unreachable!("MemoryOptimizer::adam makes Adam"),
            }
        }
    };
    Ok(MemoryConfig {
        num_centers: p.usize("m", num_centers)?,
        clip: p.f32("clip", clip)?,
        lm_scale: p.f32("lm_scale", lm_scale)?,
        layout: p.choice(
            "layout",
            layout,
            &[("linear", Layout::Linear), ("log", Layout::Log)],
        )?,
        eta0: p.f32("lr", eta0)?,
        theta_min: p.f32("theta_min", theta_min)?,
        theta_max: p.f32("theta_max", theta_max)?,
        signal: p.choice(
            "signal",
            signal,
            &[("product", Signal::ClippedProduct), ("sign", Signal::Sign)],
        )?,
        optimizer,
        cutoff: p.f32("cutoff", cutoff)?,
        non_finite: p.non_finite(non_finite)?,
        space: p.choice(
            "space",
            space,
            &[("linear", ThetaSpace::Linear), ("log", ThetaSpace::Log)],
        )?,
        scale: match p.choice(
            "scale",
            scale == QueryScale::Raw,
            &[("raw", true), ("rms", false)],
        )? {
            true => {
                p.forbid(&["scale_beta"], "applies only with scale=rms")?;
                QueryScale::Raw
            }
            false => QueryScale::Rms {
                beta: p.f32("scale_beta", 0.99)?,
            },
        },
        reload: match p.choice(
            "reload",
            reload,
            &[
                ("theta", Reload::Theta),
                ("moments", Reload::ThetaAndMoments),
                ("decay", Reload::Decay { keep: 0.5 }),
            ],
        )? {
            Reload::Decay { keep } => Reload::Decay {
                keep: p.f32("reload_keep", keep)?,
            },
            other => {
                p.forbid(&["reload_keep"], "applies only with reload=decay")?;
                other
            }
        },
    })
}

/// Reads the keys of a `meta-*` entry's [`MetaConfig`]: the memory's and the query.
fn meta_keys(p: &mut Params<'_>) -> Result<MetaConfig, SpecError> {
    let memory = read_memory_keys(p)?;
    let query = p.choice(
        "query",
        MetaConfig::default().query,
        &[("base", Query::Base), ("grad", Query::Gradient)],
    )?;
    Ok(MetaConfig { memory, query })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AdamConfig, Checkpoint};

    /// A `Meta` checkpoint is checked before it is trusted: a memory saved with another config
    /// than the checkpoint's (it loaded silently), a trace with NaN or beyond ±clip, and a damaged
    /// base state are `Corrupt` errors that change nothing.
    #[test]
    fn loaded_meta_state_is_checked() {
        let mut good = Meta::adam(MetaConfig::default()).unwrap();
        let mut w = vec![0.5f32, -0.25, 0.75];
        for g in [[0.1f32, -0.2, 0.3], [0.2, 0.1, -0.3]] {
            good.step("w", &mut w, &g).unwrap();
        }
        let trace = Trace::from_previous;
        type Damage = Box<dyn Fn(&mut Meta<Adam>)>;
        let damaged: Vec<(&str, Damage)> = vec![
            (
                "memory config",
                Box::new(|m| {
                    let other = MemoryConfig {
                        clip: 2.0,
                        ..MetaConfig::default().memory
                    };
                    m.memories.insert("w".into(), Memory::new(other).unwrap());
                }),
            ),
            (
                "NaN trace",
                Box::new(move |m| {
                    m.tensors.get_mut("w").unwrap().trace = trace(vec![0.1, f32::NAN, 0.0]);
                }),
            ),
            (
                "trace beyond clip",
                Box::new(move |m| {
                    m.tensors.get_mut("w").unwrap().trace = trace(vec![0.1, 5.0, 0.0]);
                }),
            ),
            (
                "base state",
                Box::new(|m| m.base.states.get_mut("w").unwrap().v[0] = -1.0),
            ),
        ];
        for (what, damage) in damaged {
            let mut bad = good.clone();
            damage(&mut bad);
            let bytes = bad.save().unwrap();
            let mut target = Meta::adam(MetaConfig::default()).unwrap();
            let err = target.load(&bytes).unwrap_err();
            assert!(matches!(err, OptimError::Corrupt { .. }), "{what}: {err}");
            assert!(
                target.memories.is_empty() && target.tensors.is_empty(),
                "{what}"
            );
        }
        let mut target = Meta::new(AdamConfig::default(), MetaConfig::default()).unwrap();
        target.load(&good.save().unwrap()).unwrap();
    }
}
