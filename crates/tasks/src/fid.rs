//! A measure of generated digits beyond a GAN's own losses: the Fréchet distance between real
//! and generated MNIST in the feature space of a 10-class LeNet trained once on MNIST (the
//! construction of the FID of Heusel et al. 2017, with a digit classifier in place of
//! Inception, as is usual for MNIST).
//!
//! Each set of images is summarised by the mean μ and covariance Σ of its features (the 50
//! hidden units after the LeNet's fc1 and ReLU); the distance of two such Gaussians is
//!
//! d² = |μ₁ − μ₂|² + tr(Σ₁ + Σ₂ − 2 (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}),
//!
//! computed in f64 with symmetric eigendecompositions (`nalgebra`), which keeps every square
//! root real. Real against real images gives ≈ 0, noise against real a large value.
//!
//! The classifier ([`FeatureNet`]) is trained from a seed on the 60,000 training digits (one
//! epoch of Adam, batches of 32) and can be cached in a file, so that every run of an
//! experiment measures with the same network.

use std::path::Path;

use dfdx::prelude::*;
use lrmem_optimizers::{Adam, AdamConfig};
use nalgebra::{DMatrix, DVector, SymmetricEigen};

use crate::adapter::{trainable_values, Adapter};
use crate::layers::batch_first;
use crate::lenet::LeNet;
use crate::mnist::{shuffled_order, Mnist, PIXELS};
use crate::model::Training;
use crate::TaskError;

/// Dimension of the feature space (the LeNet's hidden layer).
pub const FEATURES: usize = 50;

/// The magic and version of a cached feature network.
const MAGIC: &[u8; 8] = b"LRMEMFID";
const VERSION: u32 = 1;

/// A 10-class LeNet whose hidden features embed digits for the Fréchet distance.
#[derive(Debug, Clone)]
pub struct FeatureNet {
    net: LeNet<10>,
    seed: u64,
    test_accuracy: f64,
}

impl FeatureNet {
    /// Trains the classifier from `seed` on `mnist`'s training digits (pixels p/255, one
    /// epoch of Adam at 1e−3 in batches of 32, a seeded order) and measures its accuracy on
    /// the test digits.
    pub fn train(mnist: &Mnist, seed: u64) -> Result<Self, TaskError> {
        dfdx::flush_denormals_to_zero();
        let dev = crate::lenet::Dev::default();
        let mut net = LeNet::<10>::with_classes(&dev, seed);
        let mut training = Training::new(&net)?;
        let mut opt = Adam::new(AdamConfig {
            lr: 1e-3,
            ..AdamConfig::default()
        })
        .map_err(|source| TaskError::Optim {
            name: "(the feature network)".into(),
            source,
        })?;
        let train = &mnist.train;
        let order = shuffled_order(train.images.count, seed);
        let (mut images, mut labels) = (Vec::new(), Vec::new());
        for batch in order.chunks(32) {
            images.clear();
            labels.clear();
            for &i in batch {
                images.extend(image(&train.images, i));
                labels.push(train.labels[i]);
            }
            training.step(&mut net, &mut opt, |net, grads| {
                let x = net.input(&images)?;
                net.loss(net.logits(x.traced(grads))?, &labels)
            })?;
        }
        let mut correct = 0usize;
        let test = &mnist.test;
        for start in (0..test.images.count).step_by(256) {
            let end = (start + 256).min(test.images.count);
            images.clear();
            for i in start..end {
                images.extend(image(&test.images, i));
            }
            let pred = net.predict(net.input(&images)?)?;
            correct += pred
                .iter()
                .zip(&test.labels[start..end])
                .filter(|(p, l)| p == l)
                .count();
        }
        Ok(FeatureNet {
            net,
            seed,
            test_accuracy: correct as f64 / test.images.count.max(1) as f64,
        })
    }

    /// The network cached in `path` if it holds one trained from `seed`, else a new one
    /// trained on `mnist` and written there (with its folder). A damaged or foreign cache file
    /// is replaced; a cache that cannot be written is an error (nothing is lost: the file is
    /// written whole to a temporary name, then renamed).
    pub fn cached(path: &Path, mnist: &Mnist, seed: u64) -> Result<Self, TaskError> {
        if let Ok(bytes) = std::fs::read(path) {
            if let Some(net) = Self::from_bytes(&bytes).filter(|n| n.seed == seed) {
                return Ok(net);
            }
        }
        let net = Self::train(mnist, seed)?;
        let io = |source: std::io::Error| TaskError::Cache {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, net.to_bytes()?).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        Ok(net)
    }

