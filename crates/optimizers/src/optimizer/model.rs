//! Optimizers whose step needs the whole model at once: the learning-rate-free peers
//! (Prodigy, D-Adaptation, DoG, Schedule-Free, Mechanic) estimate a distance, a norm or a
//! weighting over every tensor of the model, as their references do over a parameter group.
//!
//! Such an optimizer keeps per-tensor state (made on a tensor's first step, as the others) and
//! model-wide scalars (a [`ModelScalars`]), and implements
//! [`Optimizer::step_model`](crate::Optimizer::step_model) as its step: **hand it every tensor of
//! the model in one call**. [`Optimizer::step`](crate::Optimizer::step) on one tensor is a step of
//! a model made of that tensor alone (what its reference does with a one-tensor group), so that
//! stepping a multi-tensor model tensor by tensor would count one model step per tensor.
//!
//! Before anything changes, [`check_model`] checks every tensor of the call (lengths, against the
//! state's too, a name given twice, finite parameters, usable gradients), so that an error leaves
//! every tensor and all state as they were, as for the per-tensor optimizers.

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde::{de::DeserializeOwned, Serialize};

use crate::optimizer::inputs::{check_decay, check_inputs, check_length};
use crate::optimizer::state::TensorStates;
use crate::optimizer::state::{Field, Fields};
use crate::optimizer::{OptimError, Tensor};
use lrmem_memory_core::NonFinite;

/// The model-wide scalars of a whole-model optimizer (Prodigy's d and its running sums, the
/// step count k, …): saved in checkpoints next to the per-tensor states and checked on load.
pub(crate) trait ModelScalars:
    Serialize + DeserializeOwned + Default + Clone + PartialEq + std::fmt::Debug
{
    /// Every scalar by name, for [`StateView::model`](crate::StateView::model) and the load
    /// check (each must be finite; counts are listed as such).
    fn fields(&self) -> Vec<(&'static str, Field<'static>)>;

    /// A constraint beyond finiteness that these scalars break (a negative sum, a d below d₀),
    /// in words.
    fn problem(&self) -> Option<String> {
        None
    }
}

/// No model-wide scalars: the optimizers that step one tensor at a time.
impl ModelScalars for () {
    fn fields(&self) -> Vec<(&'static str, Field<'static>)> {
        Vec::new()
    }
}

/// The model-wide fields of a [`StateView`](crate::StateView).
pub(crate) fn model_fields<G: ModelScalars>(global: &G) -> Fields<'static> {
    global
        .fields()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// Checks loaded model-wide scalars: every one finite, and the optimizer's own constraints.
pub(crate) fn check_scalars<G: ModelScalars>(global: &G) -> Result<(), OptimError> {
    let corrupt = |what: String| OptimError::Corrupt {
        reason: format!(
            "the model-wide state {what}; the checkpoint is damaged or was not written by lrmem"
        ),
    };
    for (name, value) in global.fields() {
        if let Field::Scalar(x) = value {
            if !x.is_finite() {
                return Err(corrupt(format!("has `{name}` = {x}")));
            }
        }
    }
    match global.problem() {
        Some(p) => Err(corrupt(p)),
        None => Ok(()),
    }
}

/// The gradients [`check_model`] replaced (zeros for skipped coordinates under
/// [`NonFinite::Skip`]), owned, so that the tensors can be stepped while they are read; `None`
/// where a tensor's own gradients are used as they are.
pub(crate) fn replaced(grads: Vec<Cow<'_, [f32]>>) -> Vec<Option<Vec<f32>>> {
    grads
        .into_iter()
        .map(|g| match g {
            Cow::Borrowed(_) => None,
            Cow::Owned(v) => Some(v),
        })
        .collect()
}

/// Checks every tensor of one whole-model step before anything changes: a name given twice,
/// a length that differs from the tensor's state (or between parameters and gradients),
/// non-finite parameters and unusable gradients ([`check_inputs`]). Returns each tensor's
/// gradients to use (zeros for skipped coordinates under [`NonFinite::Skip`]).
pub(crate) fn check_model<'g, S>(
    states: &TensorStates<S>,
    tensors: &[Tensor<'g>],
    policy: NonFinite,
) -> Result<Vec<Cow<'g, [f32]>>, OptimError> {
    check_distinct(tensors)?;
    let mut grads = Vec::with_capacity(tensors.len());
    for t in tensors {
        if let Some(len) = states.len_of(t.name) {
            check_length(t.name, "params", len, t.params.len())?;
        }
        grads.push(check_inputs(t.name, t.params, t.grads, policy)?);
    }
    Ok(grads)
}

/// [`check_model`], then weight decay `weight_decay` coupled to every tensor's gradients
/// ([`check_decay`]; nothing with 0): the checks a whole-model step begins with, changing
/// nothing, for its [`Optimizer::check_model`](crate::Optimizer::check_model).
pub(crate) fn check_model_decay<S>(
    states: &TensorStates<S>,
    tensors: &[Tensor<'_>],
    policy: NonFinite,
    weight_decay: f32,
) -> Result<(), OptimError> {
    let grads = check_model(states, tensors, policy)?;
    for (t, g) in tensors.iter().zip(&grads) {
        check_decay(t.name, t.params, Some(g), weight_decay)?;
    }
    Ok(())
}

/// Refuses a model step that names a tensor twice ([`OptimError::DuplicateTensor`], naming
/// the first repeated name): one rule for every optimizer, checked before anything moves, so
/// that no tensor is stepped twice in one model step and no per-tensor optimizer accepts what a
/// whole-model one refuses.
pub(crate) fn check_distinct(tensors: &[Tensor<'_>]) -> Result<(), OptimError> {
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    match tensors.iter().find(|t| !seen.insert(t.name)) {
        Some(t) => Err(OptimError::DuplicateTensor {
            tensor: t.name.to_owned(),
        }),
        None => Ok(()),
    }
}

/// Checks one tensor of a per-tensor optimizer's step, changing nothing: its inputs
/// ([`check_inputs`] under `policy`), weight decay `weight_decay` coupled to the gradient
/// ([`check_decay`]; 0 where the step does not check it), and its length against its state.
/// The checks of the step itself, in its order, for
/// [`Optimizer::check_step`](crate::Optimizer::check_step).
pub(crate) fn check_tensor<S>(
    states: &TensorStates<S>,
    name: &str,
    params: &[f32],
    grads: &[f32],
    policy: NonFinite,
    weight_decay: f32,
) -> Result<(), OptimError> {
    let grads = check_inputs(name, params, grads, policy)?;
    check_decay(name, params, Some(&grads), weight_decay)?;
    if let Some(len) = states.len_of(name) {
        check_length(name, "params", len, params.len())?;
    }
    Ok(())
}

/// `x` clamped to ±`f32::MAX`: the peers' moments, sums and parameters saturate instead of
/// overflowing, so that hostile inputs never put ∞ (and then NaN) into their state.
#[inline(always)]
pub(crate) fn sat(x: f32) -> f32 {
    x.clamp(-f32::MAX, f32::MAX)
}

/// `x` as f32, saturated at ±`f32::MAX`: a coefficient the references compute as a Python
/// float (f64) and torch rounds to float32.
#[inline(always)]
pub(crate) fn coef(x: f64) -> f32 {
    x.clamp(-(f32::MAX as f64), f32::MAX as f64) as f32
}

/// Σ |x| in f64.
pub(crate) fn sum_abs(a: &[f32]) -> f64 {
    a.iter().map(|&x| (x as f64).abs()).sum()
}
