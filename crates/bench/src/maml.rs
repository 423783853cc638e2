//! MAML's learning rates on mixed linear regression (Bernacchia, ICLR 2021): the test loss
//! after adaptation as a function of the meta-training inner rate α_t and the adaptation
//! rate α_r, exact per task set ([`lrmem_tasks::maml`]) and averaged over many sampled task
//! sets. The paper's finding, which this experiment checks: the best α_t is negative while the
//! best α_r is positive.

use std::fmt::Write as _;
use std::path::Path;

use lrmem_tasks::maml::{sweep, MamlConfig};
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
}

impl MamlSweep {
    /// The full sweep: α_t from −200 to 40 in steps of 10, α_r ∈ {0, 5, 10, 15, 20, 30},
    /// 1,000 task sets of 20 new tasks (≈ 10 s on a core).
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
        }
    }

    /// The CI smoke: the same grid over 20 task sets.
    pub fn quick(seed: u64) -> Self {
        MamlSweep {
            sets: 20,
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
        })
    }
}

/// The mean test loss of every (α_t, α_r): `loss[i][j]` for `alphas_t[i]`, `alphas_r[j]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MamlResult {
    /// What was run.
    pub sweep: MamlSweep,
    /// Mean test loss after adaptation.
    pub loss: Vec<Vec<f64>>,
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
        "MAML on mixed linear regression: test loss after adaptation",
        "meta-training inner rate α_t",
        "test loss",
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
    Ok(md)
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
        // Reproducible from the seed.
        assert_eq!(sweep.run().unwrap(), r);
    }
}
