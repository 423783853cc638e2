//! The [`Task`] and [`TaskFamily`] traits every experiment workload implements, with what
//! they report ([`Metric`], [`Check`], [`Picture`]) and the periodic-evaluation bookkeeping the
//! robot and GAN tasks share.

use lrmem_optimizers::Optimizer;

#[cfg(doc)]
use crate::OnlineMnist;
use crate::TaskError;

/// Which way a task's held-out metric improves. The harness needs it to decide when a
/// threshold is reached (accuracy: at or above; NMSE, a loss, M_global: at or below).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Goal {
    /// Higher is better (accuracy).
    Maximize,
    /// Lower is better (errors, losses).
    Minimize,
}

/// The held-out metric of a task: its name (for reports) and which way it improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Metric {
    /// Short name, e.g. `"test accuracy"`.
    pub name: &'static str,
    /// Which way it improves.
    pub goal: Goal,
}

impl Metric {
    /// A metric where higher is better.
    pub const fn maximize(name: &'static str) -> Self {
        Metric {
            name,
            goal: Goal::Maximize,
        }
    }

    /// A metric where lower is better.
    pub const fn minimize(name: &'static str) -> Self {
        Metric {
            name,
            goal: Goal::Minimize,
        }
    }

    /// Whether `value` has reached `threshold`: `value ≥ threshold` when maximising,
    /// `value ≤ threshold` when minimising. NaN never reaches anything.
    ///
    /// ```
    /// use lrmem_tasks::Metric;
    /// assert!(Metric::maximize("accuracy").reached(0.99, 0.98));
    /// assert!(!Metric::minimize("nmse").reached(0.2, 0.1));
    /// assert!(!Metric::minimize("nmse").reached(f64::NAN, 0.1));
    /// ```
    pub fn reached(&self, value: f64, threshold: f64) -> bool {
        match self.goal {
            Goal::Maximize => value >= threshold,
            Goal::Minimize => value <= threshold,
        }
    }
}

/// What a threshold check decided, and what it cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    /// Whether the metric has reached the threshold (exactly as a full evaluation would say).
    pub reached: bool,
    /// Held-out samples evaluated to decide it (the check's cost, for reports).
    pub samples: u64,
}

/// An 8-bit grey picture of what a model makes (a GAN's samples), row after row; black 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `width·height` grey levels, row after row.
    pub pixels: Vec<u8>,
}

impl Picture {
    /// A grid of square grey tiles (values in [0, 1], each `side·side`, row after row) with
    /// `columns` tiles a row and a one-pixel mid-grey gap between tiles; `None` without tiles.
    pub fn grid(tiles: &[Vec<f32>], side: usize, columns: usize) -> Option<Picture> {
        if tiles.is_empty() || side == 0 || columns == 0 {
            return None;
        }
        let columns = columns.min(tiles.len());
        let rows = tiles.len().div_ceil(columns);
        let (width, height) = (columns * (side + 1) - 1, rows * (side + 1) - 1);
        let mut pixels = vec![128u8; width * height];
        for (i, tile) in tiles.iter().enumerate() {
            let (x0, y0) = ((i % columns) * (side + 1), (i / columns) * (side + 1));
            for (j, &v) in tile.iter().take(side * side).enumerate() {
                let grey = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                pixels[(y0 + j / side) * width + x0 + j % side] = grey;
            }
        }
        Some(Picture {
            width,
            height,
            pixels,
        })
    }
}

/// A learning problem an optimizer is measured on: one training update at a time, and a
/// scalar held-out metric in between. The harness owns the loop (how many updates, when to
/// evaluate, when to stop), so tasks stay small and every optimizer runs on every task.
///
/// `dyn Optimizer` keeps the trait object-safe: the harness holds `Box<dyn Task>` and
/// `Box<dyn Optimizer>` for every arm of an experiment.
pub trait Task {
    /// One training update with `opt` (forward, backward, one step over every tensor);
    /// returns the training loss of the data it used, before the step.
    fn update(&mut self, opt: &mut dyn Optimizer) -> Result<f32, TaskError>;

    /// The held-out metric of the current model (see [`Task::metric`]).
    fn evaluate(&mut self) -> Result<f64, TaskError>;

    /// What [`Task::evaluate`] measures and which way it improves.
    fn metric(&self) -> Metric;

    /// Whether the held-out metric has reached `threshold`, exactly as
    /// `self.metric().reached(self.evaluate()?, threshold)` would say. The default does just
    /// that; a task can answer more cheaply (see [`OnlineMnist`], which stops classifying as
    /// soon as too many test images are wrong), since the harness asks after every update.
    fn check(&mut self, threshold: f64) -> Result<Check, TaskError> {
        let value = self.evaluate()?;
        Ok(Check {
            reached: self.metric().reached(value, threshold),
            samples: 0,
        })
    }

    /// Held-out numbers worth recording at the end of a task besides the metric, as
    /// (name, value): e.g. a forward-dynamics model's next-state NMSE and the copy baseline
    /// it is compared with. The harness records them once per task, after the last update.
    /// The default has none.
    fn extra_metrics(&mut self) -> Result<Vec<(String, f64)>, TaskError> {
        Ok(Vec::new())
    }

    /// Held-out numbers recorded beside the metric at every point of its curve, as (name,
    /// value): e.g. a GAN's Fréchet distance, too costly for the threshold checks that
    /// evaluate the metric far more often. The default has none.
    fn curve_metrics(&mut self) -> Result<Vec<(String, f64)>, TaskError> {
        Ok(Vec::new())
    }

