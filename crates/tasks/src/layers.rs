//! The building blocks of this crate's dfdx models that dfdx 0.13 lacks on stable Rust:
//! convolution as im2col over a precomputed patch index (with zero padding and strides),
//! nearest-neighbour upsampling, ELU, a bias add and a dense layer with cheap backwards, the
//! seeded initialisation every model shares, and the packing of samples into the models'
//! tensors with the regression models' MSE.
//!
//! Activations are laid out feature-major with the batch last, `(features, batch)`, so one
//! precomputed index serves every batch size: a convolution gathers its patch matrix
//! `(patch·positions, batch)` in one indexed copy, views it as `(patch, positions·batch)` and
//! multiplies it by the `(out, patch)` weight, giving `(out, y, x, batch)` row-major; an
//! upsampling is the same gather with one tap. The gather, the bias add and ELU are small
//! autodiff ops written against dfdx's public tape API (`split_tape`, `add_backward_op`,
//! `Gradients::get_or_alloc_mut`): dfdx's generic `gather` kernel computes an N-d index per
//! element and took ~40% of an online LeNet update, its strided broadcast-add backward another
//! ~15%. Finite-difference tests check every gradient.

use std::cell::RefCell;
use std::sync::Arc;

use dfdx::nn::modules::Linear;
use dfdx::prelude::*;
use rand_chacha::ChaCha8Rng;

use crate::random::uniform;
use crate::TaskError;

/// The device every model of this crate runs on: dfdx's CPU.
pub type Dev = Cpu;

/// A patch-index entry that reads a zero (a convolution's padding) instead of an input row.
pub(crate) const PAD: u32 = u32::MAX;

/// A precomputed gather index: entry `z` is the input row that output row `z` copies, or
/// [`PAD`]. Shared by clones of a network.
#[derive(Clone)]
pub(crate) struct PatchIndex(pub(crate) Arc<[u32]>);

impl std::fmt::Debug for PatchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PatchIndex({} entries)", self.0.len())
    }
}

/// The geometry of a square convolution: `kernel × kernel` taps, `stride`, `pad` zeros on
/// every side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConvGeometry {
    pub(crate) kernel: usize,
    pub(crate) stride: usize,
    pub(crate) pad: usize,
}

impl ConvGeometry {
    /// Output side for an input of `side × side`: ⌊(side + 2·pad − kernel) / stride⌋ + 1.
    pub(crate) const fn out(&self, side: usize) -> usize {
        (side + 2 * self.pad - self.kernel) / self.stride + 1
    }
}

/// The im2col index of a convolution over `channels` maps of `side × side`: entry
/// `k · positions + p` (tap `k = (c·kernel + ky)·kernel + kx`, output position
/// `p = y·out + x`) is the input offset `(c·side + iy)·side + ix` with
/// `iy = y·stride + ky − pad` (likewise `ix`), or [`PAD`] where that falls outside the map.
pub(crate) fn conv_index(channels: usize, side: usize, g: ConvGeometry) -> PatchIndex {
    let out = g.out(side);
    let positions = out * out;
    let k2 = g.kernel * g.kernel;
    let mut idx = vec![PAD; channels * k2 * positions];
    let at = |o: usize, k: usize| (o * g.stride + k).checked_sub(g.pad).filter(|&i| i < side);
    for c in 0..channels {
        for ky in 0..g.kernel {
            for kx in 0..g.kernel {
                let k = (c * g.kernel + ky) * g.kernel + kx;
                for y in 0..out {
                    for x in 0..out {
                        if let (Some(iy), Some(ix)) = (at(y, ky), at(x, kx)) {
                            // Every model's maps have far fewer than 2³² entries.
                            idx[k * positions + y * out + x] = ((c * side + iy) * side + ix) as u32;
                        }
                    }
                }
            }
        }
    }
    PatchIndex(idx.into())
}

