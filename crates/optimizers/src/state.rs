//! Per-tensor state created lazily by name, input checks, the checkpoint format shared by every
//! optimizer of this crate, and [`StateView`], a structured read-only view of any optimizer's
//! state.

use std::borrow::Cow;
use std::collections::BTreeMap;

use lrmem_memory_core::persist::{self, Kind};
use lrmem_memory_core::NonFinite;
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

/// Where [`check_inputs`] tells the user to set [`NonFinite::Skip`]: the `non_finite` field of
/// the config of every optimizer of this crate but [`Meta`](crate::Meta), which says where its
/// own policy lives.
pub(crate) const NON_FINITE_SETTING: &str = "the `non_finite` field of the optimizer's config";

/// The largest gradient magnitude an optimizer accepts: its square (Adam's second moment) and
/// its products with a previous gradient (hypergradients) stay finite in f32. Larger gradients
/// are treated as non-finite ones: an error, or skipped under [`NonFinite::Skip`].
pub const MAX_GRADIENT: f32 = 1e18;

/// Whether `g` is a usable gradient coordinate: finite and within ±[`MAX_GRADIENT`].
#[inline(always)]
fn usable(g: f32) -> bool {
    g.abs() <= MAX_GRADIENT
}

/// Checks that weight decay keeps every coordinate usable, before anything is changed:
/// g + λw with `grads` (coupled decay, which adds λw to the gradient), λw without (decoupled
/// decay in a direction). A finite parameter gets there only when it has diverged (|w| ≳
/// 10¹⁸/λ); a NaN or infinite one always does. Lengths are checked by [`check_inputs`].
pub(crate) fn check_decay(
    name: &str,
    params: &[f32],
    grads: Option<&[f32]>,
    weight_decay: f32,
) -> Result<(), OptimError> {
    if weight_decay == 0.0 {
        return Ok(());
    }
    let term = |d: usize, w: f32| grads.map_or(0.0, |g| g[d]) + weight_decay * w;
    // Fast path: one vectorisable pass.
    let ok = match grads {
        Some(g) => params
            .iter()
            .zip(g)
            .all(|(&w, &g)| usable(g + weight_decay * w)),
        None => params.iter().all(|&w| usable(weight_decay * w)),
    };
    if ok {
        return Ok(());
    }
    let (index, &param) = params
        .iter()
        .enumerate()
        .find(|&(d, &w)| !usable(term(d, w)))
        .expect("one is not usable");
    Err(OptimError::DecayedGradient {
        tensor: name.to_owned(),
        index,
        param,
        value: term(index, param),
        weight_decay,
    })
}

/// Whether every parameter is finite and every gradient usable, in chunks that the compiler
/// vectorises (no early exit within a chunk).
fn all_usable(params: &[f32], grads: &[f32]) -> bool {
    const CHUNK: usize = 64;
    params.chunks(CHUNK).zip(grads.chunks(CHUNK)).all(|(w, g)| {
        w.iter()
            .zip(g)
            .fold(true, |ok, (&w, &g)| ok & (w.abs() <= f32::MAX) & usable(g))
    })
}

/// Checks `params`/`grads` lengths, that every parameter is finite and every gradient usable
/// (finite, within ±[`MAX_GRADIENT`]) before anything is changed.
///
/// Returns the gradients to use: borrowed when all are usable, a copy with the others set to
/// zero under [`NonFinite::Skip`].
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
    // Fast path: one vectorisable pass over both (NaN fails the comparisons).
    if all_usable(params, grads) {
        return Ok(Cow::Borrowed(grads));
    }
    // A non-finite parameter is refused under every policy: the model diverged before this step.
    if let Some((index, &value)) = params.iter().enumerate().find(|(_, w)| !w.is_finite()) {
        return Err(OptimError::NonFiniteParameter {
            tensor: name.to_owned(),
            index,
            value,
        });
    }
    match policy {
        NonFinite::Skip => Ok(Cow::Owned(
            grads
                .iter()
                .map(|&g| if usable(g) { g } else { 0.0 })
                .collect(),
        )),
        _ => {
            let (index, &value) = grads
                .iter()
                .enumerate()
                .find(|(_, &g)| !usable(g))
                .expect("one is not usable");
            Err(OptimError::NonFiniteGradient {
                tensor: name.to_owned(),
                index,
                value,
                setting: NON_FINITE_SETTING,
            })
        }
    }
}

