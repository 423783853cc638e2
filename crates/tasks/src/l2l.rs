//! The learned LSTM optimizer's task families and its meta-training (Andrychowicz et al. 2016,
//! "Learning to learn by gradient descent by gradient descent").
//!
//! The network and its backward pass through time are the optimizer crate's
//! (`lrmem_optimizers::l2l`); this module holds what it is trained and measured on, as in the
//! paper:
//!
//! - [`Quadratics`]: f(θ) = mean over 128 instances of ‖W θ − y‖², W ∈ R¹⁰ˣ¹⁰ and y ∈ R¹⁰
//!   standard normal, θ₀ ~ N(0, 0.01²) (the authors' code's `quadratic` problem: 1,280
//!   coordinates).
//! - [`MnistMlp`]: an MLP with one hidden layer of 20 sigmoid units on MNIST (the training
//!   split, pixels in [0, 1]), softmax cross-entropy on minibatches of 128 (15,910 coordinates).
//!   Weights uniform in ±1/√fan_in, biases 0 (PyTorch's `nn.Linear` scheme; the authors' code
//!   uses sonnet's truncated normal of the same scale).
//!
//! [`meta_train`]: each epoch samples a new instance and runs the LSTM on it for 100 steps in
//! unrolls of 20; after each unroll, the meta-loss (the sum of the optimizee's losses over the
//! unroll) is backpropagated through the 20 steps with the optimizee's gradients held as inputs
//! (the paper drops second derivatives) and φ takes an Adam step (10⁻³). θ and the LSTM state
//! carry over from one unroll to the next without gradient (truncated BPTT). Every
//! `eval_every` epochs the weights run on fixed validation instances and the best so far are
//! kept, as the authors' `train.py` keeps the best by evaluation.
//!
//! Instances are drawn from seeds: meta-training from one stream, validation from another, and
//! what an experiment reports from a third ([`HELD_OUT_SEED_MIX`]), so that the reported
//! instances are never trained or selected on.

use std::sync::Arc;
use std::time::Instant;

use lrmem_optimizers::l2l::{self, L2lWeights, TAPE_PER_COORDINATE};
use lrmem_optimizers::{Adam, AdamConfig, Optimizer, Tensor};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::mnist::{Mnist, PIXELS};
use crate::random::{portable_normal, uniform};
use crate::TaskError;

/// Mixed into a seed for meta-training instances.
pub const TRAIN_SEED_MIX: u64 = 0x7A3E_11C0_0000_0000;
/// Mixed into a seed for the validation instances meta-training selects weights on.
pub const VALIDATION_SEED_MIX: u64 = 0x5EED_0000_7A11_0000;
/// Mixed into a seed for the instances an experiment reports (never trained or selected on).
pub const HELD_OUT_SEED_MIX: u64 = 0x0D0E_5000_0000_4E1D;

/// One optimization problem: a loss with its gradient, and where to start.
pub trait Problem: Send {
    /// The starting point θ₀.
    fn start(&self) -> Vec<f32>;

    /// The tensors of θ as the optimizer should see them: (name, range of θ).
    fn tensors(&self) -> Vec<(&'static str, std::ops::Range<usize>)>;

    /// The loss at θ and its gradient into `grad`. Stochastic problems draw their next
    /// minibatch on every call, so calls must come in step order.
    fn loss_grad(&mut self, theta: &[f32], grad: &mut [f32]) -> f32;

    /// A loss on data the steps never saw (MNIST's test split), if the problem has one.
    fn held_out_loss(&self, _theta: &[f32]) -> Option<(f64, f64)> {
        None
    }
}

/// A family of problems, one per seed, and the output scale the paper trains its LSTM with.
pub trait Family: Sync {
    /// Short name (`quadratic`, `mnist`).
    fn name(&self) -> &'static str;
    /// The LSTM's output scale for this family (the paper's: 1 for the quadratics, 0.01 for
    /// MNIST).
    fn scale(&self) -> f32;
    /// The instance of `seed`.
    fn instance(&self, seed: u64) -> Box<dyn Problem>;
}

/// A standard normal draw, reproducible on every machine.
fn normal(rng: &mut ChaCha8Rng) -> f32 {
    portable_normal(rng) as f32
}

/// Random 10-D quadratics, 128 at a time (the paper's first family).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quadratics {
    /// Dimensions of one quadratic (10).
    pub dims: usize,
    /// Quadratics per problem, their losses averaged (128).
    pub batch: usize,
}

