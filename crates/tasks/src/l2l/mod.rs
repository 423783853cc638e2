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

mod families;
mod meta;

pub use families::{MnistMlp, Quadratics};
pub use meta::{meta_train, run_optimizer, run_weights, MetaTrained, MetaTraining};

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
