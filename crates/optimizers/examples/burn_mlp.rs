//! A burn MLP (2 → 32 → 1, ReLU) on a seeded synthetic regression task, trained through
//! `lrmem_optimizers::burn::BurnOptimizer` with Meta-SGD (every tensor's learning rates from its own
//! memory, η₀ = 0.01) and, from the same initial weights, with plain SGD at that learning rate.
//!
//! ```text
//! cargo run -p lrmem-optimizers --features burn --example burn_mlp [-- STEPS]
//! ```
//! Prints both full-batch losses every 50 steps, the learned rate range of each memory at the
//! end, and fails if Meta-SGD's loss has not fallen to half its start.

use std::error::Error;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig, Relu};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use lrmem_optimizers::burn::BurnOptimizer;
use lrmem_optimizers::{MemoryConfig, Meta, MetaConfig, Optimizer, Sgd, SgdConfig};

/// The model (public: `tests/burn.rs` steps this same model through the adaptor, bit for bit
/// against plain slices).
#[derive(Module, Debug)]
pub struct Mlp {
    pub fc1: Linear,
    pub fc2: Linear,
}

impl Mlp {
    pub fn new(device: &Device) -> Self {
        Mlp {
            fc1: LinearConfig::new(2, 32).init(device),
            fc2: LinearConfig::new(32, 1).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.fc2.forward(Relu::new().forward(self.fc1.forward(x)))
    }
}

/// `n` points uniform in [−2, 2]², targets y = sin(x₁)·cos(x₂) + x₁/4, from a fixed seed.
fn dataset(n: usize, device: &Device) -> (Tensor<2>, Tensor<2>) {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut uniform = || {
        // xorshift64*: reproducible without a dependency.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let r = state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
        r as f32 / (1u64 << 24) as f32 * 4.0 - 2.0
    };
    let x: Vec<f32> = (0..2 * n).map(|_| uniform()).collect();
    let y: Vec<f32> = x
        .chunks(2)
        .map(|p| p[0].sin() * p[1].cos() + p[0] / 4.0)
        .collect();
    (
        Tensor::from_data(TensorData::new(x, [n, 2]), device),
        Tensor::from_data(TensorData::new(y, [n, 1]), device),
    )
}

fn mse(model: &Mlp, x: &Tensor<2>, y: &Tensor<2>) -> Tensor<1> {
    (model.forward(x.clone()) - y.clone())
        .powf_scalar(2.0)
        .mean()
}

/// One training step: the usual burn loop, with the lrmem optimizer's `step` as the update.
fn step<O: Optimizer>(
    model: &mut Mlp,
    opt: &mut BurnOptimizer<O>,
    x: &Tensor<2>,
    y: &Tensor<2>,
) -> Result<f32, Box<dyn Error>> {
    let loss = mse(model, x, y);
    let value = loss.clone().into_scalar::<f32>();
    let grads = GradientsParams::from_grads(loss.backward(), model);
    opt.step(model, &grads)?;
    Ok(value)
}

fn main() -> Result<(), Box<dyn Error>> {
    let steps: usize = match std::env::args().nth(1) {
        Some(s) => s.parse()?,
        None => 500,
    };
    let device = Device::default().autodiff();
    device.seed(7);
    let (x, y) = dataset(256, &device);

    let mut meta_model = Mlp::new(&device);
    let mut sgd_model = meta_model.clone(); // same initial weights
    let memory = MemoryConfig {
        eta0: 1e-2,
        ..MemoryConfig::default()
    };
    let mut meta = BurnOptimizer::new(Meta::sgd(MetaConfig {
        memory,
        ..MetaConfig::default()
    })?);
    let mut sgd = BurnOptimizer::new(Sgd::new(SgdConfig::with_lr(1e-2))?);

    println!("{:>6} {:>12} {:>12}", "step", "meta-sgd", "sgd");
    let (mut first, mut last) = (None, (f32::NAN, f32::NAN));
    for t in 0..steps {
        let meta_loss = step(&mut meta_model, &mut meta, &x, &y)?;
        let sgd_loss = step(&mut sgd_model, &mut sgd, &x, &y)?;
        first.get_or_insert(meta_loss);
        if t % 50 == 0 {
            println!("{t:>6} {meta_loss:>12.6} {sgd_loss:>12.6}");
        }
        last = (meta_loss, sgd_loss);
    }
    let end = (
        mse(&meta_model, &x, &y).into_scalar::<f32>(),
        mse(&sgd_model, &x, &y).into_scalar::<f32>(),
    );
    println!("{steps:>6} {:>12.6} {:>12.6}  (final)", end.0, end.1);
    for (name, theta) in meta.memory_thetas() {
        let (lo, hi) = theta.iter().fold((f32::INFINITY, 0.0f32), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
        println!("memory {name:<11} learning rates θ in [{lo:.2e}, {hi:.2e}] (η₀ = 1e-2)");
    }
    let start = first.unwrap_or(f32::NAN);
    println!(
        "loss {start:.4} → meta-sgd {:.4}, sgd {:.4} (last steps {:.4}, {:.4})",
        end.0, end.1, last.0, last.1
    );
    let learned = end.0 < 0.5 * start;
    if !learned {
        return Err(format!("meta-sgd did not learn: loss {start} → {}", end.0).into());
    }
    Ok(())
}
