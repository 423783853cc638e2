//! BEGAN's two networks (see [the module docs](super)): the players' tensors, the gather
//! indices of their convolutions and upsamplings, the encoder and decoder passes, and the
//! per-image reconstruction loss the discriminator scores images by.

use dfdx::nn::modules::Linear;
use dfdx::prelude::*;
use rand_chacha::ChaCha8Rng;

use crate::layers::{
    conv, conv_index, dense, elu, gather_rows, linear, upsample_index, ConvGeometry, Dev,
    PatchIndex,
};
use crate::mnist::{PIXELS, SIDE};
use crate::model::tensor_collection;
use crate::TaskError;

/// Filters of the first convolutions (the encoder's last has 2·NF).
pub const NF: usize = 8;
/// Dimension of the discriminator's embedding h and of the generator's noise z.
pub const H: usize = 16;
/// Side of the smallest feature maps (28 / 4).
const S7: usize = SIDE / 4;
/// Side of the middle feature maps.
const S14: usize = SIDE / 2;
/// Taps of a 3×3 convolution over one and over NF channels.
const P1: usize = 9;
const PNF: usize = 9 * NF;
/// Features of NF maps at each scale, and of the encoder's 2·NF maps at 7×7.
const F7: usize = NF * S7 * S7; // 392
const F14: usize = NF * S14 * S14; // 1,568
const F28: usize = NF * SIDE * SIDE; // 6,272
const E7: usize = 2 * NF * S7 * S7; // 784
/// Gathered patch rows of each convolution.
const Z_E1: usize = P1 * SIDE * SIDE;
const Z_14: usize = PNF * S14 * S14;
const Z_7: usize = PNF * S7 * S7;
const Z_28: usize = PNF * SIDE * SIDE;
/// 3×3, stride 1, zero padding 1: the side stays.
const SAME: ConvGeometry = ConvGeometry {
    kernel: 3,
    stride: 1,
    pad: 1,
};
/// 3×3, stride 2, zero padding 1: the side halves.
const DOWN: ConvGeometry = ConvGeometry {
    kernel: 3,
    stride: 2,
    pad: 1,
};

/// The decoder's (and the generator's) tensors: `fc`, `conv1`, `conv2`, `conv3` (a conv weight
/// `(out, in·3·3)` flattened as PyTorch lays it out).
#[derive(Debug, Clone)]
pub struct DecoderParams<E: Dtype, D: Storage<E>> {
    /// h (or z) → NF×7×7.
    pub fc: Linear<H, F7, E, D>,
    /// NF → NF at 7×7.
    pub conv1: Linear<PNF, NF, E, D>,
    /// NF → NF at 14×14.
    pub conv2: Linear<PNF, NF, E, D>,
    /// NF → 1 at 28×28: the image.
    pub conv3: Linear<PNF, 1, E, D>,
}

/// The encoder's tensors: `conv1`, `conv2`, `conv3`, `fc`.
#[derive(Debug, Clone)]
pub struct EncoderParams<E: Dtype, D: Storage<E>> {
    /// 1 → NF at 28×28.
    pub conv1: Linear<P1, NF, E, D>,
    /// NF → NF, stride 2: 28×28 → 14×14.
    pub conv2: Linear<PNF, NF, E, D>,
    /// NF → 2·NF, stride 2: 14×14 → 7×7.
    pub conv3: Linear<PNF, { 2 * NF }, E, D>,
    /// 2·NF×7×7 → h.
    pub fc: Linear<E7, H, E, D>,
}

/// The discriminator's tensors: `enc.*` and `dec.*`.
#[derive(Debug, Clone)]
pub struct DiscriminatorParams<E: Dtype, D: Storage<E>> {
    /// The encoder.
    pub enc: EncoderParams<E, D>,
    /// The decoder.
    pub dec: DecoderParams<E, D>,
}

tensor_collection!(DecoderParams<E, D> { fc, conv1, conv2, conv3 });
tensor_collection!(EncoderParams<E, D> { conv1, conv2, conv3, fc });
tensor_collection!(DiscriminatorParams<E, D> { enc, dec });

/// Images laid out batch last: `(784 pixels, batch)`, pixels in [−1, 1].
pub type Images<T = NoneTape> = Tensor<(Const<PIXELS>, usize), f32, Dev, T>;
/// Codes (noise z or embeddings h), `(H, batch)`.
pub type Codes<T = NoneTape> = Tensor<(Const<H>, usize), f32, Dev, T>;

