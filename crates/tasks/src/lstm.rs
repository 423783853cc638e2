//! An LSTM forward-dynamics model on dfdx 0.13, trained by backpropagation through time, and
//! [`ForwardLearner`], the online training loop a harness task wraps.
//!
//! # The model
//!
//! One LSTM layer (PyTorch's `nn.LSTM` cell, gate order i, f, g, o) and a linear readout:
//!
//! ```text
//! a_t = W_ih x_t + W_hh h_{t−1} + b            a_t ∈ R^{4H}, split into four blocks of H
//! i_t = σ(a_t[0..H])   f_t = σ(a_t[H..2H])   g_t = tanh(a_t[2H..3H])   o_t = σ(a_t[3H..4H])
//! c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t              h_t = o_t ⊙ tanh(c_t)
//! y_t = W_out h_t + b_out
//! ```
//!
//! with h₋₁ = c₋₁ = 0 at the start of every (sub)sequence. The loss of a batch of
//! subsequences is the MSE over every step, output and sequence. One bias `b` stands for
//! PyTorch's two (`b_ih + b_hh`), which only ever appear summed.
//!
//! The papers give the architecture as "a standard RNN with LSTM cells" mapping (q, q̇, τ) to
//! the next (q, q̇), optimised on subsequences of 128 steps, without a hidden size; the default
//! here, [`ArmLstm`], has 32 hidden units (measured at ~2 ms per BPTT update of 128 steps).
//! Initialisation as PyTorch's: every tensor U(−1/√H, 1/√H).
//!
//! # How it is built on dfdx (stable dfdx 0.13 has no recurrent layers)
//!
//! - The input projection W_ih x_t + b of all steps is one matmul over the time-major
//!   `(steps·batch, I)` input; each step takes its rows with a `slice`.
//! - The four gates are `slice`s of a_t's columns (`realize`d back to `H` columns).
//! - A value used twice (h_t: by the readout and the next step; c_t: by tanh and the next
//!   step; the projected inputs, sliced by every step) has its tape split: one use carries the
//!   tape, the other a fresh one (`retaped`); every use reaches the loss, so backward merges
//!   them all. Gradients of a tensor used twice accumulate, by tensor id.
//! - dfdx's `slice` backward *assigns* its gradient rather than adding it, so a sliced tensor
//!   must have no other use: the slices here cover disjoint parts of tensors used only by them.
//! - The hidden states of all steps are stacked into `(steps·batch, H)` for one readout matmul.
//!
//! Sizes are const generics, as dfdx's tensor collections need (`G` = 4·`H` is checked at
//! compile time: stable Rust cannot write `4 * H` in a type). A lost tape would give a
//! parameter a zero gradient while the loss still falls, so the tests check every gradient
//! against finite differences through several time steps.

use std::sync::Arc;

use dfdx::nn::modules::Linear;
use dfdx::nn::tensor_collection::{ModuleVisitor, TensorCollection, TensorOptions};
use dfdx::prelude::*;
use lrmem_optimizers::Optimizer;

use crate::dynamics::{
    ForwardData, ForwardNmse, SequenceSet, Subsequences, FORWARD_INPUT, STATE, SUBSEQUENCE,
};
use crate::layers::{mse, rows};
pub use crate::layers::{Dev, Rows};
use crate::model::{tensor_collection, Trainable, Training};
use crate::random::uniform;
use crate::TaskError;

/// The recurrent cell's tensors: `weight_ih (G, I)`, `weight_hh (G, H)`, `bias (G)`, with
/// G = 4H rows in gate order i, f, g, o (PyTorch's layout).
#[derive(Debug, Clone)]
pub struct LstmCell<const I: usize, const H: usize, const G: usize, E: Dtype, D: Storage<E>> {
    /// Input weights, `(4H, I)`.
    pub weight_ih: Tensor<Rank2<G, I>, E, D>,
    /// Recurrent weights, `(4H, H)`.
    pub weight_hh: Tensor<Rank2<G, H>, E, D>,
    /// Gate biases, `(4H)`.
    pub bias: Tensor<Rank1<G>, E, D>,
}

/// dfdx's `reset` of a cell tensor: U(−1/√H, 1/√H), as PyTorch.
fn reset_uniform<S: Shape, const H: usize, E, D>(t: &mut Tensor<S, E, D>) -> Result<(), D::Err>
where
    E: Dtype + num_traits::Float + rand_distr::uniform::SampleUniform,
    D: Device<E>,
{
    let b: E = E::one() / E::from(H).unwrap_or(E::one()).sqrt();
    t.try_fill_with_distr(rand_distr::Uniform::new(-b, b))
}

