//! MNIST (and Fashion-MNIST, same layout) and the binary digit-pair tasks of the papers.
//!
//! [`Mnist::load`] reads the four IDX files from a folder (what `cargo xtask data` writes);
//! [`Mnist::pair`] keeps the images of two digits `a` and `b` with labels 0 for `a` and 1 for
//! `b`, as `f32` pixels scaled by a [`PixelScale`]. [`shuffled_order`] gives the seeded online
//! order in which a task visits the training images.

use std::path::{Path, PathBuf};

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::idx::{self, Images};
use crate::TaskError;

/// Image side in pixels.
pub const SIDE: usize = 28;
/// Pixels per image (28 × 28), the LeNet's input size.
pub const PIXELS: usize = SIDE * SIDE;
/// The four files of a data set, without the optional `.gz`.
pub const FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];
/// The environment variable naming the data folder (holding `mnist/`, `fashion-mnist/`).
pub const DATA_ENV: &str = "LRMEM_DATA";

/// Where MNIST is expected: `$LRMEM_DATA/mnist`, else `<workspace>/data/mnist` — the folders
/// `cargo xtask data` fills. Tests and examples use it to find the real data.
pub fn default_dir() -> PathBuf {
    match std::env::var_os(DATA_ENV) {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("mnist"),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist"),
    }
}

/// How u8 pixels become `f32` inputs.
///
/// The authors' PyTorch `MnistClassPair` indexes `train_data` directly, so their
/// `Normalize((0.1307,), (0.3081,))` transform is *not* applied and the network sees
/// [`Raw`](PixelScale::Raw) values 0…255; their TensorFlow loader gives [`Unit`](PixelScale::Unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PixelScale {
    /// p / 255, in [0, 1]. The default.
    #[default]
    Unit,
    /// (p / 255 − 0.1307) / 0.3081: torchvision's MNIST standardisation.
    Standardized,
    /// p as is, in [0, 255] (what the authors' PyTorch pair loader feeds the network).
    Raw,
}

impl PixelScale {
    /// The input value of pixel byte `p`.
    pub fn apply(self, p: u8) -> f32 {
        match self {
            PixelScale::Unit => f32::from(p) / 255.0,
            PixelScale::Standardized => (f32::from(p) / 255.0 - 0.1307) / 0.3081,
            PixelScale::Raw => f32::from(p),
        }
    }
}

/// One split (train or test) of a data set: images and their labels 0–9.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The 28 × 28 images.
    pub images: Images,
    /// One label 0–9 per image.
    pub labels: Vec<u8>,
}

impl Split {
    /// A split of `labels.len()` 28 × 28 images from their pixels, image after image (e.g.
    /// synthetic data for tests and examples); labels must be digits 0–9.
    pub fn new(pixels: Vec<u8>, labels: Vec<u8>) -> Result<Self, TaskError> {
        one_image_per_label(pixels.len(), &labels)?;
        if let Some(bad) = labels.iter().find(|&&l| l > 9) {
            return Err(TaskError::Argument(format!(
                "label {bad} is not a digit 0–9"
            )));
        }
        Ok(Split {
            images: Images {
                count: labels.len(),
                rows: SIDE,
                cols: SIDE,
                pixels,
            },
            labels,
        })
    }
}

/// Whether `pixels` values are one image of [`PIXELS`] per label.
fn one_image_per_label(pixels: usize, labels: &[u8]) -> Result<(), TaskError> {
    if Some(pixels) != labels.len().checked_mul(PIXELS) {
        return Err(TaskError::Argument(format!(
            "{pixels} pixel values for {} images of {PIXELS} pixels",
            labels.len()
        )));
    }
    Ok(())
}

/// MNIST (or Fashion-MNIST): 60,000 training and 10,000 test images with labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mnist {
    /// The training split (`train-*`).
    pub train: Split,
    /// The test split (`t10k-*`).
    pub test: Split,
}

