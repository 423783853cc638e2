//! Wall time of one optimizer step on one large tensor, optimizers interleaved in one run.
//!
//! ```text
//! cargo run --release -p lrmem-optimizers --example step_timing -- [D] [M] [ROUNDS]
//! ```
//! Defaults D = 1,000,000, M = 20, 15 rounds. Each round times one step of every optimizer in
//! turn; the median per optimizer and its ratio to Adam's median are printed. Ratios measured
//! side by side are what to quote: the machines are noisy. The criterion suite in
//! `crates/bench` is the thorough version.

use std::time::Instant;

use lrmem_memory_core::{MemoryConfig, MemoryOptimizer};
use lrmem_optimizers::{Adam, AdamConfig, Meta, MetaConfig, Optimizer, Sgd, SgdConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let d = args.first().copied().unwrap_or(1_000_000);
    let m = args.get(1).copied().unwrap_or(20);
    let rounds = args.get(2).copied().unwrap_or(15);
    let meta = MetaConfig {
        memory: MemoryConfig {
            num_centers: m,
            clip: 1.0,
            eta0: 1e-3,
            optimizer: MemoryOptimizer::adam(1e-3),
            ..MemoryConfig::default()
        },
        ..MetaConfig::default()
    };
    // Meta::sgd and Meta::adam take their base's lr (1e-3, the default) from η₀.
    let mut opts: Vec<(&str, Box<dyn Optimizer>)> = vec![
        ("sgd", Box::new(Sgd::new(SgdConfig::default())?)),
        ("adam", Box::new(Adam::new(AdamConfig::default())?)),
        ("meta-sgd", Box::new(Meta::sgd(meta)?)),
        ("meta-adam", Box::new(Meta::adam(meta)?)),
    ];
    // Gradients spread like a network's: mostly small, some beyond the clip.
    let grads: Vec<Vec<f32>> = (0..2)
        .map(|k| {
            (0..d)
                .map(|i| ((i as f32 * 0.7548 + k as f32 * 0.31).sin() * 1.7).powi(3))
                .collect()
        })
        .collect();
    let mut params: Vec<Vec<f32>> = opts.iter().map(|_| vec![0.5f32; d]).collect();
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); opts.len()];
    for r in 0..rounds + 2 {
        for (i, (_, opt)) in opts.iter_mut().enumerate() {
            let start = Instant::now();
            opt.step("w", &mut params[i], &grads[r % 2])?;
            let t = start.elapsed().as_secs_f64();
            if r >= 2 {
                times[i].push(t); // the first two rounds allocate state and warm caches
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let meds: Vec<f64> = times.iter_mut().map(median).collect();
    let adam = meds[1];
    println!("one step on D = {d}, M = {m} (median of {rounds} interleaved rounds)");
    for ((name, _), t) in opts.iter().zip(&meds) {
        println!(
            "{name:<10} {:>9.3} ms {:>7.2} ns/coord {:>6.2}x adam",
            t * 1e3,
            t * 1e9 / d as f64,
            t / adam
        );
    }
    Ok(())
}
