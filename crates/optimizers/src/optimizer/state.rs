//! Per-tensor state created lazily by name, what a loaded state must satisfy, and
//! [`StateView`], a structured read-only view of any optimizer's state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::optimizer::inputs::check_length;
use crate::optimizer::OptimError;

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
        check_length(name, "params", *n, len)?;
        Ok(s)
    }

    /// The state of tensor `name` with parameters `params`, started under `config` on its first
    /// step ([`StateRules::start`]): how every optimizer of this crate finds a tensor's state.
    /// Errors if the tensor's length changed.
    pub(crate) fn get_or_start<C: StateRules<S>>(
        &mut self,
        name: &str,
        params: &[f32],
        config: &C,
    ) -> Result<&mut S, OptimError> {
        self.get_or_init(name, params.len(), || config.start(params))
    }

    /// The state of `name`, if it has stepped.
    pub fn get(&self, name: &str) -> Option<&S> {
        self.states.get(name).map(|(_, s)| s)
    }

    /// The state of `name`, mutably, if it has stepped.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut S> {
        self.states.get_mut(name).map(|(_, s)| s)
    }

    /// The length `name` had when its state was made, if it has stepped: what a later step
    /// must pass again.
    pub fn len_of(&self, name: &str) -> Option<usize> {
        self.states.get(name).map(|(n, _)| *n)
    }

    /// Names of the tensors seen so far, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.states.keys().map(String::as_str)
    }

    /// Every tensor's name and state, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &S)> {
        self.states.iter().map(|(k, (_, s))| (k.as_str(), s))
    }

    /// The same tensors with each state converted by `f` (a checkpoint of an earlier format
    /// read into today's state).
    pub(crate) fn map<T>(self, mut f: impl FnMut(S) -> T) -> TensorStates<T> {
        TensorStates {
            states: self
                .states
                .into_iter()
                .map(|(k, (n, s))| (k, (n, f(s))))
                .collect(),
        }
    }

    /// Forget every tensor.
    pub fn clear(&mut self) {
        self.states.clear();
    }

    /// No tensor seen yet.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }
}

/// One field of an optimizer's state in a [`StateView`], borrowed from the optimizer.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Field<'a> {
    /// One value per coordinate of the tensor (moments, buffers, traces), or per local model
    /// of a memory (θ and its optimizer's moments).
    Values(&'a [f32]),
    /// One number for the whole tensor (hypergradient descent's learned rate α).
    Scalar(f32),
    /// A count (steps taken).
    Count(u64),
    /// A name (the memory of learning rates a tensor uses).
    Text(&'a str),
}

impl<'a> Field<'a> {
    /// The values, if the field is per coordinate.
    pub fn values(&self) -> Option<&'a [f32]> {
        match *self {
            Field::Values(v) => Some(v),
            _ => None,
        }
    }
}

/// The fields of one tensor's (or one memory's) state, by name.
pub type Fields<'a> = BTreeMap<String, Field<'a>>;

/// A structured, read-only view of an optimizer's state, like torch's `state_dict`: per tensor
/// name, its fields by name; for [`Meta`](crate::Meta), also every memory of learning rates.
///
/// The field names are those of the optimizer's per-tensor state struct (`AdamState`: `step`,
/// `m`, `v`; `SgdState`: `step`, `buf`; `RpropState`: `prev`, `step`; `HdState`: `step`, `lr`,
/// `a`, `b`). `Meta` lists its own fields (`memory`, `trace`, `steps`, and `rates` when
/// [`Meta::record_rates`](crate::Meta::record_rates) is on) and its base's, prefixed with
/// `base.`; its memories have `theta`, `m`, `v` and `step` (the memory optimizer's moments and
/// step count). For logging and debugging: what a checkpoint holds, without decoding one.
///
/// ```
/// use lrmem_optimizers::{Adam, AdamConfig, Optimizer};
/// let mut adam = Adam::new(AdamConfig::default())?;
/// let mut w = vec![1.0f32, 2.0];
/// adam.step("fc.weight", &mut w, &[0.5, -0.5])?;
/// let view = adam.state();
/// let m = view.values("fc.weight", "m").unwrap(); // m = (1 − β₁)·g
/// assert!((m[0] - 0.05).abs() < 1e-6 && (m[1] + 0.05).abs() < 1e-6);
/// assert_eq!(view.get("fc.weight", "step"), Some(lrmem_optimizers::Field::Count(1)));
/// # Ok::<(), lrmem_optimizers::OptimError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateView<'a> {
    /// Every tensor that has stepped, by name.
    pub tensors: BTreeMap<String, Fields<'a>>,
    /// Every memory of learning rates, by key (empty for optimizers without one).
    pub memories: BTreeMap<String, Fields<'a>>,
    /// Model-wide scalars of the optimizers whose step needs the whole model (Prodigy's `d`,
    /// the step count `k`, …); empty for the others.
    pub model: Fields<'a>,
}

