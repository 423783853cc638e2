//! How the study scores its runs: updates to the threshold per arm and counted task, misses at
//! twice the cap ([`cost`], [`ArmSummary`]), what a study run produced ([`StudyResult`]), and
//! the three targets checked on a held-out stage ([`targets`]).

use serde::{Deserialize, Serialize};

use super::{free_peers, rate_peers, Diagnosis, Stage, StudyPlan};
use crate::harness::{Outcome, Results};

/// Updates to the threshold of one task of one run, with censored, diverged and failed runs at
/// twice the cap (so that a miss costs more than the slowest success).
pub fn cost(outcome: &Outcome, cap: usize) -> f64 {
    outcome.reached().map_or(2.0 * cap as f64, |u| u as f64)
}

/// Per arm and counted task: (mean updates with misses at the cap, misses, runs), and the
/// arm's score: the mean of ln [`cost`] over tasks and seeds (lower is better).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmSummary {
    /// The arm.
    pub arm: String,
    /// Per counted task: mean updates (misses at the cap), misses, runs.
    pub tasks: Vec<(f64, usize, usize)>,
    /// Mean of ln cost over tasks and seeds.
    pub score: f64,
    /// Mean training time per update over the counted tasks' runs, in µs (forward, backward
    /// and step; comparable between arms of one stage, which ran side by side).
    #[serde(default)]
    pub us_per_update: f64,
}

/// Summarises `results` per arm over `stage`'s counted tasks.
pub fn summarise(results: &Results, stage: &Stage) -> Vec<ArmSummary> {
    let cap = stage.cap;
    results
        .experiment
        .arms
        .iter()
        .map(|arm| {
            let runs: Vec<_> = results
                .runs
                .iter()
                .filter(|r| r.spec.arm.name == arm.name)
                .collect();
            let mut logs = Vec::new();
            let mut times = Vec::new();
            let tasks = stage
                .counted
                .iter()
                .map(|&k| {
                    let mut sum = 0.0;
                    let mut missed = 0;
                    let mut n = 0;
                    for r in &runs {
                        let Some(t) = r.tasks.get(k) else {
                            // The run stopped before this task: a miss.
                            missed += 1;
                            n += 1;
                            sum += cap as f64;
                            logs.push((2.0 * cap as f64).ln());
                            continue;
                        };
                        n += 1;
                        times.push(t.mean_update_us);
                        match t.outcome.reached() {
                            Some(u) => sum += u as f64,
                            None => {
                                missed += 1;
                                sum += cap as f64;
                            }
                        }
                        logs.push(cost(&t.outcome, cap).ln());
                    }
                    (sum / n.max(1) as f64, missed, n)
                })
                .collect();
            let score = logs.iter().sum::<f64>() / logs.len().max(1) as f64;
            ArmSummary {
                arm: arm.name.clone(),
                tasks,
                score,
                us_per_update: times.iter().sum::<f64>() / times.len().max(1) as f64,
            }
        })
        .collect()
}

/// What a study run produced: the diagnoses, and per stage its summaries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyResult {
    /// The plan it ran.
    pub plan: StudyPlan,
    /// The diagnosed cases.
    pub diagnoses: Vec<Diagnosis>,
    /// Per development stage: its task labels and every arm's summary.
    pub dev: Vec<(Vec<String>, Vec<ArmSummary>)>,
    /// Per held-out stage: its task labels and every arm's summary.
    pub held_out: Vec<(Vec<String>, Vec<ArmSummary>)>,
    /// Per held-out stage: the same for its development tasks ([`Stage::development`]; empty
    /// where it has none).
    #[serde(default)]
    pub held_out_dev: Vec<(Vec<String>, Vec<ArmSummary>)>,
}

/// A stage's task labels and arm summaries, for its counted tasks and its development tasks.
pub(super) type StageSummaries = [(Vec<String>, Vec<ArmSummary>); 2];

/// The mean updates of `arm` over a stage's counted tasks (misses at the cap); `None` where a
/// task has no run.
pub(super) fn mean_updates(summaries: &[ArmSummary], arm: &str) -> Option<f64> {
    let s = summaries
        .iter()
        .find(|s| s.arm == arm)
        .filter(|s| s.tasks.iter().all(|t| t.2 > 0))?;
    Some(s.tasks.iter().map(|t| t.0).sum::<f64>() / s.tasks.len().max(1) as f64)
}

