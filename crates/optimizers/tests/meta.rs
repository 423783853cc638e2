//! `Meta` over any base: validation at construction, the per-base rule, reloading memories into
//! another config, checkpoints that say what they are, and the rates a step applied.

use std::sync::{Arc, Mutex};

use lrmem_memory_core::{Memory, MemoryConfig, MemoryOptimizer, NonFinite};
use lrmem_optimizers::{
    checkpoint_kind, contract, saved_memories, Adam, AdamConfig, AdamHd, AdamHdConfig, Base,
    BaseInfo, Checkpoint, Direction, DirectionBuf, Field, Inspect, IntoBase, LoadMemories, Meta,
    MetaConfig, OptimError, Optimizer, Query, Rprop, RpropConfig, Sgd, SgdConfig, SgdHd,
    SgdHdConfig, StateView, Tensor,
};

mod common;
use common::{
    assert_same_runs, built, memory, meta_config, quadratic_grad, train_named, with_memory,
};

fn message(e: &OptimError) -> String {
    e.to_string()
}

// ---- Finding 1: every config validated at construction, nothing silently ignored ----------

/// `Meta::new` over the default base config `C` changed by `change`, with the default `MetaConfig`.
fn meta_over<C: Default + IntoBase>(change: impl FnOnce(&mut C)) -> Result<(), OptimError> {
    let mut base = C::default();
    change(&mut base);
    Meta::new(base, MetaConfig::default()).map(|_| ())
}

