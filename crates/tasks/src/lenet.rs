//! The authors' LeNet for binary MNIST, on dfdx 0.13 (stable Rust, CPU).
//!
//! `conv 10@5×5 → max-pool 2×2 → ReLU → conv 20@5×5 → max-pool 2×2 → ReLU → fc 320→50 → ReLU →
//! fc 50→2`, softmax cross-entropy (the authors' `models/mnist.py`, dropout off). dfdx has no
//! convolution or pooling on stable, so they are built from its ops:
//!
//! - **Convolution as im2col**: activations are laid out feature-major with the batch last,
//!   `(features, batch)`, so one precomputed patch index serves every batch size. One indexed
//!   gather makes the patch matrix `(patch·positions, batch)`, a reshape makes it
//!   `(patch, positions·batch)`, one `matmul` with the `(out, patch)` weight and a bias added
//!   per output channel give `(out, positions·batch)`, i.e. `(out, y, x, batch)` row-major.
//! - **2×2 max-pool with PyTorch's gradient**: the whole gradient of a window goes to its first
//!   maximal element, as in `torch.nn.functional.max_pool2d`. (dfdx's `max` over the pooling
//!   axes of a 6-D reshape instead gives the gradient to *every* tied element; MNIST's constant
//!   background makes ties common — e.g. four-fold bias gradients — so that would not be the
//!   authors' network.)
//!
//! The gather, the bias add and the pool are small autodiff ops written here against dfdx's
//! public tape API (`split_tape`, `add_backward_op`, `Gradients::get_or_alloc_mut`): dfdx's
//! generic `gather` kernel computes an N-d index per element and took ~40% of an online update
//! (and most of an evaluation), its strided broadcast-add backward another ~15%. The matmuls are
//! dfdx's (gemm). Finite-difference tests check every gradient.
//!
//! Weights keep PyTorch's layouts: a conv weight `(out, in, 5, 5)` is stored flattened as
//! `(out, in·25)`, a linear weight as `(out, in)`.

use dfdx::nn::modules::Linear;
use dfdx::prelude::*;

use crate::mnist::{Samples, PIXELS, SIDE};
use crate::model::{tensor_collection, Trainable};
use crate::TaskError;

pub use crate::layers::Dev;
use crate::layers::{
    batch_last_tensor, conv, conv_index, dense, linear, trim, ConvGeometry, PatchIndex, SCRATCH,
};

/// Side of the conv kernels.
const K: usize = 5;
/// conv1: 1 → 10 channels, 28×28 → 24×24, pooled to 12×12.
const C1: usize = 10;
const H1: usize = SIDE - K + 1; // 24
const P1: usize = H1 / 2; // 12
/// conv2: 10 → 20 channels, 12×12 → 8×8, pooled to 4×4.
const C2: usize = 20;
const H2: usize = P1 - K + 1; // 8
const P2: usize = H2 / 2; // 4
/// Sizes dfdx needs as literal const generics.
const PATCH1: usize = K * K; // 25
const PATCH2: usize = C1 * K * K; // 250
const IDX1: usize = PATCH1 * H1 * H1; // 14,400
const IDX2: usize = PATCH2 * H2 * H2; // 16,000
const POOLED1: usize = C1 * P1 * P1; // 1,440
const FLAT: usize = C2 * P2 * P2; // 320
const HIDDEN: usize = 50;
/// Both convolutions: 5×5, stride 1, no padding ("valid").
const VALID: ConvGeometry = ConvGeometry {
    kernel: K,
    stride: 1,
    pad: 0,
};

/// The LeNet's trainable tensors, as a dfdx `TensorCollection` named like PyTorch's
/// `state_dict`: `conv1.weight`, `conv1.bias`, …, `fc2.bias`. This is what an optimizer walks.
#[derive(Debug, Clone)]
pub struct LeNetParams<E: Dtype, D: Storage<E>, const CLASSES: usize = 2> {
    /// conv 1→10, 5×5: weight `(10, 1·5·5)`.
    pub conv1: Linear<25, 10, E, D>,
    /// conv 10→20, 5×5: weight `(20, 10·5·5)`.
    pub conv2: Linear<250, 20, E, D>,
    /// fc 320→50.
    pub fc1: Linear<320, 50, E, D>,
    /// fc 50→CLASSES (2 for the papers' binary tasks).
    pub fc2: Linear<50, CLASSES, E, D>,
}

