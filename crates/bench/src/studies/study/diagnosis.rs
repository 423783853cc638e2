//! The diagnosis: what the memory does on the cases where it fails — θ per centre over time,
//! where the queries fall among the centres, how often the signal says "keep going", the rates
//! each layer actually gets.

use std::collections::BTreeMap;

use lrmem_optimizers::{Base, Field, Inspect, MemoryConfig, MemoryOptimizer, Meta, MetaConfig};
use lrmem_tasks::TaskFamily;
use serde::{Deserialize, Serialize};

use crate::harness::task_seed;
use crate::BenchError;

/// One diagnosed configuration: a memory over SGD or Adam.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Its name in the report.
    pub name: String,
    /// Adam's directions (`meta-adam`) instead of SGD's.
    pub adam: bool,
    /// The memory and its query.
    pub config: MetaConfig,
}

impl Case {
    /// The memory of the authors' code (their defaults: 20 centres over ±1, Adam on θ, the
    /// clipped product) at η₀ = 10⁻³ and meta learning rate `xi`, over SGD or Adam.
    pub fn authors(xi: f32, adam: bool) -> Case {
        Case {
            name: format!("{}-xi{xi}", if adam { "meta-adam" } else { "meta-sgd" }),
            adam,
            config: MetaConfig {
                memory: MemoryConfig {
                    eta0: 1e-3,
                    optimizer: MemoryOptimizer::adam(xi),
                    ..MemoryConfig::default()
                },
                ..MetaConfig::default()
            },
        }
    }

    /// Meta-Adam queried with the gradient, θ in log space (ξ = 0.01), the sign signal and
    /// the RMS-scaled query over ±3, at η₀ = 10⁻³: the development candidate that makes
    /// Meta-Adam learn.
    pub fn adam_grad() -> Case {
        Case {
            name: "adam-grad-log-sign-rms-xi0.01".into(),
            adam: true,
            config: MetaConfig {
                memory: MemoryConfig {
                    eta0: 1e-3,
                    clip: 3.0,
                    signal: lrmem_optimizers::Signal::Sign,
                    optimizer: MemoryOptimizer::adam(0.01),
                    space: lrmem_optimizers::ThetaSpace::Log,
                    scale: lrmem_optimizers::QueryScale::Rms { beta: 0.99 },
                    ..MemoryConfig::default()
                },
                query: lrmem_optimizers::Query::Gradient,
            },
        }
    }
}

/// What one tensor's memory looked like over a window of updates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorSnapshot {
    /// The tensor.
    pub tensor: String,
    /// θ per centre at the end of the window.
    pub theta: Vec<f32>,
    /// Mean, min and max of the rates its last step applied.
    pub rates: [f32; 3],
    /// Share of the window's queries nearest each centre (sums to 1).
    pub at_centre: Vec<f32>,
    /// Share of the window's queries clipped (at ±clip).
    pub clipped: f32,
    /// Share of the window's coordinates whose query kept its sign (signal > 0) among those
    /// with a non-zero signal.
    pub kept_sign: f32,
    /// RMS of the window's (clipped) queries.
    pub query_rms: f32,
}

/// The memory after `update` updates, and the task's metric then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Updates done.
    pub update: usize,
    /// The task's held-out metric.
    pub metric: f64,
    /// Every tensor with a memory.
    pub tensors: Vec<TensorSnapshot>,
}

/// What [`diagnose`] recorded for one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// The case's name.
    pub case: String,
    /// The task's label.
    pub task: String,
    /// The memory's centres.
    pub centres: Vec<f32>,
    /// The memory's clip.
    pub clip: f32,
    /// One snapshot every `every` updates.
    pub snapshots: Vec<Snapshot>,
    /// The update at which the run stopped early (loss or parameters no longer finite).
    pub diverged: Option<usize>,
}

/// Per-tensor accumulators of one window.
#[derive(Default)]
struct Window {
    counts: Vec<u64>,
    clipped: u64,
    queries: u64,
    kept: u64,
    signals: u64,
    sq: f64,
    prev: Vec<f32>,
}

impl Window {
    /// Counts one update's queries `trace` of a tensor: the nearest centre of each, whether it
    /// is clipped, whether it kept the sign of the previous update's query.
    fn observe(&mut self, trace: &[f32], centres: &[f32], clip: f32) {
        if self.counts.len() != centres.len() {
            self.counts = vec![0; centres.len()];
        }
        for (i, &z) in trace.iter().enumerate() {
            let k = centres.partition_point(|&c| c < z);
            let nearest = if k == 0 {
                0
            } else if k == centres.len() || z - centres[k - 1] <= centres[k] - z {
                k - 1
            } else {
                k
            };
            self.counts[nearest] += 1;
            self.clipped += u64::from(z.abs() >= clip);
            self.sq += f64::from(z) * f64::from(z);
            if let Some(&p) = self.prev.get(i) {
                let s = p * z;
                if s != 0.0 {
                    self.signals += 1;
                    self.kept += u64::from(s > 0.0);
                }
            }
        }
        self.queries += trace.len() as u64;
        self.prev.clear();
        self.prev.extend_from_slice(trace);
    }

