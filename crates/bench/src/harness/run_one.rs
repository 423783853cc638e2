//! [`run_one`]: one run of an arm with a seed, task by task (a fresh optimizer per task, or the
//! same one carried across), update by update, checking the thresholds after every update.

use std::time::Instant;

use lrmem_optimizers::{Built, OptimError, Optimizer};
use lrmem_tasks::{Task, TaskError, TaskFamily};

use super::{Crossing, Observer, Outcome, Protocol, RunResult, RunSpec, TaskResult};
use crate::BenchError;

/// The seed of task `k` of a run with seed `seed` (SplitMix64 of both): tasks of one run get
/// independent models and data orders, the same on every machine.
pub fn task_seed(seed: u64, k: usize) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15u64.wrapping_mul(k as u64 + 1));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Whether an error means the run diverged (something left the floats) rather than failed.
fn non_finite(e: &TaskError) -> bool {
    matches!(
        e,
        TaskError::Diverged { .. }
            | TaskError::Optim {
                source: OptimError::NonFiniteGradient { .. },
                ..
            }
            | TaskError::Optim {
                source: OptimError::Memory {
                    source: lrmem_optimizers::memory_core::MemoryError::NonFiniteGradient { .. },
                    ..
                },
                ..
            }
    )
}

/// Carries out one run: builds the optimizer, then each task of `family` in order (a fresh
/// optimizer per task, or the same one after [`Optimizer::next_task`] for a reloading arm),
/// `protocol.cap` updates each, checking the threshold after every update until it is reached.
///
/// Bit for bit reproducible: everything random comes from `spec.seed` through
/// [`task_seed`]. A diverging or failing task is an [`Outcome`], not an error; errors are for
/// what stops the run as a whole (an optimizer that cannot be built, a task that cannot be).
pub fn run_one(
    family: &dyn TaskFamily,
    protocol: &Protocol,
    spec: &RunSpec,
    observer: &dyn Observer,
) -> Result<RunResult, BenchError> {
    let started = Instant::now();
    observer.run_started(spec);
    let build = || {
        spec.optimizer_spec()
            .build()
            .map_err(|source| BenchError::Arm {
                arm: spec.arm.name.clone(),
                source: Box::new(source),
            })
    };
    // One optimizer of the arm per player (a GAN's generator and discriminator).
    let players = family.players();
    let build_all = || {
        (0..players.len())
            .map(|_| build())
            .collect::<Result<Vec<_>, _>>()
    };
    let mut opts = build_all()?;
    let mut results = Vec::new();
    for k in 0..spec.tasks.min(family.len()) {
        if k > 0 {
            if spec.arm.reload {
                opts.iter_mut().for_each(|o| o.next_task());
            } else {
                opts = build_all()?;
            }
        }
        let context = || {
            format!(
                "{} task {} ({}), arm {}, seed {}",
                family.name(),
                k + 1,
                family.label(k),
                spec.arm.name,
                spec.seed
            )
        };
        let task_err = |source| BenchError::Task {
            context: context(),
            source: Box::new(source),
        };
        let mut task = family.build(k, task_seed(spec.seed, k)).map_err(task_err)?;
        let run = TaskRun {
            protocol,
            spec,
            k,
            observer,
        };
        let mut result = run.carry_out(task.as_mut(), &mut opts).map_err(task_err)?;
        result.label = family.label(k);
        let refs: Vec<&dyn Optimizer> = opts.iter().map(|o| o as &dyn Optimizer).collect();
        observer.task_finished(spec, k, &result, &refs);
        results.push(result);
    }
    // The memories' θ, named `player/tensor` when there is more than one player.
    let theta: Vec<(String, Vec<f32>)> = if let [opt] = &opts[..] {
        opt.memory_thetas()
    } else {
        players
            .iter()
            .zip(&opts)
            .flat_map(|(p, o)| {
                o.memory_thetas()
                    .into_iter()
                    .map(move |(name, theta)| (format!("{p}/{name}"), theta))
            })
            .collect()
    };
    let result = RunResult {
        spec: spec.clone(),
        tasks: results,
        theta: (!theta.is_empty()).then_some(theta),
        wall_s: started.elapsed().as_secs_f64(),
    };
    observer.run_finished(&result);
    Ok(result)
}

/// Task `k` of a run: what [`TaskRun::carry_out`] needs besides the task and the optimizers.
struct TaskRun<'a> {
    protocol: &'a Protocol,
    spec: &'a RunSpec,
    k: usize,
    observer: &'a dyn Observer,
}