#[test]
fn invalid_base_configs_are_refused_by_meta() {
    for (base, field) in [
        (meta_over(|c: &mut AdamConfig| c.eps = 0.0), "eps"),
        (meta_over(|c: &mut AdamConfig| c.beta1 = 1.0), "beta1"),
        (meta_over(|c: &mut SgdConfig| c.momentum = 1.5), "momentum"),
        (
            meta_over(|c: &mut RpropConfig| (c.lr, c.etas) = (1e-3, (0.5, 0.9))),
            "etas",
        ),
    ] {
        match base {
            Err(OptimError::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
            other => panic!("`{field}`: {other:?}"),
        }
    }
}

#[test]
fn eta0_and_the_base_lr_are_one_setting() {
    // The base's lr disagrees with memory.eta0: an error naming both fields and values.
    let err = Meta::new(SgdConfig::with_lr(0.01), MetaConfig::default()).unwrap_err();
    assert!(matches!(err, OptimError::Conflict { .. }), "{err:?}");
    let msg = message(&err);
    for part in [
        "`MetaConfig.memory.eta0` = 0.001",
        "the base's `lr` = 0.01",
        "Meta::sgd",
    ] {
        assert!(msg.contains(part), "{msg}");
    }
    let err = Meta::new(
        Adam::new(AdamConfig::with_lr(0.01)).unwrap(),
        MetaConfig::default(),
    )
    .unwrap_err();
    assert!(message(&err).contains("(Adam)"), "{err}");
    // Agreeing values build, and η₀ is the base's lr: Meta::sgd takes it from the config.
    let meta = Meta::sgd(meta_config(0.02, 0.0)).unwrap();
    assert_eq!(meta.base().config().lr, 0.02);
    assert!(Meta::new(SgdConfig::with_lr(0.02), meta_config(0.02, 0.0)).is_ok());
}

/// What `NonFinite::Skip` promises through `Meta` (its docs): the coordinate is a zero
/// gradient. Over plain SGD it does not move; over Adam its first moment still moves it; θ stays
/// finite either way.
#[test]
fn skip_is_a_zero_gradient_for_the_base() {
    let skip = with_memory(MemoryConfig {
        non_finite: NonFinite::Skip,
        ..MemoryConfig::default()
    });
    for (adam, mut meta) in [
        (
            false,
            Box::new(Meta::sgd(skip).unwrap()) as Box<dyn Optimizer>,
        ),
        (true, Box::new(Meta::adam(skip).unwrap())),
    ] {
        let mut w = vec![1.0f32, 2.0];
        meta.step("w", &mut w, &[0.5, 1.0]).unwrap();
        let before = w[0];
        meta.step("w", &mut w, &[f32::NAN, 1.0]).unwrap();
        assert_eq!(
            w[0] != before,
            adam,
            "Meta (adam: {adam}): {before} → {}",
            w[0]
        );
        assert!(meta
            .memory_thetas()
            .iter()
            .all(|(_, t)| t.iter().all(|x| x.is_finite())));
    }
}

#[test]
fn non_finite_is_one_setting_and_its_error_says_where() {
    let skip = with_memory(MemoryConfig {
        non_finite: NonFinite::Skip,
        ..MemoryConfig::default()
    });
    let err = Meta::new(SgdConfig::default(), skip).unwrap_err();
    let msg = message(&err);
    assert!(
        matches!(err, OptimError::Conflict { .. })
            && msg.contains("`MetaConfig.memory.non_finite` = Skip")
            && msg.contains("the base's `non_finite` = Error"),
        "{msg}"
    );
    let mut meta = Meta::sgd(skip).unwrap();
    assert_eq!(meta.base().config().non_finite, NonFinite::Skip);
    meta.step("w", &mut [1.0, 2.0], &[f32::NAN, 1.0]).unwrap();
    // Under the default policy, the error names the setting to change.
    let mut meta = Meta::sgd(MetaConfig::default()).unwrap();
    let err = meta.step("w", &mut [1.0], &[f32::NAN]).unwrap_err();
    let msg = message(&err);
    assert!(
        msg.contains("set `MetaConfig.memory.non_finite` and the base's `non_finite`"),
        "{msg}"
    );
    let mut sgd = Sgd::new(SgdConfig::default()).unwrap();
    let msg = message(&sgd.step("w", &mut [1.0], &[f32::NAN]).unwrap_err());
    assert!(
        msg.contains("the `non_finite` field of the optimizer's config"),
        "{msg}"
    );
}

#[test]
fn length_errors_give_a_hint_that_holds_and_meta_can_reset() {
    let mut meta = Meta::sgd(meta_config(0.01, 0.05)).unwrap();
    train_named(&mut meta, &["w"], 5);
    let err = meta.step("w", &mut [1.0; 3], &[0.5; 3]).unwrap_err();
    let msg = message(&err);
    assert!(
        msg.contains("`Optimizer::next_task` forgets every tensor's state and size")
            && !msg.contains("call `reset`"),
        "{msg}"
    );
    // Both ways out exist: next_task keeps θ and forgets lengths; reset forgets θ too.
    let theta = meta.memory("w").unwrap().theta().to_vec();
    meta.next_task();
    meta.step("w", &mut [1.0; 3], &[0.5; 3]).unwrap(); // a new length under the same memory
    meta.reset();
    assert!(meta.memory("w").is_none() && meta.memory_thetas().is_empty());
    let fresh = Meta::sgd(meta_config(0.01, 0.05)).unwrap();
    let (mut a, mut b) = (meta, fresh);
    assert_same_runs("reset, then fresh", &mut a, &mut b, |o| {
        train_named(o, &["w"], 4)
    });
    assert_ne!(a.memory("w").unwrap().theta(), &theta[..]);
}

// ---- Finding 2: a wrapper over any optimizer ----------------------------------------------

#[test]
fn meta_wraps_optimizers_and_their_configs() {
    let by_optimizer = Meta::new(
        Sgd::new(SgdConfig::with_lr(1e-3)).unwrap(),
        MetaConfig::default(),
    )
    .unwrap();
    let by_config = Meta::new(SgdConfig::default(), MetaConfig::default()).unwrap();
    let (mut a, mut b, mut c) = (
        by_optimizer,
        by_config,
        Meta::sgd(MetaConfig::default()).unwrap(),
    );
    let (wa, wb, wc) = (
        train_named(&mut a, &["x", "y"], 6),
        train_named(&mut b, &["x", "y"], 6),
        train_named(&mut c, &["x", "y"], 6),
    );
    assert!(wa == wb && wb == wc);
    let _: Meta<Rprop> = Meta::new(RpropConfig::with_lr(1e-3), MetaConfig::default()).unwrap();
    let _: Meta<SgdHd> = Meta::new(SgdHdConfig::default(), MetaConfig::default()).unwrap();
    let _: Meta<AdamHd> = Meta::new(AdamHdConfig::default(), MetaConfig::default()).unwrap();
    let _: Meta<Adam> = Meta::adam(MetaConfig::default()).unwrap();
}

#[test]
fn contract_of_meta_over_every_base() {
    // Both hypergradient methods from α₀ = 0.05, β at its default.
    let (mut sgd_hd, mut adam_hd) = (SgdHdConfig::default(), AdamHdConfig::default());
    (sgd_hd.lr, adam_hd.lr) = (0.05, 0.05);
    let sgd = || Sgd::new(SgdConfig::with_lr(0.1)).unwrap();
    contract::check(|| Meta::new(RpropConfig::with_lr(0.01), meta_config(0.01, 1e-3)).unwrap());
    contract::check(|| Meta::new(sgd_hd, meta_config(0.05, 1e-3)).unwrap());
    contract::check(|| Meta::new(adam_hd, meta_config(0.05, 1e-3)).unwrap());
    contract::check(|| Meta::new(sgd(), meta_config(0.1, 1e-3)).unwrap());
}

/// The rule: with a frozen memory (ξ = 0, so η = η₀ = lr everywhere) and gradients inside
/// ±clip, Meta over a base steps as the base itself, up to rounding.
fn frozen_memory_is_the_base<B>(what: &str, base: impl Fn() -> B, lr: f32)
where
    B: Base + 'static,
{
    let mut plain = base();
    let mut meta = Meta::new(base(), meta_config(lr, 0.0)).unwrap();
    let mut w1: Vec<f32> = (0..6).map(|i| 0.8 - 0.3 * i as f32).collect();
    let mut w2 = w1.clone();
    for t in 0..25 {
        let g = quadratic_grad(&w1, t);
        plain.step("w", &mut w1, &g).unwrap();
        meta.step("w", &mut w2, &g).unwrap();
        for (a, b) in w1.iter().zip(&w2) {
            assert!(
                (a - b).abs() <= 1e-5 * (1.0 + a.abs()),
                "{what}, step {t}: base {a}, meta {b}"
            );
        }
    }
}

#[test]
fn a_frozen_memory_steps_as_the_base() {
    frozen_memory_is_the_base("sgd", || Sgd::new(SgdConfig::with_lr(0.05)).unwrap(), 0.05);
    frozen_memory_is_the_base(
        "sgd with momentum and weight decay",
        || {
            Sgd::new(SgdConfig {
                lr: 0.05,
                momentum: 0.5,
                weight_decay: 0.01,
                nesterov: true,
                ..SgdConfig::default()
            })
            .unwrap()
        },
        0.05,
    );
    frozen_memory_is_the_base(
        "rprop",
        || Rprop::new(RpropConfig::with_lr(0.01)).unwrap(),
        0.01,
    );
    frozen_memory_is_the_base(
        "sgd-hd",
        || {
            SgdHd::new(SgdHdConfig {
                lr: 0.05,
                hypergrad_lr: 0.01,
                ..SgdHdConfig::default()
            })
            .unwrap()
        },
        0.05,
    );
    frozen_memory_is_the_base(
        "adam-hd",
        || {
            AdamHd::new(AdamHdConfig {
                lr: 0.05,
                hypergrad_lr: 1e-3,
                ..AdamHdConfig::default()
            })
            .unwrap()
        },
        0.05,
    );
}

/// Adam under Meta follows the authors' TensorFlow backend: z = m_t, u = m_t/(√v_t + ε).
#[test]
fn meta_adam_is_the_tf_backend() {
    let cfg = meta_config(0.01, 0.05);
    let mut meta = Meta::adam(cfg).unwrap();
    let mut mem = Memory::new(cfg.memory).unwrap();
    let mut trace = lrmem_memory_core::Trace::new(3);
    let (mut m, mut v) = (vec![0.0f32; 3], vec![0.0f32; 3]);
    let (mut w1, mut w2) = (vec![1.0f32, -3.0, 7.0], vec![1.0f32, -3.0, 7.0]);
    for _ in 0..15 {
        let g: Vec<f32> = w1.iter().map(|x| x * 1.3).collect();
        meta.step("w", &mut w1, &g).unwrap();
        for d in 0..3 {
            m[d] = 0.9 * m[d] + (1.0 - 0.9) * g[d];
            v[d] = 0.999 * v[d] + (1.0 - 0.999) * g[d] * g[d];
        }
        let u: Vec<f32> = (0..3).map(|d| m[d] / (v[d].sqrt() + 1e-8)).collect();
        mem.step(&mut trace, &m, |d, eta, _| w2[d] -= eta * u[d])
            .unwrap();
    }
    assert_eq!(w1, w2);
    assert_eq!(meta.memory("w").unwrap().theta(), mem.theta());
}

/// A base of one's own: sign descent, two methods.
#[derive(Debug, Clone)]
struct SignSgd {
    lr: f32,
}

impl Optimizer for SignSgd {
    fn step(&mut self, _: &str, params: &mut [f32], grads: &[f32]) -> Result<(), OptimError> {
        for (w, g) in params.iter_mut().zip(grads) {
            *w -= self.lr * g.signum();
        }
        Ok(())
    }
    fn next_task(&mut self) {}
}

impl Base for SignSgd {
    fn info(&self) -> BaseInfo {
        BaseInfo::new("SignSgd", self.lr, NonFinite::Error)
    }
    fn direction(
        &mut self,
        _: &str,
        _: &[f32],
        grads: &[f32],
        mut buf: DirectionBuf<'_>,
    ) -> Result<Direction, OptimError> {
        for (u, g) in buf.values().iter_mut().zip(grads) {
            *u = g.signum();
        }
        Ok(Direction::Values)
    }
}

#[test]
fn a_base_of_ones_own_needs_two_methods() {
    let mut meta = Meta::new(SignSgd { lr: 0.01 }, meta_config(0.01, 0.0)).unwrap();
    let mut w = [1.0f32, -1.0];
    meta.step("w", &mut w, &[3.0, -0.5]).unwrap();
    assert!(
        (w[0] - 0.99).abs() < 1e-6 && (w[1] + 0.99).abs() < 1e-6,
        "{w:?}"
    );
}

// ---- Finding 3: the reload workflow -------------------------------------------------------

/// A trained Meta-SGD's checkpoint, with one memory per tensor.
fn trained(names: &[&str]) -> (Meta<Sgd>, Vec<u8>) {
    let mut meta = Meta::sgd(meta_config(0.01, 0.05)).unwrap();
    train_named(&mut meta, names, 20);
    let bytes = meta.save().unwrap();
    (meta, bytes)
}

#[test]
fn load_memories_keeps_theta_and_takes_the_new_config() {
    let (old, bytes) = trained(&["conv.weight", "fc.weight"]);
    // Another ξ, another memory optimizer, another signal, another base.
    let mut cfg = meta_config(0.01, 1e-4);
    cfg.memory.optimizer = MemoryOptimizer::sgd(1e-4);
    cfg.memory.signal = lrmem_memory_core::Signal::Sign;
    let mut next = Meta::new(RpropConfig::with_lr(0.01), cfg).unwrap();
    assert!(
        next.load(&bytes).is_err(),
        "a checkpoint resumes only the same optimizer"
    );
    let report = next.load_memories(&bytes, LoadMemories::default()).unwrap();
    assert_eq!(report.loaded, ["conv.weight", "fc.weight"]);
    assert!(report.replaced.is_empty());
    for key in ["conv.weight", "fc.weight"] {
        let (a, b) = (old.memory(key).unwrap(), next.memory(key).unwrap());
        assert_eq!(a.theta(), b.theta(), "{key}: θ is kept");
        assert_eq!(b.config(), &cfg.memory, "{key}: the receiver's config");
        assert_eq!(b.rule_state().step, 0, "{key}: fresh moments");
    }
    train_named(&mut next, &["conv.weight", "fc.weight"], 3);
    // From plain memories too, and another Meta's memories directly.
    let list: Vec<(String, Memory)> = old
        .memories()
        .map(|(k, m)| (k.to_owned(), m.clone()))
        .collect();
    let mut other = Meta::sgd(meta_config(0.01, 0.05)).unwrap();
    other.load_memories(&list, LoadMemories::default()).unwrap();
    assert_eq!(other.memory_thetas(), old.memory_thetas());
    assert_eq!(saved_memories(&bytes).unwrap(), list);
}

#[test]
fn load_memories_refuses_theta_that_means_something_else() {
    let (_, bytes) = trained(&["w"]);
    for (change, field, saved, here) in [
        (
            (|c: &mut MemoryConfig| c.num_centers = 40) as fn(&mut MemoryConfig),
            "`memory.num_centers`",
            "20",
            "40",
        ),
        (|c| c.clip = 1.0, "`memory.clip`", "4", "1"),
        (|c| c.lm_scale = 0.75, "`memory.lm_scale`", "0.5", "0.75"),
        (
            |c| c.layout = lrmem_memory_core::Layout::Log,
            "`memory.layout`",
            "Linear",
            "Log",
        ),
    ] {
        let mut cfg = meta_config(0.01, 0.05);
        change(&mut cfg.memory);
        let mut next = Meta::sgd(cfg).unwrap();
        let err = next
            .load_memories(&bytes, LoadMemories::default())
            .unwrap_err();
        let msg = message(&err);
        assert!(
            matches!(err, OptimError::Incompatible { .. })
                && msg.contains(&format!("{field}: saved {saved}, here {here}")),
            "{msg}"
        );
        assert!(next.memory_thetas().is_empty(), "all or nothing");
    }
    // θ beyond the receiver's bounds.
    let mut cfg = meta_config(0.01, 0.05);
    cfg.memory.theta_max = 0.011;
    let mut next = Meta::sgd(cfg).unwrap();
    let msg = message(
        &next
            .load_memories(&bytes, LoadMemories::default())
            .unwrap_err(),
    );
    assert!(msg.contains("`memory.theta_max` = 0.011"), "{msg}");
}

#[test]
fn renamed_tensors_get_their_saved_memory_and_missing_ones_are_reported() {
    let (old, bytes) = trained(&["conv1.weight", "fc.weight"]);
    // Strict (the default): a tensor whose memory was not loaded is an error naming it.
    let mut next = Meta::sgd(meta_config(0.01, 0.05)).unwrap();
    next.load_memories(&bytes, LoadMemories::default()).unwrap();
    let mut w = vec![0.1f32; 5];
    let err = next
        .step("features.0.weight", &mut w, &[0.5; 5])
        .unwrap_err();
    let msg = message(&err);
    assert!(
        matches!(err, OptimError::Routing { .. })
            && msg.contains("tensor `features.0.weight`")
            && msg.contains("not used by any tensor yet: `conv1.weight`, `fc.weight`")
            && msg.contains("rename"),
        "{msg}"
    );
    assert_eq!(w, vec![0.1f32; 5], "nothing stepped");
    // Renaming maps the saved memory onto the new name.
    let mut next = Meta::sgd(meta_config(0.01, 0.05)).unwrap();
    let report = next
        .load_memories(
            &bytes,
            LoadMemories {
                rename: &[("conv1.weight", "features.0.weight")],
                ..LoadMemories::default()
            },
        )
        .unwrap();
    assert_eq!(report.loaded, ["fc.weight", "features.0.weight"]);
    assert_eq!(
        next.memory("features.0.weight").unwrap().theta(),
        old.memory("conv1.weight").unwrap().theta()
    );
    next.step("features.0.weight", &mut w, &[0.5; 5]).unwrap();
    next.step("fc.weight", &mut w, &[0.5; 5]).unwrap();
    assert!(next.fresh_memories().is_empty());
    // Lenient: missing memories start fresh, and are listed.
    let mut lenient = Meta::sgd(meta_config(0.01, 0.05)).unwrap();
    lenient
        .load_memories(
            &bytes,
            LoadMemories {
                strict: false,
                ..LoadMemories::default()
            },
        )
        .unwrap();
    lenient.step("head.weight", &mut w, &[0.5; 5]).unwrap();
    assert_eq!(lenient.fresh_memories(), ["head.weight"]);
    // A rename of a key that was never saved is an error listing the saved keys.
    let err = Meta::sgd(meta_config(0.01, 0.05))
        .unwrap()
        .load_memories(
            &bytes,
            LoadMemories {
                rename: &[("conv.weight", "x")],
                ..LoadMemories::default()
            },
        )
        .unwrap_err();
    assert!(
        message(&err).contains("the saved keys are: `conv1.weight`, `fc.weight`"),
        "{err}"
    );
}

#[test]
fn a_misspelt_only_name_is_an_error_after_the_first_pass() {
    let mut meta = Meta::sgd(meta_config(0.01, 0.05))
        .unwrap()
        .only(&["fc.wieght"]);
    let (mut a, mut b) = (vec![1.0f32; 3], vec![1.0f32; 2]);
    meta.step("fc.weight", &mut a, &[0.1; 3]).unwrap();
    meta.step("fc.bias", &mut b, &[0.1; 2]).unwrap();
    let err = meta.step("fc.weight", &mut a, &[0.1; 3]).unwrap_err();
    let msg = message(&err);
    assert!(
        matches!(err, OptimError::Routing { .. })
            && msg.contains("`Meta::only` names `fc.wieght`")
            && msg.contains("the tensors stepped: `fc.weight`, `fc.bias`"),
        "{msg}"
    );
    // It stays an error.
    assert!(meta.step("fc.bias", &mut b, &[0.1; 2]).is_err());
    // step_model checks before anything steps.
    let mut meta = Meta::sgd(meta_config(0.01, 0.05))
        .unwrap()
        .only(&["fc.wieght"]);
    let err = meta
        .step_model(&mut [
            Tensor::new("fc.weight", &mut a, &[0.1; 3]),
            Tensor::new("fc.bias", &mut b, &[0.1; 2]),
        ])
        .unwrap_err();
    assert!(matches!(err, OptimError::Routing { .. }), "{err}");
    assert!(meta.memory_thetas().is_empty() && meta.last_rates("fc.bias").is_none());
    // Correct names are no error, on either path.
    let mut meta = Meta::sgd(meta_config(0.01, 0.05))
        .unwrap()
        .only(&["fc.weight"]);
    for _ in 0..3 {
        meta.step_model(&mut [
            Tensor::new("fc.weight", &mut a, &[0.1; 3]),
            Tensor::new("fc.bias", &mut b, &[0.1; 2]),
        ])
        .unwrap();
    }
    assert_eq!(meta.memory_thetas().len(), 1);
}

#[test]
fn insert_memory_adopts_the_optimizer_config() {
    let (old, _) = trained(&["w"]);
    let saved = old.memory("w").unwrap().clone();
    let cfg = meta_config(0.01, 1e-4);
    let mut meta = Meta::sgd(cfg).unwrap();
    meta.insert_memory("w", saved.clone()).unwrap();
    let m = meta.memory("w").unwrap();
    assert_eq!(m.theta(), saved.theta());
    assert_eq!(
        m.config(),
        &cfg.memory,
        "ξ is the optimizer's, not the memory's"
    );
    // θ for other local models is refused.
    let mut other = Meta::sgd(with_memory(MemoryConfig {
        num_centers: 10,
        ..memory(0.01, 0.05)
    }))
    .unwrap();
    let err = other.insert_memory("w", saved).unwrap_err();
    assert!(
        message(&err).contains("`memory.num_centers`: saved 20, here 10"),
        "{err}"
    );
    assert!(other.memory("w").is_none());
}

#[test]
fn the_rates_of_the_last_step_are_visible() {
    let mut meta = Meta::sgd(meta_config(0.01, 0.05)).unwrap().only(&["w"]);
    assert!(meta.last_rates("w").is_none());
    meta.record_rates(true);
    let mut w: Vec<f32> = (0..300).map(|i| (i as f32 * 0.37).sin()).collect();
    let mut b = vec![0.5f32; 4];
    for t in 0..12 {
        let g = quadratic_grad(&w, t);
        let before = w.clone();
        meta.step("w", &mut w, &g).unwrap();
        meta.step("b", &mut b, &[0.5; 4]).unwrap();
        // Plain SGD: w ← w − η·clip(g), with exactly the recorded η.
        let rates = meta.rates("w").unwrap();
        for d in 0..w.len() {
            assert_eq!(
                w[d],
                before[d] - rates[d] * g[d].clamp(-4.0, 4.0),
                "step {t}"
            );
        }
        let s = meta.last_rates("w").unwrap();
        let (lo, hi) = rates
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &r| {
                (l.min(r), h.max(r))
            });
        let mean = rates.iter().map(|&r| r as f64).sum::<f64>() / rates.len() as f64;
        assert_eq!((s.count, s.min, s.max), (300, lo, hi));
        assert!((s.mean as f64 - mean).abs() <= 1e-5 * mean);
        let q = s.quantiles.unwrap();
        assert!(lo <= q.p10 && q.p10 <= q.p50 && q.p50 <= q.p90 && q.p90 <= hi);
    }
    assert!(meta.last_rates("w").unwrap().max > 0.01, "θ has grown");
    // A tensor without a memory steps at η₀.
    let s = meta.last_rates("b").unwrap();
    assert_eq!((s.min, s.max, s.mean), (0.01, 0.01, 0.01));
    // Off by default, and turning it off frees the rates (the summary stays).
    meta.record_rates(false);
    assert!(meta.rates("w").is_none());
    let g = quadratic_grad(&w, 0);
    meta.step("w", &mut w, &g).unwrap();
    let s = meta.last_rates("w").unwrap();
    assert!(s.quantiles.is_none() && s.count == 300);
}

