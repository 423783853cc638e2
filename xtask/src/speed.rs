//! The speed suite of `cargo xtask bench` (issue 4): runs the release-built measurement binary
//! `bench/src/bin/speed.rs`, which times every optimizer step side by side with STREAM copy/triad
//! and the dense D×M baseline, and turns its raw numbers (`speed.json`) into `SPEED.md` (the
//! speed section of REPORT.md: per-coordinate cost, bandwidth, ratios to Adam, state bytes, the
//! issue's targets met or missed) and `speed_scaling.svg` (ns per coordinate against D).
//!
//! ```text
//! cargo xtask bench --speed [--quick]        # through the bench dispatcher
//! speed::run(&["--quick".into(), "--out".into(), dir])   # directly
//! ```
//! `--quick` (≤ 1 minute): 5 interleaved rounds per size; default (≤ 5 minutes): 15.
//! `--out DIR` defaults to `<workspace>/target/lrmem-bench`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use plotters::prelude::*;
use serde::Deserialize;
use xshell::{cmd, Shell};

use crate::bench::report::COLOURS;

/// What `bench --bin speed` writes (schema 1).
#[derive(Debug, Deserialize)]
pub struct SpeedReport {
    pub quick: bool,
    pub rounds: usize,
    pub cpu: String,
    pub kernel: String,
    pub sizes: Vec<usize>,
    pub rows: Vec<Row>,
    pub bandwidth: Vec<Bandwidth>,
    pub dense: Vec<Dense>,
    pub seconds: f64,
}

#[derive(Debug, Deserialize)]
pub struct Row {
    pub centers: Option<usize>,
    pub label: String,
    pub d: usize,
    pub ns_per_coord: f64,
    pub bytes_per_coord: usize,
    pub state_bytes: usize,
    pub gbps: f64,
    pub frac_copy: f64,
    pub roofline_ratio: f64,
    pub ratio_to_adam: f64,
}

#[derive(Debug, Deserialize)]
pub struct Bandwidth {
    pub d: usize,
    pub copy_gbps: f64,
    pub triad_gbps: f64,
    pub copy_ns_per_coord: f64,
}

#[derive(Debug, Deserialize)]
pub struct Dense {
    pub d: usize,
    pub centers: usize,
    pub ns_per_coord: f64,
    pub speedup_of_meta_sgd: f64,
}

/// Runs the measurements and writes `speed.json`, `SPEED.md` and `speed_scaling.svg` into the
/// output directory. Arguments: `--quick`, `--out DIR`.
pub fn run(args: &[String]) -> Result<()> {
    let mut quick = false;
    let mut out = crate::root().join("target/lrmem-bench");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--out" => out = PathBuf::from(it.next().context("--out needs a directory")?),
            other => {
                anyhow::bail!("speed: unknown argument `{other}` (expected --quick, --out DIR)")
            }
        }
    }
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let json = out.join("speed.json");
    let sh = Shell::new()?;
    sh.change_dir(crate::root());
    let quick_flag = quick.then_some("--quick");
    eprintln!(
        "speed: measuring ({} profile)",
        if quick { "quick" } else { "full" }
    );
    cmd!(
        sh,
        "cargo run --release --quiet --locked -p bench --bin speed -- {quick_flag...} --json {json}"
    )
    .run()?;
    let report: SpeedReport = serde_json::from_str(
        &std::fs::read_to_string(&json)
            .with_context(|| format!("cannot read {}", json.display()))?,
    )
    .with_context(|| format!("{} is not a speed report", json.display()))?;
    let svg = out.join("speed_scaling.svg");
    plot(&svg, &report)?;
    let md = markdown(&report, "speed_scaling.svg");
    std::fs::write(out.join("SPEED.md"), &md)?;
    eprintln!(
        "speed: wrote {}, {} and {}",
        out.join("SPEED.md").display(),
        json.display(),
        svg.display()
    );
    Ok(())
}

/// The Markdown section written by [`run`] into `out/SPEED.md`.
pub fn report_section(out: &Path) -> Result<String> {
    let path = out.join("SPEED.md");
    std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
}

fn pow10(d: usize) -> String {
    let e = (d as f64).log10().round() as i32;
    if 10usize.pow(e as u32) == d {
        format!("10^{e}")
    } else {
        d.to_string()
    }
}

fn row<'a>(r: &'a SpeedReport, label: &str, d: usize) -> Option<&'a Row> {
    r.rows.iter().find(|x| x.label == label && x.d == d)
}

/// Status of "value ≤ limit": met, or missed by value/limit.
fn at_most(value: f64, limit: f64) -> String {
    if value <= limit {
        "met".into()
    } else {
        format!("missed by {:.1}×", value / limit)
    }
}

