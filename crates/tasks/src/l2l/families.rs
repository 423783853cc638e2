//! The paper's two task families: random quadratics ([`Quadratics`]) and the MNIST MLP
//! ([`MnistMlp`]), each instance a [`Problem`] with its exact gradient.

use std::sync::Arc;

use lrmem_optimizers::l2l;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Family, Problem};
use crate::mnist::{Mnist, PIXELS};
use crate::random::{portable_normal, uniform};

/// A standard normal draw, reproducible on every machine.
fn normal(rng: &mut ChaCha8Rng) -> f32 {
    portable_normal(rng) as f32
}

/// Random 10-D quadratics, 128 at a time (the paper's first family).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quadratics {
    /// Dimensions of one quadratic (10).
    pub dims: usize,
    /// Quadratics per problem, their losses averaged (128).
    pub batch: usize,
}

impl Default for Quadratics {
    fn default() -> Self {
        Quadratics {
            dims: 10,
            batch: 128,
        }
    }
}

struct Quadratic {
    dims: usize,
    batch: usize,
    w: Vec<f32>,
    y: Vec<f32>,
    start: Vec<f32>,
}

impl Family for Quadratics {
    fn name(&self) -> &'static str {
        "quadratic"
    }
    fn scale(&self) -> f32 {
        1.0
    }
    fn instance(&self, seed: u64) -> Box<dyn Problem> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (d, b) = (self.dims, self.batch);
        let w = (0..b * d * d).map(|_| normal(&mut rng)).collect();
        let y = (0..b * d).map(|_| normal(&mut rng)).collect();
        let start = (0..b * d).map(|_| 0.01 * normal(&mut rng)).collect();
        Box::new(Quadratic {
            dims: d,
            batch: b,
            w,
            y,
            start,
        })
    }
}

impl Problem for Quadratic {
    fn start(&self) -> Vec<f32> {
        self.start.clone()
    }
    fn tensors(&self) -> Vec<(&'static str, std::ops::Range<usize>)> {
        vec![("theta", 0..self.start.len())]
    }
    fn loss_grad(&mut self, theta: &[f32], grad: &mut [f32]) -> f32 {
        let d = self.dims;
        let mut loss = 0.0f64;
        let scale = 2.0 / self.batch as f32;
        let mut r = vec![0.0f32; d];
        for b in 0..self.batch {
            let th = &theta[b * d..(b + 1) * d];
            let w = &self.w[b * d * d..(b + 1) * d * d];
            for (i, ri) in r.iter_mut().enumerate() {
                let row = &w[i * d..(i + 1) * d];
                *ri = row.iter().zip(th).map(|(a, x)| a * x).sum::<f32>() - self.y[b * d + i];
                loss += f64::from(*ri * *ri);
            }
            let g = &mut grad[b * d..(b + 1) * d];
            g.fill(0.0);
            for (i, &ri) in r.iter().enumerate() {
                for (gj, &a) in g.iter_mut().zip(&w[i * d..(i + 1) * d]) {
                    *gj += scale * a * ri;
                }
            }
        }
        (loss / self.batch as f64) as f32
    }
}

/// The MNIST MLP of the paper: 784 → 20 sigmoid → 10, minibatches of 128.
#[derive(Debug, Clone)]
pub struct MnistMlp {
    data: Arc<MnistData>,
    /// Hidden units (20).
    pub hidden: usize,
    /// Minibatch size (128).
    pub batch: usize,
}

/// MNIST's pixels in [0, 1] and labels, both splits.
#[derive(Debug)]
struct MnistData {
    train: Vec<f32>,
    train_labels: Vec<u8>,
    test: Vec<f32>,
    test_labels: Vec<u8>,
}

const CLASSES: usize = 10;

impl MnistMlp {
    /// The family on `mnist` (its training split for steps, its test split for
    /// [`Problem::held_out_loss`]).
    pub fn new(mnist: &Mnist) -> Self {
        let px = |p: &[u8]| {
            p.iter()
                .map(|&v| f32::from(v) / 255.0)
                .collect::<Vec<f32>>()
        };
        MnistMlp {
            data: Arc::new(MnistData {
                train: px(&mnist.train.images.pixels),
                train_labels: mnist.train.labels.clone(),
                test: px(&mnist.test.images.pixels),
                test_labels: mnist.test.labels.clone(),
            }),
            hidden: 20,
            batch: 128,
        }
    }
}

struct Mlp {
    data: Arc<MnistData>,
    hidden: usize,
    batch: usize,
    rng: ChaCha8Rng,
    start: Vec<f32>,
}

