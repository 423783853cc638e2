//! [`Meta`]: any base optimizer with its learning rates learned online by memories of learning rates.

use std::collections::BTreeMap;
use std::sync::Arc;

use memory_core::{Memory, MemoryConfig, Trace};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

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