fn markdown(r: &SpeedReport, svg: &str) -> String {
    let mut s = String::new();
    let labels: Vec<&str> = {
        let mut v: Vec<&str> = Vec::new();
        for x in &r.rows {
            if !v.contains(&x.label.as_str()) {
                v.push(&x.label);
            }
        }
        v
    };
    let big: Vec<usize> = r
        .sizes
        .iter()
        .copied()
        .filter(|&d| d >= 1_000_000)
        .collect();
    let _ = writeln!(s, "## Speed: one optimizer step on one tensor\n");
    let _ = writeln!(
        s,
        "{} · memory kernels: `{}` · {} profile, {} interleaved rounds per size, {:.0} s. \
         Times are medians over rounds; ratios are medians of per-round ratios taken side by \
         side (the machine is shared: quote ratios, not absolute times). Gradients: \
         `bench::gradients` (clip 1; most |g| ≈ 0.02, some ≈ 0.3, 2% beyond the clip). Meta \
         optimizers: lm_scale 0.5, cutoff 9σ, Adam on θ. Bytes per coordinate are the traffic \
         a step needs (`bench::Case::all`: Adam reads g, w, m, v and writes w, m, v = 28 B); \
         \"of copy\" divides the resulting GB/s by the copy bandwidth measured at the same D, \
         and \"× roofline\" is the time over that bandwidth's time for those bytes.\n",
        r.cpu,
        r.kernel,
        if r.quick { "quick" } else { "full" },
        r.rounds,
        r.seconds
    );
    // Large-D table.
    let _ = write!(s, "| optimizer | state B/coord | bytes/coord |");
    for &d in &big {
        let _ = write!(
            s,
            " D={} ns/coord | ×Adam | GB/s | of copy | ×roofline |",
            pow10(d)
        );
    }
    let _ = writeln!(s);
    let _ = write!(s, "|---|---:|---:|");
    for _ in &big {
        let _ = write!(s, "---:|---:|---:|---:|---:|");
    }
    let _ = writeln!(s);
    for label in &labels {
        let Some(any) = r.rows.iter().find(|x| x.label == *label) else {
            continue;
        };
        let state = if any.centers.is_some() {
            format!("{} + O(M)", any.state_bytes)
        } else {
            any.state_bytes.to_string()
        };
        let _ = write!(s, "| {label} | {state} | {} |", any.bytes_per_coord);
        for &d in &big {
            match row(r, label, d) {
                Some(x) => {
                    let _ = write!(
                        s,
                        " {:.3} | {:.2} | {:.1} | {:.0}% | {:.2} |",
                        x.ns_per_coord,
                        x.ratio_to_adam,
                        x.gbps,
                        100.0 * x.frac_copy,
                        x.roofline_ratio
                    );
                }
                None => {
                    let _ = write!(s, " – | – | – | – | – |");
                }
            }
        }
        let _ = writeln!(s);
    }
    // Every size.
    let _ = writeln!(
        s,
        "\nns per coordinate at every size (×Adam in parentheses):\n"
    );
    let _ = write!(s, "| optimizer |");
    for &d in &r.sizes {
        let _ = write!(s, " D={} |", pow10(d));
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "|---|{}", "---:|".repeat(r.sizes.len()));
    for label in &labels {
        let _ = write!(s, "| {label} |");
        for &d in &r.sizes {
            match row(r, label, d) {
                Some(x) => {
                    let _ = write!(s, " {:.3} ({:.2}) |", x.ns_per_coord, x.ratio_to_adam);
                }
                None => {
                    let _ = write!(s, " – |");
                }
            }
        }
        let _ = writeln!(s);
    }
    // Bandwidth and dense.
    let _ = writeln!(s, "\nMemory bandwidth (STREAM copy 8 B/element, triad 12 B/element) and the dense D×M baseline (the authors' formulation, `bench::dense`, M = 20):\n");
    let _ = writeln!(
        s,
        "| D | copy GB/s | triad GB/s | copy ns/coord | dense ns/coord | Meta-SGD speedup over dense |"
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|");
    for b in &r.bandwidth {
        let dense = r.dense.iter().find(|x| x.d == b.d);
        let _ = writeln!(
            s,
            "| {} | {:.1} | {:.1} | {:.3} | {} | {} |",
            pow10(b.d),
            b.copy_gbps,
            b.triad_gbps,
            b.copy_ns_per_coord,
            dense.map_or("–".into(), |x| format!("{:.1}", x.ns_per_coord)),
            dense.map_or("–".into(), |x| format!("{:.0}×", x.speedup_of_meta_sgd))
        );
    }
    // Targets.
    let _ = writeln!(s, "\nTargets of issue 4 (same run):\n");
    let _ = writeln!(s, "| target | measured | status |");
    let _ = writeln!(s, "|---|---:|---|");
    for &d in &big {
        for m in [20, 100] {
            if let Some(x) = row(r, &format!("meta-sgd M={m}"), d) {
                let _ = writeln!(
                    s,
                    "| Meta-SGD ≤ 1.2× Adam, D={}, M={m} | {:.2}× | {} |",
                    pow10(d),
                    x.ratio_to_adam,
                    at_most(x.ratio_to_adam, 1.2)
                );
            }
        }
    }
    if let Some(x) = r.dense.iter().find(|x| x.d == 1_000_000) {
        let status = if x.speedup_of_meta_sgd >= 100.0 {
            "met".to_string()
        } else {
            format!("missed by {:.1}×", 100.0 / x.speedup_of_meta_sgd)
        };
        let _ = writeln!(
            s,
            "| Meta-SGD ≥ 100× faster than dense, D=10^6, M={} | {:.0}× | {status} |",
            x.centers, x.speedup_of_meta_sgd
        );
    }
    if let (Some(&lo), Some(&hi)) = (big.first(), big.last()) {
        for label in ["meta-sgd M=20", "meta-sgd M=100", "adam"] {
            if let (Some(a), Some(b)) = (row(r, label, lo), row(r, label, hi)) {
                let growth = b.ns_per_coord / a.ns_per_coord;
                let _ = writeln!(
                    s,
                    "| {label}: ns/coord flat in D beyond the caches (D={} over D={}, ≤ 1.25) | {:.2} | {} |",
                    pow10(hi),
                    pow10(lo),
                    growth,
                    at_most(growth, 1.25)
                );
            }
        }
        if let (Some(a), Some(b)) = (row(r, "meta-sgd M=20", hi), row(r, "meta-sgd M=100", hi)) {
            let growth = b.ns_per_coord / a.ns_per_coord;
            let _ = writeln!(
                s,
                "| Meta-SGD nearly flat in M (M=100 over M=20 at D={}, ≤ 1.25) | {:.2} | {} |",
                pow10(hi),
                growth,
                at_most(growth, 1.25)
            );
        }
        for label in &labels {
            if label.contains("portable") {
                continue;
            }
            if let Some(x) = row(r, label, hi) {
                let _ = writeln!(
                    s,
                    "| {label} within 2× of the copy-bandwidth bound at D={} | {:.2}× | {} |",
                    pow10(hi),
                    x.roofline_ratio,
                    at_most(x.roofline_ratio, 2.0)
                );
            }
        }
    }
    let _ = writeln!(
        s,
        "\nState per coordinate (bytes): SGD 0, SGD+momentum 4, Adam 8, Rprop 8, SGD-HD 4, Meta-SGD 4, \
         Meta-Adam 12. A memory adds O(M) per tensor: θ and its Adam moments (3M f32) and, for \
         evenly spaced centres, the large-tensor update's bins (M·nb·32 B, nb ≈ 225 bins per \
         centre at lm_scale 0.5: 144 KB for M = 20) plus fixed tables (~100 KB).\n"
    );
    let _ = writeln!(s, "![ns per coordinate against D]({svg})\n");
    s
}

/// ns per coordinate against D (both log scale), one line per optimizer and M, copy dashed.
fn plot(path: &Path, r: &SpeedReport) -> Result<()> {
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for x in &r.rows {
        if !order.contains(&x.label) {
            order.push(x.label.clone());
        }
        series
            .entry(x.label.clone())
            .or_default()
            .push((x.d as f64, x.ns_per_coord));
    }
    let copy: Vec<(f64, f64)> = r
        .bandwidth
        .iter()
        .map(|b| (b.d as f64, b.copy_ns_per_coord))
        .collect();
    let dense: Vec<(f64, f64)> = r
        .dense
        .iter()
        .map(|x| (x.d as f64, x.ns_per_coord))
        .collect();
    let ys = series
        .values()
        .flatten()
        .chain(&copy)
        .chain(&dense)
        .map(|p| p.1)
        .filter(|y| y.is_finite() && *y > 0.0);
    let (lo, hi) = ys.fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
    // Headroom above the data for the legend.
    let (lo, hi) = if lo <= hi {
        (lo / 1.5, hi * 12.0)
    } else {
        (0.01, 100.0)
    };
    let (xmin, xmax) = (
        *r.sizes.first().unwrap_or(&1000) as f64 / 1.5,
        *r.sizes.last().unwrap_or(&10_000_000) as f64 * 1.5,
    );
    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("One optimizer step: ns per coordinate ({})", r.kernel),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d((xmin..xmax).log_scale(), (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("D (coordinates in the tensor)")
        .y_desc("ns per coordinate")
        .x_label_formatter(&|x| format!("{x:.0e}"))
        .draw()?;
    for (i, label) in order.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let pts = series[label].clone();
        chart
            .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))?
            .label(label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
            });
        chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, colour.filled())))?;
    }
    let grey = BLACK.mix(0.6);
    chart
        .draw_series(DashedLineSeries::new(copy, 6, 4, grey.stroke_width(2)))?
        .label("copy (8 B/coord)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], grey.stroke_width(2)));
    if !dense.is_empty() {
        chart
            .draw_series(DashedLineSeries::new(dense, 3, 3, BLACK.stroke_width(2)))?
            .label("dense D×M, M=20")
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    Ok(())
}