impl Default for Quadratics {
    fn default() -> Self {
        Quadratics {
            dims: 10,
            batch: 128,
        }
    }
}

struct Quadratic {
    dims: usize,
    batch: usize,
    w: Vec<f32>,
    y: Vec<f32>,
    start: Vec<f32>,
}

impl Family for Quadratics {
    fn name(&self) -> &'static str {
        "quadratic"
    }
    fn scale(&self) -> f32 {
        1.0
    }
    fn instance(&self, seed: u64) -> Box<dyn Problem> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (d, b) = (self.dims, self.batch);
        let w = (0..b * d * d).map(|_| normal(&mut rng)).collect();
        let y = (0..b * d).map(|_| normal(&mut rng)).collect();
        let start = (0..b * d).map(|_| 0.01 * normal(&mut rng)).collect();
        Box::new(Quadratic {
            dims: d,
            batch: b,
            w,
            y,
            start,
        })
    }
}

impl Problem for Quadratic {
    fn start(&self) -> Vec<f32> {
        self.start.clone()
    }
    fn tensors(&self) -> Vec<(&'static str, std::ops::Range<usize>)> {
        vec![("theta", 0..self.start.len())]
    }
    fn loss_grad(&mut self, theta: &[f32], grad: &mut [f32]) -> f32 {
        let d = self.dims;
        let mut loss = 0.0f64;
        let scale = 2.0 / self.batch as f32;
        let mut r = vec![0.0f32; d];
        for b in 0..self.batch {
            let th = &theta[b * d..(b + 1) * d];
            let w = &self.w[b * d * d..(b + 1) * d * d];
            for (i, ri) in r.iter_mut().enumerate() {
                let row = &w[i * d..(i + 1) * d];
                *ri = row.iter().zip(th).map(|(a, x)| a * x).sum::<f32>() - self.y[b * d + i];
                loss += f64::from(*ri * *ri);
            }
            let g = &mut grad[b * d..(b + 1) * d];
            g.fill(0.0);
            for (i, &ri) in r.iter().enumerate() {
                for (gj, &a) in g.iter_mut().zip(&w[i * d..(i + 1) * d]) {
                    *gj += scale * a * ri;
                }
            }
        }
        (loss / self.batch as f64) as f32
    }
}

/// The MNIST MLP of the paper: 784 → 20 sigmoid → 10, minibatches of 128.
#[derive(Debug, Clone)]
pub struct MnistMlp {
    data: Arc<MnistData>,
    /// Hidden units (20).
    pub hidden: usize,
    /// Minibatch size (128).
    pub batch: usize,
}

/// MNIST's pixels in [0, 1] and labels, both splits.
#[derive(Debug)]
struct MnistData {
    train: Vec<f32>,
    train_labels: Vec<u8>,
    test: Vec<f32>,
    test_labels: Vec<u8>,
}

const CLASSES: usize = 10;

impl MnistMlp {
    /// The family on `mnist` (its training split for steps, its test split for
    /// [`Problem::held_out_loss`]).
    pub fn new(mnist: &Mnist) -> Self {
        let px = |p: &[u8]| {
            p.iter()
                .map(|&v| f32::from(v) / 255.0)
                .collect::<Vec<f32>>()
        };
        MnistMlp {
            data: Arc::new(MnistData {
                train: px(&mnist.train.images.pixels),
                train_labels: mnist.train.labels.clone(),
                test: px(&mnist.test.images.pixels),
                test_labels: mnist.test.labels.clone(),
            }),
            hidden: 20,
            batch: 128,
        }
    }
}

struct Mlp {
    data: Arc<MnistData>,
    hidden: usize,
    batch: usize,
    rng: ChaCha8Rng,
    start: Vec<f32>,
}