impl Family for MnistMlp {
    fn name(&self) -> &'static str {
        "mnist"
    }
    fn scale(&self) -> f32 {
        0.01
    }
    fn instance(&self, seed: u64) -> Box<dyn Problem> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let h = self.hidden;
        // U(±1/√fan_in), weights first.
        let mut draw = |n: usize, fan_in: usize| uniform(&mut rng, n, 1.0 / (fan_in as f32).sqrt());
        let mut start = draw(PIXELS * h, PIXELS);
        start.extend(vec![0.0; h]);
        start.extend(draw(h * CLASSES, h));
        start.extend(vec![0.0; CLASSES]);
        Box::new(Mlp {
            data: self.data.clone(),
            hidden: h,
            batch: self.batch,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x0BA7_C4E5),
            start,
        })
    }
}

impl Mlp {
    /// Offsets of W₁ (784 × h, row per pixel), b₁, W₂ (h × 10), b₂.
    fn offsets(&self) -> [usize; 4] {
        let h = self.hidden;
        [0, PIXELS * h, PIXELS * h + h, PIXELS * h + h + h * CLASSES]
    }

    /// Mean cross-entropy over `idx` of `images`, and its gradient if `grad` is given.
    fn run(
        &self,
        theta: &[f32],
        images: &[f32],
        labels: &[u8],
        idx: &[usize],
        mut grad: Option<&mut [f32]>,
    ) -> (f64, usize) {
        let h = self.hidden;
        let [w1, b1, w2, b2] = self.offsets();
        let mut hid = vec![0.0f32; h];
        let mut logits = [0.0f32; CLASSES];
        let mut dh = vec![0.0f32; h];
        let (mut loss, mut correct) = (0.0f64, 0usize);
        if let Some(g) = grad.as_deref_mut() {
            g.fill(0.0);
        }
        let inv = 1.0 / idx.len() as f32;
        for &i in idx {
            let x = &images[i * PIXELS..(i + 1) * PIXELS];
            hid.copy_from_slice(&theta[b1..b1 + h]);
            for (k, &v) in x.iter().enumerate() {
                if v != 0.0 {
                    for (a, &w) in hid.iter_mut().zip(&theta[w1 + k * h..w1 + (k + 1) * h]) {
                        *a += v * w;
                    }
                }
            }
            // σ, its argument clamped to ±40 (beyond, σ is 0 or 1 to 5·10⁻¹⁸ and tinier values
            // would breed slow subnormal numbers).
            hid.iter_mut()
                .for_each(|a| *a = 1.0 / (1.0 + l2l::exp(-a.clamp(-40.0, 40.0))));
            logits.copy_from_slice(&theta[b2..b2 + CLASSES]);
            for (j, &a) in hid.iter().enumerate() {
                for (l, &w) in logits
                    .iter_mut()
                    .zip(&theta[w2 + j * CLASSES..w2 + (j + 1) * CLASSES])
                {
                    *l += a * w;
                }
            }
            let max = logits.iter().fold(f32::NEG_INFINITY, |m, &l| m.max(l));
            let mut p = [0.0f32; CLASSES];
            let mut sum = 0.0f32;
            for (pi, &l) in p.iter_mut().zip(&logits) {
                *pi = l2l::exp(l - max);
                sum += *pi;
            }
            let label = labels[i] as usize;
            loss += f64::from(libm::logf(sum) + max - logits[label]);
            let best = (0..CLASSES)
                .max_by(|&a, &b| logits[a].total_cmp(&logits[b]).then(b.cmp(&a)))
                .unwrap_or(0);
            correct += usize::from(best == label);
            let Some(g) = grad.as_deref_mut() else {
                continue;
            };
            // dL/dlogits = (softmax − onehot) / batch.
            let mut dl = [0.0f32; CLASSES];
            for (c, d) in dl.iter_mut().enumerate() {
                *d = (p[c] / sum - f32::from(u8::from(c == label))) * inv;
            }
            for (gb, &d) in g[b2..b2 + CLASSES].iter_mut().zip(&dl) {
                *gb += d;
            }
            for j in 0..h {
                let row = w2 + j * CLASSES;
                let mut s = 0.0f32;
                for c in 0..CLASSES {
                    g[row + c] += hid[j] * dl[c];
                    s += theta[row + c] * dl[c];
                }
                let d = s * hid[j] * (1.0 - hid[j]);
                dh[j] = if d.abs() < 1e-30 { 0.0 } else { d };
            }
            for (gb, &d) in g[b1..b1 + h].iter_mut().zip(&dh) {
                *gb += d;
            }
            for (k, &v) in x.iter().enumerate() {
                if v != 0.0 {
                    for (gw, &d) in g[w1 + k * h..w1 + (k + 1) * h].iter_mut().zip(&dh) {
                        *gw += v * d;
                    }
                }
            }
        }
        (loss / idx.len() as f64, correct)
    }
}

