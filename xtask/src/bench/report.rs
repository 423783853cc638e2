//! What `cargo xtask bench` writes: the raw runs as JSON, REPORT.md and SVG plots.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Context, Result};
use plotters::prelude::*;

use super::arms::Arm;
use super::mnist::{Protocol, RunResult, Setting};
use super::Options;

/// Updates-to-threshold of one run and task; a censored run counts as the cap (a lower bound).
fn updates(r: &RunResult, k: usize, cap: usize) -> Option<(usize, bool)> {
    r.tasks.get(k).map(|t| match t.updates_to_threshold {
        Some(u) => (u, false),
        None => (cap, true),
    })
}

/// Mean, sample std, censored count and n of an arm's updates-to-threshold on task `k`.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub mean: f64,
    pub std: f64,
    pub censored: usize,
    pub n: usize,
}

fn summarise(
    results: &[RunResult],
    setting: Setting,
    arm: Arm,
    k: usize,
    cap: usize,
) -> Option<Summary> {
    let v: Vec<(usize, bool)> = results
        .iter()
        .filter(|r| r.spec.setting == setting && r.spec.arm == arm)
        .filter_map(|r| updates(r, k, cap))
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
    Some(Summary {
        mean,
        std: var.sqrt(),
        censored: v.iter().filter(|x| x.1).count(),
        n,
    })
}

