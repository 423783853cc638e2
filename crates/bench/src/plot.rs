//! Figures of the reports, each written twice: as SVG (sharp at any zoom, small) and as PNG (what
//! `REPORT.md` and `SPEED.md` embed, because a PNG reads the same on every Markdown viewer,
//! whereas SVG text depends on the viewer's fonts and some viewers refuse SVG altogether).
//!
//! Every figure is drawn once, by a function generic over plotters' [`DrawingBackend`], and
//! rendered through [`SVGBackend`] and [`BitMapBackend`]. PNG text needs a font file: DejaVu Sans
//! is embedded (`crates/bench/fonts`, Bitstream Vera licence) and registered with plotters on
//! first use ([`register_fonts`]), so that a fresh machine with no system fonts draws the same
//! text. PNGs are drawn at [`PNG_SCALE`]× the SVG size for high-density screens.
//!
//! * [`small_multiples`]: one panel per arm (mean over seeds, min–max band, threshold line),
//!   the accuracy curves of the MNIST benchmark.
//! * [`updates_bars`]: one bar per row (mean) with a dot per seed, red when censored, the
//!   updates-to-threshold figure.
//! * [`log_log_lines`]: lines on log–log axes, the speed scaling figure (ns per coordinate
//!   against D, [`crate::speed`]).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The palette of every figure (matplotlib's tab10, then black and gold), so that an arm has
/// the same colour in the accuracy curves, the bars and the speed plot when callers index it
/// the same way.
pub const COLOURS: [RGBColor; 12] = [
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

/// The colour of series `i`: [`COLOURS`], cycled, so that callers never index out of range.
pub fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

/// How many PNG pixels per SVG pixel: PNGs are drawn at twice the size so that they stay sharp
/// on high-density screens when a viewer scales them to the page width.
pub const PNG_SCALE: u32 = 2;

/// The font family every figure names; [`register_fonts`] binds it to the embedded DejaVu Sans.
const FAMILY: &str = "sans-serif";

/// DejaVu Sans, embedded so that PNG text needs no system font (see `crates/bench/fonts`).
static DEJAVU_SANS: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// Why a figure could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Nothing drawable: no panels, no rows, or no finite (positive, on log axes) point at all.
    /// Empty panels and NaN points among others are skipped instead.
    #[error("{figure}: nothing to plot ({why})")]
    NoData {
        /// The figure's stem.
        figure: PathBuf,
        /// What was missing.
        why: &'static str,
    },
    /// An axis range that is not finite or not increasing (or a cap ≤ 0).
    #[error("{figure}: {axis} range {lo}..{hi} is not a finite, increasing range")]
    InvalidRange {
        /// The figure's stem.
        figure: PathBuf,
        /// Which axis.
        axis: &'static str,
        /// Lower end as given.
        lo: f64,
        /// Upper end as given.
        hi: f64,
    },
    /// The embedded font could not be parsed (a corrupted checkout).
    #[error("the embedded font crates/bench/fonts/DejaVuSans.ttf cannot be parsed")]
    Font,
    /// The output directory could not be created.
    #[error("cannot create {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// plotters failed while drawing or writing the file.
    #[error("cannot draw {path}: {message}")]
    Draw {
        /// The file being written.
        path: PathBuf,
        /// plotters' message.
        message: String,
    },
}

/// Registers the embedded DejaVu Sans as plotters' `sans-serif`. Every function of this module
/// calls it; call it yourself before drawing with plotters directly (with the `ab_glyph`
/// feature, which this workspace enables, plotters has no text without a registered font, in
/// SVG too, where it measures text to lay out labels). Idempotent and thread-safe.
pub fn register_fonts() -> Result<(), PlotError> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(PlotError::Font)
    }
}

/// One panel of [`small_multiples`]: an arm, with one curve per seed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Panel {
    /// The panel's title (the arm's name).
    pub label: String,
    /// One curve per run (seed), as (x, y) points; NaN/∞ points are skipped.
    pub runs: Vec<Vec<(f64, f64)>>,
}

/// One row of [`updates_bars`]: an arm on a task.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BarRow {
    /// The row's label, e.g. `meta-sgd-xi0.01 · task 2`.
    pub label: String,
    /// The bar's length (the mean over seeds, censored runs counted at the cap); NaN: no bar.
    pub mean: f64,
    /// One dot per seed: (updates, censored). Censored dots are red.
    pub seeds: Vec<(f64, bool)>,
    /// The bar's colour, an index into [`COLOURS`]: rows of one arm share it.
    pub colour: usize,
}

