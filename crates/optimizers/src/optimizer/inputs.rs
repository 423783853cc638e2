//! The checks every step makes before it changes anything: lengths, finite parameters, usable
//! gradients (finite and within ±[`MAX_GRADIENT`]), and weight decay that stays usable. An error
//! names the tensor and the coordinate, so that a failed step leaves parameters and state as
//! they were.

use std::borrow::Cow;

use lrmem_memory_core::NonFinite;

use crate::optimizer::OptimError;

/// Where [`check_inputs`] tells the user to set [`NonFinite::Skip`]: the `non_finite` field of
/// the config of every optimizer of this crate but [`Meta`](crate::Meta), which says where its
/// own policy lives.
pub(crate) const NON_FINITE_SETTING: &str = "the `non_finite` field of the optimizer's config";

/// The largest gradient magnitude an optimizer accepts: its square (Adam's second moment) and
/// its products with a previous gradient (hypergradients) stay finite in f32. Larger gradients
/// are treated as non-finite ones: an error, or skipped under [`NonFinite::Skip`].
pub const MAX_GRADIENT: f32 = 1e18;

/// Refuses `found` entries of tensor `name`'s `what` where it has `expected` (one gradient per
/// parameter; a tensor keeps its length under its name).
pub(crate) fn check_length(
    name: &str,
    what: &'static str,
    expected: usize,
    found: usize,
) -> Result<(), OptimError> {
    if found == expected {
        Ok(())
    } else {
        Err(OptimError::length_mismatch(name, what, expected, found))
    }
}

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
    check_length(name, "grads", params.len(), grads.len())?;
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