impl Family for MnistMlp {
    fn name(&self) -> &'static str {
        "mnist"
    }
    fn scale(&self) -> f32 {
        0.01
    }
    fn instance(&self, seed: u64) -> Box<dyn Problem> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let h = self.hidden;
        // U(±1/√fan_in), weights first.
        let mut draw = |n: usize, fan_in: usize| uniform(&mut rng, n, 1.0 / (fan_in as f32).sqrt());
        let mut start = draw(PIXELS * h, PIXELS);
        start.extend(vec![0.0; h]);
        start.extend(draw(h * CLASSES, h));
        start.extend(vec![0.0; CLASSES]);
        Box::new(Mlp {
            data: self.data.clone(),
            hidden: h,
            batch: self.batch,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x0BA7_C4E5),
            start,
        })
    }
}

impl Mlp {
    /// Offsets of W₁ (784 × h, row per pixel), b₁, W₂ (h × 10), b₂.
    fn offsets(&self) -> [usize; 4] {
        let h = self.hidden;
        [0, PIXELS * h, PIXELS * h + h, PIXELS * h + h + h * CLASSES]
    }

    /// Mean cross-entropy over `idx` of `images`, and its gradient if `grad` is given.
    fn run(
        &self,
        theta: &[f32],
        images: &[f32],
        labels: &[u8],
        idx: &[usize],
        mut grad: Option<&mut [f32]>,
    ) -> (f64, usize) {
        let h = self.hidden;
        let [w1, b1, w2, b2] = self.offsets();
        let mut hid = vec![0.0f32; h];
        let mut logits = [0.0f32; CLASSES];
        let mut dh = vec![0.0f32; h];
        let (mut loss, mut correct) = (0.0f64, 0usize);
        if let Some(g) = grad.as_deref_mut() {
            g.fill(0.0);
        }
        let inv = 1.0 / idx.len() as f32;
        for &i in idx {
            let x = &images[i * PIXELS..(i + 1) * PIXELS];
            hid.copy_from_slice(&theta[b1..b1 + h]);
            for (k, &v) in x.iter().enumerate() {
                if v != 0.0 {
                    for (a, &w) in hid.iter_mut().zip(&theta[w1 + k * h..w1 + (k + 1) * h]) {
                        *a += v * w;
                    }
                }
            }
            // σ, its argument clamped to ±40 (beyond, σ is 0 or 1 to 5·10⁻¹⁸ and tinier values
            // would breed slow subnormal numbers).
            hid.iter_mut()
                .for_each(|a| *a = 1.0 / (1.0 + l2l::exp(-a.clamp(-40.0, 40.0))));
            logits.copy_from_slice(&theta[b2..b2 + CLASSES]);
            for (j, &a) in hid.iter().enumerate() {
                for (l, &w) in logits
                    .iter_mut()
                    .zip(&theta[w2 + j * CLASSES..w2 + (j + 1) * CLASSES])
                {
                    *l += a * w;
                }
            }
            let max = logits.iter().fold(f32::NEG_INFINITY, |m, &l| m.max(l));
            let mut p = [0.0f32; CLASSES];
            let mut sum = 0.0f32;
            for (pi, &l) in p.iter_mut().zip(&logits) {
                *pi = l2l::exp(l - max);
                sum += *pi;
            }
            let label = labels[i] as usize;
            loss += f64::from(libm::logf(sum) + max - logits[label]);
            let best = (0..CLASSES)
                .max_by(|&a, &b| logits[a].total_cmp(&logits[b]).then(b.cmp(&a)))
                .unwrap_or(0);
            correct += usize::from(best == label);
            let Some(g) = grad.as_deref_mut() else {
                continue;
            };
            // dL/dlogits = (softmax − onehot) / batch.
            let mut dl = [0.0f32; CLASSES];
            for (c, d) in dl.iter_mut().enumerate() {
                *d = (p[c] / sum - f32::from(u8::from(c == label))) * inv;
            }
            for (gb, &d) in g[b2..b2 + CLASSES].iter_mut().zip(&dl) {
                *gb += d;
            }
            for j in 0..h {
                let row = w2 + j * CLASSES;
                let mut s = 0.0f32;
                for c in 0..CLASSES {
                    g[row + c] += hid[j] * dl[c];
                    s += theta[row + c] * dl[c];
                }
                let d = s * hid[j] * (1.0 - hid[j]);
                dh[j] = if d.abs() < 1e-30 { 0.0 } else { d };
            }
            for (gb, &d) in g[b1..b1 + h].iter_mut().zip(&dh) {
                *gb += d;
            }
            for (k, &v) in x.iter().enumerate() {
                if v != 0.0 {
                    for (gw, &d) in g[w1 + k * h..w1 + (k + 1) * h].iter_mut().zip(&dh) {
                        *gw += v * d;
                    }
                }
            }
        }
        (loss / idx.len() as f64, correct)
    }
}

