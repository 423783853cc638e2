//! The tuned setting: [`Tuning`] (a grid of learning rates tried on the first task), which
//! arms take the protocol's base rate, picking a learning rate per arm, and widening the grid
//! at its edges.

use serde::{Deserialize, Serialize};

use super::{Arm, Protocol, RunResult, Setting};

/// How the learning rates of the tuned setting are picked: a grid on the first task, widened
/// at its edges until the pick is interior.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tuning {
    /// The learning rates tried first, ascending.
    pub grid: Vec<f32>,
    /// Seeds of the tuning runs (disjoint from the experiment's seeds).
    pub seeds: Vec<u64>,
    /// At most this many extra rates per side when the pick is at an edge of the grid.
    pub max_widen: usize,
    /// Rates outside [lo, hi] are never tried.
    pub bounds: (f32, f32),
}

impl Default for Tuning {
    /// {1e−4, 3e−4, …, 3e−2}, seeds 100 and 101, up to 3 more rates per side within
    /// [1e−6, 1].
    fn default() -> Self {
        Tuning {
            grid: vec![1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
            seeds: vec![100, 101],
            max_widen: 3,
            bounds: (1e-6, 1.0),
        }
    }
}

impl Tuning {
    /// The tuning of `arm`: this one, or for a peer that runs at its defaults
    /// ([`RegistryEntry::runs_at_defaults`](lrmem_optimizers::RegistryEntry::runs_at_defaults)),
    /// the same grid and bounds moved from around 1e−3 (the papers' rate, which the default
    /// grid brackets) to around the peer's default `lr`: Prodigy's {0.1, 0.3, …, 30} × its
    /// default 1.
    pub fn for_arm(&self, arm: &Arm) -> Tuning {
        let default = arm
            .spec
            .entry()
            .ok()
            .filter(|e| e.runs_at_defaults())
            .and_then(|e| e.default_lr());
        match default {
            Some(lr) => {
                let scale = |x: f32| (f64::from(x) * f64::from(lr) / 1e-3) as f32;
                Tuning {
                    grid: self.grid.iter().map(|&x| scale(x)).collect(),
                    bounds: (scale(self.bounds.0), scale(self.bounds.1)),
                    ..self.clone()
                }
            }
            None => self.clone(),
        }
    }
}

/// Whether `arm` gets the protocol's base learning rate in the paper setting: unless its spec
/// sets `lr`, or it is a peer that runs at its own defaults
/// ([`RegistryEntry::runs_at_defaults`](lrmem_optimizers::RegistryEntry::runs_at_defaults)).
pub fn takes_base_lr(arm: &Arm) -> bool {
    arm.spec.get("lr").is_none() && !arm.spec.entry().is_ok_and(|e| e.runs_at_defaults())
}

/// The learning rate tuning picked for an arm, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TunedLr {
    /// The pick.
    pub lr: f32,
    /// Every rate tried, ascending (the grid, widened where it was needed).
    pub grid: Vec<f32>,
    /// Whether the pick lies strictly inside the rates tried (if not, a rate beyond the edge
    /// might be better still: see [`TunedLr::note`]).
    pub interior: bool,
    /// Why the pick is at an edge, when it is.
    pub note: Option<String>,
}

/// The tuning runs of `twin` at `lr`.
fn tuning_runs<'a>(
    runs: &'a [RunResult],
    twin: &'a str,
    lr: f32,
) -> impl Iterator<Item = &'a RunResult> + 'a {
    runs.iter().filter(move |r| {
        r.spec.setting == Setting::Tuning && r.spec.arm.name == twin && r.spec.lr == Some(lr)
    })
}

/// (runs that did not reach the threshold, mean updates with those counted as the cap) of the
/// tuning runs of `twin` at `lr`, if there are any.
fn score(runs: &[RunResult], twin: &str, lr: f32, protocol: &Protocol) -> Option<(usize, f64)> {
    let v: Vec<Option<usize>> = tuning_runs(runs, twin, lr)
        .filter_map(|r| r.tasks.first().map(|t| t.outcome.reached()))
        .collect();
    if v.is_empty() {
        return None;
    }
    let missed = v.iter().filter(|u| u.is_none()).count();
    let mean = v
        .iter()
        .map(|u| u.unwrap_or(protocol.cap) as f64)
        .sum::<f64>()
        / v.len() as f64;
    Some((missed, mean))
}

