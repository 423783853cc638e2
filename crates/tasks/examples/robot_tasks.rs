//! What the robot task families cost and how fast plain optimizers learn their first task:
//! the data generation time of both families, then held-out NMSE against updates on task 1
//! for SGD and Adam at the papers' learning rate 1e−3 (and, for inverse dynamics, both sample
//! orders). The numbers the workloads' caps and curve spacings were chosen from.
//!
//! `cargo run --release -p lrmem-tasks --example robot_tasks -- [forward|inverse] [UPDATES] [LR]`

use std::time::Instant;

use lrmem_optimizers::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use lrmem_tasks::dynamics::SampleOrder;
use lrmem_tasks::robot::{PandaForward, PandaInverse, RobotConfig};
use lrmem_tasks::TaskFamily;

fn optimizers(lr: f32) -> Vec<(&'static str, Box<dyn Optimizer>)> {
    vec![
        (
            "sgd",
            Box::new(
                Sgd::new(SgdConfig {
                    lr,
                    ..SgdConfig::default()
                })
                .expect("valid"),
            ),
        ),
        (
            "adam",
            Box::new(
                Adam::new(AdamConfig {
                    lr,
                    ..AdamConfig::default()
                })
                .expect("valid"),
            ),
        ),
    ]
}

fn curve(
    family: &dyn TaskFamily,
    name: &str,
    opt: &mut dyn Optimizer,
    updates: usize,
    every: usize,
) -> Result<(), Box<dyn std::error::Error>> {
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().map_or("forward", String::as_str).to_string();
    let updates: usize = args.get(1).map_or(Ok(2000), |s| s.parse())?;
    let lr: f32 = args.get(2).map_or(Ok(1e-3), |s| s.parse())?;
    if which == "diag" {
        // Held-out = training data: can the model fit what it trains on?
        let tr = lrmem_tasks::robot::trajectories(&RobotConfig::inverse())?;
        for order in [SampleOrder::Stream, SampleOrder::Shuffled] {
            let family = PandaInverse::from_trajectories(&tr, order, 500)?;
            println!("inverse ({order:?}):");
            for (name, mut opt) in optimizers(lr) {
                curve(&family, name, opt.as_mut(), updates, (updates / 20).max(1))?;
            }
        }
        return Ok(());
    }
    if which == "stats" {
        // Per dimension: the held-out targets' mean and standard deviation in training units.
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
        return Ok(());
    }
    if which == "forward" {
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
    } else {
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
    }
    Ok(())
}
