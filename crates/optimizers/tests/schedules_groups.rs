//! Schedules ([`Scheduled`]) and parameter groups ([`Groups`]): literal values against torch's
//! formulas, a scheduled SGD on a quadratic by hand, checkpoints, and every error.

use std::sync::{Arc, Mutex};

use lrmem_optimizers::schedule::{Constant, Cosine, Join, Linear, Schedule, StepDecay, Warmup};
use lrmem_optimizers::{
    contract, Built, Checkpoint, Groups, Meta, MetaConfig, OptimError, Optimizer, Scheduled, Sgd,
    SgdConfig, Tensor,
};

mod common;
use common::{assert_same_runs, bits, built, train};

fn close(x: f32, expected: f64) -> bool {
    (x as f64 - expected).abs() <= 1e-6 * expected.abs().max(1e-3)
}

// ---------------------------------------------------------------- schedules

/// torch's CosineAnnealingLR(T_max=10, eta_min=0.001) on lr 0.1, closed form
/// η_t = η_min + (η₀ − η_min)(1 + cos(πt/T))/2, computed by hand in f64.
#[test]
fn cosine_matches_torch_cosine_annealing() {
    let c = Cosine::new(0.1, 0.001, 10).unwrap();
    let expected = [
        (0, 0.1),
        (1, 0.09757729755661011),
        (3, 0.07959536998847742),
        (5, 0.0505),
        (7, 0.021404630011522586),
        (10, 0.001),
    ];
    for (t, lr) in expected {
        assert!(close(c.value(t), lr), "t={t}: {} vs {lr}", c.value(t));
    }
    assert_eq!(c.value(10), 0.001);
    assert_eq!(c.value(11), 0.001); // stays at the floor (torch's would rise again)
}

/// torch's LambdaLR(lr=0.1, lambda t: 0.2 + 0.8·min(t, 4)/4), i.e. LinearLR(0.2, total_iters=4).
#[test]
fn warmup_matches_torch_lambda_lr() {
    let w = Warmup::new(0.1, 0.2, 4).unwrap();
    for (t, lr) in [
        (0, 0.02),
        (1, 0.04),
        (2, 0.06),
        (3, 0.08),
        (4, 0.1),
        (100, 0.1),
    ] {
        assert!(close(w.value(t), lr), "t={t}: {}", w.value(t));
    }
    let from_zero = Warmup::new(1.0, 0.0, 4).unwrap();
    assert_eq!(
        (0..5).map(|t| from_zero.value(t)).collect::<Vec<_>>(),
        [0.0, 0.25, 0.5, 0.75, 1.0]
    );
}

/// torch's StepLR(step_size=2, gamma=0.1) on lr 0.1, and LambdaLR(lambda t: 1 − 0.9·min(t, 9)/9).
#[test]
fn step_decay_and_linear_match_torch() {
    let s = StepDecay::new(0.1, 0.1, 2).unwrap();
    for (t, lr) in [
        (0, 0.1),
        (1, 0.1),
        (2, 0.01),
        (3, 0.01),
        (4, 0.001),
        (7, 1e-4),
    ] {
        assert!(close(s.value(t), lr), "t={t}: {}", s.value(t));
    }
    let l = Linear::new(1.0, 0.1, 9).unwrap();
    for (t, lr) in [(0, 1.0), (3, 0.7), (6, 0.4), (9, 0.1), (20, 0.1)] {
        assert!(close(l.value(t), lr), "t={t}: {}", l.value(t));
    }
    assert_eq!(Constant::new(0.3).unwrap().value(12345), 0.3);
}

/// torch's SequentialLR([LinearLR(start_factor≈0, total_iters=5), CosineAnnealingLR(T_max=10)],
/// milestones=[5]) on lr 0.1: the cosine restarts its count at the milestone.
#[test]
fn join_is_sequential_lr() {
    let s = Warmup::new(0.1, 0.0, 5)
        .unwrap()
        .then(5, Cosine::new(0.1, 0.0, 10).unwrap());
    for (t, lr) in [
        (0, 0.0),
        (1, 0.02),
        (4, 0.08),
        (5, 0.1),
        (10, 0.05),
        (15, 0.0),
        (99, 0.0),
    ] {
        assert!(close(s.value(t), lr), "t={t}: {}", s.value(t));
    }
    // Three phases nest.
    let three: Join<_, Constant> = s.then(15, Constant::new(0.5).unwrap());
    assert_eq!(three.value(15), 0.5);
    assert!(close(three.value(5), 0.1));
}