    /// The window of `tensor` as a snapshot with its memory's `theta` and last `rates`; the
    /// counts start again (the last queries are kept, for the next update's signs).
    fn close(
        &mut self,
        tensor: &str,
        theta: &[f32],
        rates: [f32; 3],
        centres: usize,
    ) -> TensorSnapshot {
        let n = self.queries.max(1) as f32;
        let snapshot = TensorSnapshot {
            tensor: tensor.to_string(),
            theta: theta.to_vec(),
            rates,
            at_centre: self.counts.iter().map(|&c| c as f32 / n).collect(),
            clipped: self.clipped as f32 / n,
            kept_sign: self.kept as f32 / self.signals.max(1) as f32,
            query_rms: (self.sq / f64::from(n)).sqrt() as f32,
        };
        *self = Window {
            counts: vec![0; centres],
            prev: std::mem::take(&mut self.prev),
            ..Window::default()
        };
        snapshot
    }
}

/// Runs `case` on task `task` of `family` (seeded as the harness seeds run `seed`) for
/// `updates` updates, and records a [`Snapshot`] every `every` updates.
pub fn diagnose(
    family: &dyn TaskFamily,
    task: usize,
    seed: u64,
    case: &Case,
    updates: usize,
    every: usize,
) -> Result<Diagnosis, BenchError> {
    let err = |e: lrmem_optimizers::OptimError| BenchError::Invalid(format!("{}: {e}", case.name));
    let run = DiagnosisRun {
        family,
        task,
        seed,
        case,
        updates,
        every,
    };
    if case.adam {
        run.with(Meta::adam(case.config).map_err(err)?)
    } else {
        run.with(Meta::sgd(case.config).map_err(err)?)
    }
}

/// The arguments of [`diagnose`], for its generic half.
struct DiagnosisRun<'a> {
    family: &'a dyn TaskFamily,
    task: usize,
    seed: u64,
    case: &'a Case,
    updates: usize,
    every: usize,
}

impl DiagnosisRun<'_> {
    fn with<B: Base + Inspect>(&self, mut opt: Meta<B>) -> Result<Diagnosis, BenchError> {
        let (family, task, case) = (self.family, self.task, self.case);
        let (updates, every) = (self.updates, self.every);
        let context = || format!("diagnosis {} on {}", case.name, family.label(task));
        let task_err = |source| BenchError::Task {
            context: context(),
            source: Box::new(source),
        };
        let mut t = family
            .build(task, task_seed(self.seed, task))
            .map_err(task_err)?;
        let clip = case.config.memory.clip;
        let mut centres = Vec::new();
        let mut windows: BTreeMap<String, Window> = BTreeMap::new();
        let mut snapshots = Vec::new();
        let mut diverged = None;
        for u in 1..=updates {
            match t.update(&mut opt) {
                Ok(loss) if loss.is_finite() => {}
                _ => {
                    diverged = Some(u);
                    break;
                }
            }
            let view = opt.state();
            for (name, fields) in &view.tensors {
                let Some(Field::Values(trace)) = fields.get("trace") else {
                    continue;
                };
                if trace.is_empty() {
                    continue;
                }
                if centres.is_empty() {
                    if let Some(m) = opt.memory(name) {
                        centres = m.grid().centers().to_vec();
                    }
                }
                windows
                    .entry(name.clone())
                    .or_default()
                    .observe(trace, &centres, clip);
            }
            drop(view);
            if u % every == 0 || u == updates {
                let metric = t.evaluate().map_err(task_err)?;
                let mut tensors = Vec::new();
                for (name, w) in windows.iter_mut() {
                    let (Some(m), Some(r)) = (opt.memory(name), opt.last_rates(name)) else {
                        continue;
                    };
                    tensors.push(w.close(name, m.theta(), [r.mean, r.min, r.max], centres.len()));
                }
                snapshots.push(Snapshot {
                    update: u,
                    metric,
                    tensors,
                });
            }
        }
        Ok(Diagnosis {
            case: case.name.clone(),
            task: family.label(task),
            centres,
            clip,
            snapshots,
            diverged,
        })
    }
}

/// The diagnosed cases: the authors' memory at ξ = 0.1, 0.01 and 0.001 over SGD, at 0.01 over
/// Adam, and Meta-Adam queried with the gradient ([`Case::adam_grad`]).
pub fn cases() -> Vec<Case> {
    vec![
        Case::authors(0.1, false),
        Case::authors(0.01, false),
        Case::authors(0.001, false),
        Case::authors(0.01, true),
        Case::adam_grad(),
    ]
}