/// The tuning rule: fewest runs that miss the threshold on the first task, then the lowest
/// mean updates (a miss counted as the cap), then the smaller learning rate.
pub fn pick_lr(runs: &[RunResult], twin: &str, grid: &[f32], protocol: &Protocol) -> TunedLr {
    let mut best: Option<(usize, f64, f32)> = None;
    for &lr in grid {
        if let Some((missed, mean)) = score(runs, twin, lr, protocol) {
            if best.is_none_or(|b| (missed, mean) < (b.0, b.1)) {
                best = Some((missed, mean, lr));
            }
        }
    }
    let Some((missed, _, lr)) = best else {
        return TunedLr {
            lr: 1e-3,
            grid: grid.to_vec(),
            interior: false,
            note: Some("no tuning run finished; 1e-3 is a fallback".into()),
        };
    };
    let (first, last) = (grid[0], grid[grid.len() - 1]);
    let interior = lr != first && lr != last;
    let runs_per_lr =
        score(runs, twin, lr, protocol).map_or(0, |_| tuning_runs(runs, twin, lr).count());
    let note = (!interior).then(|| {
        if missed == runs_per_lr {
            format!("no rate in {first:e}…{last:e} reached the threshold; the smallest is reported")
        } else {
            format!(
                "the pick is the {} edge of {first:e}…{last:e}: the widening limit or the bounds stopped the search",
                if lr == last { "upper" } else { "lower" }
            )
        }
    });
    TunedLr {
        lr,
        grid: grid.to_vec(),
        interior,
        note,
    }
}

/// The next rate to try for `twin`, if its current pick sits at an edge of `grid`, reached the
/// threshold in at least one run (an edge where nothing reached it says nothing about the
/// direction), and the widening budget and bounds allow one more on that side.
pub fn widened(
    runs: &[RunResult],
    twin: &str,
    grid: &[f32],
    tuning: &Tuning,
    protocol: &Protocol,
) -> Option<f32> {
    let pick = pick_lr(runs, twin, grid, protocol);
    if pick.interior {
        return None;
    }
    let (missed, _) = score(runs, twin, pick.lr, protocol)?;
    let total = tuning_runs(runs, twin, pick.lr).count();
    if missed == total {
        return None;
    }
    let (lo, hi) = (tuning.grid[0], tuning.grid[tuning.grid.len() - 1]);
    let up = pick.lr == grid[grid.len() - 1];
    let (next, extra) = if up {
        (
            ladder(pick.lr, true),
            grid.iter().filter(|&&x| x > hi).count(),
        )
    } else {
        (
            ladder(pick.lr, false),
            grid.iter().filter(|&&x| x < lo).count(),
        )
    };
    (extra < tuning.max_widen && next >= tuning.bounds.0 && next <= tuning.bounds.1).then_some(next)
}

/// The next rate on the 1–3–10 ladder above (`up`) or below `lr`, written as a literal would
/// be (3e-2 → 1e-1 → 3e-1; 1e-4 → 3e-5).
fn ladder(lr: f32, up: bool) -> f32 {
    let lr = f64::from(lr);
    let mut exp = lr.log10().floor() as i32;
    let mut mantissa = lr / 10f64.powi(exp);
    // 1e-4 as f32 is 9.99999974…e-5: its mantissa is 10, not 9.99….
    if mantissa > 9.5 {
        mantissa /= 10.0;
        exp += 1;
    }
    // Mantissas on the ladder are 1 or 3 (within float error).
    let three = mantissa > 2.0;
    let m = match (three, up) {
        (false, true) => 3,
        (true, true) => {
            exp += 1;
            1
        }
        (false, false) => {
            exp -= 1;
            3
        }
        (true, false) => 1,
    };
    format!("{m}e{exp}").parse().expect("a float literal")
}

#[cfg(test)]
mod tests {
    use super::ladder;

    #[test]
    fn ladder_steps_like_the_grid() {
        assert_eq!(ladder(3e-2, true), 1e-1);
        assert_eq!(ladder(1e-1, true), 3e-1);
        assert_eq!(ladder(1e-4, false), 3e-5);
        assert_eq!(ladder(3e-5, false), 1e-5);
        assert_eq!(ladder(1e-3, true), 3e-3);
    }
}