/// The gather index of a nearest-neighbour 2× upsampling of `channels` maps `side × side` to
/// `2·side × 2·side`: output `(c, y, x)` copies input `(c, y/2, x/2)`.
pub(crate) fn upsample_index(channels: usize, side: usize) -> PatchIndex {
    let big = 2 * side;
    let mut idx = Vec::with_capacity(channels * big * big);
    for c in 0..channels {
        for y in 0..big {
            for x in 0..big {
                idx.push(((c * side + y / 2) * side + x / 2) as u32);
            }
        }
    }
    PatchIndex(idx.into())
}

/// Rows of `N` values, `(n, N)`: one per sample, or one per step of a batch of sequences,
/// time-major (row `t·batch + b` is step `t` of sequence `b`).
pub type Rows<const N: usize, T = NoneTape> = Tensor<(usize, Const<N>), f32, Dev, T>;

/// How many whole samples of `d` values `values` holds (one or more), or an error saying that
/// they are not whole `what()` (e.g. `images of 784 pixels`).
pub(crate) fn whole(
    values: &[f32],
    d: usize,
    what: impl FnOnce() -> String,
) -> Result<usize, TaskError> {
    if values.is_empty() || !values.len().is_multiple_of(d) {
        return Err(TaskError::Argument(format!(
            "{} values are not whole {}",
            values.len(),
            what()
        )));
    }
    Ok(values.len() / d)
}

/// Samples of `D` values each, one after the other (`what` names them in the error), as the
/// `(D, n)` batch-last tensor of this crate's convolutional models.
pub(crate) fn batch_last_tensor<const D: usize>(
    dev: &Dev,
    values: &[f32],
    what: impl FnOnce() -> String,
) -> Result<Tensor<(Const<D>, usize), f32, Dev>, TaskError> {
    let n = whole(values, D, what)?;
    Ok(dev.try_tensor_from_vec(batch_last(values, D), (Const::<D>, n))?)
}

/// Rows of `N` values each (`n·N` values) as an `(n, N)` tensor.
pub(crate) fn rows<const N: usize>(dev: &Dev, values: &[f32]) -> Result<Rows<N>, TaskError> {
    let n = whole(values, N, || format!("rows of {N}"))?;
    Ok(dev.try_tensor_from_vec(values.to_vec(), (n, Const::<N>))?)
}

/// The mean squared error of outputs `y` `(n, O)` against `targets` (row-major, as `y`): the
/// loss of the regression models ([`crate::mlp`], [`crate::lstm`]).
pub(crate) fn mse<const O: usize, T: Tape<f32, Dev>>(
    dev: &Dev,
    y: Rows<O, T>,
    targets: &[f32],
) -> Result<Tensor<Rank0, f32, Dev, T>, TaskError> {
    let n = y.shape().0;
    if targets.len() != n * O {
        return Err(TaskError::Argument(format!(
            "{} targets for {n} output rows of {O}",
            targets.len()
        )));
    }
    let targets = dev.try_tensor_from_vec(targets.to_vec(), (n, Const::<O>))?;
    Ok(y.try_sub(targets)?.try_square()?.try_mean()?)
}

/// Rows of `d` values, one per sample (image order), → the batch-last layout `(d, n)` of this
/// crate's models, for `n` = `rows.len() / d` samples.
pub(crate) fn batch_last(rows: &[f32], d: usize) -> Vec<f32> {
    transpose(rows, d)
}

/// The inverse of [`batch_last`]: `(d, n)` batch-last values → one row of `d` per sample.
pub(crate) fn batch_first(cols: &[f32], n: usize) -> Vec<f32> {
    transpose(cols, n)
}

/// The transpose of a row-major matrix with rows of `width` values.
fn transpose(m: &[f32], width: usize) -> Vec<f32> {
    let height = m.len() / width;
    let mut out = vec![0.0f32; m.len()];
    for (r, row) in m.chunks_exact(width).enumerate() {
        for (c, &x) in row.iter().enumerate() {
            out[c * height + r] = x;
        }
    }
    out
}