/// One line of [`log_log_lines`].
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Legend entry.
    pub label: String,
    /// The points; those that are not finite and positive are skipped.
    pub points: Vec<(f64, f64)>,
    /// Colour of line and markers.
    pub colour: RGBColor,
    /// Dashed without markers (references such as the copy bandwidth), or solid with markers.
    pub dashed: bool,
}

/// The SVG size of a [`small_multiples`] figure with `panels` panels (the PNG is
/// [`PNG_SCALE`]× larger): 3 or 4 columns of 330 × 250 panels under a 44-pixel title.
pub fn small_multiples_size(panels: usize) -> (u32, u32) {
    let (rows, cols) = grid(panels);
    (cols as u32 * 330, 44 + rows as u32 * 250)
}

/// The SVG size of an [`updates_bars`] figure with `rows` rows (the PNG is [`PNG_SCALE`]×
/// larger): 22 pixels a row.
pub fn updates_bars_size(rows: usize) -> (u32, u32) {
    (900, 110 + 22 * rows as u32)
}

/// The SVG size of a [`log_log_lines`] figure (the PNG is [`PNG_SCALE`]× larger), legend
/// included (right of the plot).
pub const LOG_LOG_SIZE: (u32, u32) = (1000, 600);

/// Rows and columns of the panel grid: up to 3 columns for ≤ 6 panels, 4 beyond.
fn grid(panels: usize) -> (usize, usize) {
    let cols = panels.clamp(1, if panels <= 6 { 3 } else { 4 });
    (panels.div_ceil(cols).max(1), cols)
}

