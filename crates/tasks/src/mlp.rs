//! A small MLP for online inverse dynamics, (q, q̇, q̈) ∈ R²¹ → τ ∈ R⁷, and
//! [`InverseLearner`], the one-sample-per-update training loop a harness task wraps.
//!
//! The network is `fc1 → tanh → fc2 → tanh → fc3` with `H1` and `H2` hidden units (default
//! 64 and 64, [`ArmMlp`]) trained on the MSE of normalised torques. The papers learn "online
//! inverse dynamics" one data point at a time but do not describe the model, so the sizes are
//! ours: small enough for microseconds per update, large enough for the smooth nonlinear map
//! (the torques are sums of trigonometric terms in q times q̈, q̇ products and gravity).
//! tanh rather than ReLU because that map is smooth. Initialisation as PyTorch's `nn.Linear`:
//! U(−1/√fan_in, 1/√fan_in) for weights and biases.

use std::sync::Arc;

use dfdx::nn::modules::Linear;
use dfdx::prelude::*;
use lrmem_optimizers::Optimizer;

use crate::dynamics::{nmse, InverseData, SampleOrder, INVERSE_INPUT, JOINTS};
use crate::layers::{linear, mse, rows, Dev, Rows};
use crate::model::{tensor_collection, Trainable, Training};
use crate::TaskError;

/// The MLP's trainable tensors, named `fc1.weight`, `fc1.bias`, …, `fc3.bias`.
#[derive(Debug, Clone)]
pub struct MlpParams<
    const I: usize,
    const H1: usize,
    const H2: usize,
    const O: usize,
    E: Dtype,
    D: Storage<E>,
> {
    /// Input layer.
    pub fc1: Linear<I, H1, E, D>,
    /// Hidden layer.
    pub fc2: Linear<H1, H2, E, D>,
    /// Output layer.
    pub fc3: Linear<H2, O, E, D>,
}

tensor_collection!(MlpParams<const I, const H1, const H2, const O, E, D> { fc1, fc2, fc3 });

/// A two-hidden-layer tanh MLP from `I` inputs to `O` outputs (see the module docs).
///
/// ```
/// use lrmem_tasks::mlp::ArmMlp;
/// let dev = lrmem_tasks::lstm::Dev::default();
/// let mlp = ArmMlp::new(&dev, 0);
/// assert_eq!(mlp.predict(&[0.0; 21 * 3])?.len(), 7 * 3);
/// # Ok::<(), lrmem_tasks::TaskError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Mlp<const I: usize, const H1: usize, const H2: usize, const O: usize> {
    /// The trainable tensors (walk these with [`crate::adapter::Adapter`]).
    pub params: MlpParams<I, H1, H2, O, f32, Dev>,
    dev: Dev,
}

/// The arm's inverse-dynamics MLP: (q, q̇, q̈) ∈ R²¹ → τ ∈ R⁷, hidden 64 and 64.
pub type ArmMlp = Mlp<INVERSE_INPUT, 64, 64, JOINTS>;

impl<const I: usize, const H1: usize, const H2: usize, const O: usize> Mlp<I, H1, H2, O> {
    /// An MLP on `dev` initialised from ChaCha8 stream 1 of `seed` (stream 0 is for data
    /// order), so the same seed gives the same network everywhere.
    pub fn new(dev: &Dev, seed: u64) -> Self {
        let mut rng = crate::random::stream(seed, 1);
        let params = MlpParams {
            fc1: linear(dev, &mut rng),
            fc2: linear(dev, &mut rng),
            fc3: linear(dev, &mut rng),
        };
        Mlp {
            params,
            dev: dev.clone(),
        }
    }

    /// Packs input rows (`n·I` values) into an `(n, I)` tensor.
    pub fn rows(&self, values: &[f32]) -> Result<Rows<I>, TaskError> {
        rows(&self.dev, values)
    }

    /// Outputs `(n, O)` for inputs `(n, I)`; with a tape, backward reaches every parameter.
    pub fn forward<T: Tape<f32, Dev>>(&self, x: Rows<I, T>) -> Result<Rows<O, T>, TaskError> {
        let p = &self.params;
        let h = p.fc1.try_forward(x)?.try_tanh()?;
        let h = p.fc2.try_forward(h)?.try_tanh()?;
        Ok(p.fc3.try_forward(h)?)
    }

    /// The MSE of `y` against `targets` (row-major, as `y`).
    pub fn loss<T: Tape<f32, Dev>>(
        &self,
        y: Rows<O, T>,
        targets: &[f32],
    ) -> Result<Tensor<Rank0, f32, Dev, T>, TaskError> {
        mse(&self.dev, y, targets)
    }