/// The tuning rule: fewest censored runs on task 1, then the lowest mean updates (censored
/// counted as the cap), then the smaller learning rate.
pub fn pick_lr(tuning: &[RunResult], arm: Arm, cap: usize) -> f32 {
    let mut best: Option<(usize, f64, f32)> = None;
    for &lr in &super::LR_GRID {
        let runs: Vec<&RunResult> = tuning
            .iter()
            .filter(|r| r.spec.arm == arm && r.spec.lr == lr)
            .collect();
        let v: Vec<(usize, bool)> = runs.iter().filter_map(|r| updates(r, 0, cap)).collect();
        if v.is_empty() {
            continue;
        }
        let key = (
            v.iter().filter(|x| x.1).count(),
            v.iter().map(|x| x.0 as f64).sum::<f64>() / v.len() as f64,
            lr,
        );
        if best.is_none_or(|b| (key.0, key.1) < (b.0, b.1)) {
            best = Some(key);
        }
    }
    best.map_or(1e-3, |b| b.2)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{cpu}, {cores} cores, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

fn arms_of(results: &[RunResult], setting: Setting) -> Vec<Arm> {
    let mut v: Vec<Arm> = Vec::new();
    for r in results.iter().filter(|r| r.spec.setting == setting) {
        if !v.contains(&r.spec.arm) {
            v.push(r.spec.arm);
        }
    }
    v
}

fn table(
    out: &mut String,
    results: &[RunResult],
    setting: Setting,
    protocol: &Protocol,
    lrs: &BTreeMap<String, f32>,
) {
    let arms = arms_of(results, setting);
    let cap = protocol.cap;
    let _ = write!(out, "| arm | lr |");
    for p in &protocol.pairs {
        let _ = write!(out, " {} vs {} | censored | × SGD |", p.0, p.1);
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "|---|---|{}",
        "---|---|---|".repeat(protocol.pairs.len())
    );
    for arm in &arms {
        let lr = match setting {
            Setting::Tuned => lrs.get(&arm.tuning_twin().name()).copied().unwrap_or(1e-3),
            _ => 1e-3,
        };
        let _ = write!(out, "| {} | {lr:e} |", arm.name());
        for k in 0..protocol.pairs.len() {
            match (
                summarise(results, setting, *arm, k, cap),
                summarise(results, setting, Arm::Sgd, k, cap),
            ) {
                (Some(s), sgd) => {
                    let bound = if s.censored > 0 { "≥ " } else { "" };
                    let speedup =
                        sgd.map_or("—".to_string(), |g| format!("{:.2}", g.mean / s.mean));
                    let _ = write!(
                        out,
                        " {bound}{:.0} ± {:.0} | {}/{} | {speedup} |",
                        s.mean, s.std, s.censored, s.n
                    );
                }
                (None, _) => {
                    let _ = write!(out, " — | — | — |");
                }
            }
        }
        let _ = writeln!(out);
    }
}

/// Writes mnist_sequential.json, REPORT.md and the plots.
pub fn write(
    opts: &Options,
    protocol: &Protocol,
    results: &[RunResult],
    lrs: &BTreeMap<String, f32>,
    elapsed: f64,
    speed: Option<&str>,
) -> Result<()> {
    let json = serde_json::json!({ "options": opts, "protocol": protocol, "tuned_lrs": lrs, "runs": results, "elapsed_s": elapsed, "machine": machine() });
    let path = opts.out.join("mnist_sequential.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json)?)
        .with_context(|| format!("cannot write {}", path.display()))?;

    let mut md = String::new();
    let _ = writeln!(md, "# lrmem benchmark report\n");
    let _ = writeln!(
        md,
        "## Sequential binary MNIST (online, one sample per update)\n"
    );
    let _ = writeln!(
        md,
        "Protocol: tasks {} in order; each task starts a fresh LeNet (seeded) and, except for the reload arms, a fresh optimizer; reload arms keep the memory's θ from the previous task (`Meta::reload`). One training image per update in a seeded random order; after every update the test accuracy on all test images of the two digits decides the metric exactly (an early-exit evaluation that classifies the images it got wrong last time first and stops once more than {:.0}% are wrong). Metric: the first update with test accuracy ≥ {}; runs that do not reach it within {} updates are censored and counted as {} (means marked ≥ are lower bounds). Memory: M = {}, clip ±{}, Adam on θ with meta learning rate ξ. Profile: {:?}; {} seed(s) per arm; data: {} (pixels: {}); {:.0} s on {} ({} parallel runs).\n",
        protocol.pairs.iter().map(|p| format!("{} vs {}", p.0, p.1)).collect::<Vec<_>>().join(", "),
        (1.0 - protocol.threshold) * 100.0,
        protocol.threshold,
        protocol.cap,
        protocol.cap,
        super::arms::CENTERS,
        super::arms::CLIP,
        opts.profile,
        opts.seeds,
        opts.data.display(),
        opts.pixels,
        elapsed,
        machine(),
        opts.jobs
    );
    let _ = writeln!(md, "### As in the paper: base learning rate 1e-3 for every arm\n\nUpdates to {:.0}% test accuracy, mean ± std over seeds; × SGD = SGD's mean / the arm's mean.\n", protocol.threshold * 100.0);
    table(&mut md, results, Setting::Paper, protocol, lrs);
    if results.iter().any(|r| r.spec.setting == Setting::Tuned) {
        let _ = writeln!(
            md,
            "\n### Tuned: each arm's base learning rate picked on task 1 (2 seeds) from {:?}\n",
            super::LR_GRID
        );
        table(&mut md, results, Setting::Tuned, protocol, lrs);
    }
    let _ = writeln!(
        md,
        "\nMean wall time per training update (forward, backward, step), µs:\n"
    );
    let _ = writeln!(md, "| arm | µs/update |\n|---|---|");
    for arm in arms_of(results, Setting::Paper) {
        let v: Vec<f64> = results
            .iter()
            .filter(|r| r.spec.arm == arm)
            .flat_map(|r| r.tasks.iter().map(|t| t.mean_update_us))
            .collect();
        let _ = writeln!(
            md,
            "| {} | {:.1} |",
            arm.name(),
            v.iter().sum::<f64>() / v.len().max(1) as f64
        );
    }
    let _ = writeln!(md);
    for (k, p) in protocol.pairs.iter().enumerate() {
        let name = format!("mnist_task{}_{}v{}.svg", k + 1, p.0, p.1);
        plot_curves(&opts.out.join(&name), results, Setting::Paper, k, protocol)?;
        let _ = writeln!(md, "![accuracy on {} vs {}]({name})", p.0, p.1);
    }
    plot_updates(
        &opts.out.join("mnist_updates.svg"),
        results,
        Setting::Paper,
        protocol,
    )?;
    let _ = writeln!(md, "\n![updates to threshold](mnist_updates.svg)\n");
    if let Some(s) = speed {
        let _ = writeln!(md, "{s}");
    }
    std::fs::write(opts.out.join("REPORT.md"), md)?;
    Ok(())
}

/// REPORT.md with only the speed section.
pub fn write_speed_only(opts: &Options, speed: Option<&str>) -> Result<()> {
    let md = format!(
        "# lrmem benchmark report\n\n{}\n",
        speed.unwrap_or("(no speed measurements were written)")
    );
    std::fs::write(opts.out.join("REPORT.md"), md)?;
    Ok(())
}

/// The plot palette (matplotlib's tab10, then black and gold), shared with the speed plot.
pub(crate) const COLOURS: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 0),
    RGBColor(255, 215, 0),
];

