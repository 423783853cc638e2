//! [`Meta`]: any base optimizer with its learning rates learned online by memories of learning rates.

use std::collections::BTreeMap;
use std::sync::Arc;

use memory_core::{Layout, Memory, MemoryConfig, MemoryOptimizer, Signal, Trace};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::spec::{self, Built, Key, Params, RegistryEntry, SpecError};
use crate::state::{self, check_inputs, TensorStates};
use crate::{Checkpoint, Direction, OptimError, Optimizer, SgdConfig, StateBytes};

/// Configuration of [`Meta`].
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct MetaConfig {
    /// The memory every routed tensor gets (or shares). Its `eta0` is η₀: the initial learning
    /// rate of every local model and the fixed rate of tensors without a memory; its `clip`
    /// bounds the queries. The base optimizer's own `lr` is not used by `Meta`.
    pub memory: MemoryConfig,
}

/// Which memory a tensor uses: `Some(key)` = the memory named `key` (tensors with one key share
/// it), `None` = no memory, a fixed rate η₀ (the authors' `use_memory = False`).
type Routing = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Per-tensor state of [`Meta`]: the base optimizer's state, the memory it uses and the trace
/// of its previous queries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaTensor<S> {
    /// The base optimizer's state.
    pub base: S,
    /// Key of the memory in use, if any.
    pub memory: Option<String>,
    /// z_{t−1} per coordinate (empty without a memory).
    pub trace: Trace,
}

/// A base optimizer whose learning rates come from memories of learning rates, learned online.
///
/// Per step and tensor (docs/algorithm.md §11): the base takes the gradient
/// ([`Direction::advance`]); the query z (SGD: g, Adam: m_t) is clipped to ±clip; the memory
/// learns from s = signal(z_t, z_{t−1}) at ψ(z_{t−1}); each coordinate moves by −η̂(z_t\[d\])·u_d.
/// On [`SgdConfig`] this is exactly the authors' `MetaSgd1d`.
///
/// By default every tensor gets its own memory, keyed by its name. [`Meta::only`] and
/// [`Meta::with_routing`] choose which tensors use a memory and which share one. A memory
/// shared by several tensors learns from each of them in turn, in the order they step.
///
/// ```
/// use optimizers::{Meta, MetaConfig, Optimizer, AdamConfig};
/// // Meta-Adam; only the tensor "w" uses a memory, "b" steps at η₀.
/// let mut opt = Meta::new(AdamConfig::default(), MetaConfig::default())?.only(&["w"]);
/// let (mut w, mut b) = (vec![1.0f32; 4], vec![0.5f32]);
/// opt.step("w", &mut w, &[0.1, -0.2, 0.3, 0.0])?;
/// opt.step("b", &mut b, &[1.0])?;
/// assert!(opt.memory("w").is_some() && opt.memory("b").is_none());
/// # Ok::<(), optimizers::OptimError>(())
/// ```
#[derive(Clone)]
pub struct Meta<B: Direction> {
    base: B,
    config: MetaConfig,
    routing: Routing,
    memories: BTreeMap<String, Memory>,
    tensors: TensorStates<MetaTensor<B::State>>,
}

impl<B: Direction + std::fmt::Debug> std::fmt::Debug for Meta<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meta")
            .field("base", &self.base)
            .field("config", &self.config)
            .field("memories", &self.memories)
            .field("tensors", &self.tensors)
            .finish_non_exhaustive()
    }
}

impl Meta<SgdConfig> {
    /// The authors' `MetaSgd1d`: plain SGD directions, rates from the memory.
    pub fn sgd(config: MetaConfig) -> Result<Self, OptimError> {
        Meta::new(SgdConfig::default(), config)
    }
}

impl<B: Direction> Meta<B> {
    /// Wraps `base`; validates the memory config.
    pub fn new(base: B, config: MetaConfig) -> Result<Self, OptimError> {
        config.memory.validate()?;
        Ok(Meta {
            base,
            config,
            routing: Arc::new(|name: &str| Some(name.to_owned())),
            memories: BTreeMap::new(),
            tensors: TensorStates::default(),
        })
    }

    /// Routes tensors to memories: `route(name)` = `Some(key)` for the memory `key`, `None` for
    /// no memory. Must be set before the first step.
    ///
    /// ```
    /// # use optimizers::{Meta, MetaConfig};
    /// // One memory for all weights, none for biases.
    /// let opt = Meta::sgd(MetaConfig::default())?
    ///     .with_routing(|name| (!name.ends_with(".bias")).then(|| "weights".to_string()));
    /// # Ok::<(), optimizers::OptimError>(())
    /// ```
    pub fn with_routing(
        mut self,
        route: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.routing = Arc::new(route);
        self
    }

    /// Only the named tensors get a memory each (the authors' `use_memory` list).
    pub fn only(self, names: &[&str]) -> Self {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        self.with_routing(move |n| names.iter().any(|x| x == n).then(|| n.to_owned()))
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
    pub fn insert_memory(&mut self, key: &str, memory: Memory) {
        self.memories.insert(key.to_owned(), memory);
    }

    /// Meta-learning with reloading: keep every memory's θ, reset everything else (memory
    /// optimizer moments, traces, the base optimizer's state) for a new task. The same as
    /// [`Optimizer::next_task`].
    pub fn reload(&mut self) {
        for m in self.memories.values_mut() {
            m.reset();
        }
        self.tensors.clear();
    }
}

impl<B: Direction> Optimizer for Meta<B> {
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

