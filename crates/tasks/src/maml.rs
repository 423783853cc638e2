//! MAML on mixed linear regression, solved exactly: the setting in which Bernacchia (ICLR
//! 2021, "Meta-learning with negative learning rates") finds that the best inner learning rate
//! for meta-*training* is negative while the best one for *adapting* to a new task is positive
//! — a regime a memory of learning rates, whose rates live in [1e−9, 1], cannot represent.
//!
//! # The model
//!
//! A task set has a centre w₀ ~ N(0, I_p); each task is a weight vector w = w₀ + ν·ξ with
//! ξ ~ N(0, I_p), and its data are x ~ N(0, I_p), y = w·x/√p + σ·ε with ε ~ N(0, 1). The
//! loss of parameters ω on n points is
//!
//! L(ω) = (1/2n) Σ (y − ω·x/√p)², with gradient ∇L(ω) = Aω − b, A = XᵀX/(np), b = Xᵀy/(n√p).
//!
//! MAML's inner step on a task's n_t training points, ω' = ω − α_t(A_tω − b_t), is affine in
//! ω, so its meta-training objective — the mean over the m tasks of the loss of ω' on each
//! task's n_v validation points — is a least-squares problem in ω, solved here exactly
//! ([`TaskSet::meta_train`]; the minimum-norm solution: with m·n_v = 6 validation points and
//! p = 60 parameters it is underdetermined, and gradient descent from ω = 0 finds the same).
//! A new task around the same centre is then adapted with one step of rate α_r on n_r points,
//! and its test loss is exact in expectation over x: ½(σ² + |w − ω_r|²/p)
//! ([`TaskSet::test_loss`]).
//!
//! With these normalisations the curvature of a task's loss is of order 1/n_t, so the useful
//! rates are of order n_t (tens), not of order 1. Random numbers come from ChaCha8 through
//! Box–Muller with the pure-Rust `libm`, so every number reproduces bit for bit on any machine.

use nalgebra::DMatrix;
/// The vector type of parameters and gradients here (nalgebra's), re-exported for callers.
pub use nalgebra::DVector;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

use lrmem_optimizers::memory_core::Memory;

use crate::random::portable_normal as normal;
use crate::TaskError;

/// The sizes and noise of the mixed linear regression (defaults: Bernacchia's figure).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MamlConfig {
    /// Parameters p. Default 60.
    pub p: usize,
    /// Training points per meta-training task, n_t. Default 30.
    pub n_train: usize,
    /// Validation points per meta-training task, n_v. Default 2.
    pub n_val: usize,
    /// Meta-training tasks, m. Default 3.
    pub tasks: usize,
    /// Points of the adaptation step on a new task, n_r. Default 20.
    pub n_adapt: usize,
    /// Label noise σ. Default 1.
    pub sigma: f64,
    /// Spread ν of the tasks around their centre. Default 0.5.
    pub nu: f64,
}

impl Default for MamlConfig {
    fn default() -> Self {
        MamlConfig {
            p: 60,
            n_train: 30,
            n_val: 2,
            tasks: 3,
            n_adapt: 20,
            sigma: 1.0,
            nu: 0.5,
        }
    }
}

impl MamlConfig {
    /// Checks the sizes (each ≥ 1, p ≤ 10,000) and the noise (finite, ≥ 0).
    pub fn validated(self) -> Result<Self, TaskError> {
        let sizes = [self.p, self.n_train, self.n_val, self.tasks, self.n_adapt];
        let noise_ok = |v: f64| v.is_finite() && v >= 0.0;
        if sizes.contains(&0) || self.p > 10_000 || !noise_ok(self.sigma) || !noise_ok(self.nu) {
            return Err(TaskError::Argument(format!(
                "MAML regression with p {}, n_t {}, n_v {}, m {}, n_r {}, sigma {}, nu {}: every \
                 size must be at least 1 (p at most 10,000) and the noises finite and \
                 non-negative (defaults 60, 30, 2, 3, 20, 1, 0.5)",
                self.p, self.n_train, self.n_val, self.tasks, self.n_adapt, self.sigma, self.nu
            )));
        }
        Ok(self)
    }
}

fn normal_vector(rng: &mut ChaCha8Rng, n: usize) -> DVector<f64> {
    DVector::from_fn(n, |_, _| normal(rng))
}

