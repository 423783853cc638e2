//! The study's section of the report: the diagnosis tables and θ figures, the development
//! rounds and the candidates' ranking, the held-out tables with the sensitivity figures, the
//! ablation and the targets.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::{
    free_peers, mean_updates, swept, targets, ArmSummary, Diagnosis, StageKind, StudyResult,
    RECOMMENDED, ROUND2, ROUND3, VARIANTS, XI_SWEEP,
};
use crate::plot::{self, Line};
use crate::BenchError;

/// A figure of θ per centre over updates (log-log) for the first and the last weight tensor,
/// one file each: `stem_TENSOR.svg`.
pub fn plot_diagnosis(d: &Diagnosis, stem: &Path) -> Result<Vec<std::path::PathBuf>, BenchError> {
    let mut out = Vec::new();
    let Some(first) = d.snapshots.first() else {
        return Ok(out);
    };
    // The first and the last weight tensor (the input layer and the output layer).
    let weights: Vec<usize> = (0..first.tensors.len())
        .filter(|&i| first.tensors[i].tensor.ends_with("weight"))
        .collect();
    let picked: Vec<usize> = match (weights.first(), weights.last()) {
        (Some(&a), Some(&b)) if a != b => vec![a, b],
        (Some(&a), _) => vec![a],
        _ => Vec::new(),
    };
    for ti in picked {
        let t = &first.tensors[ti];
        let lines: Vec<Line> = (0..t.theta.len())
            .map(|m| Line {
                label: format!("c = {:+.2}", d.centres.get(m).copied().unwrap_or(f32::NAN)),
                points: d
                    .snapshots
                    .iter()
                    .filter_map(|s| {
                        s.tensors
                            .get(ti)
                            .map(|x| (s.update as f64, f64::from(x.theta[m])))
                    })
                    .collect(),
                colour: plot::colour(m),
                dashed: false,
            })
            .collect();
        let path = stem.with_file_name(format!(
            "{}_{}",
            stem.file_name().and_then(|s| s.to_str()).unwrap_or("theta"),
            t.tensor.replace('.', "-")
        ));
        let [svg, _] = plot::log_log_lines(
            &path,
            [
                &format!(
                    "{} on {}: θ per centre, tensor {}",
                    d.case, d.task, t.tensor
                ),
                "updates",
                "θ_m",
            ],
            &lines,
        )
        .map_err(|e| BenchError::Plot {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        out.push(svg);
    }
    Ok(out)
}

/// The diagnosis tables: per case, at a few snapshots, each tensor's query spread over the
/// centres, kept-sign share, θ range and applied rates.
pub fn diagnosis_table(d: &Diagnosis) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "\n**{}** on {} ({}):\n",
        d.case,
        d.task,
        match d.diverged {
            Some(u) => format!("diverged at update {u}"),
            None => format!("{} updates", d.snapshots.last().map_or(0, |s| s.update)),
        }
    );
    md.push_str("| update | metric | tensor | query RMS | share at the 2 busiest centres | clipped | kept sign | θ min…max | rate mean (min…max) |\n|---|---|---|---|---|---|---|---|---|\n");
    let n = d.snapshots.len();
    let picks: Vec<usize> = [0, n / 2, n.saturating_sub(1)]
        .into_iter()
        .filter(|&i| i < n)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for i in picks {
        let s = &d.snapshots[i];
        for t in &s.tensors {
            let mut shares = t.at_centre.clone();
            shares.sort_by(|a, b| b.total_cmp(a));
            let busiest = shares.iter().take(2).sum::<f32>();
            let (lo, hi) = t
                .theta
                .iter()
                .fold((f32::MAX, f32::MIN), |(l, h), &x| (l.min(x), h.max(x)));
            let _ = writeln!(
                md,
                "| {} | {:.3} | {} | {:.2e} | {:.0}% | {:.1}% | {:.0}% | {:.1e}…{:.1e} | {:.1e} ({:.1e}…{:.1e}) |",
                s.update,
                s.metric,
                t.tensor,
                t.query_rms,
                100.0 * busiest,
                100.0 * t.clipped,
                100.0 * t.kept_sign,
                lo,
                hi,
                t.rates[0],
                t.rates[1],
                t.rates[2]
            );
        }
    }
    md
}