impl Mnist {
    /// Loads the four IDX files from `dir`, each raw or gzip'd (`name` or `name.gz`).
    ///
    /// Checks what a damaged or mixed-up download would break: the IDX headers and lengths,
    /// 28 × 28 images, as many labels as images, labels 0–9.
    pub fn load(dir: &Path) -> Result<Self, TaskError> {
        let [tri, trl, tei, tel] = FILES.map(|name| find(dir, name));
        Ok(Mnist {
            train: load_split(&tri?, &trl?)?,
            test: load_split(&tei?, &tel?)?,
        })
    }

    /// A stand-in for MNIST where a test must not read the data set: `n` images per split, each
    /// a vertical bar (rows 5–22) at a column that moves from image to image (the test split's
    /// shifted), every label 0.
    pub fn bars(n: usize) -> Mnist {
        let split = |shift: usize| {
            let mut pixels = vec![0u8; n * PIXELS];
            for i in 0..n {
                let x = 6 + (i * 7 + shift) % 16;
                for y in 5..23 {
                    pixels[i * PIXELS + y * SIDE + x] = 255;
                }
            }
            Split::new(pixels, vec![0; n]).expect("one digit label per image")
        };
        Mnist {
            train: split(0),
            test: split(3),
        }
    }

    /// The binary task "digit `a` (label 0) vs digit `b` (label 1)", train and test.
    ///
    /// Images keep their file order (the online order comes from [`shuffled_order`]).
    pub fn pair(&self, a: u8, b: u8, scale: PixelScale) -> Result<BinaryPair, TaskError> {
        if a > 9 || b > 9 || a == b {
            return Err(TaskError::Argument(format!(
                "a digit pair needs two different digits 0–9, got ({a}, {b})"
            )));
        }
        Ok(BinaryPair {
            digits: (a, b),
            train: select(&self.train, a, b, scale),
            test: select(&self.test, a, b, scale),
        })
    }
}

/// `dir/name`, else `dir/name.gz`, else an error saying how to get the data.
fn find(dir: &Path, name: &str) -> Result<PathBuf, TaskError> {
    let raw = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    if raw.is_file() {
        Ok(raw)
    } else if gz.is_file() {
        Ok(gz)
    } else {
        Err(TaskError::MissingFile {
            dir: dir.to_path_buf(),
            name: name.to_string(),
        })
    }
}

fn load_split(images: &Path, labels: &Path) -> Result<Split, TaskError> {
    let imgs = idx::read_images(images)?;
    if (imgs.rows, imgs.cols) != (SIDE, SIDE) {
        return Err(TaskError::Invalid {
            path: images.to_path_buf(),
            reason: format!(
                "images are {}×{} pixels, expected {SIDE}×{SIDE}",
                imgs.rows, imgs.cols
            ),
        });
    }
    let labs = idx::read_labels(labels)?;
    if labs.len() != imgs.count {
        return Err(TaskError::Invalid {
            path: labels.to_path_buf(),
            reason: format!(
                "{} labels for the {} images of {} (files from different data sets?)",
                labs.len(),
                imgs.count,
                images.display()
            ),
        });
    }
    if let Some(bad) = labs.iter().find(|&&l| l > 9) {
        return Err(TaskError::Invalid {
            path: labels.to_path_buf(),
            reason: format!("label {bad} is not a digit 0–9"),
        });
    }
    Ok(Split {
        images: imgs,
        labels: labs,
    })
}

fn select(split: &Split, a: u8, b: u8, scale: PixelScale) -> Samples {
    let table: Vec<f32> = (0..=255u8).map(|p| scale.apply(p)).collect();
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for (i, &l) in split.labels.iter().enumerate() {
        if l != a && l != b {
            continue;
        }
        // `load_split` checked the size, so every index below `count` has an image.
        if let Some(img) = split.images.image(i) {
            pixels.extend(img.iter().map(|&p| table[usize::from(p)]));
            labels.push(u8::from(l == b));
        }
    }
    Samples { pixels, labels }
}