    /// A picture of what the model makes, for people to judge by looking (a GAN's samples
    /// from fixed noise); the harness takes it once per task, after the last update. The
    /// default has none.
    fn picture(&mut self) -> Result<Option<Picture>, TaskError> {
        Ok(None)
    }

    /// One training update with an optimizer per player, in the order of
    /// [`TaskFamily::players`]: a GAN's generator and discriminator each step with their own
    /// (so that an optimizer's statistics across tensors, or a memory of learning rates, stay
    /// with one player). The default, for the one-player tasks, calls [`Task::update`] with the
    /// only optimizer; any other count is a [`TaskError::Argument`].
    fn update_players(&mut self, opts: &mut [&mut dyn Optimizer]) -> Result<f32, TaskError> {
        match opts {
            [opt] => self.update(&mut **opt),
            _ => Err(TaskError::Argument(format!(
                "{} optimizers for a task of one player; pass one",
                opts.len()
            ))),
        }
    }
}

/// The player names of a one-player task: [`TaskFamily::players`]'s default.
pub const ONE_PLAYER: &[&str] = &["model"];

/// A sequence of related tasks (MNIST digit pairs today; robot payloads or GAN data sets
/// tomorrow): the harness builds the `k`-th task of a run for a seed, and a transfer arm
/// carries its optimizer's learned state from task `k` to task `k + 1`.
///
/// `Sync` because one family serves every worker thread of an experiment; the tasks it builds
/// stay on the thread that built them.
pub trait TaskFamily: Sync {
    /// Short name of the workload, e.g. `"mnist"`.
    fn name(&self) -> &str;
    /// How many tasks the sequence has.
    fn len(&self) -> usize;
    /// `true` for a family without tasks.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// A label of task `k` for reports, e.g. `"1 vs 2"`.
    fn label(&self, k: usize) -> String;
    /// The metric every task of the family reports.
    fn metric(&self) -> Metric;
    /// Task `k` (0-based), fresh, with its model initialised and its data ordered from `seed`.
    /// `k >= len()` is an error.
    fn build(&self, k: usize, seed: u64) -> Result<Box<dyn Task>, TaskError>;
    /// The players of every task, each stepped by an optimizer of its own
    /// ([`Task::update_players`]), e.g. `["generator", "discriminator"]`. Default
    /// [`ONE_PLAYER`].
    fn players(&self) -> &'static [&'static str] {
        ONE_PLAYER
    }
}

/// The evaluation bookkeeping of tasks that evaluate periodically (the robot and GAN tasks):
/// the latest full evaluation (cached while the model does not change) and the metric, to be
/// minimised, at the latest multiple of `eval_every`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Evals<V> {
    eval_every: usize,
    /// (update, value) of the latest full evaluation.
    last: Option<(usize, V)>,
    /// The metric at the latest multiple of `eval_every` evaluated by a check.
    checked: Option<f64>,
}

impl<V: Copy> Evals<V> {
    pub(crate) fn new(eval_every: usize) -> Self {
        Evals {
            eval_every,
            last: None,
            checked: None,
        }
    }

    /// The full evaluation at `updates` (`eval` runs unless the cache has it).
    pub(crate) fn at(
        &mut self,
        updates: usize,
        eval: impl FnOnce() -> Result<V, TaskError>,
    ) -> Result<(V, bool), TaskError> {
        match self.last {
            Some((u, v)) if u == updates => Ok((v, false)),
            _ => {
                let v = eval()?;
                self.last = Some((updates, v));
                Ok((v, true))
            }
        }
    }

    /// The check at `updates`: a full evaluation when `updates` is a multiple of
    /// `eval_every`, else the answer of the latest one; `samples` is the cost of one
    /// evaluation.
    pub(crate) fn check(
        &mut self,
        updates: usize,
        threshold: f64,
        samples: u64,
        metric: impl Fn(&V) -> f64,
        eval: impl FnOnce() -> Result<V, TaskError>,
    ) -> Result<Check, TaskError> {
        let mut cost = 0;
        if updates.is_multiple_of(self.eval_every) {
            let (v, ran) = self.at(updates, eval)?;
            self.checked = Some(metric(&v));
            cost = if ran { samples } else { 0 };
        }
        Ok(Check {
            reached: self
                .checked
                .is_some_and(|v| Metric::minimize("").reached(v, threshold)),
            samples: cost,
        })
    }
}

/// The error for task `k` of a family of `n`.
pub(crate) fn no_task(k: usize, n: usize) -> TaskError {
    TaskError::Argument(format!("task {k} requested from a family of {n} tasks"))
}

#[cfg(test)]
mod tests {
    use super::Picture;

    #[test]
    fn a_grid_places_tiles_row_after_row_with_grey_gaps() {
        // Three 2×2 tiles, two a row: a 5×5 picture, the fourth place left grey.
        let tiles = vec![vec![0.0; 4], vec![1.0; 4], vec![-3.0, 0.5, 2.0, f32::NAN]];
        let p = Picture::grid(&tiles, 2, 2).unwrap();
        assert_eq!((p.width, p.height), (5, 5));
        #[rustfmt::skip]
        let want = [
            0, 0, 128, 255, 255,
            0, 0, 128, 255, 255,
            128, 128, 128, 128, 128,
            0, 128, 128, 128, 128,
            255, 0, 128, 128, 128,
        ];
        // Out-of-range values clamp; NaN clamps to black (f32::clamp keeps NaN, `as u8` maps
        // it to 0).
        assert_eq!(p.pixels, want);
        assert!(Picture::grid(&[], 2, 2).is_none());
        assert!(Picture::grid(&tiles, 0, 2).is_none());
        assert_eq!(Picture::grid(&tiles, 2, 9).unwrap().width, 3 * 3 - 1);
    }
}
