//! The [`Task`] and [`TaskFamily`] traits every experiment workload implements, and
//! [`OnlineMnist`] with its task family [`MnistPairs`].

use std::sync::Arc;

use dfdx::prelude::*;
use lrmem_optimizers::Optimizer;

use crate::lenet::{Dev, Input, LeNet};
use crate::mnist::{shuffled_order, BinaryPair, Samples, PIXELS};
use crate::model::Training;
use crate::TaskError;

/// Which way a task's held-out metric improves. The harness needs it to decide when a
/// threshold is reached (accuracy: at or above; NMSE, a loss, M_global: at or below).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Goal {
    /// Higher is better (accuracy).
    Maximize,
    /// Lower is better (errors, losses).
    Minimize,
}

/// The held-out metric of a task: its name (for reports) and which way it improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Metric {
    /// Short name, e.g. `"test accuracy"`.
    pub name: &'static str,
    /// Which way it improves.
    pub goal: Goal,
}

impl Metric {
    /// A metric where higher is better.
    pub const fn maximize(name: &'static str) -> Self {
        Metric {
            name,
            goal: Goal::Maximize,
        }
    }

    /// A metric where lower is better.
    pub const fn minimize(name: &'static str) -> Self {
        Metric {
            name,
            goal: Goal::Minimize,
        }
    }

    /// Whether `value` has reached `threshold`: `value ≥ threshold` when maximising,
    /// `value ≤ threshold` when minimising. NaN never reaches anything.
    ///
    /// ```
    /// use lrmem_tasks::Metric;
    /// assert!(Metric::maximize("accuracy").reached(0.99, 0.98));
    /// assert!(!Metric::minimize("nmse").reached(0.2, 0.1));
    /// assert!(!Metric::minimize("nmse").reached(f64::NAN, 0.1));
    /// ```
    pub fn reached(&self, value: f64, threshold: f64) -> bool {
        match self.goal {
            Goal::Maximize => value >= threshold,
            Goal::Minimize => value <= threshold,
        }
    }
}

/// What a threshold check decided, and what it cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    /// Whether the metric has reached the threshold (exactly as a full evaluation would say).
    pub reached: bool,
    /// Held-out samples evaluated to decide it (the check's cost, for reports).
    pub samples: u64,
}

/// An 8-bit grey picture of what a model makes (a GAN's samples), row after row; black 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `width·height` grey levels, row after row.
    pub pixels: Vec<u8>,
}

impl Picture {
    /// A grid of square grey tiles (values in [0, 1], each `side·side`, row after row) with
    /// `columns` tiles a row and a one-pixel mid-grey gap between tiles; `None` without tiles.
    pub fn grid(tiles: &[Vec<f32>], side: usize, columns: usize) -> Option<Picture> {
        if tiles.is_empty() || side == 0 || columns == 0 {
            return None;
        }
        let columns = columns.min(tiles.len());
        let rows = tiles.len().div_ceil(columns);
        let (width, height) = (columns * (side + 1) - 1, rows * (side + 1) - 1);
        let mut pixels = vec![128u8; width * height];
        for (i, tile) in tiles.iter().enumerate() {
            let (x0, y0) = ((i % columns) * (side + 1), (i / columns) * (side + 1));
            for (j, &v) in tile.iter().take(side * side).enumerate() {
                let grey = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                pixels[(y0 + j / side) * width + x0 + j % side] = grey;
            }
        }
        Some(Picture {
            width,
            height,
            pixels,
        })
    }
}

/// A learning problem an optimizer is measured on: one training update at a time, and a
/// scalar held-out metric in between. The harness owns the loop (how many updates, when to
/// evaluate, when to stop), so tasks stay small and every optimizer runs on every task.
///
/// `dyn Optimizer` keeps the trait object-safe: the harness holds `Box<dyn Task>` and
/// `Box<dyn Optimizer>` for every arm of an experiment.
pub trait Task {
    /// One training update with `opt` (forward, backward, one step over every tensor);
    /// returns the training loss of the data it used, before the step.
    fn update(&mut self, opt: &mut dyn Optimizer) -> Result<f32, TaskError>;

    /// The held-out metric of the current model (see [`Task::metric`]).
    fn evaluate(&mut self) -> Result<f64, TaskError>;

    /// What [`Task::evaluate`] measures and which way it improves.
    fn metric(&self) -> Metric;

    /// Whether the held-out metric has reached `threshold`, exactly as
    /// `self.metric().reached(self.evaluate()?, threshold)` would say. The default does just
    /// that; a task can answer more cheaply (see [`OnlineMnist`], which stops classifying as
    /// soon as too many test images are wrong), since the harness asks after every update.
    fn check(&mut self, threshold: f64) -> Result<Check, TaskError> {
        let value = self.evaluate()?;
        Ok(Check {
            reached: self.metric().reached(value, threshold),
            samples: 0,
        })
    }

    /// Held-out numbers worth recording at the end of a task besides the metric, as
    /// (name, value): e.g. a forward-dynamics model's next-state NMSE and the copy baseline
    /// it is compared with. The harness records them once per task, after the last update.
    /// The default has none.
    fn extra_metrics(&mut self) -> Result<Vec<(String, f64)>, TaskError> {
        Ok(Vec::new())
    }

    /// Held-out numbers recorded beside the metric at every point of its curve, as (name,
    /// value): e.g. a GAN's Fréchet distance, too costly for the threshold checks that
    /// evaluate the metric far more often. The default has none.
    fn curve_metrics(&mut self) -> Result<Vec<(String, f64)>, TaskError> {
        Ok(Vec::new())
    }

    /// A picture of what the model makes, for people to judge by looking (a GAN's samples
    /// from fixed noise); the harness takes it once per task, after the last update. The
    /// default has none.
    fn picture(&mut self) -> Result<Option<Picture>, TaskError> {
        Ok(None)
    }

