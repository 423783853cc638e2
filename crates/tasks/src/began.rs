//! BEGAN, the Boundary Equilibrium GAN of Berthelot, Schumm and Metz (2017), on MNIST: the
//! workshop paper's third experiment, scaled to run on two CPU cores.
//!
//! # The model
//!
//! The discriminator is an autoencoder and scores an image by how badly it reconstructs it,
//! L(v) = mean |v − D(v)| (per image, over its pixels); the generator G has the shape of the
//! discriminator's decoder. With γ = 0.5 and λ_k = 0.001 (the paper's values), each iteration
//!
//! - L_D = L(x) − k_t·L(G(z_D)) steps the discriminator,
//! - L_G = L(G(z_G)) steps the generator,
//! - k_{t+1} = clamp(k_t + λ_k·(γ·L(x) − L(G(z_G))), 0, 1),
//!
//! and M_global = L(x) + |γ·L(x) − L(G(z_G))| measures convergence (the quantity the
//! workshop paper's Figure 2 plots). z_D and z_G are two independent draws from U(−1, 1)^[`H`],
//! as in the paper.
//!
//! Sizes ([`NF`] = 8 filters, embedding and noise [`H`] = 16, batches of 8 real images), with
//! 3×3 convolutions (zero padding 1) and ELU after every convolution but the last:
//!
//! - encoder: `1×28×28 → conv NF → conv NF, stride 2 (14×14) → conv 2NF, stride 2 (7×7) →
//!   fc 784 → H`;
//! - decoder (and generator): `fc H → NF×7×7 → conv NF → 2× upsample → conv NF (14×14) → 2×
//!   upsample → conv 1 (28×28)`, no output activation (the images are scaled to [−1, 1]).
//!
//! The paper's MNIST-scale BEGAN has 64 filters, blocks of two convolutions per scale and
//! batches of 16. These sizes cost 15–19 ms per iteration on a free core (the harness's
//! µs/update; the `began` example measures the same loop), so that the harness can run every
//! arm over five seeds for 1,500 iterations within 30 minutes on two cores. Batches of 8
//! rather than 16 halve the cost and, on the development seed, lowered held-out M_global per
//! iteration as fast (Adam at 1e−3 after 2,000 iterations: 0.146 at batch 8, 0.177 at 16).
//! What the budget does not buy is BEGAN's own training length: k_t moves by λ_k·(γ·L(x) −
//! L(G(z))) ≈ 5·10⁻⁵ per iteration, so the discriminator hardly pushes back on the generator
//! within a few thousand iterations, and the generators of these runs draw near-blank or
//! blurred images (the reference setting drew "1"s after 6,000 iterations): M_global falls,
//! the Fréchet distance of [`BeganMnist::with_fid`] mostly does not.
//!
//! Subsampling uses strided convolutions and upsampling nearest neighbours, as in the paper.
//! dfdx 0.13 has neither convolutions nor ELU on stable Rust: they come from this crate's
//! im2col layers, each checked against finite differences.

use std::sync::Arc;

use dfdx::nn::modules::Linear;
use dfdx::nn::tensor_collection::{ModuleVisitor, TensorCollection};
use dfdx::prelude::*;
use lrmem_optimizers::Optimizer;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::adapter::Adapter;
use crate::fid::{frechet_distance, FeatureNet, Gaussian};
use crate::layers::{
    batch_first, batch_last, conv, conv_index, dense, elu, gather_rows, init_uniform, uniform,
    upsample_index, ConvGeometry, Dev, PatchIndex,
};
use crate::mnist::{PIXELS, SIDE};
use crate::task::{no_task, Check, Evals, Metric, Picture, Task, TaskFamily};
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

/// Images per forward pass of the evaluations: their im2col patch matrices then stay small
/// (≈ 7 MB at 28×28 rather than 58 MB for 256 images, which took twice as long).
const CHUNK: usize = 32;

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

impl<E, D> TensorCollection<E, D> for DecoderParams<E, D>
where
    E: Dtype + num_traits::Float + rand_distr::uniform::SampleUniform,
    D: Device<E>,
{
    type To<E2: Dtype, D2: Device<E2>> = DecoderParams<E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("fc", |s| &s.fc, |s| &mut s.fc),
                Self::module("conv1", |s| &s.conv1, |s| &mut s.conv1),
                Self::module("conv2", |s| &s.conv2, |s| &mut s.conv2),
                Self::module("conv3", |s| &s.conv3, |s| &mut s.conv3),
            ),
            |(fc, conv1, conv2, conv3)| DecoderParams {
                fc,
                conv1,
                conv2,
                conv3,
            },
        )
    }
}

impl<E, D> TensorCollection<E, D> for EncoderParams<E, D>
where
    E: Dtype + num_traits::Float + rand_distr::uniform::SampleUniform,
    D: Device<E>,
{
    type To<E2: Dtype, D2: Device<E2>> = EncoderParams<E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("conv1", |s| &s.conv1, |s| &mut s.conv1),
                Self::module("conv2", |s| &s.conv2, |s| &mut s.conv2),
                Self::module("conv3", |s| &s.conv3, |s| &mut s.conv3),
                Self::module("fc", |s| &s.fc, |s| &mut s.fc),
            ),
            |(conv1, conv2, conv3, fc)| EncoderParams {
                conv1,
                conv2,
                conv3,
                fc,
            },
        )
    }
}

impl<E, D> TensorCollection<E, D> for DiscriminatorParams<E, D>
where
    E: Dtype + num_traits::Float + rand_distr::uniform::SampleUniform,
    D: Device<E>,
{
    type To<E2: Dtype, D2: Device<E2>> = DiscriminatorParams<E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("enc", |s| &s.enc, |s| &mut s.enc),
                Self::module("dec", |s| &s.dec, |s| &mut s.dec),
            ),
            |(enc, dec)| DiscriminatorParams { enc, dec },
        )
    }
}

/// Images laid out batch last: `(784 pixels, batch)`, pixels in [−1, 1].
pub type Images<T = NoneTape> = Tensor<(Const<PIXELS>, usize), f32, Dev, T>;
/// Codes (noise z or embeddings h), `(H, batch)`.
pub type Codes<T = NoneTape> = Tensor<(Const<H>, usize), f32, Dev, T>;

