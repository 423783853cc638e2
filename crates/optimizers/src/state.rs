//! Per-tensor state created lazily by name, input checks, and the checkpoint format shared by
//! every optimizer of this crate.

use std::borrow::Cow;
use std::collections::BTreeMap;

use memory_core::persist::{self, Kind};
use memory_core::NonFinite;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::OptimError;

/// Per-tensor states keyed by tensor name, created on a tensor's first step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorStates<S> {
    states: BTreeMap<String, (usize, S)>,
}

impl<S> Default for TensorStates<S> {
    fn default() -> Self {
        TensorStates {
            states: BTreeMap::new(),
        }
    }
}

impl<S> TensorStates<S> {
    /// The state of `name`, made with `init` on first use; errors if the tensor's length changed.
    pub fn get_or_init(
        &mut self,
        name: &str,
        len: usize,
        init: impl FnOnce() -> S,
    ) -> Result<&mut S, OptimError> {
        if !self.states.contains_key(name) {
            self.states.insert(name.to_owned(), (len, init()));
        }
        let (n, s) = self.states.get_mut(name).expect("inserted above");
        if *n != len {
            return Err(OptimError::LengthMismatch {
                tensor: name.to_owned(),
                what: "params",
                expected: *n,
                found: len,
            });
        }
        Ok(s)
    }

    /// The state of `name`, if it has stepped.
    pub fn get(&self, name: &str) -> Option<&S> {
        self.states.get(name).map(|(_, s)| s)
    }

    /// Names of the tensors seen so far, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.states.keys().map(String::as_str)
    }

    /// Forget every tensor.
    pub fn clear(&mut self) {
        self.states.clear();
    }

    /// Number of tensors seen.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// No tensor seen yet.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }
}

/// Checks `params`/`grads` lengths and finiteness before anything is changed.
///
/// Returns the gradients to use: borrowed when all are finite, a copy with non-finite
/// coordinates set to zero under [`NonFinite::Skip`].
pub fn check_inputs<'g>(
    name: &str,
    params: &[f32],
    grads: &'g [f32],
    policy: NonFinite,
) -> Result<Cow<'g, [f32]>, OptimError> {
    if params.len() != grads.len() {
        return Err(OptimError::LengthMismatch {
            tensor: name.to_owned(),
            what: "grads",
            expected: params.len(),
            found: grads.len(),
        });
    }
    // Fast path: one vectorisable pass.
    if grads.iter().all(|g| g.is_finite()) {
        return Ok(Cow::Borrowed(grads));
    }
    match policy {
        NonFinite::Skip => Ok(Cow::Owned(
            grads
                .iter()
                .map(|&g| if g.is_finite() { g } else { 0.0 })
                .collect(),
        )),
        _ => {
            let (index, &value) = grads
                .iter()
                .enumerate()
                .find(|(_, g)| !g.is_finite())
                .expect("one is not finite");
            Err(OptimError::NonFiniteGradient {
                tensor: name.to_owned(),
                index,
                value,
            })
        }
    }
}

/// Version of the optimizer checkpoint format written by this build.
pub(crate) const CHECKPOINT_VERSION: u16 = 1;

/// Writes `(tag, value)` in the versioned lrmem envelope.
pub(crate) fn save<T: Serialize>(tag: &str, value: &T) -> Result<Vec<u8>, OptimError> {
    Ok(persist::seal(
        Kind::Optimizer,
        CHECKPOINT_VERSION,
        &(tag, value),
    )?)
}

/// Reads what [`save`] wrote, checking the envelope and that `tag` names this optimizer.
pub(crate) fn load<T: DeserializeOwned>(tag: &str, bytes: &[u8]) -> Result<T, OptimError> {
    let (_, payload) = persist::open(bytes, Kind::Optimizer, CHECKPOINT_VERSION)?;
    let (found, value): (String, T) = persist::decode(payload)?;
    if found != tag {
        return Err(OptimError::Corrupt {
            reason: format!("this checkpoint was saved by `{found}`, not `{tag}`"),
        });
    }
    Ok(value)
}

/// An optimizer made of `config` and `states: TensorStates<_>`: the struct, its `new`, `config`,
/// `reset`, `Checkpoint` and `StateBytes` (the config's): one definition for every such
/// optimizer of this crate. Its `Optimizer` impl (the step) is written by hand and implements
/// `next_task` as `reset`.
macro_rules! tensor_optimizer {
    ($(#[$meta:meta])* $ty:ident, $tag:literal, $config:ty, $state:ty) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $ty {
            config: $config,
            states: $crate::TensorStates<$state>,
        }

        impl $ty {
            /// Validates `config`.
            pub fn new(config: $config) -> Result<Self, $crate::OptimError> {
                config.validate()?;
                Ok($ty {
                    config,
                    states: $crate::TensorStates::default(),
                })
            }

            /// The configuration.
            pub fn config(&self) -> &$config {
                &self.config
            }

            /// Forget every tensor's state (a new task starts): afterwards the optimizer behaves
            /// bit for bit as one freshly built from the same config. What
            /// [`Optimizer::next_task`](crate::Optimizer::next_task) does.
            pub fn reset(&mut self) {
                self.states.clear();
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
                $crate::state::save($tag, &(&self.config, &self.states))
            }

            fn load(&mut self, bytes: &[u8]) -> Result<(), $crate::OptimError> {
                let (config, states): ($config, $crate::TensorStates<$state>) =
                    $crate::state::load($tag, bytes)?;
                if config != self.config {
                    return Err($crate::OptimError::Corrupt {
                        reason: format!(
                            "the checkpoint's config {config:?} differs from this optimizer's {:?}",
                            self.config
                        ),
                    });
                }
                self.states = states;
                Ok(())
            }
        }
    };
}
pub(crate) use tensor_optimizer;