impl<const I: usize, const H: usize, const G: usize, E, D> TensorCollection<E, D>
    for LstmCell<I, H, G, E, D>
where
    E: Dtype + num_traits::Float + rand_distr::uniform::SampleUniform,
    D: Device<E>,
{
    type To<E2: Dtype, D2: Device<E2>> = LstmCell<I, H, G, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor(
                    "weight_ih",
                    |s| &s.weight_ih,
                    |s| &mut s.weight_ih,
                    TensorOptions::reset_with(reset_uniform::<_, H, E, D>),
                ),
                Self::tensor(
                    "weight_hh",
                    |s| &s.weight_hh,
                    |s| &mut s.weight_hh,
                    TensorOptions::reset_with(reset_uniform::<_, H, E, D>),
                ),
                Self::tensor(
                    "bias",
                    |s| &s.bias,
                    |s| &mut s.bias,
                    TensorOptions::reset_with(reset_uniform::<_, H, E, D>),
                ),
            ),
            |(weight_ih, weight_hh, bias)| LstmCell {
                weight_ih,
                weight_hh,
                bias,
            },
        )
    }
}

/// The trainable tensors of an [`Lstm`], named `cell.weight_ih`, `cell.weight_hh`,
/// `cell.bias`, `readout.weight`, `readout.bias`: what an optimizer walks.
#[derive(Debug, Clone)]
pub struct LstmParams<
    const I: usize,
    const H: usize,
    const G: usize,
    const O: usize,
    E: Dtype,
    D: Storage<E>,
> {
    /// The recurrent cell.
    pub cell: LstmCell<I, H, G, E, D>,
    /// The linear readout `(O, H)` + `(O)`.
    pub readout: Linear<H, O, E, D>,
}

tensor_collection!(LstmParams<const I, const H, const G, const O, E, D> { cell, readout });

/// An LSTM sequence model from `I` inputs through `H` hidden units (`G` = 4·`H`) to `O`
/// outputs per step (see the module docs).
///
/// ```
/// use lrmem_tasks::lstm::{Dev, Lstm};
/// let dev = Dev::default();
/// let lstm = Lstm::<3, 4, 16, 2>::new(&dev, 0);
/// // Two sequences of five steps, time-major.
/// let y = lstm.predict(&[0.1; 5 * 2 * 3], 5, 2)?;
/// assert_eq!(y.len(), 5 * 2 * 2);
/// # Ok::<(), lrmem_tasks::TaskError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Lstm<const I: usize, const H: usize, const G: usize, const O: usize> {
    /// The trainable tensors (walk these with [`crate::adapter::Adapter`]).
    pub params: LstmParams<I, H, G, O, f32, Dev>,
    dev: Dev,
}

/// The arm's forward-dynamics LSTM: (q, q̇, τ) ∈ R²¹ → R¹⁴, 32 hidden units.
pub type ArmLstm = Lstm<FORWARD_INPUT, 32, 128, STATE>;

impl<const I: usize, const H: usize, const G: usize, const O: usize> Lstm<I, H, G, O> {
    /// An LSTM on `dev` with PyTorch's initialisation (every tensor U(−1/√H, 1/√H)) drawn
    /// from ChaCha8 stream 1 of `seed` (stream 0 is for data order), so the same seed gives
    /// the same model everywhere.
    pub fn new(dev: &Dev, seed: u64) -> Self {
        const { assert!(G == 4 * H && H > 0 && I > 0 && O > 0, "G must be 4·H") };
        let mut rng = crate::random::stream(seed, 1);
        let bound = 1.0 / (H as f32).sqrt();
        let mut draw = |n: usize| uniform(&mut rng, n, bound);
        let mut params = LstmParams {
            cell: LstmCell {
                weight_ih: dev.zeros(),
                weight_hh: dev.zeros(),
                bias: dev.zeros(),
            },
            readout: Linear {
                weight: dev.zeros(),
                bias: dev.zeros(),
            },
        };
        params.cell.weight_ih.copy_from(&draw(G * I));
        params.cell.weight_hh.copy_from(&draw(G * H));
        params.cell.bias.copy_from(&draw(G));
        params.readout.weight.copy_from(&draw(O * H));
        params.readout.bias.copy_from(&draw(O));
        Lstm {
            params,
            dev: dev.clone(),
        }
    }

    /// The device the model lives on.
    pub fn device(&self) -> &Dev {
        &self.dev
    }

    /// Packs time-major input rows (`steps·batch·I` values) into a tensor.
    pub fn rows<const N: usize>(&self, values: &[f32]) -> Result<Rows<N>, TaskError> {
        rows(&self.dev, values)
    }

