//! What the robot task families cost and how fast plain optimizers learn their first task:
//! the data generation time of both families, then held-out NMSE against updates on task 1
//! for SGD and Adam at the papers' learning rate 1e−3 (and, for inverse dynamics, both sample
//! orders). The numbers the workloads' caps and curve spacings were chosen from.
//!
//! `cargo run --release -p lrmem-tasks --example robot_tasks -- [MODE] [UPDATES] [LR]`, MODE one
//! of `forward` (the default), `inverse`, `diag`, `rates`, `perdim`, `stats` (each function below
//! says what it prints).

use std::time::Instant;

use lrmem_optimizers::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use lrmem_tasks::dynamics::{ForwardData, SampleOrder};
use lrmem_tasks::robot::{PandaForward, PandaInverse, RobotConfig};
use lrmem_tasks::TaskFamily;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn optimizers(lr: f32) -> Vec<(&'static str, Box<dyn Optimizer>)> {
    vec![
        (
            "sgd",
            Box::new(Sgd::new(SgdConfig::with_lr(lr)).expect("valid")),
        ),
        (
            "adam",
            Box::new(Adam::new(AdamConfig::with_lr(lr)).expect("valid")),
        ),
    ]
}

fn curve(
    family: &dyn TaskFamily,
    name: &str,
    opt: &mut dyn Optimizer,
    updates: usize,
    every: usize,
) -> Result {
    let mut task = family.build(0, 0)?;
    let start = Instant::now();
    let mut line = format!("{name}:");
    let (mut first01, mut first003) = (None, None);
    for t in 1..=updates {
        task.update(opt)?;
        if t % every == 0 {
            let v = task.evaluate()?;
            if v <= 0.1 && first01.is_none() {
                first01 = Some(t);
            }
            if v <= 0.03 && first003.is_none() {
                first003 = Some(t);
            }
            line.push_str(&format!(" {t}:{v:.3}"));
        }
    }
    println!(
        "{line}\n  → ≤0.1 at {first01:?}, ≤0.03 at {first003:?}; {:.1} µs per update incl. evaluations",
        start.elapsed().as_secs_f64() * 1e6 / updates as f64
    );
    Ok(())
}

fn main() -> Result {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().map_or("forward", String::as_str);
    let updates: usize = args.get(1).map_or(Ok(2000), |s| s.parse())?;
    let lr: f32 = args.get(2).map_or(Ok(1e-3), |s| s.parse())?;
    match which {
        "diag" => diag(updates, lr),
        "rates" => rates(updates, lr),
        "perdim" => perdim(updates, lr),
        "stats" => stats(),
        "forward" => forward(updates, lr),
        _ => inverse(updates, lr),
    }
}

/// Both sample orders of the inverse workload's task 1, both optimizers.
fn diag(updates: usize, lr: f32) -> Result {
    let tr = lrmem_tasks::robot::trajectories(&RobotConfig::inverse())?;
    for order in [SampleOrder::Stream, SampleOrder::Shuffled] {
        let family = PandaInverse::from_trajectories(&tr, order, 500)?;
        println!("inverse ({order:?}):");
        for (name, mut opt) in optimizers(lr) {
            curve(&family, name, opt.as_mut(), updates, (updates / 20).max(1))?;
        }
    }
    Ok(())
}

/// Meta-SGD (ξ = 0.01, η₀ = LR) on the inverse workload's three tasks, the memory kept across
/// tasks (the reloaded arm): every UPDATES/10 updates the held-out NMSE and the mean rate each
/// tensor's last step applied. Shows whether the rates keep growing once the NMSE has levelled
/// off, and what a reloaded memory starts the next task with.
fn rates(updates: usize, lr: f32) -> Result {
    use lrmem_optimizers::{MemoryConfig, MemoryOptimizer, Meta, MetaConfig};
    let family = PandaInverse::new(&RobotConfig::inverse())?;
    let mut opt = Meta::sgd(MetaConfig {
        memory: MemoryConfig {
            eta0: lr,
            optimizer: MemoryOptimizer::adam(0.01),
            ..MemoryConfig::default()
        },
        ..MetaConfig::default()
    })?;
    for k in 0..3 {
        let mut task = family.build(k, 0)?;
        if k > 0 {
            opt.reload();
        }
        for t in 1..=updates {
            task.update(&mut opt)?;
            if t % (updates / 10).max(1) == 0 {
                let keys: Vec<String> = opt.memories().map(|(k, _)| k.to_string()).collect();
                let rates = keys
                    .iter()
                    .filter_map(|key| opt.last_rates(key).map(|r| format!("{key} {:.2e}", r.mean)))
                    .collect::<Vec<_>>()
                    .join(", ");
                println!(
                    "task {} update {t}: NMSE {:.3}; mean rates {rates}",
                    k + 1,
                    task.evaluate()?
                );
            }
        }
    }
    Ok(())
}

