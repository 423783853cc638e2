//! The dense formulation of the memory, as the authors' PyTorch `MemoryStatic1d` + `MetaSgd1d`
//! compute it (docs/algorithm.md §5–§9): every step materialises the D×M activation matrix of the
//! current gradient and keeps the previous one; G is a mean over D of s ⊙ A_prev; η is
//! A_cur·θ / A_cur·1. Kept here, in the bench crate only, as the baseline lrmem's truncated
//! kernels are measured against. Written as plain loops (the compiler vectorises the sums; the
//! exponentials are `f32::exp`), with no temporaries beyond the two matrices: a faithful but
//! not a deliberately slow port.

use lrmem_memory_core::{Layout, MemoryConfig, MemoryOptimizer};

/// A dense memory of learning rates for one tensor of `d` coordinates (linear centres, Adam or
/// SGD on θ).
pub struct DenseMemory {
    m: usize,
    clip: f32,
    centers: Vec<f32>,
    /// 1 / (2σ²).
    inv_two_var: f32,
    theta: Vec<f32>,
    opt: MemoryOptimizer,
    moment1: Vec<f32>,
    moment2: Vec<f32>,
    t: u64,
    theta_min: f32,
    theta_max: f32,
    g_prev: Vec<f32>,
    g_cur: Vec<f32>,
    /// D×M, row-major: activations of the previous and of the current gradient.
    a_prev: Vec<f32>,
    a_cur: Vec<f32>,
    eta: Vec<f32>,
    grad_m: Vec<f32>,
}

impl DenseMemory {
    /// The dense memory of `config` (must use [`Layout::Linear`]) for a tensor of `d` coordinates.
    pub fn new(config: &MemoryConfig, d: usize) -> DenseMemory {
        assert_eq!(
            config.layout,
            Layout::Linear,
            "the dense baseline has linear centres only"
        );
        let m = config.num_centers;
        let spacing = 2.0 * config.clip as f64 / (m - 1) as f64;
        let centers = (0..m)
            .map(|i| (-(config.clip as f64) + i as f64 * spacing) as f32)
            .collect();
        let sigma = config.lm_scale as f64 * spacing;
        DenseMemory {
            m,
            clip: config.clip,
            centers,
            inv_two_var: (1.0 / (2.0 * sigma * sigma)) as f32,
            theta: vec![config.eta0; m],
            opt: config.optimizer,
            moment1: vec![0.0; m],
            moment2: vec![0.0; m],
            t: 0,
            theta_min: config.theta_min,
            theta_max: config.theta_max,
            g_prev: vec![0.0; d],
            g_cur: vec![0.0; d],
            a_prev: vec![0.0; d * m],
            a_cur: vec![0.0; d * m],
            eta: vec![0.0; d],
            grad_m: vec![0.0; m],
        }
    }

    /// θ.
    pub fn theta(&self) -> &[f32] {
        &self.theta
    }

    /// The learning rates of the last [`DenseMemory::predict`].
    pub fn eta(&self) -> &[f32] {
        &self.eta
    }

    /// The memory update of one step: clip the gradient, shift the state, compute A_cur (D×M),
    /// G = mean_d s_d A_prev[d, ·], one step of the memory optimizer on θ, clamp θ.
    pub fn update(&mut self, grads: &[f32]) {
        let (m, clip) = (self.m, self.clip);
        std::mem::swap(&mut self.g_prev, &mut self.g_cur);
        for (c, &g) in self.g_cur.iter_mut().zip(grads) {
            *c = g.clamp(-clip, clip);
        }
        std::mem::swap(&mut self.a_prev, &mut self.a_cur);
        for (row, &g) in self.a_cur.chunks_exact_mut(m).zip(&self.g_cur) {
            for (a, &c) in row.iter_mut().zip(&self.centers) {
                let d = g - c;
                *a = (-(d * d) * self.inv_two_var).exp();
            }
        }
        // G_m = mean_d s_d a_prev[d, m]
        let mut sums = vec![0.0f64; m];
        for ((row, &gc), &gp) in self
            .a_prev
            .chunks_exact(m)
            .zip(&self.g_cur)
            .zip(&self.g_prev)
        {
            let s = (gc * gp).clamp(-1.0, 1.0);
            for (acc, &a) in sums.iter_mut().zip(row) {
                *acc += (s * a) as f64;
            }
        }
        let n = self.g_cur.len().max(1) as f64;
        for (g, s) in self.grad_m.iter_mut().zip(&sums) {
            *g = (s / n) as f32;
        }
        self.t += 1;
        match self.opt {
            MemoryOptimizer::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => {
                let t = self.t as f64;
                let step = (lr as f64 * (1.0 - (beta2 as f64).powf(t)).sqrt()
                    / (1.0 - (beta1 as f64).powf(t))) as f32;
                for i in 0..m {
                    let g = self.grad_m[i];
                    self.moment1[i] = beta1 * self.moment1[i] + (1.0 - beta1) * g;
                    self.moment2[i] = beta2 * self.moment2[i] + (1.0 - beta2) * g * g;
                    self.theta[i] += step * (self.moment1[i] / (self.moment2[i].sqrt() + eps));
                }
            }
            other => {
                let lr = other.lr();
                for (th, g) in self.theta.iter_mut().zip(&self.grad_m) {
                    *th += lr * g;
                }
            }
        }
        for th in &mut self.theta {
            *th = th.clamp(self.theta_min, self.theta_max);
        }
    }

    /// η_d = Σ_m A_cur[d, m] θ_m / Σ_m A_cur[d, m] for every coordinate.
    pub fn predict(&mut self) {
        for (e, row) in self.eta.iter_mut().zip(self.a_cur.chunks_exact(self.m)) {
            let (mut num, mut den) = (0.0f32, 0.0f32);
            for (&a, &t) in row.iter().zip(&self.theta) {
                num += a * t;
                den += a;
            }
            *e = num / den;
        }
    }

    /// One step of the authors' `MetaSgd1d`: update, predict, w ← w − η ⊙ clip(g).
    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        self.update(grads);
        self.predict();
        for ((w, &e), &g) in params.iter_mut().zip(&self.eta).zip(&self.g_cur) {
            *w -= e * g;
        }
    }
}
