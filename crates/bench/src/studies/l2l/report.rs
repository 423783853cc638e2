//! The learned optimizer's section of the report: meta-training's cost, a table per family
//! (loss at the trained horizon and at the long one), a figure per family.

use std::fmt::Write as _;
use std::path::Path;

use super::{ArmRuns, L2lResult};
use crate::plot::{self, Line};
use crate::BenchError;

/// Mean and standard deviation of the loss averaged over the 10 steps ending at `step`
/// (1-based), over the instances that got there, and how many did not.
fn at_step(runs: &ArmRuns, step: usize) -> (Option<(f64, f64)>, usize) {
    let from = step.saturating_sub(10);
    let vals: Vec<f64> = runs
        .losses
        .iter()
        .filter(|l| l.len() >= step && l[from..step].iter().all(|x| x.is_finite()))
        .map(|l| l[from..step].iter().map(|&x| f64::from(x)).sum::<f64>() / (step - from) as f64)
        .collect();
    let failed = runs.losses.len() - vals.len();
    if vals.is_empty() {
        return (None, failed);
    }
    let n = vals.len() as f64;
    let mean = vals.iter().sum::<f64>() / n;
    let sd = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
    (Some((mean, sd)), failed)
}

fn fmt_at(r: &ArmRuns, step: usize) -> String {
    match at_step(r, step) {
        (Some((m, sd)), 0) => format!("{m:.3} ± {sd:.3}"),
        (Some((m, sd)), f) => format!("{m:.3} ± {sd:.3} ({f} diverged)"),
        (None, f) => format!("diverged ({f})"),
    }
}