/// An axis tick: integers without decimals or exponent (updates: `2500`, not `2.5e3`), other
/// values with at most three decimals (`0.95`).
pub fn tick_label(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let r = v.round();
    if (v - r).abs() <= 1e-9 * v.abs().max(1.0) {
        // `+ 0.0` turns −0 into 0.
        return format!("{}", r + 0.0);
    }
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A tick on a log axis: powers of ten as `10³`, other values as [`tick_label`].
fn log_tick_label(v: f64) -> String {
    if v > 0.0 && v.is_finite() {
        let e = v.log10().round();
        if (v / 10f64.powf(e) - 1.0).abs() < 1e-9 {
            let digits = "⁰¹²³⁴⁵⁶⁷⁸⁹";
            let sup: String = format!("{}", e.abs() as i64)
                .chars()
                .map(|c| {
                    digits
                        .chars()
                        .nth(c.to_digit(10).unwrap_or(0) as usize)
                        .unwrap_or(c)
                })
                .collect();
            return format!("10{}{sup}", if e < 0.0 { "⁻" } else { "" });
        }
    }
    tick_label(v)
}

/// `stem` with `.ext` appended (not replacing: stems may contain dots, e.g. `xi0.01`).
fn with_ext(stem: &Path, ext: &str) -> PathBuf {
    let mut s = stem.as_os_str().to_os_string();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

fn check_range(stem: &Path, axis: &'static str, lo: f64, hi: f64) -> Result<(), PlotError> {
    if lo.is_finite() && hi.is_finite() && lo < hi {
        Ok(())
    } else {
        Err(PlotError::InvalidRange {
            figure: stem.to_path_buf(),
            axis,
            lo,
            hi,
        })
    }
}

/// A figure drawn once for every backend.
trait Figure {
    /// The SVG size.
    fn size(&self) -> (u32, u32);
    /// Draws on `root`, with every pixel size multiplied by `s`.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, s: f64)
        -> Result<(), String>;
}

/// A plotters error as text (their error types are generic over the backend).
fn msg<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Pixels scaled by `s`.
fn px(v: f64, s: f64) -> u32 {
    (v * s).round() as u32
}

/// Writes `fig` as `stem.svg` and `stem.png`.
fn render(stem: &Path, fig: &impl Figure) -> Result<[PathBuf; 2], PlotError> {
    register_fonts()?;
    if let Some(dir) = stem.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| PlotError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let (w, h) = fig.size();
    let svg = with_ext(stem, "svg");
    let png = with_ext(stem, "png");
    let draw_err = |path: &Path| {
        let path = path.to_path_buf();
        move |message| PlotError::Draw { path, message }
    };
    {
        let root = SVGBackend::new(&svg, (w, h)).into_drawing_area();
        fig.draw(&root, 1.0).map_err(draw_err(&svg))?;
        root.present().map_err(msg).map_err(draw_err(&svg))?;
    }
    {
        let root = BitMapBackend::new(&png, (w * PNG_SCALE, h * PNG_SCALE)).into_drawing_area();
        fig.draw(&root, PNG_SCALE as f64).map_err(draw_err(&png))?;
        root.present().map_err(msg).map_err(draw_err(&png))?;
    }
    Ok([svg, png])
}

/// One panel per arm in a grid of 3–4 columns, all on the same axes (`0..x_max` ×
/// `y_range`): the mean over runs as a line, the min–max band over runs shaded, the threshold
/// as a dashed grey line. x ticks are integers (updates). Runs are aggregated at each x that
/// any run has (the runs of the benchmark share their evaluation points). Writes `stem.svg` and
/// `stem.png` and returns their paths.
///
/// NaN/∞ points and empty panels are skipped (an empty panel keeps its axes and title); no
/// panels at all, or a range that is not finite and increasing, is an error.
#[allow(clippy::too_many_arguments)]
pub fn small_multiples(
    stem: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    panels: &[Panel],
    threshold: Option<f64>,
    y_range: (f64, f64),
    x_max: f64,
) -> Result<[PathBuf; 2], PlotError> {
    draw_small_multiples(
        stem, title, x_label, y_label, panels, threshold, y_range, x_max, false,
    )
}

/// [`small_multiples`] with a logarithmic y axis, for errors that fall by decades (NMSE):
/// `y_range` must be positive; non-positive points are skipped. The line is the mean of
/// log10 y over runs (the geometric mean), the band the min–max.
#[allow(clippy::too_many_arguments)]
pub fn small_multiples_log_y(
    stem: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    panels: &[Panel],
    threshold: Option<f64>,
    y_range: (f64, f64),
    x_max: f64,
) -> Result<[PathBuf; 2], PlotError> {
    if y_range.0.is_nan() || y_range.0 <= 0.0 {
        return Err(PlotError::NoData {
            figure: stem.to_path_buf(),
            why: "a log axis needs a positive range",
        });
    }
    let log = |y: f64| if y > 0.0 { y.log10() } else { f64::NAN };
    let panels: Vec<Panel> = panels
        .iter()
        .map(|p| Panel {
            label: p.label.clone(),
            runs: p
                .runs
                .iter()
                .map(|r| r.iter().map(|&(x, y)| (x, log(y))).collect())
                .collect(),
        })
        .collect();
    draw_small_multiples(
        stem,
        title,
        x_label,
        y_label,
        &panels,
        threshold.map(log),
        (log(y_range.0), log(y_range.1)),
        x_max,
        true,
    )
}

/// The checks and drawing of both [`small_multiples`] flavours; `log_y`: the panels, threshold
/// and range are already log10 values, and the axis labels say so.
#[allow(clippy::too_many_arguments)]
fn draw_small_multiples(
    stem: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    panels: &[Panel],
    threshold: Option<f64>,
    y_range: (f64, f64),
    x_max: f64,
    log_y: bool,
) -> Result<[PathBuf; 2], PlotError> {
    if panels.is_empty() {
        return Err(PlotError::NoData {
            figure: stem.to_path_buf(),
            why: "no panels",
        });
    }
    check_range(stem, "y", y_range.0, y_range.1)?;
    check_range(stem, "x", 0.0, x_max)?;
    render(
        stem,
        &SmallMultiples {
            title,
            x_label,
            y_label,
            panels,
            threshold: threshold.filter(|t| t.is_finite()),
            y_range,
            x_max,
            log_y,
        },
    )
}

struct SmallMultiples<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    panels: &'a [Panel],
    threshold: Option<f64>,
    y_range: (f64, f64),
    x_max: f64,
    /// The y values are log10 of what the ticks show.
    log_y: bool,
}

/// Mean, min and max over runs at each x, from the finite points within `0..=x_max`, with y
/// clamped to `y_range` (a curve below the axis shows at its floor, as it always did).
fn aggregate(runs: &[Vec<(f64, f64)>], x_max: f64, y_range: (f64, f64)) -> Vec<[f64; 4]> {
    let mut pts: Vec<(f64, f64)> = runs
        .iter()
        .flatten()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite() && (0.0..=x_max).contains(x))
        .map(|(x, y)| (x, y.clamp(y_range.0, y_range.1)))
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Vec<[f64; 4]> = Vec::new();
    let mut i = 0;
    while i < pts.len() {
        let x = pts[i].0;
        let j = i + pts[i..].iter().take_while(|p| p.0 == x).count();
        let ys = pts[i..j].iter().map(|p| p.1);
        let (sum, lo, hi) = ys.fold((0.0, f64::INFINITY, f64::NEG_INFINITY), |(s, l, h), y| {
            (s + y, l.min(y), h.max(y))
        });
        out.push([x, sum / (j - i) as f64, lo, hi]);
        i = j;
    }
    out
}

