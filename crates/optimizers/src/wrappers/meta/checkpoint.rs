//! [`Meta`]'s checkpoints: the format written today (version 4), the earlier ones it still
//! reads (versions 2 and 3 to resume, version 1 for its memories), and the checks a loaded
//! checkpoint passes before it is trusted.

use std::collections::BTreeMap;

use lrmem_memory_core::{persist, Memory, NonFinite, Trace};
use serde::{Deserialize, Serialize};

use super::hyper::memory_optimizer_with_lr;
use super::{Meta, MetaConfig, MetaTensor, Query};
use crate::optimizer::checkpoint;
use crate::optimizer::state::TensorStates;
use crate::optimizer::{Base, Checkpoint, OptimError};

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
    let opened = checkpoint::open(bytes)?;
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
        checkpoint::save(&self.kind(), &ck)
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
        let opened = checkpoint::open(bytes)?;
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
        if let Ok(optimizer) =
            memory_optimizer_with_lr(config.memory.optimizer, ck.config.memory.optimizer.lr())
        {
            config.memory.optimizer = optimizer;
        }
        if let Some(diff) = checkpoint::config_diff(&ck.config, &config) {
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
            if let Some(diff) = checkpoint::config_diff(&seen, &config.memory) {
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