    /// The seed it was trained from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Its accuracy on the 10,000 test digits, measured after training.
    pub fn test_accuracy(&self) -> f64 {
        self.test_accuracy
    }

    /// The features of `images` (pixels p/255 in [0, 1], image after image), `n × 50`, in f64.
    pub fn features(&self, images: &[f32]) -> Result<Vec<f64>, TaskError> {
        let mut out = Vec::with_capacity(images.len() / PIXELS * FEATURES);
        for chunk in images.chunks(32 * PIXELS) {
            let f = self.net.features(self.net.input(chunk)?)?;
            let rows = batch_first(&f.as_vec(), f.shape().1);
            out.extend(rows.iter().map(|&v| f64::from(v)));
        }
        Ok(out)
    }

    /// The Gaussian of `images`' features ([`FeatureNet::features`]).
    pub fn gaussian(&self, images: &[f32]) -> Result<Gaussian, TaskError> {
        Gaussian::fit(&self.features(images)?, FEATURES)
    }

    /// The cache file: the magic, a CRC-32C of the body, and the body: the version, the seed,
    /// the test accuracy and every tensor (its length, then its values) in the order of their
    /// names.
    fn to_bytes(&self) -> Result<Vec<u8>, TaskError> {
        let parts = trainable_values(&self.net.params, None)?;
        let mut body = Vec::new();
        body.extend_from_slice(&VERSION.to_le_bytes());
        body.extend_from_slice(&self.seed.to_le_bytes());
        body.extend_from_slice(&self.test_accuracy.to_le_bytes());
        for part in &parts {
            body.extend_from_slice(&(part.len() as u32).to_le_bytes());
            for v in part {
                body.extend_from_slice(&v.to_le_bytes());
            }
        }
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&CRC.checksum(&body).to_le_bytes());
        out.extend(body);
        Ok(out)
    }

    /// The network in `bytes`, or `None` if they are not a whole, intact cache file.
    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let rest = bytes.strip_prefix(MAGIC)?;
        let (crc, body) = rest.split_first_chunk::<4>()?;
        if u32::from_le_bytes(*crc) != CRC.checksum(body) {
            return None;
        }
        let (version, body) = body.split_first_chunk::<4>()?;
        if u32::from_le_bytes(*version) != VERSION {
            return None;
        }
        let (seed, body) = body.split_first_chunk::<8>()?;
        let (acc, mut body) = body.split_first_chunk::<8>()?;
        let seed = u64::from_le_bytes(*seed);
        let mut parts = Vec::new();
        while !body.is_empty() {
            let (len, rest) = body.split_first_chunk::<4>()?;
            let len = u32::from_le_bytes(*len) as usize;
            let bytes = rest.get(..len.checked_mul(4)?)?;
            body = &rest[len * 4..];
            let part: Vec<f32> = bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            if part.iter().any(|x| !x.is_finite()) {
                return None;
            }
            parts.push(part);
        }
        let dev = crate::lenet::Dev::default();
        let mut net = LeNet::<10>::with_classes(&dev, seed);
        Adapter::new(&net.params)
            .and_then(|mut a| a.load(&mut net.params, &parts))
            .ok()?;
        Some(FeatureNet {
            net,
            seed,
            test_accuracy: f64::from_le_bytes(*acc),
        })
    }
}

/// CRC-32C of a cached network's body.
const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// Image `i` of `images` with pixels p/255.
fn image(images: &crate::idx::Images, i: usize) -> impl Iterator<Item = f32> + '_ {
    images
        .image(i)
        .unwrap_or(&[])
        .iter()
        .map(|&p| f32::from(p) / 255.0)
}

/// The mean and covariance of a set of feature vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct Gaussian {
    mean: DVector<f64>,
    cov: DMatrix<f64>,
}

impl Gaussian {
    /// The mean and the (unbiased, n − 1) covariance of `features`, `n × dim` row after row;
    /// at least two rows, every value finite.
    pub fn fit(features: &[f64], dim: usize) -> Result<Self, TaskError> {
        if dim == 0 || !features.len().is_multiple_of(dim) || features.len() < 2 * dim {
            return Err(TaskError::Argument(format!(
                "{} feature values are not at least two rows of {dim}",
                features.len()
            )));
        }
        if let Some(index) = features.iter().position(|v| !v.is_finite()) {
            return Err(TaskError::NonFiniteData {
                what: "the features of the images (a generator gave NaN or ∞ pixels?)".into(),
                index,
            });
        }
        let n = features.len() / dim;
        let x = DMatrix::from_row_slice(n, dim, features);
        let mean = x.row_mean().transpose();
        let mut centred = x;
        for mut row in centred.row_iter_mut() {
            row -= mean.transpose();
        }
        let cov = centred.transpose() * &centred / (n - 1) as f64;
        Ok(Gaussian { mean, cov })
    }