impl Problem for Mlp {
    fn start(&self) -> Vec<f32> {
        self.start.clone()
    }
    fn tensors(&self) -> Vec<(&'static str, std::ops::Range<usize>)> {
        let [w1, b1, w2, b2] = self.offsets();
        vec![
            ("fc1.weight", w1..b1),
            ("fc1.bias", b1..w2),
            ("fc2.weight", w2..b2),
            ("fc2.bias", b2..self.start.len()),
        ]
    }
    fn loss_grad(&mut self, theta: &[f32], grad: &mut [f32]) -> f32 {
        let n = self.data.train_labels.len() as u64;
        let idx: Vec<usize> = (0..self.batch)
            .map(|_| (self.rng.next_u64() % n) as usize)
            .collect();
        let data = self.data.clone();
        self.run(theta, &data.train, &data.train_labels, &idx, Some(grad))
            .0 as f32
    }
    fn held_out_loss(&self, theta: &[f32]) -> Option<(f64, f64)> {
        let n = self.data.test_labels.len();
        let idx: Vec<usize> = (0..n).collect();
        let (loss, correct) = self.run(theta, &self.data.test, &self.data.test_labels, &idx, None);
        Some((loss, correct as f64 / n as f64))
    }
}

/// Meta-training settings (the paper's by default, but for the number of epochs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetaTraining {
    /// Instances trained on, one per epoch.
    pub epochs: usize,
    /// Steps per instance (100).
    pub horizon: usize,
    /// Steps per truncated BPTT unroll (20).
    pub unroll: usize,
    /// Adam's learning rate on φ (10⁻³).
    pub lr: f32,
    /// LogAndSign's k (5).
    pub k: f32,
    /// Evaluate on the validation instances every this many epochs (0: never; keep the last).
    pub eval_every: usize,
    /// Validation instances.
    pub eval_instances: usize,
    /// Seed of φ's initialisation and of every instance.
    pub seed: u64,
}

impl Default for MetaTraining {
    fn default() -> Self {
        MetaTraining {
            epochs: 200,
            horizon: 100,
            unroll: 20,
            lr: 1e-3,
            k: 5.0,
            eval_every: 20,
            eval_instances: 2,
            seed: 0,
        }
    }
}

/// What meta-training did.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaTrained {
    /// The weights: the best on validation (or the last, without validation).
    pub weights: L2lWeights,
    /// Per epoch: the mean optimizee loss over its horizon.
    pub epoch_loss: Vec<f64>,
    /// (epoch, mean validation loss over the horizon), at each evaluation.
    pub validation: Vec<(usize, f64)>,
    /// The epoch after which the kept weights were taken.
    pub best_epoch: usize,
    /// Meta-updates skipped because a loss or the meta-gradient was not finite.
    pub skipped: usize,
    /// Adam steps on φ.
    pub meta_updates: usize,
    /// Optimizee steps run (training and validation).
    pub optimizee_steps: u64,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Runs `weights` on `problem` for `steps` steps (no gradient): the loss before every step
/// (`steps` values) and the final θ. A non-finite loss ends the run early.
pub fn run_weights(
    weights: &L2lWeights,
    problem: &mut dyn Problem,
    steps: usize,
) -> (Vec<f32>, Vec<f32>) {
    let mut theta = problem.start();
    let n = theta.len();
    let (mut grad, mut out) = (vec![0.0f32; n], vec![0.0f32; n]);
    let mut state = vec![0.0f32; n * l2l::STATE_PER_COORDINATE];
    let mut losses = Vec::with_capacity(steps);
    for _ in 0..steps {
        let loss = problem.loss_grad(&theta, &mut grad);
        losses.push(loss);
        if !loss.is_finite() || grad.iter().any(|g| !g.is_finite()) {
            break;
        }
        weights.forward(&grad, &mut state, &mut out, None);
        theta.iter_mut().zip(&out).for_each(|(t, u)| *t += u);
    }
    (losses, theta)
}

