//! The report's tables: updates to the threshold per arm and task (mean ± std over seeds, misses
//! counted at the cap), the tasks' extra numbers, the tuned rates and the time per update.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::harness::{Outcome, Results, RunResult, Setting};

/// Updates-to-threshold of an arm on one task over its seeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Mean updates, with runs that missed the threshold counted as the cap (a lower bound
    /// when `missed > 0`).
    pub mean: f64,
    /// Sample standard deviation of the same numbers.
    pub std: f64,
    /// Runs that did not reach the threshold (censored, diverged or failed).
    pub missed: usize,
    /// Of those, runs that diverged or failed.
    pub diverged: usize,
    /// Runs.
    pub n: usize,
}

/// Updates to the threshold of task `k` of `run`, and whether it was reached (a miss counts
/// as the cap).
pub fn updates(run: &RunResult, k: usize, cap: usize) -> Option<(usize, bool)> {
    updates_at(run, k, cap, None)
}

/// As [`updates`], for the main threshold (`which = None`) or the `i`-th of
/// [`Protocol::also`](crate::harness::Protocol) (`Some(i)`; a run recorded without it counts
/// as missing it).
pub fn updates_at(
    run: &RunResult,
    k: usize,
    cap: usize,
    which: Option<usize>,
) -> Option<(usize, bool)> {
    run.tasks.get(k).map(|t| {
        let reached = match which {
            None => t.outcome.reached(),
            Some(i) => t.also.get(i).and_then(|c| c.update),
        };
        match reached {
            Some(u) => (u, true),
            None => (cap, false),
        }
    })
}

/// The summary of `arm`'s runs in `setting` on task `k`.
pub fn summarise(results: &Results, setting: Setting, arm: &str, k: usize) -> Option<Summary> {
    summarise_at(results, setting, arm, k, None)
}