/// Version of the optimizer checkpoint format written by this build.
///
/// 1: `(tag, body)` with lowercase registry names as tags (`"sgd"`, `"meta-adam"`); a `Meta`
/// body held the base's config and its per-tensor states. 2: the tag is the optimizer's kind as
/// messages name it (`"Sgd"`, `"Meta<Adam>"`), read before the body; a `Meta` body holds the
/// base optimizer's own checkpoint. The bodies of the other optimizers did not change. 3: the
/// envelope ends with a CRC-32C of everything before it (bodies as in 2). 4: a `Meta` body's
/// config gains the query, its memories' configs their θ space, query scale and reload policy,
/// its traces the query scale's running mean (the other bodies as in 3).
pub(crate) const CHECKPOINT_VERSION: u16 = 4;

/// The first checkpoint version with the checksum.
const CHECKSUM_SINCE: u16 = 3;

/// The kinds that version 1 wrote as lowercase tags.
const V1_KINDS: &[(&str, &str)] = &[
    ("sgd", "Sgd"),
    ("adam", "Adam"),
    ("rprop", "Rprop"),
    ("sgd-hd", "SgdHd"),
    ("adam-hd", "AdamHd"),
    ("meta-sgd", "Meta<Sgd>"),
    ("meta-adam", "Meta<Adam>"),
];

/// Writes `(kind, value)` in the versioned lrmem envelope: the kind comes first, so that a
/// loader can say which optimizer wrote a checkpoint before it decodes anything else.
pub(crate) fn save<T: Serialize>(kind: &str, value: &T) -> Result<Vec<u8>, OptimError> {
    Ok(persist::seal(
        Kind::Optimizer,
        CHECKPOINT_VERSION,
        &(kind, value),
    )?)
}

/// A checkpoint's envelope, read and checked, and its kind, read before its body.
pub(crate) struct Opened<'a> {
    /// The format version it was written with.
    pub(crate) version: u16,
    /// The optimizer that wrote it, as messages name it (`Meta<Adam>`).
    pub(crate) kind: String,
    /// The body, not yet decoded.
    pub(crate) body: &'a [u8],
}

/// Opens an optimizer checkpoint: the envelope (magic, version, kind of file), then the kind of
/// optimizer. Damaged or truncated bytes are [`OptimError::Corrupt`].
pub(crate) fn open(bytes: &[u8]) -> Result<Opened<'_>, OptimError> {
    let (version, payload) =
        persist::open(bytes, Kind::Optimizer, CHECKPOINT_VERSION, CHECKSUM_SINCE)?;
    let (tag, body): (String, &[u8]) =
        postcard::take_from_bytes(payload).map_err(|e| OptimError::Corrupt {
            reason: format!(
                "the checkpoint's header (which optimizer wrote it) is damaged or truncated ({e})"
            ),
        })?;
    let kind = match version {
        1 => V1_KINDS
            .iter()
            .find(|(old, _)| *old == tag)
            .map_or(tag, |(_, kind)| (*kind).to_owned()),
        _ => tag,
    };
    Ok(Opened {
        version,
        kind,
        body,
    })
}