    /// Unrolls the LSTM over `steps` steps of `batch` sequences from zero state: `x` is
    /// `(steps·batch, I)` time-major, the result `(steps·batch, O)` in the same order. With a
    /// tape, backward reaches every parameter through every step.
    pub fn forward<T: Tape<f32, Dev>>(
        &self,
        x: Rows<I, T>,
        steps: usize,
        batch: usize,
    ) -> Result<Rows<O, T>, TaskError> {
        let n = x.shape().0;
        if steps == 0 || batch == 0 || n != steps * batch {
            return Err(TaskError::Argument(format!(
                "{n} input rows for {steps} steps of {batch} sequences"
            )));
        }
        let shape_err = |_| TaskError::Device("LSTM gate shape".into());
        let cell = &self.params.cell;
        // Input projection of every step at once: (steps·batch, G).
        let xp = x.try_matmul(cell.weight_ih.retaped::<T>().try_permute()?)?;
        let xp_shape = *xp.shape();
        let xp = xp.try_add(cell.bias.retaped::<T>().try_broadcast_like(&xp_shape)?)?;
        let (xp, xp_tape) = xp.split_tape();
        let mut tape = Some(xp_tape);
        let mut h: Option<Rows<H, T>> = None;
        let mut c: Option<Rows<H, T>> = None;
        let mut hs = Vec::with_capacity(steps);
        for t in 0..steps {
            // The first slice carries the projection's tape; the others start fresh ones.
            let a = xp
                .clone()
                .put_tape(tape.take().unwrap_or_default())
                .try_slice((t * batch..(t + 1) * batch, ..))?;
            let a = match h.take() {
                Some(h) => {
                    a.try_add(h.try_matmul(cell.weight_hh.retaped::<T>().try_permute()?)?)?
                }
                None => a, // h₋₁ = 0
            };
            let (a, a_tape) = a.split_tape();
            let mut a_tape = Some(a_tape);
            let mut gate = |k: usize| -> Result<Rows<H, T>, TaskError> {
                a.clone()
                    .put_tape(a_tape.take().unwrap_or_default())
                    .try_slice((.., k * H..(k + 1) * H))?
                    .try_realize::<(usize, Const<H>)>()
                    .map_err(shape_err)
            };
            let i = gate(0)?.try_sigmoid()?;
            let g = gate(2)?.try_tanh()?;
            let o = gate(3)?.try_sigmoid()?;
            let ig = i.try_mul(g)?;
            let c_new = match c.take() {
                Some(c) => gate(1)?.try_sigmoid()?.try_mul(c)?.try_add(ig)?,
                None => ig, // c₋₁ = 0: the forget gate has nothing to act on
            };
            // c_t feeds tanh (carrying the tape) and the next step (a fresh tape).
            let (c_val, c_tape) = c_new.split_tape();
            let h_new = o.try_mul(c_val.clone().put_tape(c_tape).try_tanh()?)?;
            c = Some(c_val.retaped::<T>());
            // h_t feeds the readout (carrying the tape) and the next step.
            let (h_val, h_tape) = h_new.split_tape();
            hs.push(h_val.clone().put_tape(h_tape));
            h = Some(h_val.retaped::<T>());
        }
        let hs = hs
            .try_stack()?
            .try_reshape_like(&(steps * batch, Const::<H>))?;
        Ok(self.params.readout.try_forward(hs)?)
    }

    /// The MSE of outputs `y` against `targets` (row-major, as `y`).
    pub fn loss<T: Tape<f32, Dev>>(
        &self,
        y: Rows<O, T>,
        targets: &[f32],
    ) -> Result<Tensor<Rank0, f32, Dev, T>, TaskError> {
        mse(&self.dev, y, targets)
    }

    /// Outputs for time-major `inputs` (`steps·batch·I` values), `steps·batch·O` values in the
    /// same order, without a tape.
    pub fn predict(
        &self,
        inputs: &[f32],
        steps: usize,
        batch: usize,
    ) -> Result<Vec<f32>, TaskError> {
        Ok(self
            .forward(self.rows::<I>(inputs)?, steps, batch)?
            .as_vec())
    }

