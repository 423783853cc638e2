//! Running optimizers on the task families ([`run_weights`] for the learned LSTM,
//! [`run_optimizer`] for any other) and meta-training the LSTM by truncated backpropagation
//! through time ([`meta_train`]).

use std::time::Instant;

use lrmem_optimizers::l2l::{self, L2lWeights, TAPE_PER_COORDINATE};
use lrmem_optimizers::{Adam, AdamConfig, Optimizer, Tensor};

use super::{Family, Problem, TRAIN_SEED_MIX, VALIDATION_SEED_MIX};
use crate::TaskError;

/// Meta-training settings (the paper's by default, but for the number of epochs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetaTraining {
    /// Instances trained on, one per epoch.
    pub epochs: usize,
    /// Steps per instance (100).
    pub horizon: usize,
    /// Steps per truncated BPTT unroll (20).
    pub unroll: usize,
    /// Adam's learning rate on φ (10⁻³).
    pub lr: f32,
    /// LogAndSign's k (5).
    pub k: f32,
    /// Evaluate on the validation instances every this many epochs (0: never; keep the last).
    pub eval_every: usize,
    /// Validation instances.
    pub eval_instances: usize,
    /// Seed of φ's initialisation and of every instance.
    pub seed: u64,
}

impl Default for MetaTraining {
    fn default() -> Self {
        MetaTraining {
            epochs: 200,
            horizon: 100,
            unroll: 20,
            lr: 1e-3,
            k: 5.0,
            eval_every: 20,
            eval_instances: 2,
            seed: 0,
        }
    }
}

/// What meta-training did.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaTrained {
    /// The weights: the best on validation (or the last, without validation).
    pub weights: L2lWeights,
    /// Per epoch: the mean optimizee loss over its horizon.
    pub epoch_loss: Vec<f64>,
    /// (epoch, mean validation loss over the horizon), at each evaluation.
    pub validation: Vec<(usize, f64)>,
    /// The epoch after which the kept weights were taken.
    pub best_epoch: usize,
    /// Meta-updates skipped because a loss or the meta-gradient was not finite.
    pub skipped: usize,
    /// Adam steps on φ.
    pub meta_updates: usize,
    /// Optimizee steps run (training and validation).
    pub optimizee_steps: u64,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Runs `weights` on `problem` for `steps` steps (no gradient): the loss before every step
/// (`steps` values) and the final θ. A non-finite loss ends the run early.
pub fn run_weights(
    weights: &L2lWeights,
    problem: &mut dyn Problem,
    steps: usize,
) -> (Vec<f32>, Vec<f32>) {
    let mut theta = problem.start();
    let n = theta.len();
    let (mut grad, mut out) = (vec![0.0f32; n], vec![0.0f32; n]);
    let mut state = vec![0.0f32; n * l2l::STATE_PER_COORDINATE];
    let mut losses = Vec::with_capacity(steps);
    for _ in 0..steps {
        let loss = problem.loss_grad(&theta, &mut grad);
        losses.push(loss);
        if !loss.is_finite() || grad.iter().any(|g| !g.is_finite()) {
            break;
        }
        weights.forward(&grad, &mut state, &mut out, None);
        theta.iter_mut().zip(&out).for_each(|(t, u)| *t += u);
    }
    (losses, theta)
}

/// Runs any optimizer on `problem` for `steps` steps, each tensor of
/// [`Problem::tensors`] stepped as one tensor of a model, evaluated where the optimizer
/// evaluates ([`Optimizer::eval_params`]): the loss before every step and the final θ (at the
/// evaluation point). A non-finite loss or a refused step ends the run early.
pub fn run_optimizer(
    opt: &mut dyn Optimizer,
    problem: &mut dyn Problem,
    steps: usize,
) -> (Vec<f32>, Vec<f32>) {
    let mut theta = problem.start();
    let tensors = problem.tensors();
    let mut grad = vec![0.0f32; theta.len()];
    let mut losses = Vec::with_capacity(steps);
    for _ in 0..steps {
        let loss = problem.loss_grad(&theta, &mut grad);
        losses.push(loss);
        if !loss.is_finite() {
            break;
        }
        let mut parts: Vec<Tensor<'_>> = Vec::with_capacity(tensors.len());
        let mut rest: &mut [f32] = &mut theta;
        let mut at = 0;
        for (name, range) in &tensors {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(range.end - at);
            parts.push(Tensor::new(name, head, &grad[range.clone()]));
            rest = tail;
            at = range.end;
        }
        if opt.step_model(&mut parts).is_err() {
            break;
        }
    }
    let eval: Vec<f32> = tensors
        .iter()
        .flat_map(|(name, range)| {
            opt.eval_params(name)
                .map_or_else(|| theta[range.clone()].to_vec(), <[f32]>::to_vec)
        })
        .collect();
    (losses, eval)
}

