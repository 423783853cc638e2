//! [`BeganMnist`]: BEGAN on MNIST as a harness workload (one task, two players), with its
//! held-out M_global, the samples' pixel variance and collapse verdict, the Fréchet distance
//! and a picture of samples.

use std::sync::Arc;

use lrmem_optimizers::Optimizer;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::gan::{noise, Began, BeganConfig};
use super::networks::H;
use crate::fid::{frechet_distance, FeatureNet, Gaussian};
use crate::mnist::{PIXELS, SIDE};
use crate::task::{no_task, Check, Evals, Metric, Picture, Task, TaskFamily};
use crate::TaskError;

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
    /// end. `samples` in 2..= the test digits; the GAN experiment uses 1,000
    /// (docs/benchmark.md), which costs ≈ 0.2 s per point.
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
        let mut rng = crate::random::stream(EVAL_SEED, 2);
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
    use crate::testing::{random, sgd};

    /// Batches of 4, 8 evaluation images, an evaluation every `eval_every` iterations.
    fn small(eval_every: usize) -> BeganTaskConfig {
        BeganTaskConfig {
            model: BeganConfig {
                batch: 4,
                ..BeganConfig::default()
            },
            eval_every,
            eval_images: 8,
        }
    }

    #[test]
    fn the_workload_steps_two_players_and_evaluates_periodically() {
        let cfg = small(3);
        let family = BeganMnist::new(&crate::mnist::Mnist::bars(20), cfg).unwrap();
        assert_eq!(family.players(), &["generator", "discriminator"]);
        assert_eq!((family.len(), family.metric()), (1, BEGAN_METRIC));
        assert!(family.build(1, 0).is_err());
        let mut task = family.build(0, 7).unwrap();
        let (mut g, mut d) = (sgd(1e-3), sgd(1e-3));
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
        let (mut g2, mut d2) = (sgd(1e-3), sgd(1e-3));
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
        let cfg = small(2);
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
}
