//! [`MetaContext`]: SGD whose learning rates come from a memory over two inputs, the gradient
//! coordinate and its tensor's gradient scale relative to its recent past
//! ([`ContextMemory`], one per tensor).
//!
//! It is the 1-D memory's Meta-SGD (`meta-sgd`) with the memory's input augmented: where the
//! 1-D memory gives a coordinate one rate for one gradient value whatever the step, this one
//! can learn a smaller rate for the steps whose gradients are far larger than the tensor's
//! running RMS (an outlier sample, a loss spike) than for typical ones. With `contexts = 1`
//! it steps exactly as `meta-sgd` with the same memory settings (the tests check it).

use std::collections::BTreeMap;

use lrmem_memory_core::{persist, ContextConfig, ContextMemory, ContextTrace};
use serde::{Deserialize, Serialize};

use crate::optimizer::checkpoint;
use crate::optimizer::inputs::{check_inputs, check_length};
use crate::optimizer::state::{Field, Fields, Inspect, StateView};
use crate::optimizer::{Checkpoint, OptimError, Optimizer, StateBytes};
use crate::wrappers::meta::memory_fields;

/// SGD with every tensor's learning rates from its own [`ContextMemory`], learned online:
/// `w[d] −= η̂(clip(g[d]), c_t) · clip(g[d])`. [`Optimizer::next_task`] keeps θ (as the
/// memory's `reload` says) and forgets every tensor's trace and size, as
/// [`Meta`](crate::Meta)'s does: a tensor may come back with another length and keeps its
/// memory.
///
/// ```
/// use lrmem_optimizers::{MetaContext, Optimizer};
/// use lrmem_memory_core::ContextConfig;
/// let mut opt = MetaContext::new(ContextConfig::default())?;
/// let mut w = vec![1.0f32, -2.0];
/// for _ in 0..100 {
///     let g = w.clone(); // ∇ of ½‖w‖²
///     opt.step("w", &mut w, &g)?;
/// }
/// assert!(w[0] < 1.0 && w[1] > -2.0);
/// # Ok::<(), lrmem_optimizers::OptimError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MetaContext {
    config: ContextConfig,
    /// Every tensor's memory, by name: what a new task keeps.
    memories: BTreeMap<String, ContextMemory>,
    /// Every tensor's trace, by name (its length is the tensor's): what a new task forgets.
    traces: BTreeMap<String, ContextTrace>,
}