/// The precomputed gather indices of both networks (shared by clones).
#[derive(Debug, Clone)]
pub(super) struct Indices {
    /// Encoder: 1 channel 28×28, same; NF 28×28 → 14×14; NF 14×14 → 7×7.
    e1: PatchIndex,
    e2: PatchIndex,
    e3: PatchIndex,
    /// Decoder: NF 7×7 same; 7 → 14 upsample; NF 14×14 same; 14 → 28 upsample; NF 28×28 same.
    d1: PatchIndex,
    up1: PatchIndex,
    d2: PatchIndex,
    up2: PatchIndex,
    d3: PatchIndex,
}

impl Indices {
    pub(super) fn new() -> Self {
        Indices {
            e1: conv_index(1, SIDE, SAME),
            e2: conv_index(NF, SIDE, DOWN),
            e3: conv_index(NF, S14, DOWN),
            d1: conv_index(NF, S7, SAME),
            up1: upsample_index(NF, S7),
            d2: conv_index(NF, S14, SAME),
            up2: upsample_index(NF, S14),
            d3: conv_index(NF, SIDE, SAME),
        }
    }
}

/// `(C, positions·n)` → `(C·positions, n)`: the next layer's feature-major view (no copy of
/// meaning: the row-major order is already `(C, y, x, n)`).
fn flat<const C: usize, const F: usize, T: Tape<f32, Dev>>(
    y: Tensor<(Const<C>, usize), f32, Dev, T>,
    n: usize,
) -> Result<Tensor<(Const<F>, usize), f32, Dev, T>, TaskError> {
    Ok(y.try_reshape_like(&(Const::<F>, n))?)
}

/// The decoder (the generator's shape): codes `(H, n)` → images `(784, n)`.
pub(super) fn decode<T: Tape<f32, Dev>>(
    p: &DecoderParams<f32, Dev>,
    idx: &Indices,
    h: Codes<T>,
) -> Result<Images<T>, TaskError> {
    let n = h.shape().1;
    let y = dense::<H, F7, T>(h, &p.fc)?;
    let y = conv::<F7, Z_7, PNF, NF, T>(y, &idx.d1, &p.conv1, S7 * S7, n, true)?;
    let y = elu(flat::<NF, F7, T>(y, n)?)?;
    let y = gather_rows::<F7, F14, T>(y, &idx.up1, true)?;
    let y = conv::<F14, Z_14, PNF, NF, T>(y, &idx.d2, &p.conv2, S14 * S14, n, true)?;
    let y = elu(flat::<NF, F14, T>(y, n)?)?;
    let y = gather_rows::<F14, F28, T>(y, &idx.up2, true)?;
    let y = conv::<F28, Z_28, PNF, 1, T>(y, &idx.d3, &p.conv3, SIDE * SIDE, n, true)?;
    flat::<1, PIXELS, T>(y, n)
}

/// The encoder: images `(784, n)` → embeddings `(H, n)`. `input_grad`: whether the images
/// need a gradient (a generator's samples do, real images do not).
pub(super) fn encode<T: Tape<f32, Dev>>(
    p: &EncoderParams<f32, Dev>,
    idx: &Indices,
    x: Images<T>,
    input_grad: bool,
) -> Result<Codes<T>, TaskError> {
    let n = x.shape().1;
    let y = conv::<PIXELS, Z_E1, P1, NF, T>(x, &idx.e1, &p.conv1, SIDE * SIDE, n, input_grad)?;
    let y = elu(flat::<NF, F28, T>(y, n)?)?;
    let y = conv::<F28, Z_14, PNF, NF, T>(y, &idx.e2, &p.conv2, S14 * S14, n, true)?;
    let y = elu(flat::<NF, F14, T>(y, n)?)?;
    let y = conv::<F14, Z_7, PNF, { 2 * NF }, T>(y, &idx.e3, &p.conv3, S7 * S7, n, true)?;
    let y = elu(flat::<{ 2 * NF }, E7, T>(y, n)?)?;
    dense::<E7, H, T>(y, &p.fc)
}

/// Per-image reconstruction losses mean_pixels |v − D(v)| of the discriminator's reconstruction
/// `recon` of `v`, `(n,)`.
pub(super) fn recon_losses<T, T2>(
    recon: Images<T>,
    v: Images<T2>,
) -> Result<Tensor<(usize,), f32, Dev, T>, TaskError>
where
    T: Tape<f32, Dev> + Merge<T2>,
    T2: Tape<f32, Dev>,
{
    Ok(recon
        .try_sub(v)?
        .try_abs()?
        .try_mean::<(usize,), Axis<0>>()?)
}
/// A decoder with fresh U(±1/√fan_in) weights drawn from `rng` in field order.
pub(super) fn decoder(dev: &Dev, rng: &mut ChaCha8Rng) -> DecoderParams<f32, Dev> {
    DecoderParams {
        fc: linear(dev, rng),
        conv1: linear(dev, rng),
        conv2: linear(dev, rng),
        conv3: linear(dev, rng),
    }
}
