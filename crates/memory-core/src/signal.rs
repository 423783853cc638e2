//! The learning signal s_d: did coordinate d keep the sign of its gradient?

/// How the memory reads the agreement of two consecutive gradients z_t, z_{t−1} of one coordinate.
///
/// The memory ascends on G_m = mean_d s_d ψ_m(z_{t−1}\[d\]): a positive s says "the last step was
/// too short" (the gradient kept its sign) and raises the learning rates near z_{t−1}; a negative
/// s says "it overshot" and lowers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Signal {
    /// s = clamp(z_t · z_{t−1}, −1, 1), as the authors' public code computes it
    /// (`MemoryStatic1d.compute_grad_change`). The default: it is what the papers' results used.
    #[default]
    ClippedProduct,
    /// s = sign(z_t · z_{t−1}) ∈ {−1, 0, 1}, Eq. 6 of "Learning to Learn while Learning".
    Sign,
}

impl Signal {
    /// The signal of one coordinate from its current and previous (clipped) gradient.
    ///
    /// ```
    /// use lrmem_memory_core::Signal;
    /// assert_eq!(Signal::ClippedProduct.eval(0.5, 0.5), 0.25);
    /// assert_eq!(Signal::ClippedProduct.eval(4.0, -3.0), -1.0);
    /// assert_eq!(Signal::Sign.eval(0.01, 0.02), 1.0);
    /// assert_eq!(Signal::Sign.eval(0.0, 0.02), 0.0);
    /// ```
    #[inline(always)]
    pub fn eval(self, current: f32, previous: f32) -> f32 {
        let p = current * previous;
        match self {
            Signal::ClippedProduct => p.clamp(-1.0, 1.0),
            Signal::Sign => {
                if p > 0.0 {
                    1.0
                } else if p < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
        }
    }
}
