//! Thin adaptor: step an [`ndarray`] array with any [`Optimizer`].

use ndarray::{ArrayBase, DataMut, Dimension, RawData};

use crate::optimizer::{OptimError, Optimizer};

/// Steps the tensor `name` held in an ndarray array. Both arrays must be contiguous in
/// memory (standard or Fortran layout) and of one shape; the gradient may be any ndarray data.
///
/// ```
/// use ndarray::array;
/// use lrmem_optimizers::{ndarray::step_array, Sgd, SgdConfig};
/// let mut sgd = Sgd::new(SgdConfig::with_lr(0.5))?;
/// let mut w = array![[1.0f32, 2.0], [3.0, 4.0]];
/// step_array(&mut sgd, "w", &mut w, &array![[2.0f32, 2.0], [2.0, 2.0]])?;
/// assert_eq!(w, array![[0.0f32, 1.0], [2.0, 3.0]]);
/// # Ok::<(), lrmem_optimizers::OptimError>(())
/// ```
pub fn step_array<O, S, T, D>(
    opt: &mut O,
    name: &str,
    params: &mut ArrayBase<S, D>,
    grads: &ArrayBase<T, D>,
) -> Result<(), OptimError>
where
    O: Optimizer + ?Sized,
    S: DataMut<Elem = f32>,
    T: ndarray::Data + RawData<Elem = f32>,
    D: Dimension,
{
    if params.shape() != grads.shape() {
        return Err(OptimError::length_mismatch(
            name,
            "grads (shape)",
            params.len(),
            grads.len(),
        ));
    }
    if params.strides() != grads.strides() {
        return Err(OptimError::invalid(
            "grads",
            "different memory order",
            "laid out like params (both standard or both Fortran order)",
        ));
    }
    let g = grads.as_slice_memory_order().ok_or_else(|| {
        OptimError::invalid("grads", "a non-contiguous view", "contiguous in memory")
    })?;
    let w = params.as_slice_memory_order_mut().ok_or_else(|| {
        OptimError::invalid("params", "a non-contiguous view", "contiguous in memory")
    })?;
    opt.step(name, w, g)
}
