//! [`log_log_lines`] and [`lines`]: lines with a legend, on logarithmic or linear axes (the
//! speed suite's scaling figure, the studies' sensitivity curves).

use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    log_tick_label, msg, px, render, tick_label, Area, Drawn, Figure, Line, PlotError, FAMILY,
    LOG_LOG_SIZE,
};

/// Lines on log–log axes with a legend right of the plot: solid lines carry a marker per point,
/// dashed ones are references. Powers of ten on the axes read `10³`. Writes `stem.svg` and
/// `stem.png` and returns their paths.
///
/// Points that are not finite and positive are skipped, and so are lines left empty; no
/// drawable point at all is an error.
///
/// `labels`: the title and the x and y axes' descriptions.
pub fn log_log_lines(stem: &Path, labels: [&str; 3], lines: &[Line]) -> Result<Drawn, PlotError> {
    lines_on(stem, labels, lines, true)
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
pub fn lines(stem: &Path, labels: [&str; 3], lines: &[Line]) -> Result<Drawn, PlotError> {
    lines_on(stem, labels, lines, false)
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

    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>, s: f64) -> Result<(), String> {
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
