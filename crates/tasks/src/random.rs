//! The seeded random draws every model and data set of this crate is made from, one function
//! for each kind of draw: ChaCha8 bits turned into numbers by exact arithmetic (a power-of-two
//! division), so that the same seed gives the same numbers on every machine and every version
//! of `rand`.
//!
//! - [`uniform`]: f32 in U(−bound, bound) from 24 bits (models' initial weights, noise codes).
//! - [`unit`]: f64 in [0, 1) from 53 bits (the Panda's motions).
//! - [`normal`]: a standard normal by Box–Muller with the standard library's `ln` and `cos`
//!   (the synthetic logistic data, the Panda's sensor noise).
//! - [`portable_normal`]: the same construction through the pure-Rust `libm`, for the
//!   experiments whose every number must reproduce on any machine (MAML, the learned
//!   optimizer's task families).

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// ChaCha8 seeded with `seed`, on its stream `stream`: the independent streams one seed
/// gives a run (by convention stream 0 orders the data, stream 1 initialises the model, stream
/// 2 draws noise).
pub(crate) fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// `n` draws from U(−bound, bound), each from 24 random bits (→ [0, 1) exactly representable
/// in f32), so that every model of this crate initialises the same way on every machine.
pub(crate) fn uniform(rng: &mut ChaCha8Rng, n: usize, bound: f32) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let u = (rng.next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32);
            (2.0 * u - 1.0) * bound
        })
        .collect()
}

/// Uniform in [0, 1) from the top 53 bits.
pub(crate) fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A standard normal deviate (Box–Muller: u in (0, 1) from 53 bits and a half step, v =
/// [`unit`]), so that data depend only on seeds.
pub(crate) fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u = ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let v = unit(rng);
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// A standard normal draw (Box–Muller on u₁ = 1 − [`unit`] ∈ (0, 1] and u₂ = [`unit`], with
/// `libm`, so that it is the same on every machine).
pub(crate) fn portable_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1 = 1.0 - unit(rng);
    let u2 = unit(rng);
    libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * core::f64::consts::PI * u2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`uniform`] multiplies by 2⁻²⁴ where the weights of the learned optimizer's MNIST
    /// problem and the tests' inputs were drawn dividing by 2²⁴: the same numbers, bit for bit
    /// (a power of two scales exactly).
    #[test]
    fn uniform_is_the_division_form_bit_for_bit() {
        let (mut a, mut b) = (ChaCha8Rng::seed_from_u64(7), ChaCha8Rng::seed_from_u64(7));
        for bound in [1.0, 0.3, 1.0 / 784f32.sqrt(), 1.0 / 20f32.sqrt()] {
            for got in uniform(&mut a, 1000, bound) {
                let want = ((b.next_u32() >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0) * bound;
                assert_eq!(got.to_bits(), want.to_bits());
            }
        }
    }
}
