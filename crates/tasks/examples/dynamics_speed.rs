//! Speed of the dynamics models: milliseconds per BPTT update of the forward-dynamics LSTM
//! (subsequences of 128 steps, hidden 32, batch 1), microseconds per online update of the
//! inverse-dynamics MLP (21 → 64 → 64 → 7, one sample), and the time of a held-out evaluation.
//!
//! `cargo run --release -p lrmem-tasks --example dynamics_speed`
//!
//! The trajectories are smooth synthetic joint motions (sums of sinusoids, no physics): the
//! cost of an update does not depend on what the numbers mean. The NMSEs printed are only a
//! sign of life, not results.

use std::sync::Arc;
use std::time::Instant;

use lrmem_optimizers::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use lrmem_tasks::dynamics::{
    ArmTrajectory, ForwardData, ForwardTarget, InverseData, SampleOrder, JOINTS,
};
use lrmem_tasks::lstm::{ForwardConfig, ForwardLearner};
use lrmem_tasks::mlp::InverseLearner;
use lrmem_tasks::TaskError;

/// `steps` at 1 ms: joint j follows two sinusoids; τ a smooth nonlinear function of the state.
fn trajectory(steps: usize, seed: u64) -> Result<ArmTrajectory, TaskError> {
    let (mut q, mut qd, mut qdd, mut tau) = (vec![], vec![], vec![], vec![]);
    // Frequencies from a small family (seed mod 10) so that held-out motions resemble the
    // training ones; phases from the seed itself.
    let (s, f) = (seed as f64, (seed % 10) as f64);
    for t in 0..steps {
        let time = t as f64 * 1e-3;
        for j in 0..JOINTS {
            let (w1, w2) = (1.0 + 0.3 * j as f64 + 0.1 * f, 2.7 + 0.2 * j as f64);
            let (p1, p2) = (s + j as f64, 2.0 * s - j as f64);
            let x = 0.5 * (w1 * time + p1).sin() + 0.2 * (w2 * time + p2).sin();
            let v = 0.5 * w1 * (w1 * time + p1).cos() + 0.2 * w2 * (w2 * time + p2).cos();
            let a =
                -0.5 * w1 * w1 * (w1 * time + p1).sin() - 0.2 * w2 * w2 * (w2 * time + p2).sin();
            q.push(x);
            qd.push(v);
            qdd.push(a);
            tau.push(2.0 * a + 0.3 * v + 9.81 * x.cos());
        }
    }
    ArmTrajectory::new(q, qd, qdd, tau)
}

/// CPU seconds used by this process so far (user + system, from /proc; 0 where unavailable):
/// wall time on a shared machine includes other processes' turns, CPU time does not.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which is in parentheses): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    // Linux reports clock ticks of 1/100 s (USER_HZ).
    f.iter().sum::<f64>() / 100.0
}

/// Builds a fresh optimizer for each run.
type MakeOpt = fn() -> Box<dyn Optimizer>;

/// `learner` after `warm` updates: (wall, CPU) seconds per update over `n` more, the wall
/// seconds of one evaluation, and the evaluation.
fn measure<L, E>(
    learner: &mut L,
    warm: usize,
    n: usize,
    mut update: impl FnMut(&mut L) -> Result<f32, TaskError>,
    evaluate: impl FnOnce(&L) -> Result<E, TaskError>,
) -> Result<(f64, f64, f64, E), TaskError> {
    for _ in 0..warm {
        update(learner)?;
    }
    let (start, cpu) = (Instant::now(), cpu_seconds());
    for _ in 0..n {
        update(learner)?;
    }
    let (per, cpu) = (
        start.elapsed().as_secs_f64() / n as f64,
        (cpu_seconds() - cpu) / n as f64,
    );
    let start = Instant::now();
    let e = evaluate(learner)?;
    Ok((per, cpu, start.elapsed().as_secs_f64(), e))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let train: Vec<_> = (0..8)
        .map(|s| trajectory(4000, s))
        .collect::<Result<_, _>>()?;
    let test: Vec<_> = (100..102)
        .map(|s| trajectory(4000, s))
        .collect::<Result<_, _>>()?;

    let fwd = Arc::new(ForwardData::new(&train, &test, ForwardTarget::StateChange)?);
    let copy = fwd.copy_baseline()?;
    println!(
        "forward data: {} training and {} held-out steps; copy baseline NMSE: next state {:.3e}, state change {:.3}",
        fwd.train().steps(),
        fwd.test().steps(),
        copy.next_state,
        copy.state_change
    );
    let opts: [(&str, MakeOpt); 2] = [
        ("SGD", || {
            Box::new(Sgd::new(SgdConfig::with_lr(0.1)).unwrap())
        }),
        ("Adam", || {
            Box::new(Adam::new(AdamConfig::with_lr(3e-3)).unwrap())
        }),
    ];
    for (name, make) in &opts {
        let mut learner: ForwardLearner =
            ForwardLearner::new(fwd.clone(), ForwardConfig::default(), 0)?;
        let mut opt = make();
        let (per, cpu, eval, e) = measure(
            &mut learner,
            20,
            300,
            |l| l.update(&mut *opt),
            |l| l.evaluate(),
        )?;
        println!(
            "LSTM h32, 128-step BPTT, batch 1, {name}: {:.3} ms/update wall, {:.3} ms CPU; evaluation of {} held-out steps {:.1} ms; after {} updates NMSE next state {:.3e}, state change {:.3}",
            per * 1e3,
            cpu * 1e3,
            fwd.test().steps(),
            eval * 1e3,
            learner.updates(),
            e.next_state,
            e.state_change
        );
    }

    let inv = Arc::new(InverseData::new(&train, &test)?);
    for (name, make) in &opts {
        let mut learner: InverseLearner =
            InverseLearner::new(inv.clone(), SampleOrder::Shuffled, 0)?;
        let mut opt = make();
        let (per, cpu, eval, e) = measure(
            &mut learner,
            1000,
            20_000,
            |l| l.update(&mut *opt),
            |l| l.evaluate(),
        )?;
        println!(
            "MLP 21-64-64-7, one sample, {name}: {:.1} µs/update wall, {:.1} µs CPU; evaluation of {} held-out samples {:.1} ms; after {} updates torque NMSE {:.4}",
            per * 1e6,
            cpu * 1e6,
            inv.test().steps(),
            eval * 1e3,
            learner.updates(),
            e
        );
    }
    Ok(())
}
