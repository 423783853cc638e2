//! The learned LSTM optimizer (Andrychowicz et al. 2016) against the peers, on the paper's two
//! task families: meta-train it on each ([`lrmem_tasks::l2l::meta_train`], cost reported), then
//! run every arm on held-out instances of both families for the trained horizon and ten times
//! longer.
//!
//! The arms, from the optimizers' registry: the reference and the papers' presets of the headline
//! tier (SGD, Adam, the memory of learning rates over SGD and over Adam, Rprop, hypergradient
//! descent; [`tuned_arms`]) each at the learning rate that did best on a validation instance (a
//! grid, never the reported instances); the learning-rate-free peers at their defaults
//! ([`default_arms`]); the LSTM trained on the quadratics and the LSTM trained on MNIST, each on
//! both families (on its own family it generalises to new instances, on the other to a new kind
//! of problem).

use std::fmt::Write as _;
use std::path::Path;

use lrmem_optimizers::l2l::{L2l, L2lConfig, L2lWeights};
use lrmem_optimizers::registry::{Family as OptimizerFamily, Tier};
use lrmem_optimizers::{Optimizer, OptimizerSpec};
use lrmem_tasks::l2l::{
    meta_train, run_optimizer, Family, MetaTraining, MnistMlp, Quadratics, HELD_OUT_SEED_MIX,
    VALIDATION_SEED_MIX,
};
use lrmem_tasks::mnist::Mnist;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::harness::Arm;
use crate::plot::{self, Line};
use crate::BenchError;

/// The study's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct L2lStudy {
    /// Meta-training epochs (instances) on the quadratics and on MNIST.
    pub epochs: [usize; 2],
    /// Validation every this many epochs during meta-training.
    pub eval_every: usize,
    /// Held-out instances per family and arm.
    pub seeds: usize,
    /// The horizon the LSTM is trained on (100).
    pub horizon: usize,
    /// The longer horizon every arm also runs.
    pub long: usize,
    /// Learning rates tried first for the tuned arms, on one validation instance; while the
    /// best sits at an edge, the grid grows past it by factors of 3 (up to 4 times).
    pub grid: Vec<f32>,
    /// Seed of meta-training and of every instance.
    pub seed: u64,
}

impl L2lStudy {
    /// The full study: 3,000 epochs on the quadratics, 250 on MNIST, 10 held-out instances,
    /// horizons 100 and 1,000.
    pub fn full(seed: u64) -> Self {
        L2lStudy {
            epochs: [3000, 250],
            eval_every: 20,
            seeds: 10,
            horizon: 100,
            long: 1000,
            grid: vec![1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0],
            seed,
        }
    }

    /// A smoke run: a few epochs, 2 instances, horizons 20 and 60.
    pub fn quick(seed: u64) -> Self {
        L2lStudy {
            epochs: [4, 2],
            eval_every: 2,
            seeds: 2,
            horizon: 20,
            long: 60,
            grid: vec![1e-2, 0.1],
            seed,
        }
    }
}

/// Meta-training on one family: what it cost and where it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trained {
    /// The family (`quadratic`, `mnist`).
    pub family: String,
    /// Epochs run.
    pub epochs: usize,
    /// The epoch whose weights were kept (best on validation).
    pub best_epoch: usize,
    /// Adam steps on φ.
    pub meta_updates: usize,
    /// Meta-updates skipped (a non-finite loss or meta-gradient).
    pub skipped: usize,
    /// Optimizee steps run, validation included.
    pub optimizee_steps: u64,
    /// Wall time of meta-training, seconds (one core).
    pub seconds: f64,
    /// (epoch, mean validation loss over the horizon).
    pub validation: Vec<(usize, f64)>,
    /// The weights, as [`L2lWeights::save`] writes them.
    pub weights: Vec<u8>,
}

/// One arm on one family: its learning rate and, per held-out instance, the loss before every
/// step (shorter where the run diverged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmRuns {
    /// The family.
    pub family: String,
    /// The arm's name.
    pub arm: String,
    /// The spec it ran (for the learned optimizer, the weights it ran with are in its name).
    pub spec: String,
    /// The learning rate chosen on validation, for tuned arms.
    pub tuned_lr: Option<f32>,
    /// Losses per instance.
    pub losses: Vec<Vec<f32>>,
    /// Held-out (test-split) loss and accuracy at the end, where the family has them.
    pub held_out: Vec<Option<(f64, f64)>>,
    /// Wall time of all its runs, seconds.
    pub seconds: f64,
}

/// Everything the study measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct L2lResult {
    /// The settings.
    pub study: L2lStudy,
    /// Meta-training, per family.
    pub trained: Vec<Trained>,
    /// Every arm on every family.
    pub runs: Vec<ArmRuns>,
}

/// The version of meta-training's cache files: raise it when meta-training changes, so that
/// old results are not read as new.
pub const CACHE_VERSION: u32 = 1;

/// A cached meta-training, if `file` holds a readable one.
fn cached(file: &Path) -> Option<Trained> {
    let text = std::fs::read_to_string(file).ok()?;
    serde_json::from_str(&text).ok()
}

