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

use crate::state::{check_inputs, Field, Fields};
use crate::{NonFinite, OptimError, Tensor, TensorStates};

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

/// Checks every tensor of one whole-model step before anything changes: a name given twice,
/// a length that differs from the tensor's state (or between parameters and gradients),
/// non-finite parameters and unusable gradients ([`check_inputs`]). Returns each tensor's
/// gradients to use (zeros for skipped coordinates under [`NonFinite::Skip`]).
pub(crate) fn check_model<'g, S>(
    states: &TensorStates<S>,
    tensors: &[Tensor<'g>],
    policy: NonFinite,
) -> Result<Vec<Cow<'g, [f32]>>, OptimError> {
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut grads = Vec::with_capacity(tensors.len());
    for t in tensors {
        if !seen.insert(t.name) {
            return Err(OptimError::DuplicateTensor {
                tensor: t.name.to_owned(),
            });
        }
        if let Some(len) = states.len_of(t.name) {
            if len != t.params.len() {
                return Err(OptimError::LengthMismatch {
                    tensor: t.name.to_owned(),
                    what: "params",
                    expected: len,
                    found: t.params.len(),
                });
            }
        }
        grads.push(check_inputs(t.name, t.params, t.grads, policy)?);
    }
    Ok(grads)
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

/// An optimizer made of `config`, per-tensor `states` and model-wide `global` scalars: the
/// struct, its `new`, `config`, `reset`, `state`, `Checkpoint`, `Inspect` and `StateBytes` (the
/// config's). Its `Optimizer` impl (the step, in `step_model`) is written by hand and implements
/// `next_task` as `reset`. The counterpart of `tensor_optimizer!` for the whole-model optimizers
/// of this module.
macro_rules! model_optimizer {
    ($(#[$meta:meta])* $ty:ident, $config:ty, $state:ty, $global:ty) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $ty {
            config: $config,
            pub(crate) states: $crate::TensorStates<$state>,
            pub(crate) global: $global,
        }

        impl $ty {
            /// Validates `config`.
            pub fn new(config: $config) -> Result<Self, $crate::OptimError> {
                config.validate()?;
                Ok($ty {
                    config,
                    states: $crate::TensorStates::default(),
                    global: <$global>::default(),
                })
            }

            /// The configuration.
            pub fn config(&self) -> &$config {
                &self.config
            }

            /// Forget every tensor's state and the model-wide scalars (a new task starts):
            /// afterwards the optimizer behaves bit for bit as one freshly built from the same
            /// config. What [`Optimizer::next_task`](crate::Optimizer::next_task) does.
            pub fn reset(&mut self) {
                self.states.clear();
                self.global = <$global>::default();
            }

            /// Every tensor's state by tensor name and field, and the model-wide scalars
            /// ([`StateView`](crate::StateView)).
            pub fn state(&self) -> $crate::StateView<'_> {
                let mut view = $crate::state::view(&self.states);
                view.model = $crate::model::model_fields(&self.global);
                view
            }
        }

        impl $crate::Inspect for $ty {
            fn state(&self) -> $crate::StateView<'_> {
                $ty::state(self)
            }
        }

        impl $crate::StateBytes for $ty {
            /// The config's bytes per coordinate.
            fn bytes_per_coordinate(&self) -> usize {
                $crate::StateBytes::bytes_per_coordinate(&self.config)
            }
        }

        impl $crate::Checkpoint for $ty {
            fn save(&self) -> Result<Vec<u8>, $crate::OptimError> {
                $crate::state::save(
                    stringify!($ty),
                    &(&self.config, &self.global, &self.states),
                )
            }

            /// Checks which optimizer wrote the checkpoint before decoding it, then restores its
            /// config (the hyperparameters as they were saved, as torch's `load_state_dict`),
            /// the model-wide scalars and every tensor's state, each checked before it is
            /// trusted (lengths, finite values, the optimizer's own ranges): a damaged one is
            /// [`OptimError::Corrupt`](crate::OptimError::Corrupt).
            fn load(&mut self, bytes: &[u8]) -> Result<(), $crate::OptimError> {
                let (config, global, states): ($config, $global, $crate::TensorStates<$state>) =
                    $crate::state::load(stringify!($ty), bytes)?;
                $crate::hyper::check_restore(&self.config, &config)?;
                $crate::model::check_scalars(&global)?;
                $crate::state::check_loaded(&config, &states)?;
                self.config = config;
                self.global = global;
                self.states = states;
                Ok(())
            }
        }
    };
}
pub(crate) use model_optimizer;