impl MetaContext {
    /// Validates `config`. Its `memory.eta0` is η₀ (every θ starts there), its
    /// `memory.non_finite` the policy for NaN/∞ gradients.
    pub fn new(config: ContextConfig) -> Result<Self, OptimError> {
        config.validate()?;
        Ok(MetaContext {
            config,
            memories: BTreeMap::new(),
            traces: BTreeMap::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ContextConfig {
        &self.config
    }

    /// The memory of tensor `name` (after its first step).
    pub fn memory(&self, name: &str) -> Option<&ContextMemory> {
        self.memories.get(name)
    }
}

impl Optimizer for MetaContext {
    /// The step's checks (the gradient under the memory's policy, the tensor's length),
    /// changing nothing.
    fn check_step(&self, name: &str, params: &[f32], grads: &[f32]) -> Result<(), OptimError> {
        check_inputs(name, params, grads, self.config.memory.non_finite)?;
        if let Some(trace) = self.traces.get(name) {
            let what = "params (the tensor had another length at its first step)";
            check_length(name, what, trace.len(), params.len())?;
        }
        Ok(())
    }

    fn step(&mut self, name: &str, params: &mut [f32], grads: &[f32]) -> Result<(), OptimError> {
        let grads = check_inputs(name, params, grads, self.config.memory.non_finite)?;
        let n = params.len();
        if let Some(trace) = self.traces.get(name) {
            let what = "params (the tensor had another length at its first step)";
            check_length(name, what, trace.len(), n)?;
        }
        // A new tensor (or one whose size `next_task` forgot) gets a fresh trace; its memory
        // is made on its first step and kept across tasks. Both are inserted only once the
        // step has succeeded, so that an error changes nothing.
        let mut fresh_memory = match self.memories.contains_key(name) {
            true => None,
            false => Some(ContextMemory::new(self.config)?),
        };
        let mut fresh_trace = match self.traces.contains_key(name) {
            true => None,
            false => Some(ContextTrace::new(n)),
        };
        let memory = match fresh_memory.as_mut() {
            Some(m) => m,
            None => self.memories.get_mut(name).expect("checked above"),
        };
        let trace = match fresh_trace.as_mut() {
            Some(t) => t,
            None => self.traces.get_mut(name).expect("checked above"),
        };
        memory
            .step_blocks(trace, &grads, |start, eta, zc| {
                let w = &mut params[start..start + eta.len()];
                for ((w, &e), &z) in w.iter_mut().zip(eta).zip(zc) {
                    *w -= e * z;
                }
            })
            .map_err(|source| OptimError::Memory {
                tensor: Some(name.to_owned()),
                source,
            })?;
        if let Some(m) = fresh_memory {
            self.memories.insert(name.to_owned(), m);
        }
        if let Some(t) = fresh_trace {
            self.traces.insert(name.to_owned(), t);
        }
        Ok(())
    }

    /// Keeps every memory (θ, and its moments as `reload` says) and forgets every trace and
    /// with it the tensor's size, as [`Meta`](crate::Meta)'s `next_task` does.
    fn next_task(&mut self) {
        for m in self.memories.values_mut() {
            m.next_task();
        }
        self.traces.clear();
    }

    fn memory_thetas(&self) -> Vec<(String, Vec<f32>)> {
        self.memories
            .iter()
            .map(|(k, m)| (k.clone(), m.theta().to_vec()))
            .collect()
    }
}

/// The checkpoint body: the config, then per tensor its memory's own saved bytes and its
/// trace, then the memories of the tensors whose size [`Optimizer::next_task`] forgot (no
/// trace). Bodies written before `forgotten` existed end after `tensors` ([`SavedV4`]).
#[derive(Serialize, Deserialize)]
struct Saved {
    config: ContextConfig,
    tensors: Vec<(String, Vec<u8>, ContextTrace)>,
    forgotten: Vec<(String, Vec<u8>)>,
}

/// The body as checkpoint format 4 first wrote it: every memory had a trace.
#[derive(Deserialize)]
struct SavedV4 {
    config: ContextConfig,
    tensors: Vec<(String, Vec<u8>, ContextTrace)>,
}

impl Saved {
    /// Reads a body of either layout: one without `forgotten` ends where that field would
    /// begin, which the current layout reads as truncated.
    fn decode(bytes: &[u8]) -> Result<Saved, OptimError> {
        let opened = crate::optimizer::checkpoint::open(bytes)?;
        opened.expect("MetaContext")?;
        match persist::decode::<Saved>(opened.body) {
            Ok(saved) => Ok(saved),
            Err(current) => match persist::decode::<SavedV4>(opened.body) {
                Ok(old) => Ok(Saved {
                    config: old.config,
                    tensors: old.tensors,
                    forgotten: Vec::new(),
                }),
                Err(_) => Err(current.into()),
            },
        }
    }
}

impl Checkpoint for MetaContext {
    fn save(&self) -> Result<Vec<u8>, OptimError> {
        let (mut tensors, mut forgotten) = (Vec::new(), Vec::new());
        for (k, memory) in &self.memories {
            let bytes = memory.to_bytes()?;
            match self.traces.get(k) {
                Some(trace) => tensors.push((k.clone(), bytes, trace.clone())),
                None => forgotten.push((k.clone(), bytes)),
            }
        }
        crate::optimizer::checkpoint::save(
            "MetaContext",
            &Saved {
                config: self.config,
                tensors,
                forgotten,
            },
        )
    }

    /// Resumes exactly where [`save`](Checkpoint::save) left off. The checkpoint must come from
    /// a `MetaContext` with the same config (else [`OptimError::Incompatible`] naming every
    /// differing field with both values, as [`Meta`](crate::Meta)'s load does): a checkpoint
    /// does not change the optimizer's structure (contexts, M, clip, layout, θ's bounds).
    /// Every memory and trace is checked before anything changes (θ within bounds, finite
    /// moments, clipped finite queries, context weights a step can produce): a damaged
    /// checkpoint is [`OptimError::Corrupt`] or [`OptimError::Memory`]. All or nothing.
    fn load(&mut self, bytes: &[u8]) -> Result<(), OptimError> {
        let saved = Saved::decode(bytes)?;
        if let Some(diff) = checkpoint::config_diff(&saved.config, &self.config) {
            return Err(OptimError::Incompatible {
                reason: format!(
                    "the checkpoint was saved with another config ({diff}); build the optimizer with the saved values to resume from it"
                ),
            });
        }
        let config = self.config;
        let clip = config.memory.clip;
        let mut memories = BTreeMap::new();
        let mut traces = BTreeMap::new();
        let entries = saved
            .tensors
            .into_iter()
            .map(|(k, b, t)| (k, b, Some(t)))
            .chain(saved.forgotten.into_iter().map(|(k, b)| (k, b, None)));
        for (k, bytes, trace) in entries {
            let memory = ContextMemory::from_bytes(&bytes)?;
            if *memory.config() != config {
                return Err(OptimError::Corrupt {
                    reason: format!(
                        "the memory of tensor `{k}` was saved with another config than the checkpoint's; the checkpoint is damaged or was not written by lrmem"
                    ),
                });
            }
            if memories.insert(k.clone(), memory).is_some() {
                return Err(OptimError::Corrupt {
                    reason: format!(
                        "tensor `{k}` is saved twice; the checkpoint is damaged or was not written by lrmem"
                    ),
                });
            }
            let Some(trace) = trace else { continue };
            trace.check(&config)?;
            if let Some(bad) = trace.previous().iter().find(|z| z.abs() > clip) {
                return Err(OptimError::Corrupt {
                    reason: format!(
                        "the trace of tensor `{k}` holds {bad}, outside the memory's ±clip = ±{clip}"
                    ),
                });
            }
            traces.insert(k, trace);
        }
        self.memories = memories;
        self.traces = traces;
        Ok(())
    }
}

/// Per tensor its `trace` (the previous queries) and `weights` (the context weights of the
/// previous step); per memory, keyed by the tensor's name, `theta` and its optimizer's state
/// (a tensor whose size `next_task` forgot has its memory only).
impl Inspect for MetaContext {
    fn state(&self) -> StateView<'_> {
        let mut view = StateView::default();
        for (name, trace) in &self.traces {
            let mut f = Fields::new();
            f.insert("trace".into(), Field::Values(trace.previous()));
            f.insert("weights".into(), Field::Values(trace.weights()));
            view.tensors.insert(name.clone(), f);
        }
        for (name, memory) in &self.memories {
            view.memories.insert(
                name.clone(),
                memory_fields(memory.theta(), memory.rule_state()),
            );
        }
        view
    }
}

impl StateBytes for MetaContext {
    /// The previous query.
    fn bytes_per_coordinate(&self) -> usize {
        4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{registry, OptimizerSpec};

    fn grads(t: usize, n: usize) -> Vec<f32> {
        (0..n)
            .map(|d| {
                let x = ((d * 13 + t * 7) % 17) as f32 / 17.0 - 0.45;
                if t % 6 == 5 {
                    8.0 * x
                } else {
                    0.1 * x
                }
            })
            .collect()
    }

    /// contexts = 1 steps exactly as meta-sgd with the same memory settings.
    #[test]
    fn one_context_is_meta_sgd() {
        let mut a = "meta-ctx-sgd:contexts=1,xi=0.01"
            .parse::<OptimizerSpec>()
            .unwrap()
            .build()
            .unwrap();
        let mut b = "meta-sgd:xi=0.01"
            .parse::<OptimizerSpec>()
            .unwrap()
            .build()
            .unwrap();
        let (mut wa, mut wb) = (vec![0.5f32; 700], vec![0.5f32; 700]);
        for t in 0..30 {
            let g = grads(t, 700);
            a.step("w", &mut wa, &g).unwrap();
            b.step("w", &mut wb, &g).unwrap();
            assert_eq!(wa, wb, "step {t}");
        }
        a.next_task();
        b.next_task();
        assert_eq!(a.memory_thetas(), b.memory_thetas());
    }

    /// A checkpoint restores every memory and trace: the next steps match bit for bit; damaged
    /// bytes are an error that changes nothing.
    #[test]
    fn checkpoint_resumes_bit_for_bit() {
        let mut a = MetaContext::new(ContextConfig::default()).unwrap();
        let mut w = vec![0.3f32; 50];
        for t in 0..10 {
            a.step("w", &mut w, &grads(t, 50)).unwrap();
        }
        let bytes = a.save().unwrap();
        let mut b = MetaContext::new(ContextConfig::default()).unwrap();
        b.load(&bytes).unwrap();
        assert_eq!(a, b);
        let mut wb = w.clone();
        for t in 10..15 {
            a.step("w", &mut w, &grads(t, 50)).unwrap();
            b.step("w", &mut wb, &grads(t, 50)).unwrap();
        }
        assert_eq!(w, wb);
        let before = b.clone();
        let mut bad = bytes.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x40;
        assert!(b.load(&bad).is_err());
        assert!(b.load(&bytes[..bytes.len() - 3]).is_err());
        assert_eq!(b, before);
    }

    /// Bad input: a NaN gradient and a changed length are errors that change nothing; keys
    /// that do not apply are refused.
    #[test]
    fn bad_input_is_refused() {
        let mut opt = MetaContext::new(ContextConfig::default()).unwrap();
        let mut w = vec![1.0f32; 3];
        opt.step("w", &mut w, &[0.1, 0.2, 0.3]).unwrap();
        let (before, wb) = (opt.clone(), w.clone());
        assert!(opt.step("w", &mut w, &[0.1, f32::NAN, 0.3]).is_err());
        assert!(opt.step("w", &mut w[..2], &[0.1, 0.2]).is_err());
        assert_eq!((opt, w), (before, wb));
        for bad in [
            "meta-ctx-sgd:scale=rms",
            "meta-ctx-sgd:query=grad",
            "meta-ctx-sgd:contexts=0",
        ] {
            assert!(
                bad.parse::<OptimizerSpec>().unwrap().build().is_err(),
                "{bad}"
            );
        }
        assert!(registry().iter().any(|e| e.name == "meta-ctx-sgd"));
    }

    /// A checkpoint of another structure (contexts, M, clip, layout, θ bounds) is refused with
    /// `Incompatible`, naming the fields, as `Meta`'s is; the optimizer is unchanged.
    #[test]
    fn checkpoint_of_another_config_is_incompatible() {
        let other = ContextConfig {
            contexts: 3,
            memory: lrmem_memory_core::MemoryConfig {
                num_centers: 10,
                clip: 4.0,
                theta_max: 0.5,
                ..lrmem_memory_core::MemoryConfig::default()
            },
            ..ContextConfig::default()
        };
        let mut a = MetaContext::new(other).unwrap();
        let mut w = vec![0.3f32; 8];
        a.step("w", &mut w, &grads(0, 8)).unwrap();
        let bytes = a.save().unwrap();
        let mut b = MetaContext::new(ContextConfig::default()).unwrap();
        b.step("v", &mut [1.0f32; 2], &[0.1, 0.2]).unwrap();
        let before = b.clone();
        match b.load(&bytes) {
            Err(OptimError::Incompatible { reason }) => {
                for field in ["contexts", "num_centers", "clip", "theta_max"] {
                    assert!(reason.contains(field), "{field}: {reason}");
                }
            }
            other => panic!("{other:?}; config now {:?}", b.config()),
        }
        assert_eq!(b, before);
        // The same config loads.
        let mut c = MetaContext::new(other).unwrap();
        c.load(&bytes).unwrap();
        assert_eq!(c, a);
    }

    /// A checkpoint written before a forgotten tensor's memory could be saved on its own (its
    /// body ends after `tensors`) still loads, and resumes bit for bit.
    #[test]
    fn checkpoint_without_forgotten_memories_loads() {
        #[derive(Serialize)]
        struct Before {
            config: ContextConfig,
            tensors: Vec<(String, Vec<u8>, ContextTrace)>,
        }
        let mut a = MetaContext::new(ContextConfig::default()).unwrap();
        let mut w = vec![0.3f32; 12];
        for t in 0..4 {
            a.step("w", &mut w, &grads(t, 12)).unwrap();
        }
        let tensors = vec![(
            "w".to_owned(),
            a.memory("w").unwrap().to_bytes().unwrap(),
            a.traces["w"].clone(),
        )];
        let config = a.config;
        let old =
            crate::optimizer::checkpoint::save("MetaContext", &Before { config, tensors }).unwrap();
        let mut b = MetaContext::new(ContextConfig::default()).unwrap();
        b.load(&old).unwrap();
        assert_eq!(b, a);
        let mut wb = w.clone();
        a.step("w", &mut w, &grads(4, 12)).unwrap();
        b.step("w", &mut wb, &grads(4, 12)).unwrap();
        assert_eq!(w, wb);
    }

    /// The trace as postcard lays it out, to forge one.
    #[derive(Serialize, Deserialize)]
    struct RawTrace {
        prev: Vec<f32>,
        mean_sq: f64,
        steps: u64,
        weights: Vec<f32>,
    }

    /// A forged context weight (finite, 3e38, checksum recomputed) is refused on load with a
    /// typed error: before, it loaded, one step made the memory optimizer's moments ∞ and θ
    /// froze, and the next save did not load.
    #[test]
    fn forged_trace_weight_is_refused() {
        let mut a = MetaContext::new(ContextConfig::default()).unwrap();
        let mut w = vec![0.3f32; 20];
        for t in 0..3 {
            a.step("w", &mut w, &grads(t, 20)).unwrap();
        }
        for forge in [3e38f32, 1.5, -0.1] {
            let saved: Saved =
                crate::optimizer::checkpoint::load("MetaContext", &a.save().unwrap()).unwrap();
            let mut tensors = Vec::new();
            for (k, memory, trace) in saved.tensors {
                let mut raw: RawTrace =
                    postcard::from_bytes(&postcard::to_stdvec(&trace).unwrap()).unwrap();
                raw.weights[2] = forge;
                let trace: ContextTrace =
                    postcard::from_bytes(&postcard::to_stdvec(&raw).unwrap()).unwrap();
                tensors.push((k, memory, trace));
            }
            let forged = crate::optimizer::checkpoint::save(
                "MetaContext",
                &Saved {
                    config: saved.config,
                    tensors,
                    forgotten: Vec::new(),
                },
            )
            .unwrap();
            let mut b = MetaContext::new(ContextConfig::default()).unwrap();
            let before = b.clone();
            match b.load(&forged) {
                Err(OptimError::Memory { .. } | OptimError::Corrupt { .. }) => {}
                Ok(()) => {
                    let mut wb = w.clone();
                    b.step("w", &mut wb, &grads(3, 20)).unwrap();
                    let moments = b.memory("w").unwrap().rule_state();
                    panic!(
                        "weight {forge} loaded; after a step {} moments are not finite",
                        moments
                            .m
                            .iter()
                            .chain(&moments.v)
                            .filter(|x| !x.is_finite())
                            .count()
                    );
                }
                Err(other) => panic!("{other:?}"),
            }
            assert_eq!(b, before);
        }
    }

    /// `next_task` forgets every tensor's size, as `Meta`'s does and as the length error says,
    /// and keeps its memory's θ: the tensor may come back with another length.
    #[test]
    fn next_task_forgets_sizes_and_keeps_theta() {
        let spec = |s: &str| s.parse::<OptimizerSpec>().unwrap().build().unwrap();
        for name in ["meta-ctx-sgd:xi=0.01", "meta-sgd:xi=0.01"] {
            let mut opt = spec(name);
            let mut w = vec![0.5f32; 6];
            for t in 0..5 {
                opt.step("w", &mut w, &grads(t, 6)).unwrap();
            }
            let err = opt.step("w", &mut [0.5f32; 4], &grads(5, 4)).unwrap_err();
            assert!(err.to_string().contains("next_task"), "{name}: {err}");
            let theta = opt.memory_thetas();
            opt.next_task();
            assert_eq!(opt.memory_thetas(), theta, "{name}");
            let mut v = vec![0.5f32; 4];
            opt.step("w", &mut v, &grads(5, 4))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            // The round trip of a checkpoint keeps the memory whose tensor's size was forgotten.
            let mut fresh = spec(name);
            opt.next_task();
            let bytes = opt.save().unwrap();
            fresh.load(&bytes).unwrap();
            assert_eq!(fresh.memory_thetas(), opt.memory_thetas(), "{name}");
        }
    }
}