#[test]
fn an_observer_sees_every_step() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut meta = Meta::sgd(meta_config(0.01, 0.05))
        .unwrap()
        .with_routing(|n| (n != "bias").then(|| "shared".to_owned()));
    let sink = seen.clone();
    meta.on_step(move |info| {
        sink.lock().unwrap().push((
            info.tensor.to_owned(),
            info.memory.map(str::to_owned),
            info.step,
            info.rates.count,
            info.per_coordinate.map(<[f32]>::len),
        ))
    });
    train_named(&mut meta, &["weight", "bias"], 2);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            ("weight".into(), Some("shared".into()), 1, 5, None),
            ("bias".into(), None, 1, 5, None),
            ("weight".into(), Some("shared".into()), 2, 5, None),
            ("bias".into(), None, 2, 5, None),
        ]
    );
}

#[test]
fn every_optimizer_shows_its_state() {
    fn fields(view: &StateView<'_>, tensor: &str) -> Vec<String> {
        view.tensors[tensor].keys().cloned().collect()
    }
    let mut sgd = Sgd::new(SgdConfig {
        momentum: 0.9,
        ..SgdConfig::default()
    })
    .unwrap();
    train_named(&mut sgd, &["w"], 2);
    assert_eq!(fields(&sgd.state(), "w"), ["buf", "step"]);
    assert_eq!(sgd.state().get("w", "step"), Some(Field::Count(2)));
    let mut adam = Adam::new(AdamConfig::default()).unwrap();
    train_named(&mut adam, &["w"], 1);
    assert_eq!(fields(&adam.state(), "w"), ["m", "step", "v"]);
    let mut rprop = Rprop::new(RpropConfig::default()).unwrap();
    train_named(&mut rprop, &["w"], 1);
    assert_eq!(fields(&Inspect::state(&rprop), "w"), ["prev", "step"]);
    let mut hd = SgdHd::new(SgdHdConfig::default()).unwrap();
    train_named(&mut hd, &["w"], 1);
    assert!(matches!(hd.state().get("w", "lr"), Some(Field::Scalar(_))));
    let mut adam_hd = AdamHd::new(AdamHdConfig::default()).unwrap();
    train_named(&mut adam_hd, &["w"], 1);
    assert_eq!(adam_hd.state().values("w", "b").map(<[f32]>::len), Some(5));

    let mut meta = Meta::adam(meta_config(0.01, 0.05)).unwrap();
    train_named(&mut meta, &["conv1.weight"], 3);
    let view = meta.state();
    assert_eq!(
        fields(&view, "conv1.weight"),
        ["base.m", "base.step", "base.v", "memory", "steps", "trace"]
    );
    assert_eq!(
        view.get("conv1.weight", "memory"),
        Some(Field::Text("conv1.weight"))
    );
    assert_eq!(view.values("conv1.weight", "trace").unwrap().len(), 5);
    let mem = &view.memories["conv1.weight"];
    assert_eq!(
        mem["theta"].values().unwrap(),
        meta.memory("conv1.weight").unwrap().theta()
    );
    assert_eq!(mem["step"], Field::Count(3));
}

