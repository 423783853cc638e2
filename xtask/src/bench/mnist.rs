//! The papers' headline experiment: sequential binary MNIST, online, updates to 98% test accuracy.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use optimizers::OptimError;
use serde::Serialize;
use tasks::lenet::LeNet;
use tasks::mnist::{BinaryPair, Samples, PIXELS};
use tasks::{OnlineMnist, Task, TaskError};

use super::arms::Arm;

/// How one run is carried out (the same for every arm).
#[derive(Debug, Clone, Serialize)]
pub struct Protocol {
    /// The digit pairs, learned in this order (the papers: (1,2), (1,3), (1,4)).
    pub pairs: Vec<(u8, u8)>,
    /// Test accuracy to reach (the papers: 0.98).
    pub threshold: f64,
    /// Updates per task; a run that has not reached the threshold by then is censored.
    pub cap: usize,
    /// A full test evaluation for the accuracy curve every this many updates.
    pub curve_every: usize,
}

/// Which part of the protocol a run belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Setting {
    /// Base learning rate 1e−3 for every arm, as in the papers.
    Paper,
    /// A learning-rate candidate on task 1 (picking the tuned rates).
    Tuning,
    /// Each arm at the base learning rate tuning picked for it.
    Tuned,
}

/// One run: an arm, its base learning rate and a seed, through every task of the protocol.
#[derive(Debug, Clone, Serialize)]
pub struct RunSpec {
    /// Which setting the run belongs to.
    pub setting: Setting,
    /// The optimizer family.
    pub arm: Arm,
    /// Base learning rate (η₀ for the meta arms, Δ₀ for Rprop).
    pub lr: f32,
    /// Seed of the model initialisation and the data order.
    pub seed: u64,
    /// How many of the protocol's tasks to run (tuning runs only the first).
    pub tasks: usize,
}

/// What one task of one run gave.
#[derive(Debug, Clone, Serialize)]
pub struct TaskResult {
    /// The digit pair.
    pub pair: (u8, u8),
    /// The first update after which test accuracy ≥ threshold; `None` = censored at the cap.
    pub updates_to_threshold: Option<usize>,
    /// (updates, test accuracy) every `curve_every` updates, and at the crossing.
    pub curve: Vec<(usize, f64)>,
    /// Mean wall time of one training update (forward, backward, optimizer step), µs.
    pub mean_update_us: f64,
    /// Test images classified to decide the metric (the early-exit evaluation's cost).
    pub images_evaluated: u64,
    /// The loss or a gradient became non-finite; the task stopped there (censored).
    pub diverged: bool,
}

/// One finished run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// What was run.
    pub spec: RunSpec,
    /// One result per task, in order.
    pub tasks: Vec<TaskResult>,
    /// θ of every memory at the end (meta-SGD arms), keyed by tensor.
    pub theta: Option<Vec<(String, Vec<f32>)>>,
}

/// Test images per forward pass in the threshold check.
const CHECK_BATCH: usize = 32;

/// Derives the seed of task `k` of a run from the run's seed (SplitMix64 of both).
fn task_seed(seed: u64, k: usize) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15u64.wrapping_mul(k as u64 + 1));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The test set of a pair, with what the exact threshold check remembers between updates.
pub struct TestSet {
    samples: Samples,
    /// Errors allowed while accuracy still reaches the threshold.
    allowed: usize,
    /// Each image's last known signed margin (> 0: classified correctly).
    margin: Vec<f32>,
    /// Images in the order to classify them next: smallest last-known margin first.
    order: Vec<usize>,
    buf: Vec<f32>,
}

impl TestSet {
    fn new(samples: &Samples, threshold: f64) -> Self {
        let n = samples.len();
        let needed = (threshold * n as f64 - 1e-9).ceil() as usize;
        TestSet {
            samples: samples.clone(),
            allowed: n - needed.min(n),
            margin: vec![0.0; n],
            order: (0..n).collect(),
            buf: Vec::with_capacity(CHECK_BATCH * PIXELS),
        }
    }