tensor_collection!(LeNetParams<E, D, const CLASSES> { conv1, conv2, fc1, fc2 });

/// A batch of images laid out for [`LeNet`]: `(784 pixels, batch)`, batch last.
pub type Input<T = NoneTape> = Tensor<(Const<PIXELS>, usize), f32, Dev, T>;
/// The network's output: a logit per class and image, `(CLASSES, batch)`.
pub type Logits<T = NoneTape, const CLASSES: usize = 2> =
    Tensor<(Const<CLASSES>, usize), f32, Dev, T>;

/// The authors' LeNet: parameters plus the precomputed im2col indices. `CLASSES` outputs: 2
/// for the papers' binary tasks ([`LeNet::new`]), 10 for a digit classifier
/// ([`LeNet::with_classes`], e.g. the feature extractor of [`crate::fid`]).
///
/// ```
/// use lrmem_tasks::lenet::LeNet;
/// let dev = lrmem_tasks::dfdx::tensor::Cpu::default();
/// let net = LeNet::new(&dev, 0);
/// let x = net.input(&[0.5; 784 * 3])?; // three images
/// assert_eq!(net.predict(x)?.len(), 3);
/// # Ok::<(), lrmem_tasks::TaskError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LeNet<const CLASSES: usize = 2> {
    /// The trainable tensors (walk these with [`crate::adapter::Adapter`]).
    pub params: LeNetParams<f32, Dev, CLASSES>,
    dev: Dev,
    /// conv1 patches: entry `k·576 + p` is the pixel under tap `k` at output position `p`.
    idx1: PatchIndex,
    /// conv2 patches: entry `k·64 + p`, `k = c·25 + tap`, into the `(10, 12, 12)` maps.
    idx2: PatchIndex,
}

impl LeNet {
    /// The binary LeNet of the papers' tasks: [`LeNet::with_classes`] with two classes.
    pub fn new(dev: &Dev, seed: u64) -> Self {
        Self::with_classes(dev, seed)
    }
}

impl<const CLASSES: usize> LeNet<CLASSES> {
    /// A LeNet on `dev` with PyTorch's default initialisation drawn from `seed`: every weight
    /// and bias ~ U(−1/√fan_in, +1/√fan_in) (kaiming-uniform with a = √5), fan_in = 25, 250,
    /// 320, 50. Uses ChaCha8 stream 1 of `seed` (stream 0 is the data order), so the same seed
    /// gives the same network everywhere.
    pub fn with_classes(dev: &Dev, seed: u64) -> Self {
        let mut rng = crate::random::stream(seed, 1);
        let params = LeNetParams {
            conv1: linear(dev, &mut rng),
            conv2: linear(dev, &mut rng),
            fc1: linear(dev, &mut rng),
            fc2: linear(dev, &mut rng),
        };
        let idx1 = conv_index(1, SIDE, VALID);
        let idx2 = conv_index(C1, P1, VALID);
        LeNet {
            params,
            dev: dev.clone(),
            idx1,
            idx2,
        }
    }

    /// The device the network lives on.
    pub fn device(&self) -> &Dev {
        &self.dev
    }

    /// Packs one or more images (each [`PIXELS`] values, concatenated) into an [`Input`]
    /// `(784, n)`.
    pub fn input(&self, images: &[f32]) -> Result<Input, TaskError> {
        batch_last_tensor(&self.dev, images, || format!("images of {PIXELS} pixels"))
    }

    /// Forward pass: logits `(CLASSES, n)` for the images in `x`. Works with or without a
    /// tape; with one, backward yields the gradients of every parameter (not of the images).
    pub fn logits<T: Tape<f32, Dev>>(&self, x: Input<T>) -> Result<Logits<T, CLASSES>, TaskError> {
        let y = self.features(x)?;
        dense::<HIDDEN, CLASSES, T>(y, &self.params.fc2)
    }