/// Images of one binary task with labels 0/1, as `f32` inputs ready for the network.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    pixels: Vec<f32>,
    labels: Vec<u8>,
}

impl Samples {
    /// Builds samples from `labels.len()` images of [`PIXELS`] values each (e.g. synthetic
    /// data for tests); labels must be 0 or 1.
    pub fn new(pixels: Vec<f32>, labels: Vec<u8>) -> Result<Self, TaskError> {
        one_image_per_label(pixels.len(), &labels)?;
        if labels.iter().any(|&l| l > 1) {
            return Err(TaskError::Argument("binary labels must be 0 or 1".into()));
        }
        Ok(Samples { pixels, labels })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// `true` when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The [`PIXELS`] inputs of image `i`, row-major. Panics if `i >= len()`, like slice indexing.
    pub fn image(&self, i: usize) -> &[f32] {
        &self.pixels[i * PIXELS..(i + 1) * PIXELS]
    }

    /// The label (0 or 1) of image `i`.
    pub fn label(&self, i: usize) -> u8 {
        self.labels[i]
    }

    /// All labels, in image order.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }
}

/// The train and test images of a digit pair `(a, b)`: label 0 for `a`, 1 for `b`.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryPair {
    /// The two digits `(a, b)`.
    pub digits: (u8, u8),
    /// Training images (file order).
    pub train: Samples,
    /// Test images (file order).
    pub test: Samples,
}

/// A permutation of `0..n` drawn from `seed`, the same on every machine and every version.
///
/// Fisher–Yates driven by ChaCha8 (stream 0 of `seed`) with unbiased integer sampling
/// (Lemire's multiply-and-reject on `next_u64`), so the order depends on nothing but `seed`
/// and `n` — not on `rand`'s version.
pub fn shuffled_order(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = below(&mut rng, i as u64 + 1) as usize;
        order.swap(i, j);
    }
    order
}