    /// Outputs for input rows (`n·I` values), `n·O` values, without a tape.
    pub fn predict(&self, inputs: &[f32]) -> Result<Vec<f32>, TaskError> {
        Ok(self.forward(self.rows(inputs)?)?.as_vec())
    }
}

impl<const I: usize, const H1: usize, const H2: usize, const O: usize> Trainable
    for Mlp<I, H1, H2, O>
{
    type Params = MlpParams<I, H1, H2, O, f32, Dev>;

    fn params(&self) -> &Self::Params {
        &self.params
    }

    fn params_mut(&mut self) -> &mut Self::Params {
        &mut self.params
    }
}

/// Held-out samples per batched evaluation pass.
const EVAL_BATCH: usize = 1024;

/// Online inverse-dynamics learning: each [`update`](Self::update) takes the next training
/// sample in the chosen [`SampleOrder`] (cycling), and steps every tensor with the caller's
/// optimizer on its MSE; [`evaluate`](Self::evaluate) is the held-out torque NMSE. A harness
/// `Task` is a thin wrapper around it.
///
/// ```
/// use std::sync::Arc;
/// use lrmem_tasks::dynamics::{InverseData, SampleOrder};
/// use lrmem_tasks::mlp::InverseLearner;
/// use lrmem_tasks::robot::{trajectories, RobotConfig};
/// use lrmem_optimizers::{Sgd, SgdConfig};
///
/// // The Panda's second task (a payload), one training and one held-out trajectory of 0.1 s.
/// let tiny = RobotConfig { train: 1, test: 1, seconds: 0.1, ..RobotConfig::inverse() };
/// let task = &trajectories(&tiny)?[1];
/// let data = Arc::new(InverseData::new(&task.train, &task.test)?);
/// let mut learner: InverseLearner = InverseLearner::new(data, SampleOrder::Shuffled, 0)?;
/// let mut opt = Sgd::new(SgdConfig::with_lr(1e-2))?;
/// for _ in 0..10 {
///     learner.update(&mut opt)?;
/// }
/// assert!(learner.evaluate()?.is_finite());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct InverseLearner<const H1: usize = 64, const H2: usize = 64> {
    mlp: Mlp<INVERSE_INPUT, H1, H2, JOINTS>,
    training: Training<Mlp<INVERSE_INPUT, H1, H2, JOINTS>>,
    data: Arc<InverseData>,
    order: Vec<(u32, u32)>,
    updates: usize,
    /// The reused `(1, 21)` input tensor.
    x: Rows<INVERSE_INPUT>,
    /// The held-out targets, concatenated (computed once).
    test_targets: Vec<f32>,
}

impl<const H1: usize, const H2: usize> InverseLearner<H1, H2> {
    /// A fresh learner on `data`: the MLP initialised from `seed` (stream 1), the samples in
    /// `order` (shuffled with `seed`, stream 0). Share one `data` between runs.
    pub fn new(data: Arc<InverseData>, order: SampleOrder, seed: u64) -> Result<Self, TaskError> {
        dfdx::flush_denormals_to_zero();
        let dev = Dev::default();
        let mlp = Mlp::new(&dev, seed);
        let training = Training::new(&mlp)?;
        let order = data.order(order, seed);
        let x = dev.try_zeros_like(&(1, Const::<INVERSE_INPUT>))?;
        let test_targets = data.test().all_targets();
        Ok(InverseLearner {
            mlp,
            training,
            data,
            order,
            updates: 0,
            x,
            test_targets,
        })
    }

    /// Training updates done so far.
    pub fn updates(&self) -> usize {
        self.updates
    }

    /// The data.
    pub fn data(&self) -> &InverseData {
        &self.data
    }

    /// The model.
    pub fn mlp(&self) -> &Mlp<INVERSE_INPUT, H1, H2, JOINTS> {
        &self.mlp
    }

    /// One update on the next training sample; returns its MSE (normalised torques) before
    /// the step.
    pub fn update(&mut self, opt: &mut dyn Optimizer) -> Result<f32, TaskError> {
        dfdx::flush_denormals_to_zero();
        let (s, t) = self.order[self.updates % self.order.len()];
        let seq = &self.data.train().sequences()[s as usize];
        let t = t as usize;
        self.x
            .copy_from(&seq.inputs[t * INVERSE_INPUT..(t + 1) * INVERSE_INPUT]);
        let (x, target) = (&self.x, &seq.targets[t * JOINTS..(t + 1) * JOINTS]);
        let value = self.training.step(&mut self.mlp, opt, |mlp, grads| {
            mlp.loss(mlp.forward(x.clone().traced(grads))?, target)
        })?;
        self.updates += 1;
        Ok(value)
    }

