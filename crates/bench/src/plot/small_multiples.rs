//! [`small_multiples`]: a panel per arm of a metric against updates (mean over seeds, min–max
//! band, threshold), on a linear or a logarithmic y axis.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::{
    check_range, colour, grid, log_tick_label, msg, px, render, small_multiples_size, tick_label,
    Area, Figure, Panel, PlotError, FAMILY,
};

/// What a [`small_multiples`] figure shows besides its panels: the title, the axes'
/// descriptions, the threshold line, the y range and the x axis's end (the cap).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame<'a> {
    /// Above every panel.
    pub title: &'a str,
    /// The x axis's description (below the bottom panels).
    pub x_label: &'a str,
    /// The y axis's description (left of the left panels).
    pub y_label: &'a str,
    /// A dashed line at this y, where given and in range.
    pub threshold: Option<f64>,
    /// Every panel's y range.
    pub y_range: (f64, f64),
    /// Every panel's x range ends here (it starts at 0).
    pub x_max: f64,
}

/// One panel per arm in a grid of 3–4 columns, all on the same axes (`0..x_max` ×
/// `y_range`): the mean over runs as a line, the min–max band over runs shaded, the threshold
/// as a dashed grey line. x ticks are integers (updates). Runs are aggregated at each x that
/// any run has (the runs of the benchmark share their evaluation points). Writes `stem.svg` and
/// `stem.png` and returns their paths.
///
/// NaN/∞ points and empty panels are skipped (an empty panel keeps its axes and title); no
/// panels at all, or a range that is not finite and increasing, is an error.
pub fn small_multiples(
    stem: &Path,
    frame: &Frame<'_>,
    panels: &[Panel],
) -> Result<[PathBuf; 2], PlotError> {
    draw_small_multiples(stem, frame, panels, false)
}

/// [`small_multiples`] with a logarithmic y axis, for errors that fall by decades (NMSE):
/// `y_range` must be positive; non-positive points are skipped. The line is the mean of
/// log10 y over runs (the geometric mean), the band the min–max.
pub fn small_multiples_log_y(
    stem: &Path,
    frame: &Frame<'_>,
    panels: &[Panel],
) -> Result<[PathBuf; 2], PlotError> {
    let y_range = frame.y_range;
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
    let frame = Frame {
        threshold: frame.threshold.map(log),
        y_range: (log(y_range.0), log(y_range.1)),
        ..*frame
    };
    draw_small_multiples(stem, &frame, &panels, true)
}

/// The checks and drawing of both [`small_multiples`] flavours; `log_y`: the panels, threshold
/// and range are already log10 values, and the axis labels say so.
fn draw_small_multiples(
    stem: &Path,
    frame: &Frame<'_>,
    panels: &[Panel],
    log_y: bool,
) -> Result<[PathBuf; 2], PlotError> {
    if panels.is_empty() {
        return Err(PlotError::NoData {
            figure: stem.to_path_buf(),
            why: "no panels",
        });
    }
    let Frame {
        title,
        x_label,
        y_label,
        threshold,
        y_range,
        x_max,
    } = *frame;
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
pub(super) fn aggregate(
    runs: &[Vec<(f64, f64)>],
    x_max: f64,
    y_range: (f64, f64),
) -> Vec<[f64; 4]> {
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

    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>, s: f64) -> Result<(), String> {
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