    /// Outputs for every step of every sequence of `set` (in sequence order, as
    /// [`SequenceSet::all_targets`]), each sequence run in consecutive chunks of `chunk` steps
    /// from zero state (the horizon the model is trained on). Chunks of equal length are
    /// batched, at most `max_batch` at a time.
    pub fn predict_set(
        &self,
        set: &SequenceSet,
        chunk: usize,
        max_batch: usize,
    ) -> Result<Vec<f32>, TaskError> {
        if set.din() != I || set.dout() != O || chunk == 0 || max_batch == 0 {
            return Err(TaskError::Argument(format!(
                "an LSTM of {I} → {O} on sequences of {} → {}, chunks of {chunk}, batches of {max_batch}",
                set.din(),
                set.dout()
            )));
        }
        // (output offset in rows, sequence, first step, length) of every chunk.
        let mut chunks = Vec::new();
        let mut offset = 0;
        for (s, _) in set.sequences().iter().enumerate() {
            let len = set.len_of(s);
            let mut t = 0;
            while t < len {
                let l = chunk.min(len - t);
                chunks.push((offset + t, s, t, l));
                t += l;
            }
            offset += len;
        }
        chunks.sort_by_key(|&(_, _, _, l)| std::cmp::Reverse(l));
        let mut out = vec![0.0f32; offset * O];
        let mut x = Vec::new();
        for group in chunks.chunk_by(|a, b| a.3 == b.3) {
            for part in group.chunks(max_batch) {
                let (steps, batch) = (part[0].3, part.len());
                x.clear();
                for t in 0..steps {
                    for &(_, s, t0, _) in part {
                        let row = (t0 + t) * I;
                        x.extend_from_slice(&set.sequences()[s].inputs[row..row + I]);
                    }
                }
                let y = self.predict(&x, steps, batch)?;
                for t in 0..steps {
                    for (b, &(at, _, _, _)) in part.iter().enumerate() {
                        let src = (t * batch + b) * O;
                        let dst = (at + t) * O;
                        out[dst..dst + O].copy_from_slice(&y[src..src + O]);
                    }
                }
            }
        }
        Ok(out)
    }
}

impl<const I: usize, const H: usize, const G: usize, const O: usize> Trainable
    for Lstm<I, H, G, O>
{
    type Params = LstmParams<I, H, G, O, f32, Dev>;

    fn params(&self) -> &Self::Params {
        &self.params
    }

    fn params_mut(&mut self) -> &mut Self::Params {
        &mut self.params
    }
}

/// Settings of a [`ForwardLearner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardConfig {
    /// Steps per training subsequence (BPTT length), also the evaluation chunk length.
    /// Default 128, the papers' value.
    pub subsequence: usize,
    /// Subsequences per update. Default 1.
    pub batch: usize,
}

impl Default for ForwardConfig {
    fn default() -> Self {
        ForwardConfig {
            subsequence: SUBSEQUENCE,
            batch: 1,
        }
    }
}

impl ForwardConfig {
    /// Checks the settings: both at least 1.
    pub fn validated(self) -> Result<Self, TaskError> {
        if self.subsequence == 0 || self.batch == 0 {
            return Err(TaskError::Argument(format!(
                "forward learner with subsequences of {} steps in batches of {}: both must be at least 1",
                self.subsequence, self.batch
            )));
        }
        Ok(self)
    }
}

/// Held-out chunks evaluated per batched LSTM pass (bounds the activations' memory).
const EVAL_BATCH: usize = 256;

/// Online forward-dynamics learning: each [`update`](Self::update) samples subsequences of the
/// training data (seeded), runs the LSTM over them, backpropagates the MSE through time and
/// steps every tensor with the caller's optimizer; [`evaluate`](Self::evaluate) reports the
/// held-out NMSE. A harness `Task` is a thin wrapper around it.
///
/// ```
/// use std::sync::Arc;
/// use lrmem_tasks::dynamics::{ForwardData, ForwardTarget};
/// use lrmem_tasks::lstm::{ForwardConfig, ForwardLearner};
/// use lrmem_tasks::robot::{trajectories, RobotConfig};
/// use lrmem_optimizers::{Adam, AdamConfig};
///
/// // The Panda's first task, one training and one held-out trajectory of 0.2 s.
/// let tiny = RobotConfig { train: 1, test: 1, seconds: 0.2, ..RobotConfig::forward() };
/// let task = &trajectories(&tiny)?[0];
/// let data = Arc::new(ForwardData::new(&task.train, &task.test, ForwardTarget::StateChange)?);
/// let cfg = ForwardConfig { subsequence: 16, ..ForwardConfig::default() };
/// let mut learner: ForwardLearner = ForwardLearner::new(data, cfg, 0)?;
/// let mut opt = Adam::new(AdamConfig::with_lr(1e-2))?;
/// let first = learner.update(&mut opt)?;
/// assert!(first.is_finite());
/// let nmse = learner.evaluate()?;
/// assert!(nmse.next_state.is_finite() && nmse.state_change.is_finite());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ForwardLearner<const H: usize = 32, const G: usize = 128> {
    lstm: Lstm<FORWARD_INPUT, H, G, STATE>,
    training: Training<Lstm<FORWARD_INPUT, H, G, STATE>>,
    data: Arc<ForwardData>,
    sampler: Subsequences,
    cfg: ForwardConfig,
    updates: usize,
    /// Reused time-major inputs and targets of a batch.
    x: Vec<f32>,
    y: Vec<f32>,
}