impl Figure for SmallMultiples<'_> {
    fn size(&self) -> (u32, u32) {
        small_multiples_size(self.panels.len())
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        s: f64,
    ) -> Result<(), String> {
        root.fill(&WHITE).map_err(msg)?;
        let body = root
            .margin(px(8.0, s), 0, 0, 0)
            .titled(self.title, (FAMILY, 20.0 * s))
            .map_err(msg)?;
        let (rows, cols) = grid(self.panels.len());
        let cells = body.split_evenly((rows, cols));
        let (y0, y1) = self.y_range;
        for (i, (panel, cell)) in self.panels.iter().zip(&cells).enumerate() {
            let col = i % cols;
            // The bottom panel of each column carries the x description, the left column the
            // y description; the label areas have the same size everywhere so the axes align.
            let bottom = i + cols >= self.panels.len();
            let mut chart = ChartBuilder::on(cell)
                .caption(&panel.label, (FAMILY, 14.0 * s))
                .margin(px(8.0, s))
                // Room for the last x tick label, centred on the right edge.
                .margin_right(px(18.0, s))
                .x_label_area_size(px(36.0, s))
                .y_label_area_size(px(52.0, s))
                .build_cartesian_2d(0.0..self.x_max, y0..y1)
                .map_err(msg)?;
            chart
                .configure_mesh()
                .x_labels(4)
                .y_labels(6)
                .x_label_formatter(&|x| tick_label(*x))
                .y_label_formatter(&|y| {
                    if self.log_y {
                        log_tick_label(10f64.powf(*y))
                    } else {
                        tick_label(*y)
                    }
                })
                .label_style((FAMILY, 11.0 * s))
                .axis_desc_style((FAMILY, 12.0 * s))
                .x_desc(if bottom { self.x_label } else { "" })
                .y_desc(if col == 0 { self.y_label } else { "" })
                .bold_line_style(BLACK.mix(0.10))
                .light_line_style(TRANSPARENT)
                .draw()
                .map_err(msg)?;
            let c = colour(i);
            let agg = aggregate(&panel.runs, self.x_max, self.y_range);
            if !agg.is_empty() {
                let band: Vec<(f64, f64)> = agg
                    .iter()
                    .map(|a| (a[0], a[3]))
                    .chain(agg.iter().rev().map(|a| (a[0], a[2])))
                    .collect();
                chart
                    .draw_series(std::iter::once(Polygon::new(band, c.mix(0.22))))
                    .map_err(msg)?;
                chart
                    .draw_series(LineSeries::new(
                        agg.iter().map(|a| (a[0], a[1])),
                        c.stroke_width(px(2.0, s).max(1)),
                    ))
                    .map_err(msg)?;
            }
            if let Some(t) = self.threshold.filter(|t| (y0..=y1).contains(t)) {
                chart
                    .draw_series(DashedLineSeries::new(
                        [(0.0, t), (self.x_max, t)],
                        px(6.0, s),
                        px(4.0, s),
                        BLACK.mix(0.45).stroke_width(px(1.0, s).max(1)),
                    ))
                    .map_err(msg)?;
            }
        }
        Ok(())
    }
}

/// A horizontal bar per row (its mean) with a dot per seed (black, or red when censored at
/// `cap`), rows top to bottom in the given order, every row labelled, x from 0 to just beyond
/// `cap` with integer ticks. Writes `stem.svg` and `stem.png` and returns their paths.
///
/// NaN means draw no bar and NaN seeds no dot; values beyond the cap are drawn at the cap. No
/// rows, or a cap that is not finite and positive, is an error.
pub fn updates_bars(
    stem: &Path,
    title: &str,
    rows: &[BarRow],
    cap: f64,
) -> Result<[PathBuf; 2], PlotError> {
    if rows.is_empty() {
        return Err(PlotError::NoData {
            figure: stem.to_path_buf(),
            why: "no rows",
        });
    }
    check_range(stem, "x", 0.0, cap)?;
    render(stem, &Bars { title, rows, cap })
}

struct Bars<'a> {
    title: &'a str,
    rows: &'a [BarRow],
    cap: f64,
}

