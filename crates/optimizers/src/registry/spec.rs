//! [`OptimizerSpec`]: an optimizer named with its hyperparameters, as text and as data, and the
//! typed reading of its keys ([`Params`]) that a registry entry's build function does.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{known_names, lookup, Built, Key, RegistryEntry};
use crate::optimizer::hyper;
use crate::optimizer::{OptimError, StateBytes};
use lrmem_memory_core::NonFinite;

/// What can be wrong with an optimizer spec. Every message says what to write instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// The text is not of the form `NAME` or `NAME:KEY=VALUE,KEY=VALUE`.
    #[error("cannot read optimizer spec `{}`: {reason}. Write NAME or NAME:KEY=VALUE,KEY=VALUE, e.g. `sgd:lr=0.03,momentum=0.9`", shown(input))]
    Syntax {
        /// The text, or the key or value, that was rejected.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No optimizer of this name is in the [`registry`](crate::registry()).
    #[error("unknown optimizer `{}`{}; the known optimizers are: {}", shown(name), did_you_mean(name, known), known.join(", "))]
    UnknownOptimizer {
        /// The name given.
        name: String,
        /// Every name the registry knows.
        known: Vec<String>,
    },
    /// The optimizer has no such key.
    #[error("optimizer `{optimizer}` has no key `{}`{}; its keys are: {}", shown(key), did_you_mean(key, valid), valid.join(", "))]
    UnknownKey {
        /// The optimizer's name.
        optimizer: String,
        /// The key given.
        key: String,
        /// Every key the optimizer accepts.
        valid: Vec<String>,
    },
    /// A value could not be read as the key's type (a number, a boolean, one of a few words).
    #[error(
        "optimizer `{optimizer}`: cannot read `{key}={}`: expected {expected}",
        shown(value)
    )]
    BadValue {
        /// The optimizer's name.
        optimizer: String,
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// What the key takes, in words.
        expected: String,
    },
    /// A key that only applies with another setting was given without it
    /// (e.g. `theta_beta1` with `theta_opt=sgd`).
    #[error("optimizer `{optimizer}`: key `{key}` {reason}")]
    Conflict {
        /// The optimizer's name.
        optimizer: String,
        /// The key that does not apply.
        key: String,
        /// When it applies, and what to do.
        reason: String,
    },
    /// The values were read but the optimizer's config rejects them (out of range); the error
    /// names the spec's key where it differs from the config's field.
    #[error("{0}; change that key of the optimizer spec")]
    Invalid(#[from] OptimError),
}

/// The most bytes of a name, key, value or spec that an error message repeats: a message stays
/// readable (and quick to print) whatever length of text it was given.
const ECHO: usize = 256;

/// `text` as an error message repeats it: whole up to [`ECHO`] bytes, else its first bytes up
/// to there (at a character boundary) and how long it was. The error itself keeps the whole
/// text.
pub(crate) fn shown(text: &str) -> Cow<'_, str> {
    if text.len() <= ECHO {
        return Cow::Borrowed(text);
    }
    let mut end = ECHO;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}… ({} bytes in all)", &text[..end], text.len()))
}

/// ", did you mean `x`?" for the closest candidate within two edits, or nothing.
///
/// Only candidates within two characters of `given`'s length can be within two edits, so that
/// a long `given` is compared with none: the cost is bounded by the candidates' lengths, not by
/// what was typed.
fn did_you_mean(given: &str, candidates: &[String]) -> String {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, &cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    let longest = candidates.iter().map(|c| c.chars().count()).max();
    let Some(longest) = longest else {
        return String::new();
    };
    let len = given.chars().take(longest + 3).count();
    candidates
        .iter()
        .filter(|c| len.abs_diff(c.chars().count()) <= 2)
        .map(|c| (distance(given, c), c))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, c)| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