impl<const H: usize, const G: usize> ForwardLearner<H, G> {
    /// A fresh learner on `data`: the LSTM initialised from `seed` (stream 1) and the
    /// subsequences drawn from `seed` (stream 0). Share one `data` between runs.
    pub fn new(data: Arc<ForwardData>, cfg: ForwardConfig, seed: u64) -> Result<Self, TaskError> {
        let cfg = cfg.validated()?;
        dfdx::flush_denormals_to_zero();
        let dev = Dev::default();
        let lstm = Lstm::new(&dev, seed);
        let training = Training::new(&lstm)?;
        let sampler = Subsequences::new(data.train(), cfg.subsequence, seed)?;
        Ok(ForwardLearner {
            lstm,
            training,
            data,
            sampler,
            cfg,
            updates: 0,
            x: Vec::new(),
            y: Vec::new(),
        })
    }

    /// Training updates done so far.
    pub fn updates(&self) -> usize {
        self.updates
    }

    /// The model.
    pub fn lstm(&self) -> &Lstm<FORWARD_INPUT, H, G, STATE> {
        &self.lstm
    }

    /// The data.
    pub fn data(&self) -> &ForwardData {
        &self.data
    }

    /// One BPTT update with `opt`; returns the training MSE (normalised units) of the batch,
    /// before the step.
    pub fn update(&mut self, opt: &mut dyn Optimizer) -> Result<f32, TaskError> {
        dfdx::flush_denormals_to_zero();
        let (l, b) = (self.cfg.subsequence, self.cfg.batch);
        let windows: Vec<(usize, usize)> = (0..b).map(|_| self.sampler.sample()).collect();
        self.x.clear();
        self.y.clear();
        let train = self.data.train().sequences();
        for t in 0..l {
            for &(s, t0) in &windows {
                let (xi, yi) = ((t0 + t) * FORWARD_INPUT, (t0 + t) * STATE);
                self.x
                    .extend_from_slice(&train[s].inputs[xi..xi + FORWARD_INPUT]);
                self.y.extend_from_slice(&train[s].targets[yi..yi + STATE]);
            }
        }
        let (x, y) = (&self.x, &self.y);
        let value = self.training.step(&mut self.lstm, opt, |lstm, grads| {
            let x = lstm.rows::<FORWARD_INPUT>(x)?;
            lstm.loss(lstm.forward(x.traced(grads), l, b)?, y)
        })?;
        self.updates += 1;
        Ok(value)
    }

