//! The Fréchet distance's sanity: images of the same distribution are close, noise and blank
//! images are far, and the cached feature network is the trained one. On generated ten-class
//! images (always), and on real MNIST when `cargo xtask data` has fetched it.

use lrmem_tasks::fid::{frechet_distance, FeatureNet};
use lrmem_tasks::mnist::{Mnist, Split, PIXELS, SIDE};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

mod common;

/// `n` images of ten classes: class c is a vertical bar at column 3 + 2c, 3 pixels wide and
/// of random height, on faint noise; labels cycle through the classes.
fn bars(n: usize, seed: u64) -> Split {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut unit = move || common::unit(&mut rng);
    let mut pixels = Vec::with_capacity(n * PIXELS);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % 10;
        let top = 2 + (unit() * 8.0) as usize;
        let bottom = 18 + (unit() * 8.0) as usize;
        for y in 0..SIDE {
            for x in 0..SIDE {
                let on = (3 + 2 * c..6 + 2 * c).contains(&x) && (top..bottom).contains(&y);
                pixels.push(if on { 255 } else { (unit() * 40.0) as u8 });
            }
        }
        labels.push(c as u8);
    }
    Split::new(pixels, labels).unwrap()
}

/// Pixels p/255 of images `range` of `split`.
fn unit_pixels(split: &Split, range: std::ops::Range<usize>) -> Vec<f32> {
    split.images.pixels[range.start * PIXELS..range.end * PIXELS]
        .iter()
        .map(|&p| f32::from(p) / 255.0)
        .collect()
}

/// Two disjoint halves of the test images are close; uniform noise and blank images are far.
fn check_sanity(net: &FeatureNet, test: &Split, n: usize) -> (f64, f64, f64) {
    let a = net.gaussian(&unit_pixels(test, 0..n)).unwrap();
    let b = net.gaussian(&unit_pixels(test, n..2 * n)).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let noise: Vec<f32> = (0..n * PIXELS).map(|_| common::unit(&mut rng)).collect();
    let noise = net.gaussian(&noise).unwrap();
    let mut blank = vec![0.0f32; n * PIXELS];
    // A pixel of ink here and there, so that the features' covariance is not all zeros.
    for (i, v) in blank.iter_mut().enumerate().step_by(97) {
        *v = (i % 5) as f32 / 5.0;
    }
    let blank = net.gaussian(&blank).unwrap();
    let same = frechet_distance(&a, &b).unwrap();
    let to_noise = frechet_distance(&a, &noise).unwrap();
    let to_blank = frechet_distance(&a, &blank).unwrap();
    assert!(same >= -1e-9, "a distance is not negative: {same}");
    assert!(
        to_noise > 20.0 * same && to_blank > 20.0 * same,
        "real vs real {same}, vs noise {to_noise}, vs blank {to_blank}"
    );
    (same, to_noise, to_blank)
}

#[test]
fn fid_sanity_on_generated_classes_and_the_cache() {
    let mnist = Mnist {
        train: bars(3000, 1),
        test: bars(1000, 2),
    };
    let net = FeatureNet::train(&mnist, 0).unwrap();
    assert!(
        net.test_accuracy() > 0.9,
        "accuracy {}",
        net.test_accuracy()
    );
    check_sanity(&net, &mnist.test, 400);

    // The cache: written on first use, then read back to the same network.
    let dir = std::env::temp_dir().join(format!("lrmem-fid-{}", std::process::id()));
    let path = dir.join("features.bin");
    let images = unit_pixels(&mnist.test, 0..50);
    let first = FeatureNet::cached(&path, &mnist, 0).unwrap();
    assert_eq!(
        first.features(&images).unwrap(),
        net.features(&images).unwrap()
    );
    let bytes = std::fs::read(&path).unwrap();
    let again = FeatureNet::cached(&path, &mnist, 0).unwrap();
    assert_eq!(
        again.features(&images).unwrap(),
        net.features(&images).unwrap()
    );
    assert_eq!(again.test_accuracy(), net.test_accuracy());
    // A damaged file is replaced by a retrained network (the same, being seeded).
    let mut damaged = bytes.clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0x40;
    std::fs::write(&path, &damaged).unwrap();
    let repaired = FeatureNet::cached(&path, &mnist, 0).unwrap();
    assert_eq!(
        repaired.features(&images).unwrap(),
        net.features(&images).unwrap()
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    // Another seed is another network, not the cached one.
    let other = FeatureNet::cached(&path, &mnist, 1).unwrap();
    assert_eq!(other.seed(), 1);
    assert_ne!(
        other.features(&images).unwrap(),
        net.features(&images).unwrap()
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// On real MNIST, if present (a classifier trained on 10,000 training digits).
#[test]
fn fid_sanity_on_real_mnist() {
    let Some(full) = common::mnist_if_present() else {
        return;
    };
    let take = |s: &Split, n: usize| {
        Split::new(
            s.images.pixels[..n * PIXELS].to_vec(),
            s.labels[..n].to_vec(),
        )
        .unwrap()
    };
    let mnist = Mnist {
        train: take(&full.train, 10_000),
        test: full.test.clone(),
    };
    let net = FeatureNet::train(&mnist, 0).unwrap();
    // One epoch over a sixth of the digits: ≈ 0.90 (the full epoch of `FeatureNet::train` ≈ 0.97).
    assert!(
        net.test_accuracy() > 0.85,
        "accuracy {}",
        net.test_accuracy()
    );
    let (same, noise, blank) = check_sanity(&net, &mnist.test, 1000);
    eprintln!(
        "real MNIST: accuracy {:.4}; Fréchet distance real/real {same:.3}, real/noise {noise:.1}, real/blank {blank:.1}",
        net.test_accuracy()
    );
}