    /// Decides exactly whether the test accuracy of `net` reaches the threshold, classifying
    /// as few images as it can: images in order of their last known margin (the ones it got
    /// wrong, then the ones it nearly got wrong), stopping as soon as more errors than allowed
    /// have been seen. Only a model at or above the threshold needs every image classified.
    /// Returns (reached, images classified).
    fn check(&mut self, net: &LeNet) -> Result<(bool, u64)> {
        let labels = self.samples.labels();
        let margin = &self.margin;
        self.order
            .sort_unstable_by(|&a, &b| margin[a].total_cmp(&margin[b]).then(a.cmp(&b)));
        let (mut errors, mut seen) = (0usize, 0u64);
        for chunk in self.order.chunks(CHECK_BATCH) {
            self.buf.clear();
            for &i in chunk {
                self.buf.extend_from_slice(self.samples.image(i));
            }
            let logits = net.logits(net.input(&self.buf)?)?.as_vec();
            let n = chunk.len();
            for (b, &i) in chunk.iter().enumerate() {
                // `predict` picks class 1 only if its logit is strictly larger (ties: 0).
                let (l0, l1) = (logits[b], logits[n + b]);
                let m = if labels[i] == 1 { l1 - l0 } else { l0 - l1 };
                let correct = m > 0.0 || (m == 0.0 && labels[i] == 0);
                self.margin[i] = if correct {
                    m.max(f32::MIN_POSITIVE)
                } else {
                    m.min(0.0)
                };
                errors += usize::from(!correct);
            }
            seen += n as u64;
            if errors > self.allowed {
                return Ok((false, seen));
            }
        }
        Ok((true, seen))
    }
}

/// Runs one spec through its tasks. `progress` is called after each task.
pub fn run(
    spec: &RunSpec,
    protocol: &Protocol,
    pairs: &[Arc<BinaryPair>],
    mut progress: impl FnMut(usize),
) -> Result<RunResult> {
    let mut opt = spec.arm.build(spec.lr)?;
    let mut results = Vec::new();
    for (k, pair) in pairs.iter().take(spec.tasks).enumerate() {
        if k > 0 {
            if spec.arm.reloads() {
                opt.reload();
            } else {
                opt = spec.arm.build(spec.lr)?;
            }
        }
        let mut task = OnlineMnist::new(pair.clone(), task_seed(spec.seed, k))?;
        let mut test = TestSet::new(&pair.test, protocol.threshold);
        let mut crossed = None;
        let mut curve = Vec::new();
        let mut images = 0u64;
        let mut train_time = 0.0f64;
        let mut diverged = false;
        let mut done = 0usize;
        for t in 1..=protocol.cap {
            let start = Instant::now();
            let step = task.update(opt.optimizer());
            train_time += start.elapsed().as_secs_f64();
            match step {
                Ok(loss) if loss.is_finite() => {}
                // Diverged (the loss or a gradient left the floats): censored, like a run
                // that never reaches the threshold.
                Ok(_)
                | Err(TaskError::Optim {
                    source: OptimError::NonFiniteGradient { .. },
                    ..
                }) => {
                    diverged = true;
                    break;
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!(
                            "{} seed {} task {:?} update {t}",
                            spec.arm.name(),
                            spec.seed,
                            pair.digits
                        )
                    })
                }
            }
            done = t;
            if crossed.is_none() {
                let (reached, seen) = test.check(task.net())?;
                images += seen;
                if reached {
                    crossed = Some(t);
                    curve.push((t, task.evaluate()?));
                }
            }
            if t % protocol.curve_every == 0 {
                curve.push((t, task.evaluate()?));
            }
        }
        results.push(TaskResult {
            pair: pair.digits,
            updates_to_threshold: crossed,
            curve,
            mean_update_us: train_time * 1e6 / done.max(1) as f64,
            images_evaluated: images,
            diverged,
        });
        progress(k);
    }
    Ok(RunResult {
        spec: spec.clone(),
        tasks: results,
        theta: opt.theta_summary(),
    })
}