    /// Held-out NMSE of the next state and of the state change, the held-out trajectories run
    /// in chunks of the training subsequence length (at the optimizer's evaluation point, if
    /// it has one).
    pub fn evaluate(&self) -> Result<ForwardNmse, TaskError> {
        dfdx::flush_denormals_to_zero();
        let model = self.training.evaluated(&self.lstm);
        let pred = model.predict_set(self.data.test(), self.cfg.subsequence, EVAL_BATCH)?;
        self.data.nmse(&pred)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::{trainable_values, Adapter};
    use crate::dynamics::ForwardTarget;
    use crate::testing::{adam, assert_gradient, random, synthetic};

    const I: usize = 3;
    const H: usize = 4;
    const G: usize = 16;
    const O: usize = 2;
    const STEPS: usize = 5;
    const BATCH: usize = 2;
    type Small = Lstm<I, H, G, O>;

    /// Every parameter tensor of the small model as a flat vector, in name order, and back.
    fn get(m: &Small) -> Vec<Vec<f32>> {
        trainable_values(&m.params, None).unwrap()
    }

    fn set(m: &mut Small, k: usize, v: &[f32]) {
        let mut all = get(m);
        all[k] = v.to_vec();
        Adapter::new(&m.params)
            .unwrap()
            .load(&mut m.params, &all)
            .unwrap();
    }

    const NAMES: [&str; 5] = [
        "cell.weight_ih",
        "cell.weight_hh",
        "cell.bias",
        "readout.weight",
        "readout.bias",
    ];

    /// An independent f64 implementation of the same model and loss (plain loops).
    fn reference_loss(w: &[Vec<f64>], x: &[f32], y: &[f32]) -> f64 {
        let (wih, whh, b, wo, bo) = (&w[0], &w[1], &w[2], &w[3], &w[4]);
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        let mut loss = 0.0;
        for s in 0..BATCH {
            let (mut h, mut c) = ([0.0f64; H], [0.0f64; H]);
            for t in 0..STEPS {
                let xt = &x[(t * BATCH + s) * I..][..I];
                let mut a = [0.0f64; G];
                for (r, a) in a.iter_mut().enumerate() {
                    *a = b[r]
                        + (0..I)
                            .map(|j| wih[r * I + j] * f64::from(xt[j]))
                            .sum::<f64>()
                        + (0..H).map(|j| whh[r * H + j] * h[j]).sum::<f64>();
                }
                for k in 0..H {
                    let (i, f, g, o) = (
                        sig(a[k]),
                        sig(a[H + k]),
                        a[2 * H + k].tanh(),
                        sig(a[3 * H + k]),
                    );
                    c[k] = f * c[k] + i * g;
                    h[k] = o * c[k].tanh();
                }
                for r in 0..O {
                    let yo = bo[r] + (0..H).map(|j| wo[r * H + j] * h[j]).sum::<f64>();
                    loss += (yo - f64::from(y[(t * BATCH + s) * O + r])).powi(2);
                }
            }
        }
        loss / (STEPS * BATCH * O) as f64
    }

    fn setup() -> (Small, Vec<f32>, Vec<f32>) {
        let dev = Dev::default();
        let mut m = Small::new(&dev, 3);
        // Larger weights than the default init, so that every gate saturates somewhat and
        // the recurrence matters (a check through near-linear gates would be weak).
        for (k, v) in get(&m).into_iter().enumerate() {
            let v: Vec<f32> = v.iter().map(|w| 2.5 * w).collect();
            set(&mut m, k, &v);
        }
        let x = random(STEPS * BATCH * I, 11, 1.5);
        let y = random(STEPS * BATCH * O, 12, 1.0);
        (m, x, y)
    }

    fn dfdx_grads(m: &Small, x: &[f32], y: &[f32]) -> (f32, Vec<Vec<f32>>) {
        let xt = m.rows::<I>(x).unwrap();
        let out = m
            .forward(xt.traced(m.params.alloc_grads()), STEPS, BATCH)
            .unwrap();
        let loss = m.loss(out, y).unwrap();
        let value = loss.array();
        let grads = trainable_values(&m.params, Some(&loss.backward())).unwrap();
        (value, grads)
    }

    /// dfdx's forward agrees with the independent f64 reference.
    #[test]
    fn forward_matches_reference() {
        let (m, x, y) = setup();
        let w: Vec<Vec<f64>> = get(&m)
            .iter()
            .map(|v| v.iter().map(|&a| f64::from(a)).collect())
            .collect();
        let want = reference_loss(&w, &x, &y);
        let got = m
            .loss(
                m.forward(m.rows::<I>(&x).unwrap(), STEPS, BATCH).unwrap(),
                &y,
            )
            .unwrap();
        let got = f64::from(got.array());
        assert!((got - want).abs() < 1e-5 * want, "{got} vs {want}");
        // And the outputs of one sequence run alone equal its outputs in the batch.
        let alone: Vec<f32> = (0..STEPS)
            .flat_map(|t| x[(t * BATCH + 1) * I..][..I].to_vec())
            .collect();
        let ya = m.predict(&alone, STEPS, 1).unwrap();
        let yb = m.predict(&x, STEPS, BATCH).unwrap();
        for t in 0..STEPS {
            for r in 0..O {
                assert!((ya[t * O + r] - yb[(t * BATCH + 1) * O + r]).abs() < 1e-6);
            }
        }
    }

    /// Every coordinate of every parameter tensor: dfdx's BPTT gradient through 5 steps
    /// against central finite differences of the loss, (a) of dfdx's own f32 loss and (b) of
    /// the independent f64 reference. No tensor's gradient is all zero.
    ///
    /// Tolerances: (a) with step h = 1e-2 the f32 difference quotient errs by about
    /// ε·L/h ≈ 6e-8·L·(a few roundings)/1e-2 ≈ 1e-5 and by h²·|L'''|/6 ≈ 2e-5·|L'''| from
    /// truncation, hence 2e-4 absolute + 2% relative; (b) in f64 with h = 1e-6 the quotient is
    /// exact to ~1e-9, and dfdx's f32 gradient carries ~1e-6 relative rounding, hence 1e-5
    /// absolute + 1e-3 relative.
    #[test]
    fn bptt_gradients_match_finite_differences() {
        let (m, x, y) = setup();
        let (_, grads) = dfdx_grads(&m, &x, &y);
        let w64: Vec<Vec<f64>> = get(&m)
            .iter()
            .map(|v| v.iter().map(|&a| f64::from(a)).collect())
            .collect();
        let f32_loss = |m: &Small| -> f32 {
            m.loss(
                m.forward(m.rows::<I>(&x).unwrap(), STEPS, BATCH).unwrap(),
                &y,
            )
            .unwrap()
            .array()
        };
        let mut checked = 0;
        for (k, g) in grads.iter().enumerate() {
            assert!(
                g.iter().any(|&v| v != 0.0),
                "{}: all-zero gradient",
                NAMES[k]
            );
            // (a) dfdx's own loss, f32.
            let close = |got: f32, want: f32| (got - want).abs() < 2e-4 + 2e-2 * want.abs();
            assert_gradient(NAMES[k], g, &get(&m)[k], 0..g.len(), 1e-2, close, |v| {
                let mut mm = m.clone();
                set(&mut mm, k, v);
                f32_loss(&mm)
            });
            for (i, &got) in g.iter().enumerate() {
                // (b) the f64 reference.
                let h = 1e-6f64;
                let mut w = w64.clone();
                w[k][i] += h;
                let up = reference_loss(&w, &x, &y);
                w[k][i] -= 2.0 * h;
                let down = reference_loss(&w, &x, &y);
                let fd64 = (up - down) / (2.0 * h);
                assert!(
                    (f64::from(got) - fd64).abs() < 1e-5 + 1e-3 * fd64.abs(),
                    "{}[{i}]: dfdx {got} vs f64 finite difference {fd64}",
                    NAMES[k]
                );
                checked += 1;
            }
        }
        assert_eq!(checked, G * I + G * H + G + O * H + O);
        // One coordinate in each gate block of each cell tensor has a clearly non-zero
        // gradient (so the comparison above was not 0 ≈ 0 for a whole gate).
        for (k, cols) in [(0, I), (1, H), (2, 1)] {
            for gate in 0..4 {
                let block = &grads[k][gate * H * cols..(gate + 1) * H * cols];
                assert!(
                    block.iter().any(|v| v.abs() > 1e-4),
                    "{} gate {gate}: gradient ~0 throughout",
                    NAMES[k]
                );
            }
        }
    }

    /// The gradient of a loss on the last step only reaches the first step's input weights
    /// through the recurrence (c and h across time): it must be non-zero and match the
    /// reference (a split tape that dropped the recurrent path would give the wrong value).
    #[test]
    fn gradient_flows_back_through_time() {
        let (m, x, _) = setup();
        // Targets equal to the model's own outputs except at the last step: only the last
        // step contributes to the loss gradient.
        let mut y = m.predict(&x, STEPS, BATCH).unwrap();
        for v in &mut y[(STEPS - 1) * BATCH * O..] {
            *v += 0.5;
        }
        let (_, grads) = dfdx_grads(&m, &x, &y);
        // Perturbing only the first step's input must change the last step's output: compare
        // d loss / d weight_ih, which sums over steps, against the reference.
        let w64: Vec<Vec<f64>> = get(&m)
            .iter()
            .map(|v| v.iter().map(|&a| f64::from(a)).collect())
            .collect();
        for i in [0, 5, 20, 47] {
            let h = 1e-6;
            let mut w = w64.clone();
            w[0][i] += h;
            let up = reference_loss(&w, &x, &y);
            w[0][i] -= 2.0 * h;
            let down = reference_loss(&w, &x, &y);
            let fd = (up - down) / (2.0 * h);
            assert!(fd.abs() > 1e-5, "weight_ih[{i}]: degenerate check");
            assert!((f64::from(grads[0][i]) - fd).abs() < 1e-5 + 1e-3 * fd.abs());
        }
    }

    /// Through the adapter (the optimizers' path), with the adapter's own check that every
    /// tensor got a gradient: Adam on a damped oscillator's trajectories lowers the loss.
    #[test]
    fn training_on_a_damped_oscillator_reduces_the_loss() {
        // x'' = −ω²x − 2ζωx' + u, integrated at dt = 0.01 from a few initial conditions;
        // inputs (x, x', u), target the next (x, x').
        let (w, zeta, dt) = (3.0f64, 0.1, 0.01);
        let make = |seed: u64, n: usize| -> (Vec<f32>, Vec<f32>) {
            let u = random(n, seed, 1.0);
            let (mut p, mut v) = (1.0 - 0.1 * seed as f64, 0.0);
            let (mut xs, mut ys) = (vec![], vec![]);
            for &u in &u {
                xs.extend([p as f32, v as f32, u]);
                let a = -w * w * p - 2.0 * zeta * w * v + f64::from(u);
                v += a * dt;
                p += v * dt;
                ys.extend([p as f32, v as f32 / w as f32]);
            }
            (xs, ys)
        };
        let dev = Dev::default();
        let mut m = Small::new(&dev, 1);
        let mut adapter = Adapter::new(&m.params).unwrap();
        let mut opt = adam(2e-2);
        // Two sequences of 30 steps as one batch, time-major.
        let (xa, ya) = make(1, 30);
        let (xb, yb) = make(2, 30);
        let mut x = vec![];
        let mut y = vec![];
        for t in 0..30 {
            x.extend_from_slice(&xa[t * I..][..I]);
            x.extend_from_slice(&xb[t * I..][..I]);
            y.extend_from_slice(&ya[t * O..][..O]);
            y.extend_from_slice(&yb[t * O..][..O]);
        }
        let mut grads = adapter.fresh_grads();
        let mut losses = vec![];
        for _ in 0..150 {
            let out = m
                .forward(m.rows::<I>(&x).unwrap().traced(grads), 30, 2)
                .unwrap();
            let loss = m.loss(out, &y).unwrap();
            losses.push(loss.array());
            grads = loss.backward();
            adapter.update(&mut m.params, &mut grads, &mut opt).unwrap();
            m.params.zero_grads(&mut grads);
        }
        let (first, last) = (losses[0], *losses.last().unwrap());
        assert!(last < 0.1 * first, "loss {first} → {last}");
    }

    #[test]
    fn learner_trains_and_evaluates_deterministically() {
        let train = [synthetic(400, 0.0, 1.0), synthetic(300, 0.5, 1.0)];
        let test = [synthetic(150, 2.0, 1.0)];
        let data = Arc::new(ForwardData::new(&train, &test, ForwardTarget::StateChange).unwrap());
        let cfg = ForwardConfig {
            subsequence: 32,
            batch: 2,
        };
        let run = |seed: u64| {
            let mut l: ForwardLearner<8, 32> =
                ForwardLearner::new(data.clone(), cfg, seed).unwrap();
            let mut opt = adam(1e-2);
            let before = l.evaluate().unwrap();
            let losses: Vec<f32> = (0..60).map(|_| l.update(&mut opt).unwrap()).collect();
            (before, losses, l.evaluate().unwrap())
        };
        let (before, losses, after) = run(4);
        assert_eq!(run(4).1, losses, "same seed, same run");
        assert_ne!(run(5).1, losses);
        assert!(
            after.state_change < before.state_change,
            "{before:?} → {after:?}"
        );
        assert!(losses.iter().all(|l| l.is_finite()));
    }

    #[test]
    fn predict_set_chunks_like_separate_runs() {
        let train = [synthetic(40, 0.0, 1.0)];
        let test = [synthetic(24, 1.0, 1.0), synthetic(11, 2.0, 1.0)];
        let data = ForwardData::new(&train, &test, ForwardTarget::NextState).unwrap();
        let dev = Dev::default();
        let m = Lstm::<FORWARD_INPUT, 4, 16, STATE>::new(&dev, 0);
        let got = m.predict_set(data.test(), 8, 2).unwrap();
        assert_eq!(got.len(), data.test().steps() * STATE);
        // By hand: every chunk of ≤ 8 steps on its own.
        let mut want = vec![];
        for s in data.test().sequences() {
            let len = s.targets.len() / STATE;
            for t0 in (0..len).step_by(8) {
                let l = 8.min(len - t0);
                want.extend(
                    m.predict(
                        &s.inputs[t0 * FORWARD_INPUT..(t0 + l) * FORWARD_INPUT],
                        l,
                        1,
                    )
                    .unwrap(),
                );
            }
        }
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert!((a - b).abs() < 1e-5, "{i}: {a} vs {b}");
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        let dev = Dev::default();
        let m = Small::new(&dev, 0);
        assert!(m.predict(&[0.0; 7], 1, 1).is_err());
        assert!(m.predict(&[0.0; 12], 3, 1).is_err());
        let y = m.forward(m.rows::<I>(&[0.0; 6]).unwrap(), 2, 1).unwrap();
        assert!(m.loss(y, &[0.0; 3]).is_err());
        assert!(ForwardConfig {
            subsequence: 0,
            batch: 1
        }
        .validated()
        .is_err());
        let names: Vec<String> = Adapter::new(&m.params)
            .unwrap()
            .names()
            .map(String::from)
            .collect();
        assert_eq!(names, NAMES);
    }
}