    /// Held-out NMSE of the torques (at the optimizer's evaluation point, if it has one).
    pub fn evaluate(&self) -> Result<f64, TaskError> {
        dfdx::flush_denormals_to_zero();
        let model = self.training.evaluated(&self.mlp);
        let mut pred = Vec::with_capacity(self.test_targets.len());
        let inputs: Vec<f32> = self
            .data
            .test()
            .sequences()
            .iter()
            .flat_map(|s| s.inputs.iter().copied())
            .collect();
        for chunk in inputs.chunks(EVAL_BATCH * INVERSE_INPUT) {
            pred.extend(model.predict(chunk)?);
        }
        nmse(&pred, &self.test_targets, JOINTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::{trainable_values, Adapter};
    use crate::testing::{adam, assert_gradient, random, synthetic};

    type Small = Mlp<5, 6, 4, 3>;

    /// Every coordinate of every tensor against central finite differences of the f32 loss
    /// (h = 1e-2: rounding error ~1e-5, truncation ~2e-5·|L'''|, hence 2e-4 + 2%), and no
    /// tensor with an all-zero gradient.
    #[test]
    fn gradients_match_finite_differences() {
        let dev = Dev::default();
        let m = Small::new(&dev, 2);
        let x = random(2 * 5, 3, 1.0);
        let y = random(2 * 3, 4, 1.0);
        let loss_of = |m: &Small| {
            m.loss(m.forward(m.rows(&x).unwrap()).unwrap(), &y)
                .unwrap()
                .array()
        };
        let out = m
            .forward(m.rows(&x).unwrap().traced(m.params.alloc_grads()))
            .unwrap();
        let g = m.loss(out, &y).unwrap().backward();
        let grads = trainable_values(&m.params, Some(&g)).unwrap();
        let values = trainable_values(&m.params, None).unwrap();
        let mut adapter = Adapter::new(&m.params).unwrap();
        assert_eq!(grads.len(), 6);
        let close = |got: f32, want: f32| (got - want).abs() < 2e-4 + 2e-2 * want.abs();
        for (k, grad) in grads.iter().enumerate() {
            assert!(
                grad.iter().any(|&v| v != 0.0),
                "tensor {k}: all-zero gradient"
            );
            let name = format!("tensor {k}");
            assert_gradient(&name, grad, &values[k], 0..grad.len(), 1e-2, close, |w| {
                let mut mm = m.clone();
                let mut all = values.clone();
                all[k] = w.to_vec();
                adapter.load(&mut mm.params, &all).unwrap();
                loss_of(&mm)
            });
        }
    }

    #[test]
    fn online_learning_lowers_the_heldout_nmse() {
        let train = [synthetic(600, 0.0, 1.0), synthetic(600, 1.3, 0.8)];
        let test = [synthetic(300, 0.6, 0.9)];
        let data = Arc::new(InverseData::new(&train, &test).unwrap());
        let run = |seed: u64| {
            let mut l: InverseLearner<16, 16> =
                InverseLearner::new(data.clone(), SampleOrder::Shuffled, seed).unwrap();
            let mut opt = adam(3e-3);
            let before = l.evaluate().unwrap();
            let losses: Vec<f32> = (0..600).map(|_| l.update(&mut opt).unwrap()).collect();
            (before, losses, l.evaluate().unwrap())
        };
        let (before, losses, after) = run(1);
        assert!(after < 0.5 * before, "NMSE {before} → {after}");
        assert_eq!(run(1).1, losses, "same seed, same run");
    }

    #[test]
    fn names_and_bad_inputs() {
        let dev = Dev::default();
        let m = ArmMlp::new(&dev, 0);
        let names: Vec<String> = Adapter::new(&m.params)
            .unwrap()
            .names()
            .map(String::from)
            .collect();
        assert_eq!(
            names,
            [
                "fc1.weight",
                "fc1.bias",
                "fc2.weight",
                "fc2.bias",
                "fc3.weight",
                "fc3.bias"
            ]
        );
        assert!(m.predict(&[0.0; 20]).is_err());
        let y = m.forward(m.rows(&[0.0; 21]).unwrap()).unwrap();
        assert!(m.loss(y, &[0.0; 6]).is_err());
    }
}