/// Runs any optimizer on `problem` for `steps` steps, each tensor of
/// [`Problem::tensors`] stepped as one tensor of a model, evaluated where the optimizer
/// evaluates ([`Optimizer::eval_params`]): the loss before every step and the final θ (at the
/// evaluation point). A non-finite loss or a refused step ends the run early.
pub fn run_optimizer(
    opt: &mut dyn Optimizer,
    problem: &mut dyn Problem,
    steps: usize,
) -> (Vec<f32>, Vec<f32>) {
    let mut theta = problem.start();
    let tensors = problem.tensors();
    let mut grad = vec![0.0f32; theta.len()];
    let mut losses = Vec::with_capacity(steps);
    for _ in 0..steps {
        let loss = problem.loss_grad(&theta, &mut grad);
        losses.push(loss);
        if !loss.is_finite() {
            break;
        }
        let mut parts: Vec<Tensor<'_>> = Vec::with_capacity(tensors.len());
        let mut rest: &mut [f32] = &mut theta;
        let mut at = 0;
        for (name, range) in &tensors {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(range.end - at);
            parts.push(Tensor::new(name, head, &grad[range.clone()]));
            rest = tail;
            at = range.end;
        }
        if opt.step_model(&mut parts).is_err() {
            break;
        }
    }
    let eval: Vec<f32> = tensors
        .iter()
        .flat_map(|(name, range)| {
            opt.eval_params(name)
                .map_or_else(|| theta[range.clone()].to_vec(), <[f32]>::to_vec)
        })
        .collect();
    (losses, eval)
}

/// Meta-trains the LSTM on `family` ([module docs](self)); `progress` hears each epoch's
/// number and mean loss.
pub fn meta_train(
    family: &dyn Family,
    cfg: &MetaTraining,
    mut progress: impl FnMut(usize, f64),
) -> Result<MetaTrained, TaskError> {
    if cfg.unroll == 0 || cfg.horizon == 0 || !cfg.horizon.is_multiple_of(cfg.unroll) {
        return Err(TaskError::Argument(format!(
            "meta-training horizon {} must be a positive multiple of the unroll {}",
            cfg.horizon, cfg.unroll
        )));
    }
    let started = Instant::now();
    let optim = |e| TaskError::Optim {
        name: "l2l".into(),
        source: e,
    };
    let mut weights = L2lWeights::init(cfg.k, family.scale(), cfg.seed).map_err(optim)?;
    let mut adam = Adam::new(AdamConfig::with_lr(cfg.lr)).map_err(optim)?;
    let mut phi = weights.params().to_vec();
    let mut out = MetaTrained {
        weights: weights.clone(),
        epoch_loss: Vec::new(),
        validation: Vec::new(),
        best_epoch: 0,
        skipped: 0,
        meta_updates: 0,
        optimizee_steps: 0,
        seconds: 0.0,
    };
    let mut best = f64::INFINITY;
    let mut grad_phi = vec![0.0f32; l2l::NUM_PARAMS];
    for epoch in 0..cfg.epochs {
        let mut problem = family.instance(cfg.seed ^ TRAIN_SEED_MIX ^ epoch as u64);
        let mut theta = problem.start();
        let n = theta.len();
        let mut state = vec![0.0f32; n * l2l::STATE_PER_COORDINATE];
        let mut unroll = Unroll::new(n, cfg.unroll);
        let mut epoch_loss = 0.0f64;
        let mut finite = true;
        for _ in 0..cfg.horizon / cfg.unroll {
            let steps = &mut out.optimizee_steps;
            finite = unroll.run(
                &weights,
                problem.as_mut(),
                &mut theta,
                &mut state,
                &mut epoch_loss,
                steps,
            );
            if !finite {
                break;
            }
            unroll.meta_gradient(&weights, &mut grad_phi);
            if grad_phi.iter().any(|g| !g.is_finite()) {
                out.skipped += 1;
                continue;
            }
            adam.step("phi", &mut phi, &grad_phi).map_err(optim)?;
            weights.set_params(&phi).map_err(optim)?;
            out.meta_updates += 1;
        }
        if !finite {
            out.skipped += 1;
        }
        let mean = epoch_loss / cfg.horizon as f64;
        out.epoch_loss.push(mean);
        progress(epoch, mean);
        let last = epoch + 1 == cfg.epochs;
        if cfg.eval_every > 0 && ((epoch + 1) % cfg.eval_every == 0 || last) {
            let v = validation_loss(family, cfg, &weights, &mut out.optimizee_steps);
            out.validation.push((epoch, v));
            if v < best {
                best = v;
                out.weights = weights.clone();
                out.best_epoch = epoch;
            }
        }
    }
    if cfg.eval_every == 0 || !best.is_finite() {
        out.weights = weights;
        out.best_epoch = cfg.epochs.saturating_sub(1);
    }
    out.seconds = started.elapsed().as_secs_f64();
    Ok(out)
}

