//! The [`Task`] trait every experiment task implements, and [`OnlineMnist`].

use std::sync::Arc;

use dfdx::prelude::*;
use optimizers::Optimizer;

use crate::adapter::Adapter;
use crate::lenet::{Dev, Input, LeNet};
use crate::mnist::{shuffled_order, BinaryPair, PIXELS};
use crate::TaskError;

/// A learning problem an optimizer is measured on: one training update at a time, and a
/// scalar evaluation in between. The harness owns the loop (how many updates, when to
/// evaluate, when to stop), so tasks stay small and every optimizer runs on every task.
///
/// `dyn Optimizer` keeps the trait object-safe: the harness can hold `Box<dyn Task>` and
/// `Box<dyn Optimizer>` for every arm of an experiment.
pub trait Task {
    /// One training update with `opt` (forward, backward, step); returns the training loss of
    /// the data it used, before the step.
    fn update(&mut self, opt: &mut dyn Optimizer) -> Result<f32, TaskError>;
    /// The task's held-out metric for the current model (for [`OnlineMnist`]: test accuracy in
    /// [0, 1], higher is better).
    fn evaluate(&mut self) -> Result<f64, TaskError>;
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
/// use tasks::{mnist::{Mnist, PixelScale}, OnlineMnist, Task};
/// use optimizers::{Sgd, SgdConfig};
///
/// let mnist = Mnist::load(&tasks::mnist::default_dir())?;
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
    adapter: Adapter,
    /// Taken by each forward pass and given back by backward.
    grads: Option<Gradients<f32, Dev>>,
    pair: Arc<BinaryPair>,
    order: Vec<usize>,
    updates: usize,
    /// The reused `(784, 1)` input tensor.
    x: Input,
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
        let adapter = Adapter::new(&net.params)?;
        let grads = Some(adapter.fresh_grads());
        let order = shuffled_order(pair.train.len(), seed);
        let x = dev.try_zeros_like(&(Const::<PIXELS>, 1))?;
        Ok(OnlineMnist {
            net,
            adapter,
            grads,
            pair,
            order,
            updates: 0,
            x,
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
        let grads = self
            .grads
            .take()
            .unwrap_or_else(|| self.adapter.fresh_grads());
        let logits = self.net.logits(self.x.clone().traced(grads))?;
        let loss = self.net.loss(logits, &[train.label(i)])?;
        let value = loss.array();
        let mut grads = loss.try_backward()?;
        let result = self.adapter.update(&mut self.net.params, &mut grads, opt);
        self.net.params.try_zero_grads(&mut grads)?;
        self.grads = Some(grads);
        result?;
        self.updates += 1;
        Ok(value)
    }

    fn evaluate(&mut self) -> Result<f64, TaskError> {
        dfdx::flush_denormals_to_zero();
        self.net.accuracy(&self.pair.test, EVAL_BATCH)
    }
}
