//! Every optimizer against the shared contract, literal torch values, and Meta's own promises.

use lrmem_memory_core::{Memory, MemoryConfig, MemoryOptimizer, Trace};
use lrmem_optimizers::{
    contract, Adam, AdamConfig, AdamHd, AdamHdConfig, Checkpoint, Meta, MetaConfig, OptimError,
    Optimizer, Rprop, RpropConfig, Sgd, SgdConfig, SgdHd, SgdHdConfig,
};
use proptest::prelude::*;

mod common;
use common::{assert_same_runs, bits, built, memory, meta_config, with_memory};

/// The values of a one-coordinate tensor from `w0`, after each step with these gradients: the
/// path torch's optimizers print for the same steps.
fn path(mut opt: impl Optimizer, w0: f32, grads: &[f32]) -> Vec<f32> {
    let mut w = [w0];
    grads
        .iter()
        .map(|&g| {
            opt.step("w", &mut w, &[g]).unwrap();
            w[0]
        })
        .collect()
}

#[test]
fn contract_sgd() {
    let momentum = SgdConfig {
        lr: 0.05,
        momentum: 0.9,
        ..SgdConfig::default()
    };
    let nesterov = SgdConfig {
        nesterov: true,
        weight_decay: 1e-4,
        ..momentum
    };
    contract::check(|| Sgd::new(SgdConfig::with_lr(0.1)).unwrap());
    contract::check(|| Sgd::new(momentum).unwrap());
    contract::check(|| Sgd::new(nesterov).unwrap());
}

#[test]
fn contract_adam() {
    let adamw = AdamConfig {
        weight_decay: 1e-3,
        decoupled: true,
        ..AdamConfig::with_lr(0.05)
    };
    contract::check(|| Adam::new(AdamConfig::with_lr(0.05)).unwrap());
    contract::check(|| Adam::new(adamw).unwrap());
}

#[test]
fn contract_peers() {
    // Both hypergradient methods from α₀ = 0.05, β at its default.
    let (mut sgd_hd, mut adam_hd) = (SgdHdConfig::default(), AdamHdConfig::default());
    (sgd_hd.lr, adam_hd.lr) = (0.05, 0.05);
    contract::check(|| Rprop::new(RpropConfig::default()).unwrap());
    contract::check(|| SgdHd::new(sgd_hd).unwrap());
    contract::check(|| AdamHd::new(adam_hd).unwrap());
}

#[test]
fn rprop_matches_torch() {
    // torch.optim.Rprop([w], lr=0.1): g = 1, 1, −1, 1 → steps 0.1, 0.12, (flip: Δ = 0.06, no move), 0.06
    let rprop = Rprop::new(RpropConfig::with_lr(0.1)).unwrap();
    let path = path(rprop, 0.0, &[1.0, 1.0, -1.0, 1.0]);
    let want = [-0.1, -0.22, -0.22, -0.28];
    for (a, b) in path.iter().zip(want) {
        assert!((a - b).abs() < 1e-6, "{path:?}");
    }
}

#[test]
fn hypergradient_lr_follows_gradient_agreement() {
    let mut opt = SgdHd::new(SgdHdConfig {
        lr: 0.1,
        hypergrad_lr: 0.01,
        ..SgdHdConfig::default()
    })
    .unwrap();
    let mut w = [1.0f32, 2.0];
    opt.step("w", &mut w, &[1.0, 1.0]).unwrap();
    opt.step("w", &mut w, &[-1.0, -2.0]).unwrap(); // g·g_prev = −3 → α = 0.07
    assert!((w[0] - (1.0 - 0.1 + 0.07)).abs() < 1e-6, "{w:?}");
    assert!((w[1] - (2.0 - 0.1 + 0.14)).abs() < 1e-6, "{w:?}");
}

#[test]
fn contract_meta() {
    contract::check(|| Meta::sgd(meta_config(0.1, 1e-3)).unwrap());
    contract::check(|| {
        Meta::sgd(with_memory(MemoryConfig {
            optimizer: MemoryOptimizer::sgd(0.01),
            ..memory(0.1, 0.01)
        }))
        .unwrap()
    });
    contract::check(|| Meta::adam(meta_config(0.05, 1e-3)).unwrap());
    contract::check(|| {
        Meta::sgd(meta_config(0.1, 1e-3))
            .unwrap()
            .with_routing(|_| Some("shared".into()))
    });
    contract::check(|| Meta::sgd(meta_config(0.1, 1e-3)).unwrap().only(&["a"]));
}

