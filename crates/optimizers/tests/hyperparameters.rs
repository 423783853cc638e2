//! Hyperparameters that change between steps (`Optimizer::hyperparameters`,
//! `set_hyperparameter`): the registry's names, setters against construction bit for bit,
//! refused values, what a new rate does to learned state, and checkpoints that restore the
//! rates they were saved with (the reload workflow: load, then set a new rate).

use lrmem_optimizers::schedule::{Linear, Scheduled};
use lrmem_optimizers::{
    registry, Adam, AdamConfig, Checkpoint, MemoryConfig, MemoryOptimizer, Meta, MetaConfig,
    OptimError, Optimizer, OptimizerSpec, Rprop, RpropConfig, Sgd, SgdConfig,
};

mod common;
use common::{assert_same_runs, bits, built, spec, train, with_memory};

/// Every optimizer's hyperparameters, in order, with their defaults (the registry's).
#[test]
fn hyperparameters_are_registry_keys() {
    let expected: &[(&str, &[&str])] = &[
        ("sgd", &["lr", "momentum", "dampening", "weight_decay"]),
        ("adam", &["lr", "beta1", "beta2", "eps", "weight_decay"]),
        (
            "rprop",
            &["lr", "eta_minus", "eta_plus", "step_min", "step_max"],
        ),
        ("sgd-hd", &["lr", "beta"]),
        ("adam-hd", &["lr", "beta", "beta1", "beta2", "eps"]),
    ];
    for (name, keys) in expected {
        let opt = spec(name).build().unwrap();
        let got: Vec<String> = opt.hyperparameters().into_iter().map(|(k, _)| k).collect();
        assert_eq!(got, *keys, "{name}");
    }
    // Whatever an optimizer of the registry reports is a key of its entry, at its default.
    for entry in registry() {
        let opt = OptimizerSpec::new(entry.name).unwrap().build().unwrap();
        for (k, v) in opt.hyperparameters() {
            let key = entry
                .key(&k)
                .unwrap_or_else(|| panic!("{}: `{k}` is not a key", entry.name));
            assert_eq!(
                v,
                key.default.parse::<f32>().unwrap(),
                "{}: {k}",
                entry.name
            );
        }
    }
    assert_eq!(spec("sgd:lr=0.03").build().unwrap().lr(), Some(0.03));
}

/// Setting a hyperparameter before the first step is building with it: the same steps and the
/// same checkpoint, bit for bit.
#[test]
fn setters_match_construction_bit_for_bit() {
    let cases: &[(&str, &str, f32)] = &[
        ("sgd", "lr", 0.05),
        ("sgd:momentum=0.9", "momentum", 0.5),
        ("sgd", "momentum", 0.9),
        ("sgd:momentum=0.9", "dampening", 0.1),
        ("sgd", "weight_decay", 0.01),
        ("adam", "lr", 0.01),
        ("adam", "beta1", 0.8),
        ("adam", "beta2", 0.99),
        ("adam", "eps", 1e-6),
        ("adam:decoupled=true", "weight_decay", 0.1),
        ("rprop", "lr", 0.02),
        ("rprop", "eta_minus", 0.4),
        ("rprop", "eta_plus", 1.5),
        ("rprop", "step_min", 1e-4),
        ("rprop", "step_max", 0.5),
        ("sgd-hd", "lr", 0.02),
        ("sgd-hd", "beta", 0.01),
        ("adam-hd", "lr", 0.01),
        ("adam-hd", "beta", 1e-4),
        ("adam-hd", "beta1", 0.8),
        ("adam-hd", "beta2", 0.99),
        ("adam-hd", "eps", 1e-6),
        // Meta: `lr` is η₀ and the base's lr, `xi` the memory's rate, then the base's keys.
        ("meta-sgd", "lr", 0.01),
        ("meta-sgd", "xi", 0.01),
        ("meta-sgd:momentum=0.9", "momentum", 0.5),
        ("meta-adam", "xi", 0.01),
        ("meta-adam", "beta1", 0.8),
        ("meta-rprop", "lr", 0.01),
        ("meta-rprop", "eta_plus", 1.5),
        ("meta-sgd-hd", "beta", 0.01),
        ("meta-adam-hd", "eps", 1e-6),
    ];
    for &(base, key, value) in cases {
        let mut set = built(base);
        set.set_hyperparameter(key, value).unwrap();
        assert_eq!(set.hyperparameter(key), Some(value), "{base} {key}");
        let mut made = spec(base).with(key, value).build().unwrap();
        assert_same_runs(&format!("{base} {key}={value}"), &mut set, &mut made, |o| {
            let (a, b) = train(o, 10);
            (bits(&a), bits(&b))
        });
    }
}