#[test]
fn new_registry_entries_build_meta_over_rprop_and_hd() {
    for (spec, kind) in [
        ("meta-rprop:lr=0.01,eta_plus=1.1", "Meta<Rprop>"),
        ("meta-sgd-hd:lr=0.05,beta=0.01", "Meta<SgdHd>"),
        ("meta-adam-hd:lr=0.05,beta=1e-6,beta1=0.8", "Meta<AdamHd>"),
    ] {
        let mut opt = built(spec);
        train_named(&mut opt, &["w"], 3);
        assert_eq!(checkpoint_kind(&opt.save().unwrap()).unwrap(), kind);
    }
    let by_spec = built("meta-rprop:lr=0.01,eta_plus=1.1");
    let by_hand = Meta::new(
        RpropConfig {
            lr: 0.01,
            etas: (0.5, 1.1),
            ..RpropConfig::default()
        },
        with_memory(MemoryConfig {
            eta0: 0.01,
            ..MemoryConfig::default()
        }),
    )
    .unwrap();
    let (mut a, mut b) = (by_spec, by_hand);
    assert_same_runs("meta-rprop", &mut a, &mut b, |o| train_named(o, &["w"], 5));
}

// ---- Reproducible on every CPU -------------------------------------------------------------

/// The default kernels compute the portable kernels' bits, so a run (or a checkpoint resumed)
/// on a machine with another instruction set gives the same parameters and θ; the choice
/// reaches every memory, those made later and those loaded from a checkpoint too.
#[test]
fn default_kernels_give_the_same_bits_on_every_cpu() {
    use lrmem_memory_core::Kernels;
    let run = |kernels: Kernels| {
        let mut meta = Meta::adam(meta_config(0.01, 0.05)).unwrap();
        assert_eq!(meta.kernels(), Kernels::Reproducible);
        meta.set_kernels(kernels);
        let mut w: Vec<f32> = (0..1_000).map(|i| ((i as f32) * 0.37).sin()).collect();
        for t in 0..200 {
            let g = quadratic_grad(&w, t);
            meta.step("w", &mut w, &g).unwrap();
        }
        assert!(meta.memories().all(|(_, m)| m.kernels() == kernels));
        (w, meta)
    };
    let (w_rep, rep) = run(Kernels::Reproducible);
    let (w_port, port) = run(Kernels::Portable);
    let (w_fast, _) = run(Kernels::Fastest);
    assert_eq!(w_rep, w_port, "parameters");
    assert_eq!(
        rep.memory("w").unwrap().theta(),
        port.memory("w").unwrap().theta()
    );
    let off = w_fast
        .iter()
        .zip(&w_rep)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(off <= 1e-4, "fastest kernels off by {off}");
    // A checkpoint resumed with other kernels: the loaded memories run the loader's choice.
    let bytes = rep.save().unwrap();
    let mut resumed = Meta::adam(meta_config(0.01, 0.05)).unwrap();
    resumed.set_kernels(Kernels::Portable);
    resumed.load(&bytes).unwrap();
    assert!(resumed
        .memories()
        .all(|(_, m)| m.kernels() == Kernels::Portable));
}

