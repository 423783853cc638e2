//! The report's figures: per task a panel per arm of the metric (or a further curve) against
//! updates, and the updates-to-threshold bars.

use std::path::Path;

use super::tables::{arms_of, summarise, updates};
use crate::harness::{Results, Setting, TaskResult};
use crate::plot::{self, BarRow, Panel};
use crate::BenchError;

fn plot_err(e: plot::PlotError) -> BenchError {
    BenchError::Plot {
        path: Default::default(),
        reason: e.to_string(),
    }
}

/// The small-multiples figure of the metric on task `k` in `setting`; `false` if there is
/// nothing to draw.
pub(super) fn curves_figure(
    results: &Results,
    setting: Setting,
    k: usize,
    stem: &Path,
) -> Result<bool, BenchError> {
    let p = &results.experiment.protocol;
    series_figure(
        results,
        (setting, k),
        stem,
        &results.metric,
        Some(p.threshold),
        |t| t.curve.clone(),
    )
}

/// The small-multiples figure of the further curve `name` ([`TaskResult::curves`](crate::harness::TaskResult::curves)) on task
/// `k` in `setting`; `false` if no run recorded it.
pub(super) fn extra_curve_figure(
    results: &Results,
    setting: Setting,
    k: usize,
    name: &str,
    stem: &Path,
) -> Result<bool, BenchError> {
    series_figure(results, (setting, k), stem, name, None, |t| {
        t.curves
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.clone())
            .unwrap_or_default()
    })
}

/// [`plot::small_multiples`] or its log-axis twin.
type SmallMultiples = fn(&Path, &plot::Frame<'_>, &[Panel]) -> Result<plot::Drawn, plot::PlotError>;

/// One panel per arm of the series `pick` gives of every run's task `k` (its points at
/// multiples of the curve spacing), with an optional threshold line; a log axis when the
/// values span more than a decade.
fn series_figure(
    results: &Results,
    (setting, k): (Setting, usize),
    stem: &Path,
    name: &str,
    threshold: Option<f64>,
    pick: impl Fn(&TaskResult) -> Vec<(usize, f64)>,
) -> Result<bool, BenchError> {
    let p = &results.experiment.protocol;
    let panels: Vec<Panel> = arms_of(results, setting)
        .into_iter()
        .map(|arm| Panel {
            runs: results
                .runs
                .iter()
                .filter(|r| r.spec.setting == setting && r.spec.arm.name == arm)
                .filter_map(|r| r.tasks.get(k))
                .map(|t| {
                    pick(t)
                        .into_iter()
                        .filter(|(u, _)| u % p.curve_every == 0)
                        .map(|(u, v)| (u as f64, v))
                        .collect()
                })
                .filter(|c: &Vec<(f64, f64)>| !c.is_empty())
                .collect(),
            label: arm,
        })
        .filter(|panel| !panel.runs.is_empty())
        .collect();
    let values: Vec<f64> = panels
        .iter()
        .flat_map(|p| p.runs.iter().flatten().map(|x| x.1))
        .filter(|v| v.is_finite())
        .chain(threshold)
        .collect();
    if panels.is_empty() || values.len() < 2 {
        return Ok(false);
    }
    let lo = values.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let title = format!(
        "{}: {} against updates, task {} ({})",
        results.experiment.workload,
        name,
        k + 1,
        results.task_labels[k]
    );
    // Errors that fall by decades (NMSE) read better on a log axis.
    let (draw, title, range) = if lo > 0.0 && hi / lo > 10.0 {
        // The axis ends at the power of ten at or above 100× the median value, so that one arm
        // that blew up (10¹³) does not flatten every other curve; what lies above is drawn at
        // the top, and the title says so.
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let ceiling = 10f64.powf((sorted[sorted.len() / 2] * 100.0).log10().ceil());
        let (hi, clipped) = if hi > ceiling && ceiling > lo {
            (
                ceiling,
                format!(", values above {ceiling} drawn at the top"),
            )
        } else {
            (hi, String::new())
        };
        let pad = (hi / lo).log10() * 0.05;
        (
            plot::small_multiples_log_y as SmallMultiples,
            format!("{title}, log scale{clipped}"),
            (lo / 10f64.powf(pad), hi * 10f64.powf(pad)),
        )
    } else {
        let pad = ((hi - lo) * 0.05).max(1e-3);
        (
            plot::small_multiples as SmallMultiples,
            title,
            (lo - pad, hi + pad),
        )
    };
    let frame = plot::Frame {
        title: &title,
        x_label: "updates",
        y_label: name,
        threshold,
        y_range: range,
        x_max: p.cap as f64,
    };
    draw(stem, &frame, &panels).map_err(plot_err)?;
    Ok(true)
}

/// The updates-to-threshold figure of `setting`: a row per arm and task.
pub(super) fn updates_figure(
    results: &Results,
    setting: Setting,
    stem: &Path,
) -> Result<bool, BenchError> {
    let cap = results.experiment.protocol.cap;
    let mut rows = Vec::new();
    for (a, arm) in arms_of(results, setting).into_iter().enumerate() {
        for (k, label) in results.task_labels.iter().enumerate() {
            let Some(s) = summarise(results, setting, &arm, k) else {
                continue;
            };
            let seeds = results
                .runs
                .iter()
                .filter(|r| r.spec.setting == setting && r.spec.arm.name == arm)
                .filter_map(|r| updates(r, k, cap))
                .map(|(u, reached)| (u as f64, !reached))
                .collect();
            rows.push(BarRow {
                label: format!("{arm} · {label}"),
                mean: s.mean,
                seeds,
                colour: a,
            });
        }
    }
    if rows.is_empty() {
        return Ok(false);
    }
    plot::updates_bars(
        stem,
        &format!(
            "Updates to {} {} (bar: mean, dots: seeds, red: missed, counted as {cap})",
            results.metric, results.experiment.protocol.threshold
        ),
        &rows,
        cap as f64,
    )
    .map_err(plot_err)?;
    Ok(true)
}
