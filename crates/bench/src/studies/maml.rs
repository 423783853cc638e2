//! MAML's learning rates on mixed linear regression (Bernacchia, ICLR 2021): the test loss
//! after adaptation as a function of the meta-training inner rate α_t and the adaptation
//! rate α_r, exact per task set ([`lrmem_tasks::maml`]) and averaged over many sampled task
//! sets. The paper's finding, which this experiment checks: the best α_t is negative while the
//! best α_r is positive. Then a memory of learning rates allowed below zero takes α_t's place
//! during meta-training ([`memory_config`]): does it find the negative rate by itself?

use std::fmt::Write as _;
use std::path::Path;

use lrmem_optimizers::memory_core::{Memory, MemoryConfig, MemoryOptimizer, Signal};
use lrmem_tasks::maml::{sweep, DVector, InnerRate, MamlConfig, TaskSet, TEST_SEED_MIX};
use serde::{Deserialize, Serialize};

use crate::plot::{self, Line};
use crate::BenchError;

/// The sweep: the regression's sizes (Bernacchia's by default), the rates tried, and how many
/// task sets and new tasks per set the test loss averages over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MamlSweep {
    /// p, n_t, n_v, m, n_r (the model's sizes; σ and ν below).
    pub sizes: [usize; 5],
    /// Label noise σ and task spread ν.
    pub noise: [f64; 2],
    /// Meta-training inner rates α_t.
    pub alphas_t: Vec<f64>,
    /// Adaptation rates α_r.
    pub alphas_r: Vec<f64>,
    /// Task sets (seeds `seed`, `seed + 1`, …).
    pub sets: usize,
    /// New tasks per set for the test loss.
    pub tests: usize,
    /// The first task set's seed.
    pub seed: u64,
    /// Task sets of the memory experiment (the first ones of the sweep's), 0 for none.
    pub memory_sets: usize,
    /// Meta-training steps of the memory experiment (and of its fixed-rate comparisons).
    pub memory_steps: usize,
}

/// The memory of learning rates as MAML's meta-training inner rate: 20 centres over ±1 (the
/// library's), θ ∈ [−200, 200] (the sweep's rates are tens), starting at η₀ = 1 (a small
/// positive rate), the paper's sign signal (the gradients here are ≈ 10⁻², so the clipped
/// product would be ≈ 10⁻⁴), Adam on θ with ξ = 1 (a step of ≈ 1 in θ per update).
pub fn memory_config() -> MemoryConfig {
    MemoryConfig {
        eta0: 1.0,
        theta_min: -200.0,
        theta_max: 200.0,
        signal: Signal::Sign,
        optimizer: MemoryOptimizer::adam(1.0),
        ..MemoryConfig::default()
    }
}

/// Meta-training rates the memory experiment compares with, by the same gradient descent.
pub const FIXED_RATES: [f64; 3] = [0.0, -60.0, 20.0];

/// What the memory did as MAML's inner rate, averaged over task sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryOutcome {
    /// Per meta-step, the mean inner rate (over sets, tasks and coordinates).
    pub mean_rate: Vec<f64>,
    /// Per set, the mean inner rate of the last step.
    pub final_rate: Vec<f64>,
    /// Mean test loss per adaptation rate of the sweep: the memory's meta-training.
    pub loss: Vec<f64>,
    /// Mean test loss per adaptation rate after the same gradient descent at each of
    /// [`FIXED_RATES`].
    pub fixed: Vec<(f64, Vec<f64>)>,
}

impl MamlSweep {
    /// The full sweep: α_t from −200 to 40 in steps of 10, α_r ∈ {0, 5, 10, 15, 20, 30},
    /// 1,000 task sets of 20 new tasks (≈ 9 s on a core); the memory experiment on the first
    /// 200 sets, 300 meta-training steps (≈ 28 s).
    pub fn full(seed: u64) -> Self {
        let c = MamlConfig::default();
        MamlSweep {
            sizes: [c.p, c.n_train, c.n_val, c.tasks, c.n_adapt],
            noise: [c.sigma, c.nu],
            alphas_t: (-20..=4).map(|i| f64::from(i) * 10.0).collect(),
            alphas_r: vec![0.0, 5.0, 10.0, 15.0, 20.0, 30.0],
            sets: 1000,
            tests: 20,
            seed,
            memory_sets: 200,
            memory_steps: 300,
        }
    }

    /// The CI smoke: the same grid over 20 task sets.
    pub fn quick(seed: u64) -> Self {
        MamlSweep {
            sets: 20,
            memory_sets: 4,
            memory_steps: 50,
            ..MamlSweep::full(seed)
        }
    }

    /// The regression's settings.
    pub fn config(&self) -> MamlConfig {
        let [p, n_train, n_val, tasks, n_adapt] = self.sizes;
        let [sigma, nu] = self.noise;
        MamlConfig {
            p,
            n_train,
            n_val,
            tasks,
            n_adapt,
            sigma,
            nu,
        }
    }