/// Accuracy vs updates on task `k`: each arm's mean over seeds, with a min–max band.
fn plot_curves(
    path: &std::path::Path,
    results: &[RunResult],
    setting: Setting,
    k: usize,
    protocol: &Protocol,
) -> Result<()> {
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let pair = protocol.pairs[k];
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Task {}: {} vs {} — test accuracy", k + 1, pair.0, pair.1),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(0usize..protocol.cap, 0.5f64..1.0)?;
    chart
        .configure_mesh()
        .x_desc("updates (training samples)")
        .y_desc("test accuracy")
        .draw()?;
    for (c, arm) in arms_of(results, setting).into_iter().enumerate() {
        let runs: Vec<&RunResult> = results
            .iter()
            .filter(|r| r.spec.setting == setting && r.spec.arm == arm)
            .collect();
        let mut by_t: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
        for r in &runs {
            if let Some(t) = r.tasks.get(k) {
                for &(u, a) in t
                    .curve
                    .iter()
                    .filter(|(u, _)| u % protocol.curve_every == 0)
                {
                    by_t.entry(u).or_default().push(a);
                }
            }
        }
        let colour = COLOURS[c % COLOURS.len()];
        let lo: Vec<(usize, f64)> = by_t
            .iter()
            .map(|(&t, v)| (t, v.iter().cloned().fold(f64::MAX, f64::min).max(0.5)))
            .collect();
        let hi: Vec<(usize, f64)> = by_t
            .iter()
            .map(|(&t, v)| (t, v.iter().cloned().fold(f64::MIN, f64::max).max(0.5)))
            .collect();
        let band: Vec<(usize, f64)> = hi.iter().cloned().chain(lo.iter().rev().cloned()).collect();
        chart.draw_series(std::iter::once(Polygon::new(band, colour.mix(0.06))))?;
        let mean = by_t
            .iter()
            .map(|(&t, v)| (t, (v.iter().sum::<f64>() / v.len() as f64).max(0.5)));
        chart
            .draw_series(LineSeries::new(mean, colour.stroke_width(2)))?
            .label(arm.name())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
            });
    }
    let thr = protocol.threshold;
    chart.draw_series(LineSeries::new(
        [(0, thr), (protocol.cap, thr)],
        BLACK.mix(0.5),
    ))?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Updates to the threshold per arm and task (mean, with each seed as a dot).
fn plot_updates(
    path: &std::path::Path,
    results: &[RunResult],
    setting: Setting,
    protocol: &Protocol,
) -> Result<()> {
    let arms = arms_of(results, setting);
    let tasks = protocol.pairs.len();
    let rows = arms.len() * tasks;
    let root = SVGBackend::new(path, (900, 100 + 22 * rows as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Updates to {:.0}% test accuracy (bar: mean, dots: seeds, red: censored at {})",
                protocol.threshold * 100.0,
                protocol.cap
            ),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(220)
        .build_cartesian_2d(0f64..protocol.cap as f64 * 1.05, (0..rows).into_segmented())?;
    let labels: Vec<String> = (0..rows)
        .map(|i| format!("{} · task {}", arms[i / tasks].name(), i % tasks + 1))
        .collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(rows)
        .y_label_formatter(&|y| match y {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .x_desc("updates")
        .draw()?;
    for (a, arm) in arms.iter().enumerate() {
        let colour = COLOURS[a % COLOURS.len()];
        for k in 0..tasks {
            let row = a * tasks + k;
            if let Some(s) = summarise(results, setting, *arm, k, protocol.cap) {
                chart.draw_series(std::iter::once(Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(row)),
                        (s.mean, SegmentValue::Exact(row + 1)),
                    ],
                    colour.mix(0.6).filled(),
                )))?;
            }
            let dots = results
                .iter()
                .filter(|r| r.spec.setting == setting && r.spec.arm == *arm)
                .filter_map(|r| updates(r, k, protocol.cap));
            chart.draw_series(dots.map(|(u, censored)| {
                Circle::new(
                    (u as f64, SegmentValue::CenterOf(row)),
                    3,
                    if censored {
                        RED.filled()
                    } else {
                        BLACK.filled()
                    },
                )
            }))?;
        }
    }
    root.present()?;
    Ok(())
}