impl Figure for Bars<'_> {
    fn size(&self) -> (u32, u32) {
        updates_bars_size(self.rows.len())
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        s: f64,
    ) -> Result<(), String> {
        root.fill(&WHITE).map_err(msg)?;
        let n = self.rows.len();
        let label_style: TextStyle = (FAMILY, 12.0 * s).into();
        let mut widest = 0;
        for r in self.rows {
            widest = widest.max(
                root.estimate_text_size(&r.label, &label_style)
                    .map_err(msg)?
                    .0,
            );
        }
        let x_hi = self.cap * 1.05;
        // Segments 0..=n−1, one per row (plotters' integer ranges include their end; a single
        // row keeps an empty segment above it, as plotters cannot map a one-value range).
        let top = if n > 1 { n - 1 } else { 1 };
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (FAMILY, 17.0 * s))
            .margin(px(12.0, s))
            .x_label_area_size(px(40.0, s))
            .y_label_area_size(widest + px(14.0, s))
            .build_cartesian_2d(0.0..x_hi, (0..top).into_segmented())
            .map_err(msg)?;
        // Row i is drawn at segment n − 1 − i, so that the first row is at the top.
        let at = |i: usize| n - 1 - i;
        let labels: Vec<&str> = self.rows.iter().rev().map(|r| r.label.as_str()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|y| match y {
                SegmentValue::CenterOf(i) => {
                    labels.get(*i).map(|l| l.to_string()).unwrap_or_default()
                }
                _ => String::new(),
            })
            .x_labels(8)
            .x_label_formatter(&|x| tick_label(*x))
            .label_style(label_style.clone())
            .axis_desc_style((FAMILY, 13.0 * s))
            .x_desc("updates")
            .bold_line_style(BLACK.mix(0.10))
            .light_line_style(TRANSPARENT)
            .draw()
            .map_err(msg)?;
        let clamp = |v: f64| v.clamp(0.0, self.cap);
        for (i, r) in self.rows.iter().enumerate() {
            let y = at(i);
            if r.mean.is_finite() {
                let mut bar = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(y)),
                        (
                            clamp(r.mean),
                            if y < top {
                                SegmentValue::Exact(y + 1)
                            } else {
                                SegmentValue::Last
                            },
                        ),
                    ],
                    colour(r.colour).mix(0.6).filled(),
                );
                // A gap between neighbouring bars.
                bar.set_margin(px(2.0, s), px(2.0, s), 0, 0);
                chart.draw_series(std::iter::once(bar)).map_err(msg)?;
            }
            let dots = r.seeds.iter().filter(|(u, _)| u.is_finite());
            chart
                .draw_series(dots.map(|&(u, censored)| {
                    Circle::new(
                        (clamp(u), SegmentValue::CenterOf(y)),
                        px(3.0, s),
                        if censored {
                            RED.filled()
                        } else {
                            BLACK.filled()
                        },
                    )
                }))
                .map_err(msg)?;
        }
        Ok(())
    }
}

/// Lines on log–log axes with a legend right of the plot: solid lines carry a marker per point,
/// dashed ones are references. Powers of ten
/// on the axes read `10³`. Writes `stem.svg` and `stem.png` and returns their paths.
///
/// Points that are not finite and positive are skipped, and so are lines left empty; no
/// drawable point at all is an error.
pub fn log_log_lines(
    stem: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    lines: &[Line],
) -> Result<[PathBuf; 2], PlotError> {
    lines_on(stem, [title, x_label, y_label], lines, true)
}

/// [`log_log_lines`] (`log`) or [`lines`]: the drawable points, the axes' ranges (a factor
/// 1.5 beyond the data on log axes, 5 % on linear ones), the figure.
fn lines_on(
    stem: &Path,
    [title, x_label, y_label]: [&str; 3],
    lines: &[Line],
    log: bool,
) -> Result<[PathBuf; 2], PlotError> {
    let keep: fn(&(f64, f64)) -> bool = if log {
        |p| p.0 > 0.0 && p.1 > 0.0
    } else {
        |_| true
    };
    let (lines, x, y) = drawable(stem, lines, keep)?;
    let pad = |(a, b): (f64, f64)| {
        if log {
            (a / 1.5, b * 1.5)
        } else {
            let pad = ((b - a) * 0.05).max(1e-9 * (1.0 + a.abs().max(b.abs())));
            (a - pad, b + pad)
        }
    };
    render(
        stem,
        &Lines {
            title,
            x_label,
            y_label,
            lines: &lines,
            x: pad(x),
            y: pad(y),
            log,
        },
    )
}

/// The lines' finite points that `keep` accepts (lines left empty dropped), and the ranges of
/// their x and y; no such point at all is an error.
#[allow(clippy::type_complexity)]
fn drawable(
    stem: &Path,
    lines: &[Line],
    keep: fn(&(f64, f64)) -> bool,
) -> Result<(Vec<Line>, (f64, f64), (f64, f64)), PlotError> {
    let lines: Vec<Line> = lines
        .iter()
        .map(|l| Line {
            points: l
                .points
                .iter()
                .filter(|p| p.0.is_finite() && p.1.is_finite() && keep(p))
                .copied()
                .collect(),
            ..l.clone()
        })
        .filter(|l| !l.points.is_empty())
        .collect();
    let range = |f: fn(&(f64, f64)) -> f64| {
        lines
            .iter()
            .flat_map(|l| l.points.iter())
            .map(f)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            })
    };
    let (x, y) = (range(|p| p.0), range(|p| p.1));
    if lines.is_empty() {
        return Err(PlotError::NoData {
            figure: stem.to_path_buf(),
            why: "no point to draw (not finite, or not positive on log axes)",
        });
    }
    Ok((lines, x, y))
}

