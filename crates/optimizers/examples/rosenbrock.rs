//! The authors' Rosenbrock notebook: f = (1−x₁)² + 100(x₂−x₁²)² from (1.5, −0.5).
//!
//! ```text
//! cargo run --release -p lrmem-optimizers --example rosenbrock -- [--optimizer sgd|adam|meta-sgd|meta-adam]
//!     [--memory-optimizer sgd|adam] [--memory-lr F] [--lr F] [--clip F] [--centers N]
//!     [--lm-scale F] [--iters N] [--json]
//! ```
//! Defaults are the notebook's: meta-sgd, Adam on θ with ξ = 1e−3, lr = η₀ = 1e−3, clip 10,
//! 100 centres, lm_scale 0.5, 100 iterations. x₁ and x₂ are two tensors with a memory each.
//! Plain `sgd`/`adam` see gradients clipped to ±clip like the notebook's `SGD(clip_grad=…)`.
//! `--json` prints `{"iter": t, "loss": f, "x": [x1, x2]}` per iteration, evaluated before
//! that iteration's step; otherwise a summary against plain SGD.

use std::error::Error;

use lrmem_memory_core::{MemoryConfig, MemoryOptimizer};
use lrmem_optimizers::{Adam, AdamConfig, Meta, MetaConfig, Optimizer, Sgd, SgdConfig};

#[derive(Debug, Clone)]
struct Args {
    optimizer: String,
    memory_optimizer: String,
    memory_lr: f32,
    lr: f32,
    clip: f32,
    centers: usize,
    lm_scale: f32,
    iters: usize,
    json: bool,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            optimizer: "meta-sgd".into(),
            memory_optimizer: "adam".into(),
            memory_lr: 1e-3,
            lr: 1e-3,
            clip: 10.0,
            centers: 100,
            lm_scale: 0.5,
            iters: 100,
            json: false,
        }
    }
}

fn parse() -> Result<Args, Box<dyn Error>> {
    use lexopt::prelude::*;
    let mut a = Args::default();
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Long("optimizer") => a.optimizer = p.value()?.string()?,
            Long("memory-optimizer") => a.memory_optimizer = p.value()?.string()?,
            Long("memory-lr") => a.memory_lr = p.value()?.parse()?,
            Long("lr") => a.lr = p.value()?.parse()?,
            Long("clip") => a.clip = p.value()?.parse()?,
            Long("centers") => a.centers = p.value()?.parse()?,
            Long("lm-scale") => a.lm_scale = p.value()?.parse()?,
            Long("iters") => a.iters = p.value()?.parse()?,
            Long("json") => a.json = true,
            Long("help") | Short('h') => {
                println!(
                    "{}",
                    include_str!("rosenbrock.rs")
                        .lines()
                        .nth(3)
                        .unwrap_or_default()
                );
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    Ok(a)
}

fn rosenbrock(x1: f32, x2: f32) -> (f32, f32, f32) {
    let r = x2 - x1 * x1;
    let loss = (1.0 - x1).powi(2) + 100.0 * r * r;
    (loss, -2.0 * (1.0 - x1) - 400.0 * x1 * r, 200.0 * r)
}

fn build(a: &Args, name: &str) -> Result<Box<dyn Optimizer>, Box<dyn Error>> {
    let optimizer = match a.memory_optimizer.as_str() {
        "sgd" => MemoryOptimizer::sgd(a.memory_lr),
        "adam" => MemoryOptimizer::adam(a.memory_lr),
        o => return Err(format!("--memory-optimizer must be sgd or adam, not {o}").into()),
    };
    let meta = MetaConfig {
        memory: MemoryConfig {
            num_centers: a.centers,
            clip: a.clip,
            lm_scale: a.lm_scale,
            eta0: a.lr,
            optimizer,
            ..MemoryConfig::default()
        },
        ..MetaConfig::default()
    };
    Ok(match name {
        "sgd" => Box::new(Sgd::new(SgdConfig::with_lr(a.lr))?),
        "adam" => Box::new(Adam::new(AdamConfig::with_lr(a.lr))?),
        // η₀ = lr is the base's learning rate too: Meta::sgd/adam take it from the memory config.
        "meta-sgd" => Box::new(Meta::sgd(meta)?),
        "meta-adam" => Box::new(Meta::adam(meta)?),
        o => {
            return Err(
                format!("--optimizer must be sgd, adam, meta-sgd or meta-adam, not {o}").into(),
            )
        }
    })
}

/// (loss, [x1, x2]) at one point of the path.
type Point = (f32, [f32; 2]);

/// Runs `iters` iterations; returns (loss before each step, x before each step), then the final point.
fn run(a: &Args, name: &str) -> Result<Vec<Point>, Box<dyn Error>> {
    let mut opt = build(a, name)?;
    let clips = !name.starts_with("meta");
    let (mut x1, mut x2) = ([1.5f32], [-0.5f32]);
    let mut out = Vec::with_capacity(a.iters + 1);
    for _ in 0..a.iters {
        let (loss, mut g1, mut g2) = rosenbrock(x1[0], x2[0]);
        out.push((loss, [x1[0], x2[0]]));
        if clips {
            (g1, g2) = (g1.clamp(-a.clip, a.clip), g2.clamp(-a.clip, a.clip));
        }
        opt.step("x1", &mut x1, &[g1])?;
        opt.step("x2", &mut x2, &[g2])?;
    }
    out.push((rosenbrock(x1[0], x2[0]).0, [x1[0], x2[0]]));
    Ok(out)
}

fn main() -> Result<(), Box<dyn Error>> {
    let a = parse()?;
    let path = run(&a, &a.optimizer)?;
    if a.json {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for (t, (loss, x)) in path.iter().take(a.iters).enumerate() {
            writeln!(
                out,
                "{}",
                serde_json::json!({ "iter": t, "loss": loss, "x": x })
            )?;
        }
        return Ok(());
    }
    let label = |name: &str| {
        if name.starts_with("meta") {
            format!(
                "{name} ({} on θ, ξ = {:e})",
                a.memory_optimizer, a.memory_lr
            )
        } else {
            name.to_string()
        }
    };
    println!(
        "Rosenbrock from (1.5, −0.5): {} iterations, lr = η₀ = {:e}, clip {}, M = {}",
        a.iters, a.lr, a.clip, a.centers
    );
    println!(
        "{:<36} {:>14} {:>10} {:>10}",
        "optimizer", "final loss", "x1", "x2"
    );
    let mut names = vec![a.optimizer.clone()];
    if a.optimizer != "sgd" {
        names.push("sgd".into());
    }
    let mut finals = vec![];
    for name in &names {
        let p = if *name == a.optimizer {
            path.clone()
        } else {
            run(&a, name)?
        };
        let (loss, x) = *p.last().expect("at least the start");
        println!(
            "{:<36} {:>14.6e} {:>10.5} {:>10.5}",
            label(name),
            loss,
            x[0],
            x[1]
        );
        finals.push(loss);
    }
    if finals.len() == 2 {
        println!(
            "final loss ratio {} / sgd: {:.3e}",
            a.optimizer,
            finals[0] / finals[1]
        );
    }
    Ok(())
}