    /// Runs the sweep.
    pub fn run(&self) -> Result<MamlResult, BenchError> {
        let loss = sweep(
            self.config(),
            &self.alphas_t,
            &self.alphas_r,
            self.sets,
            self.tests,
            self.seed,
        )
        .map_err(|source| BenchError::Task {
            context: "the MAML sweep".into(),
            source: Box::new(source),
        })?;
        Ok(MamlResult {
            sweep: self.clone(),
            loss,
            memory: (self.memory_sets > 0)
                .then(|| self.memory_run())
                .transpose()?,
        })
    }

    /// The memory experiment: on each of the first `memory_sets` task sets, meta-train by
    /// gradient descent with the memory's inner rates, and with each fixed rate, and test after
    /// adaptation at every rate of the sweep (on the sweep's test tasks).
    fn memory_run(&self) -> Result<MemoryOutcome, BenchError> {
        let err = |source| BenchError::Task {
            context: "the MAML memory experiment".into(),
            source: Box::new(source),
        };
        let (steps, sets) = (self.memory_steps, self.memory_sets);
        let nr = self.alphas_r.len();
        let mut out = MemoryOutcome {
            mean_rate: vec![0.0; steps],
            final_rate: Vec::with_capacity(sets),
            loss: vec![0.0; nr],
            fixed: FIXED_RATES.iter().map(|&a| (a, vec![0.0; nr])).collect(),
        };
        let test_loss = |set: &TaskSet, omega: &DVector<f64>, s: u64, acc: &mut [f64]| {
            let test = set.test_tasks(self.tests, TEST_SEED_MIX ^ s)?;
            for (a, &ar) in acc.iter_mut().zip(&self.alphas_r) {
                *a += test.loss(omega, ar)? / sets as f64;
            }
            Ok::<(), lrmem_tasks::TaskError>(())
        };
        for k in 0..sets as u64 {
            let s = self.seed.wrapping_add(k);
            let set = TaskSet::sample(self.config(), s).map_err(err)?;
            let mut memory =
                Memory::new(memory_config()).map_err(|e| BenchError::Parse(e.to_string()))?;
            let run = set
                .meta_train_gd(InnerRate::Memory(&mut memory), steps)
                .map_err(err)?;
            for (m, r) in out.mean_rate.iter_mut().zip(&run.mean_rate) {
                *m += r / sets as f64;
            }
            out.final_rate
                .push(run.mean_rate.last().copied().unwrap_or(f64::NAN));
            test_loss(&set, &run.omega, s, &mut out.loss).map_err(err)?;
            for (a, acc) in out.fixed.iter_mut() {
                let fixed = set
                    .meta_train_gd(InnerRate::Fixed(*a), steps)
                    .map_err(err)?;
                test_loss(&set, &fixed.omega, s, acc).map_err(err)?;
            }
        }
        Ok(out)
    }
}

/// The mean test loss of every (α_t, α_r): `loss[i][j]` for `alphas_t[i]`, `alphas_r[j]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MamlResult {
    /// What was run.
    pub sweep: MamlSweep,
    /// Mean test loss after adaptation.
    pub loss: Vec<Vec<f64>>,
    /// The memory experiment, if it ran.
    pub memory: Option<MemoryOutcome>,
}

impl MamlResult {
    /// The best (α_t, α_r) over the grid and its loss.
    pub fn best(&self) -> Option<(f64, f64, f64)> {
        let s = &self.sweep;
        let mut best: Option<(f64, f64, f64)> = None;
        for (row, &at) in self.loss.iter().zip(&s.alphas_t) {
            for (&l, &ar) in row.iter().zip(&s.alphas_r) {
                if best.is_none_or(|b| l < b.2) {
                    best = Some((at, ar, l));
                }
            }
        }
        best
    }

