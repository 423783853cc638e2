//! The registry: every optimizer of this crate by name, with its keys, and what experiments need
//! to know of it — the one list of optimizers that every other list is derived from.
//!
//! Experiments store which optimizer an arm ran as an [`OptimizerSpec`], and the command line
//! parses one, so that an optimizer is chosen by text (`"meta-sgd:xi=0.05,m=20,signal=sign"`)
//! rather than by code. [`registry`] lists every optimizer a spec can name, each a
//! [`RegistryEntry`]: its keys with their meaning and defaults (the configs' [`Default`]s), the
//! function that reads them (through the typed getters of `Params`; a key it does not read is
//! an error, so no setting is ever ignored in silence), and for the experiments its
//! [`Family`], the named arms it contributes ([`Preset`]s, each of a [`Tier`]), how the speed
//! suite times it ([`Speed`]) and the settings of the contract test.
//!
//! - `spec.rs`: the text form, its parser and errors, `Params`.
//! - `built.rs`: [`Built`], what a spec builds.
//! - `entries/`: the entries, by family: `papers.rs` (SGD and Adam, the memory over each base,
//!   Rprop, hypergradient descent) and `peers.rs` (the learning-rate-free peers and the
//!   learned optimizer); `keys.rs`, the keys several entries share.
//!
//! The optimizers themselves know nothing of this text format: the arrows point from here to
//! them, never back.
//!
//! Adding an optimizer to every experiment is its module plus its entry here: one line of
//! `REGISTRY` and the entry's definition. It then appears in the arm presets of every workload
//! of its tier, the study's and the learned optimizer's peer sets (by family), the speed report
//! and the contract test, with no other edit.

mod built;
mod entries;
mod spec;

use std::fmt;

pub use built::Built;
pub use spec::{OptimizerSpec, SpecError};
pub(crate) use spec::{Params, NON_FINITE};

use entries::{papers, peers};

/// Every optimizer a spec can name, one line each, in the order help texts and reports list
/// them.
static REGISTRY: &[RegistryEntry] = &[
    papers::SGD,
    papers::ADAM,
    papers::META_SGD,
    papers::META_ADAM,
    papers::RPROP,
    papers::SGD_HD,
    papers::ADAM_HD,
    papers::META_RPROP,
    papers::META_SGD_HD,
    papers::META_ADAM_HD,
    papers::META_CTX_SGD,
    peers::PRODIGY,
    peers::DADAPT_ADAM,
    peers::DADAPT_SGD,
    peers::DOG,
    peers::LDOG,
    peers::SF_SGD,
    peers::SF_ADAMW,
    peers::COCOB,
    peers::MECHANIC_SGD,
    peers::MECHANIC_ADAM,
    peers::L2L,
];

/// Every optimizer an [`OptimizerSpec`] can name, in the order a help text lists them.
///
/// ```
/// let names: Vec<&str> = lrmem_optimizers::registry().iter().map(|e| e.name).collect();
/// assert!(names.contains(&"meta-sgd") && names.contains(&"adam"));
/// ```
pub fn registry() -> &'static [RegistryEntry] {
    REGISTRY
}

/// Every arm of the registry's entries up to `tier` ([`Preset`]), each with its entry, in
/// registry order: the arms of an experiment's profile.
///
/// ```
/// use lrmem_optimizers::registry::{presets, Tier};
/// let smoke: Vec<&str> = presets(Tier::Smoke).map(|(_, p)| p.name).collect();
/// assert_eq!(smoke, ["sgd", "meta-sgd-xi0.01", "meta-sgd-reload-xi0.01"]);
/// assert!(presets(Tier::Headline).any(|(e, _)| e.name == "cocob"));
/// ```
pub fn presets(tier: Tier) -> impl Iterator<Item = (&'static RegistryEntry, &'static Preset)> {
    REGISTRY.iter().flat_map(move |e| {
        e.presets
            .iter()
            .filter(move |p| p.tier <= tier)
            .map(move |p| (e, p))
    })
}