/// Meta-trains the LSTM on `family` ([module docs](super)); `progress` hears each epoch's
/// number and mean loss.
pub fn meta_train(
    family: &dyn Family,
    cfg: &MetaTraining,
    mut progress: impl FnMut(usize, f64),
) -> Result<MetaTrained, TaskError> {
    if cfg.unroll == 0 || cfg.horizon == 0 || !cfg.horizon.is_multiple_of(cfg.unroll) {
        return Err(TaskError::Argument(format!(
            "meta-training horizon {} must be a positive multiple of the unroll {}",
            cfg.horizon, cfg.unroll
        )));
    }
    let started = Instant::now();
    let optim = |e| TaskError::Optim {
        name: "l2l".into(),
        source: e,
    };
    let mut weights = L2lWeights::init(cfg.k, family.scale(), cfg.seed).map_err(optim)?;
    let mut adam = Adam::new(AdamConfig::with_lr(cfg.lr)).map_err(optim)?;
    let mut phi = weights.params().to_vec();
    let mut out = MetaTrained {
        weights: weights.clone(),
        epoch_loss: Vec::new(),
        validation: Vec::new(),
        best_epoch: 0,
        skipped: 0,
        meta_updates: 0,
        optimizee_steps: 0,
        seconds: 0.0,
    };
    let mut best = f64::INFINITY;
    let mut grad_phi = vec![0.0f32; l2l::NUM_PARAMS];
    for epoch in 0..cfg.epochs {
        let mut problem = family.instance(cfg.seed ^ TRAIN_SEED_MIX ^ epoch as u64);
        let mut theta = problem.start();
        let n = theta.len();
        let mut state = vec![0.0f32; n * l2l::STATE_PER_COORDINATE];
        let mut unroll = Unroll::new(n, cfg.unroll);
        let mut epoch_loss = 0.0f64;
        let mut finite = true;
        for _ in 0..cfg.horizon / cfg.unroll {
            let steps = &mut out.optimizee_steps;
            finite = unroll.run(
                &weights,
                problem.as_mut(),
                &mut theta,
                &mut state,
                &mut epoch_loss,
                steps,
            );
            if !finite {
                break;
            }
            unroll.meta_gradient(&weights, &mut grad_phi);
            if grad_phi.iter().any(|g| !g.is_finite()) {
                out.skipped += 1;
                continue;
            }
            adam.step("phi", &mut phi, &grad_phi).map_err(optim)?;
            weights.set_params(&phi).map_err(optim)?;
            out.meta_updates += 1;
        }
        if !finite {
            out.skipped += 1;
        }
        let mean = epoch_loss / cfg.horizon as f64;
        out.epoch_loss.push(mean);
        progress(epoch, mean);
        let last = epoch + 1 == cfg.epochs;
        if cfg.eval_every > 0 && ((epoch + 1) % cfg.eval_every == 0 || last) {
            let v = validation_loss(family, cfg, &weights, &mut out.optimizee_steps);
            out.validation.push((epoch, v));
            if v < best {
                best = v;
                out.weights = weights.clone();
                out.best_epoch = epoch;
            }
        }
    }
    if cfg.eval_every == 0 || !best.is_finite() {
        out.weights = weights;
        out.best_epoch = cfg.epochs.saturating_sub(1);
    }
    out.seconds = started.elapsed().as_secs_f64();
    Ok(out)
}