/// The arms tuned on validation: the registry's presets of the reference and the papers'
/// families up to the headline tier that run fresh on every instance (the study runs one
/// instance per run: a reload has nothing to carry).
pub fn tuned_arms() -> Vec<Arm> {
    crate::workloads::arms::tier(Tier::Headline)
        .into_iter()
        .filter(|a| {
            !a.reload
                && a.spec.entry().is_ok_and(|e| {
                    matches!(
                        e.family,
                        OptimizerFamily::Reference | OptimizerFamily::Papers
                    )
                })
        })
        .collect()
}

/// The arms at their defaults: the registry's learning-rate-free presets up to the headline
/// tier, the same set the study's held-out stages and the default profile run.
pub fn default_arms() -> Vec<Arm> {
    crate::workloads::arms::family(OptimizerFamily::LearningRateFree, Tier::Headline)
}

/// An arm: a spec, or the learned optimizer with the weights of one family.
#[derive(Debug, Clone)]
enum ArmKind {
    Spec(String),
    Learned(usize),
}

fn build(kind: &ArmKind, trained: &[L2lWeights]) -> Result<Box<dyn Optimizer + Send>, BenchError> {
    match kind {
        ArmKind::Spec(s) => {
            let spec = OptimizerSpec::parse(s).map_err(|e| BenchError::Arm {
                arm: s.clone(),
                source: Box::new(e),
            })?;
            spec.build()
                .map(|built| built.into_box())
                .map_err(|e| BenchError::Arm {
                    arm: s.clone(),
                    source: Box::new(e),
                })
        }
        ArmKind::Learned(f) => Ok(Box::new(
            L2l::new(L2lConfig::default(), trained[*f].clone())
                .map_err(|e| BenchError::Invalid(format!("learned optimizer: {e}")))?,
        )),
    }
}

/// One held-out instance's losses and its final held-out loss and accuracy.
type SeedRun = (Vec<f32>, Option<(f64, f64)>);

/// Mean loss over a run of `steps` steps; ∞ if it diverged or stopped early.
fn mean_loss(losses: &[f32], steps: usize) -> f64 {
    if losses.len() < steps || losses.iter().any(|l| !l.is_finite()) {
        return f64::INFINITY;
    }
    losses.iter().map(|&l| f64::from(l)).sum::<f64>() / steps as f64
}