/// The least-squares affine map from inputs to targets of `data`'s training sequences (with a
/// tiny ridge), applied to its held-out inputs: what a linear predictor can reach.
fn linear_fit(data: &ForwardData) -> Vec<f32> {
    let (din, dout) = (data.train().din(), data.train().dout());
    let k = din + 1;
    let mut ata = vec![0.0f64; k * k];
    let mut aty = vec![0.0f64; k * dout];
    for s in data.train().sequences() {
        for (x, y) in s.inputs.chunks(din).zip(s.targets.chunks(dout)) {
            let row: Vec<f64> = x.iter().map(|&v| v as f64).chain([1.0]).collect();
            for i in 0..k {
                for j in 0..k {
                    ata[i * k + j] += row[i] * row[j];
                }
                for o in 0..dout {
                    aty[i * dout + o] += row[i] * y[o] as f64;
                }
            }
        }
    }
    for i in 0..k {
        ata[i * k + i] += 1e-9;
    }
    // Gauss-Jordan on [ata | aty].
    for c in 0..k {
        let p = ata[c * k + c];
        for r in 0..k {
            if r == c {
                continue;
            }
            let f = ata[r * k + c] / p;
            for j in 0..k {
                ata[r * k + j] -= f * ata[c * k + j];
            }
            for o in 0..dout {
                aty[r * dout + o] -= f * aty[c * dout + o];
            }
        }
    }
    let mut pred = Vec::new();
    for s in data.test().sequences() {
        for x in s.inputs.chunks(din) {
            let row: Vec<f64> = x.iter().map(|&v| v as f64).chain([1.0]).collect();
            for o in 0..dout {
                let v: f64 = (0..k)
                    .map(|i| row[i] * aty[i * dout + o] / ata[i * k + i])
                    .sum();
                pred.push(v as f32);
            }
        }
    }
    pred
}

/// Per output dimension: the held-out state-change NMSE of a least-squares affine model fitted
/// on the training data ([`linear_fit`]), and of the LSTM trained with Adam for UPDATES updates
/// in batches of 1 and 16.
fn perdim(updates: usize, lr: f32) -> Result {
    let family = PandaForward::new(&RobotConfig::forward())?;
    let data = family.data(0).expect("task 1").clone();
    let dout = data.train().dout();
    let per_dim = |pred: &[f32]| {
        let y = data.test().all_targets();
        (0..dout)
            .map(|d| {
                let p: Vec<f32> = pred.iter().skip(d).step_by(dout).copied().collect();
                let t: Vec<f32> = y.iter().skip(d).step_by(dout).copied().collect();
                format!(
                    "{:.3}",
                    lrmem_tasks::dynamics::nmse(&p, &t, 1).unwrap_or(f64::NAN)
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let pred = linear_fit(&data);
    println!(
        "linear: {:?}\n  per dim (q then q̇): {}",
        data.nmse(&pred)?,
        per_dim(&pred)
    );
    for batch in [1usize, 16] {
        let mut learner = lrmem_tasks::lstm::ForwardLearner::<32, 128>::new(
            data.clone(),
            lrmem_tasks::lstm::ForwardConfig {
                batch,
                ..Default::default()
            },
            0,
        )?;
        let mut opt = Adam::new(AdamConfig::with_lr(lr))?;
        let start = Instant::now();
        for t in 1..=updates {
            learner.update(&mut opt)?;
            if t % (updates / 5).max(1) == 0 {
                let pred = learner.lstm().predict_set(data.test(), 128, 256)?;
                println!(
                    "lstm batch {batch} after {t}: {:?} ({:.1} s)\n  per dim: {}",
                    data.nmse(&pred)?,
                    start.elapsed().as_secs_f64(),
                    per_dim(&pred)
                );
            }
        }
    }
    Ok(())
}

/// Per dimension: the held-out targets' mean and standard deviation in training units.
fn stats() -> Result {
    let stats = |set: &lrmem_tasks::dynamics::SequenceSet| {
        let y = set.all_targets();
        let d = set.dout();
        let n = (y.len() / d) as f64;
        (0..d)
            .map(|j| {
                let m = y.iter().skip(j).step_by(d).map(|&v| v as f64).sum::<f64>() / n;
                let v = y
                    .iter()
                    .skip(j)
                    .step_by(d)
                    .map(|&v| (v as f64 - m).powi(2))
                    .sum::<f64>()
                    / n;
                format!("{m:+.2}/{:.2}", v.sqrt())
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    for (test, seconds) in [(1usize, 5.0f64), (4, 5.0), (8, 1.0), (16, 1.0)] {
        let config = RobotConfig {
            test,
            seconds,
            train: (60.0 / seconds) as usize,
            ..RobotConfig::inverse()
        };
        let family = PandaInverse::new(&config)?;
        let fwd = PandaForward::from_trajectories(
            &lrmem_tasks::robot::trajectories(&config)?,
            Default::default(),
            50,
        )?;
        for k in 0..3 {
            println!(
                "test {test}×{seconds}s task {k} inverse: {}",
                stats(family.data(k).unwrap().test())
            );
            println!(
                "   forward: {} copy {:?}",
                stats(fwd.data(k).unwrap().test()),
                fwd.copy_baseline(k)
            );
        }
    }
    Ok(())
}

/// The forward family's data time and copy baselines, then both optimizers' curves on task 1.
fn forward(updates: usize, lr: f32) -> Result {
    let start = Instant::now();
    let family = PandaForward::new(&RobotConfig::forward())?;
    println!(
        "panda-forward: data in {:.2} s; copy baselines {:?}",
        start.elapsed().as_secs_f64(),
        (0..3).map(|k| family.copy_baseline(k)).collect::<Vec<_>>()
    );
    for (name, mut opt) in optimizers(lr) {
        curve(&family, name, opt.as_mut(), updates, (updates / 20).max(1))?;
    }
    Ok(())
}

/// For each sample order: the inverse family's data time, then both optimizers' curves on
/// task 1.
fn inverse(updates: usize, lr: f32) -> Result {
    for order in [SampleOrder::Stream, SampleOrder::Shuffled] {
        let start = Instant::now();
        let family = PandaInverse::new(&RobotConfig {
            order,
            ..RobotConfig::inverse()
        })?;
        println!(
            "panda-inverse ({order:?}): data in {:.2} s",
            start.elapsed().as_secs_f64()
        );
        for (name, mut opt) in optimizers(lr) {
            curve(&family, name, opt.as_mut(), updates, (updates / 20).max(1))?;
        }
    }
    Ok(())
}