/// What the threshold checks and the curves have seen of a task so far.
#[derive(Default)]
struct Seen {
    reached_at: Option<usize>,
    also_at: Vec<Option<usize>>,
    curve: Vec<(usize, f64)>,
    curves: Vec<(String, Vec<(usize, f64)>)>,
    samples: u64,
}

impl TaskRun<'_> {
    /// Up to `protocol.cap` updates of `task` with `opts`, then the task's own numbers; the
    /// result's label is left for the caller (it knows the family).
    fn carry_out(&self, task: &mut dyn Task, opts: &mut [Built]) -> Result<TaskResult, TaskError> {
        let (protocol, spec, k) = (self.protocol, self.spec, self.k);
        let mut seen = Seen {
            also_at: vec![None; protocol.also.len()],
            ..Seen::default()
        };
        let mut stopped = None;
        let mut train_time = 0.0f64;
        let mut done = 0usize;
        for t in 1..=protocol.cap {
            let start = Instant::now();
            let mut refs: Vec<&mut dyn Optimizer> =
                opts.iter_mut().map(|o| o as &mut dyn Optimizer).collect();
            let step = task.update_players(&mut refs);
            train_time += start.elapsed().as_secs_f64();
            match step {
                Ok(loss) if loss.is_finite() => self.observer.updated(spec, k, t, loss),
                Ok(loss) => {
                    stopped = Some(Outcome::Diverged {
                        update: t,
                        reason: format!("training loss {loss}"),
                    });
                    break;
                }
                Err(e) if non_finite(&e) => {
                    stopped = Some(Outcome::Diverged {
                        update: t,
                        reason: e.to_string(),
                    });
                    break;
                }
                Err(e) => {
                    stopped = Some(Outcome::Failed {
                        update: t,
                        error: e.to_string(),
                    });
                    break;
                }
            }
            done = t;
            self.check(task, t, &mut seen)?;
        }
        // The task's own extra numbers, unless it stopped early (its model is then unusable).
        let extra = if stopped.is_none() {
            if let Some(picture) = task.picture()? {
                self.observer.pictured(spec, k, &picture);
            }
            task.extra_metrics()?
        } else {
            Vec::new()
        };
        // A task that reached the threshold and then diverged still reached it; `stopped`
        // keeps what ended it early.
        let outcome = match (seen.reached_at, &stopped) {
            (Some(update), _) => Outcome::Reached { update },
            (None, Some(stop)) => stop.clone(),
            (None, None) => Outcome::Censored,
        };
        Ok(TaskResult {
            label: String::new(),
            outcome,
            stopped,
            curve: seen.curve,
            updates: done,
            mean_update_us: train_time * 1e6 / done.max(1) as f64,
            check_samples: seen.samples,
            also: protocol
                .also
                .iter()
                .zip(seen.also_at)
                .map(|(&threshold, update)| Crossing { threshold, update })
                .collect(),
            extra,
            curves: seen.curves,
        })
    }

    /// After update `t`: the thresholds not reached yet, then a curve point at a crossing and
    /// every `curve_every` updates (with the task's further curves).
    fn check(&self, task: &mut dyn Task, t: usize, seen: &mut Seen) -> Result<(), TaskError> {
        let (protocol, spec, k) = (self.protocol, self.spec, self.k);
        let mut crossed = false;
        if seen.reached_at.is_none() {
            let check = task.check(protocol.threshold)?;
            seen.samples += check.samples;
            if check.reached {
                seen.reached_at = Some(t);
                crossed = true;
            }
        }
        for (at, &threshold) in seen.also_at.iter_mut().zip(&protocol.also) {
            if at.is_none() {
                let check = task.check(threshold)?;
                seen.samples += check.samples;
                if check.reached {
                    *at = Some(t);
                    crossed = true;
                }
            }
        }
        if crossed && !t.is_multiple_of(protocol.curve_every) {
            let value = task.evaluate()?;
            self.observer.evaluated(spec, k, t, value);
            seen.curve.push((t, value));
        }
        if t.is_multiple_of(protocol.curve_every) {
            let value = task.evaluate()?;
            self.observer.evaluated(spec, k, t, value);
            seen.curve.push((t, value));
            for (name, v) in task.curve_metrics()? {
                match seen.curves.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, c)) => c.push((t, v)),
                    None => seen.curves.push((name, vec![(t, v)])),
                }
            }
        }
        Ok(())
    }
}