/// The mean optimizee loss of `weights` over the horizon on `cfg`'s validation instances
/// (infinite for an instance that did not run its whole horizon finitely); `steps` counts the
/// optimizee steps.
fn validation_loss(
    family: &dyn Family,
    cfg: &MetaTraining,
    weights: &L2lWeights,
    steps: &mut u64,
) -> f64 {
    let mut total = 0.0;
    for v in 0..cfg.eval_instances {
        let mut p = family.instance(cfg.seed ^ VALIDATION_SEED_MIX ^ v as u64);
        let (losses, _) = run_weights(weights, p.as_mut(), cfg.horizon);
        *steps += losses.len() as u64;
        total += if losses.len() < cfg.horizon || losses.iter().any(|l| !l.is_finite()) {
            f64::INFINITY
        } else {
            losses.iter().map(|&l| f64::from(l)).sum::<f64>() / losses.len() as f64
        };
    }
    total / cfg.eval_instances.max(1) as f64
}

/// One truncated unroll of meta-training: per step, the optimizee's gradient the LSTM saw and
/// the LSTM's tape.
struct Unroll {
    tapes: Vec<Vec<f32>>,
    seen: Vec<Vec<f32>>,
    step_out: Vec<f32>,
}

impl Unroll {
    /// Buffers for unrolls of `steps` steps over `n` coordinates.
    fn new(n: usize, steps: usize) -> Self {
        Unroll {
            tapes: vec![vec![0.0f32; n * TAPE_PER_COORDINATE]; steps],
            seen: vec![vec![0.0f32; n]; steps],
            step_out: vec![0.0f32; n],
        }
    }

    /// Runs the unroll's steps of `weights` on `problem` from `theta` and the LSTM's `state`
    /// (both carried on to the next unroll), keeping the tapes; each loss is added to
    /// `loss_sum` and each step counted in `steps`. `false`, and the rest not run, at the first
    /// non-finite loss or gradient.
    fn run(
        &mut self,
        weights: &L2lWeights,
        problem: &mut dyn Problem,
        theta: &mut [f32],
        state: &mut [f32],
        loss_sum: &mut f64,
        steps: &mut u64,
    ) -> bool {
        for (seen, tape) in self.seen.iter_mut().zip(&mut self.tapes) {
            let loss = problem.loss_grad(theta, seen);
            *steps += 1;
            *loss_sum += f64::from(loss);
            if !loss.is_finite() || seen.iter().any(|g| !g.is_finite()) {
                return false;
            }
            weights.forward(seen, state, &mut self.step_out, Some(tape));
            theta
                .iter_mut()
                .zip(&self.step_out)
                .for_each(|(t, u)| *t += u);
        }
        true
    }

