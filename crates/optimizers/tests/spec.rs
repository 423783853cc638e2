//! `OptimizerSpec`: text and serde round trips, the registry against the contract, helpful
//! errors, and bit-for-bit equality with the optimizers built by hand.

use lrmem_optimizers::{
    contract, registry, Adam, AdamConfig, AdamHd, AdamHdConfig, Checkpoint, MemoryConfig,
    MemoryOptimizer, Meta, MetaConfig, OptimError, Optimizer, OptimizerSpec, Rprop, RpropConfig,
    Sgd, SgdConfig, SgdHd, SgdHdConfig, SpecError, StateBytes,
};
use proptest::prelude::*;

mod common;
use common::{built, spec, with_memory};

fn build_err(s: &str) -> SpecError {
    match spec(s).build() {
        Ok(_) => panic!("`{s}` built, but must not"),
        Err(e) => e,
    }
}

/// Steps `a` and `b` through the same gradients (two tensors, a few steps) and asserts that
/// parameters and saved state agree bit for bit.
fn same_bits(what: &str, mut a: impl Optimizer + Checkpoint, mut b: impl Optimizer + Checkpoint) {
    let mut wa = vec![vec![0.3f32, -0.7, 1.1, 0.05], vec![0.5f32, -0.25]];
    let mut wb = wa.clone();
    for t in 0..6 {
        for (k, name) in ["w", "b"].into_iter().enumerate() {
            let g: Vec<f32> = wa[k]
                .iter()
                .enumerate()
                .map(|(i, x)| 1.5 * x - 0.2 * (i as f32 + t as f32).sin())
                .collect();
            a.step(name, &mut wa[k], &g).unwrap();
            b.step(name, &mut wb[k], &g).unwrap();
        }
    }
    let bits =
        |w: &Vec<Vec<f32>>| -> Vec<u32> { w.iter().flatten().map(|x| x.to_bits()).collect() };
    assert_eq!(bits(&wa), bits(&wb), "{what}: parameters differ");
    assert_eq!(
        a.save().unwrap(),
        b.save().unwrap(),
        "{what}: state differs"
    );
    assert_eq!(a.memory_thetas(), b.memory_thetas(), "{what}: θ differs");
}

/// [`same_bits`] of the optimizer the spec `text` builds and `by_hand`, named by the spec.
fn same_as_spec(text: &str, by_hand: impl Optimizer + Checkpoint) {
    same_bits(text, built(text), by_hand);
}

#[test]
fn parse_display_and_accessors() {
    let s = spec("  meta-sgd :  xi = 0.05 , m=20,signal=sign ");
    assert_eq!(s.name(), "meta-sgd");
    assert_eq!(s.get("xi"), Some("0.05"));
    assert_eq!(s.get("lr"), None);
    assert_eq!(
        s.params().collect::<Vec<_>>(),
        [("m", "20"), ("signal", "sign"), ("xi", "0.05")]
    );
    assert_eq!(s.to_string(), "meta-sgd:m=20,signal=sign,xi=0.05");
    assert_eq!(spec(&s.to_string()), s);
    assert_eq!(
        "meta-sgd:m=20,signal=sign,xi=0.05"
            .parse::<OptimizerSpec>()
            .unwrap(),
        s
    );
    assert_eq!(spec("adam").to_string(), "adam");
    assert_eq!(OptimizerSpec::new("adam").unwrap(), spec(" adam "));
    let s = spec("sgd:lr=0.03,momentum=0.9")
        .with("lr", 0.1f32)
        .with("nesterov", true);
    assert_eq!(s.to_string(), "sgd:lr=0.1,momentum=0.9,nesterov=true");
}