/// A refused value is the constructor's error, naming the key, and changes nothing.
#[test]
fn refused_values_name_the_key_and_change_nothing() {
    let cases: &[(&str, &str, f32, &str)] = &[
        ("sgd", "lr", -1.0, "lr"),
        ("sgd", "lr", f32::NAN, "lr"),
        ("sgd", "momentum", 1.0, "momentum"),
        (
            "sgd:momentum=0.9,nesterov=true",
            "momentum",
            0.0,
            "nesterov",
        ),
        ("sgd", "dampening", 2.0, "dampening"),
        ("adam", "beta2", 1.0, "beta2"),
        ("adam", "eps", 0.0, "eps"),
        ("rprop", "lr", 0.0, "lr"),
        ("rprop", "eta_minus", 2.0, "eta_minus/eta_plus"),
        ("rprop", "step_max", 1e-9, "step_min/step_max"),
        ("sgd-hd", "beta", -1.0, "beta"),
        ("adam-hd", "beta", f32::INFINITY, "beta"),
        ("adam-hd", "beta1", 1.0, "beta1"),
    ];
    for &(base, key, value, field) in cases {
        let mut opt = built(base);
        train(&mut opt, 2);
        let (before, hp) = (opt.save().unwrap(), opt.hyperparameters());
        let err = opt.set_hyperparameter(key, value).unwrap_err();
        // The same error as building with that value (names as in the spec).
        let built_err = spec(base).with(key, value).build().unwrap_err();
        match (&err, &built_err) {
            (
                OptimError::InvalidConfig { field: f, .. },
                lrmem_optimizers::SpecError::Invalid(OptimError::InvalidConfig {
                    field: g, ..
                }),
            ) => {
                assert_eq!(*f, field, "{base} {key}");
                assert_eq!(f, g, "{base} {key}: setter and constructor disagree");
            }
            _ => panic!("{base} {key}: {err:?} / {built_err:?}"),
        }
        assert_eq!(opt.save().unwrap(), before, "{base} {key}: state changed");
        assert_eq!(
            opt.hyperparameters(),
            hp,
            "{base} {key}: hyperparameters changed"
        );
    }
}

#[test]
fn unknown_hyperparameters_list_the_known_ones() {
    let mut sgd = Sgd::new(SgdConfig::default()).unwrap();
    let err = sgd.set_hyperparameter("beta1", 0.9).unwrap_err();
    assert_eq!(
        err,
        OptimError::UnknownHyperparameter {
            name: "beta1".into(),
            known: vec![
                "lr".into(),
                "momentum".into(),
                "dampening".into(),
                "weight_decay".into()
            ],
        }
    );
    assert_eq!(
        err.to_string(),
        "this optimizer has no hyperparameter `beta1`; it has: lr, momentum, dampening, weight_decay"
    );
    // An optimizer that does not implement them: the trait's defaults.
    struct Plain;
    impl Optimizer for Plain {
        fn step(&mut self, _: &str, _: &mut [f32], _: &[f32]) -> Result<(), OptimError> {
            Ok(())
        }
        fn next_task(&mut self) {}
    }
    let mut plain = Plain;
    assert!(plain.hyperparameters().is_empty() && plain.lr().is_none());
    let err = plain.set_lr(0.1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "this optimizer has no hyperparameter `lr`; it has none that can change after construction"
    );
    // Through a box, as OptimizerSpec::build returns it.
    let mut boxed: Box<dyn Optimizer + Send> = spec("adam").build().unwrap().into_box();
    boxed.set_lr(0.5).unwrap();
    assert_eq!(boxed.lr(), Some(0.5));
}