// ---- The study's variants: query, query scale, θ space, reload policy ---------------------

/// Equal but for the rounding of η̂(z) = Σψθ/Σψ, which with every θ = η₀ is η₀ to an ulp that
/// depends on z.
fn close(a: &[Vec<f32>], b: &[Vec<f32>], what: &str) {
    for (x, y) in a.iter().flatten().zip(b.iter().flatten()) {
        assert!(
            (x - y).abs() <= 1e-6 * x.abs().max(1e-3),
            "{what}: {a:?} vs {b:?}"
        );
    }
}

/// With a frozen memory (ξ = 0) every rate is η₀ (to rounding), so what the memory is queried with cannot
/// change a step: `Query::Gradient` moves Meta-Adam and Meta-SGD with momentum as the
/// base query does (the direction is the base's own), while the memory's trace holds the
/// clipped gradient instead of the base's query.
#[test]
fn the_gradient_query_keeps_the_base_direction() {
    let frozen = |query| MetaConfig {
        query,
        ..meta_config(0.01, 0.0)
    };
    let momentum = SgdConfig {
        lr: 0.01,
        momentum: 0.9,
        ..SgdConfig::default()
    };
    let decay = SgdConfig {
        lr: 0.01,
        weight_decay: 0.1,
        ..SgdConfig::default()
    };
    for (what, base_sgd) in [("momentum", momentum), ("weight decay", decay)] {
        let mut a = Meta::new(base_sgd, frozen(Query::Base)).unwrap();
        let mut b = Meta::new(base_sgd, frozen(Query::Gradient)).unwrap();
        close(
            &train_named(&mut a, &["w"], 5),
            &train_named(&mut b, &["w"], 5),
            what,
        );
    }
    let mut a = Meta::adam(frozen(Query::Base)).unwrap();
    let mut b = Meta::adam(frozen(Query::Gradient)).unwrap();
    close(
        &train_named(&mut a, &["w"], 5),
        &train_named(&mut b, &["w"], 5),
        "adam",
    );
    // b's memory saw the gradients, a's saw Adam's m_t.
    let trace = |o: &Meta<Adam>| match o.state().tensors["w"]["trace"] {
        Field::Values(v) => v.to_vec(),
        _ => panic!("a trace"),
    };
    let (ta, tb) = (trace(&a), trace(&b));
    assert_ne!(ta, tb, "the two queries differ");
    let m = match a.state().tensors["w"]["base.m"] {
        Field::Values(v) => v.to_vec(),
        _ => panic!("Adam's m"),
    };
    assert_eq!(ta, m, "the base query is m_t (within the clip of 4)");
}

