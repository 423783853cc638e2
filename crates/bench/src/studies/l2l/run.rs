//! Running the learned optimizer's study: meta-training on each family (or reading it from
//! the cache), tuning the tuned arms on a validation instance, and every arm on the held-out
//! instances.

use std::path::Path;

use lrmem_optimizers::l2l::{L2l, L2lConfig, L2lWeights};
use lrmem_optimizers::{Optimizer, OptimizerSpec};
use lrmem_tasks::l2l::{
    meta_train, run_optimizer, Family, MetaTraining, MnistMlp, Quadratics, HELD_OUT_SEED_MIX,
    VALIDATION_SEED_MIX,
};
use lrmem_tasks::mnist::Mnist;
use rayon::prelude::*;

use super::{default_arms, tuned_arms, ArmRuns, L2lResult, L2lStudy, Trained, CACHE_VERSION};
use crate::BenchError;

/// A cached meta-training, if `file` holds a readable one.
fn cached(file: &Path) -> Option<Trained> {
    let text = std::fs::read_to_string(file).ok()?;
    serde_json::from_str(&text).ok()
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
            .map(|(family, &epochs)| self.meta_train(family.as_ref(), epochs, cache, progress))
            .collect();
        let mut logs = Vec::new();
        let mut weights = Vec::new();
        for t in trained {
            let (log, w) = t?;
            logs.push(log);
            weights.push(w);
        }
        let names: Vec<&str> = families.iter().map(|f| f.name()).collect();
        // Arms, with tuned rates chosen per family on one validation instance.
        let mut runs = Vec::new();
        for family in &families {
            let mut arms: Vec<(String, ArmKind, Option<f32>)> = Vec::new();
            for arm in tuned_arms() {
                let spec = arm.spec.to_string();
                let best = self.tune(family.as_ref(), &spec, &weights)?;
                let sep = if spec.contains(':') { "," } else { ":" };
                arms.push((
                    arm.name,
                    ArmKind::Spec(format!("{spec}{sep}lr={best}")),
                    Some(best),
                ));
            }
            for arm in default_arms() {
                arms.push((arm.name, ArmKind::Spec(arm.spec.to_string()), None));
            }
            for (i, name) in names.iter().enumerate() {
                arms.push((format!("l2l-{name}"), ArmKind::Learned(i), None));
            }
            for (name, kind, tuned_lr) in arms {
                progress(&format!("{}: {name}", family.name()));
                let held_out = HeldOut {
                    family: family.as_ref(),
                    weights: &weights,
                    families: &names,
                };
                runs.push(self.held_out(&held_out, name, kind, tuned_lr)?);
            }
        }
        Ok(L2lResult {
            study: self.clone(),
            trained: logs,
            runs,
        })
    }

    /// Meta-training on `family` for `epochs` epochs, or what the cache holds of it.
    fn meta_train(
        &self,
        family: &dyn Family,
        epochs: usize,
        cache: Option<&Path>,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<(Trained, L2lWeights), BenchError> {
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
        let t = meta_train(family, &cfg, |e, loss| {
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
            let text = serde_json::to_string(&trained)
                .map_err(|e| BenchError::Invalid(format!("encoding {}: {e}", file.display())))?;
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir).map_err(BenchError::io(dir))?;
            }
            std::fs::write(file, text).map_err(BenchError::io(file))?;
        }
        Ok((trained, t.weights))
    }

    /// The learning rate of `spec` (a spec without `lr`) that did best on a validation instance
    /// of `family`: the grid, then past an edge while the best sits there.
    fn tune(
        &self,
        family: &dyn Family,
        spec: &str,
        weights: &[L2lWeights],
    ) -> Result<f32, BenchError> {
        let sep = if spec.contains(':') { "," } else { ":" };
        let score = |lr: f32| -> Result<(f32, f64), BenchError> {
            let kind = ArmKind::Spec(format!("{spec}{sep}lr={lr}"));
            let mut opt = build(&kind, weights)?;
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
            let next = if best == hi && hi * 3.0 <= lrmem_optimizers::memory_core::MAX_RATE {
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
        Ok(best)
    }

    /// Every held-out instance of `arm` on the family of `at`.
    fn held_out(
        &self,
        at: &HeldOut<'_>,
        name: String,
        kind: ArmKind,
        tuned_lr: Option<f32>,
    ) -> Result<ArmRuns, BenchError> {
        let (family, weights, families) = (at.family, at.weights, at.families);
        let started = std::time::Instant::now();
        let per_seed: Vec<SeedRun> = (0..self.seeds)
            .into_par_iter()
            .map(|s| {
                let mut opt = build(&kind, weights)?;
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
            ArmKind::Learned(i) => format!("l2l (meta-trained on {})", families[*i]),
        };
        Ok(ArmRuns {
            family: family.name().to_owned(),
            arm: name,
            spec,
            tuned_lr,
            losses: per_seed.iter().map(|r| r.0.clone()).collect(),
            held_out: per_seed.iter().map(|r| r.1).collect(),
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// Where an arm's held-out runs happen: the family, the meta-trained weights, the families'
/// names (what each learned arm was trained on).
struct HeldOut<'a> {
    family: &'a dyn Family,
    weights: &'a [L2lWeights],
    families: &'a [&'a str],
}