#[test]
fn sgd_momentum_and_nesterov_match_torch() {
    // torch.optim.SGD([w], lr=0.1, momentum=0.9[, nesterov=True]) with w = 1, g = 1 twice.
    for (nesterov, want, tolerance) in [
        (false, [0.9, 0.71], [1e-7, 1e-6]),
        (true, [0.81, 0.539], [1e-6, 1e-6]),
    ] {
        let sgd = Sgd::new(SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            nesterov,
            ..SgdConfig::default()
        })
        .unwrap();
        let w = path(sgd, 1.0, &[1.0, 1.0]);
        for step in 0..2 {
            assert!(
                (w[step] - want[step]).abs() < tolerance[step],
                "nesterov: {nesterov}, step {step}: {}",
                w[step]
            );
        }
    }
}

#[test]
fn adam_matches_torch() {
    // torch.optim.Adam([w], lr=0.1), w = 1, g = 5 then −1: 0.9, then 0.848897…
    let w = path(
        Adam::new(AdamConfig::with_lr(0.1)).unwrap(),
        1.0,
        &[5.0, -1.0],
    );
    assert!((w[0] - 0.9).abs() < 1e-6);
    let (m, v) = (0.9 * 0.5 + -0.1, 0.999 * 0.025 + 0.001 * 1.0);
    let want = 0.9 - 0.1 / (1.0 - 0.81) * m / ((v / (1.0f64 - 0.999f64.powi(2))).sqrt() + 1e-8);
    assert!((w[1] as f64 - want).abs() < 1e-6, "{} vs {want}", w[1]);
    // AdamW decays the weight by lr·λ before the step.
    let adamw = Adam::new(AdamConfig {
        lr: 0.1,
        weight_decay: 0.5,
        decoupled: true,
        ..AdamConfig::default()
    })
    .unwrap();
    let w = path(adamw, 1.0, &[5.0]);
    assert!((w[0] - (0.95 - 0.1)).abs() < 1e-6, "{}", w[0]);
}

#[test]
fn meta_sgd_is_the_memory_step() {
    // Meta<Sgd> on one tensor = memory-core's step with w −= η·clip(g).
    let cfg = meta_config(0.02, 1e-2);
    let mut opt = Meta::sgd(cfg).unwrap();
    let mut mem = Memory::new(cfg.memory).unwrap();
    let mut trace = Trace::new(3);
    let (mut w1, mut w2) = ([1.0f32, -3.0, 7.0], [1.0f32, -3.0, 7.0]);
    for _ in 0..20 {
        let g: Vec<f32> = w1.iter().map(|x| x * 1.3).collect();
        opt.step("w", &mut w1, &g).unwrap();
        mem.step(&mut trace, &g, |d, eta, z| w2[d] -= eta * z)
            .unwrap();
    }
    assert_eq!(w1, w2);
    assert_eq!(opt.memory("w").unwrap().theta(), mem.theta());
}

#[test]
fn reload_keeps_theta_and_resets_the_rest() {
    let mut opt = Meta::sgd(meta_config(0.01, 0.05)).unwrap();
    let mut w = vec![2.0f32; 10];
    for _ in 0..30 {
        let g: Vec<f32> = w.iter().map(|x| 0.5 * x).collect();
        opt.step("w", &mut w, &g).unwrap();
    }
    let theta = opt.memory("w").unwrap().theta().to_vec();
    assert!(
        theta.iter().any(|t| *t > 0.01),
        "persistent gradients must raise some θ"
    );
    opt.reload();
    let mem = opt.memory("w").unwrap();
    assert_eq!(mem.theta(), &theta[..]);
    assert_eq!(mem.rule_state().step, 0);
    // A new task: its first step uses the learned rates (no memory update: z_{−1} = 0).
    let mut w2 = vec![2.0f32; 10];
    opt.step("w", &mut w2, &[1.0; 10]).unwrap();
    let eta = opt.memory("w").unwrap().predict(1.0);
    assert!((w2[0] - (2.0 - eta)).abs() < 1e-6);
    assert_eq!(
        opt.memory("w").unwrap().theta(),
        &theta[..],
        "the first step of a task leaves θ alone"
    );
}