/// The mean optimizee loss of `weights` over the horizon on `cfg`'s validation instances
/// (infinite for an instance that did not run its whole horizon finitely); `steps` counts the
/// optimizee steps.
fn validation_loss(
    family: &dyn Family,
    cfg: &MetaTraining,
    weights: &L2lWeights,
    steps: &mut u64,
) -> f64 {
    let mut total = 0.0;
    for v in 0..cfg.eval_instances {
        let mut p = family.instance(cfg.seed ^ VALIDATION_SEED_MIX ^ v as u64);
        let (losses, _) = run_weights(weights, p.as_mut(), cfg.horizon);
        *steps += losses.len() as u64;
        total += if losses.len() < cfg.horizon || losses.iter().any(|l| !l.is_finite()) {
            f64::INFINITY
        } else {
            losses.iter().map(|&l| f64::from(l)).sum::<f64>() / losses.len() as f64
        };
    }
    total / cfg.eval_instances.max(1) as f64
}

/// One truncated unroll of meta-training: per step, the optimizee's gradient the LSTM saw and
/// the LSTM's tape.
struct Unroll {
    tapes: Vec<Vec<f32>>,
    seen: Vec<Vec<f32>>,
    step_out: Vec<f32>,
}

impl Unroll {
    /// Buffers for unrolls of `steps` steps over `n` coordinates.
    fn new(n: usize, steps: usize) -> Self {
        Unroll {
            tapes: vec![vec![0.0f32; n * TAPE_PER_COORDINATE]; steps],
            seen: vec![vec![0.0f32; n]; steps],
            step_out: vec![0.0f32; n],
        }
    }

    /// Runs the unroll's steps of `weights` on `problem` from `theta` and the LSTM's `state`
    /// (both carried on to the next unroll), keeping the tapes; each loss is added to
    /// `loss_sum` and each step counted in `steps`. `false`, and the rest not run, at the first
    /// non-finite loss or gradient.
    fn run(
        &mut self,
        weights: &L2lWeights,
        problem: &mut dyn Problem,
        theta: &mut [f32],
        state: &mut [f32],
        loss_sum: &mut f64,
        steps: &mut u64,
    ) -> bool {
        for (seen, tape) in self.seen.iter_mut().zip(&mut self.tapes) {
            let loss = problem.loss_grad(theta, seen);
            *steps += 1;
            *loss_sum += f64::from(loss);
            if !loss.is_finite() || seen.iter().any(|g| !g.is_finite()) {
                return false;
            }
            weights.forward(seen, state, &mut self.step_out, Some(tape));
            theta
                .iter_mut()
                .zip(&self.step_out)
                .for_each(|(t, u)| *t += u);
        }
        true
    }

