//! The report of an experiment: markdown tables and figures (SVG and PNG) from [`Results`].
//!
//! [`workload_section`] renders one workload's results as a section of `REPORT.md` and writes
//! its figures next to it: per setting, the arm × task table of updates to the threshold, one
//! small-multiples figure per task (a panel per arm: the metric against updates, mean and
//! min–max band over seeds, the threshold), and the updates-to-threshold figure.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use lrmem_tasks::Picture;

use crate::harness::{Outcome, Results, RunResult, Setting, TaskResult};
use crate::plot::{self, BarRow, Panel};
use crate::BenchError;

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
fn arms_of(results: &Results, setting: Setting) -> Vec<String> {
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

/// A description of the machine: CPU model, cores, OS and architecture.
pub fn machine() -> String {
    let cpu = crate::speed::cpu_name().unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{cpu}, {cores} cores, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

fn plot_err(e: plot::PlotError) -> BenchError {
    BenchError::Plot {
        path: Default::default(),
        reason: e.to_string(),
    }
}

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
        if !results.runs.iter().any(|r| r.spec.setting == setting) {
            continue;
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
    }
    md.push_str(&pictures_section(results, out_dir, prefix));
    md.push_str(&timing_section(results));
    Ok(md)
}

/// A setting's name in file names.
fn tag(setting: Setting) -> &'static str {
    match setting {
        Setting::Paper => "paper",
        Setting::Tuned => "tuned",
        Setting::Tuning => "tuning",
    }
}

/// The file stem (in the report's folder, without `.png`) of the picture that `arm`'s run with
/// `seed` made of task `k` (0-based) in `setting` ([`Task::picture`](lrmem_tasks::Task::picture)):
/// the name [`write_picture`]'s callers use and [`workload_section`] looks for. Characters
/// other than letters, digits, `.`, `-` and `_` in the arm's name become `_`.
pub fn picture_stem(prefix: &str, setting: Setting, arm: &str, seed: u64, k: usize) -> String {
    let arm: String = arm
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "{prefix}_{}_samples_{arm}_seed{seed}_task{}",
        tag(setting),
        k + 1
    )
}

/// Writes `picture` as an 8-bit grey PNG at `path`, scaled up `scale`× (≥ 1) so that small
/// digits stay visible in a report.
pub fn write_picture(path: &Path, picture: &Picture, scale: usize) -> Result<(), BenchError> {
    let err = |reason: String| BenchError::Plot {
        path: path.to_path_buf(),
        reason,
    };
    let scale = scale.max(1);
    let (w, h) = (picture.width * scale, picture.height * scale);
    if picture.pixels.len() != picture.width * picture.height || w == 0 || h == 0 {
        return Err(err(format!(
            "a picture of {} pixels is not {}×{}",
            picture.pixels.len(),
            picture.width,
            picture.height
        )));
    }
    let mut data = Vec::with_capacity(w * h);
    for row in picture.pixels.chunks_exact(picture.width) {
        let wide: Vec<u8> = row
            .iter()
            .flat_map(|&p| std::iter::repeat_n(p, scale))
            .collect();
        for _ in 0..scale {
            data.extend_from_slice(&wide);
        }
    }
    let file = std::fs::File::create(path).map_err(|e| err(e.to_string()))?;
    let size = |v: usize| u32::try_from(v).map_err(|_| err(format!("{v} pixels is too large")));
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), size(w)?, size(h)?);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()
        .and_then(|mut wr| wr.write_image_data(&data))
        .map_err(|e| err(e.to_string()))
}

/// The pictures of the first seed's runs (see [`picture_stem`]) that exist in `out_dir`, a
/// table per setting and task, four arms a row; empty if there are none.
fn pictures_section(results: &Results, out_dir: &Path, prefix: &str) -> String {
    let Some(&seed) = results.experiment.seeds.first() else {
        return String::new();
    };
    let mut md = String::new();
    for setting in [Setting::Paper, Setting::Tuned] {
        for (k, label) in results.task_labels.iter().enumerate() {
            let cells: Vec<String> = arms_of(results, setting)
                .into_iter()
                .filter_map(|arm| {
                    let stem = picture_stem(prefix, setting, &arm, seed, k);
                    out_dir
                        .join(format!("{stem}.png"))
                        .is_file()
                        .then(|| format!("{arm}<br>![{arm}]({stem}.png)"))
                })
                .collect();
            if cells.is_empty() {
                continue;
            }
            let _ = writeln!(
                md,
                "\n### What the models make at the end: {label}, {} setting, seed {seed}\n",
                tag(setting)
            );
            let columns = cells.len().min(4);
            let _ = writeln!(md, "|{}\n|{}", " |".repeat(columns), "---|".repeat(columns));
            for row in cells.chunks(columns) {
                let _ = writeln!(md, "| {} |", row.join(" | "));
            }
            md.push('\n');
        }
    }
    md
}

/// The tasks' extra numbers ([`TaskResult::extra`](crate::harness::TaskResult)) of
/// `setting`, mean over seeds per arm and task; a number that is the same for every run of a
/// task (a baseline of the data) is given once, below the table. Empty if there are none.
fn extra_section(results: &Results, setting: Setting) -> String {
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
fn tuning_section(results: &Results) -> String {
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
fn timing_section(results: &Results) -> String {
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

/// The small-multiples figure of the metric on task `k` in `setting`; `false` if there is
/// nothing to draw.
fn curves_figure(
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
fn extra_curve_figure(
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
    if lo > 0.0 && hi / lo > 10.0 {
        // Errors that fall by decades (NMSE) read better on a log axis. The axis ends at the
        // power of ten at or above 100× the median value, so that one arm that blew up (10¹³) does not flatten every other
        // curve; what lies above is drawn at the top, and the title says so.
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
        plot::small_multiples_log_y(
            stem,
            &format!(
                "{}: {} against updates, task {} ({}), log scale{clipped}",
                results.experiment.workload,
                name,
                k + 1,
                results.task_labels[k]
            ),
            "updates",
            name,
            &panels,
            threshold,
            (lo / 10f64.powf(pad), hi * 10f64.powf(pad)),
            p.cap as f64,
        )
        .map_err(plot_err)?;
        return Ok(true);
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    plot::small_multiples(
        stem,
        &format!(
            "{}: {} against updates, task {} ({})",
            results.experiment.workload,
            name,
            k + 1,
            results.task_labels[k]
        ),
        "updates",
        name,
        &panels,
        threshold,
        (lo - pad, hi + pad),
        p.cap as f64,
    )
    .map_err(plot_err)?;
    Ok(true)
}

/// The updates-to-threshold figure of `setting`: a row per arm and task.
fn updates_figure(results: &Results, setting: Setting, stem: &Path) -> Result<bool, BenchError> {
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