    /// The 50 hidden features (after fc1 and its ReLU) of the images in `x`, `(50, n)`: the
    /// layer the logits are read from, and the feature space of [`crate::fid`].
    pub fn features<T: Tape<f32, Dev>>(
        &self,
        x: Input<T>,
    ) -> Result<Tensor<(Const<HIDDEN>, usize), f32, Dev, T>, TaskError> {
        let n = x.shape().1;
        let p = &self.params;
        let y = conv::<PIXELS, IDX1, PATCH1, C1, T>(x, &self.idx1, &p.conv1, H1 * H1, n, false)?;
        let y = max_pool_2x2::<C1, POOLED1, T>(y, H1, n)?.try_relu()?;
        let y = conv::<POOLED1, IDX2, PATCH2, C2, T>(y, &self.idx2, &p.conv2, H2 * H2, n, true)?;
        let y = max_pool_2x2::<C2, FLAT, T>(y, H2, n)?.try_relu()?;
        Ok(dense::<FLAT, HIDDEN, T>(y, &p.fc1)?.try_relu()?)
    }

    /// Mean softmax cross-entropy of the logits against `labels` (each below `CLASSES`, one
    /// per image).
    pub fn loss<T: Tape<f32, Dev>>(
        &self,
        logits: Logits<T, CLASSES>,
        labels: &[u8],
    ) -> Result<Tensor<Rank0, f32, Dev, T>, TaskError> {
        let n = logits.shape().1;
        if labels.len() != n || n == 0 || labels.iter().any(|&l| usize::from(l) >= CLASSES) {
            return Err(TaskError::Argument(format!(
                "{} labels (each below {CLASSES}) for {n} images",
                labels.len()
            )));
        }
        let mut onehot = vec![0.0f32; CLASSES * n];
        for (b, &l) in labels.iter().enumerate() {
            onehot[usize::from(l) * n + b] = 1.0;
        }
        let onehot = self
            .dev
            .try_tensor_from_vec(onehot, (Const::<CLASSES>, n))?;
        let logp = logits.try_log_softmax::<Axis<0>>()?;
        Ok(logp
            .try_mul(onehot)?
            .try_sum::<Rank0, _>()?
            .try_mul(-1.0 / n as f32)?)
    }

    /// Predicted labels for the images in `x`: the first largest logit, like `argmax` (a tie
    /// between the two classes of a binary task predicts 0).
    pub fn predict(&self, x: Input) -> Result<Vec<u8>, TaskError> {
        let logits = self.logits(x)?;
        let n = logits.shape().1;
        let v = logits.as_vec();
        Ok((0..n)
            .map(|b| {
                let mut best = 0;
                for c in 1..CLASSES {
                    if v[c * n + b] > v[best * n + b] {
                        best = c;
                    }
                }
                best as u8
            })
            .collect())
    }

    /// Fraction of `samples` classified correctly, evaluated in batches of `batch` images.
    pub fn accuracy(&self, samples: &Samples, batch: usize) -> Result<f64, TaskError> {
        if samples.is_empty() || batch == 0 {
            return Err(TaskError::Argument(
                "accuracy needs samples and a batch size ≥ 1".into(),
            ));
        }
        let mut correct = 0usize;
        let mut images = Vec::with_capacity(batch.min(samples.len()) * PIXELS);
        let mut start = 0;
        while start < samples.len() {
            let end = (start + batch).min(samples.len());
            images.clear();
            for i in start..end {
                images.extend_from_slice(samples.image(i));
            }
            let pred = self.predict(self.input(&images)?)?;
            correct += pred
                .iter()
                .zip(&samples.labels()[start..end])
                .filter(|(p, l)| p == l)
                .count();
            start = end;
        }
        Ok(correct as f64 / samples.len() as f64)
    }
}

impl<const CLASSES: usize> Trainable for LeNet<CLASSES> {
    type Params = LeNetParams<f32, Dev, CLASSES>;

    fn params(&self) -> &Self::Params {
        &self.params
    }

    fn params_mut(&mut self) -> &mut Self::Params {
        &mut self.params
    }
}

