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

use plotters::coord::Shift;
use plotters::prelude::*;

/// The palette of every figure (matplotlib's tab10, then black and gold), so that an arm has
/// the same colour in the accuracy curves, the bars and the speed plot when callers index it
/// the same way.
pub const COLOURS: [RGBColor; 12] = {
    // As hex, the way the palettes are published.
    const HEX: [u32; 12] = [
        0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22,
        0x17becf, 0x000000, 0xffd700,
    ];
    let mut out = [RGBColor(0, 0, 0); 12];
    let mut i = 0;
    while i < out.len() {
        let hex = HEX[i];
        out[i] = RGBColor((hex >> 16) as u8, (hex >> 8) as u8, hex as u8);
        i += 1;
    }
    out
};

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
static DEJAVU_SANS: &[u8] = include_bytes!("../../fonts/DejaVuSans.ttf");

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

/// The files a figure was written to: `stem.svg` and `stem.png`.
pub type Drawn = [PathBuf; 2];

/// The drawing area of a figure, on any backend.
type Area<DB> = DrawingArea<DB, Shift>;

/// A figure drawn once for every backend.
trait Figure {
    /// The SVG size.
    fn size(&self) -> (u32, u32);
    /// Draws on `root` (already white), with every pixel size multiplied by `s`.
    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>, s: f64) -> Result<(), String>;
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
        root.fill(&WHITE).map_err(msg).map_err(draw_err(&svg))?;
        fig.draw(&root, 1.0).map_err(draw_err(&svg))?;
        root.present().map_err(msg).map_err(draw_err(&svg))?;
    }
    {
        let root = BitMapBackend::new(&png, (w * PNG_SCALE, h * PNG_SCALE)).into_drawing_area();
        root.fill(&WHITE).map_err(msg).map_err(draw_err(&png))?;
        fig.draw(&root, PNG_SCALE as f64).map_err(draw_err(&png))?;
        root.present().map_err(msg).map_err(draw_err(&png))?;
    }
    Ok([svg, png])
}

mod bars;
mod lines;
mod small_multiples;

pub use bars::updates_bars;
pub use lines::{lines, log_log_lines};
pub use small_multiples::{small_multiples, small_multiples_log_y, Frame};

#[cfg(test)]
mod tests;