/// A table of summaries: one row per arm, a column per counted task, and the score.
pub fn summary_table(summaries: &[ArmSummary], labels: &[String], cap: usize) -> String {
    let mut md = String::from("| arm |");
    for l in labels {
        let _ = write!(md, " {l} | missed |");
    }
    md.push_str(" score (mean ln updates) | µs per update |\n|---|");
    for _ in labels {
        md.push_str("---|---|");
    }
    md.push_str("---|---|\n");
    for s in summaries {
        let _ = write!(md, "| {} |", s.arm);
        for &(mean, missed, n) in &s.tasks {
            if n == 0 {
                md.push_str(" — | 0/0 |");
                continue;
            }
            let ge = if missed > 0 { "≥ " } else { "" };
            let _ = write!(md, " {ge}{mean:.0} | {missed}/{n} |");
        }
        if s.tasks.iter().all(|t| t.2 == 0) {
            md.push_str(" — | — |\n");
        } else {
            let _ = writeln!(md, " {:.2} | {:.0} |", s.score, s.us_per_update);
        }
    }
    let _ = writeln!(
        md,
        "\n(Misses count at the cap of {cap} in the means and at twice the cap in the score; µs per update: training time of an update, the threshold checks left out, comparable within a table, whose runs shared the machine alike.)"
    );
    md
}

/// The summaries of the evaluation stage on the same workload as held-out stage `i`.
fn core_of(r: &StudyResult, i: usize) -> Option<&[ArmSummary]> {
    let workload = &r.plan.held_out.get(i)?.workload;
    let c = r
        .plan
        .held_out
        .iter()
        .position(|c| c.kind == StageKind::Core && &c.workload == workload)?;
    r.held_out.get(c).map(|(_, cs)| cs.as_slice())
}