/// `v` has `p` entries, all finite (`what` names it in the error).
fn check_params(p: usize, what: &str, v: &DVector<f64>) -> Result<(), TaskError> {
    if v.len() != p {
        return Err(TaskError::Argument(format!(
            "{what} has {} entries for {p} parameters",
            v.len()
        )));
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Err(TaskError::Argument(format!(
            "{what} holds a non-finite value"
        )));
    }
    Ok(())
}

/// One task's data: the curvature A and the vector b of its loss's gradient Aω − b.
#[derive(Debug, Clone)]
struct Quadratic {
    a: DMatrix<f64>,
    b: DVector<f64>,
}

/// `n` points of the task `w`: the inputs `(n, p)` and the labels.
fn points(
    rng: &mut ChaCha8Rng,
    cfg: &MamlConfig,
    w: &DVector<f64>,
    n: usize,
) -> (DMatrix<f64>, DVector<f64>) {
    let sp = (cfg.p as f64).sqrt();
    let x = DMatrix::from_fn(n, cfg.p, |_, _| normal(rng));
    let y = DVector::from_fn(n, |i, _| {
        x.row(i).dot(&w.transpose()) / sp + cfg.sigma * normal(rng)
    });
    (x, y)
}

impl Quadratic {
    fn new(x: &DMatrix<f64>, y: &DVector<f64>) -> Self {
        let (n, p) = (x.nrows() as f64, x.ncols() as f64);
        Quadratic {
            a: x.transpose() * x / (n * p),
            b: x.transpose() * y / (n * p.sqrt()),
        }
    }

    /// One gradient step of rate `alpha` from `omega`.
    fn step(&self, omega: &DVector<f64>, alpha: f64) -> DVector<f64> {
        omega - (&self.a * omega - &self.b) * alpha
    }
}

/// A meta-training task: its training loss (for the inner step) and validation points.
#[derive(Debug, Clone)]
struct MetaTask {
    train: Quadratic,
    x_val: DMatrix<f64>,
    y_val: DVector<f64>,
}

/// A centre w₀ and m meta-training tasks around it, each with its training and validation
/// points: what MAML meta-trains on. New tasks for testing come from the same centre.
///
/// ```
/// use lrmem_tasks::maml::{MamlConfig, TaskSet};
///
/// let set = TaskSet::sample(MamlConfig::default(), 0)?;
/// // Meta-train with a negative inner rate, adapt with a positive one.
/// let omega = set.meta_train(-60.0)?;
/// let loss = set.test_loss(&omega, 10.0, 20, 1)?;
/// assert!(loss > 0.5); // ½σ² is the floor
/// # Ok::<(), lrmem_tasks::TaskError>(())
/// ```
#[derive(Debug, Clone)]
pub struct TaskSet {
    cfg: MamlConfig,
    centre: DVector<f64>,
    tasks: Vec<MetaTask>,
}

impl TaskSet {
    /// A task set drawn from `seed`.
    pub fn sample(cfg: MamlConfig, seed: u64) -> Result<Self, TaskError> {
        let cfg = cfg.validated()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let centre = normal_vector(&mut rng, cfg.p);
        let tasks = (0..cfg.tasks)
            .map(|_| {
                let w = &centre + normal_vector(&mut rng, cfg.p) * cfg.nu;
                let (x, y) = points(&mut rng, &cfg, &w, cfg.n_train);
                let (x_val, y_val) = points(&mut rng, &cfg, &w, cfg.n_val);
                MetaTask {
                    train: Quadratic::new(&x, &y),
                    x_val,
                    y_val,
                }
            })
            .collect();
        Ok(TaskSet { cfg, centre, tasks })
    }

    /// The settings.
    pub fn config(&self) -> &MamlConfig {
        &self.cfg
    }

    fn check(&self, what: &str, v: &DVector<f64>) -> Result<(), TaskError> {
        check_params(self.cfg.p, what, v)
    }

    /// Each task's validation residual map after the inner step at `alpha_t`: the rows
    /// M = X_v(I − α_t A_t)/√p and the targets r = y_v − α_t X_v b_t/√p, so that the
    /// validation residuals of ω' are r − Mω.
    fn residual_maps(&self, alpha_t: f64) -> (DMatrix<f64>, DVector<f64>) {
        let (p, nv) = (self.cfg.p, self.cfg.n_val);
        let sp = (p as f64).sqrt();
        let rows = self.tasks.len() * nv;
        let mut m = DMatrix::zeros(rows, p);
        let mut r = DVector::zeros(rows);
        for (i, t) in self.tasks.iter().enumerate() {
            let inner = DMatrix::identity(p, p) - &t.train.a * alpha_t;
            let mi = &t.x_val * inner / sp;
            let ri = &t.y_val - &t.x_val * &t.train.b * (alpha_t / sp);
            m.rows_mut(i * nv, nv).copy_from(&mi);
            r.rows_mut(i * nv, nv).copy_from(&ri);
        }
        (m, r)
    }