impl L2lStudy {
    /// Meta-trains on both families (in parallel, one core each), tunes the tuned arms and runs
    /// every arm on the held-out instances. `mnist` is the real data set; `progress` hears
    /// lines of progress.
    ///
    /// With a `cache` folder, each family's meta-training is read from
    /// `l2l-FAMILY-eEPOCHS-hHORIZON-sSEED-vVERSION.json` there when present (with the cost it
    /// was measured at) and written there otherwise: meta-training is deterministic, so a
    /// cached result is the result, and the peers can be rerun without an hour of it.
    pub fn run(
        &self,
        mnist: &Mnist,
        cache: Option<&Path>,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<L2lResult, BenchError> {
        if self.seeds == 0 || self.horizon == 0 || self.long < self.horizon {
            return Err(BenchError::Invalid(
                "the L2L study needs ≥ 1 seed and 0 < horizon ≤ long".into(),
            ));
        }
        let families: Vec<Box<dyn Family>> = vec![
            Box::new(Quadratics::default()),
            Box::new(MnistMlp::new(mnist)),
        ];
        let trained: Vec<Result<(Trained, L2lWeights), BenchError>> = families
            .par_iter()
            .zip(self.epochs.par_iter())
            .map(|(family, &epochs)| {
                let name = family.name();
                let file = cache.map(|dir| {
                    dir.join(format!(
                        "l2l-{name}-e{epochs}-h{}-s{}-v{CACHE_VERSION}.json",
                        self.horizon, self.seed
                    ))
                });
                if let Some((t, path)) = file.as_deref().and_then(|f| Some((cached(f)?, f))) {
                    progress(&format!(
                        "meta-training {name}: read from {}",
                        path.display()
                    ));
                    let w = L2lWeights::load(&t.weights)
                        .map_err(|e| BenchError::Invalid(format!("cached weights: {e}")))?;
                    return Ok((t, w));
                }
                let cfg = MetaTraining {
                    epochs,
                    horizon: self.horizon,
                    unroll: self.horizon.min(20),
                    eval_every: self.eval_every,
                    seed: self.seed,
                    ..MetaTraining::default()
                };
                let t = meta_train(family.as_ref(), &cfg, |e, loss| {
                    if (e + 1) % 10 == 0 || e + 1 == epochs {
                        progress(&format!(
                            "meta-training {name}: epoch {} of {epochs}, mean loss {loss:.4}",
                            e + 1
                        ));
                    }
                })
                .map_err(|e| BenchError::Task {
                    context: format!("meta-training on {name}"),
                    source: Box::new(e),
                })?;
                let bytes = t
                    .weights
                    .save()
                    .map_err(|e| BenchError::Invalid(format!("saving weights: {e}")))?;
                let trained = Trained {
                    family: name.to_owned(),
                    epochs,
                    best_epoch: t.best_epoch,
                    meta_updates: t.meta_updates,
                    skipped: t.skipped,
                    optimizee_steps: t.optimizee_steps,
                    seconds: t.seconds,
                    validation: t.validation.clone(),
                    weights: bytes,
                };
                if let Some(file) = &file {
                    let text = serde_json::to_string(&trained).map_err(|e| {
                        BenchError::Invalid(format!("encoding {}: {e}", file.display()))
                    })?;
                    if let Some(dir) = file.parent() {
                        std::fs::create_dir_all(dir).map_err(BenchError::io(dir))?;
                    }
                    std::fs::write(file, text).map_err(BenchError::io(file))?;
                }
                Ok((trained, t.weights))
            })
            .collect();
        let mut logs = Vec::new();
        let mut weights = Vec::new();
        for t in trained {
            let (log, w) = t?;
            logs.push(log);
            weights.push(w);
        }
        // Arms, with tuned rates chosen per family on one validation instance.
        let mut runs = Vec::new();
        for family in &families {
            let fname = family.name();
            let mut arms: Vec<(String, ArmKind, Option<f32>)> = Vec::new();
            for arm in tuned_arms() {
                let (name, spec) = (&arm.name, arm.spec.to_string());
                let sep = if spec.contains(':') { "," } else { ":" };
                let score = |lr: f32| -> Result<(f32, f64), BenchError> {
                    let kind = ArmKind::Spec(format!("{spec}{sep}lr={lr}"));
                    let mut opt = build(&kind, &weights)?;
                    let mut p = family.instance(self.seed ^ VALIDATION_SEED_MIX ^ 0xA5);
                    let (losses, _) = run_optimizer(opt.as_mut(), p.as_mut(), self.horizon);
                    Ok((lr, mean_loss(&losses, self.horizon)))
                };
                let mut scores: Vec<(f32, f64)> = self
                    .grid
                    .par_iter()
                    .map(|&lr| score(lr))
                    .collect::<Result<_, BenchError>>()?;
                let best_of = |scores: &[(f32, f64)]| {
                    scores
                        .iter()
                        .min_by(|a, b| a.1.total_cmp(&b.1))
                        .map_or(self.grid[0], |s| s.0)
                };
                // Past an edge: ×3 (or ÷3) while the best is the largest (smallest) tried.
                for _ in 0..4 {
                    let (lo, hi) = scores.iter().fold((f32::MAX, f32::MIN), |(lo, hi), s| {
                        (lo.min(s.0), hi.max(s.0))
                    });
                    let best = best_of(&scores);
                    let next = if best == hi && hi * 3.0 <= lrmem_optimizers::memory_core::MAX_RATE
                    {
                        hi * 3.0
                    } else if best == lo && scores.len() > 1 {
                        lo / 3.0
                    } else {
                        break;
                    };
                    // A rate the optimizer refuses (the memory's lr is η₀ ≤ θ_max = 1) ends
                    // the widening.
                    match score(next) {
                        Ok(s) => scores.push(s),
                        Err(_) => break,
                    }
                }
                let best = best_of(&scores);
                arms.push((
                    name.clone(),
                    ArmKind::Spec(format!("{spec}{sep}lr={best}")),
                    Some(best),
                ));
            }
            for arm in default_arms() {
                arms.push((arm.name, ArmKind::Spec(arm.spec.to_string()), None));
            }
            for (i, f) in families.iter().enumerate() {
                arms.push((format!("l2l-{}", f.name()), ArmKind::Learned(i), None));
            }
            for (name, kind, tuned_lr) in arms {
                progress(&format!("{fname}: {name}"));
                let started = std::time::Instant::now();
                let per_seed: Vec<SeedRun> = (0..self.seeds)
                    .into_par_iter()
                    .map(|s| {
                        let mut opt = build(&kind, &weights)?;
                        let mut p = family.instance(self.seed ^ HELD_OUT_SEED_MIX ^ s as u64);
                        let (losses, theta) = run_optimizer(opt.as_mut(), p.as_mut(), self.long);
                        let held = if losses.len() == self.long {
                            p.held_out_loss(&theta)
                        } else {
                            None
                        };
                        Ok((losses, held))
                    })
                    .collect::<Result<_, BenchError>>()?;
                let spec = match &kind {
                    ArmKind::Spec(s) => s.clone(),
                    ArmKind::Learned(i) => format!("l2l (meta-trained on {})", families[*i].name()),
                };
                runs.push(ArmRuns {
                    family: fname.to_owned(),
                    arm: name,
                    spec,
                    tuned_lr,
                    losses: per_seed.iter().map(|r| r.0.clone()).collect(),
                    held_out: per_seed.iter().map(|r| r.1).collect(),
                    seconds: started.elapsed().as_secs_f64(),
                });
            }
        }
        Ok(L2lResult {
            study: self.clone(),
            trained: logs,
            runs,
        })
    }
}

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
            &format!("{family}: mean loss over held-out instances"),
            "step",
            "loss",
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
