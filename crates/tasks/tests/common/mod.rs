//! What the integration tests share: real MNIST when it is there, and the 24-bit uniform
//! draws their synthetic images are made of.

use lrmem_tasks::mnist::{default_dir, Mnist};
use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha8Rng;

/// MNIST from the folder `cargo xtask data` fills, or `None` after a note saying that the
/// test skips its real-data part.
pub fn mnist_if_present() -> Option<Mnist> {
    let dir = default_dir();
    let mnist = Mnist::load(&dir).ok();
    if mnist.is_none() {
        eprintln!(
            "note: no MNIST in {} (run `cargo xtask data`); skipping",
            dir.display()
        );
    }
    mnist
}

/// A draw from U[0, 1) from 24 random bits.
pub fn unit(rng: &mut ChaCha8Rng) -> f32 {
    (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32
}
