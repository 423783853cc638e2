//! Unit tests of `Meta` that need its private state.

use super::*;
use crate::methods::adam::AdamConfig;
use crate::optimizer::Checkpoint;

/// A `Meta` checkpoint is checked before it is trusted: a memory saved with another config
/// than the checkpoint's (it loaded silently), a trace with NaN or beyond ±clip, and a damaged
/// base state are `Corrupt` errors that change nothing.
#[test]
fn loaded_meta_state_is_checked() {
    let mut good = Meta::adam(MetaConfig::default()).unwrap();
    let mut w = vec![0.5f32, -0.25, 0.75];
    for g in [[0.1f32, -0.2, 0.3], [0.2, 0.1, -0.3]] {
        good.step("w", &mut w, &g).unwrap();
    }
    let trace = Trace::from_previous;
    type Damage = Box<dyn Fn(&mut Meta<Adam>)>;
    let damaged: Vec<(&str, Damage)> = vec![
        (
            "memory config",
            Box::new(|m| {
                let other = MemoryConfig {
                    clip: 2.0,
                    ..MetaConfig::default().memory
                };
                m.memories.insert("w".into(), Memory::new(other).unwrap());
            }),
        ),
        (
            "NaN trace",
            Box::new(move |m| {
                m.tensors.get_mut("w").unwrap().trace = trace(vec![0.1, f32::NAN, 0.0]);
            }),
        ),
        (
            "trace beyond clip",
            Box::new(move |m| {
                m.tensors.get_mut("w").unwrap().trace = trace(vec![0.1, 5.0, 0.0]);
            }),
        ),
        (
            "base state",
            Box::new(|m| m.base.states.get_mut("w").unwrap().v[0] = -1.0),
        ),
    ];
    for (what, damage) in damaged {
        let mut bad = good.clone();
        damage(&mut bad);
        let bytes = bad.save().unwrap();
        let mut target = Meta::adam(MetaConfig::default()).unwrap();
        let err = target.load(&bytes).unwrap_err();
        assert!(matches!(err, OptimError::Corrupt { .. }), "{what}: {err}");
        assert!(
            target.memories.is_empty() && target.tensors.is_empty(),
            "{what}"
        );
    }
    let mut target = Meta::new(AdamConfig::default(), MetaConfig::default()).unwrap();
    target.load(&good.save().unwrap()).unwrap();
}
