//! Online binary MNIST, the papers' headline experiment: [`OnlineMnist`] (the authors' LeNet,
//! one training image per update, with an exact threshold check that classifies as few test
//! images as it can) and its sequence of digit pairs, [`MnistPairs`].

use std::sync::Arc;

use dfdx::prelude::*;
use lrmem_optimizers::Optimizer;

use crate::lenet::{Dev, Input, LeNet};
use crate::mnist::{shuffled_order, BinaryPair, Samples, PIXELS};
use crate::model::Training;
use crate::task::{Check, Metric, Task, TaskFamily};
use crate::TaskError;

/// Test images per batch in [`OnlineMnist::evaluate`]: large enough to amortise dfdx's
/// per-op overhead, small enough to keep activations in cache.
pub const EVAL_BATCH: usize = 32;

/// Online binary MNIST as in the papers: the authors' LeNet sees one training image per
/// update, in a seeded random order (cycling through the training set in the same order when
/// it runs out, as the authors' loader does); evaluation is the accuracy on all test images of
/// the two digits.
///
/// ```no_run
/// use std::sync::Arc;
/// use lrmem_tasks::{mnist::{Mnist, PixelScale}, OnlineMnist, Task};
/// use lrmem_optimizers::{Sgd, SgdConfig};
///
/// let mnist = Mnist::load(&lrmem_tasks::mnist::default_dir())?;
/// let pair = Arc::new(mnist.pair(1, 2, PixelScale::Unit)?);
/// let mut task = OnlineMnist::new(pair, 0)?;
/// let mut opt = Sgd::new(SgdConfig::with_lr(1e-3))?;
/// for _ in 0..100 {
///     task.update(&mut opt)?;
/// }
/// println!("test accuracy {:.3}", task.evaluate()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct OnlineMnist {
    net: LeNet,
    /// The network's training, and where the optimizer evaluates it (for optimizers that
    /// evaluate elsewhere than they train).
    training: Training<LeNet>,
    pair: Arc<BinaryPair>,
    order: Vec<usize>,
    updates: usize,
    /// The reused `(784, 1)` input tensor.
    x: Input,
    /// What the exact threshold check remembers between updates.
    margins: Margins,
}

impl OnlineMnist {
    /// A fresh task on `pair`: the LeNet initialised from `seed` and the training order
    /// shuffled with `seed` (independent random streams of it). Share one `pair` between runs.
    pub fn new(pair: Arc<BinaryPair>, seed: u64) -> Result<Self, TaskError> {
        if pair.train.is_empty() || pair.test.is_empty() {
            return Err(TaskError::Argument(
                "the digit pair has no training or no test images".into(),
            ));
        }
        // Denormals make the CPU kernels many times slower once activations get tiny.
        dfdx::flush_denormals_to_zero();
        let dev = Dev::default();
        // No `dev.enable_cache()`: measured 5% slower updates and 15% slower evaluation here.
        let net = LeNet::new(&dev, seed);
        let training = Training::new(&net)?;
        let order = shuffled_order(pair.train.len(), seed);
        let x = dev.try_zeros_like(&(Const::<PIXELS>, 1))?;
        let margins = Margins::new(pair.test.len());
        Ok(OnlineMnist {
            net,
            training,
            pair,
            order,
            updates: 0,
            x,
            margins,
        })
    }

    /// Training updates done so far.
    pub fn updates(&self) -> usize {
        self.updates
    }

    /// The network (e.g. to inspect or copy its weights).
    pub fn net(&self) -> &LeNet {
        &self.net
    }

    /// The digit pair the task trains on.
    pub fn pair(&self) -> &BinaryPair {
        &self.pair
    }
}

impl Task for OnlineMnist {
    fn update(&mut self, opt: &mut dyn Optimizer) -> Result<f32, TaskError> {
        // Per call, not only in `new`: the flag is per thread and a task may move.
        dfdx::flush_denormals_to_zero();
        let train = &self.pair.train;
        let i = self.order[self.updates % self.order.len()];
        self.x.copy_from(train.image(i));
        let x = &self.x;
        let value = self.training.step(&mut self.net, opt, |net, grads| {
            net.loss(net.logits(x.clone().traced(grads))?, &[train.label(i)])
        })?;
        self.updates += 1;
        Ok(value)
    }

    fn evaluate(&mut self) -> Result<f64, TaskError> {
        dfdx::flush_denormals_to_zero();
        self.training
            .evaluated(&self.net)
            .accuracy(&self.pair.test, EVAL_BATCH)
    }

    fn metric(&self) -> Metric {
        Metric::maximize("test accuracy")
    }

    /// Decides exactly whether the test accuracy reaches `threshold`, classifying as few
    /// images as it can: images in order of their last known margin (the ones it got wrong,
    /// then the ones it nearly got wrong), stopping as soon as more errors than the threshold
    /// allows have been seen. Only a model at or above the threshold needs every image; on the
    /// papers' protocol that is ≈ 70 images per update instead of 2,167.
    fn check(&mut self, threshold: f64) -> Result<Check, TaskError> {
        dfdx::flush_denormals_to_zero();
        let net = self.training.evaluated(&self.net);
        self.margins.check(net, &self.pair.test, threshold)
    }
}

/// Test images per forward pass in the threshold check.
const CHECK_BATCH: usize = 32;