/// An optimizer from the [`registry`](crate::registry()) and the values of some of its keys, as data.
///
/// What experiments store and the command line parses. Its text form is `NAME` or
/// `NAME:KEY=VALUE,KEY=VALUE` (whitespace around each token is ignored); [`Display`](fmt::Display)
/// writes it canonically, keys sorted and without spaces, and serde stores it as that string.
/// Keys left out take the optimizer's defaults. Values are kept as text, so a spec compares
/// and hashes by what was written (`lr=0.001` and `lr=1e-3` are different specs that build the
/// same optimizer); [`build`](OptimizerSpec::build) reads them, checks every key and value and
/// runs the config's validation.
///
/// ```
/// use lrmem_optimizers::{Optimizer, OptimizerSpec};
///
/// let spec: OptimizerSpec = "meta-sgd: xi = 0.01, lr=1e-3".parse()?;
/// assert_eq!(spec.to_string(), "meta-sgd:lr=1e-3,xi=0.01");
/// assert_eq!(spec.get("xi"), Some("0.01"));
///
/// // The harness sets the learning rate of each run.
/// let spec = spec.with("lr", 0.03f32);
/// assert_eq!(spec.to_string(), "meta-sgd:lr=0.03,xi=0.01");
///
/// let mut opt = spec.build()?;
/// let mut w = vec![1.0f32; 4];
/// opt.step("w", &mut w, &[0.5; 4])?;
/// opt.next_task(); // keeps the memory's θ
/// assert_eq!(opt.memory_thetas()[0].0, "w");
///
/// // Mistakes are errors that say what to write.
/// let err = "sgd:lrr=0.1".parse::<OptimizerSpec>()?.build().unwrap_err();
/// assert!(err.to_string().contains("did you mean `lr`?"));
/// # Ok::<(), lrmem_optimizers::SpecError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OptimizerSpec {
    name: String,
    params: BTreeMap<String, String>,
}

/// Checks that `token` (a name, key or value) can be written and read back: not empty, and
/// without whitespace or any of `:`, `,`, `=`.
fn check_token(token: &str, what: &str) -> Result<(), SpecError> {
    let reason = if token.is_empty() {
        format!("the {what} is empty")
    } else if let Some(c) = token
        .chars()
        .find(|c| c.is_whitespace() || matches!(c, ':' | ',' | '='))
    {
        format!(
            "the {what} `{}` contains `{}`, which cannot appear in a {what}",
            shown(token),
            c.escape_default()
        )
    } else {
        return Ok(());
    };
    Err(SpecError::Syntax {
        input: token.to_owned(),
        reason,
    })
}

impl OptimizerSpec {
    /// Parses `NAME` or `NAME:KEY=VALUE,KEY=VALUE`; whitespace around each token is ignored.
    /// The name must be in the [`registry`](crate::registry()); keys and values are checked by
    /// [`build`](OptimizerSpec::build). A key given twice is an error.
    pub fn parse(s: &str) -> Result<Self, SpecError> {
        let syntax = |reason: String| SpecError::Syntax {
            input: s.to_owned(),
            reason,
        };
        let (name, rest) = match s.split_once(':') {
            Some((name, rest)) => (name, Some(rest)),
            None => (s, None),
        };
        let mut spec = OptimizerSpec::new(name.trim())?;
        let Some(rest) = rest else {
            return Ok(spec);
        };
        if rest.trim().is_empty() {
            return Err(syntax(
                "nothing follows `:`; give KEY=VALUE pairs or drop the `:`".into(),
            ));
        }
        for pair in rest.split(',') {
            if pair.trim().is_empty() {
                return Err(syntax(
                    "an empty KEY=VALUE pair; remove the stray `,`".into(),
                ));
            }
            let Some((key, value)) = pair.split_once('=') else {
                return Err(syntax(format!("`{}` is not KEY=VALUE", shown(pair.trim()))));
            };
            let (key, value) = (key.trim(), value.trim());
            check_token(key, "key").map_err(|e| syntax(e.reason()))?;
            check_token(value, "value").map_err(|e| syntax(e.reason()))?;
            if spec.params.contains_key(key) {
                return Err(syntax(format!("the key `{}` is given twice", shown(key))));
            }
            spec.params.insert(key.to_owned(), value.to_owned());
        }
        Ok(spec)
    }

    /// The optimizer `name` with every key at its default; the name must be in the [`registry`](crate::registry()).
    pub fn new(name: &str) -> Result<Self, SpecError> {
        check_token(name, "optimizer name")?;
        if lookup(name).is_none() {
            return Err(SpecError::UnknownOptimizer {
                name: name.to_owned(),
                known: known_names(),
            });
        }
        Ok(OptimizerSpec {
            name: name.to_owned(),
            params: BTreeMap::new(),
        })
    }