    fn step(&mut self, name: &str, params: &mut [f32], grads: &[f32]) -> Result<(), OptimError> {
        let mem_cfg = self.config.memory;
        let grads = check_inputs(name, params, grads, mem_cfg.non_finite)?;
        let n = params.len();
        let base = &self.base;
        let routing = &self.routing;
        let tensor = self.tensors.get_or_init(name, n, || {
            let memory = routing(name);
            let trace = Trace::new(if memory.is_some() { n } else { 0 });
            MetaTensor {
                base: base.init(n),
                memory,
                trace,
            }
        })?;
        let MetaTensor {
            base: st,
            memory,
            trace,
        } = tensor;
        let memory = match memory {
            Some(key) => {
                if !self.memories.contains_key(key.as_str()) {
                    self.memories.insert(key.clone(), Memory::new(mem_cfg)?);
                }
                self.memories.get_mut(key.as_str())
            }
            None => None,
        };
        base.advance(st, params, &grads);
        let st = &*st;
        let z = base.query(st, &grads);
        match memory {
            Some(mem) => mem
                .step_blocks(trace, z, |start, eta, zc| {
                    let end = start + eta.len();
                    base.apply_block(
                        st,
                        start,
                        eta,
                        zc,
                        &grads[start..end],
                        &mut params[start..end],
                    );
                })
                .map_err(|source| OptimError::Memory {
                    tensor: Some(name.to_owned()),
                    source,
                }),
            None => {
                let (eta, clip) = (mem_cfg.eta0, mem_cfg.clip);
                for (d, w) in params.iter_mut().enumerate() {
                    let zc = z[d].clamp(-clip, clip);
                    *w -= eta * base.direction(st, d, zc, grads[d], *w);
                }
                Ok(())
            }
        }
    }
}

/// What a [`Meta`] checkpoint holds (format version 1).
#[derive(Serialize, Deserialize)]
struct MetaCheckpoint<B, S> {
    base: B,
    memory: MemoryConfig,
    memories: Vec<(String, Vec<u8>)>,
    tensors: TensorStates<MetaTensor<S>>,
}

impl<B> Checkpoint for Meta<B>
where
    B: Direction + Serialize + DeserializeOwned + PartialEq + Clone,
{
    fn save(&self) -> Result<Vec<u8>, OptimError> {
        let memories = self
            .memories
            .iter()
            .map(|(k, m)| Ok((k.clone(), m.to_bytes()?)))
            .collect::<Result<Vec<_>, OptimError>>()?;
        let ck = MetaCheckpoint {
            base: self.base.clone(),
            memory: self.config.memory,
            memories,
            tensors: self.tensors.clone(),
        };
        state::save(&format!("meta-{}", B::NAME), &ck)
    }

    fn load(&mut self, bytes: &[u8]) -> Result<(), OptimError> {
        let ck: MetaCheckpoint<B, B::State> = state::load(&format!("meta-{}", B::NAME), bytes)?;
        if ck.base != self.base || ck.memory != self.config.memory {
            return Err(OptimError::Corrupt {
                reason: "the checkpoint was saved with a different base or memory config".into(),
            });
        }
        let mut memories = BTreeMap::new();
        for (k, bytes) in ck.memories {
            memories.insert(k, Memory::from_bytes(&bytes)?);
        }
        for name in ck.tensors.names() {
            let t = ck.tensors.get(name).expect("listed");
            if let Some(key) = &t.memory {
                if !memories.contains_key(key) {
                    return Err(OptimError::Corrupt { reason: format!("tensor `{name}` refers to a memory `{key}` that is not in the checkpoint") });
                }
            }
        }
        self.memories = memories;
        self.tensors = ck.tensors;
        Ok(())
    }
}

impl<B: Direction + StateBytes> StateBytes for Meta<B> {
    /// The base's bytes plus 4 for the previous query.
    fn bytes_per_coordinate(&self) -> usize {
        self.base.bytes_per_coordinate() + 4
    }
}

/// The keys of the memory every `meta-*` entry takes, then the base's keys.
macro_rules! memory_keys {
    ($($base:expr),* $(,)?) => {
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
            spec::NON_FINITE,
            $($base),*
        ]
    };
}

/// Config fields of the memory whose validation names differ from their keys.
const MEMORY_FIELDS: &[(&str, &str)] = &[
    ("eta0", "lr"),
    ("num_centers", "m"),
    ("optimizer.lr", "xi"),
    ("optimizer.momentum", "theta_momentum"),
    ("optimizer.beta1", "theta_beta1"),
    ("optimizer.beta2", "theta_beta2"),
    ("optimizer.eps", "theta_eps"),
];

/// `meta-sgd` in the [`registry`](crate::registry): `meta-sgd:lr=X,xi=Y` is
/// `Meta::new(SgdConfig::default(), MetaConfig { memory: MemoryConfig { eta0: X,
/// optimizer: MemoryOptimizer::adam(Y), ..MemoryConfig::default() } })`.
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
        let memory = memory_keys(p)?;
        let base = crate::sgd::direction_keys(p)?;
        base.validate()?;
        Ok(Built::new(Meta::new(base, MetaConfig { memory })?))
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
        let memory = memory_keys(p)?;
        let base = crate::adam::direction_keys(p)?;
        base.validate()?;
        Ok(Built::new(Meta::new(base, MetaConfig { memory })?))
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
fn memory_keys(p: &mut Params<'_>) -> Result<MemoryConfig, SpecError> {
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
    })
}
