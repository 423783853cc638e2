//! What a step costs inside real training and where its time goes: one online update of the
//! papers' models per optimizer ([`ModelRow`]), the fixed cost of stepping a tiny tensor
//! ([`FixedCost`]), and the phases of one Meta-SGD step ([`Phase`]) — the profile that says what
//! bounds a missed target.

use lrmem_memory_core::{Kernels as MemKernels, Memory, Trace};
use lrmem_optimizers::Optimizer;
use lrmem_tasks::mnist::{BinaryPair, Samples};
use lrmem_tasks::robot::{PandaForward, RobotConfig};
use lrmem_tasks::{OnlineMnist, Task, TaskFamily};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::inputs::{copy, gradients, memory_config};
use super::timing::{interleave, median, ratio};
use super::{CaseKey, Kernels, SpeedCase, SpeedError, REFERENCE};

/// The models of the per-update table: the papers' LeNet on MNIST images and the LSTM of the
/// forward-dynamics workload.
pub const MODELS: [&str; 2] = ["lenet", "lstm"];

/// The size of the tensor whose step measures the fixed cost per tensor.
pub const FIXED_D: usize = 16;

/// The sizes of the profile of a Meta-SGD step.
pub const PHASE_SIZES: [usize; 2] = [1_000, 1_000_000];

/// One online training update (forward, backward, the optimizer's step over every tensor) of
/// a model with one optimizer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRow {
    /// One of [`MODELS`].
    pub model: String,
    /// The optimizer.
    pub case: CaseKey,
    /// Median over rounds, µs per update.
    pub us_per_update: f64,
    /// Median of per-round ratios to [`REFERENCE`] (Adam) on the same model.
    pub ratio_to_adam: f64,
}

/// The cost of one step of a tensor of [`FIXED_D`] coordinates: what every tensor pays
/// whatever its size (look-ups, checks, the memory's O(M·K) work).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixedCost {
    /// The optimizer.
    pub case: CaseKey,
    /// Median over rounds, ns per step.
    pub ns_per_step: f64,
    /// Median of per-round ratios to Adam.
    pub ratio_to_adam: f64,
}

/// The phases of one Meta-SGD step (M = 20, the default kernels) on a tensor of `d`
/// coordinates, measured side by side with Adam's step and a copy of the tensor, ns per
/// coordinate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    /// The tensor size.
    pub d: usize,
    /// The kernels.
    pub kernels: Kernels,
    /// `Memory::learn`: the signal, G and the update of θ (one pass over z_{t−1} and z_t).
    pub learn_ns: f64,
    /// `Memory::step_blocks` with SGD's move: learn, then predict every rate, move the
    /// parameter and keep the trace (the second pass).
    pub step_ns: f64,
    /// The whole optimizer step (`meta-sgd:m=20`): the memory's step and the optimizer's own
    /// checks and bookkeeping.
    pub optimizer_ns: f64,
    /// Adam's whole step.
    pub adam_ns: f64,
    /// Copying the tensor (8 B per coordinate).
    pub copy_ns: f64,
}

/// `n` synthetic MNIST-sized images with binary labels: the cost of an update does not
/// depend on what the pixels show.
pub fn synthetic_images(n: usize, seed: u64) -> Samples {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let pixels = (0..n * 784)
        .map(|_| (next() % 256) as f32 / 255.0)
        .collect();
    let labels = (0..n).map(|_| (next() % 2) as u8).collect();
    Samples::new(pixels, labels).expect("whole images")
}

/// A fresh task of `model` (one of [`MODELS`]).
fn task(model: &str) -> Result<Box<dyn Task>, SpeedError> {
    let err = |e: lrmem_tasks::TaskError| SpeedError::Task(format!("{model}: {e}"));
    match model {
        "lenet" => {
            let pair = Arc::new(BinaryPair {
                digits: (1, 2),
                train: synthetic_images(256, 1),
                test: synthetic_images(16, 2),
            });
            Ok(Box::new(OnlineMnist::new(pair, 0).map_err(err)?))
        }
        _ => {
            // The forward workload's LSTM and data layout, on a little simulated data.
            let config = RobotConfig {
                train: 2,
                test: 1,
                seconds: 0.3,
                ..RobotConfig::forward()
            };
            PandaForward::new(&config)
                .and_then(|f| f.build(0, 0))
                .map_err(err)
        }
    }
}

/// The index of [`REFERENCE`] (Adam) among the entries' cases.
fn reference_index<'a>(mut keys: impl Iterator<Item = &'a CaseKey>) -> Result<usize, SpeedError> {
    let adam = CaseKey::of(REFERENCE);
    keys.position(|k| k == &adam)
        .ok_or_else(|| SpeedError::MissingCase(REFERENCE.into()))
}