/// Uniform integer in `0..bound` (bound ≥ 1), without modulo bias.
fn below(rng: &mut ChaCha8Rng, bound: u64) -> u64 {
    let threshold = bound.wrapping_neg() % bound; // 2^64 mod bound
    loop {
        let m = u128::from(rng.next_u64()) * u128::from(bound);
        if (m as u64) >= threshold {
            return (m >> 64) as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::tests::{gzip, images_bytes, labels_bytes};

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tasks-mnist-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A tiny MNIST-shaped data set: 6 train and 4 test images, labels cycling 0..=3.
    fn write_fake(dir: &Path, gz: bool) {
        let labels_train = [0u8, 1, 2, 3, 1, 2];
        let labels_test = [2u8, 1, 0, 1];
        let files = [
            (FILES[0], images_bytes(6, 28, 28)),
            (FILES[1], labels_bytes(&labels_train)),
            (FILES[2], images_bytes(4, 28, 28)),
            (FILES[3], labels_bytes(&labels_test)),
        ];
        for (name, bytes) in files {
            if gz {
                std::fs::write(dir.join(format!("{name}.gz")), gzip(&bytes)).unwrap();
            } else {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
    }

    #[test]
    fn load_raw_and_gz_and_select_a_pair() {
        for gz in [false, true] {
            let dir = tmpdir(if gz { "gz" } else { "raw" });
            write_fake(&dir, gz);
            let m = Mnist::load(&dir).unwrap();
            assert_eq!((m.train.images.count, m.test.images.count), (6, 4));
            let p = m.pair(1, 2, PixelScale::Unit).unwrap();
            assert_eq!(p.train.labels(), &[0, 1, 0, 1]); // 1, 2, 1, 2 in file order
            assert_eq!(p.test.labels(), &[1, 0, 0]); // 2, 1, 1
                                                     // Train image 1 is the second image of the file: pixel k = (784 + k) % 251.
            assert_eq!(p.train.image(0)[0], (784 % 251) as f32 / 255.0);
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn missing_and_mismatched_files_are_errors() {
        let dir = tmpdir("bad");
        let e = Mnist::load(&dir).unwrap_err();
        assert!(matches!(e, TaskError::MissingFile { .. }));
        assert!(e.to_string().contains("cargo xtask data"), "{e}");
        write_fake(&dir, false);
        std::fs::write(dir.join(FILES[3]), labels_bytes(&[1, 2, 3])).unwrap(); // 3 labels, 4 images
        assert!(matches!(Mnist::load(&dir), Err(TaskError::Invalid { .. })));
        std::fs::write(dir.join(FILES[3]), labels_bytes(&[1, 2, 3, 10])).unwrap();
        assert!(matches!(Mnist::load(&dir), Err(TaskError::Invalid { .. })));
        std::fs::write(dir.join(FILES[2]), images_bytes(4, 28, 27)).unwrap();
        assert!(matches!(Mnist::load(&dir), Err(TaskError::Invalid { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn splits_from_pixels_check_their_sizes_and_labels() {
        let s = Split::new(vec![7; 2 * PIXELS], vec![3, 9]).unwrap();
        assert_eq!((s.images.count, s.images.image(1).unwrap()[0]), (2, 7));
        assert!(Split::new(vec![0; PIXELS + 1], vec![0]).is_err());
        assert!(Split::new(vec![0; PIXELS], vec![10]).is_err());
    }

    #[test]
    fn bad_pairs_are_errors() {
        let dir = tmpdir("pairs");
        write_fake(&dir, false);
        let m = Mnist::load(&dir).unwrap();
        assert!(m.pair(1, 1, PixelScale::Unit).is_err());
        assert!(m.pair(1, 10, PixelScale::Unit).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn pixel_scales() {
        assert_eq!(PixelScale::Unit.apply(255), 1.0);
        assert_eq!(PixelScale::Unit.apply(0), 0.0);
        assert_eq!(PixelScale::Raw.apply(255), 255.0);
        assert!((PixelScale::Standardized.apply(0) + 0.424_212_9).abs() < 1e-6);
    }

    #[test]
    fn samples_validate() {
        assert!(Samples::new(vec![0.0; PIXELS], vec![1]).is_ok());
        assert!(Samples::new(vec![0.0; PIXELS - 1], vec![1]).is_err());
        assert!(Samples::new(vec![0.0; PIXELS], vec![2]).is_err());
    }

    #[test]
    fn shuffled_order_is_a_pinned_permutation() {
        let o = shuffled_order(1000, 7);
        let mut sorted = o.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_eq!(o, shuffled_order(1000, 7));
        assert_ne!(o, shuffled_order(1000, 8));
        // Pinned: any change to the shuffle changes every experiment's data order.
        assert_eq!(shuffled_order(10, 0), PINNED_10_0);
        assert!(shuffled_order(0, 0).is_empty());
        assert_eq!(shuffled_order(1, 0), vec![0]);
    }

    const PINNED_10_0: [usize; 10] = [6, 1, 8, 3, 2, 9, 0, 5, 4, 7];

    /// The real data, if `cargo xtask data` has been run: counts and a known pair size.
    #[test]
    fn real_mnist_if_present() {
        let dir = default_dir();
        if !dir.join(FILES[0]).exists() && !dir.join(format!("{}.gz", FILES[0])).exists() {
            eprintln!(
                "note: no MNIST in {} (run `cargo xtask data`); skipping",
                dir.display()
            );
            return;
        }
        let m = Mnist::load(&dir).unwrap();
        assert_eq!(
            (m.train.images.count, m.test.images.count),
            (60_000, 10_000)
        );
        let p = m.pair(1, 2, PixelScale::Unit).unwrap();
        // 6,742 ones and 5,958 twos in train; 1,135 and 1,032 in test.
        assert_eq!(
            (p.train.len(), p.test.len()),
            (6_742 + 5_958, 1_135 + 1_032)
        );
        assert_eq!(p.train.labels().iter().filter(|&&l| l == 0).count(), 6_742);
    }
}
