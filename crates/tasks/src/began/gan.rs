//! [`Began`]: BEGAN's two players, an optimizer each, trained one iteration at a time (the
//! losses, k_t and M_global of [the module docs](super)), and what it samples and scores.

use std::sync::Arc;

use dfdx::prelude::*;
use lrmem_optimizers::Optimizer;
use rand_chacha::ChaCha8Rng;

use super::networks::{
    decode, decoder, encode, recon_losses, Codes, DecoderParams, DiscriminatorParams,
    EncoderParams, Images, Indices, H,
};
use crate::layers::{batch_first, batch_last, batch_last_tensor, linear, whole, Dev};
use crate::mnist::PIXELS;
use crate::model::Training;
use crate::random::uniform;
use crate::TaskError;

/// Images per forward pass of the evaluations: their im2col patch matrices then stay small
/// (≈ 7 MB at 28×28 rather than 58 MB for 256 images, which took twice as long).
const CHUNK: usize = 32;
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
    /// Each player's training, and where its optimizer evaluates it (Schedule-Free's x, DoG's
    /// average).
    train_g: Training<DecoderParams<f32, Dev>>,
    train_d: Training<DiscriminatorParams<f32, Dev>>,
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
        let mut rng = crate::random::stream(seed, 1);
        let generator = decoder(&dev, &mut rng);
        let discriminator = DiscriminatorParams {
            enc: EncoderParams {
                conv1: linear(&dev, &mut rng),
                conv2: linear(&dev, &mut rng),
                conv3: linear(&dev, &mut rng),
                fc: linear(&dev, &mut rng),
            },
            dec: decoder(&dev, &mut rng),
        };
        let noise = crate::random::stream(seed, 2);
        Ok(Began {
            train_g: Training::new(&generator)?,
            train_d: Training::new(&discriminator)?,
            generator,
            discriminator,
            cfg,
            dev,
            idx: Arc::new(Indices::new()),
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
        let n = whole(z, H, codes_named)?;
        let g = self.train_g.evaluated(&self.generator);
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
        let n = whole(images, PIXELS, images_named)?;
        let d = self.train_d.evaluated(&self.discriminator);
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
        let (grads_d, grads_g) = (self.train_d.grads(), self.train_g.grads());
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
        let gd = loss_d.try_backward()?;
        let mut gg = loss_g.try_backward()?;
        self.train_d.apply(&mut self.discriminator, gd, opt_d)?;
        // The discriminator's gradients of L_G are not used: zero them with the generator's.
        self.discriminator.try_zero_grads(&mut gg)?;
        self.train_g.apply(&mut self.generator, gg, opt_g)?;
        self.train_d.follow(&self.discriminator, &*opt_d)?;
        self.train_g.follow(&self.generator, &*opt_g)?;
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
        batch_last_tensor(&self.dev, z, codes_named)
    }

    fn images(&self, images: &[f32]) -> Result<Images, TaskError> {
        batch_last_tensor(&self.dev, images, images_named)
    }
}
/// What [`H`] values are, in errors.
fn codes_named() -> String {
    format!("noise vectors of {H}")
}

/// What [`PIXELS`] values are, in errors.
fn images_named() -> String {
    format!("images of {PIXELS} pixels")
}
/// `n` noise vectors: `n·H` draws from U(−1, 1), 24 random bits each.
pub(super) fn noise(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::{trainable_values, Adapter};
    use crate::mnist::SIDE;
    use crate::testing::{adam, assert_gradient, random, sgd};
    use dfdx::nn::tensor_collection::TensorCollection;

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
    /// Every tensor of `player` at its three largest gradients in `grads` against finite
    /// differences of `loss` of a `fresh` model whose player (`of` it) gets the moved tensors.
    fn check_player<P: TensorCollection<f32, Dev>>(
        player: &P,
        grads: &Gradients<f32, Dev>,
        fresh: impl Fn() -> Began,
        loss: impl Fn(&Began) -> f32,
        of: impl Fn(&mut Began) -> &mut P,
    ) {
        let mut adapter = Adapter::new(player).unwrap();
        let analytic = trainable_values(player, Some(grads)).unwrap();
        let values = trainable_values(player, None).unwrap();
        let names: Vec<String> = adapter.names().map(String::from).collect();
        let close = |got: f32, want: f32| (got - want).abs() < 5e-6 + 5e-2 * want.abs();
        for (k, name) in names.iter().enumerate() {
            // The three coordinates with the largest gradients: many gradients of the
            // autoencoder at initialisation are ~1e−5, where the kinks of |v − D(v)| crossed by
            // a finite step and f32 rounding blur a finite difference.
            let grad = &analytic[k];
            let mut coords: Vec<usize> = (0..grad.len()).collect();
            coords.sort_by(|&a, &b| grad[b].abs().total_cmp(&grad[a].abs()));
            coords.truncate(3);
            let wants = assert_gradient(name, grad, &values[k], coords, 5e-3, close, |w| {
                let mut g2 = fresh();
                let mut all = values.clone();
                all[k] = w.to_vec();
                adapter.load(of(&mut g2), &all).unwrap();
                loss(&g2)
            });
            assert!(
                wants.iter().any(|w| w.abs() > 5e-5),
                "{name}: every checked gradient ~0"
            );
        }
    }

    /// Both losses against finite differences at a few coordinates of every tensor: L_D for
    /// the discriminator's, L_G for the generator's. A lost tape gives zeros; these do not.
    #[test]
    fn losses_gradients_match_finite_differences() {
        let b = 2;
        let mut g = gan(b, 3);
        g.k = 0.6; // so that the generated half of L_D counts
        let (grads_d, grads_g) = (g.train_d.grads(), g.train_g.grads());
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
        let l = g.losses(&real, &z_d, &z_g, grads_d, grads_g).unwrap();
        let (gd, gg) = (l.d.backward(), l.g.backward());
        let fresh = || {
            let mut g2 = gan(b, 3);
            g2.generator = g.generator.clone();
            g2.discriminator = g.discriminator.clone();
            g2.k = g.k;
            g2
        };
        // L_D: the discriminator's tensors; L_G: the generator's, through the discriminator.
        check_player(
            &g.discriminator,
            &gd,
            fresh,
            |g2| losses(g2).0,
            |g2| &mut g2.discriminator,
        );
        check_player(
            &g.generator,
            &gg,
            fresh,
            |g2| losses(g2).1,
            |g2| &mut g2.generator,
        );
    }

    #[test]
    fn same_seed_same_iterations() {
        let run = |seed| {
            let mut g = gan(4, seed);
            let (mut og, mut od) = (adam(1e-3), adam(1e-3));
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
        let (mut og, mut od) = (sgd(1e-2), sgd(1e-2));
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
        let s = fresh.step(&real, &mut sgd(1e-2), &mut sgd(1e-2)).unwrap();
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
        let (mut og, mut od) = (adam(3e-3), adam(3e-3));
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
        let (mut og, mut od) = (sgd(1e-2), sgd(1e-2));
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
            assert_eq!(g.train_d.evaluates_elsewhere(), moved, "{spec}");
        }
    }
}