/// As [`summarise`], for the main threshold or the `i`-th further one (see [`updates_at`]).
pub fn summarise_at(
    results: &Results,
    setting: Setting,
    arm: &str,
    k: usize,
    which: Option<usize>,
) -> Option<Summary> {
    let cap = results.experiment.protocol.cap;
    let runs: Vec<&RunResult> = results
        .runs
        .iter()
        .filter(|r| r.spec.setting == setting && r.spec.arm.name == arm)
        .collect();
    let v: Vec<(usize, bool)> = runs
        .iter()
        .filter_map(|r| updates_at(r, k, cap, which))
        .collect();
    if v.is_empty() {
        return None;
    }
    let n = v.len();
    let mean = v.iter().map(|x| x.0 as f64).sum::<f64>() / n as f64;
    let var = if n > 1 {
        v.iter().map(|x| (x.0 as f64 - mean).powi(2)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    let diverged = runs
        .iter()
        .filter_map(|r| r.tasks.get(k))
        .filter(|t| matches!(t.outcome, Outcome::Diverged { .. } | Outcome::Failed { .. }))
        .count();
    Some(Summary {
        mean,
        std: var.sqrt(),
        missed: v.iter().filter(|x| !x.1).count(),
        diverged,
        n,
    })
}

/// The arms that have runs in `setting`, in experiment order.
pub(super) fn arms_of(results: &Results, setting: Setting) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for r in results.runs.iter().filter(|r| r.spec.setting == setting) {
        if !v.contains(&r.spec.arm.name) {
            v.push(r.spec.arm.name.clone());
        }
    }
    v
}

/// The learning rate `arm`'s runs in `setting` used, as text.
fn lr_of(results: &Results, setting: Setting, arm: &str) -> String {
    results
        .runs
        .iter()
        .find(|r| r.spec.setting == setting && r.spec.arm.name == arm)
        .map(|r| match r.spec.base_lr() {
            Some(lr) => format!("{lr:e}"),
            None => "default".into(),
        })
        .unwrap_or_default()
}

/// The arm whose mean the × column divides by: `sgd` if it ran, else the first arm.
fn baseline(arms: &[String]) -> Option<&str> {
    arms.iter()
        .find(|a| *a == "sgd")
        .or_else(|| arms.first())
        .map(String::as_str)
}

/// The arm × task table of `setting` (markdown).
pub fn table(results: &Results, setting: Setting) -> String {
    table_at(results, setting, None)
}

/// The arm × task table of `setting` for the main threshold or the `i`-th further one.
pub fn table_at(results: &Results, setting: Setting, which: Option<usize>) -> String {
    let mut out = String::new();
    let arms = arms_of(results, setting);
    let base = baseline(&arms).unwrap_or("sgd").to_string();
    let _ = write!(out, "| arm | lr |");
    for label in &results.task_labels {
        let _ = write!(out, " {label} | missed | × {base} |");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "|---|---|{}",
        "---|---|---|".repeat(results.task_labels.len())
    );
    for arm in &arms {
        let lr = lr_of(results, setting, arm);
        let _ = write!(out, "| {arm} | {lr} |");
        for k in 0..results.task_labels.len() {
            match (
                summarise_at(results, setting, arm, k, which),
                summarise_at(results, setting, &base, k, which),
            ) {
                (Some(s), b) => {
                    let bound = if s.missed > 0 { "≥ " } else { "" };
                    let ratio = b.map_or("—".to_string(), |b| format!("{:.2}", b.mean / s.mean));
                    let diverged = if s.diverged > 0 {
                        format!(" ({} diverged)", s.diverged)
                    } else {
                        String::new()
                    };
                    let _ = write!(
                        out,
                        " {bound}{:.0} ± {:.0} | {}/{}{diverged} | {ratio} |",
                        s.mean, s.std, s.missed, s.n
                    );
                }
                (None, _) => {
                    let _ = write!(out, " — | — | — |");
                }
            }
        }
        let _ = writeln!(out);
    }
    out
}

/// The tasks' extra numbers ([`TaskResult::extra`](crate::harness::TaskResult)) of
/// `setting`, mean over seeds per arm and task; a number that is the same for every run of a
/// task (a baseline of the data) is given once, below the table. Empty if there are none.
pub(super) fn extra_section(results: &Results, setting: Setting) -> String {
    let runs: Vec<&RunResult> = results
        .runs
        .iter()
        .filter(|r| r.spec.setting == setting)
        .collect();
    let mut names: Vec<String> = Vec::new();
    for t in runs.iter().flat_map(|r| &r.tasks) {
        for (n, _) in &t.extra {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
    }
    if names.is_empty() {
        return String::new();
    }
    let value = |r: &RunResult, k: usize, name: &str| {
        r.tasks
            .get(k)
            .and_then(|t| t.extra.iter().find(|(n, _)| n == name).map(|x| x.1))
    };
    let tasks = results.task_labels.len();
    let constant = |name: &str| -> Option<Vec<f64>> {
        (0..tasks)
            .map(|k| {
                let v: Vec<f64> = runs.iter().filter_map(|r| value(r, k, name)).collect();
                (!v.is_empty() && v.iter().all(|x| x.to_bits() == v[0].to_bits())).then(|| v[0])
            })
            .collect()
    };
    let (fixed, varying): (Vec<&String>, Vec<&String>) =
        names.iter().partition(|n| constant(n).is_some());
    let mut md =
        String::from("\nAt the end of each task, besides the metric (mean over seeds):\n\n| arm |");
    for label in &results.task_labels {
        for n in &varying {
            let _ = write!(md, " {label}: {n} |");
        }
    }
    let _ = writeln!(md, "\n|---|{}", "---|".repeat(tasks * varying.len()));
    for arm in arms_of(results, setting) {
        let _ = write!(md, "| {arm} |");
        for k in 0..tasks {
            for n in &varying {
                let v: Vec<f64> = runs
                    .iter()
                    .filter(|r| r.spec.arm.name == arm)
                    .filter_map(|r| value(r, k, n))
                    .collect();
                if v.is_empty() {
                    let _ = write!(md, " — |");
                } else {
                    let _ = write!(md, " {:.3e} |", v.iter().sum::<f64>() / v.len() as f64);
                }
            }
        }
        let _ = writeln!(md);
    }
    for n in fixed {
        let v = constant(n).unwrap_or_default();
        let _ = writeln!(
            md,
            "\n{n} (the same for every run): {}",
            results
                .task_labels
                .iter()
                .zip(v)
                .map(|(l, x)| format!("{l}: {x:.3e}"))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    md
}

/// The tuned learning rates and whether each is interior to the rates tried.
pub(super) fn tuning_section(results: &Results) -> String {
    let mut md = String::from(
        "\nTuned rates (fewest misses on the first task, then fewest updates; the grid widens \
         at an edge while the pick sits there and reached the threshold):\n\n| arm | lr | rates tried | interior |\n|---|---|---|---|\n",
    );
    for (arm, t) in &results.tuned {
        let tried = t
            .grid
            .iter()
            .map(|x| format!("{x:e}"))
            .collect::<Vec<_>>()
            .join(", ");
        let interior = match (&t.note, t.interior) {
            (_, true) => "yes".to_string(),
            (Some(n), false) => format!("no: {n}"),
            (None, false) => "no".to_string(),
        };
        let _ = writeln!(md, "| {arm} | {:e} | {tried} | {interior} |", t.lr);
    }
    md
}

/// Mean wall time per training update per arm.
pub(super) fn timing_section(results: &Results) -> String {
    let mut md = String::from(
        "Mean wall time per training update (forward, backward, step), µs, over every task and run of the arm:\n\n| arm | µs/update |\n|---|---|\n",
    );
    let mut arms: Vec<String> = Vec::new();
    for r in &results.runs {
        if !arms.contains(&r.spec.arm.name) {
            arms.push(r.spec.arm.name.clone());
        }
    }
    for arm in arms {
        let (sum, n) = results
            .runs
            .iter()
            .filter(|r| r.spec.arm.name == arm)
            .flat_map(|r| r.tasks.iter())
            .fold((0.0, 0usize), |(s, n), t| (s + t.mean_update_us, n + 1));
        let _ = writeln!(md, "| {arm} | {:.1} |", sum / n.max(1) as f64);
    }
    md.push('\n');
    md
}

/// Per-seed updates to the threshold of every run in `setting`: arm → seed → per task
/// (`None` = missed). What a comparison of two runs of the same experiment looks at.
pub fn per_seed(
    results: &Results,
    setting: Setting,
) -> BTreeMap<String, BTreeMap<u64, Vec<Option<usize>>>> {
    let mut out: BTreeMap<String, BTreeMap<u64, Vec<Option<usize>>>> = BTreeMap::new();
    for r in results.runs.iter().filter(|r| r.spec.setting == setting) {
        out.entry(r.spec.arm.name.clone()).or_default().insert(
            r.spec.seed,
            r.tasks.iter().map(|t| t.outcome.reached()).collect(),
        );
    }
    out
}