pub(crate) fn lookup(name: &str) -> Option<&'static RegistryEntry> {
    REGISTRY.iter().find(|e| e.name == name)
}

pub(crate) fn known_names() -> Vec<String> {
    REGISTRY.iter().map(|e| e.name.to_owned()).collect()
}

/// One key an optimizer of the [`registry`] accepts, for help texts and error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The key as written in a spec (`lr`, `xi`, …).
    pub name: &'static str,
    /// What it sets, in words.
    pub meaning: &'static str,
    /// Its value when the spec leaves it out, as text (the config's `Default`).
    pub default: &'static str,
}

impl Key {
    /// The key `name`, setting what `meaning` says, `default` when left out.
    pub const fn new(name: &'static str, meaning: &'static str, default: &'static str) -> Key {
        Key {
            name,
            meaning,
            default,
        }
    }
}

/// Which kind of optimizer an entry is, for the experiments' sets of arms: who is compared with
/// whom, and at which learning rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Family {
    /// SGD and Adam: the baselines every comparison runs at the protocol's learning rates (the
    /// studies' sensitivity curves over η₀).
    Reference,
    /// The papers' arms: the memory of learning rates over each base, and the peers the papers
    /// measure it against (Rprop, hypergradient descent), at the protocol's learning rates.
    Papers,
    /// The learning-rate-free and schedule-free optimizers practitioners pick today, run at
    /// their own defaults: their promise is that the defaults work.
    LearningRateFree,
    /// The learned LSTM optimizer (offline learning to learn), at its shipped weights.
    Learned,
}

/// How much of an experiment runs an arm: each profile runs the arms of its tier and below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Tier {
    /// The smoke run every profile has (`cargo xtask bench --quick`, CI): the memory against
    /// plain SGD, fresh and reloaded.
    Smoke,
    /// Every comparison: the default profile, the headline tables, the peer sets of the
    /// studies.
    Headline,
    /// The full protocol only: the other settings of ξ, the SGD forms of the peers.
    Full,
}

/// A named arm an entry contributes to the experiments: the entry with some keys set, run
/// fresh on every task or carrying what it learned into the next (`reload`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// The arm's name in reports (`meta-sgd-xi0.01`).
    pub name: &'static str,
    /// The keys it sets, as in a spec (`xi=0.01`; empty: the entry's defaults).
    pub keys: &'static str,
    /// Whether it carries what it learned into the next task (`next_task` instead of a fresh
    /// optimizer).
    pub reload: bool,
    /// Which profiles run it.
    pub tier: Tier,
}

impl Preset {
    /// The entry at its defaults under `name`, fresh on every task.
    pub const fn defaults(name: &'static str, tier: Tier) -> Preset {
        Preset::with(name, "", tier)
    }

    /// The entry with `keys` under `name`, fresh on every task.
    pub const fn with(name: &'static str, keys: &'static str, tier: Tier) -> Preset {
        Preset {
            name,
            keys,
            reload: false,
            tier,
        }
    }

    /// The same arm, carrying what it learned into the next task.
    pub const fn reloaded(self) -> Preset {
        Preset {
            reload: true,
            ..self
        }
    }
}

/// How the speed suite times an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speed {
    /// Timed at every size, once per case.
    Timed(&'static [SpeedCase]),
    /// Left out of the suite, and why.
    Untimed(&'static str),
}

/// One setting of an entry that the speed suite times, and the memory traffic of its step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpeedCase {
    /// The keys it sets, as in a spec (empty: the defaults).
    pub keys: &'static str,
    /// Bytes of memory traffic one step needs per coordinate, with f32 tensors: what it must
    /// read and write at least (the gradient's finiteness check left out), the bound its
    /// bandwidth-limited speed is compared with.
    pub bytes: usize,
}

impl SpeedCase {
    /// The setting `keys` with `bytes` of traffic per coordinate.
    pub const fn new(keys: &'static str, bytes: usize) -> SpeedCase {
        SpeedCase { keys, bytes }
    }
}