/// 2×2 max-pool (stride 2) of `C` maps `side × side` laid out `(C, y, x, n)`, giving
/// `(C·(side/2)², n)`. The first maximum of each window in row-major order wins (a NaN wins),
/// as in PyTorch, and the backward routes the window's gradient to exactly that element.
fn max_pool_2x2<const C: usize, const OUT: usize, T: Tape<f32, Dev>>(
    y: Tensor<(Const<C>, usize), f32, Dev, T>,
    side: usize,
    n: usize,
) -> Result<Tensor<(Const<OUT>, usize), f32, Dev, T>, TaskError> {
    debug_assert_eq!(OUT, C * (side / 2) * (side / 2));
    let half = side / 2;
    let (y, mut tape) = y.split_tape();
    let mut out = y.device().try_zeros_like(&(Const::<OUT>, n))?;
    // Only a taped pass needs the winners for its backward.
    let mut winners: Vec<u32> = Vec::with_capacity(if T::OWNS_TAPE { OUT * n } else { 0 });
    SCRATCH.with_borrow_mut(|bufs| {
        let (inp, buf) = (&mut bufs.0, &mut bufs.1);
        inp.resize(C * side * side * n, 0.0);
        y.copy_into(inp);
        buf.clear();
        for c in 0..C {
            for qy in 0..half {
                for qx in 0..half {
                    let base = ((c * side + 2 * qy) * side + 2 * qx) * n;
                    for b in base..base + n {
                        let mut best = b;
                        for i in [b + n, b + side * n, b + side * n + n] {
                            if inp[i] > inp[best] || inp[i].is_nan() {
                                best = i;
                            }
                        }
                        buf.push(inp[best]);
                        if T::OWNS_TAPE {
                            winners.push(best as u32);
                        }
                    }
                }
            }
        }
        out.copy_from(buf);
        trim(bufs);
    });
    if T::OWNS_TAPE {
        let (y_id, out_id) = (y.clone(), out.clone());
        tape.add_backward_op(move |grads| {
            let dout = std::mem::take(&mut **grads.get_or_alloc_mut(&out_id)?);
            let dy = grads.get_or_alloc_mut(&y_id)?;
            for (&w, &g) in winners.iter().zip(&dout) {
                dy[w as usize] += g;
            }
            **grads.get_or_alloc_mut(&out_id)? = dout;
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::{trainable_values, Adapter};
    use crate::testing::{assert_gradient, fd, random, within};

    #[test]
    fn conv_index_matches_direct_convolution() {
        // Forward of `conv` against a naive 5×5 valid convolution of two random images.
        let dev = Dev::default();
        let net = LeNet::new(&dev, 3);
        let imgs = random(2 * PIXELS, 1, 1.0);
        let x = net.input(&imgs).unwrap();
        let y = conv::<PIXELS, IDX1, PATCH1, C1, NoneTape>(
            x,
            &net.idx1,
            &net.params.conv1,
            H1 * H1,
            2,
            false,
        )
        .unwrap()
        .as_vec();
        let w = net.params.conv1.weight.as_vec();
        let bias = net.params.conv1.bias.as_vec();
        for b in 0..2 {
            for o in [0, 7] {
                for (py, px) in [(0, 0), (3, 17), (23, 23)] {
                    let mut want = bias[o];
                    for ky in 0..K {
                        for kx in 0..K {
                            want += w[o * 25 + ky * 5 + kx]
                                * imgs[b * PIXELS + (py + ky) * SIDE + px + kx];
                        }
                    }
                    let got = y[(o * H1 * H1 + py * H1 + px) * 2 + b];
                    assert!(
                        (got - want).abs() < 1e-5,
                        "o {o} ({py},{px}) b {b}: {got} vs {want}"
                    );
                }
            }
        }
    }

    /// Gradient of Σ r ⊙ layer(x) w.r.t. the layer's inputs, by dfdx and by finite differences.
    #[test]
    fn conv_gradients_match_finite_differences() {
        let dev = Dev::default();
        let net = LeNet::new(&dev, 5);
        let n = 2;
        let xs = random(n * POOLED1, 11, 1.0);
        let r = dev.tensor_from_vec(
            random(C2 * H2 * H2 * n, 12, 1.0),
            (Const::<C2>, H2 * H2 * n),
        );
        let eval = |net: &LeNet, xs: &[f32]| -> f32 {
            let x = dev.tensor_from_vec(xs.to_vec(), (Const::<POOLED1>, n));
            let y = conv::<POOLED1, IDX2, PATCH2, C2, NoneTape>(
                x,
                &net.idx2,
                &net.params.conv2,
                H2 * H2,
                n,
                true,
            )
            .unwrap();
            (y * r.clone()).sum::<Rank0, _>().array()
        };
        // dfdx gradients w.r.t. input, weight and bias.
        let x = dev.tensor_from_vec(xs.clone(), (Const::<POOLED1>, n));
        // Leaky: keep the input's gradient too.
        let y = conv::<POOLED1, IDX2, PATCH2, C2, _>(
            x.leaky_trace(),
            &net.idx2,
            &net.params.conv2,
            H2 * H2,
            n,
            true,
        )
        .unwrap();
        let g = (y * r.clone()).sum::<Rank0, _>().backward();
        let gw = g.get(&net.params.conv2.weight).as_vec();
        let gb = g.get(&net.params.conv2.bias).as_vec();
        let gx = g.get(&x).as_vec();
        let coords = [0, 37, 513, 1439, 2 * 1440 - 1];
        assert_gradient("x", &gx, &xs, coords, 1e-2, within(1e-2), |xs| {
            eval(&net, xs)
        });
        let w = net.params.conv2.weight.as_vec();
        let wants = assert_gradient(
            "w",
            &gw,
            &w,
            [0, 249, 2600, 4999],
            1e-2,
            within(1e-2),
            |w| {
                let mut net2 = net.clone();
                net2.params.conv2.weight.copy_from(w);
                eval(&net2, &xs)
            },
        );
        assert!(wants.iter().all(|w| w.abs() > 1e-3), "degenerate check");
        let b = net.params.conv2.bias.as_vec();
        assert_gradient("b", &gb, &b, [0, 19], 1e-2, within(1e-2), |b| {
            let mut net2 = net.clone();
            net2.params.conv2.bias.copy_from(b);
            eval(&net2, &xs)
        });
    }

    #[test]
    fn max_pool_forward_and_gradient_match_pytorch() {
        let dev = Dev::default();
        let n = 2;
        let side = 4;
        let mut vals = random(3 * side * side * n, 21, 1.0);
        // A tied window: (c 0, window (0,0), batch 0) all equal: PyTorch routes the gradient
        // to the first element only.
        for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            vals[(dy * side + dx) * n] = 0.25;
        }
        let r = random(3 * 4 * n, 22, 1.0);
        let rt = dev.tensor_from_vec(r.clone(), (Const::<12>, n));
        let eval = |vals: &[f32]| -> f32 {
            let y = dev.tensor_from_vec(vals.to_vec(), (Const::<3>, side * side * n));
            let p = max_pool_2x2::<3, 12, NoneTape>(y, side, n).unwrap();
            (p * rt.clone()).sum::<Rank0, _>().array()
        };
        let y = dev.tensor_from_vec(vals.clone(), (Const::<3>, side * side * n));
        let pooled = max_pool_2x2::<3, 12, _>(y.leaky_trace(), side, n).unwrap();
        // Forward: each output is its window's maximum.
        let out = pooled.as_vec();
        for c in 0..3 {
            for qy in 0..2 {
                for qx in 0..2 {
                    for b in 0..n {
                        let at = |dy: usize, dx: usize| {
                            vals[((c * side + 2 * qy + dy) * side + 2 * qx + dx) * n + b]
                        };
                        let want = at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1));
                        assert_eq!(out[((c * 2 + qy) * 2 + qx) * n + b], want);
                    }
                }
            }
        }
        let g = (pooled * rt.clone()).sum::<Rank0, _>().backward();
        let gy = g.get(&y).as_vec();
        // Tied window: all of r[0] on the first element, none on the others.
        assert_eq!(gy[0], r[0]);
        assert_eq!([gy[n], gy[side * n], gy[side * n + n]], [0.0; 3]);
        // Elsewhere (no ties): finite differences.
        let mut v = vals.clone();
        for i in (1..v.len()).filter(|i| ![n, side * n, side * n + n].contains(i)) {
            let want = fd(&mut v, i, 1e-3, eval);
            assert!((gy[i] - want).abs() < 1e-2, "y[{i}]: {} vs {want}", gy[i]);
        }
    }

    /// The whole network's loss w.r.t. a few coordinates of every parameter tensor: catches a
    /// lost tape anywhere (a lost tape gives zeros, finite differences do not).
    #[test]
    fn network_gradients_match_finite_differences() {
        let dev = Dev::default();
        let net = LeNet::new(&dev, 9);
        let imgs = random(2 * PIXELS, 31, 1.0)
            .iter()
            .map(|v| v.abs())
            .collect::<Vec<_>>();
        let labels = [0u8, 1];
        let loss_of = |net: &LeNet| -> f32 {
            let l = net
                .loss(net.logits(net.input(&imgs).unwrap()).unwrap(), &labels)
                .unwrap();
            l.array()
        };
        let grads = net.params.alloc_grads();
        let x = net.input(&imgs).unwrap();
        let loss = net
            .loss(net.logits(x.trace(grads)).unwrap(), &labels)
            .unwrap();
        let g = loss.backward();
        let analytic = trainable_values(&net.params, Some(&g)).unwrap();
        let values = trainable_values(&net.params, None).unwrap();
        let mut adapter = Adapter::new(&net.params).unwrap();
        let names: Vec<String> = adapter.names().map(String::from).collect();
        let coords: [&[usize]; 8] = [
            &[0, 12, 24, 100, 249],      // conv1.weight
            &[0, 3, 9],                  // conv1.bias
            &[0, 777, 2500, 4321, 4999], // conv2.weight
            &[0, 5, 10, 19],             // conv2.bias
            &[0, 1000, 8000, 15999],     // fc1.weight
            &[0, 17, 49],                // fc1.bias
            &[0, 33, 50, 99],            // fc2.weight
            &[0, 1],                     // fc2.bias
        ];
        for (k, coords) in coords.into_iter().enumerate() {
            let close = |got: f32, want: f32| (got - want).abs() < 2e-3 + 2e-2 * want.abs();
            let wants = assert_gradient(
                &names[k],
                &analytic[k],
                &values[k],
                coords.iter().copied(),
                2e-3,
                close,
                |w| {
                    let mut net2 = net.clone();
                    let mut all = values.clone();
                    all[k] = w.to_vec();
                    adapter.load(&mut net2.params, &all).unwrap();
                    loss_of(&net2)
                },
            );
            assert!(
                wants.iter().any(|w| w.abs() > 1e-4),
                "{}: all checked gradients ~0, choose other coordinates",
                names[k]
            );
        }
    }

    #[test]
    fn same_seed_same_network() {
        let dev = Dev::default();
        let a = LeNet::new(&dev, 4);
        let b = LeNet::new(&dev, 4);
        let c = LeNet::new(&dev, 5);
        assert_eq!(
            a.params.conv2.weight.as_vec(),
            b.params.conv2.weight.as_vec()
        );
        assert_ne!(
            a.params.conv2.weight.as_vec(),
            c.params.conv2.weight.as_vec()
        );
        let w = a.params.fc1.weight.as_vec();
        let bound = 1.0 / 320f32.sqrt();
        assert!(w.iter().all(|v| v.abs() <= bound));
        assert!(w.iter().any(|v| v.abs() > 0.9 * bound));
    }

    #[test]
    fn bad_inputs_are_errors() {
        let dev = Dev::default();
        let net = LeNet::new(&dev, 0);
        assert!(net.input(&[0.0; 783]).is_err());
        assert!(net.input(&[]).is_err());
        let logits = net.logits(net.input(&[0.0; 784]).unwrap()).unwrap();
        assert!(net.loss(logits.clone(), &[2]).is_err());
        assert!(net.loss(logits, &[0, 1]).is_err());
    }
}