impl Problem for Mlp {
    fn start(&self) -> Vec<f32> {
        self.start.clone()
    }
    fn tensors(&self) -> Vec<(&'static str, std::ops::Range<usize>)> {
        let [w1, b1, w2, b2] = self.offsets();
        vec![
            ("fc1.weight", w1..b1),
            ("fc1.bias", b1..w2),
            ("fc2.weight", w2..b2),
            ("fc2.bias", b2..self.start.len()),
        ]
    }
    fn loss_grad(&mut self, theta: &[f32], grad: &mut [f32]) -> f32 {
        let n = self.data.train_labels.len() as u64;
        let idx: Vec<usize> = (0..self.batch)
            .map(|_| (self.rng.next_u64() % n) as usize)
            .collect();
        let data = self.data.clone();
        self.run(theta, &data.train, &data.train_labels, &idx, Some(grad))
            .0 as f32
    }
    fn held_out_loss(&self, theta: &[f32]) -> Option<(f64, f64)> {
        let n = self.data.test_labels.len();
        let idx: Vec<usize> = (0..n).collect();
        let (loss, correct) = self.run(theta, &self.data.test, &self.data.test_labels, &idx, None);
        Some((loss, correct as f64 / n as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quadratic's gradient against central differences.
    #[test]
    fn quadratic_gradient_is_exact() {
        let fam = Quadratics { dims: 3, batch: 2 };
        let mut p = fam.instance(4);
        let theta: Vec<f32> = (0..6).map(|i| 0.3 * i as f32 - 0.7).collect();
        let mut g = vec![0.0; 6];
        p.loss_grad(&theta, &mut g);
        for i in 0..6 {
            let mut t = theta.clone();
            let mut scratch = vec![0.0; 6];
            t[i] += 1e-2;
            let up = p.loss_grad(&t, &mut scratch);
            t[i] -= 2e-2;
            let down = p.loss_grad(&t, &mut scratch);
            let fd = (up - down) / 2e-2;
            assert!(
                (fd - g[i]).abs() < 2e-3 * (1.0 + g[i].abs()),
                "{i}: {fd} vs {}",
                g[i]
            );
        }
    }

    /// The MLP's gradient against central differences, on a small synthetic data set.
    #[test]
    fn mlp_gradient_is_exact() {
        use crate::mnist::Split;
        let split = |count: usize, seed: u64| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let pixels = (0..count * PIXELS)
                .map(|_| {
                    if rng.next_u32() % 3 == 0 {
                        (rng.next_u32() % 256) as u8
                    } else {
                        0
                    }
                })
                .collect();
            Split::new(pixels, (0..count).map(|i| (i % 10) as u8).collect()).unwrap()
        };
        let mnist = Mnist {
            train: split(40, 1),
            test: split(20, 2),
        };
        let fam = MnistMlp {
            batch: 4,
            ..MnistMlp::new(&mnist)
        };
        let probe = |theta: &[f32], grad: &mut [f32]| {
            // The same minibatch for every call: a fresh instance of the same seed.
            fam.instance(5).loss_grad(theta, grad)
        };
        let theta = fam.instance(5).start();
        let mut g = vec![0.0f32; theta.len()];
        probe(&theta, &mut g);
        let mut scratch = vec![0.0f32; theta.len()];
        let nonzero: Vec<usize> = (0..theta.len()).filter(|&i| g[i] != 0.0).collect();
        assert!(nonzero.len() > 100);
        for &i in nonzero
            .iter()
            .step_by(nonzero.len() / 40)
            .chain(&[theta.len() - 1])
        {
            let mut t = theta.clone();
            t[i] += 1e-2;
            let up = f64::from(probe(&t, &mut scratch));
            t[i] -= 2e-2;
            let down = f64::from(probe(&t, &mut scratch));
            let fd = (up - down) / 2e-2;
            assert!(
                (fd - f64::from(g[i])).abs() < 1e-3 + 2e-2 * f64::from(g[i]).abs(),
                "{i}: {fd} vs {}",
                g[i]
            );
        }
        let (loss, acc) = fam.instance(5).held_out_loss(&theta).unwrap();
        assert!(loss > 1.5 && loss < 3.5 && (0.0..=1.0).contains(&acc));
    }
}
