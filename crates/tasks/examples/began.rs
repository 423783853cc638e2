//! BEGAN on real MNIST with Adam on both players: M_global every `EVERY` iterations, the time
//! per iteration, and a grid of 8×8 samples as a PGM image at the end. The numbers the GAN
//! workload's sizes and budget were chosen from.
//!
//! `cargo run --release -p lrmem-tasks --example began -- [ITERATIONS] [LR] [BETA1] [OUT.pgm]`
//! (defaults 2000, 1e−4, 0.5, target/began-samples.pgm; MNIST from `cargo xtask data`). It
//! runs on the main thread with dfdx's matmuls split over rayon's pool; set
//! `RAYON_NUM_THREADS=1` to time one core as the harness's parallel runs use it.

use std::time::Instant;

use lrmem_optimizers::{Adam, AdamConfig};
use lrmem_tasks::began::{Began, BeganConfig};
use lrmem_tasks::mnist::{default_dir, shuffled_order, Mnist, PIXELS, SIDE};
use lrmem_tasks::Picture;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let iterations: usize = args.first().map_or(Ok(2000), |s| s.parse())?;
    let lr: f32 = args.get(1).map_or(Ok(1e-4), |s| s.parse())?;
    let beta1: f32 = args.get(2).map_or(Ok(0.5), |s| s.parse())?;
    let out = args
        .get(3)
        .cloned()
        .unwrap_or_else(|| "target/began-samples.pgm".into());
    let mnist = Mnist::load(&default_dir())?;
    let images = &mnist.train.images;
    let order = shuffled_order(images.count, 0);
    let cfg = BeganConfig::default();
    let mut gan = Began::new(cfg, 0)?;
    let adam = || {
        Adam::new(AdamConfig {
            lr,
            beta1,
            ..AdamConfig::default()
        })
    };
    let (mut og, mut od) = (adam()?, adam()?);
    let every = (iterations / 20).max(1);
    let mut batch = Vec::with_capacity(cfg.batch * PIXELS);
    let start = Instant::now();
    let mut m = 0.0;
    for t in 0..iterations {
        batch.clear();
        for j in 0..cfg.batch {
            let i = order[(t * cfg.batch + j) % order.len()];
            let img = images.image(i).expect("in range");
            batch.extend(img.iter().map(|&p| f32::from(p) / 127.5 - 1.0));
        }
        let s = gan.step(&batch, &mut og, &mut od)?;
        m += s.m_global / every as f32;
        if (t + 1) % every == 0 {
            println!(
                "{:>6}: M_global {m:.4} (mean of the last {every}), L(x) {:.4}, L(G(z)) {:.4}, k {:.4}; {:.1} ms per iteration",
                t + 1,
                s.real,
                s.fake_g,
                s.k,
                start.elapsed().as_secs_f64() * 1e3 / (t + 1) as f64
            );
            m = 0.0;
        }
    }
    // An 8×8 grid of samples, pixels mapped back to [0, 1].
    let z = gan.noise(64);
    let tiles: Vec<Vec<f32>> = gan
        .sample(&z)?
        .chunks_exact(PIXELS)
        .map(|img| img.iter().map(|&v| (v + 1.0) * 0.5).collect())
        .collect();
    let grid = Picture::grid(&tiles, SIDE, 8).ok_or("no samples")?;
    let mut pgm = format!("P5 {} {} 255\n", grid.width, grid.height).into_bytes();
    pgm.extend_from_slice(&grid.pixels);
    std::fs::write(&out, pgm)?;
    println!("samples: {out}");
    Ok(())
}