    /// For adaptation rate `alphas_r[j]`, the α_t of least loss and that loss.
    pub fn best_alpha_t(&self, j: usize) -> Option<(f64, f64)> {
        self.loss
            .iter()
            .zip(&self.sweep.alphas_t)
            .filter_map(|(row, &at)| row.get(j).map(|&l| (at, l)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// The loss at α_t = 0 (no inner loop during meta-training) for `alphas_r[j]`, if the
    /// grid has it.
    pub fn at_zero(&self, j: usize) -> Option<f64> {
        let i = self.sweep.alphas_t.iter().position(|&a| a == 0.0)?;
        self.loss.get(i)?.get(j).copied()
    }
}

/// The report section: the best rates, a table per adaptation rate, and the figure (test loss
/// against α_t, a line per α_r) written as `maml_alpha.{svg,png}` into `out_dir`.
pub fn section(r: &MamlResult, out_dir: &Path) -> Result<String, BenchError> {
    let s = &r.sweep;
    let lines: Vec<Line> = s
        .alphas_r
        .iter()
        .enumerate()
        .map(|(j, &ar)| Line {
            label: format!("α_r = {ar}"),
            points: s
                .alphas_t
                .iter()
                .zip(&r.loss)
                .map(|(&at, row)| (at, row[j]))
                .collect(),
            colour: plot::colour(j),
            dashed: false,
        })
        .collect();
    let stem = out_dir.join("maml_alpha");
    plot::lines(
        &stem,
        [
            "MAML on mixed linear regression: test loss after adaptation",
            "meta-training inner rate α_t",
            "test loss",
        ],
        &lines,
    )
    .map_err(|e| BenchError::Plot {
        path: stem.clone(),
        reason: e.to_string(),
    })?;
    let mut md = String::from("\n## MAML's learning rates (Bernacchia 2021)\n\n");
    let [p, nt, nv, m, nr] = s.sizes;
    let _ = writeln!(
        md,
        "Mixed linear regression, p = {p}, n_t = {nt}, n_v = {nv}, m = {m}, n_r = {nr}, σ = {}, \
         ν = {}; exact meta-training (minimum-norm least squares through the inner step) and \
         exact expected test loss, averaged over {} task sets × {} new tasks (seeds from {}).\n",
        s.noise[0], s.noise[1], s.sets, s.tests, s.seed
    );
    if let Some((at, ar, l)) = r.best() {
        let _ = writeln!(
            md,
            "Best over the grid: α_t = {at}, α_r = {ar}, test loss {l:.4}.\n"
        );
    }
    md.push_str("| α_r | best α_t | its test loss | test loss at α_t = 0 |\n|---|---|---|---|\n");
    for (j, ar) in s.alphas_r.iter().enumerate() {
        let (at, l) = r.best_alpha_t(j).unwrap_or((f64::NAN, f64::NAN));
        let zero = r.at_zero(j).map_or("—".to_string(), |z| format!("{z:.4}"));
        let _ = writeln!(md, "| {ar} | {at} | {l:.4} | {zero} |");
    }
    md.push_str(
        "\n![test loss against the meta-training rate](maml_alpha.png) ([SVG](maml_alpha.svg))\n",
    );
    if let Some(m) = &r.memory {
        md.push_str(&memory_section(r, m));
    }
    Ok(md)
}

/// The memory experiment's part of the section.
fn memory_section(r: &MamlResult, m: &MemoryOutcome) -> String {
    let s = &r.sweep;
    let c = memory_config();
    let negative = m.final_rate.iter().filter(|&&x| x < 0.0).count();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let at = |k: usize| m.mean_rate.get(k).copied().unwrap_or(f64::NAN);
    let steps = m.mean_rate.len();
    let mut md = format!(
        "\n### A memory of learning rates as the meta-training inner rate\n\n\
         θ allowed below zero (θ ∈ [{}, {}], η₀ = {}, sign signal, Adam on θ with ξ = 1): \
         MAML meta-trained by {steps} steps of gradient descent (step 1/curvature) from ω = 0 \
         with the memory's rates, on {} task sets. The memory is queried with each coordinate \
         of a task's training gradient and learns from its sign agreement with the validation \
         gradient after the inner step (the hypergradient of the meta-training loss). Its mean \
         inner rate: {:.2} after 1 step, {:.2} after {}, {:.2} at the end; it ended negative \
         on {negative} of {} task sets (mean {:.2}).\n\n\
         | meta-training | {} |\n|---|{}\n",
        c.theta_min,
        c.theta_max,
        c.eta0,
        m.final_rate.len(),
        at(0),
        at(steps / 10),
        steps / 10 + 1,
        at(steps.saturating_sub(1)),
        m.final_rate.len(),
        mean(&m.final_rate),
        s.alphas_r
            .iter()
            .map(|a| format!("test loss, α_r = {a}"))
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(s.alphas_r.len())
    );
    let row = |name: String, v: &[f64]| {
        format!(
            "| {name} | {} |\n",
            v.iter()
                .map(|x| format!("{x:.4}"))
                .collect::<Vec<_>>()
                .join(" | ")
        )
    };
    md.push_str(&row("the memory".into(), &m.loss));
    for (a, v) in &m.fixed {
        md.push_str(&row(format!("fixed α_t = {a}"), v));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_sweep_reports_its_best_rates() {
        let sweep = MamlSweep {
            alphas_t: vec![-60.0, 0.0, 20.0],
            alphas_r: vec![0.0, 10.0],
            sets: 30,
            tests: 5,
            memory_sets: 2,
            memory_steps: 20,
            ..MamlSweep::full(0)
        };
        let r = sweep.run().unwrap();
        assert_eq!((r.loss.len(), r.loss[0].len()), (3, 2));
        let (at, ar, _) = r.best().unwrap();
        assert!(at < 0.0 && ar > 0.0, "{:?}", r.loss);
        assert_eq!(r.at_zero(1), Some(r.loss[1][1]));
        let dir = std::env::temp_dir().join(format!("lrmem-maml-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let md = section(&r, &dir).unwrap();
        assert!(md.contains("| 10 | -60 |"), "{md}");
        assert!(dir.join("maml_alpha.svg").is_file());
        let m = r.memory.as_ref().expect("the memory ran");
        assert_eq!((m.mean_rate.len(), m.final_rate.len()), (20, 2));
        assert_eq!(m.fixed.len(), FIXED_RATES.len());
        assert!(m.loss.iter().all(|l| l.is_finite() && *l > 0.5));
        assert!(md.contains("| the memory |"), "{md}");
        // Reproducible from the seed.
        assert_eq!(sweep.run().unwrap(), r);
    }
}
