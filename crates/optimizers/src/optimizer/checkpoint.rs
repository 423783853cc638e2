//! The checkpoint format shared by every optimizer of this crate: lrmem's versioned, checksummed
//! envelope holding the optimizer's kind (`Sgd`, `Meta<Adam>`) before its body, so that loading
//! a checkpoint into another kind is an error naming both, and the field-by-field difference of
//! two configs that a refused load reports.

use lrmem_memory_core::persist::{self, Kind};
use serde::{de::DeserializeOwned, Serialize};

use crate::optimizer::OptimError;

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