/// One online update of every model with every case.
pub(super) fn measure_models(
    cases: &[SpeedCase],
    rounds: usize,
    sample_ns: f64,
) -> Result<Vec<ModelRow>, SpeedError> {
    let mut out = Vec::new();
    for model in MODELS {
        let mut entries = Vec::new();
        for case in cases {
            entries.push((CaseKey::from(case), task(model)?, case.build()?));
        }
        let times = interleave(
            &mut entries,
            rounds,
            sample_ns,
            |_| rounds,
            |(_, task, opt)| {
                task.update(opt.as_mut())
                    .map(|_| ())
                    .map_err(|e| SpeedError::Task(format!("{model}: {e}")))
            },
        )?;
        let a = reference_index(entries.iter().map(|(k, ..)| k))?;
        for (i, (key, _, _)) in entries.iter().enumerate() {
            out.push(ModelRow {
                model: model.into(),
                case: key.clone(),
                us_per_update: median(times[i].clone()) / 1e3,
                ratio_to_adam: ratio(&times[i], &times[a]),
            });
        }
    }
    Ok(out)
}

/// One step of a tensor of [`FIXED_D`] coordinates with every case.
pub(super) fn measure_fixed(
    cases: &[SpeedCase],
    rounds: usize,
    sample_ns: f64,
) -> Result<Vec<FixedCost>, SpeedError> {
    let grads = gradients(FIXED_D, 5);
    let mut entries = Vec::new();
    for case in cases {
        entries.push((CaseKey::from(case), case.build()?, vec![0.1f32; FIXED_D], 0));
    }
    let times = interleave(
        &mut entries,
        rounds,
        sample_ns,
        |_| rounds,
        |(_, opt, w, k)| {
            *k += 1;
            Ok(opt.step("w", w, &grads[*k % 2])?)
        },
    )?;
    let a = reference_index(entries.iter().map(|(k, ..)| k))?;
    Ok(entries
        .iter()
        .enumerate()
        .map(|(i, (key, ..))| FixedCost {
            case: key.clone(),
            ns_per_step: median(times[i].clone()),
            ratio_to_adam: ratio(&times[i], &times[a]),
        })
        .collect())
}

/// What one entry of the profile runs.
enum Part {
    Learn(Memory),
    Step(Memory, Trace, Vec<f32>),
    Opt(Box<dyn Optimizer + Send>, Vec<f32>),
    Copy(Vec<f32>, Vec<f32>),
}

/// The phases of a Meta-SGD step at each of [`PHASE_SIZES`].
pub(super) fn measure_phases(rounds: usize, sample_ns: f64) -> Result<Vec<Phase>, SpeedError> {
    let mut out = Vec::new();
    for d in PHASE_SIZES {
        let grads = gradients(d, 9);
        let memory = || -> Result<Memory, SpeedError> {
            let mut m = Memory::new(memory_config(20))?;
            m.set_kernels(MemKernels::Reproducible);
            Ok(m)
        };
        let build = |spec: &str| -> Result<Box<dyn Optimizer + Send>, SpeedError> {
            Ok(spec
                .parse::<lrmem_optimizers::OptimizerSpec>()?
                .build()?
                .into_box())
        };
        let mut entries = vec![
            (Part::Learn(memory()?), 0usize),
            (Part::Step(memory()?, Trace::new(d), vec![0.1; d]), 0),
            (Part::Opt(build("meta-sgd:m=20")?, vec![0.1; d]), 0),
            (Part::Opt(build(REFERENCE)?, vec![0.1; d]), 0),
            (Part::Copy(grads[0].clone(), vec![0.0; d]), 0),
        ];
        let times = interleave(
            &mut entries,
            rounds,
            sample_ns,
            |_| rounds,
            |(part, k)| {
                *k += 1;
                let (g, prev) = (&grads[*k % 2], &grads[(*k + 1) % 2]);
                match part {
                    Part::Learn(m) => m.learn(prev, g)?,
                    Part::Step(m, trace, w) => m.step_blocks(trace, g, |s, eta, z| {
                        for ((w, &e), &z) in w[s..s + eta.len()].iter_mut().zip(eta).zip(z) {
                            *w -= e * z;
                        }
                    })?,
                    Part::Opt(opt, w) => opt.step("w", w, g)?,
                    Part::Copy(src, dst) => copy(dst, src),
                }
                Ok(())
            },
        )?;
        let ns = |i: usize| median(times[i].clone()) / d as f64;
        out.push(Phase {
            d,
            kernels: Kernels::Dispatched,
            learn_ns: ns(0),
            step_ns: ns(1),
            optimizer_ns: ns(2),
            adam_ns: ns(3),
            copy_ns: ns(4),
        });
    }
    Ok(out)
}