#[test]
fn routing_shares_and_skips_memories() {
    let mut opt = Meta::sgd(meta_config(0.01, 0.01))
        .unwrap()
        .with_routing(|n| {
            if n.ends_with("bias") {
                None
            } else {
                Some("weights".into())
            }
        });
    let (mut a, mut b, mut c) = (vec![1.0f32; 4], vec![1.0f32; 3], vec![1.0f32; 2]);
    opt.step("l1.weight", &mut a, &[0.1; 4]).unwrap();
    opt.step("l2.weight", &mut b, &[0.2; 3]).unwrap();
    opt.step("l1.bias", &mut c, &[0.3; 2]).unwrap();
    assert_eq!(opt.memories().count(), 1);
    assert!(opt.memory("weights").is_some());
    assert!(
        (c[0] - (1.0 - 0.01 * 0.3)).abs() < 1e-7,
        "a tensor without memory steps at η₀"
    );
}

#[test]
fn checkpoint_restores_memories_and_rejects_other_optimizers() {
    let mut opt = Meta::adam(meta_config(0.01, 0.05)).unwrap();
    let mut w = vec![1.0f32; 5];
    for i in 0..10 {
        opt.step("w", &mut w, &[0.3, -0.2, 0.1 * i as f32, 1.0, 5.0])
            .unwrap();
    }
    let bytes = opt.save().unwrap();
    let mut other = Meta::adam(meta_config(0.01, 0.05)).unwrap();
    other.load(&bytes).unwrap();
    assert_eq!(
        other.memory("w").unwrap().theta(),
        opt.memory("w").unwrap().theta()
    );
    // Another kind or another config is intact but does not fit: not "corrupt".
    let mut sgd_meta = Meta::sgd(meta_config(0.01, 0.05)).unwrap();
    assert!(matches!(
        sgd_meta.load(&bytes),
        Err(OptimError::Incompatible { .. })
    ));
    // η₀ and ξ are restored from the checkpoint (they change between steps); the clip is not.
    let mut rates = Meta::adam(meta_config(0.02, 0.01)).unwrap();
    rates.load(&bytes).unwrap();
    assert_eq!(rates.lr(), Some(0.01));
    assert_eq!(rates.hyperparameter("xi"), Some(0.05));
    let mut different = Meta::adam(with_memory(MemoryConfig {
        clip: 2.0,
        ..memory(0.01, 0.05)
    }))
    .unwrap();
    let err = different.load(&bytes).unwrap_err();
    assert!(
        matches!(&err, OptimError::Incompatible { reason } if reason.contains("clip")),
        "{err}"
    );
    let mut sgd = Sgd::new(SgdConfig::default()).unwrap();
    assert!(matches!(
        sgd.load(&bytes),
        Err(OptimError::Incompatible { .. })
    ));
}

#[test]
fn invalid_configs_are_errors() {
    assert!(Sgd::new(SgdConfig {
        lr: -1.0,
        ..SgdConfig::default()
    })
    .is_err());
    assert!(Sgd::new(SgdConfig {
        nesterov: true,
        ..SgdConfig::default()
    })
    .is_err());
    assert!(Adam::new(AdamConfig {
        beta2: 1.0,
        ..AdamConfig::default()
    })
    .is_err());
    assert!(Adam::new(AdamConfig {
        eps: 0.0,
        ..AdamConfig::default()
    })
    .is_err());
    let bad = with_memory(MemoryConfig {
        num_centers: 1,
        ..MemoryConfig::default()
    });
    let err = Meta::sgd(bad).unwrap_err();
    assert!(err.to_string().contains("num_centers"), "{err}");
}