/// The sensitivity to ξ on the ablation stage `i`: mean updates of the recommended memory
/// against ξ at η₀ = 10⁻³ (ξ = 10⁻³ from the evaluation stage of the same workload), as a
/// figure and a line of text.
fn xi_figure(r: &StudyResult, i: usize, out: &Path) -> Result<String, BenchError> {
    let stage = &r.plan.held_out[i];
    let s = &r.held_out[i].1;
    let mut points: Vec<(f64, f64)> = XI_SWEEP
        .iter()
        .filter_map(|(xi, (name, _))| {
            mean_updates(s, &format!("{name}@0.001")).map(|u| (f64::from(*xi), u))
        })
        .collect();
    let core = core_of(r, i).and_then(|cs| mean_updates(cs, "recommended@0.001"));
    if let Some(u) = core {
        points.push((1e-3, u));
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    if points.is_empty() {
        return Ok(String::new());
    }
    let stem = out.join(format!("study_xi_{i}_{}", stage.workload));
    let line = Line {
        label: "recommended memory, η₀ = 1e-3".into(),
        points: points.clone(),
        colour: plot::colour(0),
        dashed: false,
    };
    let [svg, _] = plot::log_log_lines(
        &stem,
        [
            &format!(
                "{}: updates to the threshold against ξ (held out; misses at the cap)",
                stage.workload
            ),
            "ξ (the memory's learning rate)",
            "mean updates over the tasks",
        ],
        &[line],
    )
    .map_err(|e| BenchError::Plot {
        path: stem.clone(),
        reason: e.to_string(),
    })?;
    let mut md = String::from("\nSensitivity to ξ (the recommended memory, η₀ = 10⁻³; mean updates over the tasks, misses at the cap): ");
    let list: Vec<String> = points
        .iter()
        .map(|(xi, u)| format!("ξ = {xi:.0e}: {u:.0}"))
        .collect();
    md.push_str(&list.join(", "));
    if let Some(name) = svg.file_name().and_then(|s| s.to_str()) {
        let _ = write!(md, "\n\n![sensitivity to ξ]({name})\n");
    }
    Ok(md)
}

/// The study's section of the report: diagnosis, development, held-out evaluation with the
/// sensitivity figure, ablation and the targets.
pub fn section(r: &StudyResult, out: &Path) -> Result<String, BenchError> {
    let mut md =
        String::from("\n## Does the memory pay? Diagnosis, development, held-out evaluation\n");
    let _ = writeln!(
        md,
        "\nThe recommended memory (`{RECOMMENDED}`, `MemoryConfig::recommended()`) was chosen on the development stages alone and is frozen in code; the held-out stages were never looked at while choosing.\n"
    );
    md.push_str(&diagnosis_section(r, out)?);
    md.push_str(&development_section(r));
    if !r.held_out.is_empty() {
        md.push_str("\n### Held out (evaluating, unchanged)\n");
    }
    for i in 0..r.held_out.len().min(r.plan.held_out.len()) {
        md.push_str(&held_out_stage(r, i, out)?);
        if r.plan.held_out[i].kind == StageKind::Core {
            md.push_str(&sensitivity(r, i, out)?);
        }
    }
    Ok(md)
}

/// The diagnosis tables and θ figures.
fn diagnosis_section(r: &StudyResult, out: &Path) -> Result<String, BenchError> {
    let mut md = String::new();
    if !r.diagnoses.is_empty() {
        md.push_str("\n### Diagnosis\n\nWhat the memory does on the first development task (one seed): each tensor's queries over the centres, the share that kept their sign (the signal), θ and the rates applied.\n");
        for d in &r.diagnoses {
            md.push_str(&diagnosis_table(d));
            let stem = out.join(format!("study_theta_{}", d.case));
            for svg in plot_diagnosis(d, &stem)? {
                if let Some(name) = svg.file_name().and_then(|s| s.to_str()) {
                    let _ = writeln!(md, "\n![θ per centre]({name})");
                }
            }
        }
    }
    Ok(md)
}

/// The development stages' tables and every candidate ranked by its score.
fn development_section(r: &StudyResult) -> String {
    let mut md = String::new();
    if !r.dev.is_empty() {
        md.push_str("\n### Development (choosing)\n");
    }
    for ((labels, s), stage) in r.dev.iter().zip(&r.plan.dev) {
        let _ = writeln!(
            md,
            "\n`{}` ({:?}), seeds {:?}, {}:\n",
            stage.workload,
            stage.options,
            r.plan.dev_stage_seeds(stage),
            if stage.kind == StageKind::DevAblation {
                "the ablation: each variant switched on alone in the recommended memory, everything else fixed, η₀ = 10⁻³".to_string()
            } else {
                format!("η₀ ∈ {:?} (reload arms at 10⁻³)", r.plan.dev_rates)
            }
        );
        md.push_str(&summary_table(s, labels, stage.cap));
    }
    // The choice: every candidate of every development round, by its score averaged over the
    // development rates.
    let mut by_variant: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (_, s) in &r.dev {
        for a in s {
            if let Some((v, _)) = a.arm.split_once('@') {
                by_variant.entry(v).or_default().push(a.score);
            }
        }
    }
    let mut ranked: Vec<(f64, &str)> = by_variant
        .iter()
        .filter(|(v, _)| {
            VARIANTS
                .iter()
                .chain(ROUND2)
                .chain(ROUND3)
                .any(|(n, _)| n == *v)
        })
        .map(|(v, xs)| (xs.iter().sum::<f64>() / xs.len() as f64, *v))
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    if !ranked.is_empty() {
        md.push_str("\nEvery candidate of the development rounds, ranked by its score averaged over the development rates (lower is better): ");
        let list: Vec<String> = ranked
            .iter()
            .map(|(x, v)| format!("`{v}` {x:.2}"))
            .collect();
        md.push_str(&list.join(", "));
        md.push('\n');
    }
    md
}

/// Held-out stage `i`'s tables: its arms (with the ablation's "off" rows), its development
/// task apart, and the sensitivity to ξ of an ablation stage.
fn held_out_stage(r: &StudyResult, i: usize, out: &Path) -> Result<String, BenchError> {
    let (labels, s) = &r.held_out[i];
    let stage = &r.plan.held_out[i];
    let mut md = String::new();
    let _ = writeln!(
        md,
        "\n`{}` ({:?}{}), {}, seeds {:?}, updates to the threshold (at most {}):\n",
        stage.workload,
        stage.options,
        stage
            .threshold
            .map(|t| format!(", threshold {t}"))
            .unwrap_or_default(),
        match stage.kind {
            StageKind::Core => "the recommended memory against the peers",
            _ => "the ablation: each variant switched on alone in the recommended memory, everything else fixed, η₀ = 10⁻³",
        },
        r.plan.seeds,
        stage.cap
    );
    if stage.kind == StageKind::Ablation {
        // The "off" rows: the recommended memory itself, from the evaluation stage of the
        // same workload (same tasks and seeds).
        let mut rows: Vec<ArmSummary> = core_of(r, i)
            .into_iter()
            .flat_map(|cs| cs.iter())
            .filter(|a| a.arm == "recommended@0.001" || a.arm == "recommended+reload@0.001")
            .map(|a| ArmSummary {
                arm: format!(
                    "{} (off: the evaluation stage's run, its µs from that run)",
                    a.arm
                ),
                ..a.clone()
            })
            .collect();
        rows.extend(s.iter().cloned());
        md.push_str(&summary_table(&rows, labels, stage.cap));
    } else {
        md.push_str(&summary_table(s, labels, stage.cap));
    }
    if let Some((dev_labels, dev)) = r.held_out_dev.get(i).filter(|(l, _)| !l.is_empty()) {
        let _ = writeln!(
            md,
            "\nThe same arms on the workload's development task (run to carry a reloaded memory into the held-out ones; reported apart, not held out):\n"
        );
        md.push_str(&summary_table(dev, dev_labels, stage.cap));
    }
    if stage.kind == StageKind::Ablation {
        md.push_str(&xi_figure(r, i, out)?);
    }
    Ok(md)
}

/// The sensitivity figure of evaluation stage `i` (mean updates against η₀, the peers at their
/// defaults as dashed lines) and the targets, once the stage is complete.
fn sensitivity(r: &StudyResult, i: usize, out: &Path) -> Result<String, BenchError> {
    let (labels, s) = &r.held_out[i];
    let stage = &r.plan.held_out[i];
    let mut md = String::new();
    // Sensitivity: mean updates against η₀.
    let mut lines = Vec::new();
    let swept = swept();
    for (c, (v, _)) in swept.iter().enumerate() {
        lines.push(Line {
            label: (*v).to_string(),
            points: r
                .plan
                .rates
                .iter()
                .filter_map(|&lr| mean_updates(s, &format!("{v}@{lr}")).map(|u| (f64::from(lr), u)))
                .collect(),
            colour: plot::colour(c),
            dashed: false,
        });
    }
    let (lo, hi) = (
        f64::from(r.plan.rates.first().copied().unwrap_or(1e-5)),
        f64::from(r.plan.rates.last().copied().unwrap_or(1.0)),
    );
    for (c, v) in free_peers().iter().enumerate() {
        let v = &v.name;
        if let Some(u) = mean_updates(s, v) {
            lines.push(Line {
                label: format!("{v} (defaults)"),
                points: vec![(lo, u), (hi, u)],
                colour: plot::colour(swept.len() + c),
                dashed: true,
            });
        }
    }
    let stem = out.join(format!("study_sensitivity_{i}_{}", stage.workload));
    let [svg, _] = plot::log_log_lines(
        &stem,
        [
            &format!(
                "{}: updates to the threshold against η₀ (held out; misses at the cap)",
                stage.workload
            ),
            "η₀ (base learning rate)",
            "mean updates over the tasks",
        ],
        &lines,
    )
    .map_err(|e| BenchError::Plot {
        path: stem.clone(),
        reason: e.to_string(),
    })?;
    if let Some(name) = svg.file_name().and_then(|s| s.to_str()) {
        let _ = writeln!(md, "\n![sensitivity]({name})\n");
    }
    let runs: usize = s.iter().map(|a| a.tasks.first().map_or(0, |t| t.2)).sum();
    let expected = s.len() * r.plan.seeds.len();
    if runs < expected {
        let _ = writeln!(
            md,
            "\n(Incomplete: {runs} of {expected} runs so far; the targets are checked once the stage is complete.)"
        );
        return Ok(md);
    }
    md.push_str("\n| target | met | measured |\n|---|---|---|\n");
    for (t, met, detail) in targets(&r.plan, stage, labels, s) {
        let _ = writeln!(
            md,
            "| {t} | {} | {detail} |",
            if met { "yes" } else { "**no**" }
        );
    }
    Ok(md)
}