/// The precomputed gather indices of both networks (shared by clones).
#[derive(Debug, Clone)]
struct Indices {
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
    fn new() -> Self {
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
fn decode<T: Tape<f32, Dev>>(
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
fn encode<T: Tape<f32, Dev>>(
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
fn recon_losses<T, T2>(
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

/// The settings of BEGAN's training ([`Began::new`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeganConfig {
    /// γ, the diversity ratio E[L(G(z))] / E[L(x)] the equilibrium aims at. Default 0.5 (the
    /// workshop paper's). In (0, 1].
    pub gamma: f32,
    /// λ_k, the proportional gain of k_t. Default 0.001 (the BEGAN paper's). In (0, 1].
    pub lambda_k: f32,
    /// Real images per iteration (and generated images per loss). Default 8.
    pub batch: usize,
}

impl Default for BeganConfig {
    fn default() -> Self {
        BeganConfig {
            gamma: 0.5,
            lambda_k: 0.001,
            batch: 8,
        }
    }
}

impl BeganConfig {
    /// Checks the settings against their documented ranges.
    pub fn validated(self) -> Result<Self, TaskError> {
        let unit = |v: f32| v > 0.0 && v <= 1.0;
        if !unit(self.gamma) || !unit(self.lambda_k) || self.batch == 0 || self.batch > 4096 {
            return Err(TaskError::Argument(format!(
                "BEGAN with gamma {}, lambda_k {} and batch {}: gamma and lambda_k must lie in \
                 (0, 1], the batch in 1..=4096 (defaults 0.5, 0.001, 8)",
                self.gamma, self.lambda_k, self.batch
            )));
        }
        Ok(self)
    }
}

/// What one training iteration measured (before its steps).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeganStep {
    /// L(x), the real batch's mean reconstruction loss.
    pub real: f32,
    /// L(G(z_D)), the generated batch the discriminator was trained on.
    pub fake_d: f32,
    /// L(G(z_G)), the generated batch the generator was trained on.
    pub fake_g: f32,
    /// k_t after this iteration's update.
    pub k: f32,
    /// M_global = L(x) + |γ·L(x) − L(G(z_G))|.
    pub m_global: f32,
}

/// BEGAN's two players, their adapters and k_t, trained one iteration at a time with an
/// optimizer per player.
///
/// ```
/// use lrmem_tasks::began::Began;
/// use lrmem_optimizers::{Adam, AdamConfig};
///
/// let mut gan = Began::new(Default::default(), 0)?;
/// let adam = || Adam::new(AdamConfig { lr: 1e-4, ..AdamConfig::default() });
/// let (mut g, mut d) = (adam()?, adam()?);
/// let real = vec![-1.0f32; 784 * 8]; // a batch of blank images in [−1, 1]
/// let step = gan.step(&real, &mut g, &mut d)?;
/// assert!(step.m_global.is_finite() && step.k >= 0.0);
/// let z = gan.noise(4);
/// assert_eq!(gan.sample(&z)?.len(), 4 * 784);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Began {
    /// The generator's tensors (`fc.*`, `conv1.*`, …).
    pub generator: DecoderParams<f32, Dev>,
    /// The discriminator's tensors (`enc.*`, `dec.*`).
    pub discriminator: DiscriminatorParams<f32, Dev>,
    cfg: BeganConfig,
    dev: Dev,
    idx: Arc<Indices>,
    adapter_g: Adapter,
    adapter_d: Adapter,
    grads_g: Option<Gradients<f32, Dev>>,
    grads_d: Option<Gradients<f32, Dev>>,
    /// The players at their optimizers' evaluation points after the latest step, where the
    /// optimizers have one (Schedule-Free's x, DoG's average); `None`: the players themselves.
    eval_g: Option<DecoderParams<f32, Dev>>,
    eval_d: Option<DiscriminatorParams<f32, Dev>>,
    k: f32,
    rng: ChaCha8Rng,
    iterations: usize,
}

impl Began {
    /// Both players initialised from `seed` (PyTorch's default U(±1/√fan_in), ChaCha8 stream
    /// 1: generator first, then encoder and decoder), k_0 = 0, and the noise drawn from stream
    /// 2 of `seed`.
    pub fn new(cfg: BeganConfig, seed: u64) -> Result<Self, TaskError> {
        let cfg = cfg.validated()?;
        dfdx::flush_denormals_to_zero();
        let dev = Dev::default();
        // Not `dev.enable_cache()`: the im2col ops hand fresh Vecs to their tensors, which the
        // cache would keep (and every later allocation would fault in anew); without it the
        // allocator reuses freed blocks. Measured 6.2 s against 6.3–7.2 s for 200 iterations.
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(1);
        let generator = decoder(&dev, &mut rng);
        let mut enc = EncoderParams {
            conv1: dev.build_module::<dfdx::nn::builders::Linear<P1, NF>, f32>(),
            conv2: dev.build_module::<dfdx::nn::builders::Linear<PNF, NF>, f32>(),
            conv3: dev.build_module::<dfdx::nn::builders::Linear<PNF, { 2 * NF }>, f32>(),
            fc: dev.build_module::<dfdx::nn::builders::Linear<E7, H>, f32>(),
        };
        init_uniform(&mut enc.conv1, &mut rng);
        init_uniform(&mut enc.conv2, &mut rng);
        init_uniform(&mut enc.conv3, &mut rng);
        init_uniform(&mut enc.fc, &mut rng);
        let discriminator = DiscriminatorParams {
            enc,
            dec: decoder(&dev, &mut rng),
        };
        let adapter_g = Adapter::new(&generator)?;
        let adapter_d = Adapter::new(&discriminator)?;
        let mut noise = ChaCha8Rng::seed_from_u64(seed);
        noise.set_stream(2);
        Ok(Began {
            grads_g: Some(adapter_g.fresh_grads()),
            grads_d: Some(adapter_d.fresh_grads()),
            generator,
            discriminator,
            cfg,
            dev,
            idx: Arc::new(Indices::new()),
            adapter_g,
            adapter_d,
            eval_g: None,
            eval_d: None,
            k: 0.0,
            rng: noise,
            iterations: 0,
        })
    }

    /// The settings.
    pub fn config(&self) -> &BeganConfig {
        &self.cfg
    }

    /// k_t, the weight of the generated images in the discriminator's loss.
    pub fn k(&self) -> f32 {
        self.k
    }

    /// Iterations done.
    pub fn iterations(&self) -> usize {
        self.iterations
    }

    /// `n` noise vectors z ~ U(−1, 1)^H from the model's seeded stream, `n·H` values.
    pub fn noise(&mut self, n: usize) -> Vec<f32> {
        noise(&mut self.rng, n)
    }

    /// Generated images for the noise vectors `z` (`n·H` values), `n·784` pixels in image
    /// order (image 0's pixels first), by the generator at its optimizer's evaluation point
    /// where it has one (see [`Began::step`]).
    pub fn sample(&self, z: &[f32]) -> Result<Vec<f32>, TaskError> {
        let n = whole_codes(z)?;
        let g = self.eval_g.as_ref().unwrap_or(&self.generator);
        let mut out = Vec::with_capacity(n * PIXELS);
        for chunk in z.chunks(CHUNK * H) {
            let z = self.codes(chunk)?;
            let n = z.shape().1;
            out.extend(batch_first(&decode(g, &self.idx, z)?.as_vec(), n));
        }
        Ok(out)
    }

    /// The discriminator's reconstruction loss L(v) of each image of `images` (`n·784`
    /// pixels in image order, in [−1, 1]), by the discriminator at its optimizer's evaluation
    /// point where it has one (see [`Began::step`]).
    pub fn reconstruction_losses(&self, images: &[f32]) -> Result<Vec<f32>, TaskError> {
        let n = whole_images(images)?;
        let d = self.eval_d.as_ref().unwrap_or(&self.discriminator);
        let mut out = Vec::with_capacity(n);
        for chunk in images.chunks(CHUNK * PIXELS) {
            let v = self.images(chunk)?;
            let h = encode(&d.enc, &self.idx, v.clone(), false)?;
            let recon = decode(&d.dec, &self.idx, h)?;
            out.extend(recon_losses(recon, v)?.as_vec());
        }
        Ok(out)
    }

    /// One BEGAN iteration on `real` (`batch·784` pixels in image order, in [−1, 1]): the
    /// discriminator steps with `opt_d` on L_D, the generator with `opt_g` on L_G, then k_t
    /// moves. Non-finite losses are a [`TaskError::Diverged`], before anything steps; an
    /// optimizer's error is returned after the players that stepped before it (the
    /// discriminator first) kept their step, as each optimizer's state stays consistent with
    /// its own player, and k_t and the noise stream stay where they were.
    ///
    /// Optimizers that train at one point and answer at another (Schedule-Free's x, DoG's
    /// average: [`Optimizer::eval_params`]) leave a copy of their player there, which
    /// [`Began::sample`] and [`Began::reconstruction_losses`] use: the held-out numbers are
    /// those of the model such an optimizer would hand over.
    pub fn step(
        &mut self,
        real: &[f32],
        opt_g: &mut dyn Optimizer,
        opt_d: &mut dyn Optimizer,
    ) -> Result<BeganStep, TaskError> {
        dfdx::flush_denormals_to_zero();
        let b = self.cfg.batch;
        if real.len() != b * PIXELS {
            return Err(TaskError::Argument(format!(
                "{} pixels for a batch of {b} images of {PIXELS}",
                real.len()
            )));
        }
        let gamma = self.cfg.gamma;
        // The stream moves on only when the iteration succeeds (an error changes nothing here).
        let mut rng = self.rng.clone();
        let z_d = noise(&mut rng, b);
        let z_g = noise(&mut rng, b);
        let grads_d = self
            .grads_d
            .take()
            .unwrap_or_else(|| self.adapter_d.fresh_grads());
        let grads_g = self
            .grads_g
            .take()
            .unwrap_or_else(|| self.adapter_g.fresh_grads());
        let Losses {
            d: loss_d,
            g: loss_g,
            real: l_real,
            fake_d: l_fake_d,
            fake_g: l_fake_g,
        } = self.losses(real, &z_d, &z_g, grads_d, grads_g)?;
        if !(l_real.is_finite() && l_fake_d.is_finite() && l_fake_g.is_finite()) {
            return Err(TaskError::Diverged {
                what: format!(
                    "BEGAN's losses L(x) {l_real}, L(G(z_D)) {l_fake_d}, L(G(z_G)) {l_fake_g}"
                ),
                iteration: self.iterations,
            });
        }
        let mut gd = loss_d.try_backward()?;
        let mut gg = loss_g.try_backward()?;
        let stepped_d = self
            .adapter_d
            .update(&mut self.discriminator, &mut gd, opt_d);
        self.discriminator.try_zero_grads(&mut gd)?;
        self.grads_d = Some(gd);
        stepped_d?;
        let stepped_g = self.adapter_g.update(&mut self.generator, &mut gg, opt_g);
        self.generator.try_zero_grads(&mut gg)?;
        // The discriminator's gradients of L_G are not used: drop them with the rest.
        self.discriminator.try_zero_grads(&mut gg)?;
        self.grads_g = Some(gg);
        stepped_g?;
        self.eval_d = self.adapter_d.eval_point(&self.discriminator, &*opt_d)?;
        self.eval_g = self.adapter_g.eval_point(&self.generator, &*opt_g)?;
        self.k = (self.k + self.cfg.lambda_k * (gamma * l_real - l_fake_g)).clamp(0.0, 1.0);
        self.rng = rng;
        self.iterations += 1;
        Ok(BeganStep {
            real: l_real,
            fake_d: l_fake_d,
            fake_g: l_fake_g,
            k: self.k,
            m_global: l_real + (gamma * l_real - l_fake_g).abs(),
        })
    }

    /// L_D and L_G on `real` (image order) with the noise `z_d` and `z_g`, each on its own
    /// tape (`grads_d` collects the discriminator's gradients of L_D; `grads_g` the
    /// generator's of L_G, and the discriminator's of L_G, which are not used).
    fn losses(
        &self,
        real: &[f32],
        z_d: &[f32],
        z_g: &[f32],
        grads_d: Gradients<f32, Dev>,
        grads_g: Gradients<f32, Dev>,
    ) -> Result<Losses, TaskError> {
        let b = real.len() / PIXELS;
        // The discriminator's batch: b real images, then b generated ones (no generator tape).
        let fake = decode(&self.generator, &self.idx, self.codes(z_d)?)?.as_vec();
        let both = side_by_side(&batch_last(real, PIXELS), &fake, b);
        let v = self
            .dev
            .try_tensor_from_vec(both, (Const::<PIXELS>, 2 * b))?;
        let recon = self.reconstruct(v.clone().traced(grads_d), false)?;
        let per_image = recon_losses(recon, v)?;
        let values = per_image.as_vec();
        let mut w = vec![1.0 / b as f32; 2 * b];
        w[b..].fill(-self.k / b as f32);
        let w = self.dev.try_tensor_from_vec(w, (2 * b,))?;
        let d = per_image.try_mul(w)?.try_sum::<Rank0, _>()?;
        // The generator's loss through the discriminator: G(z_G) is used twice (as D's input
        // and in |v − D(v)|), so its tape is split and both paths reach its gradient.
        let fake = decode(&self.generator, &self.idx, self.codes(z_g)?.traced(grads_g))?;
        let (fake, tape) = fake.split_tape();
        let recon = self.reconstruct(fake.clone().put_tape(tape), true)?;
        let g =
            recon_losses(recon, fake.retaped::<OwnedTape<f32, Dev>>())?.try_mean::<Rank0, _>()?;
        Ok(Losses {
            real: values[..b].iter().sum::<f32>() / b as f32,
            fake_d: values[b..].iter().sum::<f32>() / b as f32,
            fake_g: g.array(),
            d,
            g,
        })
    }

    /// D(v): the discriminator's reconstruction of `v`.
    fn reconstruct<T: Tape<f32, Dev>>(
        &self,
        v: Images<T>,
        input_grad: bool,
    ) -> Result<Images<T>, TaskError> {
        let h = encode(&self.discriminator.enc, &self.idx, v, input_grad)?;
        decode(&self.discriminator.dec, &self.idx, h)
    }

    fn codes(&self, z: &[f32]) -> Result<Codes, TaskError> {
        let n = whole_codes(z)?;
        Ok(self
            .dev
            .try_tensor_from_vec(batch_last(z, H), (Const::<H>, n))?)
    }

    fn images(&self, images: &[f32]) -> Result<Images, TaskError> {
        let n = whole_images(images)?;
        Ok(self
            .dev
            .try_tensor_from_vec(batch_last(images, PIXELS), (Const::<PIXELS>, n))?)
    }
}

/// How many noise vectors `z` holds: one or more whole ones of [`H`] values.
fn whole_codes(z: &[f32]) -> Result<usize, TaskError> {
    if z.is_empty() || !z.len().is_multiple_of(H) {
        return Err(TaskError::Argument(format!(
            "{} values are not whole noise vectors of {H}",
            z.len()
        )));
    }
    Ok(z.len() / H)
}

/// How many images `images` holds: one or more whole ones of [`PIXELS`] values.
fn whole_images(images: &[f32]) -> Result<usize, TaskError> {
    if images.is_empty() || !images.len().is_multiple_of(PIXELS) {
        return Err(TaskError::Argument(format!(
            "{} values are not whole images of {PIXELS} pixels",
            images.len()
        )));
    }
    Ok(images.len() / PIXELS)
}

/// A decoder with fresh U(±1/√fan_in) weights drawn from `rng` in field order.
fn decoder(dev: &Dev, rng: &mut ChaCha8Rng) -> DecoderParams<f32, Dev> {
    let mut d = DecoderParams {
        fc: dev.build_module::<dfdx::nn::builders::Linear<H, F7>, f32>(),
        conv1: dev.build_module::<dfdx::nn::builders::Linear<PNF, NF>, f32>(),
        conv2: dev.build_module::<dfdx::nn::builders::Linear<PNF, NF>, f32>(),
        conv3: dev.build_module::<dfdx::nn::builders::Linear<PNF, 1>, f32>(),
    };
    init_uniform(&mut d.fc, rng);
    init_uniform(&mut d.conv1, rng);
    init_uniform(&mut d.conv2, rng);
    init_uniform(&mut d.conv3, rng);
    d
}

/// `n` noise vectors: `n·H` draws from U(−1, 1), 24 random bits each.
fn noise(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    uniform(rng, n * H, 1.0)
}

/// The `(784, b)` columns of `real` and of `fake` side by side: `(784, 2b)`.
fn side_by_side(real: &[f32], fake: &[f32], b: usize) -> Vec<f32> {
    let mut both = Vec::with_capacity(2 * real.len());
    for (r, f) in real.chunks_exact(b).zip(fake.chunks_exact(b)) {
        both.extend_from_slice(r);
        both.extend_from_slice(f);
    }
    both
}

/// Both players' losses on their tapes, and the three reconstruction losses.
struct Losses {
    d: Tensor<Rank0, f32, Dev, OwnedTape<f32, Dev>>,
    g: Tensor<Rank0, f32, Dev, OwnedTape<f32, Dev>>,
    real: f32,
    fake_d: f32,
    fake_g: f32,
}

/// The settings of the BEGAN workload ([`BeganMnist`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeganTaskConfig {
    /// The model's settings.
    pub model: BeganConfig,
    /// A held-out evaluation for the threshold checks every this many iterations, ≥ 1.
    /// Default 50.
    pub eval_every: usize,
    /// Held-out images (and as many fixed noise vectors) of each evaluation, ≥ 1. Default 256.
    pub eval_images: usize,
}

impl Default for BeganTaskConfig {
    fn default() -> Self {
        BeganTaskConfig {
            model: BeganConfig::default(),
            eval_every: 50,
            eval_images: 256,
        }
    }
}

/// The metric of [`BeganMnist`]: M_global on held-out images and fixed noise, lower is better.
pub const BEGAN_METRIC: Metric = Metric::minimize("held-out M_global");

/// The seed of the held-out images' selection and of the evaluation noise: the same for every
/// run, so that every arm is measured on the same images and codes.
const EVAL_SEED: u64 = 0xBE6A;

/// A generator has collapsed when, at the end of a run, the pixel variance across its
/// evaluation samples ([`pixel_variance`]) is below this fraction of the held-out real
/// digits'. Real MNIST varies a lot from digit to digit (0.27 in [−1, 1] units, averaged over
/// pixels); samples that all show one image hardly vary. Judged at the end only: a young
/// BEGAN generator draws nearly the same blurred digit for every code (measured: variance
/// 0.002–0.008 in its first 150 iterations under Adam at 1e−3, which then trains on to
/// distinct digits), so an early low variance is not yet a collapse.
pub const COLLAPSE_FRACTION: f64 = 0.01;

/// Name of the final collapse verdict among a task's final numbers: 1 if the generator
/// collapsed ([`COLLAPSE_FRACTION`]), else 0 (its mean over seeds is the collapsed fraction).
pub const COLLAPSED_NAME: &str = "collapsed";

/// The mode-collapse measure: the variance of each pixel across `images` (`n·784` values in
/// image order, n ≥ 1), averaged over the pixels. Zero when every image is the same.
pub fn pixel_variance(images: &[f32]) -> f64 {
    let n = images.len() / PIXELS;
    if n == 0 {
        return 0.0;
    }
    let mut mean = vec![0.0f64; PIXELS];
    for img in images.chunks_exact(PIXELS) {
        for (m, &v) in mean.iter_mut().zip(img) {
            *m += f64::from(v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut var = 0.0;
    for img in images.chunks_exact(PIXELS) {
        for (m, &v) in mean.iter().zip(img) {
            var += (f64::from(v) - m).powi(2);
        }
    }
    var / (n * PIXELS) as f64
}

/// What the Fréchet distance compares with: the feature network, the real digits' Gaussian
/// and the fixed noise the generator's samples come from.
#[derive(Debug)]
struct FidReference {
    net: FeatureNet,
    real: Gaussian,
    noise: Vec<f32>,
}

/// Name of the Fréchet distance among a task's curves and final numbers.
pub const FID_NAME: &str = "Fréchet distance";
/// Name of the samples' pixel variance among a task's curves and final numbers.
pub const VARIANCE_NAME: &str = "sample pixel variance";

/// BEGAN on MNIST as a harness workload: one task (every digit of the training split), two
/// players (`generator`, `discriminator`), each stepped by an optimizer of its own.
///
/// Metric ([`BEGAN_METRIC`]): M_global = L(x) + |γ·L(x) − L(G(z))| on [`eval_images`]
/// held-out test images and as many fixed noise vectors (the same for every run), so that it
/// does not carry the noise of one training batch. The training images are scaled to [−1, 1]
/// and drawn in a seeded order, a batch per iteration.
///
/// Beside the metric, every point of the curve records the [`pixel_variance`] of those
/// samples ([`VARIANCE_NAME`]) and, with [`BeganMnist::with_fid`], their Fréchet distance to
/// real digits ([`FID_NAME`]); the end of a run records whether the generator collapsed
/// ([`COLLAPSED_NAME`]) and a picture of 64 samples ([`Task::picture`]). Optimizers with an
/// evaluation point (Schedule-Free, DoG) are measured there (see [`Began::step`]).
///
/// [`eval_images`]: BeganTaskConfig::eval_images
#[derive(Debug, Clone)]
pub struct BeganMnist {
    cfg: BeganTaskConfig,
    /// Training images, 0–255, image after image.
    train: Arc<Vec<u8>>,
    /// The held-out images (scaled) and the evaluation noise, image order.
    eval_images: Arc<Vec<f32>>,
    eval_noise: Arc<Vec<f32>>,
    /// Below this pixel variance of the evaluation samples a generator has collapsed.
    collapse_floor: f64,
    fid: Option<Arc<FidReference>>,
}

impl BeganMnist {
    /// The workload on `mnist` (its training split trains, its test split evaluates).
    pub fn new(mnist: &crate::mnist::Mnist, cfg: BeganTaskConfig) -> Result<Self, TaskError> {
        cfg.model.validated()?;
        let test = &mnist.test.images;
        if cfg.eval_every == 0 || cfg.eval_images == 0 || cfg.eval_images > test.count {
            return Err(TaskError::Argument(format!(
                "BEGAN workload evaluating every {} iterations on {} of {} test images: both \
                 must be at least 1, and at most the test images",
                cfg.eval_every, cfg.eval_images, test.count
            )));
        }
        if mnist.train.images.count < cfg.model.batch {
            return Err(TaskError::Argument(format!(
                "{} training images for batches of {}",
                mnist.train.images.count, cfg.model.batch
            )));
        }
        let pick = crate::mnist::shuffled_order(test.count, EVAL_SEED);
        let mut eval_images = Vec::with_capacity(cfg.eval_images * PIXELS);
        for &i in &pick[..cfg.eval_images] {
            let img = test.image(i).expect("an index below the count");
            eval_images.extend(img.iter().map(|&p| scale(p)));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(EVAL_SEED);
        let eval_noise = noise(&mut rng, cfg.eval_images);
        Ok(BeganMnist {
            cfg,
            train: Arc::new(mnist.train.images.pixels.clone()),
            collapse_floor: COLLAPSE_FRACTION * pixel_variance(&eval_images),
            eval_images: Arc::new(eval_images),
            eval_noise: Arc::new(eval_noise),
            fid: None,
        })
    }

    /// The workload with a [`FID_NAME`] curve: the Fréchet distance between `samples`
    /// held-out digits of `mnist` and as many generated ones (from fixed noise, the same for
    /// every run) in `net`'s feature space, at every point of the metric's curve and at the
    /// end. `samples` in 2..= the test digits; the issue's protocol uses ≥ 1,000, which
    /// costs ≈ 0.2 s per point.
    pub fn with_fid(
        mut self,
        mnist: &crate::mnist::Mnist,
        net: FeatureNet,
        samples: usize,
    ) -> Result<Self, TaskError> {
        let test = &mnist.test.images;
        if samples < 2 || samples > test.count {
            return Err(TaskError::Argument(format!(
                "a Fréchet distance on {samples} samples of {} test digits: it needs 2 to all \
                 of them (1,000 or more for a stable value)",
                test.count
            )));
        }
        let pick = crate::mnist::shuffled_order(test.count, EVAL_SEED);
        let mut real = Vec::with_capacity(samples * PIXELS);
        for &i in &pick[..samples] {
            let img = test.image(i).expect("an index below the count");
            real.extend(img.iter().map(|&p| f32::from(p) / 255.0));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(EVAL_SEED);
        rng.set_stream(2);
        self.fid = Some(Arc::new(FidReference {
            real: net.gaussian(&real)?,
            noise: noise(&mut rng, samples),
            net,
        }));
        Ok(self)
    }

    /// The settings.
    pub fn config(&self) -> &BeganTaskConfig {
        &self.cfg
    }
}

/// A pixel byte scaled to [−1, 1].
fn scale(p: u8) -> f32 {
    f32::from(p) / 127.5 - 1.0
}

impl TaskFamily for BeganMnist {
    fn name(&self) -> &str {
        "began"
    }

    fn len(&self) -> usize {
        1
    }

    fn label(&self, _k: usize) -> String {
        "MNIST digits".into()
    }

    fn metric(&self) -> Metric {
        BEGAN_METRIC
    }

    fn players(&self) -> &'static [&'static str] {
        &["generator", "discriminator"]
    }

    fn build(&self, k: usize, seed: u64) -> Result<Box<dyn Task>, TaskError> {
        if k >= self.len() {
            return Err(no_task(k, self.len()));
        }
        let count = self.train.len() / PIXELS;
        Ok(Box::new(BeganTask {
            gan: Began::new(self.cfg.model, seed)?,
            data: self.clone(),
            order: crate::mnist::shuffled_order(count, seed),
            next: 0,
            batch: Vec::with_capacity(self.cfg.model.batch * PIXELS),
            evals: Evals::new(self.cfg.eval_every),
            fid_at: None,
        }))
    }
}

/// The one task of [`BeganMnist`].
#[derive(Debug)]
pub struct BeganTask {
    gan: Began,
    data: BeganMnist,
    order: Vec<usize>,
    next: usize,
    batch: Vec<f32>,
    evals: Evals<Eval>,
    /// The latest Fréchet distance and its iteration (`None` inside: not computable there).
    fid_at: Option<(usize, Option<f64>)>,
}

impl BeganTask {
    /// The model.
    pub fn gan(&self) -> &Began {
        &self.gan
    }
}

/// One held-out evaluation: M_global and the samples' pixel variance.
#[derive(Debug, Clone, Copy)]
struct Eval {
    m_global: f64,
    variance: f64,
}

/// Held-out M_global of `gan` on `data`'s evaluation images and noise (see [`BeganMnist`]),
/// and the [`pixel_variance`] of those samples.
fn evaluation(gan: &Began, data: &BeganMnist) -> Result<Eval, TaskError> {
    let gamma = f64::from(gan.config().gamma);
    let mean = |v: Vec<f32>| v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64;
    let real = mean(gan.reconstruction_losses(&data.eval_images)?);
    let samples = gan.sample(&data.eval_noise)?;
    let fake = mean(gan.reconstruction_losses(&samples)?);
    Ok(Eval {
        m_global: real + (gamma * real - fake).abs(),
        variance: pixel_variance(&samples),
    })
}

/// The Fréchet distance of `gan`'s samples from `fid.noise` to the real digits, or `None`
/// when a sample is not finite (the run is then diverging; its next step says so).
fn fid(gan: &Began, fid: &FidReference) -> Result<Option<f64>, TaskError> {
    let samples = gan.sample(&fid.noise)?;
    if samples.iter().any(|v| !v.is_finite()) {
        return Ok(None);
    }
    // The generator's [−1, 1] scale back to the feature network's [0, 1] pixels.
    let unit: Vec<f32> = samples
        .iter()
        .map(|&v| ((v + 1.0) * 0.5).clamp(0.0, 1.0))
        .collect();
    let fake = fid.net.gaussian(&unit)?;
    Ok(Some(frechet_distance(&fid.real, &fake)?))
}

impl Task for BeganTask {
    /// BEGAN has two players: one optimizer cannot step both (use [`Task::update_players`]).
    fn update(&mut self, _opt: &mut dyn Optimizer) -> Result<f32, TaskError> {
        Err(TaskError::Argument(
            "BEGAN steps two players, the generator and the discriminator, each with its own \
             optimizer: call update_players with two"
                .into(),
        ))
    }

    /// One BEGAN iteration with `[generator's, discriminator's]` optimizers; returns the
    /// iteration's M_global.
    fn update_players(&mut self, opts: &mut [&mut dyn Optimizer]) -> Result<f32, TaskError> {
        let [g, d] = opts else {
            return Err(TaskError::Argument(format!(
                "{} optimizers for BEGAN's two players (generator, discriminator)",
                opts.len()
            )));
        };
        let b = self.gan.config().batch;
        self.batch.clear();
        for j in 0..b {
            let i = self.order[(self.next + j) % self.order.len()];
            self.batch.extend(
                self.data.train[i * PIXELS..(i + 1) * PIXELS]
                    .iter()
                    .map(|&p| scale(p)),
            );
        }
        let step = self.gan.step(&self.batch, &mut **g, &mut **d)?;
        self.next = (self.next + b) % self.order.len();
        Ok(step.m_global)
    }

    fn evaluate(&mut self) -> Result<f64, TaskError> {
        let (gan, data) = (&self.gan, &self.data);
        Ok(self
            .evals
            .at(gan.iterations(), || evaluation(gan, data))?
            .0
            .m_global)
    }

    fn metric(&self) -> Metric {
        BEGAN_METRIC
    }

    /// From the evaluation at the latest multiple of `eval_every` iterations.
    fn check(&mut self, threshold: f64) -> Result<Check, TaskError> {
        let (gan, data) = (&self.gan, &self.data);
        let samples = 2 * (data.eval_images.len() / PIXELS) as u64;
        self.evals.check(
            gan.iterations(),
            threshold,
            samples,
            |v| v.m_global,
            || evaluation(gan, data),
        )
    }

    /// An 8×8 grid of samples from the first 64 evaluation noise vectors (fewer if the
    /// evaluation has fewer), the same codes for every run.
    fn picture(&mut self) -> Result<Option<Picture>, TaskError> {
        let n = (self.data.eval_noise.len() / H).min(64);
        let samples = self.gan.sample(&self.data.eval_noise[..n * H])?;
        let tiles: Vec<Vec<f32>> = samples
            .chunks_exact(PIXELS)
            .map(|img| img.iter().map(|&v| (v + 1.0) * 0.5).collect())
            .collect();
        Ok(Picture::grid(&tiles, SIDE, 8))
    }

    /// The Fréchet distance (with [`BeganMnist::with_fid`]) and the samples' pixel variance.
    fn curve_metrics(&mut self) -> Result<Vec<(String, f64)>, TaskError> {
        let (gan, data) = (&self.gan, &self.data);
        let at = gan.iterations();
        let (e, _) = self.evals.at(at, || evaluation(gan, data))?;
        // The last curve point and the final numbers are often the same iteration: the
        // distance (1,000 samples through the feature network) is computed once.
        let d = match (self.fid_at, &data.fid) {
            (Some((i, d)), _) if i == at => d,
            (_, Some(reference)) => fid(gan, reference)?,
            (_, None) => None,
        };
        self.fid_at = Some((at, d));
        let mut out = Vec::new();
        if let Some(d) = d {
            out.push((FID_NAME.to_string(), d));
        }
        out.push((VARIANCE_NAME.to_string(), e.variance));
        Ok(out)
    }

    /// The final held-out M_global and k_t, the curve's numbers at the end, and whether the
    /// generator collapsed ([`COLLAPSED_NAME`]).
    fn extra_metrics(&mut self) -> Result<Vec<(String, f64)>, TaskError> {
        let (gan, data) = (&self.gan, &self.data);
        let (e, _) = self.evals.at(gan.iterations(), || evaluation(gan, data))?;
        let mut out = vec![
            ("M_global".into(), e.m_global),
            ("k".into(), f64::from(self.gan.k())),
        ];
        out.extend(self.curve_metrics()?);
        let collapsed = e.variance < self.data.collapse_floor;
        out.push((COLLAPSED_NAME.into(), if collapsed { 1.0 } else { 0.0 }));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::tests::{fd, random};
    use lrmem_optimizers::{Adam, AdamConfig, Sgd, SgdConfig};

    fn gan(batch: usize, seed: u64) -> Began {
        Began::new(
            BeganConfig {
                batch,
                ..BeganConfig::default()
            },
            seed,
        )
        .unwrap()
    }

    /// Both losses against finite differences at a few coordinates of every tensor: L_D for
    /// the discriminator's, L_G for the generator's. A lost tape gives zeros; these do not.
    #[test]
    fn losses_gradients_match_finite_differences() {
        let b = 2;
        let mut g = gan(b, 3);
        g.k = 0.6; // so that the generated half of L_D counts
        let real = random(b * PIXELS, 1, 1.0);
        let (z_d, z_g) = (random(b * H, 2, 1.0), random(b * H, 3, 1.0));
        // The losses recomputed from the networks' outputs with the sums in f64, so that a
        // finite difference sees the weights' effect rather than the rounding of dfdx's f32
        // reductions (≈ 2e−7 of the loss).
        let losses = |g: &Began| {
            let l1 = |v: &[f32], r: &[f32]| {
                v.iter()
                    .zip(r)
                    .map(|(&a, &b)| f64::from((a - b).abs()))
                    .sum::<f64>()
                    / PIXELS as f64
            };
            let recon = |imgs: &[f32]| {
                let n = imgs.len() / PIXELS;
                batch_first(
                    &g.reconstruct(g.images(imgs).unwrap(), false)
                        .unwrap()
                        .as_vec(),
                    n,
                )
            };
            let both = [real.clone(), g.sample(&z_d).unwrap()].concat();
            let r = recon(&both);
            let per: Vec<f64> = both
                .chunks(PIXELS)
                .zip(r.chunks(PIXELS))
                .map(|(v, r)| l1(v, r))
                .collect();
            let d = (per[..b].iter().sum::<f64>() - f64::from(g.k) * per[b..].iter().sum::<f64>())
                / b as f64;
            let fake = g.sample(&z_g).unwrap();
            let gl = l1(&fake, &recon(&fake)) / b as f64;
            (d as f32, gl as f32)
        };
        let l = g
            .losses(
                &real,
                &z_d,
                &z_g,
                g.adapter_d.fresh_grads(),
                g.adapter_g.fresh_grads(),
            )
            .unwrap();
        let (gd, gg) = (l.d.backward(), l.g.backward());
        macro_rules! check {
            ($grads:ident, $which:expr, $($path:ident).+) => {{
                let analytic = $grads.get(&g.$($path).+).as_vec();
                // The three coordinates with the largest gradients: many gradients of the
                // autoencoder at initialisation are ~1e−5, where the kinks of |v − D(v)|
                // crossed by a finite step and f32 rounding blur a finite difference.
                let mut coords: Vec<usize> = (0..analytic.len()).collect();
                coords.sort_by(|&a, &b| analytic[b].abs().total_cmp(&analytic[a].abs()));
                coords.truncate(3);
                let mut nonzero = 0;
                for &i in &coords {
                    let mut g2 = gan(b, 3);
                    g2.generator = g.generator.clone();
                    g2.discriminator = g.discriminator.clone();
                    g2.k = g.k;
                    let mut w = g2.$($path).+.as_vec();
                    let want = fd(&mut w, i, 5e-3, |w| {
                        g2.$($path).+.copy_from(w);
                        let (d, gl) = losses(&g2);
                        if $which == 0 { d } else { gl }
                    });
                    let got = analytic[i];
                    if want.abs() > 5e-5 {
                        nonzero += 1;
                    }
                    assert!(
                        (got - want).abs() < 5e-6 + 5e-2 * want.abs(),
                        "{}[{i}]: dfdx {got} vs finite difference {want}",
                        stringify!($($path).+)
                    );
                }
                assert!(nonzero > 0, "{}: every checked gradient ~0", stringify!($($path).+));
            }};
        }
        // L_D: the discriminator.
        check!(gd, 0, discriminator.enc.conv1.weight);
        check!(gd, 0, discriminator.enc.conv1.bias);
        check!(gd, 0, discriminator.enc.conv2.weight);
        check!(gd, 0, discriminator.enc.conv2.bias);
        check!(gd, 0, discriminator.enc.conv3.weight);
        check!(gd, 0, discriminator.enc.conv3.bias);
        check!(gd, 0, discriminator.enc.fc.weight);
        check!(gd, 0, discriminator.enc.fc.bias);
        check!(gd, 0, discriminator.dec.fc.weight);
        check!(gd, 0, discriminator.dec.fc.bias);
        check!(gd, 0, discriminator.dec.conv1.weight);
        check!(gd, 0, discriminator.dec.conv1.bias);
        check!(gd, 0, discriminator.dec.conv2.weight);
        check!(gd, 0, discriminator.dec.conv2.bias);
        check!(gd, 0, discriminator.dec.conv3.weight);
        check!(gd, 0, discriminator.dec.conv3.bias);
        // L_G: the generator, through the discriminator.
        check!(gg, 1, generator.fc.weight);
        check!(gg, 1, generator.fc.bias);
        check!(gg, 1, generator.conv1.weight);
        check!(gg, 1, generator.conv1.bias);
        check!(gg, 1, generator.conv2.weight);
        check!(gg, 1, generator.conv2.bias);
        check!(gg, 1, generator.conv3.weight);
        check!(gg, 1, generator.conv3.bias);
    }

    #[test]
    fn same_seed_same_iterations() {
        let run = |seed| {
            let mut g = gan(4, seed);
            let adam = || {
                Adam::new(AdamConfig {
                    lr: 1e-3,
                    ..AdamConfig::default()
                })
                .unwrap()
            };
            let (mut og, mut od) = (adam(), adam());
            let real = random(4 * PIXELS, 9, 1.0);
            let steps: Vec<BeganStep> = (0..3)
                .map(|_| g.step(&real, &mut og, &mut od).unwrap())
                .collect();
            (
                steps,
                g.generator.conv3.weight.as_vec(),
                g.discriminator.enc.fc.weight.as_vec(),
            )
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5).1, run(6).1);
    }

    /// The equilibrium's bookkeeping: k follows its update rule from the step's own losses,
    /// M_global is its formula, and the reconstruction losses agree with the step's.
    #[test]
    fn k_and_m_global_follow_their_formulas() {
        let mut g = gan(3, 1);
        let sgd = || {
            Sgd::new(SgdConfig {
                lr: 1e-2,
                ..SgdConfig::default()
            })
            .unwrap()
        };
        let (mut og, mut od) = (sgd(), sgd());
        let real: Vec<f32> = random(3 * PIXELS, 4, 1.0);
        let before = g.reconstruction_losses(&real).unwrap();
        let mut k = 0.0f32;
        for _ in 0..5 {
            let was = g.k();
            let s = g.step(&real, &mut og, &mut od).unwrap();
            k = (was + 0.001 * (0.5 * s.real - s.fake_g)).clamp(0.0, 1.0);
            assert_eq!(s.k, k);
            assert_eq!(s.m_global, s.real + (0.5 * s.real - s.fake_g).abs());
            assert!(s.real > 0.0 && s.fake_d > 0.0 && s.fake_g > 0.0);
        }
        assert_eq!(g.k(), k);
        assert_eq!(g.iterations(), 5);
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        // The first step's L(x) was measured on these images before any step.
        let mut fresh = gan(3, 1);
        let s = fresh.step(&real, &mut sgd(), &mut sgd()).unwrap();
        assert!(
            (s.real - mean(&before)).abs() < 1e-6,
            "{} vs {}",
            s.real,
            mean(&before)
        );
    }

    /// Training the discriminator on one fixed image lowers its reconstruction loss: the
    /// tapes reach the weights and the players learn.
    #[test]
    fn the_discriminator_learns_to_reconstruct() {
        let mut g = gan(2, 2);
        let adam = || {
            Adam::new(AdamConfig {
                lr: 3e-3,
                ..AdamConfig::default()
            })
            .unwrap()
        };
        let (mut og, mut od) = (adam(), adam());
        let mut img = vec![-1.0f32; PIXELS];
        for y in 6..22 {
            img[y * SIDE + 12..y * SIDE + 16].fill(1.0); // a vertical bar: a "1"
        }
        let real = [img.clone(), img].concat();
        let first = g.step(&real, &mut og, &mut od).unwrap().real;
        let mut last = first;
        for _ in 0..60 {
            last = g.step(&real, &mut og, &mut od).unwrap().real;
        }
        assert!(last < 0.5 * first, "L(x) {first} → {last}");
    }

    #[test]
    fn bad_inputs_are_errors_that_change_nothing() {
        for bad in [
            BeganConfig {
                gamma: 0.0,
                ..BeganConfig::default()
            },
            BeganConfig {
                gamma: f32::NAN,
                ..BeganConfig::default()
            },
            BeganConfig {
                lambda_k: 2.0,
                ..BeganConfig::default()
            },
            BeganConfig {
                batch: 0,
                ..BeganConfig::default()
            },
        ] {
            assert!(
                matches!(Began::new(bad, 0), Err(TaskError::Argument(_))),
                "{bad:?}"
            );
        }
        let mut g = gan(2, 0);
        let sgd = || {
            Sgd::new(SgdConfig {
                lr: 1e-2,
                ..SgdConfig::default()
            })
            .unwrap()
        };
        let (mut og, mut od) = (sgd(), sgd());
        let w = g.generator.fc.weight.as_vec();
        assert!(g.step(&[0.0; PIXELS], &mut og, &mut od).is_err());
        assert!(g.sample(&[0.0; H + 1]).is_err());
        assert!(g.reconstruction_losses(&[0.0; 10]).is_err());
        // A NaN image: the losses are not finite, nothing steps, k and the stream stay.
        let mut real = vec![0.0f32; 2 * PIXELS];
        real[5] = f32::NAN;
        let err = g.step(&real, &mut og, &mut od).unwrap_err();
        assert!(
            matches!(err, TaskError::Diverged { iteration: 0, .. }),
            "{err}"
        );
        assert_eq!(g.generator.fc.weight.as_vec(), w);
        assert_eq!((g.k(), g.iterations()), (0.0, 0));
        let fresh_z = gan(2, 0).noise(2);
        assert_eq!(g.noise(2), fresh_z);
    }

    #[test]
    fn the_workload_steps_two_players_and_evaluates_periodically() {
        let cfg = BeganTaskConfig {
            model: BeganConfig {
                batch: 4,
                ..BeganConfig::default()
            },
            eval_every: 3,
            eval_images: 8,
        };
        let family = BeganMnist::new(&crate::mnist::Mnist::bars(20), cfg).unwrap();
        assert_eq!(family.players(), &["generator", "discriminator"]);
        assert_eq!((family.len(), family.metric()), (1, BEGAN_METRIC));
        assert!(family.build(1, 0).is_err());
        let mut task = family.build(0, 7).unwrap();
        let sgd = || {
            Sgd::new(SgdConfig {
                lr: 1e-3,
                ..SgdConfig::default()
            })
            .unwrap()
        };
        let (mut g, mut d) = (sgd(), sgd());
        // One optimizer, or three, cannot step two players.
        assert!(task.update(&mut g).is_err());
        assert!(task.update_players(&mut [&mut g]).is_err());
        let m0 = task.evaluate().unwrap();
        assert!(m0.is_finite() && m0 > 0.0);
        // Checks answer from the evaluation at multiples of 3 iterations.
        let mut values = Vec::new();
        for t in 1..=6 {
            let m = task.update_players(&mut [&mut g, &mut d]).unwrap();
            assert!(m.is_finite());
            let check = task.check(f64::INFINITY).unwrap();
            // Nothing is known before the first periodic evaluation.
            assert_eq!(check.reached, t >= 3, "iteration {t}");
            assert_eq!(
                check.samples,
                if t % 3 == 0 { 16 } else { 0 },
                "iteration {t}"
            );
            values.push(task.evaluate().unwrap());
        }
        assert_ne!(values[0], m0, "the players moved");
        let extra = task.extra_metrics().unwrap();
        assert_eq!(extra[0], ("M_global".to_string(), values[5]));
        // The same seed gives the same run; the evaluation set is the same for every seed.
        let mut again = family.build(0, 7).unwrap();
        assert_eq!(again.evaluate().unwrap(), m0);
        let (mut g2, mut d2) = (sgd(), sgd());
        for _ in 0..6 {
            again.update_players(&mut [&mut g2, &mut d2]).unwrap();
        }
        assert_eq!(again.evaluate().unwrap(), values[5]);
        // Bad settings are errors.
        for bad in [
            BeganTaskConfig {
                eval_every: 0,
                ..cfg
            },
            BeganTaskConfig {
                eval_images: 21,
                ..cfg
            },
        ] {
            assert!(BeganMnist::new(&crate::mnist::Mnist::bars(20), bad).is_err());
        }
    }

    #[test]
    fn pixel_variance_is_zero_for_copies_and_a_quarter_for_black_and_white() {
        let img = random(PIXELS, 3, 1.0);
        let copies: Vec<f32> = img.iter().chain(&img).chain(&img).copied().collect();
        assert_eq!(pixel_variance(&copies), 0.0);
        let bw = [vec![0.0f32; PIXELS], vec![1.0f32; PIXELS]].concat();
        assert!((pixel_variance(&bw) - 0.25).abs() < 1e-12);
        assert_eq!(pixel_variance(&[]), 0.0);
    }

    /// The Fréchet distance is a curve of the workload when it has a feature network; the
    /// picture is a row of eight 28×28 samples; both reproduce from the seed.
    #[test]
    fn the_frechet_distance_curve_and_the_picture() {
        let cfg = BeganTaskConfig {
            model: BeganConfig {
                batch: 4,
                ..BeganConfig::default()
            },
            eval_every: 2,
            eval_images: 8,
        };
        let mnist = crate::mnist::Mnist::bars(20);
        let net = FeatureNet::train(&mnist, 0).unwrap();
        let family = BeganMnist::new(&mnist, cfg).unwrap();
        let mut plain = family.build(0, 3).unwrap();
        let plain_curves = plain.curve_metrics().unwrap();
        assert_eq!(plain_curves.len(), 1);
        assert_eq!(plain_curves[0].0, VARIANCE_NAME);
        for bad in [1, 21] {
            assert!(family.clone().with_fid(&mnist, net.clone(), bad).is_err());
        }
        let family = family.with_fid(&mnist, net, 20).unwrap();
        let mut task = family.build(0, 3).unwrap();
        let c = task.curve_metrics().unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].0, FID_NAME);
        assert!(c[0].1.is_finite() && c[0].1 > 0.0, "{c:?}");
        assert_eq!(c[1], plain_curves[0]);
        let p = task.picture().unwrap().unwrap();
        assert_eq!((p.width, p.height), (8 * 29 - 1, 28));
        assert_eq!(p.pixels.len(), p.width * p.height);
        let mut again = family.build(0, 3).unwrap();
        assert_eq!(again.curve_metrics().unwrap(), c);
        assert_eq!(again.picture().unwrap().unwrap(), p);
        let extra = again.extra_metrics().unwrap();
        let names: Vec<&str> = extra.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["M_global", "k", FID_NAME, VARIANCE_NAME, COLLAPSED_NAME]
        );
    }

    /// Schedule-Free trains at y and hands over x: the samples and the reconstruction losses
    /// come from x; a plain optimizer's are the players' own.
    #[test]
    fn samples_come_from_the_optimizers_evaluation_point() {
        let real = random(2 * PIXELS, 5, 1.0);
        let z = random(3 * H, 6, 1.0);
        let own = |g: &Began| {
            let codes = g.codes(&z).unwrap();
            batch_first(&decode(&g.generator, &g.idx, codes).unwrap().as_vec(), 3)
        };
        for (spec, moved) in [("sgd:lr=0.01", false), ("sf-sgd:lr=0.01", true)] {
            let build = || {
                lrmem_optimizers::OptimizerSpec::parse(spec)
                    .unwrap()
                    .build()
                    .unwrap()
            };
            let (mut og, mut od) = (build(), build());
            let mut g = gan(2, 0);
            g.step(&real, &mut og, &mut od).unwrap();
            g.step(&real, &mut og, &mut od).unwrap();
            assert_eq!(g.sample(&z).unwrap() != own(&g), moved, "{spec}");
            assert_eq!(g.eval_d.is_some(), moved, "{spec}");
        }
    }
}