impl<'a> StateView<'a> {
    /// The field `field` of tensor `tensor`.
    pub fn get(&self, tensor: &str, field: &str) -> Option<Field<'a>> {
        self.tensors.get(tensor)?.get(field).copied()
    }

    /// The per-coordinate values of field `field` of tensor `tensor`.
    pub fn values(&self, tensor: &str, field: &str) -> Option<&'a [f32]> {
        self.get(tensor, field)?.values()
    }
}

/// Optimizers that can show their state as a [`StateView`]; every optimizer of this crate.
pub trait Inspect {
    /// The state, by tensor name and field.
    fn state(&self) -> StateView<'_>;
}

/// A value of a per-tensor state as a [`Field`]: what [`state_fields!`] lists each field with.
///
/// [`state_fields!`]: crate::optimizer::macros::state_fields
pub(crate) trait AsField {
    /// The value, borrowed where it is a vector.
    fn as_field(&self) -> Field<'_>;
}

/// A step count.
impl AsField for u64 {
    fn as_field(&self) -> Field<'_> {
        Field::Count(*self)
    }
}

/// One number for the whole tensor.
impl AsField for f32 {
    fn as_field(&self) -> Field<'_> {
        Field::Scalar(*self)
    }
}

/// One value per coordinate.
impl AsField for Vec<f32> {
    fn as_field(&self) -> Field<'_> {
        Field::Values(self)
    }
}

/// A per-tensor state that lists its fields for a [`StateView`].
pub(crate) trait StateFields {
    /// Adds every field, named as the struct's field.
    fn fields<'a>(&'a self, out: &mut Fields<'a>);
}

/// The rules a config sets for its per-tensor state `S`: how a tensor's state starts, what a
/// loaded one must satisfy before an optimizer trusts it (a damaged or hand-made checkpoint is an
/// error on load, never a panic, a frozen coordinate or NaN on the next step), and how state
/// learned under this config follows a change of hyperparameters.
pub(crate) trait StateRules<S> {
    /// The state a tensor of `len` coordinates starts with, values read from its parameters
    /// aside: the lengths a loaded one must have. Each vector has `len` values or a number
    /// that does not depend on `len` (an unused buffer's 0), which [`check_loaded`] relies on
    /// to check a crafted length without allocating it.
    fn fresh(&self, len: usize) -> S;
    /// The state a tensor starts with at its first step, from its parameters there: the
    /// [`fresh`](Self::fresh) one by default; the optimizers that keep the starting point x₀
    /// (or start an average at it) fill it in.
    fn start(&self, params: &[f32]) -> S {
        self.fresh(params.len())
    }
    /// A constraint beyond lengths and finiteness that `state` breaks (a negative second
    /// moment, a step size out of range), in words.
    fn problem(&self, _state: &S) -> Option<String> {
        None
    }
    /// Whether [`follow`](Self::follow) changes state: a change of hyperparameters is then
    /// recorded and followed at the next step ([`defer_follow`]).
    const FOLLOWS: bool = false;
    /// Adjusts `state`, learned under `self`, to the hyperparameters of `new` (a learning rate
    /// learned per tensor or coordinate relative to the initial one follows a new initial one).
    /// Called only when the two configs differ, at the first step after the change (a value set
    /// and set back before it changes nothing), and the result must pass
    /// [`problem`](Self::problem) under `new` whatever the two configs: a rescaled value
    /// saturates at the bounds the state keeps (docs/guide.md §11). Keeps the state as it is by
    /// default: a new value applies from the next step.
    fn follow(&self, _new: &Self, _state: &mut S) {}
}

/// Bytes of per-coordinate state of a tensor under `config`: 4 for every value per coordinate of
/// a fresh state (one of a tensor of one coordinate), so that the count follows the state's own
/// fields and cannot disagree with them.
pub(crate) fn bytes_per_coordinate<C: StateRules<S>, S: StateFields>(config: &C) -> usize {
    let fresh = config.fresh(1);
    let mut fields = Fields::new();
    fresh.fields(&mut fields);
    fields
        .values()
        .map(|f| match f {
            Field::Values(v) => 4 * v.len(),
            _ => 0,
        })
        .sum()
}