/// Every variant saves and resumes exactly, and a checkpoint of the format before them (which
/// has none) loads as the authors' settings.
#[test]
fn variants_resume_exactly_from_a_checkpoint() {
    let spec = "meta-sgd:lr=0.01,xi=0.05,space=log,scale=rms,scale_beta=0.9,reload=decay,reload_keep=0.5,signal=sign,query=grad";
    let build = || built(spec);
    // Steps `ts` of one run, the new task starting at step 3.
    let run = |opt: &mut lrmem_optimizers::Built, w: &mut Vec<f32>, ts: std::ops::Range<usize>| {
        for t in ts {
            if t == 3 {
                opt.next_task();
            }
            let g = quadratic_grad(w, t);
            opt.step("w", w, &g).unwrap();
        }
    };
    let mut whole = build();
    let mut w = vec![0.5f32, -0.25, 1.0, 0.1];
    run(&mut whole, &mut w, 0..6);
    let mut first = build();
    let mut w2 = vec![0.5f32, -0.25, 1.0, 0.1];
    run(&mut first, &mut w2, 0..4);
    let mut resumed = build();
    resumed.load(&first.save().unwrap()).unwrap();
    run(&mut resumed, &mut w2, 4..6);
    assert_eq!(w, w2);
    assert_eq!(whole.save().unwrap(), resumed.save().unwrap());
}

