//! The LeNet learns: online SGD through the adapter on generated data (always runs), and on
//! real MNIST 1 vs 2 when `cargo xtask data` has fetched it.

use std::sync::Arc;

use lrmem_optimizers::{Sgd, SgdConfig};
use lrmem_tasks::mnist::{BinaryPair, PixelScale, Samples, PIXELS, SIDE};
use lrmem_tasks::{OnlineMnist, Task};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

mod common;

/// `n` images of two pattern classes: class 0 a horizontal bar, class 1 a vertical bar, each
/// 3 pixels thick at a random place, on uniform noise in [0, 0.3).
fn bars(n: usize, seed: u64) -> Samples {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut unit = move || common::unit(&mut rng);
    let mut pixels = Vec::with_capacity(n * PIXELS);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let label = (i % 2) as u8;
        let at = 4 + (unit() * 18.0) as usize;
        for y in 0..SIDE {
            for x in 0..SIDE {
                let on = if label == 0 {
                    (at..at + 3).contains(&y)
                } else {
                    (at..at + 3).contains(&x)
                };
                pixels.push(if on { 1.0 } else { 0.3 * unit() });
            }
        }
        labels.push(label);
    }
    Samples::new(pixels, labels).unwrap()
}

/// Bars of two classes, `train` and `test` (count, seed) of them.
fn bar_pair(train: (usize, u64), test: (usize, u64)) -> Arc<BinaryPair> {
    Arc::new(BinaryPair {
        digits: (0, 1),
        train: bars(train.0, train.1),
        test: bars(test.0, test.1),
    })
}

/// Plain SGD at `lr`.
fn sgd(lr: f32) -> Sgd {
    Sgd::new(SgdConfig::with_lr(lr)).unwrap()
}

#[test]
fn lenet_learns_bars_online() {
    let pair = bar_pair((300, 1), (100, 2));
    for seed in [3, 4] {
        let mut task = OnlineMnist::new(pair.clone(), seed).unwrap();
        let mut opt = sgd(0.05);
        let before = task.evaluate().unwrap();
        let losses: Vec<f32> = (0..300).map(|_| task.update(&mut opt).unwrap()).collect();
        let mean = |s: &[f32]| s.iter().sum::<f32>() / s.len() as f32;
        let (first, last) = (mean(&losses[..50]), mean(&losses[250..]));
        let after = task.evaluate().unwrap();
        eprintln!("bars, seed {seed}: loss {first:.3} → {last:.3}, test accuracy {before:.2} → {after:.2}");
        assert!(last < 0.5 * first, "loss did not fall: {first} → {last}");
        assert!(after >= 0.95, "test accuracy {after}");
        assert_eq!(task.updates(), 300);
    }
}

/// Same seed, same trajectory, bit for bit.
#[test]
fn online_training_is_reproducible() {
    let pair = bar_pair((40, 5), (10, 6));
    let run = |seed| {
        let mut task = OnlineMnist::new(pair.clone(), seed).unwrap();
        let mut opt = sgd(0.01);
        (0..20)
            .map(|_| task.update(&mut opt).unwrap().to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

/// Real MNIST 1 vs 2, if present: a few hundred SGD updates reach a useful accuracy.
#[test]
fn real_mnist_one_vs_two_if_present() {
    let Some(mnist) = common::mnist_if_present() else {
        return;
    };
    let pair = Arc::new(mnist.pair(1, 2, PixelScale::Unit).unwrap());
    let mut task = OnlineMnist::new(pair, 0).unwrap();
    let mut opt = sgd(0.01);
    for _ in 0..300 {
        task.update(&mut opt).unwrap();
    }
    let acc = task.evaluate().unwrap();
    eprintln!("MNIST 1 vs 2 after 300 SGD(0.01) updates: test accuracy {acc:.4}");
    assert!(acc > 0.9, "test accuracy {acc}");
}

#[test]
fn tasks_can_move_between_threads_and_reject_empty_pairs() {
    fn send<T: Send>() {}
    send::<OnlineMnist>();
    let empty = Samples::new(Vec::new(), Vec::new()).unwrap();
    let pair = Arc::new(BinaryPair {
        digits: (0, 1),
        train: empty,
        test: bars(2, 0),
    });
    assert!(matches!(
        OnlineMnist::new(pair, 0),
        Err(lrmem_tasks::TaskError::Argument(_))
    ));
}

/// The early-exit threshold check says exactly what a full evaluation says, at every point of a
/// run and for thresholds around the accuracy (including ones it equals), while classifying
/// fewer images when the answer is "not yet".
#[test]
fn threshold_check_agrees_with_full_evaluation() {
    let pair = bar_pair((200, 11), (96, 12));
    let n = 96.0;
    let mut task = OnlineMnist::new(pair, 13).unwrap();
    let mut opt = sgd(0.02);
    let mut saved = 0u64;
    let mut seen_both = (false, false);
    for update in 0..150 {
        if update > 0 {
            task.update(&mut opt).unwrap();
        }
        if update % 10 != 0 {
            continue;
        }
        let acc = task.evaluate().unwrap();
        let correct = (acc * n).round();
        let thresholds = [
            0.0,
            0.5,
            0.9,
            0.98,
            1.0,
            correct / n,         // exactly the accuracy
            (correct + 1.0) / n, // one image more
            (correct - 1.0) / n, // one image fewer
        ];
        for thr in thresholds {
            let check = task.check(thr).unwrap();
            let full = task.metric().reached(task.evaluate().unwrap(), thr);
            assert_eq!(
                check.reached, full,
                "update {update}, accuracy {acc}, threshold {thr}"
            );
            if check.reached {
                assert_eq!(check.samples, 96, "reaching needs every image");
                seen_both.0 = true;
            } else {
                saved += 96 - check.samples;
                seen_both.1 = true;
            }
        }
    }
    assert!(seen_both.0 && seen_both.1, "both answers were exercised");
    assert!(saved > 0, "the early exit classified fewer images");
}