/// Adjusts every tensor's state to a change of config from `old` to `new`
/// ([`StateRules::follow`]).
pub(crate) fn follow<C: StateRules<S> + PartialEq, S>(
    old: &C,
    new: &C,
    states: &mut TensorStates<S>,
) {
    if old != new {
        for (_, state) in states.states.values_mut() {
            old.follow(new, state);
        }
    }
}

/// Records a change of config from `old` to `new` for the tensors' state to follow at the next
/// step (`pending`: the config the state was learned under, if a change is pending already).
/// Only for a config whose state follows ([`StateRules::FOLLOWS`]) and only while tensors have
/// state; a value set back to the one the state was learned under leaves nothing pending.
pub(crate) fn defer_follow<C: StateRules<S> + PartialEq + Copy, S>(
    pending: &mut Option<C>,
    old: &C,
    new: &C,
    states: &TensorStates<S>,
) {
    if !C::FOLLOWS || states.is_empty() {
        *pending = None;
        return;
    }
    let learned = pending.unwrap_or(*old);
    *pending = (learned != *new).then_some(learned);
}

/// A per-tensor buffer of `len` zeros where the config keeps one (`kept`: SGD's momentum > 0, a
/// first moment's β₁ > 0), else an empty one; a change between the two is a
/// [`buffer_switch`](crate::optimizer::hyper::buffer_switch).
pub(crate) fn buffer(kept: bool, len: usize) -> Vec<f32> {
    if kept {
        vec![0.0; len]
    } else {
        Vec::new()
    }
}

/// A second moment must not be negative (its square root would be NaN).
pub(crate) fn negative(field: &str, values: &[f32]) -> Option<String> {
    let bad = values.iter().find(|&&x| x < 0.0)?;
    Some(format!("has a negative second moment `{field}` = {bad}"))
}

/// Checks every loaded tensor state against `config` ([`StateRules`]): each vector as long as a
/// fresh state's, every value finite, and the config's own constraints.
pub(crate) fn check_loaded<C: StateRules<S>, S: StateFields>(
    config: &C,
    states: &TensorStates<S>,
) -> Result<(), OptimError> {
    let corrupt = |name: &str, what: String| {
        OptimError::Corrupt {
        reason: format!("the state of tensor `{name}` {what}; the checkpoint is damaged or was not written by lrmem"),
    }
    };
    for (name, (len, state)) in &states.states {
        let mut got = Fields::new();
        state.fields(&mut got);
        // The recorded length comes from the file: a fresh state is built for it only where it
        // cannot be larger than what the file itself holds. Beyond its longest field, one for
        // one coordinate more stands in: a field that grows with the length is too short there
        // as it is at `len`, and one that does not is the same (a crafted length of 2⁶⁰ would
        // otherwise abort the process allocating it).
        let longest = got
            .values()
            .filter_map(|v| v.values().map(<[f32]>::len))
            .max()
            .unwrap_or(0);
        let beyond = *len > longest;
        let fresh = config.fresh(if beyond { longest + 1 } else { *len });
        let mut want = Fields::new();
        fresh.fields(&mut want);
        for (field, value) in &got {
            match (value, want.get(field)) {
                (Field::Values(v), Some(Field::Values(w))) if v.len() != w.len() => {
                    let expected = if beyond {
                        "more expected".to_owned()
                    } else {
                        format!("{} expected", w.len())
                    };
                    return Err(corrupt(
                        name,
                        format!(
                            "has {} values of `{field}` for {len} coordinates ({expected})",
                            v.len()
                        ),
                    ));
                }
                (Field::Values(v), _) if v.iter().any(|x| !x.is_finite()) => {
                    return Err(corrupt(name, format!("has non-finite values of `{field}`")))
                }
                (Field::Scalar(x), _) if !x.is_finite() => {
                    return Err(corrupt(name, format!("has `{field}` = {x}")))
                }
                _ => {}
            }
        }
        if let Some(problem) = config.problem(state) {
            return Err(corrupt(name, problem));
        }
    }
    Ok(())
}

/// The view of optimizers made of `TensorStates` of a [`StateFields`] state.
pub(crate) fn view<S: StateFields>(states: &TensorStates<S>) -> StateView<'_> {
    StateView {
        tensors: states
            .iter()
            .map(|(name, s)| {
                let mut fields = Fields::new();
                s.fields(&mut fields);
                (name.to_owned(), fields)
            })
            .collect(),
        memories: BTreeMap::new(),
        model: Fields::new(),
    }
}