    /// Sets `key` to `value` (written with [`Display`](fmt::Display)), replacing any value it
    /// had: how a harness sets the learning rate of a run. An `f32` prints as the shortest text
    /// that reads back as the same `f32`, so `with("lr", x)` builds with `lr` exactly `x`.
    /// Whether the optimizer knows the key is checked by [`build`](OptimizerSpec::build).
    ///
    /// # Panics
    ///
    /// If the key or the value is empty or contains whitespace, `:`, `,` or `=` (it could not be
    /// written as a spec and read back); [`try_with`](OptimizerSpec::try_with) returns an error
    /// instead.
    pub fn with(self, key: &str, value: impl fmt::Display) -> Self {
        match self.try_with(key, value) {
            Ok(spec) => spec,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`with`](OptimizerSpec::with), with a [`SpecError::Syntax`] instead of a panic when the
    /// key or value cannot be written in a spec.
    pub fn try_with(mut self, key: &str, value: impl fmt::Display) -> Result<Self, SpecError> {
        let value = value.to_string();
        check_token(key, "key")?;
        check_token(&value, "value")?;
        self.params.insert(key.to_owned(), value);
        Ok(self)
    }

    /// The optimizer's name, as in the [`registry`](crate::registry()).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value given for `key`, if any (keys left out take the optimizer's default).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }

    /// The keys given and their values, sorted by key.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The registry entry of this spec's optimizer: its summary, keys and defaults.
    pub fn entry(&self) -> Result<&'static RegistryEntry, SpecError> {
        lookup(&self.name).ok_or_else(|| SpecError::UnknownOptimizer {
            name: self.name.clone(),
            known: known_names(),
        })
    }

    /// Builds the optimizer. Every key must be one the optimizer knows, every value must read
    /// as the key's type, and the config's own validation runs.
    ///
    /// The optimizer comes as a [`Built`]: it steps ([`Optimizer`](crate::Optimizer)), saves
    /// and loads ([`Checkpoint`](crate::Checkpoint)), shows its state
    /// ([`Inspect`](crate::Inspect)) and tells its [`StateBytes`](crate::StateBytes); the
    /// concrete type, with everything it offers beyond those (a memory's rates), is one
    /// [`Built::downcast_ref`] away.
    ///
    /// ```
    /// use lrmem_optimizers::{Checkpoint, Meta, Optimizer, OptimizerSpec, Sgd};
    /// let mut opt = "meta-sgd:lr=0.01".parse::<OptimizerSpec>()?.build()?;
    /// let mut w = vec![1.0f32, -1.0];
    /// opt.step("w", &mut w, &[0.5, -0.5])?;
    /// let bytes = opt.save()?; // a checkpoint, as of the concrete type
    /// let meta = opt.downcast_ref::<Meta<Sgd>>().expect("meta-sgd is Meta<Sgd>");
    /// assert!((meta.last_rates("w").unwrap().mean - 0.01).abs() < 1e-6); // η₀ before θ moved
    /// # let _ = bytes;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(&self) -> Result<Built, SpecError> {
        let entry = self.entry()?;
        for key in self.params.keys() {
            if entry.key(key).is_none() {
                return Err(self.unknown_key(entry, key));
            }
        }
        let mut params = Params {
            optimizer: entry.name,
            values: &self.params,
            read: BTreeSet::new(),
        };
        let built = (entry.build)(&mut params).map_err(|e| match e {
            SpecError::Invalid(e) => SpecError::Invalid(hyper::rename(e, entry.fields)),
            e => e,
        })?;
        if let Some(key) = self
            .params
            .keys()
            .find(|k| !params.read.contains(k.as_str()))
        {
            return Err(self.unknown_key(entry, key));
        }
        Ok(built)
    }

    /// Bytes of optimizer state per parameter coordinate of what [`build`](OptimizerSpec::build)
    /// makes ([`StateBytes`](crate::StateBytes)), for the speed report.
    pub fn state_bytes(&self) -> Result<usize, SpecError> {
        Ok(self.build()?.bytes_per_coordinate())
    }

    fn unknown_key(&self, entry: &RegistryEntry, key: &str) -> SpecError {
        SpecError::UnknownKey {
            optimizer: entry.name.to_owned(),
            key: key.to_owned(),
            valid: entry.key_names(),
        }
    }
}

impl SpecError {
    /// The reason of a syntax error (for re-wrapping with the whole input).
    fn reason(self) -> String {
        match self {
            SpecError::Syntax { reason, .. } => reason,
            e => e.to_string(),
        }
    }
}

/// Canonical: `name`, or `name:k1=v1,k2=v2` with the keys sorted; it parses back equal.
impl fmt::Display for OptimizerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for (i, (k, v)) in self.params.iter().enumerate() {
            write!(f, "{}{k}={v}", if i == 0 { ':' } else { ',' })?;
        }
        Ok(())
    }
}