/// SGD's momentum buffer exists only with momentum > 0: switching across 0 needs fresh state.
#[test]
fn sgd_momentum_cannot_cross_zero_with_state() {
    let mut sgd = Sgd::new(SgdConfig::with_lr(0.1)).unwrap();
    let mut w = [1.0f32];
    sgd.step("w", &mut w, &[1.0]).unwrap();
    let err = sgd.set_hyperparameter("momentum", 0.9).unwrap_err();
    assert!(
        matches!(
            err,
            OptimError::InvalidConfig {
                field: "momentum",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("next_task"), "{err}");
    assert_eq!(sgd.hyperparameter("momentum"), Some(0.0));
    sgd.next_task();
    sgd.set_hyperparameter("momentum", 0.9).unwrap();
    // Between two values > 0 the buffer carries on, as in torch.
    sgd.step("w", &mut w, &[1.0]).unwrap(); // buf = 1
    sgd.set_hyperparameter("momentum", 0.5).unwrap();
    sgd.step("w", &mut w, &[1.0]).unwrap(); // buf = 0.5·1 + 1 = 1.5
    assert_eq!(w, [1.0 - 0.1 - 0.1 - 0.15]);
}

/// Changing the rate mid-run uses the new rate from the next step on (SGD: w ← w − lr·g).
#[test]
fn sgd_and_adam_use_a_new_rate_from_the_next_step() {
    let mut sgd = Sgd::new(SgdConfig::with_lr(0.5)).unwrap();
    let mut w = [1.0f32];
    sgd.step("w", &mut w, &[1.0]).unwrap();
    sgd.set_lr(0.25).unwrap();
    sgd.step("w", &mut w, &[1.0]).unwrap();
    assert_eq!(w, [0.25]);

    // Adam's first step has length lr whatever the gradient; the second, with g unchanged,
    // too: m̂ = g and v̂ = g² after bias correction.
    let mut adam = spec("adam:lr=0.1").build().unwrap();
    let mut w = [1.0f32];
    adam.step("w", &mut w, &[3.0]).unwrap();
    adam.set_lr(0.01).unwrap();
    adam.step("w", &mut w, &[3.0]).unwrap();
    assert!((w[0] - (1.0 - 0.1 - 0.01)).abs() < 1e-6, "{w:?}");
}

/// Hypergradient descent: `lr` is α₀ for new tensors, and rescales every learned α.
#[test]
fn hd_lr_rescales_learned_rates() {
    let mut opt = built("sgd-hd:lr=0.1,beta=0.01");
    let mut w = [1.0f32, 1.0];
    opt.step("w", &mut w, &[1.0, 1.0]).unwrap(); // α = 0.1
    opt.step("w", &mut w, &[1.0, 1.0]).unwrap(); // α = 0.1 + 0.01·2 = 0.12
    opt.set_lr(0.2).unwrap(); // α = 0.12 · 0.2/0.1 = 0.24
    opt.step("w", &mut w, &[1.0, 1.0]).unwrap(); // α = 0.24 + 0.02 = 0.26
    assert!((w[0] - (1.0 - 0.1 - 0.12 - 0.26)).abs() < 1e-6, "{w:?}");
    let mut v = [1.0f32];
    opt.step("v", &mut v, &[1.0]).unwrap(); // a new tensor starts at α₀ = 0.2
    assert!((v[0] - 0.8).abs() < 1e-7, "{v:?}");

    // From α₀ = 0 there is no ratio: every α is shifted by the new value.
    let mut opt = built("sgd-hd:lr=0,beta=0");
    let mut w = [1.0f32];
    opt.step("w", &mut w, &[1.0]).unwrap();
    opt.set_lr(0.5).unwrap();
    opt.step("w", &mut w, &[1.0]).unwrap();
    assert_eq!(w, [0.5]);
}

/// Rprop: `lr` is Δ₀ for new tensors, and rescales every learned Δ.
#[test]
fn rprop_lr_rescales_learned_step_sizes() {
    let mut opt = Rprop::new(RpropConfig::with_lr(0.1)).unwrap();
    let mut w = [1.0f32];
    opt.step("w", &mut w, &[3.0]).unwrap(); // Δ = 0.1
    opt.step("w", &mut w, &[3.0]).unwrap(); // Δ = 0.12
    opt.set_lr(0.05).unwrap(); // Δ = 0.06
    opt.step("w", &mut w, &[3.0]).unwrap(); // Δ = 0.072
    assert!((w[0] - (1.0 - 0.1 - 0.12 - 0.072)).abs() < 1e-6, "{w:?}");
}

#[test]
fn meta_hyperparameters() {
    let opt = spec("meta-sgd:lr=0.01,xi=0.05").build().unwrap();
    assert_eq!(
        opt.hyperparameters(),
        [
            ("lr".to_owned(), 0.01),
            ("xi".to_owned(), 0.05),
            ("momentum".to_owned(), 0.0),
            ("dampening".to_owned(), 0.0),
            ("weight_decay".to_owned(), 0.0),
        ]
    );
    for (key, value) in [("lr", 2.0), ("lr", 0.0), ("xi", -1.0), ("beta1", 1.0)] {
        let mut opt = spec("meta-adam").build().unwrap();
        train(&mut opt, 2);
        let before = opt.save().unwrap();
        let err = opt.set_hyperparameter(key, value).unwrap_err();
        assert!(
            matches!(err, OptimError::InvalidConfig { field, .. } if field == key),
            "{key}: {err:?}"
        );
        assert_eq!(opt.save().unwrap(), before, "{key}");
    }
}

/// A memory's ξ changes in place: θ and moments carry on. The reload workflow: load a
/// checkpoint into an optimizer built with other rates (they are restored), then set the new one.
#[test]
fn meta_xi_changes_existing_memories_and_survives_reload() {
    let config = |xi: f32| {
        with_memory(MemoryConfig {
            clip: 4.0,
            optimizer: MemoryOptimizer::sgd(xi),
            ..MemoryConfig::default()
        })
    };
    let mut a = Meta::sgd(config(0.01)).unwrap();
    train(&mut a, 3);
    let saved = a.save().unwrap();
    a.set_hyperparameter("xi", 0.02).unwrap();
    assert_eq!(a.memory("a").unwrap().config().optimizer.lr(), 0.02);

    let mut b = Meta::sgd(config(0.05)).unwrap();
    b.load(&saved).unwrap();
    assert_eq!(
        b.hyperparameter("xi"),
        Some(0.01),
        "the checkpoint's xi is restored"
    );
    b.set_hyperparameter("xi", 0.02).unwrap();
    assert_same_runs("xi set after a reload", &mut a, &mut b, |o| train(o, 4));

    // lr is η₀ and the base's lr: both change, and both are restored.
    a.set_lr(0.002).unwrap();
    assert_eq!((a.lr(), a.base().config().lr), (Some(0.002), 0.002));
    let mut c = Meta::sgd(config(0.05)).unwrap();
    c.load(&a.save().unwrap()).unwrap();
    assert_eq!((c.lr(), c.base().config().lr), (Some(0.002), 0.002));
    // Structure must match.
    let mut other = Meta::sgd(with_memory(MemoryConfig {
        num_centers: 10,
        ..config(0.01).memory
    }))
    .unwrap();
    assert!(other.load(&saved).is_err());
}

/// Checkpoints restore the config's rates, as torch's `load_state_dict` restores a group's lr;
/// a difference in the state's shape is refused, naming the key.
#[test]
fn checkpoints_restore_the_config() {
    let mut sgd = Sgd::new(SgdConfig::with_lr(0.1)).unwrap();
    train(&mut sgd, 3);
    let bytes = sgd.save().unwrap();
    let mut rebuilt = Sgd::new(SgdConfig::with_lr(0.5)).unwrap();
    rebuilt.load(&bytes).unwrap();
    assert_eq!(rebuilt.lr(), Some(0.1));
    rebuilt.set_lr(0.05).unwrap();
    sgd.set_lr(0.05).unwrap();
    assert_eq!(train(&mut sgd, 3), train(&mut rebuilt, 3));

    let mut momentum = Sgd::new(SgdConfig {
        momentum: 0.9,
        ..SgdConfig::with_lr(0.1)
    })
    .unwrap();
    let err = momentum.load(&bytes).unwrap_err().to_string();
    assert!(err.contains("`momentum`"), "{err}");

    let mut adam = Adam::new(AdamConfig {
        eps: 1e-6,
        ..AdamConfig::default()
    })
    .unwrap();
    train(&mut adam, 2);
    let mut other = Adam::new(AdamConfig::default()).unwrap();
    other.load(&adam.save().unwrap()).unwrap();
    assert_eq!(other.hyperparameter("eps"), Some(1e-6));
}

/// A schedule on Meta's memory learning rate ξ.
#[test]
fn scheduled_xi() {
    let mut opt = Scheduled::new(Meta::sgd(MetaConfig::default()).unwrap())
        .schedule("xi", Linear::new(0.01, 0.001, 4).unwrap())
        .unwrap();
    train(&mut opt, 5);
    assert_eq!(opt.hyperparameter("xi"), Some(0.001));
    assert_eq!(
        opt.inner().memory("a").unwrap().config().optimizer.lr(),
        0.001
    );
}