/// The three targets on one held-out stage, in words: (target, met, detail).
pub fn targets(
    plan: &StudyPlan,
    stage: &Stage,
    labels: &[String],
    s: &[ArmSummary],
) -> Vec<(String, bool, String)> {
    let find = |name: &str| s.iter().find(|a| a.arm == name);
    let rate_name = |v: &str, lr: f32| format!("{v}@{lr}");
    let mut out = Vec::new();
    // 1. η₀ in [1e-4, 1e-1]: within 1.5× the best tuned peer, no misses.
    let mut worst = (0.0f64, String::new());
    let mut missed = 0;
    let mut all = true;
    let mut unreached = Vec::new();
    for (k, label) in labels.iter().enumerate() {
        let mut best = f64::INFINITY;
        for (v, _) in rate_peers() {
            for &lr in &plan.rates {
                if let Some(a) = find(&rate_name(v, lr)) {
                    if a.tasks[k].1 == 0 {
                        best = best.min(a.tasks[k].0);
                    }
                }
            }
        }
        for peer in free_peers() {
            if let Some(a) = find(&peer.name) {
                if a.tasks[k].1 == 0 {
                    best = best.min(a.tasks[k].0);
                }
            }
        }
        if best.is_infinite() {
            // No peer reached the threshold in every run: there is no best to compare with.
            unreached.push(label.as_str());
        }
        for &lr in plan.rates.iter().filter(|&&r| (1e-4..=1e-1).contains(&r)) {
            let Some(a) = find(&rate_name("recommended", lr)) else {
                all = false;
                continue;
            };
            missed += a.tasks[k].1;
            if best.is_infinite() {
                continue;
            }
            let ratio = a.tasks[k].0 / best;
            if ratio > worst.0 {
                worst = (ratio, format!("{label} at η₀ = {lr}"));
            }
        }
    }
    out.push((
        "η₀ anywhere in [1e−4, 1e−1]: within 1.5× the updates of the best tuned peer, no missed run".into(),
        all && missed == 0 && worst.0 <= 1.5 && unreached.is_empty(),
        format!(
            "worst ratio {:.2} ({}); {missed} missed runs{}",
            worst.0,
            worst.1,
            if unreached.is_empty() {
                String::new()
            } else {
                format!("; no peer reached the threshold in every run on {}", unreached.join(", "))
            }
        ),
    ));
    // 2. At defaults: fewer updates than every learning-rate-free peer on ≥ 2/3 of tasks.
    let rec = find(&rate_name("recommended", 1e-3));
    let mut wins = 0;
    for k in 0..labels.len() {
        let Some(r) = rec else { break };
        let beats = free_peers()
            .iter()
            .all(|v| find(&v.name).is_none_or(|p| r.tasks[k].0 < p.tasks[k].0));
        wins += usize::from(beats);
    }
    out.push((
        "at defaults, fewer updates than every learning-rate-free peer on ≥ 2/3 of the tasks"
            .into(),
        3 * wins >= 2 * labels.len() && !labels.is_empty(),
        format!("{wins} of {} tasks", labels.len()),
    ));
    // 3. Reloading pays on the later tasks: ≤ 0.7× a fresh memory's updates.
    let fresh = find(&rate_name("recommended", 1e-3));
    let reload = find(&rate_name("recommended+reload", 1e-3));
    let detail;
    // The counted tasks after a sequence's first (the ones a reloaded memory starts).
    let later: Vec<usize> = (0..labels.len())
        .filter(|&k| stage.counted.get(k).is_some_and(|&task| task > 0))
        .collect();
    let met = match (fresh, reload) {
        (Some(f), Some(r)) if !later.is_empty() => {
            let ratios: Vec<f64> = later.iter().map(|&k| r.tasks[k].0 / f.tasks[k].0).collect();
            let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
            detail = format!("mean ratio {mean:.2} on the later tasks ({ratios:.2?})");
            mean <= 0.7
        }
        _ => {
            detail = "not measured (one task)".into();
            false
        }
    };
    out.push((
        "reloading pays: ≤ 0.7× a fresh memory's updates on the later tasks".into(),
        met,
        detail,
    ));
    out
}