/// ELU, x for x > 0 and eˣ − 1 otherwise (α = 1), elementwise. dfdx 0.13 has no ELU on stable;
/// this op computes it in one pass and its backward multiplies by 1 or eˣ = ELU(x) + 1.
pub(crate) fn elu<S: Shape, T: Tape<f32, Dev>>(
    x: Tensor<S, f32, Dev, T>,
) -> Result<Tensor<S, f32, Dev, T>, TaskError> {
    let (x, mut tape) = x.split_tape();
    let mut out = x.device().try_zeros_like(x.shape())?;
    let mut v = x.as_vec();
    for e in v.iter_mut() {
        if *e <= 0.0 {
            *e = e.exp_m1();
        }
    }
    out.copy_from(&v);
    if T::OWNS_TAPE {
        let (x_id, out_id) = (x.clone(), out.clone());
        tape.add_backward_op(move |grads| {
            let dout = std::mem::take(&mut **grads.get_or_alloc_mut(&out_id)?);
            let dx = grads.get_or_alloc_mut(&x_id)?;
            for ((d, &g), &y) in dx.iter_mut().zip(&dout).zip(&v) {
                *d += if y > 0.0 { g } else { g * (y + 1.0) };
            }
            **grads.get_or_alloc_mut(&out_id)? = dout;
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

/// A layer (a dense layer, or a convolution's `(out, patch)` weight) with its weight and bias
/// drawn from U(±1/√fan_in) from `rng` (PyTorch's defaults for `Conv2d` and `Linear`), weight
/// first, in storage order. A model built as a struct literal of these draws its layers in the
/// order its fields are written.
pub(crate) fn linear<const I: usize, const O: usize>(
    dev: &Dev,
    rng: &mut ChaCha8Rng,
) -> Linear<I, O, f32, Dev> {
    let bound = 1.0 / (I as f32).sqrt();
    let mut layer = Linear {
        weight: dev.zeros(),
        bias: dev.zeros(),
    };
    layer.weight.copy_from(&uniform(rng, I * O, bound));
    layer.bias.copy_from(&uniform(rng, O, bound));
    layer
}

/// One convolution: gather the patches of `x (IN, n)` into `(Z, n)`, view them as
/// `(PATCH, positions·n)`, multiply by the `(OUT, PATCH)` weight and add the bias:
/// `(OUT, positions·n)`.
pub(crate) fn conv<
    const IN: usize,
    const Z: usize,
    const PATCH: usize,
    const OUT: usize,
    T: Tape<f32, Dev>,
>(
    x: Tensor<(Const<IN>, usize), f32, Dev, T>,
    idx: &PatchIndex,
    layer: &Linear<PATCH, OUT, f32, Dev>,
    positions: usize,
    n: usize,
    input_grad: bool,
) -> Result<Tensor<(Const<OUT>, usize), f32, Dev, T>, TaskError> {
    let cols = gather_rows::<IN, Z, T>(x, idx, input_grad)?;
    let cols = cols.try_reshape_like(&(Const::<PATCH>, positions * n))?;
    let y = layer.weight.retaped::<T>().try_matmul(cols)?;
    add_bias(y, &layer.bias)
}

/// `y[o, j] + bias[o]` for `y (O, m)`. dfdx's broadcast add does the same, but its generic
/// strided backward (the bias gradient, a sum over m = 576 or 64 positions) cost ~15% of an
/// online LeNet update.
pub(crate) fn add_bias<const O: usize, T: Tape<f32, Dev>>(
    y: Tensor<(Const<O>, usize), f32, Dev, T>,
    bias: &Tensor<Rank1<O>, f32, Dev>,
) -> Result<Tensor<(Const<O>, usize), f32, Dev, T>, TaskError> {
    let m = y.shape().1;
    let (y, mut tape) = y.split_tape();
    let mut b = [0.0f32; O];
    bias.copy_into(&mut b);
    // One copy of y, biased in place and handed to the output tensor.
    let mut data = y.as_vec();
    for (row, &b) in data.chunks_exact_mut(m).zip(&b) {
        row.iter_mut().for_each(|v| *v += b);
    }
    let out = y.device().try_tensor_from_vec(data, (Const::<O>, m))?;
    if T::OWNS_TAPE {
        let (y_id, b_id, out_id) = (y.clone(), bias.clone(), out.clone());
        tape.add_backward_op(move |grads| {
            let dout = std::mem::take(&mut **grads.get_or_alloc_mut(&out_id)?);
            let dy = grads.get_or_alloc_mut(&y_id)?;
            for (d, &g) in dy.iter_mut().zip(&dout) {
                *d += g;
            }
            let db = grads.get_or_alloc_mut(&b_id)?;
            for (d, row) in db.iter_mut().zip(dout.chunks_exact(m)) {
                *d += row.iter().sum::<f32>();
            }
            **grads.get_or_alloc_mut(&out_id)? = dout;
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

thread_local! {
    /// Host copies of op inputs and outputs, reused across calls (no page faults per op).
    pub(crate) static SCRATCH: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Scratch buffers larger than this many floats (16 MiB) are freed after use rather than kept.
const SCRATCH_KEEP: usize = 1 << 22;

pub(crate) fn trim(bufs: &mut (Vec<f32>, Vec<f32>)) {
    for b in [&mut bufs.0, &mut bufs.1] {
        if b.capacity() > SCRATCH_KEEP {
            *b = Vec::new();
        }
    }
}

/// Indexed gather of rows: `out[z, b] = x[idx[z], b]` for `x (IN, n)` and `idx` of length `Z`
/// (entries < `IN`, or [`PAD`] for a zero: a convolution's padding). Backward scatters:
/// `dx[idx[z], b] += dout[z, b]` (nothing for [`PAD`]), unless `input_grad` is false (a
/// network's images need no gradient; the tape still flows on to the weights).
pub(crate) fn gather_rows<const IN: usize, const Z: usize, T: Tape<f32, Dev>>(
    x: Tensor<(Const<IN>, usize), f32, Dev, T>,
    idx: &PatchIndex,
    input_grad: bool,
) -> Result<Tensor<(Const<Z>, usize), f32, Dev, T>, TaskError> {
    debug_assert_eq!(idx.0.len(), Z);
    let n = x.shape().1;
    let (x, mut tape) = x.split_tape();
    // The patch matrix is written once, straight into the Vec the tensor takes over (no
    // zeroing, no second copy): at 28×28 it is 9·channels times the size of the input.
    let mut data = Vec::new();
    data.try_reserve_exact(Z * n)
        .map_err(|e| TaskError::Device(format!("a {Z}×{n} patch matrix: {e}")))?;
    SCRATCH.with_borrow_mut(|bufs| {
        let inp = &mut bufs.0;
        inp.resize(IN * n, 0.0);
        x.copy_into(inp);
        if n == 1 {
            data.extend(
                idx.0
                    .iter()
                    .map(|&i| if i == PAD { 0.0 } else { inp[i as usize] }),
            );
        } else {
            for &i in idx.0.iter() {
                if i == PAD {
                    data.resize(data.len() + n, 0.0);
                } else {
                    let i = i as usize;
                    data.extend_from_slice(&inp[i * n..(i + 1) * n]);
                }
            }
        }
        trim(bufs);
    });
    let out = x.device().try_tensor_from_vec(data, (Const::<Z>, n))?;
    if T::OWNS_TAPE && input_grad {
        let (x_id, out_id, idx) = (x.clone(), out.clone(), idx.clone());
        tape.add_backward_op(move |grads| {
            let dout = std::mem::take(&mut **grads.get_or_alloc_mut(&out_id)?);
            let dx = grads.get_or_alloc_mut(&x_id)?;
            if n == 1 {
                for (&g, &i) in dout.iter().zip(idx.0.iter()) {
                    if i != PAD {
                        dx[i as usize] += g;
                    }
                }
            } else {
                for (g, &i) in dout.chunks_exact(n).zip(idx.0.iter()) {
                    if i == PAD {
                        continue;
                    }
                    let i = i as usize;
                    for (d, &g) in dx[i * n..(i + 1) * n].iter_mut().zip(g) {
                        *d += g;
                    }
                }
            }
            **grads.get_or_alloc_mut(&out_id)? = dout;
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

/// A fully connected layer on `(I, n)`: `W x + b`, `(O, n)`.
pub(crate) fn dense<const I: usize, const O: usize, T: Tape<f32, Dev>>(
    x: Tensor<(Const<I>, usize), f32, Dev, T>,
    layer: &Linear<I, O, f32, Dev>,
) -> Result<Tensor<(Const<O>, usize), f32, Dev, T>, TaskError> {
    let y = layer.weight.retaped::<T>().try_matmul(x)?;
    add_bias(y, &layer.bias)
}

#[cfg(test)]
// The checks index the analytic gradient, the inputs and the finite differences together.
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;
    use crate::testing::{assert_gradient, fd, random, rel_err, within};
    use rand_chacha::rand_core::SeedableRng;

    /// 2 channels of 7×7 → 3 channels, 3×3, stride 2, pad 1 → 4×4.
    const CIN: usize = 2;
    const SIDE: usize = 7;
    const COUT: usize = 3;
    const G: ConvGeometry = ConvGeometry {
        kernel: 3,
        stride: 2,
        pad: 1,
    };
    const OUT: usize = G.out(SIDE);
    const IN: usize = CIN * SIDE * SIDE;
    const PATCH: usize = CIN * 9;
    const Z: usize = PATCH * OUT * OUT;

    fn layer(dev: &Dev, seed: u64) -> Linear<PATCH, COUT, f32, Dev> {
        linear(dev, &mut ChaCha8Rng::seed_from_u64(seed))
    }

    #[test]
    fn padded_strided_conv_matches_direct_convolution() {
        assert_eq!(OUT, 4);
        let dev = Dev::default();
        let l = layer(&dev, 1);
        let n = 2;
        let xs = random(IN * n, 2, 1.0);
        let idx = conv_index(CIN, SIDE, G);
        let x = dev.tensor_from_vec(xs.clone(), (Const::<IN>, n));
        let y = conv::<IN, Z, PATCH, COUT, NoneTape>(x, &idx, &l, OUT * OUT, n, false)
            .unwrap()
            .as_vec();
        let (w, b) = (l.weight.as_vec(), l.bias.as_vec());
        for o in 0..COUT {
            for oy in 0..OUT {
                for ox in 0..OUT {
                    for s in 0..n {
                        let mut want = b[o];
                        for c in 0..CIN {
                            for ky in 0..3 {
                                for kx in 0..3 {
                                    let (iy, ix) = (2 * oy + ky, 2 * ox + kx);
                                    if iy == 0 || ix == 0 || iy > SIDE || ix > SIDE {
                                        continue; // padding
                                    }
                                    let v = xs[((c * SIDE + iy - 1) * SIDE + ix - 1) * n + s];
                                    want += w[o * PATCH + (c * 3 + ky) * 3 + kx] * v;
                                }
                            }
                        }
                        let got = y[((o * OUT + oy) * OUT + ox) * n + s];
                        assert!((got - want).abs() < 1e-5, "{o} {oy} {ox} {s}: {got} {want}");
                    }
                }
            }
        }
    }

    /// Gradients of Σ r ⊙ conv(x) with padding and stride: input, weight, bias.
    #[test]
    fn padded_strided_conv_gradients_match_finite_differences() {
        let dev = Dev::default();
        let l = layer(&dev, 3);
        let n = 2;
        let idx = conv_index(CIN, SIDE, G);
        let xs = random(IN * n, 4, 1.0);
        let r = dev.tensor_from_vec(
            random(COUT * OUT * OUT * n, 5, 1.0),
            (Const::<COUT>, OUT * OUT * n),
        );
        let eval = |l: &Linear<PATCH, COUT, f32, Dev>, xs: &[f32]| -> f32 {
            let x = dev.tensor_from_vec(xs.to_vec(), (Const::<IN>, n));
            let y = conv::<IN, Z, PATCH, COUT, NoneTape>(x, &idx, l, OUT * OUT, n, true).unwrap();
            (y * r.clone()).sum::<Rank0, _>().array()
        };
        let x = dev.tensor_from_vec(xs.clone(), (Const::<IN>, n));
        let y =
            conv::<IN, Z, PATCH, COUT, _>(x.leaky_trace(), &idx, &l, OUT * OUT, n, true).unwrap();
        let g = (y * r.clone()).sum::<Rank0, _>().backward();
        let (gx, gw, gb) = (
            g.get(&x).as_vec(),
            g.get(&l.weight).as_vec(),
            g.get(&l.bias).as_vec(),
        );
        // Every input coordinate: corners, edges and the centre see different numbers of taps.
        assert_gradient("x", &gx, &xs, 0..IN * n, 1e-2, within(1e-2), |xs| {
            eval(&l, xs)
        });
        let w = l.weight.as_vec();
        assert_gradient("w", &gw, &w, 0..PATCH * COUT, 1e-2, within(1e-2), |w| {
            let mut l2 = l.clone();
            l2.weight.copy_from(w);
            eval(&l2, &xs)
        });
        let b = l.bias.as_vec();
        assert_gradient("b", &gb, &b, 0..COUT, 1e-2, within(1e-2), |b| {
            let mut l2 = l.clone();
            l2.bias.copy_from(b);
            eval(&l2, &xs)
        });
    }

    #[test]
    fn upsampling_copies_and_sums_back() {
        const C: usize = 2;
        const S: usize = 3;
        const BIG: usize = C * 4 * S * S;
        let dev = Dev::default();
        let n = 2;
        let idx = upsample_index(C, S);
        let xs = random(C * S * S * n, 6, 1.0);
        let r = dev.tensor_from_vec(random(BIG * n, 7, 1.0), (Const::<BIG>, n));
        let x = dev.tensor_from_vec(xs.clone(), (Const::<{ C * S * S }>, n));
        let y = gather_rows::<{ C * S * S }, BIG, _>(x.leaky_trace(), &idx, true).unwrap();
        let out = y.as_vec();
        for c in 0..C {
            for yy in 0..2 * S {
                for xx in 0..2 * S {
                    for s in 0..n {
                        let got = out[((c * 2 * S + yy) * 2 * S + xx) * n + s];
                        assert_eq!(got, xs[((c * S + yy / 2) * S + xx / 2) * n + s]);
                    }
                }
            }
        }
        let gx = (y * r.clone())
            .sum::<Rank0, _>()
            .backward()
            .get(&x)
            .as_vec();
        assert_gradient("x", &gx, &xs, 0..xs.len(), 1e-2, within(1e-3), |xs| {
            let x = dev.tensor_from_vec(xs.to_vec(), (Const::<{ C * S * S }>, n));
            let y = gather_rows::<{ C * S * S }, BIG, NoneTape>(x, &idx, true).unwrap();
            (y * r.clone()).sum::<Rank0, _>().array()
        });
    }

    #[test]
    fn elu_values_and_gradients() {
        let dev = Dev::default();
        let mut xs = random(64, 8, 3.0);
        xs[0] = 0.0;
        xs[1] = -1e-3;
        xs[2] = 1e-3;
        let y = elu(dev.tensor_from_vec(xs.clone(), (64,)).leaky_trace()).unwrap();
        for (&v, &x) in y.as_vec().iter().zip(&xs) {
            let want = if x > 0.0 { x } else { x.exp() - 1.0 };
            assert!((v - want).abs() < 1e-6, "elu({x}) = {v}, want {want}");
        }
        let r = dev.tensor_from_vec(random(64, 9, 1.0), (64,));
        let x = dev.tensor_from_vec(xs.clone(), (64,));
        let y = elu(x.leaky_trace()).unwrap();
        let gx = (y * r.clone())
            .sum::<Rank0, _>()
            .backward()
            .get(&x)
            .as_vec();
        let rs = r.as_vec();
        for i in 0..64 {
            // Each coordinate on its own (no rounding of a 64-term sum in the difference); a
            // step below |x| keeps it on one side of 0, where ELU's second derivative jumps.
            let h = if xs[i] == 0.0 {
                1e-3
            } else {
                (xs[i].abs() / 2.0).min(1e-2)
            };
            let want = fd(&mut xs[i..=i], 0, h, |x| {
                elu(dev.tensor_from_vec(x.to_vec(), (1,))).unwrap().as_vec()[0] * rs[i]
            });
            assert!(
                rel_err(gx[i], want, 1e-1) < 2e-3,
                "x[{i}] = {}: {} vs {want}",
                xs[i],
                gx[i]
            );
        }
    }
}