impl Opened<'_> {
    /// Errors unless the checkpoint was written by an optimizer of kind `here`: the message
    /// names both, and says how to use a `Meta` checkpoint's memories elsewhere.
    pub(crate) fn expect(&self, here: &str) -> Result<(), OptimError> {
        if self.kind == here {
            return Ok(());
        }
        let saved = &self.kind;
        let mut reason = format!(
            "this checkpoint was saved by {saved}, loading into {here}: load it into a {saved} built with the same config"
        );
        if saved.starts_with("Meta<") && here.starts_with("Meta<") {
            reason.push_str(
                ", or carry its memories' θ over to this optimizer with `Meta::load_memories`",
            );
        }
        Err(OptimError::Incompatible { reason })
    }
}

/// The kind of optimizer that wrote a checkpoint (`"Sgd"`, `"Meta<Adam>"`), read from its
/// header without decoding the rest: to tell what a file holds before loading it.
///
/// ```
/// use lrmem_optimizers::{checkpoint_kind, Checkpoint, Meta, MetaConfig};
/// let bytes = Meta::adam(MetaConfig::default())?.save()?;
/// assert_eq!(checkpoint_kind(&bytes)?, "Meta<Adam>");
/// # Ok::<(), lrmem_optimizers::OptimError>(())
/// ```
pub fn checkpoint_kind(bytes: &[u8]) -> Result<String, OptimError> {
    Ok(open(bytes)?.kind)
}

/// Reads what [`save`] wrote: checks the envelope and that the checkpoint was written by
/// `kind` before decoding the body.
pub(crate) fn load<T: DeserializeOwned>(kind: &str, bytes: &[u8]) -> Result<T, OptimError> {
    let opened = open(bytes)?;
    opened.expect(kind)?;
    Ok(persist::decode(opened.body)?)
}

/// The fields of a config as `(path, value)`, from its pretty `Debug` output (`memory.eta0`,
/// `etas.0`, the variant of an enum as its own entry): what a mismatch message lists.
fn debug_fields(value: &impl std::fmt::Debug) -> Vec<(String, String)> {
    let text = format!("{value:#?}");
    let mut path: Vec<String> = Vec::new();
    let mut index: Vec<usize> = Vec::new();
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let t = line.trim();
        if t.starts_with(['}', ')', ']']) {
            path.pop();
            index.pop();
            continue;
        }
        let t = t.strip_suffix(',').unwrap_or(t);
        let named = t
            .split_once(": ")
            .filter(|(n, _)| n.chars().all(|c| c.is_alphanumeric() || c == '_'));
        let (name, v) = match named {
            Some((n, v)) => (n.to_owned(), v),
            None => {
                let i = index.last_mut().map_or(0, |i| {
                    *i += 1;
                    *i - 1
                });
                (i.to_string(), t)
            }
        };
        let full = path
            .iter()
            .chain(std::iter::once(&name))
            .cloned()
            .collect::<Vec<_>>()
            .join(".");
        if let Some(head) = v.strip_suffix(['{', '(', '[']) {
            if !head.trim().is_empty() {
                out.push((full, head.trim().to_owned()));
            }
            path.push(name);
            index.push(0);
        } else {
            out.push((full, v.to_owned()));
        }
    }
    out
}