#[test]
fn schedule_constructors_validate() {
    let field = |e: OptimError| match e {
        OptimError::InvalidConfig { field, .. } => field,
        e => panic!("{e:?}"),
    };
    assert_eq!(field(Warmup::new(0.1, 1.5, 4).unwrap_err()), "start_factor");
    assert_eq!(field(Warmup::new(0.1, 0.5, 0).unwrap_err()), "steps");
    assert_eq!(field(Warmup::new(f32::NAN, 0.5, 4).unwrap_err()), "peak");
    assert_eq!(field(StepDecay::new(0.1, 0.0, 4).unwrap_err()), "gamma");
    assert_eq!(
        field(Cosine::new(0.1, f32::INFINITY, 4).unwrap_err()),
        "floor"
    );
    assert_eq!(field(Linear::new(0.1, 0.0, 0).unwrap_err()), "steps");
    assert_eq!(field(Constant::new(f32::NAN).unwrap_err()), "value");
}

/// Schedules are serde data, and reading one runs its constructor's checks.
#[test]
fn schedules_round_trip_through_serde() {
    let s = Warmup::new(1e-3, 0.1, 100)
        .unwrap()
        .then(100, Cosine::new(1e-3, 1e-5, 900).unwrap());
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(
        json,
        r#"{"first":{"peak":0.001,"start_factor":0.1,"steps":100},"steps":100,"next":{"init":0.001,"floor":0.00001,"steps":900}}"#
    );
    let back: Join<Warmup, Cosine> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
    let err = serde_json::from_str::<Warmup>(r#"{"peak":0.1,"start_factor":2.0,"steps":4}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("start_factor"), "{err}");
    assert!(serde_json::from_str::<Cosine>(r#"{"init":0.1,"floor":0.0,"steps":0}"#).is_err());
}

/// Scheduled SGD on f(w) = ½w² (g = w): lr_t = 0.1, 0.2, 0.3, 0.4, 0.5 (a warmup from 0.2·0.5
/// over 4 steps), so w_{t+1} = w_t·(1 − lr_t): 0.9, 0.72, 0.504, 0.3024, 0.1512.
#[test]
fn scheduled_sgd_follows_the_schedule_on_a_quadratic() {
    let lrs = [0.1, 0.2, 0.3, 0.4, 0.5];
    let ws = [0.9, 0.72, 0.504, 0.3024, 0.1512];
    let make = || {
        Scheduled::new(Sgd::new(SgdConfig::default()).unwrap())
            .schedule("lr", Warmup::new(0.5, 0.2, 4).unwrap())
            .unwrap()
    };
    // Whole-model steps.
    let mut opt = make();
    assert!(
        close(opt.lr().unwrap(), 0.1),
        "step 0's value is set at once"
    );
    let mut w = [1.0f32];
    for t in 0..5 {
        let g = [w[0]];
        opt.step_model(&mut [Tensor::new("w", &mut w, &g)]).unwrap();
        assert!(close(opt.lr().unwrap(), lrs[t]), "t={t}: lr {:?}", opt.lr());
        assert!(close(w[0], ws[t]), "t={t}: w {}", w[0]);
    }
    assert_eq!(opt.step_count(), 5);

    // Per-tensor steps over a model of two tensors: a repeated name starts the next model step.
    let mut opt = make();
    let (mut a, mut b) = ([1.0f32], [2.0f32]);
    for (t, &expected) in ws.iter().enumerate() {
        let (ga, gb) = ([a[0]], [b[0]]);
        opt.step("a", &mut a, &ga).unwrap();
        opt.step("b", &mut b, &gb).unwrap();
        assert_eq!(opt.step_count(), t as u64 + 1);
        assert!(
            close(a[0], expected) && close(b[0], 2.0 * expected),
            "t={t}: {a:?} {b:?}"
        );
    }
    assert_eq!(bits(&a), bits(&w), "per-tensor and whole-model steps agree");

    // next_task starts the schedule again.
    opt.next_task();
    assert_eq!(opt.step_count(), 0);
    let mut w = [1.0f32];
    opt.step("w", &mut w, &[1.0]).unwrap();
    assert!(close(opt.lr().unwrap(), 0.1) && close(w[0], 0.9));
}

#[test]
fn scheduled_errors() {
    let sgd = || Sgd::new(SgdConfig::default()).unwrap();
    let err = Scheduled::new(sgd())
        .schedule("xi", Constant::new(0.1).unwrap())
        .unwrap_err();
    assert!(
        matches!(err, OptimError::UnknownHyperparameter { .. }),
        "{err:?}"
    );
    let err = Scheduled::new(sgd())
        .schedule("lr", Constant::new(-0.1).unwrap())
        .unwrap_err();
    assert!(
        matches!(err, OptimError::InvalidConfig { field: "lr", .. }),
        "{err:?}"
    );
    let twice = Scheduled::new(sgd())
        .schedule("lr", Constant::new(0.1).unwrap())
        .unwrap()
        .schedule("lr", Constant::new(0.2).unwrap());
    assert!(matches!(twice, Err(OptimError::Scheduled { .. })));

    // A scheduled hyperparameter cannot be set by hand; the others can.
    let mut opt = Scheduled::new(sgd())
        .schedule("lr", Linear::new(0.2, -0.2, 2).unwrap())
        .unwrap();
    assert_eq!(
        opt.set_lr(0.3).unwrap_err(),
        OptimError::Scheduled { name: "lr".into() }
    );
    opt.set_hyperparameter("weight_decay", 0.0).unwrap();

    // A schedule that goes negative fails its step, which changes nothing.
    let mut w = [1.0f32];
    opt.step("w", &mut w, &[1.0]).unwrap(); // lr 0.2
    opt.step("w", &mut w, &[1.0]).unwrap(); // lr 0
    let before = (opt.save().unwrap(), w);
    let err = opt.step("w", &mut w, &[1.0]).unwrap_err(); // lr −0.2
    assert!(
        matches!(err, OptimError::InvalidConfig { field: "lr", .. }),
        "{err:?}"
    );
    assert_eq!((opt.save().unwrap(), w), before);
    assert_eq!(opt.step_count(), 2);
}

/// A failed step of the wrapped optimizer sets the hyperparameters of the step it would have
/// begun back, and does not count.
#[test]
fn scheduled_failed_step_changes_nothing() {
    let mut opt = Scheduled::new(Sgd::new(SgdConfig::default()).unwrap())
        .schedule("lr", Linear::new(0.4, 0.0, 4).unwrap())
        .unwrap();
    let mut w = [1.0f32];
    opt.step("w", &mut w, &[1.0]).unwrap();
    let before = opt.save().unwrap();
    assert!(opt.step("w", &mut w, &[f32::NAN]).is_err());
    assert!(opt
        .step_model(&mut [Tensor::new("w", &mut w, &[f32::NAN])])
        .is_err());
    assert_eq!(opt.save().unwrap(), before);
    assert_eq!((opt.step_count(), opt.lr()), (1, Some(0.4)));
}

#[test]
fn scheduled_checkpoints_continue_bit_for_bit() {
    let make = || {
        Scheduled::new(built("adam:lr=0.05"))
            .schedule("lr", Cosine::new(0.05, 0.001, 20).unwrap())
            .unwrap()
    };
    let mut opt = make();
    train(&mut opt, 5);
    let bytes = opt.save().unwrap();
    let mut resumed = make();
    resumed.load(&bytes).unwrap();
    assert_eq!(resumed.step_count(), 5);
    assert_same_runs("resumed", &mut opt, &mut resumed, |o| train(o, 7));
}

#[test]
fn contract_scheduled() {
    contract::check(|| {
        Scheduled::new(Sgd::new(SgdConfig::default()).unwrap())
            .schedule("lr", Warmup::new(0.1, 0.1, 10).unwrap())
            .unwrap()
    });
    // A schedule that changes at every step.
    contract::check(|| {
        Scheduled::new(built("adam:lr=0.05"))
            .schedule("lr", Cosine::new(0.05, 0.02, 1000).unwrap())
            .unwrap()
    });
    // An optimizer with learned rates, whose rollback is exact only while the value holds.
    contract::check(|| {
        Scheduled::new(built("sgd-hd:lr=0.05,beta=0.0001"))
            .schedule("lr", Warmup::new(0.05, 0.5, 5).unwrap())
            .unwrap()
    });
}

// ---------------------------------------------------------------- groups

/// `Groups` of two optimizers built from specs: the group `name` (`spec`'s optimizer) takes the
/// tensors that match `patterns`, the default group (`default`'s) every other.
fn two_groups(default: &str, (name, patterns, spec): (&str, &[&str], &str)) -> Groups<Built> {
    Groups::new(built(default))
        .group(name, patterns, built(spec))
        .unwrap()
}

/// Biases in a group without weight decay get none: with zero gradients, a weight decays
/// (w ← w − lr·λ·w) and a bias does not move.
#[test]
fn biases_without_weight_decay_get_none() {
    let mut opt = two_groups(
        "sgd:lr=0.1,weight_decay=0.5",
        ("no_decay", &["*.bias"], "sgd:lr=0.1"),
    );
    let (mut w, mut b) = (vec![1.0f32, -2.0], vec![1.0f32, -2.0]);
    for _ in 0..3 {
        opt.step_model(&mut [
            Tensor::new("fc.weight", &mut w, &[0.0, 0.0]),
            Tensor::new("fc.bias", &mut b, &[0.0, 0.0]),
        ])
        .unwrap();
    }
    assert_eq!(b, [1.0, -2.0]);
    assert!(close(w[0], 0.857375) && close(w[1], -1.71475), "{w:?}"); // 0.95³
    assert_eq!(opt.group_of("fc.bias"), "no_decay");
    assert_eq!(opt.group_of("fc.weight"), "default");
}

#[test]
fn a_pattern_that_matches_nothing_is_an_error() {
    let make = || {
        two_groups(
            "sgd:lr=0.1",
            ("no_decay", &["*.bias", "*.biass"], "sgd:lr=0.1"),
        )
    };
    // Whole-model steps: the first fails before anything changes, and keeps failing.
    let mut opt = make();
    let (mut w, mut b) = ([1.0f32], [1.0f32]);
    for _ in 0..2 {
        let err = opt
            .step_model(&mut [
                Tensor::new("fc.weight", &mut w, &[1.0]),
                Tensor::new("fc.bias", &mut b, &[1.0]),
            ])
            .unwrap_err();
        assert_eq!(
            err,
            OptimError::UnmatchedPattern {
                group: "no_decay".into(),
                pattern: "*.biass".into(),
                shadowed_by: None,
                seen: vec!["fc.weight".into(), "fc.bias".into()],
            }
        );
        assert_eq!((w, b), ([1.0], [1.0]));
    }
    assert_eq!(
        OptimError::UnmatchedPattern {
            group: "no_decay".into(),
            pattern: "*.biass".into(),
            shadowed_by: None,
            seen: vec!["fc.weight".into(), "fc.bias".into()],
        }
        .to_string(),
        "parameter group `no_decay`: pattern `*.biass` matched no tensor of the first model step; the tensors were: fc.weight, fc.bias. Fix the pattern or remove it"
    );

    // Per-tensor steps: when the first name repeats.
    let mut opt = make();
    opt.step("fc.weight", &mut w, &[1.0]).unwrap();
    opt.step("fc.bias", &mut b, &[1.0]).unwrap();
    let err = opt.step("fc.weight", &mut w, &[1.0]).unwrap_err();
    assert!(
        matches!(err, OptimError::UnmatchedPattern { .. }),
        "{err:?}"
    );
    assert_eq!(w, [0.9]);

    // An exact name, and a pattern whose tensors all went to an earlier group.
    let mut opt = Groups::new(built("sgd"))
        .group("a", &["*.bias"], built("sgd"))
        .unwrap()
        .group("b", &["fc.bias"], built("sgd"))
        .unwrap();
    let err = opt
        .step_model(&mut [Tensor::new("fc.bias", &mut b, &[1.0])])
        .unwrap_err();
    assert!(
        matches!(&err, OptimError::UnmatchedPattern { group, shadowed_by: Some(a), .. } if group == "b" && a == "a"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("went to the earlier group `a`"),
        "{err}"
    );
}

/// What one inner optimizer was handed: the names of each step_model call.
#[derive(Clone, Default)]
struct Probe(Arc<Mutex<Vec<Vec<String>>>>);

impl Optimizer for Probe {
    fn step(&mut self, name: &str, _: &mut [f32], _: &[f32]) -> Result<(), OptimError> {
        self.0.lock().unwrap().push(vec![name.to_owned()]);
        Ok(())
    }
    fn step_model(&mut self, tensors: &mut [Tensor<'_>]) -> Result<(), OptimError> {
        let names = tensors.iter().map(|t| t.name.to_owned()).collect();
        self.0.lock().unwrap().push(names);
        Ok(())
    }
    fn next_task(&mut self) {}
}

#[test]
fn each_group_gets_its_tensors_in_one_step_model_call() {
    let (conv, rest) = (Probe::default(), Probe::default());
    let mut opt: Groups = Groups::new(Box::new(rest.clone()) as Box<dyn Optimizer + Send>)
        .group("conv", &["conv*"], Box::new(conv.clone()))
        .unwrap();
    let mut x = [[0.0f32]; 4];
    let [x0, x1, x2, x3] = &mut x;
    opt.step_model(&mut [
        Tensor::new("fc.weight", x0, &[0.0]),
        Tensor::new("conv1.weight", x1, &[0.0]),
        Tensor::new("fc.bias", x2, &[0.0]),
        Tensor::new("conv1.bias", x3, &[0.0]),
    ])
    .unwrap();
    assert_eq!(
        *conv.0.lock().unwrap(),
        [vec!["conv1.weight", "conv1.bias"]]
    );
    assert_eq!(*rest.0.lock().unwrap(), [vec!["fc.weight", "fc.bias"]]);
}

/// A memory on the convolutions only; next_task keeps their θ.
#[test]
fn a_memory_on_some_layers_only() {
    let mut opt = two_groups(
        "sgd:lr=0.1",
        ("memory", &["conv*"], "meta-sgd:lr=0.01,xi=0.01"),
    );
    let (mut c, mut f) = (vec![0.5f32; 3], vec![0.5f32; 2]);
    for _ in 0..3 {
        opt.step_model(&mut [
            Tensor::new("conv1.weight", &mut c, &[0.3, 0.2, 0.1]),
            Tensor::new("fc.weight", &mut f, &[0.3, 0.2]),
        ])
        .unwrap();
    }
    let thetas = opt.memory_thetas();
    assert_eq!(thetas.len(), 1);
    assert_eq!(thetas[0].0, "conv1.weight");
    opt.next_task();
    assert_eq!(opt.memory_thetas(), thetas);
}

/// Two groups reporting the same memory key: both get their group's name.
#[test]
fn memory_keys_reported_twice_get_the_group_prefix() {
    let shared = || {
        Box::new(
            Meta::sgd(MetaConfig::default())
                .unwrap()
                .with_routing(|_| Some("shared".into())),
        ) as Box<dyn Optimizer + Send>
    };
    let mut opt = Groups::new(shared())
        .group("conv", &["conv*"], shared())
        .unwrap();
    let (mut c, mut f) = ([0.5f32], [0.5f32]);
    opt.step_model(&mut [
        Tensor::new("conv1.weight", &mut c, &[0.3]),
        Tensor::new("fc.weight", &mut f, &[0.3]),
    ])
    .unwrap();
    let keys: Vec<String> = opt.memory_thetas().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["conv/shared", "default/shared"]);
}

#[test]
fn group_hyperparameters() {
    let mut opt = two_groups("sgd:lr=0.1", ("bias", &["*.bias"], "adam:lr=0.01"));
    let names: Vec<String> = opt.hyperparameters().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        names,
        [
            "bias/lr",
            "bias/beta1",
            "bias/beta2",
            "bias/eps",
            "bias/weight_decay",
            "default/lr",
            "default/momentum",
            "default/dampening",
            "default/weight_decay",
        ]
    );
    opt.set_hyperparameter("bias/lr", 0.02).unwrap();
    opt.set_group_hyperparameter("default", "lr", 0.2).unwrap();
    assert_eq!(
        (
            opt.hyperparameter("bias/lr"),
            opt.hyperparameter("default/lr")
        ),
        (Some(0.02), Some(0.2))
    );
    assert_eq!(opt.get("bias").unwrap().lr(), Some(0.02));
    let err = opt.set_hyperparameter("conv/lr", 0.1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "there is no parameter group `conv`; the groups are: bias, default"
    );
    assert!(matches!(
        opt.set_hyperparameter("lr", 0.1),
        Err(OptimError::UnknownHyperparameter { .. })
    ));
    assert!(matches!(
        opt.set_hyperparameter("bias/lr", -1.0),
        Err(OptimError::InvalidConfig { field: "lr", .. })
    ));
    assert_eq!(opt.hyperparameter("bias/lr"), Some(0.02));

    // A schedule per group.
    let mut opt = Scheduled::new(opt)
        .schedule("bias/lr", StepDecay::new(0.02, 0.5, 1).unwrap())
        .unwrap();
    let (mut w, mut b) = ([1.0f32], [1.0f32]);
    for _ in 0..3 {
        opt.step_model(&mut [
            Tensor::new("w", &mut w, &[1.0]),
            Tensor::new("fc.bias", &mut b, &[1.0]),
        ])
        .unwrap();
    }
    assert_eq!(opt.hyperparameter("bias/lr"), Some(0.005));
    assert_eq!(opt.hyperparameter("default/lr"), Some(0.2));
}

#[test]
fn group_builder_errors() {
    let g = || Groups::new(built("sgd"));
    for (name, patterns) in [
        ("default", &["a"][..]),
        ("", &["a"][..]),
        ("a/b", &["a"][..]),
        ("x", &[][..]),
        ("x", &[""][..]),
    ] {
        assert!(
            matches!(
                g().group(name, patterns, built("sgd")),
                Err(OptimError::InvalidConfig { .. })
            ),
            "{name:?} {patterns:?}"
        );
    }
    let twice = g()
        .group("x", &["a"], built("sgd"))
        .unwrap()
        .group("x", &["b"], built("sgd"));
    assert!(twice.is_err());
}

#[test]
fn contract_groups() {
    contract::check(|| two_groups("sgd:lr=0.1", ("b", &["b"], "adam:lr=0.05")));
    contract::check(|| {
        two_groups(
            "meta-sgd:lr=0.05,clip=4",
            ("b", &["b"], "sgd:lr=0.1,momentum=0.5"),
        )
    });
}

#[test]
fn group_checkpoints_need_the_same_groups() {
    let mut opt = two_groups("sgd:lr=0.1", ("b", &["b"], "sgd:lr=0.1,momentum=0.9"));
    train(&mut opt, 3);
    let bytes = opt.save().unwrap();
    let mut other = two_groups("sgd:lr=0.1", ("c", &["b"], "sgd:lr=0.1,momentum=0.9"));
    let err = other.load(&bytes).unwrap_err().to_string();
    assert!(
        err.contains(r#"["b", "default"]"#) && err.contains(r#"["c", "default"]"#),
        "{err}"
    );
    // A group that refuses its part leaves every group as it was.
    let mut other = two_groups("adam", ("b", &["b"], "sgd:lr=0.1,momentum=0.9"));
    train(&mut other, 1);
    let before = other.save().unwrap();
    assert!(
        other.load(&bytes).is_err(),
        "an Adam group loaded SGD's state"
    );
    assert_eq!(other.save().unwrap(), before);
}