proptest! {
    /// With ξ = 0 the memory stays at η₀, and Meta-SGD is plain SGD at lr η₀ for gradients
    /// inside ±clip.
    #[test]
    fn meta_with_frozen_memory_is_sgd(eta0 in 1e-4f32..0.5, w0 in prop::collection::vec(-3.0f32..3.0, 1..30), steps in 1usize..10, sgd_memory in any::<bool>()) {
        let optimizer = if sgd_memory { MemoryOptimizer::sgd(0.0) } else { MemoryOptimizer::adam(0.0) };
        let cfg = with_memory(MemoryConfig { clip: 10.0, eta0, optimizer, ..MemoryConfig::default() });
        let mut meta = Meta::sgd(cfg).unwrap();
        let mut sgd = Sgd::new(SgdConfig::with_lr(eta0)).unwrap();
        // Every step starts both from the same point (θ = η₀ exactly, so Meta-SGD has no
        // other state that could drift) and must move it by the same amount: |Δ| within 1e−6
        // of the step η₀·g, plus an ulp of w.
        let mut w = w0.clone();
        for s in 0..steps {
            let g: Vec<f32> = w.iter().enumerate().map(|(i, x)| x * (1.0 + (i + s) as f32 * 0.01)).collect();
            let (mut a, mut b) = (w.clone(), w.clone());
            meta.step("w", &mut a, &g).unwrap();
            sgd.step("w", &mut b, &g).unwrap();
            prop_assert!(meta.memory("w").unwrap().theta().iter().all(|&t| t == eta0), "θ moved with ξ = 0");
            for ((x, y), gi) in a.iter().zip(&b).zip(&g) {
                let tol = 1e-6 * (eta0 * gi).abs() + f32::EPSILON * y.abs();
                prop_assert!((x - y).abs() <= tol, "meta {} sgd {} (step {})", x, y, eta0 * gi);
            }
            w = b;
        }
    }

    /// Any step with mismatched lengths or a NaN is an error and leaves the parameters alone.
    #[test]
    fn bad_inputs_never_change_params(w in prop::collection::vec(-1.0f32..1.0, 2..20), extra in 1usize..3, at in any::<prop::sample::Index>()) {
        let mut opts: Vec<Box<dyn Optimizer>> = vec![
            Box::new(Sgd::new(SgdConfig::default()).unwrap()),
            Box::new(Adam::new(AdamConfig::default()).unwrap()),
            Box::new(Meta::sgd(MetaConfig::default()).unwrap()),
            Box::new(Meta::adam(MetaConfig::default()).unwrap()),
            Box::new(Rprop::new(RpropConfig::default()).unwrap()),
            Box::new(SgdHd::new(SgdHdConfig::default()).unwrap()),
            Box::new(AdamHd::new(AdamHdConfig::default()).unwrap()),
        ];
        for opt in opts.iter_mut() {
            let mut p = w.clone();
            prop_assert!(opt.step("w", &mut p, &vec![0.1; w.len() + extra]).is_err());
            let mut g = vec![0.1; w.len()];
            g[at.index(w.len())] = f32::NAN;
            prop_assert!(opt.step("w", &mut p, &g).is_err());
            prop_assert_eq!(&p, &w);
        }
    }
}

/// Trains `opt` on two tensors, calls `next_task`, and checks that it then steps bit for bit as
/// a freshly made one and keeps no state.
fn next_task_is_a_fresh_start<O: Optimizer + Checkpoint>(what: &str, make: impl Fn() -> O) {
    let grad = |w: &[f32], t: usize| -> Vec<f32> {
        w.iter()
            .enumerate()
            .map(|(i, x)| x - 0.3 + 0.1 * ((i + t) as f32).cos())
            .collect()
    };
    let run = |opt: &mut dyn Optimizer, steps: usize| -> Vec<u32> {
        let (mut a, mut b) = (vec![0.9f32, -0.4, 0.2], vec![1.5f32]);
        for t in 0..steps {
            let (ga, gb) = (grad(&a, t), grad(&b, t));
            opt.step("a", &mut a, &ga).unwrap();
            opt.step("b", &mut b, &gb).unwrap();
        }
        a.iter().chain(&b).map(|x| x.to_bits()).collect()
    };
    let mut used = make();
    run(&mut used, 13);
    assert!(used.memory_thetas().is_empty(), "{what}");
    used.next_task();
    assert_same_runs(
        &format!("{what} after next_task"),
        &mut used,
        &mut make(),
        |o| run(o, 7),
    );
}

#[test]
fn next_task_forgets_everything_for_every_optimizer_but_meta() {
    next_task_is_a_fresh_start("sgd", || {
        Sgd::new(SgdConfig {
            lr: 0.05,
            momentum: 0.9,
            ..SgdConfig::default()
        })
        .unwrap()
    });
    next_task_is_a_fresh_start("adam", || Adam::new(AdamConfig::with_lr(0.05)).unwrap());
    next_task_is_a_fresh_start("rprop", || Rprop::new(RpropConfig::default()).unwrap());
    next_task_is_a_fresh_start("sgd-hd", || {
        SgdHd::new(SgdHdConfig {
            lr: 0.05,
            hypergrad_lr: 0.01,
            ..SgdHdConfig::default()
        })
        .unwrap()
    });
    next_task_is_a_fresh_start("adam-hd", || {
        AdamHd::new(AdamHdConfig {
            lr: 0.05,
            hypergrad_lr: 1e-3,
            ..AdamHdConfig::default()
        })
        .unwrap()
    });
}

