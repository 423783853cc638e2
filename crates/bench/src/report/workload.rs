//! A workload's section of `REPORT.md`: the protocol in words, then per setting the tables and
//! figures, the pictures and the time per update.

use std::fmt::Write as _;
use std::path::Path;

use super::figures::{curves_figure, extra_curve_figure, updates_figure};
use super::pictures::pictures_section;
use super::tables::{extra_section, table, table_at, timing_section, tuning_section};
use crate::harness::{Results, Setting};
use crate::BenchError;

/// Renders `results` as a markdown section and writes its figures into `out_dir`, their file
/// names starting with `prefix` (e.g. the workload's name). `about` is a paragraph on the data
/// and the protocol that only the caller knows (data folder, pixel scaling, …).
pub fn workload_section(
    results: &Results,
    out_dir: &Path,
    prefix: &str,
    about: &str,
) -> Result<String, BenchError> {
    let e = &results.experiment;
    let p = &e.protocol;
    let mut md = String::new();
    let _ = writeln!(md, "## Workload `{}`\n", e.workload);
    let arms_text = e
        .arms
        .iter()
        .map(|a| {
            if a.name == a.spec.to_string() {
                format!("`{}`", a.name)
            } else {
                format!(
                    "`{}` = `{}`{}",
                    a.name,
                    a.spec,
                    if a.reload {
                        " carried across tasks"
                    } else {
                        ""
                    }
                )
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        md,
        "Protocol: the tasks {}, in order; each task starts a fresh model (seeded) and, except for \
         the arms carried across tasks (`+reload`: `Optimizer::next_task`, which for a memory \
         keeps θ and resets the rest), a fresh optimizer. Metric: the first update after which \
         the {} reaches {} (checked after every update; a task may answer from its latest \
         periodic held-out evaluation, as the robot workloads do every `eval-every` updates, \
         which resolves their crossings to that period); runs that do not reach it \
         within {} updates are censored and counted as {} (means marked ≥ are lower bounds; \
         \"missed\" counts censored, diverged and failed runs). {} seed(s) per arm: {:?}. \
         {about}\n\nArms: {arms_text}.\n",
        results.task_labels.join(", "),
        results.metric,
        p.threshold,
        p.cap,
        p.cap,
        e.seeds.len(),
        e.seeds,
    );
    let settings = [
        (
            Setting::Paper,
            "As in the paper: one base learning rate for every arm (the learning-rate-free and schedule-free peers at their own defaults)",
        ),
        (
            Setting::Tuned,
            "Tuned: each arm's base learning rate picked on the first task",
        ),
    ];
    for (setting, title) in settings {
        md.push_str(&setting_section(results, setting, title, out_dir, prefix)?);
    }
    md.push_str(&pictures_section(results, out_dir, prefix));
    md.push_str(&timing_section(results));
    Ok(md)
}

/// The tables and figures of `setting` (empty if it has no runs).
fn setting_section(
    results: &Results,
    setting: Setting,
    title: &str,
    out_dir: &Path,
    prefix: &str,
) -> Result<String, BenchError> {
    let p = &results.experiment.protocol;
    let mut md = String::new();
    if !results.runs.iter().any(|r| r.spec.setting == setting) {
        return Ok(md);
    }
    let _ = writeln!(
        md,
        "### {title}\n\nUpdates to the threshold, mean ± std over seeds; × = the baseline's mean / the arm's mean.\n"
    );
    md.push_str(&table(results, setting));
    for (i, t) in p.also.iter().enumerate() {
        let _ = writeln!(
            md,
            "\nUpdates to {} {t} (a further threshold of the protocol; same conventions):\n",
            results.metric
        );
        md.push_str(&table_at(results, setting, Some(i)));
    }
    md.push_str(&extra_section(results, setting));
    if setting == Setting::Tuned {
        md.push_str(&tuning_section(results));
    }
    let tag = tag(setting);
    md.push('\n');
    for k in 0..results.task_labels.len() {
        let stem = format!("{prefix}_{tag}_task{}", k + 1);
        if curves_figure(results, setting, k, &out_dir.join(&stem))? {
            let _ = writeln!(
                md,
                "![{} on {}]({stem}.png) ([SVG]({stem}.svg))\n",
                results.metric, results.task_labels[k]
            );
        }
        let mut names: Vec<&str> = Vec::new();
        for (n, _) in results
            .runs
            .iter()
            .filter(|r| r.spec.setting == setting)
            .filter_map(|r| r.tasks.get(k))
            .flat_map(|t| &t.curves)
        {
            if !names.contains(&n.as_str()) {
                names.push(n);
            }
        }
        for (i, name) in names.into_iter().enumerate() {
            let stem = format!("{prefix}_{tag}_task{}_curve{}", k + 1, i + 1);
            if extra_curve_figure(results, setting, k, name, &out_dir.join(&stem))? {
                let _ = writeln!(
                    md,
                    "![{name} on {}]({stem}.png) ([SVG]({stem}.svg))\n",
                    results.task_labels[k]
                );
            }
        }
    }
    let stem = format!("{prefix}_{tag}_updates");
    if updates_figure(results, setting, &out_dir.join(&stem))? {
        let _ = writeln!(
            md,
            "![updates to threshold]({stem}.png) ([SVG]({stem}.svg))\n"
        );
    }
    Ok(md)
}

/// A setting's name in file names.
pub(super) fn tag(setting: Setting) -> &'static str {
    match setting {
        Setting::Paper => "paper",
        Setting::Tuned => "tuned",
        Setting::Tuning => "tuning",
    }
}
