//! Sanity run (not the experiment): online SGD on MNIST 1 vs 2, test accuracy every 200
//! updates, for each pixel scaling.
//!
//! `cargo run --release -p lrmem-tasks --example sanity -- [LR] [UPDATES] [SEED]`
//! (defaults 1e-3, 2000, 0; needs `cargo xtask data`).

mod common;

use std::sync::Arc;
use std::time::Instant;

use lrmem_optimizers::{Sgd, SgdConfig};
use lrmem_tasks::mnist::{default_dir, Mnist, PixelScale};
use lrmem_tasks::{OnlineMnist, Task};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (lr, updates, seed) = common::lr_updates_seed(2000)?;
    let mnist = Mnist::load(&default_dir())?;
    for scale in [PixelScale::Unit, PixelScale::Standardized, PixelScale::Raw] {
        let pair = Arc::new(mnist.pair(1, 2, scale)?);
        let mut task = OnlineMnist::new(pair, seed)?;
        let mut opt = Sgd::new(SgdConfig::with_lr(lr))?;
        let t = Instant::now();
        let mut line = format!(
            "{scale:?} lr {lr:e} seed {seed}: acc@0 {:.4}",
            task.evaluate()?
        );
        let mut loss_sum = 0.0;
        for u in 1..=updates {
            loss_sum += task.update(&mut opt)?;
            if u % 200 == 0 {
                line += &format!(
                    " | @{u} {:.4} (loss {:.3})",
                    task.evaluate()?,
                    loss_sum / 200.0
                );
                loss_sum = 0.0;
            }
        }
        println!("{line}  [{:.1} s]", t.elapsed().as_secs_f64());
    }
    Ok(())
}