/// Lines on linear axes, as [`log_log_lines`] draws them on logarithmic ones (for values of
/// either sign, e.g. a loss against a learning rate that may be negative). Points that are not
/// finite are skipped, and so are lines left empty; no drawable point at all is an error.
pub fn lines(
    stem: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    lines: &[Line],
) -> Result<[PathBuf; 2], PlotError> {
    lines_on(stem, [title, x_label, y_label], lines, false)
}

struct Lines<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    lines: &'a [Line],
    x: (f64, f64),
    y: (f64, f64),
    /// Logarithmic axes (else linear).
    log: bool,
}

/// Every line of `lines` into `chart`: dashed ones plain, solid ones with a marker per point.
fn draw_lines<DB, CT>(
    chart: &mut ChartContext<'_, DB, CT>,
    lines: &[Line],
    s: f64,
) -> Result<(), String>
where
    DB: DrawingBackend,
    CT: CoordTranslate<From = (f64, f64)>,
{
    let sw = px(2.0, s).max(1);
    let (dash, gap) = (px(6.0, s), px(4.0, s));
    for l in lines {
        let c = l.colour;
        if l.dashed {
            chart
                .draw_series(DashedLineSeries::new(
                    l.points.iter().copied(),
                    dash,
                    gap,
                    c.stroke_width(sw),
                ))
                .map_err(msg)?;
        } else {
            chart
                .draw_series(LineSeries::new(
                    l.points.iter().copied(),
                    c.stroke_width(sw),
                ))
                .map_err(msg)?;
            chart
                .draw_series(
                    l.points
                        .iter()
                        .map(|&p| Circle::new(p, px(3.0, s), c.filled())),
                )
                .map_err(msg)?;
        }
    }
    Ok(())
}

impl Lines<'_> {
    /// The grid, tick labels (`ticks`) and axis names of `chart`, then the lines.
    fn mesh_and_lines<DB, X, Y>(
        &self,
        chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
        label_style: &TextStyle,
        s: f64,
        ticks: fn(f64) -> String,
    ) -> Result<(), String>
    where
        DB: DrawingBackend,
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        chart
            .configure_mesh()
            .x_label_formatter(&|x| ticks(*x))
            .y_label_formatter(&|y| ticks(*y))
            .label_style(label_style.clone())
            .axis_desc_style((FAMILY, 14.0 * s))
            .x_desc(self.x_label)
            .y_desc(self.y_label)
            .bold_line_style(BLACK.mix(0.12))
            .light_line_style(BLACK.mix(0.04))
            .draw()
            .map_err(msg)?;
        draw_lines(chart, self.lines, s)
    }
}