    /// MAML's meta-training loss at `omega` with inner rate `alpha_t`: the mean over the
    /// tasks of the validation loss after one inner step on the training points.
    pub fn meta_loss(&self, omega: &DVector<f64>, alpha_t: f64) -> Result<f64, TaskError> {
        self.check("omega", omega)?;
        let (m, r) = self.residual_maps(alpha_t);
        let res = r - m * omega;
        Ok(res.norm_squared() / (2.0 * (self.tasks.len() * self.cfg.n_val) as f64))
    }

    /// The exact meta-gradient of [`TaskSet::meta_loss`] with respect to `omega`, through the
    /// inner step (no first-order approximation).
    pub fn meta_gradient(
        &self,
        omega: &DVector<f64>,
        alpha_t: f64,
    ) -> Result<DVector<f64>, TaskError> {
        self.check("omega", omega)?;
        let (m, r) = self.residual_maps(alpha_t);
        let res = r - &m * omega;
        Ok(-(m.transpose() * res) / (self.tasks.len() * self.cfg.n_val) as f64)
    }

    /// The parameters MAML meta-trains to at inner rate `alpha_t`: the minimum-norm
    /// minimiser of [`TaskSet::meta_loss`] (see the module docs).
    pub fn meta_train(&self, alpha_t: f64) -> Result<DVector<f64>, TaskError> {
        if !alpha_t.is_finite() {
            return Err(TaskError::Argument(format!(
                "inner learning rate {alpha_t}: pass a finite number"
            )));
        }
        let (m, r) = self.residual_maps(alpha_t);
        let pinv = m
            .pseudo_inverse(1e-12)
            .map_err(|e| TaskError::Argument(format!("meta-training at {alpha_t}: {e}")))?;
        Ok(pinv * r)
    }