#[test]
fn next_task_of_meta_is_reload() {
    let make = || Meta::sgd(meta_config(0.01, 0.05)).unwrap();
    let train = |opt: &mut Meta<Sgd>| {
        let mut w = vec![2.0f32; 10];
        for _ in 0..30 {
            let g: Vec<f32> = w.iter().map(|x| 0.5 * x).collect();
            opt.step("w", &mut w, &g).unwrap();
        }
    };
    let (mut a, mut b) = (make(), make());
    train(&mut a);
    train(&mut b);
    let theta = a.memory("w").unwrap().theta().to_vec();
    assert_eq!(a.memory_thetas(), vec![("w".to_string(), theta.clone())]);
    a.next_task();
    b.reload();
    assert_eq!(a.save().unwrap(), b.save().unwrap());
    assert_eq!(a.memory_thetas(), vec![("w".to_string(), theta)]);
    // The same through a trait object, and for Meta over Adam.
    let mut boxed: Box<dyn Optimizer + Send> =
        Box::new(Meta::adam(meta_config(0.01, 0.05)).unwrap());
    let mut w = vec![1.0f32; 3];
    boxed.step("w", &mut w, &[0.5, -0.5, 0.1]).unwrap();
    assert_eq!(boxed.memory_thetas()[0].1, vec![0.01; 20]);
    boxed.next_task();
    assert_eq!(boxed.memory_thetas().len(), 1);
}

/// A bad tensor anywhere in the model fails the whole step before any tensor moves (the first
/// one stepped before the bad one was found, once).
#[test]
fn step_model_checks_every_tensor_before_it_steps_any() {
    use lrmem_optimizers::Tensor;
    let mut opt = Sgd::new(SgdConfig::with_lr(0.5)).unwrap();
    let (mut a, mut b, mut c) = (vec![1.0f32], vec![2.0f32, 3.0], vec![4.0f32]);
    let err = opt
        .step_model(&mut [
            Tensor::new("a", &mut a, &[1.0]),
            Tensor::new("b", &mut b, &[1.0]),
            Tensor::new("c", &mut c, &[1.0]),
        ])
        .unwrap_err();
    assert!(matches!(err, OptimError::LengthMismatch { .. }));
    assert_eq!(
        (&a[..], &b[..], &c[..]),
        (&[1.0][..], &[2.0, 3.0][..], &[4.0][..])
    );
    // With every tensor good, each steps in turn.
    opt.step_model(&mut [
        Tensor::new("a", &mut a, &[1.0]),
        Tensor::new("b", &mut b, &[1.0, -1.0]),
        Tensor::new("c", &mut c, &[1.0]),
    ])
    .unwrap();
    assert_eq!((a, b, c), (vec![0.5], vec![1.5, 3.5], vec![3.5]));
}