/// The report section: meta-training cost, a table per family (loss at the trained horizon
/// and at the long one, mean ± sd over held-out instances; MNIST's test accuracy), and a figure
/// per family (mean loss against steps, log–log), written as `l2l_<family>.{svg,png}`.
pub fn section(r: &L2lResult, out_dir: &Path) -> Result<String, BenchError> {
    let s = &r.study;
    let mut md = String::from("\n## The learned LSTM optimizer (Andrychowicz et al. 2016)\n\n");
    let _ = writeln!(
        md,
        "A coordinatewise 2-layer LSTM of 20 units, LogAndSign (k = 5) input, output scale 1 \
         (quadratics) or 0.01 (MNIST), meta-trained with Adam 10⁻³ by truncated BPTT through \
         unrolls of {} steps of {}-step runs (meta-loss: the sum of losses), the weights kept \
         where validation was best. Evaluated on {} held-out instances per family for {} steps \
         (trained horizon: {}). Tuned arms: the best learning rate of {:?} on a validation \
         instance.\n",
        s.horizon.min(20),
        s.horizon,
        s.seeds,
        s.long,
        s.horizon,
        s.grid
    );
    md.push_str("| meta-training on | epochs | meta-updates | optimizee steps | wall time | kept epoch | best validation loss |\n|---|---|---|---|---|---|---|\n");
    for t in &r.trained {
        let best = t
            .validation
            .iter()
            .map(|v| v.1)
            .fold(f64::INFINITY, f64::min);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.0} s | {} | {best:.4} |",
            t.family,
            t.epochs,
            t.meta_updates,
            t.optimizee_steps,
            t.seconds,
            t.best_epoch + 1
        );
    }
    for family in ["quadratic", "mnist"] {
        let rows: Vec<&ArmRuns> = r.runs.iter().filter(|a| a.family == family).collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(
            md,
            "\n### {family}: loss (mean of the 10 steps up to it) at step {} and {}\n",
            s.horizon, s.long
        );
        let mnist = family == "mnist";
        md.push_str(&format!(
            "| arm | lr | step {} | step {} |{}\n|---|---|---|---|{}\n",
            s.horizon,
            s.long,
            if mnist { " test accuracy |" } else { "" },
            if mnist { "---|" } else { "" }
        ));
        for a in &rows {
            let lr = a.tuned_lr.map_or("default".to_owned(), |l| format!("{l}"));
            let mut line = format!(
                "| {} | {lr} | {} | {} |",
                a.arm,
                fmt_at(a, s.horizon),
                fmt_at(a, s.long)
            );
            if mnist {
                let acc: Vec<f64> = a.held_out.iter().flatten().map(|h| h.1).collect();
                if acc.is_empty() {
                    line.push_str(" — |");
                } else {
                    let _ = write!(line, " {:.3} |", acc.iter().sum::<f64>() / acc.len() as f64);
                }
            }
            md.push_str(&line);
            md.push('\n');
        }
        let lines: Vec<Line> = rows
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let mut points = Vec::new();
                let mut step = 1usize;
                while step <= s.long {
                    let vals: Vec<f64> = a
                        .losses
                        .iter()
                        .filter_map(|l| l.get(step - 1).map(|&x| f64::from(x)))
                        .collect();
                    if vals.len() == a.losses.len() {
                        points.push((step as f64, vals.iter().sum::<f64>() / vals.len() as f64));
                    }
                    step = (step + 1).max((step as f64 * 1.08) as usize);
                }
                Line {
                    label: a.arm.clone(),
                    points,
                    colour: plot::colour(i),
                    dashed: a.arm.starts_with("l2l"),
                }
            })
            .collect();
        let stem = out_dir.join(format!("l2l_{family}"));
        plot::log_log_lines(
            &stem,
            [
                &format!("{family}: mean loss over held-out instances"),
                "step",
                "loss",
            ],
            &lines,
        )
        .map_err(|e| BenchError::Plot {
            path: stem.clone(),
            reason: e.to_string(),
        })?;
        let _ = writeln!(md, "\n![{family}](l2l_{family}.svg)");
    }
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::studies::l2l::L2lStudy;

    fn runs(family: &str, arm: &str, losses: Vec<Vec<f32>>) -> ArmRuns {
        ArmRuns {
            family: family.into(),
            arm: arm.into(),
            spec: arm.into(),
            tuned_lr: None,
            held_out: vec![None; losses.len()],
            losses,
            seconds: 0.0,
        }
    }

    #[test]
    fn losses_at_a_step_average_the_ten_before_it_and_count_diverged_runs() {
        let a = runs(
            "quadratic",
            "sgd",
            vec![(1..=30).map(|x| x as f32).collect(), vec![2.0; 30]],
        );
        // Steps 11..=20 of the first run average 15.5; the second's 2.
        let (Some((mean, sd)), 0) = at_step(&a, 20) else {
            panic!()
        };
        assert!((mean - 8.75).abs() < 1e-9 && (sd - 13.5 / 2f64.sqrt()).abs() < 1e-9);
        let b = runs(
            "quadratic",
            "adam",
            vec![vec![1.0; 30], vec![1.0, f32::NAN]],
        );
        assert_eq!(at_step(&b, 20), (Some((1.0, 0.0)), 1));
        assert_eq!(fmt_at(&b, 20), "1.000 ± 0.000 (1 diverged)");
        let c = runs("quadratic", "dog", vec![vec![f32::INFINITY; 30]]);
        assert_eq!(fmt_at(&c, 20), "diverged (1)");
    }

    #[test]
    fn the_section_tables_every_arm_and_draws_each_family() {
        let dir = std::env::temp_dir().join(format!("lrmem-l2l-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut study = L2lStudy::quick(0);
        study.horizon = 20;
        study.long = 30;
        let r = L2lResult {
            study,
            trained: vec![],
            runs: vec![
                runs("quadratic", "sgd", vec![vec![1.0; 30]]),
                runs("quadratic", "l2l-quadratic", vec![vec![0.5; 30]]),
                runs("mnist", "sgd", vec![vec![2.0; 30]]),
            ],
        };
        let md = section(&r, &dir).unwrap();
        assert!(md.contains("| l2l-quadratic | default | 0.500 ± 0.000 | 0.500 ± 0.000 |"));
        assert!(md.contains("test accuracy"));
        assert!(dir.join("l2l_quadratic.svg").is_file() && dir.join("l2l_mnist.png").is_file());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
