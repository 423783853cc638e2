//! Named arms: the presets of the optimizers' registry
//! ([`lrmem_optimizers::registry::presets`]), so that reports keep their familiar row names and a
//! new optimizer's presets join every profile of their tier with no edit here.
//!
//! Any [`Arm`] can be written as `[NAME=]SPEC[+reload]` (see [`Arm::parse`]); the presets are
//! names for the arms of the papers' sequential MNIST protocol and of the peers people pick
//! today, each of a [`Tier`] (the smoke run, the headline tables, the full protocol) and of its
//! entry's [`Family`]. The memory's settings are the library defaults (M = 20 centres over ±1,
//! Adam on θ), with ξ in the name.

use lrmem_optimizers::registry::{presets, Family, Preset, RegistryEntry, Tier};

use crate::harness::Arm;
use crate::BenchError;

/// The arm `preset` of `entry` names: the entry's spec with the preset's keys, under the
/// preset's name, carried across tasks where the preset reloads.
pub fn of_preset(entry: &RegistryEntry, preset: &Preset) -> Arm {
    Arm {
        name: preset.name.to_string(),
        spec: entry
            .spec(preset.keys)
            .expect("every preset of the registry parses (tested)"),
        reload: preset.reload,
    }
}

/// Every preset up to `tier`, in registry order: the arms of the profile of that tier.
///
/// ```
/// use lrmem_optimizers::registry::Tier;
/// let smoke: Vec<String> = lrmem_bench::workloads::arms::tier(Tier::Smoke).into_iter().map(|a| a.name).collect();
/// assert_eq!(smoke, ["sgd", "meta-sgd-xi0.01", "meta-sgd-reload-xi0.01"]);
/// ```
pub fn tier(tier: Tier) -> Vec<Arm> {
    presets(tier).map(|(e, p)| of_preset(e, p)).collect()
}

/// The presets of the entries of `family` up to `tier`, in registry order: the peer sets of the
/// studies (the learning-rate-free peers at their defaults, for instance).
pub fn family(family: Family, tier: Tier) -> Vec<Arm> {
    presets(tier)
        .filter(|(e, _)| e.family == family)
        .map(|(e, p)| of_preset(e, p))
        .collect()
}

/// The preset `name`, if there is one.
pub fn preset(name: &str) -> Option<Arm> {
    presets(Tier::Full)
        .find(|(_, p)| p.name == name)
        .map(|(e, p)| of_preset(e, p))
}

/// The preset names, in registry order, for help texts.
pub fn names() -> Vec<&'static str> {
    presets(Tier::Full).map(|(_, p)| p.name).collect()
}

/// A preset name, or any arm in [`Arm::parse`]'s syntax.
pub fn parse(text: &str) -> Result<Arm, BenchError> {
    match preset(text.trim()) {
        Some(arm) => Ok(arm),
        None => Arm::parse(text),
    }
}

/// A list of arms separated by `;` (a spec's own keys are separated by `,`).
pub fn parse_list(text: &str) -> Result<Vec<Arm>, BenchError> {
    text.split(';')
        .filter(|s| !s.trim().is_empty())
        .map(parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_parses_and_builds() {
        for arm in tier(Tier::Full) {
            let spec = arm.spec.clone().with("lr", 1e-3f32);
            spec.build().unwrap_or_else(|e| panic!("{}: {e}", arm.name));
            // The text form of a preset is the same arm.
            let text = format!(
                "{}={}{}",
                arm.name,
                arm.spec,
                if arm.reload { "+reload" } else { "" }
            );
            assert_eq!(Arm::parse(&text).unwrap(), arm);
        }
        assert!(preset("meta-sgd-reload-xi0.01").unwrap().reload);
        assert!(!preset("meta-sgd-xi0.01").unwrap().reload);
        assert_eq!(parse_list("sgd; adam:lr=0.01,beta1=0.8").unwrap().len(), 2);
    }

    #[test]
    fn tiers_nest_and_names_are_unique() {
        let smoke = tier(Tier::Smoke);
        let headline = tier(Tier::Headline);
        let full = tier(Tier::Full);
        assert!(smoke.iter().all(|a| headline.contains(a)));
        assert!(headline.iter().all(|a| full.contains(a)));
        let mut names = names();
        assert_eq!(names.len(), full.len());
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), full.len(), "two presets share a name");
    }
}