/// Finite but huge gradients broke promises: one gradient of 1e21 made Adam's v = ∞ for good
/// (the coordinate never moved again), `f32::MAX` gradients drove SGD-HD's rate and the
/// parameters to −∞ with `Ok`, and two of them wedged Meta over momentum SGD (every later step
/// failed, naming a value never passed). Gradients beyond ±`MAX_GRADIENT` are now refused like
/// non-finite ones, before anything changes; under `Skip` they are a zero gradient; and the
/// hypergradient rate is bounded.
#[test]
fn huge_finite_gradients_are_refused_and_change_nothing() {
    use lrmem_optimizers::{NonFinite, MAX_GRADIENT};
    for spec in [
        "sgd",
        "sgd:momentum=0.9",
        "adam",
        "rprop",
        "sgd-hd",
        "adam-hd",
        "meta-sgd",
        "meta-sgd:momentum=0.9",
        "meta-adam",
    ] {
        let mut opt = built(spec);
        let mut w = vec![0.5f32, -0.5];
        opt.step("w", &mut w, &[0.1, 0.2]).unwrap();
        let (before, kept) = (opt.save().unwrap(), w.clone());
        for big in [1e21f32, f32::MAX, -f32::MAX, MAX_GRADIENT * 1.01] {
            let err = opt.step("w", &mut w, &[big, 0.1]).unwrap_err();
            assert!(
                matches!(err, OptimError::NonFiniteGradient { index: 0, .. }),
                "{spec}: {err}"
            );
            assert_eq!(opt.save().unwrap(), before, "{spec}: {big}");
            assert_eq!(w, kept, "{spec}: {big}");
        }
        opt.step("w", &mut w, &[MAX_GRADIENT, -MAX_GRADIENT])
            .unwrap();
        opt.step("w", &mut w, &[0.1, 0.2]).unwrap();
        assert!(w.iter().all(|x| x.is_finite()), "{spec}: {w:?}");
    }
    // Under Skip such a coordinate is a zero gradient: Adam's v stays finite, it moves again.
    let mut adam = Adam::new(AdamConfig {
        non_finite: NonFinite::Skip,
        ..AdamConfig::default()
    })
    .unwrap();
    let mut w = vec![0.5f32];
    adam.step("w", &mut w, &[1e21]).unwrap();
    let moved = w[0];
    adam.step("w", &mut w, &[1.0]).unwrap();
    assert!(w[0] < moved);
    // The hypergradient rate is bounded: gradients at the limit keep the parameters finite.
    let mut hd = SgdHd::new(SgdHdConfig {
        hypergrad_lr: 1.0,
        ..SgdHdConfig::default()
    })
    .unwrap();
    let mut w = vec![0.0f32; 4];
    for _ in 0..10 {
        hd.step("w", &mut w, &[MAX_GRADIENT; 4]).unwrap();
    }
    assert!(w.iter().all(|x| x.is_finite()), "{w:?}");
}

/// Parameters broke promises too: weight decay λ·w of a diverged parameter (λ = 2, w = 10³⁸)
/// overflowed the gradient, so that SGD put ∞ into the parameter with `Ok` and Meta-Adam failed
/// after its base had moved; a NaN or infinite parameter came back NaN with `Ok`. Both are now
/// refused before anything changes, under every `NonFinite` policy, and any finite parameter
/// stays finite.
#[test]
fn diverged_parameters_are_refused_and_change_nothing() {
    use lrmem_optimizers::OptimizerSpec;
    let names: Vec<&str> = lrmem_optimizers::registry()
        .iter()
        .map(|e| e.name)
        .collect();
    let mut specs: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    specs.extend(names.iter().map(|n| format!("{n}:non_finite=skip")));
    for extra in [
        ":weight_decay=2",
        ":weight_decay=1e6,lr=1e-6",
        ":weight_decay=2,decoupled=true",
    ] {
        for base in ["sgd", "adam", "meta-sgd", "meta-adam"] {
            specs.push(format!("{base}{extra}"));
        }
    }
    let mut refused = 0;
    for spec in &specs {
        let spec: OptimizerSpec = spec.parse().unwrap();
        if spec.build().is_err() {
            continue; // `decoupled` is a key of Adam only
        }
        for w0 in [f32::MAX, -f32::MAX, 1e38, 3e37, f32::NAN, f32::INFINITY] {
            let mut opt = spec.build().unwrap();
            let mut w = vec![0.5f32, -0.5];
            opt.step("w", &mut w, &[0.1, 0.2]).unwrap();
            w[0] = w0;
            for g in [1e18f32, -1e18, 1.0] {
                let (before, kept) = (opt.save().unwrap(), bits(&w));
                match opt.step("w", &mut w, &[g, g]) {
                    Ok(()) => assert!(
                        w.iter().all(|x| x.is_finite()),
                        "{spec} w0={w0} g={g}: Ok but {w:?}"
                    ),
                    Err(e) => {
                        refused += 1;
                        assert!(
                            matches!(
                                e,
                                OptimError::NonFiniteParameter { index: 0, .. }
                                    | OptimError::DecayedGradient { index: 0, .. }
                            ),
                            "{spec} w0={w0} g={g}: {e}"
                        );
                        assert!(!w0.is_finite() || spec.get("weight_decay").is_some());
                        assert_eq!(opt.save().unwrap(), before, "{spec} w0={w0} g={g}");
                        assert_eq!(bits(&w), kept, "{spec} w0={w0} g={g}");
                    }
                }
            }
        }
    }
    assert!(refused > 100, "only {refused} refusals");
}
