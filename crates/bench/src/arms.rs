//! Named arms of the papers' protocol, so that reports keep their familiar row names.
//!
//! Any [`Arm`] can be written as `[NAME=]SPEC[+reload]` (see [`Arm::parse`]); these presets
//! are names for the arms of the papers' sequential MNIST protocol and of the peers people pick
//! today. The memory's settings are the library defaults (M = 20 centres over ±1, Adam on θ),
//! with ξ in the name.

use crate::harness::Arm;
use crate::BenchError;

/// The presets: (name, arm text).
const PRESETS: &[(&str, &str)] = &[
    ("sgd", "sgd"),
    ("adam", "adam"),
    ("meta-sgd-xi0.1", "meta-sgd:xi=0.1"),
    ("meta-sgd-xi0.01", "meta-sgd:xi=0.01"),
    ("meta-sgd-xi0.001", "meta-sgd:xi=0.001"),
    ("meta-sgd-reload-xi0.1", "meta-sgd:xi=0.1+reload"),
    ("meta-sgd-reload-xi0.01", "meta-sgd:xi=0.01+reload"),
    ("meta-sgd-reload-xi0.001", "meta-sgd:xi=0.001+reload"),
    ("meta-adam-xi0.01", "meta-adam:xi=0.01"),
    ("rprop", "rprop"),
    ("sgd-hd", "sgd-hd"),
    ("adam-hd", "adam-hd"),
    // The learning-rate-free and schedule-free peers (at their defaults in the paper setting).
    ("prodigy", "prodigy"),
    ("dadapt-adam", "dadapt-adam"),
    ("dadapt-sgd", "dadapt-sgd"),
    ("dog", "dog"),
    ("ldog", "ldog"),
    ("sf-sgd", "sf-sgd"),
    ("sf-adamw", "sf-adamw"),
    ("cocob", "cocob"),
    ("mechanic-sgd", "mechanic-sgd"),
    ("mechanic-adam", "mechanic-adam"),
    // The learned LSTM optimizer (Andrychowicz et al. 2016), meta-trained on the MNIST MLP.
    ("l2l", "l2l"),
];

/// The preset `name`, if there is one.
pub fn preset(name: &str) -> Option<Arm> {
    PRESETS.iter().find(|(n, _)| *n == name).map(|(n, text)| {
        Arm::parse(text)
            .expect("every preset parses (tested)")
            .named(n)
    })
}

/// Every preset, in report order: the arms of the papers' protocol.
pub fn papers() -> Vec<Arm> {
    PRESETS
        .iter()
        .map(|(n, _)| preset(n).expect("listed"))
        .collect()
}

/// The preset names, for help texts.
pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|(n, _)| *n).collect()
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
        for arm in papers() {
            let spec = arm.spec.clone().with("lr", 1e-3f32);
            spec.build().unwrap_or_else(|e| panic!("{}: {e}", arm.name));
        }
        assert!(preset("meta-sgd-reload-xi0.01").unwrap().reload);
        assert!(!preset("meta-sgd-xi0.01").unwrap().reload);
        assert_eq!(parse_list("sgd; adam:lr=0.01,beta1=0.8").unwrap().len(), 2);
    }
}