    /// The dimension.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }
}

/// The Fréchet distance d² between two Gaussians of the same dimension (see the module docs).
pub fn frechet_distance(a: &Gaussian, b: &Gaussian) -> Result<f64, TaskError> {
    if a.dim() != b.dim() {
        return Err(TaskError::Argument(format!(
            "Gaussians of dimensions {} and {}",
            a.dim(),
            b.dim()
        )));
    }
    let sqrt_a = psd_sqrt(&a.cov);
    let m = &sqrt_a * &b.cov * &sqrt_a;
    // Symmetrise against rounding before the eigendecomposition.
    let m = (&m + m.transpose()) * 0.5;
    let cross: f64 = SymmetricEigen::new(m)
        .eigenvalues
        .iter()
        .map(|&l| l.max(0.0).sqrt())
        .sum();
    let diff = &a.mean - &b.mean;
    Ok(diff.dot(&diff) + a.cov.trace() + b.cov.trace() - 2.0 * cross)
}

/// The square root of a symmetric positive semi-definite matrix (negative eigenvalues from
/// rounding are taken as 0).
fn psd_sqrt(m: &DMatrix<f64>) -> DMatrix<f64> {
    let e = SymmetricEigen::new((m + m.transpose()) * 0.5);
    let roots = e.eigenvalues.map(|l| l.max(0.0).sqrt());
    &e.eigenvectors * DMatrix::from_diagonal(&roots) * e.eigenvectors.transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::random;

    fn gaussian_rows(n: usize, dim: usize, seed: u64, shift: f64, scale: f64) -> Vec<f64> {
        random(n * dim, seed, 1.0)
            .iter()
            .map(|&v| f64::from(v) * scale + shift)
            .collect()
    }

    #[test]
    fn frechet_distance_of_known_gaussians() {
        // Same set: 0. Shifted by s in every coordinate: d·s². Scaled by c: the covariance
        // term tr(Σ)(1 − c)² plus the means' |(c − 1)μ|².
        let dim = 4;
        let x = gaussian_rows(4000, dim, 1, 0.0, 1.0);
        let a = Gaussian::fit(&x, dim).unwrap();
        assert!(frechet_distance(&a, &a).unwrap().abs() < 1e-9);
        let shifted: Vec<f64> = x.iter().map(|v| v + 0.5).collect();
        let b = Gaussian::fit(&shifted, dim).unwrap();
        assert!((frechet_distance(&a, &b).unwrap() - dim as f64 * 0.25).abs() < 1e-9);
        let scaled: Vec<f64> = x.iter().map(|v| v * 3.0).collect();
        let c = Gaussian::fit(&scaled, dim).unwrap();
        let want = a.cov.trace() * (1.0f64 - 3.0).powi(2) + 4.0 * a.mean.dot(&a.mean);
        assert!((frechet_distance(&a, &c).unwrap() - want).abs() < 1e-9 * want);
        // Symmetric, and positive for different sets.
        let y = gaussian_rows(4000, dim, 2, 0.1, 2.0);
        let d = Gaussian::fit(&y, dim).unwrap();
        let (ad, da) = (
            frechet_distance(&a, &d).unwrap(),
            frechet_distance(&d, &a).unwrap(),
        );
        assert!(ad > 0.1 && (ad - da).abs() < 1e-9 * ad);
    }

    #[test]
    fn bad_features_are_errors() {
        assert!(Gaussian::fit(&[1.0, 2.0, 3.0], 2).is_err());
        assert!(Gaussian::fit(&[1.0, 2.0], 2).is_err());
        assert!(Gaussian::fit(&[1.0, f64::NAN, 3.0, 4.0], 2).is_err());
        let a = Gaussian::fit(&gaussian_rows(10, 2, 1, 0.0, 1.0), 2).unwrap();
        let b = Gaussian::fit(&gaussian_rows(10, 3, 1, 0.0, 1.0), 3).unwrap();
        assert!(frechet_distance(&a, &b).is_err());
    }
}