impl Figure for Lines<'_> {
    fn size(&self) -> (u32, u32) {
        LOG_LOG_SIZE
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        s: f64,
    ) -> Result<(), String> {
        root.fill(&WHITE).map_err(msg)?;
        let body = root
            .margin(px(8.0, s), 0, 0, 0)
            .titled(self.title, (FAMILY, 19.0 * s))
            .map_err(msg)?;
        // The legend sits right of the plot, so that it never hides a line.
        let label_style: TextStyle = (FAMILY, 12.0 * s).into();
        let mut widest = 0;
        for l in self.lines {
            widest = widest.max(
                body.estimate_text_size(&l.label, &label_style)
                    .map_err(msg)?
                    .0,
            );
        }
        let (w, _) = body.dim_in_pixel();
        let legend_w = (widest + px(64.0, s)).min(w * 2 / 5);
        let (plot_area, legend_area) = body.split_horizontally(w - legend_w);
        let mut builder = ChartBuilder::on(&plot_area);
        builder
            .margin(px(12.0, s))
            .x_label_area_size(px(44.0, s))
            .y_label_area_size(px(60.0, s));
        if self.log {
            let mut chart = builder
                .build_cartesian_2d(
                    (self.x.0..self.x.1).log_scale(),
                    (self.y.0..self.y.1).log_scale(),
                )
                .map_err(msg)?;
            self.mesh_and_lines(&mut chart, &label_style, s, log_tick_label)?;
        } else {
            let mut chart = builder
                .build_cartesian_2d(self.x.0..self.x.1, self.y.0..self.y.1)
                .map_err(msg)?;
            self.mesh_and_lines(&mut chart, &label_style, s, tick_label)?;
        }
        let sw = px(2.0, s).max(1);
        let (dash, gap) = (px(6.0, s), px(4.0, s));
        // The legend: a sample of each line (dashed where the line is) and its label.
        let x0 = px(4.0, s) as i32;
        let sample = px(26.0, s) as i32;
        let row = px(20.0, s) as i32;
        let top = px(16.0, s) as i32;
        let text = label_style.pos(Pos::new(HPos::Left, VPos::Center));
        for (i, l) in self.lines.iter().enumerate() {
            let y = top + i as i32 * row;
            let style = l.colour.stroke_width(sw);
            if l.dashed {
                let (d, g) = (dash as i32, gap as i32);
                let mut x = x0;
                while x < x0 + sample {
                    let end = (x + d).min(x0 + sample);
                    legend_area
                        .draw(&PathElement::new(vec![(x, y), (end, y)], style))
                        .map_err(msg)?;
                    x = end + g;
                }
            } else {
                legend_area
                    .draw(&PathElement::new(vec![(x0, y), (x0 + sample, y)], style))
                    .map_err(msg)?;
                legend_area
                    .draw(&Circle::new(
                        (x0 + sample / 2, y),
                        px(3.0, s),
                        l.colour.filled(),
                    ))
                    .map_err(msg)?;
            }
            legend_area
                .draw(&Text::new(
                    l.label.clone(),
                    (x0 + sample + px(8.0, s) as i32, y),
                    text.clone(),
                ))
                .map_err(msg)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::lines as lines_figure;
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lrmem-plot-test-{}", std::process::id()));
        dir.join(name)
    }

    /// Checks the magic bytes of both files and the PNG's decoded size.
    fn check(paths: &[PathBuf; 2], svg_size: (u32, u32)) {
        let svg = std::fs::read_to_string(&paths[0]).expect("svg written");
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(40)]);
        assert!(svg.len() > 200);
        let png = std::fs::read(&paths[1]).expect("png written");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().expect("decodes");
        let info = reader.info();
        assert_eq!(
            (info.width, info.height),
            (svg_size.0 * PNG_SCALE, svg_size.1 * PNG_SCALE)
        );
    }

    /// The texts of an SVG written by plotters (one per line between the tags).
    fn svg_text(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .expect("svg written")
            .lines()
            .filter(|l| !l.starts_with('<') && !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    }

    fn panel(label: &str, shift: f64) -> Panel {
        Panel {
            label: label.into(),
            runs: (0..3)
                .map(|k| {
                    (0..=30)
                        .map(|i| {
                            let x = i as f64 * 100.0;
                            (x, 1.0 - 0.5 * (-(x + shift * k as f64) / 400.0).exp())
                        })
                        .collect()
                })
                .collect(),
        }
    }

    #[test]
    fn small_multiples_writes_svg_and_png() {
        let mut panels: Vec<Panel> = (0..7)
            .map(|i| panel(&format!("arm-{i}"), 50.0 * i as f64))
            .collect();
        // An empty panel, an empty run and NaN points are skipped.
        panels.push(Panel {
            label: "empty".into(),
            runs: vec![],
        });
        panels[1].runs.push(vec![]);
        panels[2].runs[0][3].1 = f64::NAN;
        panels[2].runs[1][4].0 = f64::INFINITY;
        let stem = tmp("multiples");
        let paths = small_multiples(
            &stem,
            "test accuracy",
            "updates",
            "accuracy",
            &panels,
            Some(0.98),
            (0.5, 1.0),
            3000.0,
        )
        .expect("drawn");
        assert_eq!(paths[0], tmp("multiples.svg"));
        check(&paths, small_multiples_size(panels.len()));
        let text = svg_text(&paths[0]);
        assert!(text.contains(&"arm-6".to_string()) && text.contains(&"empty".to_string()));
        // Integer ticks, never exponents.
        assert!(text.contains(&"2000".to_string()), "{text:?}");
        assert!(!text
            .iter()
            .any(|t| t.contains("e3") || t.contains("2000.0")));
    }

    #[test]
    fn small_multiples_rejects_what_it_cannot_draw() {
        let stem = tmp("bad");
        let p = [panel("a", 0.0)];
        assert!(matches!(
            small_multiples(&stem, "t", "x", "y", &[], None, (0.0, 1.0), 10.0),
            Err(PlotError::NoData { .. })
        ));
        assert!(matches!(
            small_multiples(&stem, "t", "x", "y", &p, None, (1.0, 0.0), 10.0),
            Err(PlotError::InvalidRange { axis: "y", .. })
        ));
        assert!(matches!(
            small_multiples(&stem, "t", "x", "y", &p, None, (0.0, 1.0), f64::NAN),
            Err(PlotError::InvalidRange { axis: "x", .. })
        ));
        // A NaN threshold is no threshold.
        assert!(
            small_multiples(&stem, "t", "x", "y", &p, Some(f64::NAN), (0.0, 1.0), 10.0).is_ok()
        );
    }

    #[test]
    fn updates_bars_writes_svg_and_png() {
        let rows: Vec<BarRow> = (0..6)
            .map(|i| BarRow {
                label: format!("meta-sgd-xi0.01 · task {}", i % 3 + 1),
                mean: if i == 4 { f64::NAN } else { 300.0 * i as f64 },
                seeds: vec![(250.0 * i as f64, false), (3000.0, true), (f64::NAN, false)],
                colour: i / 3,
            })
            .collect();
        let paths =
            updates_bars(&tmp("bars.xi0.01"), "updates to 98%", &rows, 3000.0).expect("drawn");
        assert_eq!(paths[1], tmp("bars.xi0.01.png"));
        check(&paths, updates_bars_size(rows.len()));
        let text = svg_text(&paths[0]);
        assert!(
            text.contains(&"meta-sgd-xi0.01 · task 3".to_string()),
            "{text:?}"
        );
        assert!(text.contains(&"3000".to_string()), "{text:?}");
        assert!(!text.iter().any(|t| t.contains("e3")));
        assert!(matches!(
            updates_bars(&tmp("bars-empty"), "t", &[], 3000.0),
            Err(PlotError::NoData { .. })
        ));
        assert!(matches!(
            updates_bars(&tmp("bars-cap"), "t", &rows, 0.0),
            Err(PlotError::InvalidRange { .. })
        ));
    }

    #[test]
    fn log_log_lines_writes_svg_and_png() {
        let d = [1e3, 1e5, 1e6, 1e7];
        let lines = vec![
            Line {
                label: "adam".into(),
                points: d.iter().map(|&x| (x, 0.5 + 1e3 / x)).collect(),
                colour: colour(0),
                dashed: false,
            },
            Line {
                label: "copy".into(),
                points: vec![(1e3, 0.1), (1e5, f64::NAN), (1e7, 0.0), (1e6, 0.3)],
                colour: BLACK,
                dashed: true,
            },
            Line {
                label: "nothing".into(),
                points: vec![(f64::NAN, 1.0)],
                colour: colour(1),
                dashed: false,
            },
        ];
        let paths = log_log_lines(&tmp("loglog"), "scaling", "D", "ns", &lines).expect("drawn");
        check(&paths, LOG_LOG_SIZE);
        assert!(matches!(
            log_log_lines(&tmp("loglog-empty"), "t", "x", "y", &lines[2..]),
            Err(PlotError::NoData { .. })
        ));
    }

    /// Linear axes take negative values (a learning rate below zero), skip what is not finite
    /// and refuse a figure with nothing to draw.
    #[test]
    fn lines_take_values_of_either_sign() {
        let lines = vec![
            Line {
                label: "α_r = 10".into(),
                points: (-8..=4)
                    .map(|i| (f64::from(i) * 10.0, 1.0 + f64::from(i * i) / 100.0))
                    .collect(),
                colour: colour(0),
                dashed: false,
            },
            Line {
                label: "no inner loop".into(),
                points: vec![(-80.0, 1.05), (f64::INFINITY, 1.0), (40.0, 1.05)],
                colour: BLACK,
                dashed: true,
            },
        ];
        let paths = lines_figure(&tmp("lines"), "MAML", "α_t", "test loss", &lines).expect("drawn");
        check(&paths, LOG_LOG_SIZE);
        let nothing = [Line {
            points: vec![(f64::NAN, 1.0)],
            ..lines[0].clone()
        }];
        assert!(matches!(
            lines_figure(&tmp("lines-empty"), "t", "x", "y", &nothing),
            Err(PlotError::NoData { .. })
        ));
    }

    #[test]
    fn ticks_are_integers_where_integers_are_meant() {
        assert_eq!(tick_label(2500.0), "2500");
        assert_eq!(tick_label(-0.0), "0");
        assert_eq!(tick_label(0.95), "0.95");
        assert_eq!(tick_label(0.5), "0.5");
        assert_eq!(log_tick_label(1e6), "10⁶");
        assert_eq!(log_tick_label(0.01), "10⁻²");
        assert_eq!(log_tick_label(3000.0), "3000");
    }

    #[test]
    fn aggregate_takes_mean_min_max_per_x() {
        let runs = vec![
            vec![(0.0, 0.6), (1.0, 0.8)],
            vec![(0.0, 0.4), (1.0, f64::NAN)],
        ];
        let a = aggregate(&runs, 10.0, (0.5, 1.0));
        assert_eq!(a, vec![[0.0, 0.55, 0.5, 0.6], [1.0, 0.8, 0.8, 0.8]]);
    }
}
