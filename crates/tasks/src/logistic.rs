//! Online logistic regression on seeded synthetic data: a workload that runs in milliseconds,
//! for testing the experiment harness and for examples. Not an experiment: lrmem's
//! experiments use real data only.
//!
//! Task `k` of a [`LogisticFamily`] draws a true weight vector w*ₖ (a rotation of w*₀ towards an
//! independent direction as `k` grows, so that later tasks share structure with earlier ones),
//! inputs x ~ N(0, I) and labels y = 1[w*ₖ·x + noise > 0]; the model is (w, b) with
//! p = σ(w·x + b), trained one sample per update on the cross-entropy, and evaluated by its
//! accuracy on a held-out set.

use lrmem_optimizers::{Optimizer, Tensor};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::random;
use crate::task::{Metric, Task, TaskFamily};
use crate::TaskError;

/// A sequence of related synthetic logistic-regression tasks (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticFamily {
    /// Input dimension. Default 20.
    pub dim: usize,
    /// Training samples per task (cycled in order). Default 1,000.
    pub train: usize,
    /// Held-out samples per task. Default 500.
    pub test: usize,
    /// Tasks in the sequence. Default 3.
    pub tasks: usize,
    /// Standard deviation of the label noise added to w*·x. Default 0.1.
    pub noise: f32,
    /// Seed of the data (the true weights and the samples); the model's seed comes from
    /// [`TaskFamily::build`].
    pub data_seed: u64,
}

impl Default for LogisticFamily {
    fn default() -> Self {
        LogisticFamily {
            dim: 20,
            train: 1000,
            test: 500,
            tasks: 3,
            noise: 0.1,
            data_seed: 0,
        }
    }
}

/// A standard normal deviate ([`random::normal`]), so that data depend only on seeds.
fn normal(rng: &mut ChaCha8Rng) -> f32 {
    random::normal(rng) as f32
}

impl LogisticFamily {
    fn data(&self, k: usize) -> (Vec<f32>, Vec<u8>, Vec<f32>, Vec<u8>) {
        let mut rng = ChaCha8Rng::seed_from_u64(self.data_seed);
        let base: Vec<f32> = (0..self.dim).map(|_| normal(&mut rng)).collect();
        let other: Vec<f32> = (0..self.dim).map(|_| normal(&mut rng)).collect();
        let angle = 0.3 * k as f32;
        let truth: Vec<f32> = base
            .iter()
            .zip(&other)
            .map(|(a, b)| angle.cos() * a + angle.sin() * b)
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(self.data_seed ^ (0xA5A5 + k as u64));
        let mut draw = |n: usize| {
            let mut x = Vec::with_capacity(n * self.dim);
            let mut y = Vec::with_capacity(n);
            for _ in 0..n {
                let start = x.len();
                x.extend((0..self.dim).map(|_| normal(&mut rng)));
                let z: f32 = x[start..].iter().zip(&truth).map(|(a, b)| a * b).sum();
                y.push(u8::from(z + self.noise * normal(&mut rng) > 0.0));
            }
            (x, y)
        };
        let (xt, yt) = draw(self.train);
        let (xe, ye) = draw(self.test);
        (xt, yt, xe, ye)
    }
}

impl TaskFamily for LogisticFamily {
    fn name(&self) -> &str {
        "synthetic-logistic"
    }

    fn len(&self) -> usize {
        self.tasks
    }

    fn label(&self, k: usize) -> String {
        format!("task {}", k + 1)
    }

    fn metric(&self) -> Metric {
        Metric::maximize("held-out accuracy")
    }

    fn build(&self, k: usize, seed: u64) -> Result<Box<dyn Task>, TaskError> {
        if k >= self.tasks || self.dim == 0 || self.train == 0 || self.test == 0 {
            return Err(TaskError::Argument(format!(
                "task {k} of a logistic family with {} tasks, dim {}, {} train and {} test samples",
                self.tasks, self.dim, self.train, self.test
            )));
        }
        let (x, y, x_test, y_test) = self.data(k);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let scale = 1.0 / (self.dim as f32).sqrt();
        let w = (0..self.dim).map(|_| scale * normal(&mut rng)).collect();
        Ok(Box::new(Logistic {
            dim: self.dim,
            x,
            y,
            x_test,
            y_test,
            w,
            b: vec![0.0],
            gw: vec![0.0; self.dim],
            gb: vec![0.0],
            updates: 0,
            eval: None,
        }))
    }
}

/// One online logistic-regression task.
struct Logistic {
    dim: usize,
    x: Vec<f32>,
    y: Vec<u8>,
    x_test: Vec<f32>,
    y_test: Vec<u8>,
    w: Vec<f32>,
    b: Vec<f32>,
    gw: Vec<f32>,
    gb: Vec<f32>,
    updates: usize,
    /// (w, b) at the optimizer's evaluation point where it has one (Schedule-Free's x).
    eval: Option<(Vec<f32>, Vec<f32>)>,
}

impl Logistic {
    fn logit(&self, x: &[f32]) -> f32 {
        logit(&self.w, &self.b, x)
    }
}

fn logit(w: &[f32], b: &[f32], x: &[f32]) -> f32 {
    x.iter().zip(w).map(|(a, b)| a * b).sum::<f32>() + b[0]
}

impl Task for Logistic {
    fn update(&mut self, opt: &mut dyn Optimizer) -> Result<f32, TaskError> {
        let i = self.updates % self.y.len();
        let x = &self.x[i * self.dim..(i + 1) * self.dim];
        let y = f32::from(self.y[i]);
        let z = self.logit(x);
        // Cross-entropy in a form that does not overflow: softplus(z) − y·z.
        let loss = z.max(0.0) - y * z + (-z.abs()).exp().ln_1p();
        let p = 1.0 / (1.0 + (-z).exp());
        for (g, &xi) in self.gw.iter_mut().zip(x) {
            *g = (p - y) * xi;
        }
        self.gb[0] = p - y;
        let mut tensors = [
            Tensor {
                name: "w",
                params: &mut self.w,
                grads: &self.gw,
            },
            Tensor {
                name: "b",
                params: &mut self.b,
                grads: &self.gb,
            },
        ];
        opt.step_model(&mut tensors)
            .map_err(|source| TaskError::Optim {
                name: "w/b".into(),
                source,
            })?;
        self.eval = match (opt.eval_params("w"), opt.eval_params("b")) {
            (None, None) => None,
            (w, b) => Some((w.unwrap_or(&self.w).to_vec(), b.unwrap_or(&self.b).to_vec())),
        };
        self.updates += 1;
        Ok(loss)
    }

    fn evaluate(&mut self) -> Result<f64, TaskError> {
        let (w, b) = self
            .eval
            .as_ref()
            .map_or((&self.w[..], &self.b[..]), |(w, b)| (&w[..], &b[..]));
        let correct = self
            .x_test
            .chunks_exact(self.dim)
            .zip(&self.y_test)
            .filter(|(x, &y)| u8::from(logit(w, b, x) > 0.0) == y)
            .count();
        Ok(correct as f64 / self.y_test.len() as f64)
    }

    fn metric(&self) -> Metric {
        Metric::maximize("held-out accuracy")
    }
}