#[test]
fn serde_stores_the_canonical_string() {
    let s = spec("sgd: momentum=0.9, lr=0.03");
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(json, r#""sgd:lr=0.03,momentum=0.9""#);
    assert_eq!(serde_json::from_str::<OptimizerSpec>(&json).unwrap(), s);
    let list: Vec<OptimizerSpec> =
        serde_json::from_str(r#"["adam", "meta-adam:xi=0.01"]"#).unwrap();
    assert_eq!(list, [spec("adam"), spec("meta-adam:xi=0.01")]);
    let err = serde_json::from_str::<OptimizerSpec>(r#""adma""#).unwrap_err();
    assert!(err.to_string().contains("did you mean `adam`"), "{err}");
}

#[test]
fn syntax_errors_say_how_to_write_a_spec() {
    for bad in [
        "",
        ":lr=1",
        "sgd:",
        "sgd:lr",
        "sgd:lr=",
        "sgd:=1",
        "sgd:lr=1,",
        "sgd:lr=1,,momentum=0",
        "sgd:lr=1=2",
        "sgd:lr=1,lr=2",
        "sgd:l r=1",
        "sgd:lr=0 1",
    ] {
        match OptimizerSpec::parse(bad) {
            Err(e @ SpecError::Syntax { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("NAME:KEY=VALUE"), "`{bad}`: {msg}");
            }
            other => panic!("`{bad}` gave {other:?}"),
        }
    }
    let msg = OptimizerSpec::parse("sgd:lr=1,lr=2")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`lr` is given twice"), "{msg}");
    assert!(matches!(
        spec("sgd").try_with("lr", "1,2"),
        Err(SpecError::Syntax { .. })
    ));
    assert!(std::panic::catch_unwind(|| spec("sgd").with("l r", 1)).is_err());
}

#[test]
fn unknown_optimizer_lists_the_known_ones() {
    let err = OptimizerSpec::parse("meta_sgd:xi=0.1").unwrap_err();
    let SpecError::UnknownOptimizer { name, known } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(name, "meta_sgd");
    let all: Vec<String> = registry().iter().map(|e| e.name.to_string()).collect();
    assert_eq!(known, &all);
    let msg = err.to_string();
    assert!(msg.contains("did you mean `meta-sgd`?"), "{msg}");
    for name in &all {
        assert!(msg.contains(name.as_str()), "{msg}");
    }
    assert!(matches!(
        OptimizerSpec::new("lbfgs"),
        Err(SpecError::UnknownOptimizer { .. })
    ));
}

#[test]
fn unknown_key_lists_the_valid_ones() {
    let err = build_err("sgd:lr=0.1,momentun=0.9");
    let SpecError::UnknownKey {
        optimizer,
        key,
        valid,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((optimizer.as_str(), key.as_str()), ("sgd", "momentun"));
    assert!(valid.iter().any(|k| k == "momentum") && valid.iter().any(|k| k == "lr"));
    let msg = err.to_string();
    assert!(
        msg.contains("did you mean `momentum`?") && msg.contains("weight_decay"),
        "{msg}"
    );
    // The base's lr is not used by Meta, so meta-sgd has no such key; `lr` is η₀ there.
    assert!(matches!(
        build_err("meta-sgd:beta1=0.9"),
        SpecError::UnknownKey { .. }
    ));
    assert!(matches!(
        build_err("adam:momentum=0.9"),
        SpecError::UnknownKey { .. }
    ));
    assert!(spec("sgd:lrr=1").build().is_err());
    assert!(spec("sgd:lrr=1").state_bytes().is_err());
}

#[test]
fn bad_values_say_what_the_key_takes() {
    for (s, key, expected) in [
        ("sgd:lr=fast", "lr", "a number"),
        ("sgd:nesterov=yes", "nesterov", "one of: true, false"),
        ("sgd:non_finite=ignore", "non_finite", "one of: error, skip"),
        ("meta-sgd:m=20.5", "m", "a whole number"),
        ("meta-sgd:m=-2", "m", "a whole number"),
        ("meta-sgd:layout=cubic", "layout", "one of: linear, log"),
        (
            "meta-adam:signal=product2",
            "signal",
            "one of: product, sign",
        ),
        (
            "meta-sgd:theta_opt=rmsprop",
            "theta_opt",
            "one of: adam, sgd, momentum",
        ),
    ] {
        let err = build_err(s);
        let SpecError::BadValue {
            key: k,
            expected: e,
            ..
        } = &err
        else {
            panic!("`{s}`: {err:?}")
        };
        assert_eq!(k, key, "`{s}`");
        assert!(e.contains(expected), "`{s}`: {err}");
        assert!(err.to_string().contains(expected), "`{s}`: {err}");
    }
}

#[test]
fn out_of_range_values_name_the_key() {
    for (s, key) in [
        ("sgd:momentum=1.5", "momentum"),
        ("sgd:nesterov=true", "nesterov"),
        ("sgd:lr=-1", "lr"),
        ("adam:beta2=1", "beta2"),
        ("rprop:eta_plus=0.9", "eta_minus/eta_plus"),
        ("rprop:step_min=2,step_max=1", "step_min/step_max"),
        ("sgd-hd:beta=-1", "beta"),
        ("adam-hd:beta1=2", "beta1"),
        ("meta-sgd:m=1", "m"),
        ("meta-sgd:lr=2", "lr"),
        ("meta-sgd:xi=-0.1", "xi"),
        ("meta-sgd:theta_beta1=1", "theta_beta1"),
        (
            "meta-sgd:theta_opt=momentum,theta_momentum=1",
            "theta_momentum",
        ),
        ("meta-sgd:clip=0", "clip"),
        ("meta-sgd:layout=log,m=21", "m"),
        ("meta-sgd:theta_min=1,theta_max=0.5", "theta_min"),
        ("meta-sgd:momentum=1", "momentum"),
        ("meta-adam:eps=0", "eps"),
        ("meta-adam:cutoff=0", "cutoff"),
    ] {
        let err = build_err(s);
        let SpecError::Invalid(OptimError::InvalidConfig { field, .. }) = &err else {
            panic!("`{s}`: {err:?}")
        };
        assert_eq!(*field, key, "`{s}`: {err}");
        assert!(
            err.to_string().contains(&format!("`{key}`")),
            "`{s}`: {err}"
        );
    }
}

#[test]
fn keys_of_another_memory_optimizer_conflict() {
    for s in [
        "meta-sgd:theta_momentum=0.5",
        "meta-sgd:theta_opt=sgd,theta_beta1=0.8",
        "meta-adam:theta_opt=momentum,theta_eps=1e-6",
        "meta-sgd:theta_opt=sgd,theta_momentum=0.5",
    ] {
        let err = build_err(s);
        assert!(matches!(err, SpecError::Conflict { .. }), "`{s}`: {err:?}");
        assert!(
            err.to_string().contains("applies only with theta_opt="),
            "{err}"
        );
    }
}

#[test]
fn every_entry_builds_with_no_keys_and_passes_the_contract() {
    for entry in registry() {
        let plain = OptimizerSpec::new(entry.name).unwrap();
        let mut opt = plain
            .build()
            .unwrap_or_else(|e| panic!("{}: {e}", entry.name));
        // Gradient 0.5 at w = ±0.5 (½w² + … ): sf-sgd's default lr = 1 (the reference's)
        // lands on 0, where gradient 1 would land on ∓0.5, the other side of the minimum.
        let mut w = vec![0.5f32, -0.5];
        opt.step("w", &mut w, &[0.5, -0.5]).unwrap();
        assert!(
            w.iter().all(|x| x.is_finite() && x.abs() < 0.5),
            "{}",
            entry.name
        );
        plain.state_bytes().unwrap();
        // The entry's own contract settings (its defaults unless 500 steps at its default
        // learning rate cannot solve the contract's quadratic).
        let s = entry.spec(entry.contract).unwrap();
        if entry.whole_model {
            contract::check_model(|| s.build().unwrap());
        } else {
            contract::check(|| s.build().unwrap());
        }
        // The help text names every key with its default.
        let help = entry.to_string();
        for k in entry.keys {
            assert!(
                help.contains(&format!("{}={}", k.name, k.default)),
                "{help}"
            );
        }
    }
}

#[test]
fn every_key_is_read_and_its_default_text_is_the_default() {
    for entry in registry() {
        let plain = built(entry.name).save().unwrap();
        for k in entry.keys {
            assert_eq!(entry.key(k.name), Some(k));
            let mut s = OptimizerSpec::new(entry.name)
                .unwrap()
                .with(k.name, k.default);
            // Keys that apply to one choice of another key only: compare against that
            // choice's defaults.
            let only_with = match k.name {
                "theta_momentum" => Some(("theta_opt", "momentum")),
                "scale_beta" => Some(("scale", "rms")),
                "reload_keep" => Some(("reload", "decay")),
                _ => None,
            };
            if let Some((key, choice)) = only_with {
                s = s.with(key, choice);
                let plain = built(&format!("{}:{key}={choice}", entry.name)).save();
                assert_eq!(s.build().unwrap().save(), plain, "{s}");
                continue;
            }
            let built = s
                .build()
                .unwrap_or_else(|e| panic!("`{s}` (the documented default): {e}"));
            assert_eq!(
                built.save().unwrap(),
                plain,
                "`{s}`: the documented default is not the default"
            );
        }
    }
}

#[test]
fn text_of_an_f32_is_read_exactly() {
    assert_eq!(
        "0.001".parse::<f32>().unwrap(),
        "1e-3".parse::<f32>().unwrap()
    );
    assert_eq!("0.001".parse::<f32>().unwrap().to_bits(), 1e-3f32.to_bits());
    for name in [
        "sgd",
        "adam",
        "rprop",
        "sgd-hd",
        "adam-hd",
        "meta-sgd",
        "meta-adam",
        "meta-rprop",
        "meta-sgd-hd",
        "meta-adam-hd",
    ] {
        let a = built(&format!("{name}:lr=0.001")).save().unwrap();
        let b = built(&format!("{name}:lr=1e-3")).save().unwrap();
        let c = built(&format!("{name}:lr=1E-3")).save().unwrap();
        assert!(a == b && b == c, "{name}");
    }
}

#[test]
fn specs_build_exactly_the_hand_made_optimizers() {
    let (x, y) = (0.0123f32, 0.045f32);
    let meta = with_memory(MemoryConfig {
        num_centers: 20,
        clip: 1.0,
        eta0: x,
        optimizer: MemoryOptimizer::adam(y),
        ..MemoryConfig::default()
    });
    same_as_spec(&format!("meta-sgd:lr={x},xi={y}"), Meta::sgd(meta).unwrap());
    same_as_spec(
        &format!("meta-adam:lr={x},xi={y}"),
        Meta::adam(meta).unwrap(),
    );
    same_as_spec("meta-sgd", Meta::sgd(MetaConfig::default()).unwrap());
    same_as_spec(
        &format!("sgd:lr={x}"),
        Sgd::new(SgdConfig::with_lr(x)).unwrap(),
    );
    same_as_spec(
        &format!("adam:lr={x}"),
        Adam::new(AdamConfig::with_lr(x)).unwrap(),
    );
    same_as_spec(
        &format!("rprop:lr={x}"),
        Rprop::new(RpropConfig::with_lr(x)).unwrap(),
    );
    // Both hypergradient methods from α₀ = x, β at its default.
    let (mut sgd_hd, mut adam_hd) = (SgdHdConfig::default(), AdamHdConfig::default());
    (sgd_hd.lr, adam_hd.lr) = (x, x);
    same_as_spec(&format!("sgd-hd:lr={x}"), SgdHd::new(sgd_hd).unwrap());
    same_as_spec(&format!("adam-hd:lr={x}"), AdamHd::new(adam_hd).unwrap());
    // The harness's way: a float set with `with`.
    same_bits(
        "meta-sgd with()",
        spec("meta-sgd")
            .with("xi", y)
            .with("lr", x)
            .build()
            .unwrap(),
        Meta::sgd(meta).unwrap(),
    );
}

#[test]
fn every_key_reaches_the_config() {
    let memory = MemoryConfig {
        num_centers: 12,
        clip: 2.0,
        lm_scale: 0.75,
        layout: lrmem_optimizers::memory_core::Layout::Log,
        eta0: 0.02,
        theta_min: 1e-7,
        theta_max: 0.5,
        signal: lrmem_optimizers::memory_core::Signal::Sign,
        optimizer: MemoryOptimizer::Adam {
            lr: 0.01,
            beta1: 0.8,
            beta2: 0.99,
            eps: 1e-6,
        },
        cutoff: f32::INFINITY,
        non_finite: lrmem_optimizers::NonFinite::Skip,
        space: lrmem_optimizers::ThetaSpace::Log,
        scale: lrmem_optimizers::QueryScale::Rms { beta: 0.9 },
        reload: lrmem_optimizers::Reload::Decay { keep: 0.3 },
    };
    let keys = "lr=0.02,xi=0.01,theta_beta1=0.8,theta_beta2=0.99,theta_eps=1e-6,m=12,clip=2,\
                lm_scale=0.75,layout=log,theta_min=1e-7,theta_max=0.5,signal=sign,cutoff=inf,\
                non_finite=skip,space=log,scale=rms,scale_beta=0.9,reload=decay,reload_keep=0.3,\
                query=grad";
    let config = MetaConfig {
        memory,
        query: lrmem_optimizers::Query::Gradient,
    };
    same_bits(
        "meta-sgd, every key",
        built(&format!(
            "meta-sgd:{keys},momentum=0.5,dampening=0,nesterov=true,weight_decay=0.01"
        )),
        Meta::new(
            SgdConfig {
                lr: memory.eta0,
                momentum: 0.5,
                nesterov: true,
                weight_decay: 0.01,
                non_finite: memory.non_finite,
                ..SgdConfig::default()
            },
            config,
        )
        .unwrap(),
    );
    same_bits(
        "meta-adam, every key",
        built(&format!(
            "meta-adam:{keys},beta1=0.8,beta2=0.99,eps=1e-7,weight_decay=0.01,decoupled=true"
        )),
        Meta::new(
            AdamConfig {
                lr: memory.eta0,
                beta1: 0.8,
                beta2: 0.99,
                eps: 1e-7,
                weight_decay: 0.01,
                decoupled: true,
                non_finite: memory.non_finite,
            },
            config,
        )
        .unwrap(),
    );
    for (theta_opt, rule) in [
        ("sgd", MemoryOptimizer::sgd(0.2)),
        (
            "momentum,theta_momentum=0.5",
            MemoryOptimizer::Momentum {
                lr: 0.2,
                momentum: 0.5,
            },
        ),
        ("momentum", MemoryOptimizer::momentum(0.2)),
    ] {
        same_bits(
            theta_opt,
            built(&format!("meta-sgd:xi=0.2,lr=0.01,theta_opt={theta_opt}")),
            Meta::sgd(with_memory(MemoryConfig {
                eta0: 0.01,
                optimizer: rule,
                ..MemoryConfig::default()
            }))
            .unwrap(),
        );
    }
    same_bits(
        "sgd, every key",
        built("sgd:lr=0.05,momentum=0.9,dampening=0.1,nesterov=false,weight_decay=0.001,non_finite=skip"),
        Sgd::new(SgdConfig {
            lr: 0.05,
            momentum: 0.9,
            dampening: 0.1,
            nesterov: false,
            weight_decay: 0.001,
            non_finite: lrmem_optimizers::NonFinite::Skip,
        })
        .unwrap(),
    );
    same_bits(
        "adam, every key",
        built("adam:lr=0.05,beta1=0.8,beta2=0.99,eps=1e-6,weight_decay=0.01,decoupled=true,non_finite=skip"),
        Adam::new(AdamConfig {
            lr: 0.05,
            beta1: 0.8,
            beta2: 0.99,
            eps: 1e-6,
            weight_decay: 0.01,
            decoupled: true,
            non_finite: lrmem_optimizers::NonFinite::Skip,
        })
        .unwrap(),
    );
    same_bits(
        "rprop, every key",
        built("rprop:lr=0.02,eta_minus=0.4,eta_plus=1.3,step_min=1e-5,step_max=10,non_finite=skip"),
        Rprop::new(RpropConfig {
            lr: 0.02,
            etas: (0.4, 1.3),
            step_sizes: (1e-5, 10.0),
            non_finite: lrmem_optimizers::NonFinite::Skip,
        })
        .unwrap(),
    );
    same_bits(
        "sgd-hd, every key",
        built("sgd-hd:lr=0.02,beta=0.01,non_finite=skip"),
        SgdHd::new(SgdHdConfig {
            lr: 0.02,
            hypergrad_lr: 0.01,
            non_finite: lrmem_optimizers::NonFinite::Skip,
        })
        .unwrap(),
    );
    same_bits(
        "adam-hd, every key",
        built("adam-hd:lr=0.02,beta=1e-5,beta1=0.8,beta2=0.99,eps=1e-6,non_finite=skip"),
        AdamHd::new(AdamHdConfig {
            lr: 0.02,
            hypergrad_lr: 1e-5,
            beta1: 0.8,
            beta2: 0.99,
            eps: 1e-6,
            non_finite: lrmem_optimizers::NonFinite::Skip,
        })
        .unwrap(),
    );
}

#[test]
fn state_bytes_are_those_of_the_optimizer() {
    assert_eq!(spec("sgd").state_bytes().unwrap(), 0);
    assert_eq!(spec("sgd:momentum=0.9").state_bytes().unwrap(), 4);
    assert_eq!(spec("adam").state_bytes().unwrap(), 8);
    assert_eq!(
        spec("meta-sgd").state_bytes().unwrap(),
        Meta::sgd(MetaConfig::default())
            .unwrap()
            .bytes_per_coordinate()
    );
    assert_eq!(spec("meta-adam").state_bytes().unwrap(), 12);
    assert_eq!(spec("rprop").state_bytes().unwrap(), 8);
}

#[test]
fn next_task_through_a_spec() {
    let mut opt = spec("meta-sgd:lr=0.01,xi=0.05").build().unwrap();
    let mut w = vec![2.0f32; 6];
    for _ in 0..20 {
        let g: Vec<f32> = w.iter().map(|x| 0.5 * x).collect();
        opt.step("w", &mut w, &g).unwrap();
    }
    let thetas = opt.memory_thetas();
    assert_eq!(thetas.len(), 1);
    assert!(thetas[0].1.iter().any(|t| *t > 0.01));
    opt.next_task();
    assert_eq!(opt.memory_thetas(), thetas);
    assert!(spec("adam").build().unwrap().memory_thetas().is_empty());
}

/// Values of every kind a key takes: numbers as `f32` prints them, words, booleans.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<f32>().prop_map(|x| x.to_string()),
        (0usize..1000).prop_map(|n| n.to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        prop::sample::select(vec![
            "adam", "sgd", "momentum", "linear", "log", "sign", "skip", "1e-3"
        ])
        .prop_map(str::to_string),
    ]
}

fn any_spec() -> impl Strategy<Value = OptimizerSpec> {
    (0..registry().len())
        .prop_flat_map(|i| {
            let keys: Vec<&'static str> = registry()[i].keys.iter().map(|k| k.name).collect();
            (
                Just(i),
                prop::sample::subsequence(keys.clone(), 0..=keys.len()),
                prop::collection::vec(value(), keys.len()),
            )
        })
        .prop_map(|(i, keys, values)| {
            keys.into_iter().zip(values).fold(
                OptimizerSpec::new(registry()[i].name).unwrap(),
                |s, (k, v)| s.with(k, v),
            )
        })
}

proptest! {
    #[test]
    fn printed_specs_parse_back_equal(s in any_spec()) {
        let text = s.to_string();
        prop_assert_eq!(&OptimizerSpec::parse(&text).unwrap(), &s);
        let json = serde_json::to_string(&s).unwrap();
        prop_assert_eq!(serde_json::from_str::<OptimizerSpec>(&json).unwrap(), s.clone());
        // Spaces around every token change nothing.
        let spaced = text.replace(':', " : ").replace(',', " , ").replace('=', " = ");
        prop_assert_eq!(OptimizerSpec::parse(&format!("  {spaced} ")).unwrap(), s);
    }

    #[test]
    fn an_f32_set_with_with_builds_exactly(lr in 2e-9f32..1.0) {
        let built = OptimizerSpec::new("sgd").unwrap().with("lr", lr).build().unwrap();
        prop_assert_eq!(built.save().unwrap(), Sgd::new(SgdConfig::with_lr(lr)).unwrap().save().unwrap());
        let built = OptimizerSpec::new("meta-sgd").unwrap().with("lr", lr).build().unwrap();
        let memory = MemoryConfig { eta0: lr, ..MemoryConfig::default() };
        prop_assert_eq!(
            built.save().unwrap(),
            Meta::sgd(with_memory(memory)).unwrap().save().unwrap()
        );
    }
}

/// What the experiments derive their lists from holds for every entry: each preset and each
/// speed case is a spec that builds, preset names are unique across the registry (they name
/// rows of reports), an entry left out of the speed suite says why, every learning-rate-free
/// peer contributes an arm at its defaults, and the smoke tier is the memory against SGD.
#[test]
fn every_entry_tells_the_experiments_what_they_need() {
    use lrmem_optimizers::registry::{presets, Family, Speed, Tier};
    let mut names = std::collections::BTreeSet::new();
    for entry in registry() {
        for p in entry.presets {
            assert!(names.insert(p.name), "preset `{}` is named twice", p.name);
            let spec = entry.spec(p.keys).unwrap();
            spec.build()
                .unwrap_or_else(|e| panic!("preset `{}` ({spec}): {e}", p.name));
        }
        match entry.speed {
            Speed::Timed(cases) => {
                assert!(!cases.is_empty(), "{}: Timed with no case", entry.name);
                for c in cases {
                    let spec = entry.spec(c.keys).unwrap();
                    spec.build()
                        .unwrap_or_else(|e| panic!("speed case {spec}: {e}"));
                    assert!(c.bytes >= 12, "{spec}: reads g and w and writes w at least");
                }
            }
            Speed::Untimed(why) => assert!(why.len() > 20, "{}: say why", entry.name),
        }
        if entry.family == Family::LearningRateFree {
            assert!(entry.runs_at_defaults());
            assert!(
                entry.presets.iter().any(|p| p.keys.is_empty()),
                "{}: a peer runs at its defaults",
                entry.name
            );
        }
    }
    let smoke: Vec<(&str, bool)> = presets(Tier::Smoke)
        .map(|(_, p)| (p.name, p.reload))
        .collect();
    assert_eq!(
        smoke,
        [
            ("sgd", false),
            ("meta-sgd-xi0.01", false),
            ("meta-sgd-reload-xi0.01", true)
        ]
    );
    // Each tier runs everything the tiers below it run.
    let count = |t: Tier| presets(t).count();
    assert!(
        count(Tier::Smoke) < count(Tier::Headline) && count(Tier::Headline) < count(Tier::Full)
    );
    let all: usize = registry().iter().map(|e| e.presets.len()).sum();
    assert_eq!(count(Tier::Full), all);
}

/// Builds `l2l:weights=PATH` on another thread and waits at most 20 s for it, so that a read
/// that blocks (a FIFO) fails the test instead of hanging it.
fn l2l_weights_err(path: &std::path::Path) -> String {
    let text = format!("l2l:weights={}", path.display());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(spec(&text).build().map(drop).map_err(|e| e.to_string()));
    });
    match rx.recv_timeout(std::time::Duration::from_secs(20)) {
        Ok(Err(e)) => e,
        Ok(Ok(())) => panic!("{} built", path.display()),
        Err(_) => panic!(
            "reading {} as weights did not return in 20 s",
            path.display()
        ),
    }
}

/// A scratch directory of this test process's own.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lrmem-spec-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn l2l_weights_from_a_path_refuse_an_oversized_file_without_reading_it() {
    use lrmem_optimizers::l2l::{L2lWeights, MAX_WEIGHTS_BYTES};
    let dir = scratch("oversized");
    // A sparse file far beyond any weights file: refused by its size, not read.
    let huge = dir.join("huge.lrw");
    let f = std::fs::File::create(&huge).unwrap();
    f.set_len(8 << 30).unwrap();
    drop(f);
    let err = l2l_weights_err(&huge);
    assert!(
        err.contains("8589934592 bytes")
            && err.contains(&format!("at most {MAX_WEIGHTS_BYTES}: it is another file")),
        "{err}"
    );
    // One byte more than the largest weights file.
    let big = dir.join("big.lrw");
    let mut bytes = L2lWeights::shipped("quadratic").unwrap().save().unwrap();
    bytes.resize(MAX_WEIGHTS_BYTES as usize + 1, 0);
    std::fs::write(&big, &bytes).unwrap();
    let err = l2l_weights_err(&big);
    assert!(err.contains("it is another file"), "{err}");
    // A directory.
    let err = l2l_weights_err(&dir);
    assert!(err.contains("a directory, not a regular file"), "{err}");
    // Saved weights still load from a path.
    let good = dir.join("good.lrw");
    std::fs::write(
        &good,
        L2lWeights::shipped("quadratic").unwrap().save().unwrap(),
    )
    .unwrap();
    spec(&format!("l2l:weights={}", good.display()))
        .build()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A device that never ends is refused without reading it.
#[cfg(unix)]
#[test]
fn l2l_weights_from_a_path_refuse_a_device() {
    let err = l2l_weights_err(std::path::Path::new("/dev/zero"));
    assert!(err.contains("a device, not a regular file"), "{err}");
    assert!(err.contains("L2lWeights::save"), "{err}");
}

/// A FIFO no one writes to is refused without opening it (opening it would block forever).
#[cfg(unix)]
#[test]
fn l2l_weights_from_a_path_refuse_a_fifo() {
    let dir = scratch("fifo");
    let fifo = dir.join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        let err = l2l_weights_err(&fifo);
        assert!(
            err.contains("a FIFO (named pipe), not a regular file"),
            "{err}"
        );
    } else {
        eprintln!("mkfifo is not available: the FIFO case is not run");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn errors_repeat_a_long_input_briefly() {
    // 10 MB: did-you-mean over the whole of it took seconds, and each message repeated it.
    // How long the errors take is for a benchmark, not a test; their length is asserted here.
    let long = "x".repeat(10 << 20);
    let messages = [
        OptimizerSpec::new(&long).unwrap_err(),
        spec(&format!("sgd:{long}=1")).build().unwrap_err(),
        spec(&format!("sgd:lr={long}")).build().unwrap_err(),
        OptimizerSpec::parse(&format!("sgd:lr=1,{long}")).unwrap_err(),
        OptimizerSpec::parse(&format!("sgd:lr=1 {long}")).unwrap_err(),
        OptimizerSpec::parse(&format!("sgd:lr{long}=1,lr{long}=2")).unwrap_err(),
    ]
    .map(|e| e.to_string());
    for m in &messages {
        assert!(m.len() < 2000, "a message of {} bytes", m.len());
        assert!(m.contains(" bytes in all)"), "{m}");
    }
    // Short input is repeated whole, and a typo still gets its suggestion.
    let err = OptimizerSpec::new("adamm").unwrap_err().to_string();
    assert!(
        err.contains("unknown optimizer `adamm` (did you mean `adam`?)"),
        "{err}"
    );
    // A long name that starts like a known one is shown cut, with its length.
    let err = OptimizerSpec::new(&format!("sgd{}", "é".repeat(200))).unwrap_err();
    assert!(err.to_string().contains("… (403 bytes in all)"), "{err}");
}