/// An optimizer a spec can name: what it is, the keys it accepts, how to build it, and what
/// experiments need to know of it.
///
/// Defined in this module's `entries` and listed by [`registry`].
#[derive(Debug, Clone, Copy)]
pub struct RegistryEntry {
    /// The name a spec uses (`sgd`, `meta-sgd`, …).
    pub name: &'static str,
    /// One line on what the optimizer does.
    pub summary: &'static str,
    /// Every key it accepts, with meaning and default.
    pub keys: &'static [Key],
    /// Whether its step needs every tensor of the model at once
    /// ([`Optimizer::step_model`](crate::Optimizer::step_model)): a norm or a distance over the
    /// model (Prodigy, D-Adaptation, DoG, Schedule-Free, Mechanic).
    pub whole_model: bool,
    /// Which experiments' sets of arms it joins.
    pub family: Family,
    /// The named arms it contributes to the experiments' profiles.
    pub presets: &'static [Preset],
    /// How the speed suite times it.
    pub speed: Speed,
    /// The keys with which 500 steps solve the contract test's unit-scale quadratic
    /// ([`contract`](crate::contract)), as in a spec; empty: its defaults.
    pub contract: &'static str,
    /// Config fields whose name in validation errors differs from the key that sets them
    /// (`("num_centers", "m")`), so that a range error names the key the user wrote: the maps of
    /// the configs it is built from (the memory's and the base's).
    pub(crate) fields: &'static [&'static [(&'static str, &'static str)]],
    /// Reads the keys and builds the optimizer (running its config's validation).
    pub(crate) build: fn(&mut Params<'_>) -> Result<Built, SpecError>,
}

impl RegistryEntry {
    /// Whether experiments run this optimizer at its own defaults where the others get the
    /// protocol's one base learning rate: the learning-rate-free and schedule-free peers, whose
    /// promise is that their defaults work (their `lr` is a multiplier of a learned step, or
    /// their reference's tuned default), and the learned optimizer. A tuned setting searches
    /// their `lr` around [`default_lr`](Self::default_lr).
    ///
    /// ```
    /// let prodigy = lrmem_optimizers::registry().iter().find(|e| e.name == "prodigy").unwrap();
    /// assert!(prodigy.runs_at_defaults() && prodigy.default_lr() == Some(1.0));
    /// ```
    pub fn runs_at_defaults(&self) -> bool {
        matches!(self.family, Family::LearningRateFree | Family::Learned)
    }

    /// The default of the `lr` key, if the optimizer has one that is a number.
    pub fn default_lr(&self) -> Option<f32> {
        self.key("lr")?.default.parse().ok()
    }

    /// The key called `name`, if this optimizer accepts it.
    pub fn key(&self, name: &str) -> Option<&'static Key> {
        self.keys.iter().find(|k| k.name == name)
    }

    /// The spec of this entry with `keys` set (text as in a spec, `""` for none).
    ///
    /// ```
    /// let sgd = lrmem_optimizers::registry().iter().find(|e| e.name == "sgd").unwrap();
    /// assert_eq!(sgd.spec(sgd.contract)?.to_string(), "sgd:lr=0.1");
    /// # Ok::<(), lrmem_optimizers::SpecError>(())
    /// ```
    pub fn spec(&self, keys: &str) -> Result<OptimizerSpec, SpecError> {
        if keys.is_empty() {
            OptimizerSpec::new(self.name)
        } else {
            OptimizerSpec::parse(&format!("{}:{keys}", self.name))
        }
    }

    fn key_names(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.name.to_owned()).collect()
    }
}

/// A help text: the name and summary, then one line per key with its default and meaning.
impl fmt::Display for RegistryEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {}", self.name, self.summary)?;
        for k in self.keys {
            writeln!(f, "    {}={} (default): {}", k.name, k.default, k.meaning)?;
        }
        Ok(())
    }
}