/// The fields in which `saved` and `here` differ, each with both values
/// (`` `eps`: saved 1e-8, here 1e-6 ``), or `None` when they are equal. A field under one that
/// differs (the settings of another variant) is not listed again.
pub(crate) fn config_diff<T: std::fmt::Debug + PartialEq>(saved: &T, here: &T) -> Option<String> {
    if saved == here {
        return None;
    }
    let (a, b) = (debug_fields(saved), debug_fields(here));
    let lookup = |v: &[(String, String)], k: &str| {
        v.iter()
            .find(|(p, _)| p == k)
            .map_or_else(|| "(none)".to_owned(), |(_, x)| x.clone())
    };
    let mut paths: Vec<&String> = a.iter().map(|(p, _)| p).collect();
    paths.extend(
        b.iter()
            .map(|(p, _)| p)
            .filter(|p| !a.iter().any(|(q, _)| q == *p)),
    );
    let mut differing: Vec<&String> = Vec::new();
    let mut parts = Vec::new();
    for p in paths {
        let (x, y) = (lookup(&a, p), lookup(&b, p));
        if x == y
            || differing
                .iter()
                .any(|d| p.starts_with(d.as_str()) && p[d.len()..].starts_with('.'))
        {
            continue;
        }
        differing.push(p);
        parts.push(format!("`{p}`: saved {x}, here {y}"));
    }
    Some(if parts.is_empty() {
        format!("saved {saved:?}, here {here:?}")
    } else {
        parts.join("; ")
    })
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

/// A per-tensor state that lists its fields for a [`StateView`].
pub(crate) trait StateFields {
    /// Adds every field, named as the struct's field.
    fn fields<'a>(&'a self, out: &mut Fields<'a>);
}

impl StateFields for crate::SgdState {
    fn fields<'a>(&'a self, out: &mut Fields<'a>) {
        out.insert("step".into(), Field::Count(self.step));
        out.insert("buf".into(), Field::Values(&self.buf));
    }
}

impl StateFields for crate::AdamState {
    fn fields<'a>(&'a self, out: &mut Fields<'a>) {
        out.insert("step".into(), Field::Count(self.step));
        out.insert("m".into(), Field::Values(&self.m));
        out.insert("v".into(), Field::Values(&self.v));
    }
}

impl StateFields for crate::RpropState {
    fn fields<'a>(&'a self, out: &mut Fields<'a>) {
        out.insert("prev".into(), Field::Values(&self.prev));
        out.insert("step".into(), Field::Values(&self.step));
    }
}

impl StateFields for crate::HdState {
    fn fields<'a>(&'a self, out: &mut Fields<'a>) {
        out.insert("step".into(), Field::Count(self.step));
        out.insert("lr".into(), Field::Scalar(self.lr));
        out.insert("a".into(), Field::Values(&self.a));
        out.insert("b".into(), Field::Values(&self.b));
    }
}

/// What a checkpoint's per-tensor state must satisfy before an optimizer trusts it: a damaged or
/// hand-made checkpoint is an error on load, never a panic, a frozen coordinate or NaN on the
/// next step.
pub(crate) trait CheckState<S> {
    /// The state a tensor of `len` coordinates starts with: the lengths a loaded one must have.
    fn fresh(&self, len: usize) -> S;
    /// A constraint beyond lengths and finiteness that `state` breaks (a negative second
    /// moment, a step size out of range), in words.
    fn problem(&self, _state: &S) -> Option<String> {
        None
    }
}

/// A second moment must not be negative (its square root would be NaN).
pub(crate) fn negative(field: &str, values: &[f32]) -> Option<String> {
    let bad = values.iter().find(|&&x| x < 0.0)?;
    Some(format!("has a negative second moment `{field}` = {bad}"))
}