    /// One training update with an optimizer per player, in the order of
    /// [`TaskFamily::players`]: a GAN's generator and discriminator each step with their own
    /// (so that an optimizer's statistics across tensors, or a memory of learning rates, stay
    /// with one player). The default, for the one-player tasks, calls [`Task::update`] with the
    /// only optimizer; any other count is a [`TaskError::Argument`].
    fn update_players(&mut self, opts: &mut [&mut dyn Optimizer]) -> Result<f32, TaskError> {
        match opts {
            [opt] => self.update(&mut **opt),
            _ => Err(TaskError::Argument(format!(
                "{} optimizers for a task of one player; pass one",
                opts.len()
            ))),
        }
    }
}

/// The player names of a one-player task: [`TaskFamily::players`]'s default.
pub const ONE_PLAYER: &[&str] = &["model"];

/// A sequence of related tasks (MNIST digit pairs today; robot payloads or GAN data sets
/// tomorrow): the harness builds the `k`-th task of a run for a seed, and a transfer arm
/// carries its optimizer's learned state from task `k` to task `k + 1`.
///
/// `Sync` because one family serves every worker thread of an experiment; the tasks it builds
/// stay on the thread that built them.
pub trait TaskFamily: Sync {
    /// Short name of the workload, e.g. `"mnist"`.
    fn name(&self) -> &str;
    /// How many tasks the sequence has.
    fn len(&self) -> usize;
    /// `true` for a family without tasks.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// A label of task `k` for reports, e.g. `"1 vs 2"`.
    fn label(&self, k: usize) -> String;
    /// The metric every task of the family reports.
    fn metric(&self) -> Metric;
    /// Task `k` (0-based), fresh, with its model initialised and its data ordered from `seed`.
    /// `k >= len()` is an error.
    fn build(&self, k: usize, seed: u64) -> Result<Box<dyn Task>, TaskError>;
    /// The players of every task, each stepped by an optimizer of its own
    /// ([`Task::update_players`]), e.g. `["generator", "discriminator"]`. Default
    /// [`ONE_PLAYER`].
    fn players(&self) -> &'static [&'static str] {
        ONE_PLAYER
    }
}

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
/// let mut opt = Sgd::new(SgdConfig { lr: 1e-3, ..SgdConfig::default() })?;
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

/// The evaluation bookkeeping of tasks that evaluate periodically (the robot and GAN tasks):
/// the latest full evaluation (cached while the model does not change) and the metric, to be
/// minimised, at the latest multiple of `eval_every`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Evals<V> {
    eval_every: usize,
    /// (update, value) of the latest full evaluation.
    last: Option<(usize, V)>,
    /// The metric at the latest multiple of `eval_every` evaluated by a check.
    checked: Option<f64>,
}

impl<V: Copy> Evals<V> {
    pub(crate) fn new(eval_every: usize) -> Self {
        Evals {
            eval_every,
            last: None,
            checked: None,
        }
    }

    /// The full evaluation at `updates` (`eval` runs unless the cache has it).
    pub(crate) fn at(
        &mut self,
        updates: usize,
        eval: impl FnOnce() -> Result<V, TaskError>,
    ) -> Result<(V, bool), TaskError> {
        match self.last {
            Some((u, v)) if u == updates => Ok((v, false)),
            _ => {
                let v = eval()?;
                self.last = Some((updates, v));
                Ok((v, true))
            }
        }
    }

    /// The check at `updates`: a full evaluation when `updates` is a multiple of
    /// `eval_every`, else the answer of the latest one; `samples` is the cost of one
    /// evaluation.
    pub(crate) fn check(
        &mut self,
        updates: usize,
        threshold: f64,
        samples: u64,
        metric: impl Fn(&V) -> f64,
        eval: impl FnOnce() -> Result<V, TaskError>,
    ) -> Result<Check, TaskError> {
        let mut cost = 0;
        if updates.is_multiple_of(self.eval_every) {
            let (v, ran) = self.at(updates, eval)?;
            self.checked = Some(metric(&v));
            cost = if ran { samples } else { 0 };
        }
        Ok(Check {
            reached: self
                .checked
                .is_some_and(|v| Metric::minimize("").reached(v, threshold)),
            samples: cost,
        })
    }
}

/// The error for task `k` of a family of `n`.
pub(crate) fn no_task(k: usize, n: usize) -> TaskError {
    TaskError::Argument(format!("task {k} requested from a family of {n} tasks"))
}

#[cfg(test)]
mod tests {
    use super::Picture;

    #[test]
    fn a_grid_places_tiles_row_after_row_with_grey_gaps() {
        // Three 2×2 tiles, two a row: a 5×5 picture, the fourth place left grey.
        let tiles = vec![vec![0.0; 4], vec![1.0; 4], vec![-3.0, 0.5, 2.0, f32::NAN]];
        let p = Picture::grid(&tiles, 2, 2).unwrap();
        assert_eq!((p.width, p.height), (5, 5));
        #[rustfmt::skip]
        let want = [
            0, 0, 128, 255, 255,
            0, 0, 128, 255, 255,
            128, 128, 128, 128, 128,
            0, 128, 128, 128, 128,
            255, 0, 128, 128, 128,
        ];
        // Out-of-range values clamp; NaN clamps to black (f32::clamp keeps NaN, `as u8` maps
        // it to 0).
        assert_eq!(p.pixels, want);
        assert!(Picture::grid(&[], 2, 2).is_none());
        assert!(Picture::grid(&tiles, 0, 2).is_none());
        assert_eq!(Picture::grid(&tiles, 2, 9).unwrap().width, 3 * 3 - 1);
    }
}