    /// The meta-gradient of the unroll's summed loss into `grad_phi`, with the optimizee's
    /// gradients held as inputs (the paper drops second derivatives).
    fn meta_gradient(&self, weights: &L2lWeights, grad_phi: &mut [f32]) {
        let (steps, n) = (self.seen.len(), self.step_out.len());
        // ∂(Σ_t f(θ_t))/∂g_s = Σ_{t > s} ∇f(θ_t): suffix sums, in place from the end.
        let mut d_out = vec![vec![0.0f32; n]; steps];
        for s in (0..steps - 1).rev() {
            let (head, tail) = d_out.split_at_mut(s + 1);
            for ((d, &next), &g) in head[s].iter_mut().zip(&tail[0]).zip(&self.seen[s + 1]) {
                *d = next + g;
            }
        }
        grad_phi.fill(0.0);
        let tr: Vec<&[f32]> = self.tapes.iter().map(Vec::as_slice).collect();
        let dr: Vec<&[f32]> = d_out.iter().map(Vec::as_slice).collect();
        weights.backward(&tr, &dr, grad_phi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quadratic's gradient against central differences.
    #[test]
    fn quadratic_gradient_is_exact() {
        let fam = Quadratics { dims: 3, batch: 2 };
        let mut p = fam.instance(4);
        let theta: Vec<f32> = (0..6).map(|i| 0.3 * i as f32 - 0.7).collect();
        let mut g = vec![0.0; 6];
        p.loss_grad(&theta, &mut g);
        for i in 0..6 {
            let mut t = theta.clone();
            let mut scratch = vec![0.0; 6];
            t[i] += 1e-2;
            let up = p.loss_grad(&t, &mut scratch);
            t[i] -= 2e-2;
            let down = p.loss_grad(&t, &mut scratch);
            let fd = (up - down) / 2e-2;
            assert!(
                (fd - g[i]).abs() < 2e-3 * (1.0 + g[i].abs()),
                "{i}: {fd} vs {}",
                g[i]
            );
        }
    }

    /// A few dozen epochs of meta-training make the LSTM a better optimizer of new quadratics
    /// than it was at initialisation, and meta-training reproduces bit for bit.
    #[test]
    fn meta_training_learns_and_reproduces() {
        let fam = Quadratics {
            dims: 10,
            batch: 16,
        };
        let cfg = MetaTraining {
            epochs: 30,
            horizon: 20,
            unroll: 10,
            eval_every: 10,
            eval_instances: 1,
            seed: 3,
            ..MetaTraining::default()
        };
        let trained = meta_train(&fam, &cfg, |_, _| {}).unwrap();
        assert_eq!(trained.meta_updates, 60);
        assert_eq!(trained.validation.len(), 3);
        let mean = |w: &L2lWeights| {
            let mut p = fam.instance(HELD_OUT_SEED_MIX);
            let (losses, _) = run_weights(w, p.as_mut(), cfg.horizon);
            losses.iter().map(|&l| f64::from(l)).sum::<f64>() / losses.len() as f64
        };
        let init = L2lWeights::init(cfg.k, fam.scale(), cfg.seed).unwrap();
        let (before, after) = (mean(&init), mean(&trained.weights));
        assert!(
            after < 0.8 * before,
            "mean loss {before} at init, {after} trained"
        );
        let again = meta_train(&fam, &cfg, |_, _| {}).unwrap();
        assert_eq!(again.weights, trained.weights);
        assert!(meta_train(&fam, &MetaTraining { horizon: 25, ..cfg }, |_, _| {}).is_err());
    }

    /// The MLP's gradient against central differences, on a small synthetic data set.
    #[test]
    fn mlp_gradient_is_exact() {
        use crate::mnist::Split;
        let split = |count: usize, seed: u64| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let pixels = (0..count * PIXELS)
                .map(|_| {
                    if rng.next_u32() % 3 == 0 {
                        (rng.next_u32() % 256) as u8
                    } else {
                        0
                    }
                })
                .collect();
            Split::new(pixels, (0..count).map(|i| (i % 10) as u8).collect()).unwrap()
        };
        let mnist = Mnist {
            train: split(40, 1),
            test: split(20, 2),
        };
        let fam = MnistMlp {
            batch: 4,
            ..MnistMlp::new(&mnist)
        };
        let probe = |theta: &[f32], grad: &mut [f32]| {
            // The same minibatch for every call: a fresh instance of the same seed.
            fam.instance(5).loss_grad(theta, grad)
        };
        let theta = fam.instance(5).start();
        let mut g = vec![0.0f32; theta.len()];
        probe(&theta, &mut g);
        let mut scratch = vec![0.0f32; theta.len()];
        let nonzero: Vec<usize> = (0..theta.len()).filter(|&i| g[i] != 0.0).collect();
        assert!(nonzero.len() > 100);
        for &i in nonzero
            .iter()
            .step_by(nonzero.len() / 40)
            .chain(&[theta.len() - 1])
        {
            let mut t = theta.clone();
            t[i] += 1e-2;
            let up = f64::from(probe(&t, &mut scratch));
            t[i] -= 2e-2;
            let down = f64::from(probe(&t, &mut scratch));
            let fd = (up - down) / 2e-2;
            assert!(
                (fd - f64::from(g[i])).abs() < 1e-3 + 2e-2 * f64::from(g[i]).abs(),
                "{i}: {fd} vs {}",
                g[i]
            );
        }
        let (loss, acc) = fam.instance(5).held_out_loss(&theta).unwrap();
        assert!(loss > 1.5 && loss < 3.5 && (0.0..=1.0).contains(&acc));
    }

    /// The meta-gradient of one unroll against central differences of the same meta-loss with
    /// the optimizee's gradients held at the values they had (the paper's dropped second
    /// derivatives: what the meta-gradient is the exact derivative of), on a tiny quadratic.
    #[test]
    fn meta_gradient_matches_finite_differences() {
        let fam = Quadratics { dims: 2, batch: 1 };
        let weights = L2lWeights::init(5.0, 0.3, 9).unwrap();
        let steps = 5;
        // The recorded run: gradients seen and tapes.
        let mut p = fam.instance(2);
        let mut theta = p.start();
        let n = theta.len();
        let mut state = vec![0.0f32; n * l2l::STATE_PER_COORDINATE];
        let mut tapes = vec![vec![0.0f32; n * TAPE_PER_COORDINATE]; steps];
        let mut seen = vec![vec![0.0f32; n]; steps];
        let mut out = vec![0.0f32; n];
        for s in 0..steps {
            p.loss_grad(&theta, &mut seen[s]);
            weights.forward(&seen[s], &mut state, &mut out, Some(&mut tapes[s]));
            theta.iter_mut().zip(&out).for_each(|(t, u)| *t += u);
        }
        let mut d_out = vec![vec![0.0f32; n]; steps];
        for s in (0..steps - 1).rev() {
            for i in 0..n {
                d_out[s][i] = d_out[s + 1][i] + seen[s + 1][i];
            }
        }
        let mut grad = vec![0.0f32; l2l::NUM_PARAMS];
        let tr: Vec<&[f32]> = tapes.iter().map(Vec::as_slice).collect();
        let dr: Vec<&[f32]> = d_out.iter().map(Vec::as_slice).collect();
        weights.backward(&tr, &dr, &mut grad);
        // The surrogate meta-loss: the same unroll with the LSTM fed the recorded gradients.
        let surrogate = |phi: &[f32]| -> f64 {
            let w = L2lWeights::new(5.0, 0.3, phi.to_vec()).unwrap();
            let mut p = fam.instance(2);
            let mut theta = p.start();
            let mut state = vec![0.0f32; n * l2l::STATE_PER_COORDINATE];
            let (mut scratch, mut o) = (vec![0.0f32; n], vec![0.0f32; n]);
            let mut total = 0.0f64;
            for fed in &seen {
                total += f64::from(p.loss_grad(&theta, &mut scratch));
                w.forward(fed, &mut state, &mut o, None);
                theta.iter_mut().zip(&o).for_each(|(t, u)| *t += u);
            }
            total
        };
        let phi = weights.params().to_vec();
        let mut checked = 0;
        for idx in (0..l2l::NUM_PARAMS)
            .step_by(41)
            .chain([l2l::NUM_PARAMS - 1])
        {
            let h = 1e-2f32;
            let mut q = phi.clone();
            q[idx] += h;
            let up = surrogate(&q);
            q[idx] -= 2.0 * h;
            let down = surrogate(&q);
            let fd = (up - down) / (2.0 * f64::from(h));
            let an = f64::from(grad[idx]);
            assert!(
                (fd - an).abs() <= 1e-3 + 2e-2 * an.abs(),
                "φ[{idx}]: meta-gradient {an}, finite differences {fd}"
            );
            checked += 1;
        }
        assert!(checked > 100 && grad.iter().any(|g| g.abs() > 1e-2));
        // The recorded run is what the surrogate replays.
        assert!(
            (surrogate(&phi) - {
                let mut p = fam.instance(2);
                let (losses, _) = run_weights(&weights, p.as_mut(), steps);
                losses.iter().map(|&l| f64::from(l)).sum::<f64>()
            })
            .abs()
                < 1e-9
        );
    }
}
