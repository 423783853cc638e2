//! Carrying memories from one task to the next: installing a memory or a checkpoint's memories'
//! θ in a [`Meta`] built with any config, the papers' transfer ([`Meta::load_memories`]).

use std::collections::BTreeMap;

use lrmem_memory_core::Memory;

use super::{listed, saved_memories, Loaded, Meta};
use crate::optimizer::{Base, OptimError};

/// Where [`Meta::load_memories`] takes memories from.
#[derive(Debug, Clone, Copy)]
pub enum MemorySource<'a> {
    /// The bytes of a `Meta` checkpoint ([`Checkpoint::save`](crate::Checkpoint::save)) over any base, including those
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

impl<B: Base> Meta<B> {
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
        let diffs: Vec<String> = [
            differs(
                "num_centers",
                saved.num_centers,
                here.num_centers,
                usize::to_string,
            ),
            differs("layout", saved.layout, here.layout, |l| format!("{l:?}")),
            differs("clip", saved.clip, here.clip, f32::to_string),
            differs("lm_scale", saved.lm_scale, here.lm_scale, f32::to_string),
        ]
        .into_iter()
        .flatten()
        .collect();
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
}

/// `` `memory.{field}`: saved …, here … `` where a memory's saved value of `field` differs from
/// this optimizer's, both written by `show`.
fn differs<T: PartialEq>(field: &str, saved: T, here: T, show: fn(&T) -> String) -> Option<String> {
    if saved == here {
        return None;
    }
    let (saved, here) = (show(&saved), show(&here));
    Some(format!("`memory.{field}`: saved {saved}, here {here}"))
}