    /// `tests` new tasks around this set's centre, drawn from `seed`, each with its `n_r`
    /// adaptation points: what [`TestTasks::loss`] adapts to and tests on. Drawing them once
    /// makes every comparison across parameters and rates use the same tasks (and costs the
    /// data's products once).
    pub fn test_tasks(&self, tests: usize, seed: u64) -> Result<TestTasks, TaskError> {
        if tests == 0 {
            return Err(TaskError::Argument(
                "a test over 0 tasks: pass at least one".into(),
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let tasks = (0..tests)
            .map(|_| {
                let w = &self.centre + normal_vector(&mut rng, self.cfg.p) * self.cfg.nu;
                let (x, y) = points(&mut rng, &self.cfg, &w, self.cfg.n_adapt);
                (w, Quadratic::new(&x, &y))
            })
            .collect();
        Ok(TestTasks {
            cfg: self.cfg,
            tasks,
        })
    }

    /// The test loss of `omega` after adapting with rate `alpha_r` (see [`TestTasks::loss`])
    /// on `tests` new tasks drawn from `seed`.
    pub fn test_loss(
        &self,
        omega: &DVector<f64>,
        alpha_r: f64,
        tests: usize,
        seed: u64,
    ) -> Result<f64, TaskError> {
        self.test_tasks(tests, seed)?.loss(omega, alpha_r)
    }
}

/// Where the inner rates of [`TaskSet::meta_train_gd`] come from.
#[derive(Debug)]
pub enum InnerRate<'a> {
    /// One rate α_t for every coordinate and step.
    Fixed(f64),
    /// A memory of learning rates, queried with each coordinate of each task's training
    /// gradient and taught online by the sign agreement of that gradient with the validation
    /// gradient after the inner step — the hypergradient of the meta-training loss with respect
    /// to the coordinate's rate, −g_val·g_train, is the memory's own signal (Eq. 4–6). Its
    /// `theta_min` must be negative for it to be able to find a negative rate.
    Memory(&'a mut Memory),
}

/// What gradient-based meta-training ended with.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaTrained {
    /// The meta-trained parameters.
    pub omega: DVector<f64>,
    /// Per meta-step, the mean inner rate used (over the tasks and coordinates).
    pub mean_rate: Vec<f64>,
}

impl TaskSet {
    /// MAML meta-trained by `steps` steps of gradient descent on the meta-training loss from
    /// ω = 0, each of step size 1/L with L the loss's current largest curvature (exact: the
    /// largest eigenvalue of the m·n_v × m·n_v Gram matrix of the residual map), the inner
    /// rates from `rate`. With a fixed rate it approaches [`TaskSet::meta_train`]'s
    /// minimum-norm solution; with a memory the rates and ω learn together, and the
    /// meta-gradient takes the rates as given (as the memory's own update does).
    pub fn meta_train_gd(
        &self,
        mut rate: InnerRate<'_>,
        steps: usize,
    ) -> Result<MetaTrained, TaskError> {
        let (p, nv) = (self.cfg.p, self.cfg.n_val);
        let sp = (p as f64).sqrt();
        let rows = self.tasks.len() * nv;
        let mem_err = |e: lrmem_optimizers::memory_core::MemoryError| {
            TaskError::Argument(format!("the memory of MAML's inner rates: {e}"))
        };
        if let InnerRate::Fixed(a) = rate {
            if !a.is_finite() {
                return Err(TaskError::Argument(format!(
                    "inner learning rate {a}: pass a finite number"
                )));
            }
        }
        let mut omega = DVector::zeros(p);
        let mut mean_rate = Vec::with_capacity(steps);
        let (mut z, mut z_val, mut eta32) = (vec![0f32; p], vec![0f32; p], vec![0f32; p]);
        for _ in 0..steps {
            let mut m = DMatrix::zeros(rows, p);
            let mut r = DVector::zeros(rows);
            let mut rate_sum = 0.0;
            for (i, t) in self.tasks.iter().enumerate() {
                let g = &t.train.a * &omega - &t.train.b;
                let eta = match &mut rate {
                    InnerRate::Fixed(a) => DVector::from_element(p, *a),
                    InnerRate::Memory(mem) => {
                        z.iter_mut().zip(g.iter()).for_each(|(z, &g)| *z = g as f32);
                        mem.predict_into(&z, &mut eta32).map_err(mem_err)?;
                        DVector::from_iterator(p, eta32.iter().map(|&e| f64::from(e)))
                    }
                };
                rate_sum += eta.sum();
                // The inner step with per-coordinate rates, and its residual map.
                let mi = (&t.x_val - (&t.x_val * DMatrix::from_diagonal(&eta)) * &t.train.a) / sp;
                let ri = &t.y_val - &t.x_val * eta.component_mul(&t.train.b) / sp;
                if let InnerRate::Memory(mem) = &mut rate {
                    let adapted = &omega - eta.component_mul(&g);
                    let res = &t.y_val - &t.x_val * &adapted / sp;
                    let g_val = -(t.x_val.transpose() * res) / (nv as f64 * sp);
                    z_val
                        .iter_mut()
                        .zip(g_val.iter())
                        .for_each(|(z, &g)| *z = g as f32);
                    mem.learn(&z, &z_val).map_err(mem_err)?;
                }
                m.rows_mut(i * nv, nv).copy_from(&mi);
                r.rows_mut(i * nv, nv).copy_from(&ri);
            }
            mean_rate.push(rate_sum / (self.tasks.len() * p) as f64);
            let n = rows as f64;
            let grad = m.transpose() * (&m * &omega - &r) / n;
            let curvature = (&m * m.transpose() / n).symmetric_eigenvalues().max();
            if !(curvature.is_finite() && curvature > 0.0) {
                break;
            }
            omega -= grad / curvature;
        }
        Ok(MetaTrained { omega, mean_rate })
    }
}

/// New tasks around a task set's centre, each with its adaptation points
/// ([`TaskSet::test_tasks`]).
#[derive(Debug, Clone)]
pub struct TestTasks {
    cfg: MamlConfig,
    tasks: Vec<(DVector<f64>, Quadratic)>,
}

impl TestTasks {
    /// The mean over the tasks of the test loss of `omega` after one adaptation step of rate
    /// `alpha_r` on each task's `n_r` points, exact in expectation over the test inputs:
    /// ½(σ² + |w − ω_r|²/p).
    pub fn loss(&self, omega: &DVector<f64>, alpha_r: f64) -> Result<f64, TaskError> {
        check_params(self.cfg.p, "omega", omega)?;
        if !alpha_r.is_finite() {
            return Err(TaskError::Argument(format!(
                "adaptation rate {alpha_r}: pass a finite number"
            )));
        }
        let p = self.cfg.p as f64;
        let sum: f64 = self
            .tasks
            .iter()
            .map(|(w, q)| {
                0.5 * (self.cfg.sigma.powi(2) + (w - q.step(omega, alpha_r)).norm_squared() / p)
            })
            .sum();
        Ok(sum / self.tasks.len() as f64)
    }
}

/// The test tasks of the set of seed `s` in a [`sweep`] are drawn from `TEST_SEED_MIX ^ s`:
/// independent of the set's own draws, the same for every rate.
pub const TEST_SEED_MIX: u64 = 0x7E57_7E57_7E57_7E57;

/// Mean test loss over task sets for every pair of a meta-training rate and an adaptation
/// rate: `loss[i][j]` for `alphas_t[i]`, `alphas_r[j]`, averaged over `sets` task sets (seeds
/// `seed`, `seed + 1`, …) and `tests` new tasks per set.
pub fn sweep(
    cfg: MamlConfig,
    alphas_t: &[f64],
    alphas_r: &[f64],
    sets: usize,
    tests: usize,
    seed: u64,
) -> Result<Vec<Vec<f64>>, TaskError> {
    if sets == 0 {
        return Err(TaskError::Argument("a sweep over 0 task sets".into()));
    }
    let mut loss = vec![vec![0.0; alphas_r.len()]; alphas_t.len()];
    for s in 0..sets as u64 {
        let set = TaskSet::sample(cfg, seed.wrapping_add(s))?;
        let test = set.test_tasks(tests, TEST_SEED_MIX ^ seed.wrapping_add(s))?;
        for (row, &at) in loss.iter_mut().zip(alphas_t) {
            let omega = set.meta_train(at)?;
            for (l, &ar) in row.iter_mut().zip(alphas_r) {
                *l += test.loss(&omega, ar)? / sets as f64;
            }
        }
    }
    Ok(loss)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> MamlConfig {
        MamlConfig {
            p: 8,
            n_train: 5,
            n_val: 2,
            tasks: 2,
            n_adapt: 4,
            ..MamlConfig::default()
        }
    }

    /// The meta-gradient is the derivative of the meta-loss (central differences), through
    /// the inner step, at positive and negative inner rates.
    #[test]
    fn the_meta_gradient_matches_finite_differences() {
        let set = TaskSet::sample(small(), 3).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let omega = normal_vector(&mut rng, 8);
        for alpha in [-7.0, 0.0, 2.5] {
            let g = set.meta_gradient(&omega, alpha).unwrap();
            for i in 0..8 {
                let h = 1e-5;
                let (mut up, mut down) = (omega.clone(), omega.clone());
                up[i] += h;
                down[i] -= h;
                let fd = (set.meta_loss(&up, alpha).unwrap()
                    - set.meta_loss(&down, alpha).unwrap())
                    / (2.0 * h);
                assert!(
                    (fd - g[i]).abs() <= 1e-6 * (1.0 + g[i].abs()),
                    "α {alpha}, {i}: {fd} vs {}",
                    g[i]
                );
            }
        }
    }

    /// Meta-training finds a stationary point of the meta-loss of minimum norm: no step along
    /// the meta-gradient lowers it, and it lies in the row space of the residual map.
    #[test]
    fn meta_training_is_the_minimum_norm_minimiser() {
        let set = TaskSet::sample(small(), 4).unwrap();
        for alpha in [-20.0, 0.0, 3.0] {
            let omega = set.meta_train(alpha).unwrap();
            let g = set.meta_gradient(&omega, alpha).unwrap();
            assert!(g.norm() < 1e-9, "α {alpha}: |g| {}", g.norm());
            // Underdetermined (4 validation points, 8 parameters): any null-space direction
            // keeps the loss and adds norm.
            let (m, _) = set.residual_maps(alpha);
            let null = DMatrix::identity(8, 8) - m.clone().pseudo_inverse(1e-12).unwrap() * &m;
            let shifted = &omega + null.column(0) * 0.5;
            let (l0, l1) = (
                set.meta_loss(&omega, alpha).unwrap(),
                set.meta_loss(&shifted, alpha).unwrap(),
            );
            assert!((l0 - l1).abs() < 1e-9 && shifted.norm() > omega.norm());
        }
    }

    /// Adapting with rate 0 leaves ω: the test loss is then ½(σ² + E|w − ω|²/p), which for
    /// ω = the centre is ½(σ² + ν²) in expectation.
    #[test]
    fn the_test_loss_has_its_expectation() {
        let cfg = MamlConfig {
            p: 50,
            ..MamlConfig::default()
        };
        let set = TaskSet::sample(cfg, 5).unwrap();
        let loss = set.test_loss(&set.centre.clone(), 0.0, 2000, 1).unwrap();
        let want = 0.5 * (1.0 + 0.25);
        assert!((loss - want).abs() < 0.01, "{loss} vs {want}");
        // The same seed, the same tasks: bit for bit.
        assert_eq!(
            loss,
            set.test_loss(&set.centre.clone(), 0.0, 2000, 1).unwrap()
        );
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(TaskSet::sample(MamlConfig { p: 0, ..small() }, 0).is_err());
        assert!(TaskSet::sample(
            MamlConfig {
                sigma: f64::NAN,
                ..small()
            },
            0
        )
        .is_err());
        let set = TaskSet::sample(small(), 0).unwrap();
        assert!(set.meta_train(f64::INFINITY).is_err());
        assert!(set.meta_loss(&DVector::zeros(7), 0.0).is_err());
        assert!(set
            .meta_gradient(&DVector::from_element(8, f64::NAN), 0.0)
            .is_err());
        assert!(set.test_loss(&DVector::zeros(8), 1.0, 0, 0).is_err());
        assert!(sweep(small(), &[0.0], &[0.0], 0, 1, 0).is_err());
    }

    /// Bernacchia's result at his sizes: meta-training at a negative inner rate beats
    /// meta-training at 0 (and at a positive one) after a positive adaptation step, and that
    /// adaptation step beats none.
    #[test]
    fn the_best_meta_training_rate_is_negative_and_the_best_adaptation_rate_positive() {
        let loss = sweep(
            MamlConfig::default(),
            &[-60.0, 0.0, 20.0],
            &[0.0, 10.0],
            60,
            5,
            0,
        )
        .unwrap();
        let [neg, zero, pos] = [&loss[0], &loss[1], &loss[2]];
        assert!(neg[1] < zero[1] && zero[1] < pos[1], "{loss:?}");
        assert!(zero[1] < zero[0], "{loss:?}");
    }

    /// Gradient descent at a fixed inner rate converges to the exact meta-training solution
    /// (the minimum-norm one: it starts at 0 and moves in the row space).
    #[test]
    fn gradient_meta_training_reaches_the_exact_solution() {
        let set = TaskSet::sample(small(), 6).unwrap();
        for alpha in [-7.0, 0.0, 2.0] {
            let exact = set.meta_train(alpha).unwrap();
            let gd = set.meta_train_gd(InnerRate::Fixed(alpha), 3000).unwrap();
            assert_eq!(gd.mean_rate.len(), 3000);
            assert!(gd.mean_rate.iter().all(|&r| r == alpha));
            let err = (&gd.omega - &exact).norm() / exact.norm();
            assert!(err < 1e-6, "α {alpha}: relative distance {err}");
        }
        assert!(set.meta_train_gd(InnerRate::Fixed(f64::NAN), 1).is_err());
    }

    /// A memory with a negative θ_min drives the inner rates, learns from the validation
    /// gradients, keeps them within its bounds and reproduces.
    #[test]
    fn a_memory_learns_the_inner_rate() {
        use lrmem_optimizers::memory_core::{MemoryConfig, MemoryOptimizer, Signal};
        let config = MemoryConfig {
            eta0: 1.0,
            theta_min: -50.0,
            theta_max: 50.0,
            signal: Signal::Sign,
            optimizer: MemoryOptimizer::adam(0.5),
            ..MemoryConfig::default()
        };
        let set = TaskSet::sample(small(), 7).unwrap();
        let run = || {
            let mut memory = Memory::new(config).unwrap();
            let r = set
                .meta_train_gd(InnerRate::Memory(&mut memory), 200)
                .unwrap();
            (r, memory.theta().to_vec())
        };
        let (r, theta) = run();
        // η₀ = 1 for the first task; the memory learns after each task.
        assert!((r.mean_rate[0] - 1.0).abs() < 0.1, "{}", r.mean_rate[0]);
        assert!(r.mean_rate.iter().all(|v| (-50.0..=50.0).contains(v)));
        assert!(theta.iter().any(|&t| t != 1.0), "the memory learned");
        assert!(r.omega.iter().all(|v| v.is_finite()));
        assert_eq!(run(), (r, theta));
    }
}