/// The last known signed margin of every test image, and the order to classify them next.
#[derive(Debug, Clone)]
struct Margins {
    /// Each image's last known signed margin (> 0: classified correctly).
    margin: Vec<f32>,
    /// Images in the order to classify them next: smallest last-known margin first.
    order: Vec<usize>,
    buf: Vec<f32>,
}

impl Margins {
    fn new(n: usize) -> Self {
        Margins {
            margin: vec![0.0; n],
            order: (0..n).collect(),
            buf: Vec::with_capacity(CHECK_BATCH * PIXELS),
        }
    }

    fn check(&mut self, net: &LeNet, test: &Samples, threshold: f64) -> Result<Check, TaskError> {
        let n = test.len();
        // Accuracy ≥ threshold ⇔ correct ≥ ⌈threshold·n⌉ (less a rounding guard for
        // thresholds like 0.98 whose product with n lands just above an integer).
        let needed = (threshold * n as f64 - 1e-9).ceil().max(0.0);
        if needed > n as f64 || threshold.is_nan() {
            // More correct images than there are: no model reaches it.
            return Ok(Check {
                reached: false,
                samples: 0,
            });
        }
        let allowed = n - needed as usize;
        let labels = test.labels();
        let margin = &self.margin;
        self.order
            .sort_unstable_by(|&a, &b| margin[a].total_cmp(&margin[b]).then(a.cmp(&b)));
        let (mut errors, mut seen) = (0usize, 0u64);
        for chunk in self.order.chunks(CHECK_BATCH) {
            self.buf.clear();
            for &i in chunk {
                self.buf.extend_from_slice(test.image(i));
            }
            let logits = net.logits(net.input(&self.buf)?)?.as_vec();
            let b_n = chunk.len();
            for (b, &i) in chunk.iter().enumerate() {
                // `predict` picks class 1 only if its logit is strictly larger (ties: 0).
                let (l0, l1) = (logits[b], logits[b_n + b]);
                let m = if labels[i] == 1 { l1 - l0 } else { l0 - l1 };
                let correct = m > 0.0 || (m == 0.0 && labels[i] == 0);
                self.margin[i] = if correct {
                    m.max(f32::MIN_POSITIVE)
                } else {
                    m.min(0.0)
                };
                errors += usize::from(!correct);
            }
            seen += b_n as u64;
            if errors > allowed {
                return Ok(Check {
                    reached: false,
                    samples: seen,
                });
            }
        }
        Ok(Check {
            reached: true,
            samples: seen,
        })
    }
}

/// Sequential binary MNIST, the papers' transfer protocol: task `k` is [`OnlineMnist`] on the
/// `k`-th digit pair (the papers: 1 vs 2, then 1 vs 3, then 1 vs 4).
///
/// ```no_run
/// use std::sync::Arc;
/// use lrmem_tasks::{mnist::{Mnist, PixelScale}, MnistPairs, TaskFamily};
///
/// let mnist = Mnist::load(&lrmem_tasks::mnist::default_dir())?;
/// let family = MnistPairs::new(&mnist, &[(1, 2), (1, 3), (1, 4)], PixelScale::Unit)?;
/// let mut first = family.build(0, 7)?; // task "1 vs 2", seed 7
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct MnistPairs {
    name: String,
    pairs: Vec<Arc<BinaryPair>>,
}

impl MnistPairs {
    /// The family of `pairs` of `mnist`, pixels scaled by `scale`.
    pub fn new(
        mnist: &crate::mnist::Mnist,
        pairs: &[(u8, u8)],
        scale: crate::mnist::PixelScale,
    ) -> Result<Self, TaskError> {
        let pairs = pairs
            .iter()
            .map(|&(a, b)| Ok(Arc::new(mnist.pair(a, b, scale)?)))
            .collect::<Result<Vec<_>, TaskError>>()?;
        Self::from_pairs("mnist", pairs)
    }

    /// A family of already selected pairs (e.g. Fashion-MNIST's, or small generated ones in
    /// tests), named `name` in reports.
    pub fn from_pairs(name: &str, pairs: Vec<Arc<BinaryPair>>) -> Result<Self, TaskError> {
        if pairs.is_empty() {
            return Err(TaskError::Argument(
                "a task family needs at least one digit pair".into(),
            ));
        }
        Ok(MnistPairs {
            name: name.to_string(),
            pairs,
        })
    }

    /// The pairs, in task order.
    pub fn pairs(&self) -> &[Arc<BinaryPair>] {
        &self.pairs
    }
}

impl TaskFamily for MnistPairs {
    fn name(&self) -> &str {
        &self.name
    }

    fn len(&self) -> usize {
        self.pairs.len()
    }

    fn label(&self, k: usize) -> String {
        self.pairs
            .get(k)
            .map(|p| format!("{} vs {}", p.digits.0, p.digits.1))
            .unwrap_or_else(|| format!("task {}", k + 1))
    }

    fn metric(&self) -> Metric {
        Metric::maximize("test accuracy")
    }

    fn build(&self, k: usize, seed: u64) -> Result<Box<dyn Task>, TaskError> {
        let pair = self.pairs.get(k).ok_or_else(|| {
            TaskError::Argument(format!(
                "task {k} requested from a family of {} digit pairs",
                self.pairs.len()
            ))
        })?;
        Ok(Box::new(OnlineMnist::new(pair.clone(), seed)?))
    }
}