/// [`OptimizerSpec::parse`].
impl FromStr for OptimizerSpec {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, SpecError> {
        OptimizerSpec::parse(s)
    }
}

/// [`OptimizerSpec::parse`]; how serde reads a spec.
impl TryFrom<String> for OptimizerSpec {
    type Error = SpecError;
    fn try_from(s: String) -> Result<Self, SpecError> {
        OptimizerSpec::parse(&s)
    }
}

/// The canonical text ([`Display`](fmt::Display)); how serde writes a spec.
impl From<OptimizerSpec> for String {
    fn from(spec: OptimizerSpec) -> String {
        spec.to_string()
    }
}

/// The values of a spec as a registry entry's build function reads them: typed getters that
/// take the default when a key is absent and record every key read, so that
/// [`OptimizerSpec::build`] can reject keys nobody read.
pub(crate) struct Params<'a> {
    optimizer: &'static str,
    values: &'a BTreeMap<String, String>,
    read: BTreeSet<&'a str>,
}

impl<'a> Params<'a> {
    /// The text of `key`, if given; marks it read.
    pub(crate) fn text(&mut self, key: &str) -> Option<&'a str> {
        let (k, v) = self.values.get_key_value(key)?;
        self.read.insert(k.as_str());
        Some(v.as_str())
    }

    fn bad(&self, key: &str, value: &str, expected: &str) -> SpecError {
        SpecError::BadValue {
            optimizer: self.optimizer.to_owned(),
            key: key.to_owned(),
            value: value.to_owned(),
            expected: expected.to_owned(),
        }
    }

    /// The value of `key` as Rust's `str::parse` reads it, or `default`; `expected` says what
    /// it must look like when it does not parse.
    fn parsed<T: FromStr>(
        &mut self,
        key: &str,
        default: T,
        expected: &str,
    ) -> Result<T, SpecError> {
        match self.text(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| self.bad(key, v, expected)),
        }
    }

    /// A number (`0.001`, `1e-3`, `inf`): the nearest `f32`, as Rust's `str::parse` reads it.
    pub(crate) fn f32(&mut self, key: &str, default: f32) -> Result<f32, SpecError> {
        self.parsed(key, default, "a number, e.g. 0.001 or 1e-3")
    }

    /// A whole number ≥ 0.
    pub(crate) fn usize(&mut self, key: &str, default: usize) -> Result<usize, SpecError> {
        self.parsed(key, default, "a whole number >= 0, e.g. 20")
    }

    /// `true` or `false`.
    pub(crate) fn bool(&mut self, key: &str, default: bool) -> Result<bool, SpecError> {
        self.choice(key, default, &[("true", true), ("false", false)])
    }

    /// One of a few words, each standing for a value.
    pub(crate) fn choice<T: Copy>(
        &mut self,
        key: &str,
        default: T,
        options: &[(&str, T)],
    ) -> Result<T, SpecError> {
        match self.text(key) {
            None => Ok(default),
            Some(v) => match options.iter().find(|(word, _)| *word == v) {
                Some(&(_, value)) => Ok(value),
                None => {
                    let words: Vec<&str> = options.iter().map(|(w, _)| *w).collect();
                    Err(self.bad(key, v, &format!("one of: {}", words.join(", "))))
                }
            },
        }
    }

    /// The `non_finite` key: `error` or `skip`.
    pub(crate) fn non_finite(&mut self, default: NonFinite) -> Result<NonFinite, SpecError> {
        self.choice(
            "non_finite",
            default,
            &[("error", NonFinite::Error), ("skip", NonFinite::Skip)],
        )
    }

    /// Rejects any of `keys` that is given: they do not apply with the settings read so far
    /// (`reason` says when they do).
    pub(crate) fn forbid(&mut self, keys: &[&str], reason: &str) -> Result<(), SpecError> {
        match keys.iter().find(|k| self.values.contains_key(**k)) {
            None => Ok(()),
            Some(key) => Err(SpecError::Conflict {
                optimizer: self.optimizer.to_owned(),
                key: (*key).to_owned(),
                reason: reason.to_owned(),
            }),
        }
    }
}

/// The `non_finite` key every optimizer takes.
pub(crate) const NON_FINITE: Key = Key {
    name: "non_finite",
    meaning: "NaN/inf gradients: `error` (nothing changes, the step fails) or `skip` (such coordinates get a zero gradient)",
    default: "error",
};
