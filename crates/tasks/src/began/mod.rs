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

mod gan;
mod networks;
mod workload;

pub use gan::{Began, BeganConfig, BeganStep};
pub use networks::{Codes, DecoderParams, DiscriminatorParams, EncoderParams, Images, H, NF};
pub use workload::{
    pixel_variance, BeganMnist, BeganTask, BeganTaskConfig, BEGAN_METRIC, COLLAPSED_NAME,
    COLLAPSE_FRACTION, FID_NAME, VARIANCE_NAME,
};