/// Meta over AdamW refuses a diverged parameter in a later tensor (its decoupled decay λw in
/// the direction would overflow) before the first tensor moves: the base's own checks under
/// Meta are those of its direction, not of its step (docs/guide.md §11).
#[test]
fn a_base_refusal_in_a_later_tensor_changes_nothing() {
    let adamw = AdamConfig {
        weight_decay: 0.5,
        decoupled: true,
        ..AdamConfig::with_lr(0.01)
    };
    let mut opt = Meta::new(adamw, meta_config(0.01, 1e-3)).unwrap();
    let (mut a, mut b) = (vec![1.0f32, -1.0], vec![0.5f32]);
    opt.step_model(&mut [
        Tensor::new("a", &mut a, &[0.1, 0.2]),
        Tensor::new("b", &mut b, &[0.3]),
    ])
    .unwrap();
    let (before, snap_a) = (opt.save().unwrap(), a.clone());
    let mut diverged = vec![1e30f32];
    let err = opt
        .step_model(&mut [
            Tensor::new("a", &mut a, &[0.1, 0.2]),
            Tensor::new("b", &mut diverged, &[0.3]),
        ])
        .unwrap_err();
    assert!(
        matches!(&err, OptimError::DecayedGradient { tensor, .. } if tensor == "b"),
        "{err:?}"
    );
    assert_eq!(a, snap_a, "the first tensor moved");
    assert_eq!(opt.save().unwrap(), before, "the state changed");
}