    /// The meta-gradient of the unroll's summed loss into `grad_phi`, with the optimizee's
    /// gradients held as inputs (the paper drops second derivatives).
    fn meta_gradient(&self, weights: &L2lWeights, grad_phi: &mut [f32]) {
        let (steps, n) = (self.seen.len(), self.step_out.len());
        // ∂(Σ_t f(θ_t))/∂g_s = Σ_{t > s} ∇f(θ_t): suffix sums, in place from the end.
        let mut d_out = vec![vec![0.0f32; n]; steps];
        for s in (0..steps - 1).rev() {
            let (head, tail) = d_out.split_at_mut(s + 1);
            for ((d, &next), &g) in head[s].iter_mut().zip(&tail[0]).zip(&self.seen[s + 1]) {
                *d = next + g;
            }
        }
        grad_phi.fill(0.0);
        let tr: Vec<&[f32]> = self.tapes.iter().map(Vec::as_slice).collect();
        let dr: Vec<&[f32]> = d_out.iter().map(Vec::as_slice).collect();
        weights.backward(&tr, &dr, grad_phi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::l2l::{Quadratics, HELD_OUT_SEED_MIX};

    /// A few dozen epochs of meta-training make the LSTM a better optimizer of new quadratics
    /// than it was at initialisation, and meta-training reproduces bit for bit.
    #[test]
    fn meta_training_learns_and_reproduces() {
        let fam = Quadratics {
            dims: 10,
            batch: 16,
        };
        let cfg = MetaTraining {
            epochs: 30,
            horizon: 20,
            unroll: 10,
            eval_every: 10,
            eval_instances: 1,
            seed: 3,
            ..MetaTraining::default()
        };
        let trained = meta_train(&fam, &cfg, |_, _| {}).unwrap();
        assert_eq!(trained.meta_updates, 60);
        assert_eq!(trained.validation.len(), 3);
        let mean = |w: &L2lWeights| {
            let mut p = fam.instance(HELD_OUT_SEED_MIX);
            let (losses, _) = run_weights(w, p.as_mut(), cfg.horizon);
            losses.iter().map(|&l| f64::from(l)).sum::<f64>() / losses.len() as f64
        };
        let init = L2lWeights::init(cfg.k, fam.scale(), cfg.seed).unwrap();
        let (before, after) = (mean(&init), mean(&trained.weights));
        assert!(
            after < 0.8 * before,
            "mean loss {before} at init, {after} trained"
        );
        let again = meta_train(&fam, &cfg, |_, _| {}).unwrap();
        assert_eq!(again.weights, trained.weights);
        assert!(meta_train(&fam, &MetaTraining { horizon: 25, ..cfg }, |_, _| {}).is_err());
    }

    /// The meta-gradient of one unroll against central differences of the same meta-loss with
    /// the optimizee's gradients held at the values they had (the paper's dropped second
    /// derivatives: what the meta-gradient is the exact derivative of), on a tiny quadratic.
    #[test]
    fn meta_gradient_matches_finite_differences() {
        let fam = Quadratics { dims: 2, batch: 1 };
        let weights = L2lWeights::init(5.0, 0.3, 9).unwrap();
        let steps = 5;
        // The recorded run: gradients seen and tapes.
        let mut p = fam.instance(2);
        let mut theta = p.start();
        let n = theta.len();
        let mut state = vec![0.0f32; n * l2l::STATE_PER_COORDINATE];
        let mut tapes = vec![vec![0.0f32; n * TAPE_PER_COORDINATE]; steps];
        let mut seen = vec![vec![0.0f32; n]; steps];
        let mut out = vec![0.0f32; n];
        for s in 0..steps {
            p.loss_grad(&theta, &mut seen[s]);
            weights.forward(&seen[s], &mut state, &mut out, Some(&mut tapes[s]));
            theta.iter_mut().zip(&out).for_each(|(t, u)| *t += u);
        }
        let mut d_out = vec![vec![0.0f32; n]; steps];
        for s in (0..steps - 1).rev() {
            for i in 0..n {
                d_out[s][i] = d_out[s + 1][i] + seen[s + 1][i];
            }
        }
        let mut grad = vec![0.0f32; l2l::NUM_PARAMS];
        let tr: Vec<&[f32]> = tapes.iter().map(Vec::as_slice).collect();
        let dr: Vec<&[f32]> = d_out.iter().map(Vec::as_slice).collect();
        weights.backward(&tr, &dr, &mut grad);
        // The surrogate meta-loss: the same unroll with the LSTM fed the recorded gradients.
        let surrogate = |phi: &[f32]| -> f64 {
            let w = L2lWeights::new(5.0, 0.3, phi.to_vec()).unwrap();
            let mut p = fam.instance(2);
            let mut theta = p.start();
            let mut state = vec![0.0f32; n * l2l::STATE_PER_COORDINATE];
            let (mut scratch, mut o) = (vec![0.0f32; n], vec![0.0f32; n]);
            let mut total = 0.0f64;
            for fed in &seen {
                total += f64::from(p.loss_grad(&theta, &mut scratch));
                w.forward(fed, &mut state, &mut o, None);
                theta.iter_mut().zip(&o).for_each(|(t, u)| *t += u);
            }
            total
        };
        let phi = weights.params().to_vec();
        let mut checked = 0;
        for idx in (0..l2l::NUM_PARAMS)
            .step_by(41)
            .chain([l2l::NUM_PARAMS - 1])
        {
            let h = 1e-2f32;
            let mut q = phi.clone();
            q[idx] += h;
            let up = surrogate(&q);
            q[idx] -= 2.0 * h;
            let down = surrogate(&q);
            let fd = (up - down) / (2.0 * f64::from(h));
            let an = f64::from(grad[idx]);
            assert!(
                (fd - an).abs() <= 1e-3 + 2e-2 * an.abs(),
                "φ[{idx}]: meta-gradient {an}, finite differences {fd}"
            );
            checked += 1;
        }
        assert!(checked > 100 && grad.iter().any(|g| g.abs() > 1e-2));
        // The recorded run is what the surrogate replays.
        assert!(
            (surrogate(&phi) - {
                let mut p = fam.instance(2);
                let (losses, _) = run_weights(&weights, p.as_mut(), steps);
                losses.iter().map(|&l| f64::from(l)).sum::<f64>()
            })
            .abs()
                < 1e-9
        );
    }
}
