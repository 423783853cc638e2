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

use lrmem_memory_core::{ContextConfig, ContextMemory, ContextTrace};
use serde::{Deserialize, Serialize};

use crate::optimizer::inputs::{check_inputs, check_length};
use crate::optimizer::state::{Field, Fields, Inspect, StateView};
use crate::optimizer::{Checkpoint, OptimError, Optimizer, StateBytes};
use crate::wrappers::meta::memory_fields;

/// One tensor's memory and trace.
#[derive(Debug, Clone, PartialEq)]
struct Tensor {
    memory: ContextMemory,
    trace: ContextTrace,
}

/// SGD with every tensor's learning rates from its own [`ContextMemory`], learned online:
/// `w[d] −= η̂(clip(g[d]), c_t) · clip(g[d])`. [`Optimizer::next_task`] keeps θ (as the
/// memory's `reload` says) and forgets the traces.
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
    tensors: BTreeMap<String, Tensor>,
}

impl MetaContext {
    /// Validates `config`. Its `memory.eta0` is η₀ (every θ starts there), its
    /// `memory.non_finite` the policy for NaN/∞ gradients.
    pub fn new(config: ContextConfig) -> Result<Self, OptimError> {
        config.validate()?;
        Ok(MetaContext {
            config,
            tensors: BTreeMap::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ContextConfig {
        &self.config
    }

    /// The memory of tensor `name` (after its first step).
    pub fn memory(&self, name: &str) -> Option<&ContextMemory> {
        self.tensors.get(name).map(|t| &t.memory)
    }
}

impl Optimizer for MetaContext {
    /// The step's checks (the gradient under the memory's policy, the tensor's length),
    /// changing nothing.
    fn check_step(&self, name: &str, params: &[f32], grads: &[f32]) -> Result<(), OptimError> {
        check_inputs(name, params, grads, self.config.memory.non_finite)?;
        if let Some(t) = self.tensors.get(name) {
            let what = "params (the tensor had another length at its first step)";
            check_length(name, what, t.trace.len(), params.len())?;
        }
        Ok(())
    }

    fn step(&mut self, name: &str, params: &mut [f32], grads: &[f32]) -> Result<(), OptimError> {
        let grads = check_inputs(name, params, grads, self.config.memory.non_finite)?;
        let n = params.len();
        if !self.tensors.contains_key(name) {
            let fresh = Tensor {
                memory: ContextMemory::new(self.config)?,
                trace: ContextTrace::new(n),
            };
            self.tensors.insert(name.to_owned(), fresh);
        }
        let t = self.tensors.get_mut(name).expect("inserted above");
        let what = "params (the tensor had another length at its first step)";
        check_length(name, what, t.trace.len(), n)?;
        t.memory
            .step_blocks(&mut t.trace, &grads, |start, eta, zc| {
                let w = &mut params[start..start + eta.len()];
                for ((w, &e), &z) in w.iter_mut().zip(eta).zip(zc) {
                    *w -= e * z;
                }
            })
            .map_err(|source| OptimError::Memory {
                tensor: Some(name.to_owned()),
                source,
            })
    }

    fn next_task(&mut self) {
        for t in self.tensors.values_mut() {
            t.memory.next_task();
            t.trace.reset();
        }
    }

    fn memory_thetas(&self) -> Vec<(String, Vec<f32>)> {
        self.tensors
            .iter()
            .map(|(k, t)| (k.clone(), t.memory.theta().to_vec()))
            .collect()
    }
}

/// The checkpoint body: the config, then per tensor its memory's own saved bytes and its
/// trace.
#[derive(Serialize, Deserialize)]
struct Saved {
    config: ContextConfig,
    tensors: Vec<(String, Vec<u8>, ContextTrace)>,
}

impl Checkpoint for MetaContext {
    fn save(&self) -> Result<Vec<u8>, OptimError> {
        let mut tensors = Vec::with_capacity(self.tensors.len());
        for (k, t) in &self.tensors {
            tensors.push((k.clone(), t.memory.to_bytes()?, t.trace.clone()));
        }
        crate::optimizer::checkpoint::save(
            "MetaContext",
            &Saved {
                config: self.config,
                tensors,
            },
        )
    }

    /// Restores the saved config and every tensor's memory and trace; each memory and trace is
    /// checked (θ within bounds, finite moments, clipped finite queries, the saved config's
    /// K) before anything changes.
    fn load(&mut self, bytes: &[u8]) -> Result<(), OptimError> {
        let saved: Saved = crate::optimizer::checkpoint::load("MetaContext", bytes)?;
        saved.config.validate().map_err(|e| OptimError::Corrupt {
            reason: format!("the saved config is invalid: {e}"),
        })?;
        let clip = saved.config.memory.clip;
        let mut tensors = BTreeMap::new();
        for (k, bytes, trace) in saved.tensors {
            let memory = ContextMemory::from_bytes(&bytes)?;
            if *memory.config() != saved.config {
                return Err(OptimError::Corrupt {
                    reason: format!(
                        "the memory of tensor `{k}` was saved with another config than the checkpoint's; the checkpoint is damaged or was not written by lrmem"
                    ),
                });
            }
            trace.check(&saved.config)?;
            if let Some(bad) = trace.previous().iter().find(|z| z.abs() > clip) {
                return Err(OptimError::Corrupt {
                    reason: format!(
                        "the trace of tensor `{k}` holds {bad}, outside the memory's ±clip = ±{clip}"
                    ),
                });
            }
            tensors.insert(k, Tensor { memory, trace });
        }
        self.config = saved.config;
        self.tensors = tensors;
        Ok(())
    }
}

/// Per tensor its `trace` (the previous queries) and `weights` (the context weights of the
/// previous step); per memory, keyed by the tensor's name, `theta` and its optimizer's state.
impl Inspect for MetaContext {
    fn state(&self) -> StateView<'_> {
        let mut view = StateView::default();
        for (name, t) in &self.tensors {
            let mut f = Fields::new();
            f.insert("trace".into(), Field::Values(t.trace.previous()));
            f.insert("weights".into(), Field::Values(t.trace.weights()));
            view.tensors.insert(name.clone(), f);
            view.memories.insert(
                name.clone(),
                memory_fields(t.memory.theta(), t.memory.rule_state()),
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
}
