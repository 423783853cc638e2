//! Online LeNet speed: updates/s at batch 1 (forward + backward + SGD through the adapter) and
//! the time of one full test-set evaluation of a digit pair.
//!
//! `cargo run --release -p lrmem-tasks --example speed` — uses real MNIST 1 vs 2 when
//! `cargo xtask data` has fetched it, else random images of the same sizes.

use std::sync::Arc;
use std::time::Instant;

use lrmem_optimizers::{Sgd, SgdConfig};
use lrmem_tasks::mnist::{default_dir, BinaryPair, Mnist, PixelScale, Samples, PIXELS};
use lrmem_tasks::{OnlineMnist, Task, EVAL_BATCH};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pair = match Mnist::load(&default_dir()) {
        Ok(m) => {
            println!("data: MNIST 1 vs 2 from {}", default_dir().display());
            m.pair(1, 2, PixelScale::Unit)?
        }
        Err(e) => {
            println!("data: random images ({e})");
            let fake = |n: usize| {
                let px = (0..n * PIXELS)
                    .map(|i| ((i * 7919) % 256) as f32 / 255.0)
                    .collect();
                Samples::new(px, (0..n).map(|i| (i % 2) as u8).collect())
            };
            BinaryPair {
                digits: (1, 2),
                train: fake(12_700)?,
                test: fake(2_167)?,
            }
        }
    };
    let pair = Arc::new(pair);
    // `speed update` or `speed eval` runs one part only (for profiling).
    let only = std::env::args().nth(1);
    let mut task = OnlineMnist::new(pair.clone(), 0)?;
    let mut opt = Sgd::new(SgdConfig::with_lr(1e-3))?;
    for _ in 0..200 {
        task.update(&mut opt)?; // warm-up (allocator cache, page faults)
    }
    let n = if only.as_deref() == Some("eval") {
        0
    } else {
        5_000
    };
    let t = Instant::now();
    for _ in 0..n {
        task.update(&mut opt)?;
    }
    let dt = t.elapsed().as_secs_f64();
    println!(
        "online update (batch 1, fwd+bwd+SGD via adapter): {:.1} µs/update, {:.0} updates/s",
        dt / n as f64 * 1e6,
        n as f64 / dt
    );

    if only.as_deref() == Some("update") {
        return Ok(());
    }
    task.evaluate()?;
    let reps = 5;
    let t = Instant::now();
    for _ in 0..reps {
        task.evaluate()?;
    }
    let dt = t.elapsed().as_secs_f64() / reps as f64;
    println!(
        "evaluation of {} test images (batches of {EVAL_BATCH}): {:.1} ms ({:.0} images/s)",
        pair.test.len(),
        dt * 1e3,
        pair.test.len() as f64 / dt
    );
    for batch in [8, 16, 32, 64, 128, 512] {
        let t = Instant::now();
        for _ in 0..reps {
            task.net().accuracy(&pair.test, batch)?;
        }
        println!(
            "  batches of {batch:>4}: {:.1} ms",
            t.elapsed().as_secs_f64() / reps as f64 * 1e3
        );
    }
    Ok(())
}