/// Checks every loaded tensor state against `config` ([`CheckState`]): each vector as long as a
/// fresh state's, every value finite, and the config's own constraints.
pub(crate) fn check_loaded<C: CheckState<S>, S: StateFields>(
    config: &C,
    states: &TensorStates<S>,
) -> Result<(), OptimError> {
    let corrupt = |name: &str, what: String| {
        OptimError::Corrupt {
        reason: format!("the state of tensor `{name}` {what}; the checkpoint is damaged or was not written by lrmem"),
    }
    };
    for (name, (len, state)) in &states.states {
        let fresh = config.fresh(*len);
        let (mut got, mut want) = (Fields::new(), Fields::new());
        state.fields(&mut got);
        fresh.fields(&mut want);
        for (field, value) in &got {
            match (value, want.get(field)) {
                (Field::Values(v), Some(Field::Values(w))) if v.len() != w.len() => {
                    return Err(corrupt(
                        name,
                        format!(
                            "has {} values of `{field}` for {len} coordinates ({} expected)",
                            v.len(),
                            w.len()
                        ),
                    ))
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

/// An optimizer made of `config` and `states: TensorStates<_>`: the struct, its `new`, `config`,
/// `reset`, `state`, `Checkpoint`, `Inspect` and `StateBytes` (the config's): one definition for
/// every such optimizer of this crate. Its `Optimizer` impl (the step) is written by hand and
/// implements `next_task` as `reset`. Its checkpoints are tagged with the type's name (`$tag`,
/// the registry name, is what format version 1 wrote; see `V1_KINDS`).
macro_rules! tensor_optimizer {
    ($(#[$meta:meta])* $ty:ident, $tag:literal, $config:ty, $state:ty) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $ty {
            config: $config,
            pub(crate) states: $crate::TensorStates<$state>,
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

            /// Every tensor's state, by tensor name and field ([`StateView`](crate::StateView)).
            pub fn state(&self) -> $crate::StateView<'_> {
                $crate::state::view(&self.states)
            }
        }

        impl $crate::Inspect for $ty {
            fn state(&self) -> $crate::StateView<'_> {
                $crate::state::view(&self.states)
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
                $crate::state::save(stringify!($ty), &(&self.config, &self.states))
            }

            /// Checks which optimizer wrote the checkpoint before decoding it (a checkpoint of
            /// another kind is an error that names both), then restores its config with its
            /// states: the learning rate and every other hyperparameter as they were saved, as
            /// torch's `load_state_dict` restores each parameter group's, so that a run resumes
            /// as it was and a new rate is set after loading
            /// ([`Optimizer::set_hyperparameter`](crate::Optimizer::set_hyperparameter)). A
            /// difference that changes the shape of the state (SGD's momentum 0 against > 0) is
            /// an error naming the key. Every tensor's state is checked before it is trusted
            /// (lengths, finite values, the optimizer's own ranges): a damaged one is
            /// [`OptimError::Corrupt`](crate::OptimError::Corrupt) naming the tensor and field.
            /// Reads the checkpoints of format version 1 too.
            fn load(&mut self, bytes: &[u8]) -> Result<(), $crate::OptimError> {
                let (config, states): ($config, $crate::TensorStates<$state>) =
                    $crate::state::load(stringify!($ty), bytes)?;
                $crate::hyper::check_restore(&self.config, &config)?;
                $crate::state::check_loaded(&config, &states)?;
                self.config = config;
                self.states = states;
                Ok(())
            }
        }
    };
}
pub(crate) use tensor_optimizer;

#[cfg(test)]
mod tests {
    use crate::{
        Adam, AdamConfig, AdamHd, AdamHdConfig, Optimizer, Sgd, SgdConfig, SgdHd, SgdHdConfig,
    };

    /// Per-tensor step counts saturate instead of overflowing (a panic with overflow checks, a
    /// wrap to 0 without, which would redo the first step's special cases), and the parameters
    /// stay finite at any count.
    #[test]
    fn step_counts_saturate() {
        macro_rules! saturates {
            ($opt:expr) => {{
                let mut opt = $opt;
                let mut w = vec![0.5f32, -0.25];
                opt.step("w", &mut w, &[0.1, -0.2]).unwrap();
                for start in [u64::MAX - 1, u64::MAX] {
                    opt.states
                        .get_or_init("w", 2, || unreachable!())
                        .unwrap()
                        .step = start;
                    opt.step("w", &mut w, &[0.1, -0.2]).unwrap();
                    opt.step("w", &mut w, &[0.3, 0.1]).unwrap();
                    assert_eq!(opt.states.get("w").unwrap().step, u64::MAX);
                    assert!(w.iter().all(|x| x.is_finite()), "{w:?}");
                }
            }};
        }
        saturates!(Sgd::new(SgdConfig {
            momentum: 0.9,
            ..SgdConfig::default()
        })
        .unwrap());
        saturates!(Adam::new(AdamConfig::default()).unwrap());
        saturates!(SgdHd::new(SgdHdConfig::default()).unwrap());
        saturates!(AdamHd::new(AdamHdConfig::default()).unwrap());
    }

    /// A loaded state is checked before it is trusted: vectors of the wrong length (a panic on
    /// the next step, or coordinates silently frozen), non-finite values, negative second
    /// moments and step sizes out of range are `Corrupt` errors naming the tensor, and change
    /// nothing. Each damaged checkpoint loaded before.
    #[test]
    fn loaded_states_are_checked() {
        use crate::{Checkpoint, OptimError, Rprop, RpropConfig};
        fn refused<O: Optimizer + Checkpoint + Clone>(
            what: &str,
            good: &O,
            damage: impl Fn(&mut O),
        ) {
            let mut bad = good.clone();
            damage(&mut bad);
            let bytes = bad.save().unwrap();
            let mut target = good.clone();
            let before = target.save().unwrap();
            let err = target.load(&bytes).unwrap_err();
            assert!(
                matches!(&err, OptimError::Corrupt { reason } if reason.contains("`w`")),
                "{what}: {err}"
            );
            assert_eq!(
                target.save().unwrap(),
                before,
                "{what}: a refused load changes nothing"
            );
        }
        fn stepped<O: Optimizer>(mut opt: O) -> O {
            let mut w = vec![0.5f32, -0.25, 1.0];
            for g in [[0.1f32, -0.2, 0.3], [0.2, 0.1, -0.3]] {
                opt.step("w", &mut w, &g).unwrap();
            }
            opt
        }
        let sgd = stepped(
            Sgd::new(SgdConfig {
                momentum: 0.9,
                ..SgdConfig::default()
            })
            .unwrap(),
        );
        refused("sgd short buf", &sgd, |o| {
            o.states.get_mut("w").unwrap().buf.pop();
        });
        refused("sgd NaN buf", &sgd, |o| {
            o.states.get_mut("w").unwrap().buf[1] = f32::NAN
        });
        let adam = stepped(Adam::new(AdamConfig::default()).unwrap());
        refused("adam long m", &adam, |o| {
            o.states.get_mut("w").unwrap().m.push(0.0)
        });
        refused("adam short v", &adam, |o| {
            o.states.get_mut("w").unwrap().v.pop();
        });
        refused("adam NaN m", &adam, |o| {
            o.states.get_mut("w").unwrap().m[0] = f32::NAN
        });
        refused("adam v < 0", &adam, |o| {
            o.states.get_mut("w").unwrap().v[2] = -1.0
        });
        let rprop = stepped(Rprop::new(RpropConfig::default()).unwrap());
        refused("rprop NaN step", &rprop, |o| {
            o.states.get_mut("w").unwrap().step[0] = f32::NAN
        });
        refused("rprop step > max", &rprop, |o| {
            o.states.get_mut("w").unwrap().step[0] = 1e9
        });
        refused("rprop short prev", &rprop, |o| {
            o.states.get_mut("w").unwrap().prev.pop();
        });
        let sgd_hd = stepped(SgdHd::new(SgdHdConfig::default()).unwrap());
        refused("sgd-hd NaN lr", &sgd_hd, |o| {
            o.states.get_mut("w").unwrap().lr = f32::NAN
        });
        refused("sgd-hd ∞ prev", &sgd_hd, |o| {
            o.states.get_mut("w").unwrap().a[0] = f32::INFINITY
        });
        let adam_hd = stepped(AdamHd::new(AdamHdConfig::default()).unwrap());
        refused("adam-hd v < 0", &adam_hd, |o| {
            o.states.get_mut("w").unwrap().b[0] = -0.5
        });
        // The undamaged checkpoints load.
        let mut again = adam.clone();
        again.load(&adam.save().unwrap()).unwrap();
    }
}
