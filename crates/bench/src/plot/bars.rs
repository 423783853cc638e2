//! [`updates_bars`]: updates to the threshold, a bar per arm and task (the mean) with a dot
//! per seed.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::{
    check_range, colour, msg, px, render, tick_label, updates_bars_size, Area, BarRow, Figure,
    PlotError, FAMILY,
};

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

    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>, s: f64) -> Result<(), String> {
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
