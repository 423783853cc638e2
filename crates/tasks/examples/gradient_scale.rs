//! Where the LeNet's gradients fall, per tensor: what the memory's `clip` (the range its
//! centres span) and M should be chosen from. Online SGD on MNIST 1 vs 2; prints, per tensor
//! and training phase, quantiles of |g| and the fraction of coordinates beyond a clip of 1
//! (the default), i.e. those the memory sees at its outermost centre.
//!
//! `cargo run --release -p lrmem-tasks --example gradient_scale -- [LR] [UPDATES] [SEED]`
//! (defaults 1e-3, 1000, 0; needs `cargo xtask data`). docs/guide.md quotes its output.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use lrmem_optimizers::{OptimError, Optimizer, Sgd, SgdConfig};
use lrmem_tasks::mnist::{default_dir, Mnist, PixelScale};
use lrmem_tasks::{OnlineMnist, Task};

/// SGD that keeps every |g| it sees, per tensor and phase.
struct Recorder {
    inner: Sgd,
    phase: usize,
    seen: BTreeMap<(usize, String), Vec<f32>>,
}

impl Optimizer for Recorder {
    fn step(&mut self, name: &str, params: &mut [f32], grads: &[f32]) -> Result<(), OptimError> {
        self.seen
            .entry((self.phase, name.to_string()))
            .or_default()
            .extend(grads.iter().map(|g| g.abs()));
        self.inner.step(name, params, grads)
    }

    fn next_task(&mut self) {
        self.inner.next_task();
    }
}

fn quantile(sorted: &[f32], q: f64) -> f32 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (lr, updates, seed) = common::lr_updates_seed(1000)?;
    let mnist = Mnist::load(&default_dir())?;
    let pair = Arc::new(mnist.pair(1, 2, PixelScale::Unit)?);
    let mut task = OnlineMnist::new(pair, seed)?;
    let mut rec = Recorder {
        inner: Sgd::new(SgdConfig::with_lr(lr))?,
        phase: 0,
        seen: BTreeMap::new(),
    };
    let phases = [updates / 10, updates];
    for t in 0..updates {
        rec.phase = usize::from(t >= phases[0]);
        task.update(&mut rec)?;
    }
    println!(
        "MNIST 1 vs 2, SGD lr {lr:e}, seed {seed}, {updates} online updates; test accuracy {:.4}",
        task.evaluate()?
    );
    println!("| updates | tensor | median |g| | 90% | 99% | max | share > 1 |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for ((phase, name), mut v) in rec.seen {
        v.sort_by(f32::total_cmp);
        let beyond = v.iter().filter(|&&g| g > 1.0).count() as f64 / v.len() as f64;
        let range = if phase == 0 {
            format!("1–{}", phases[0])
        } else {
            format!("{}–{updates}", phases[0] + 1)
        };
        println!(
            "| {range} | {name} | {:.1e} | {:.1e} | {:.1e} | {:.1e} | {:.2}% |",
            quantile(&v, 0.5),
            quantile(&v, 0.9),
            quantile(&v, 0.99),
            v[v.len() - 1],
            100.0 * beyond
        );
    }
    Ok(())
}
