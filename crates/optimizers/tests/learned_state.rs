//! What a change of hyperparameters does to learned state (docs/guide.md §11): a new `lr` never
//! overflows what Rprop and hypergradient descent learned, a value set and then set back leaves
//! the state as it was, a failed scheduled step changes nothing, `lr` on `Meta` scales the rates
//! its memories hand out, and the products of hyperparameters and state that could overflow f32
//! stay finite at their boundaries (property tests generated there).

use lrmem_optimizers::schedule::{Constant, Cosine, Linear, Schedule, Scheduled, Warmup};
use lrmem_optimizers::{
    AdamHd, AdamHdConfig, Checkpoint, Field, Inspect, MemoryConfig, Meta, MetaConfig, Optimizer,
    Rprop, RpropConfig, SgdHd, SgdHdConfig, MAX_GRADIENT,
};
use proptest::prelude::*;

mod common;
use common::{bits, meta_config};

/// Every value of the optimizer's state is finite (tensors, memories and model-wide scalars).
fn assert_state_finite(what: &str, opt: &impl Inspect) {
    let view = opt.state();
    let fields = view
        .tensors
        .iter()
        .chain(view.memories.iter())
        .flat_map(|(_, f)| f.iter())
        .chain(view.model.iter());
    for (name, field) in fields {
        match field {
            Field::Values(v) => assert!(v.iter().all(|x| x.is_finite()), "{what}: {name} = {v:?}"),
            Field::Scalar(x) => assert!(x.is_finite(), "{what}: {name} = {x}"),
            _ => {}
        }
    }
}

/// The checkpoint of `opt` loads into `fresh` (an optimizer of the same kind), whose next
/// checkpoint is the same bytes: an optimizer's own state is never refused.
fn assert_reloads<O: Checkpoint>(what: &str, opt: &O, mut fresh: O) {
    let bytes = opt.save().unwrap();
    fresh
        .load(&bytes)
        .unwrap_or_else(|e| panic!("{what}: its own checkpoint is refused: {e}"));
    assert_eq!(fresh.save().unwrap(), bytes, "{what}");
}

fn rprop(lr: f32) -> Rprop {
    Rprop::new(RpropConfig::with_lr(lr)).unwrap()
}

fn sgd_hd(lr: f32, beta: f32) -> SgdHd {
    SgdHd::new(SgdHdConfig {
        lr,
        hypergrad_lr: beta,
        ..Default::default()
    })
    .unwrap()
}

fn adam_hd(lr: f32, beta: f32) -> AdamHd {
    AdamHd::new(AdamHdConfig {
        lr,
        hypergrad_lr: beta,
        ..Default::default()
    })
    .unwrap()
}

/// Meta over `base` with η₀ = its lr, θ free down to 10⁻⁴⁵.
fn meta_over<B: lrmem_optimizers::Base>(base: B, eta0: f32) -> Meta<B> {
    let memory = MemoryConfig {
        eta0,
        theta_min: 0.0,
        theta_max: 1e6,
        ..meta_config(eta0, 1e-3).memory
    };
    Meta::new(
        base,
        MetaConfig {
            memory,
            ..MetaConfig::default()
        },
    )
    .unwrap()
}

/// Rprop at Δ₀ = 10⁻³⁸ grows Δ to Δmax = 50 in 520 agreeing steps; `lr` = 1 then asks for
/// Δ·1/10⁻³⁸, beyond f32. The step sizes stay within [Δmin, Δmax] ∪ {lr} and every step is
/// finite; the optimizer's own checkpoint loads.
#[test]
fn rprop_raised_lr_keeps_step_sizes_bounded() {
    let mut opt = rprop(1e-38);
    let mut w = [0.0f32];
    for _ in 0..520 {
        opt.step("w", &mut w, &[1.0]).unwrap();
    }
    opt.set_lr(1.0).unwrap();
    assert_state_finite("rprop", &opt);
    assert_reloads("rprop", &opt, rprop(0.5));
    for g in [1.0, -1.0, -1.0] {
        // Agreement, then a flip (where sign(g) counts as 0), then agreement again.
        opt.step("w", &mut w, &[g]).unwrap();
        assert!(w[0].is_finite(), "{w:?}");
        let step = opt.state().tensors["w"]["step"].values().unwrap()[0];
        assert!(step <= 50.0, "Δ = {step}");
    }
    assert_reloads("rprop", &opt, rprop(0.5));
}

/// SGD-HD and Adam-HD at α₀ = 10⁻⁴⁵ with β = 10³⁰: `lr` = 10⁶ asks for α·10⁵¹. The learned rate
/// stays within ±10⁶, a step with g = −10¹⁸ is finite, the checkpoint loads.
#[test]
fn hd_raised_lr_keeps_learned_rates_bounded() {
    fn check<O: Optimizer + Checkpoint + Inspect>(what: &str, mut opt: O, fresh: O) {
        let mut w = [0.0f32];
        for _ in 0..3 {
            opt.step("w", &mut w, &[1.0]).unwrap();
        }
        opt.set_lr(1e6).unwrap();
        assert_eq!(opt.lr(), Some(1e6), "{what}");
        opt.step("w", &mut w, &[-1e18]).unwrap();
        assert!(w[0].is_finite(), "{what}: {w:?}");
        assert_state_finite(what, &opt);
        assert_reloads(what, &opt, fresh);
    }
    check("sgd-hd", sgd_hd(1e-45, 1e30), sgd_hd(0.1, 0.0));
    check("adam-hd", adam_hd(1e-45, 1e30), adam_hd(0.1, 0.0));
}

/// The same under `Meta` over each of them, and under `Scheduled<Rprop>` with a schedule that
/// jumps from 10⁻³⁸ to 1.
#[test]
fn raised_lr_under_meta_and_schedules_stays_finite() {
    let mut meta = meta_over(rprop(1e-38), 1e-38);
    let mut w = [0.0f32];
    for _ in 0..520 {
        meta.step("w", &mut w, &[1.0]).unwrap();
    }
    meta.set_lr(1.0).unwrap();
    meta.step("w", &mut w, &[1.0]).unwrap();
    assert!(w[0].is_finite(), "meta-rprop: {w:?}");
    assert_state_finite("meta-rprop", &meta);
    assert_reloads("meta-rprop", &meta, meta_over(rprop(1e-38), 1e-38));

    for (what, mut meta) in [
        (
            "meta-sgd-hd",
            Box::new(meta_over(sgd_hd(1e-30, 1e30), 1e-30)) as Box<dyn Optimizer>,
        ),
        (
            "meta-adam-hd",
            Box::new(meta_over(adam_hd(1e-30, 1e30), 1e-30)),
        ),
    ] {
        let mut w = [0.0f32];
        for _ in 0..3 {
            meta.step("w", &mut w, &[1.0]).unwrap();
        }
        meta.set_lr(1e6).unwrap();
        meta.step("w", &mut w, &[-1e18]).unwrap();
        assert!(w[0].is_finite(), "{what}: {w:?}");
    }

    let jump = Constant::new(1e-38)
        .unwrap()
        .then(520, Constant::new(1.0).unwrap());
    let mut opt = Scheduled::new(rprop(1e-38)).schedule("lr", jump).unwrap();
    let mut w = [0.0f32];
    for _ in 0..522 {
        opt.step("w", &mut w, &[1.0]).unwrap();
    }
    assert!(w[0].is_finite(), "scheduled rprop: {w:?}");
    assert_state_finite("scheduled rprop", opt.inner());
    assert_reloads("scheduled rprop", opt.inner(), rprop(0.5));
}

/// `Meta<Rprop>` at η₀ = 10⁻³⁸: its direction Δ/Δ₀ would reach 10³⁸ and beyond as Δ grows to
/// Δmax; it stays within ±10⁶, so that every step is finite.
#[test]
fn meta_rprop_with_a_tiny_eta0_stays_finite() {
    let mut meta = meta_over(rprop(1e-38), 1e-38);
    let mut w = [0.0f32];
    for t in 0..2000 {
        meta.step("w", &mut w, &[1.0]).unwrap();
        assert!(w[0].is_finite(), "step {t}: {w:?}");
    }
    assert_state_finite("meta-rprop", &meta);
}

/// A step that fails under a schedule changes nothing: SGD-HD's learned rate (far from α₀ after
/// 5 steps of a schedule of `lr` down to 0) is the same after a step with a NaN gradient.
#[test]
fn failed_scheduled_step_keeps_the_learned_rate() {
    let lr = Linear::new(1e-3, 0.0, 5).unwrap();
    let mut opt = Scheduled::new(sgd_hd(1e-3, 0.01))
        .schedule("lr", lr)
        .unwrap();
    let mut w = [3.0f32, -2.0];
    for _ in 0..5 {
        let g: Vec<f32> = w.to_vec();
        opt.step("w", &mut w, &g).unwrap();
    }
    fn alpha(o: &Scheduled<SgdHd>) -> Field<'static> {
        match o.inner().state().tensors["w"]["lr"] {
            Field::Scalar(x) => Field::Scalar(x),
            other => panic!("{other:?}"),
        }
    }
    let (before, saved, w0) = (alpha(&opt), opt.save().unwrap(), w);
    assert!(opt.step("w", &mut w, &[f32::NAN, 1.0]).is_err());
    assert_eq!(alpha(&opt), before);
    assert_eq!(opt.save().unwrap(), saved);
    assert_eq!(bits(&w), bits(&w0));
}

/// Setting `lr` (or any key) and then the old value back is exact for every optimizer whose
/// learned rates follow `lr`: through 0 and through a third, before the next step.
#[test]
fn a_value_set_and_set_back_leaves_state_exact() {
    fn check<O: Optimizer + Checkpoint>(what: &str, mut opt: O, keys: &[(&str, f32)]) {
        let mut w = vec![1.0f32, -0.5, 0.25];
        for i in 0..7 {
            let g: Vec<f32> = w.iter().map(|x| x * (1.0 + i as f32 * 0.3) - 0.1).collect();
            opt.step("w", &mut w, &g).unwrap();
        }
        let saved = opt.save().unwrap();
        for &(key, value) in keys {
            let old = opt.hyperparameter(key).unwrap();
            opt.set_hyperparameter(key, value).unwrap();
            opt.set_hyperparameter(key, old).unwrap();
            assert_eq!(
                opt.save().unwrap(),
                saved,
                "{what}: {key} → {value} → {old}"
            );
        }
    }
    let lr = |x: f32| [("lr", 0.0), ("lr", x / 3.0)];
    check("sgd-hd", sgd_hd(0.1, 0.01), &lr(0.1));
    check("adam-hd", adam_hd(0.1, 1e-3), &lr(0.1));
    check(
        "rprop",
        rprop(0.1),
        &[
            ("lr", 0.1 / 3.0),
            ("lr", 1e-7),
            ("step_max", 1e-3),
            ("step_min", 0.5),
        ],
    );
}

/// On `Meta`, `lr` scales the rates its memories hand out: a warmup and cosine ending at 10⁻⁵
/// ends with rates of at most the memory's largest θ times 10⁻⁵/η₀, not at θ (η₀ of the
/// memory: the lr when it was made, the warmup's first value).
#[test]
fn meta_lr_scales_the_memory_rates() {
    let eta0 = 1e-3;
    let lr = Warmup::new(eta0, 0.1, 10)
        .unwrap()
        .then(10, Cosine::new(eta0, 1e-5, 40).unwrap());
    let mut opt = Scheduled::new(Meta::sgd(meta_config(eta0, 1e-2)).unwrap())
        .schedule("lr", lr)
        .unwrap();
    opt.inner_mut().record_rates(true);
    let mut w = vec![1.0f32, -2.0, 0.5];
    for _ in 0..60 {
        let g: Vec<f32> = w.iter().map(|x| 2.0 * x).collect();
        opt.step("w", &mut w, &g).unwrap();
    }
    assert_eq!(opt.lr(), Some(1e-5));
    let memory = opt.inner().memory("w").unwrap();
    let made_at = lr.value(0);
    assert_eq!(memory.config().eta0, made_at);
    let theta = memory.theta();
    let top = theta.iter().cloned().fold(0.0f32, f32::max);
    let rates = opt.inner().rates("w").unwrap();
    let max = rates.iter().cloned().fold(0.0f32, f32::max);
    assert!(
        max <= top * (1e-5 / made_at) * 1.0001,
        "rate {max}, θ ≤ {top}: {rates:?}"
    );
    // A memory that has not moved from η₀ hands out exactly lr.
    let mut fresh = Meta::sgd(meta_config(eta0, 0.0)).unwrap();
    fresh.record_rates(true);
    fresh.step("w", &mut [1.0f32], &[1.0]).unwrap();
    fresh.set_lr(1e-5).unwrap();
    fresh.step("w", &mut [1.0f32], &[1.0]).unwrap();
    let r = fresh.rates("w").unwrap()[0];
    assert!((r - 1e-5).abs() <= 1e-5 * 1e-5, "{r}");
}

/// Under every schedule the memory's rates are its unscheduled rates scaled by lr/η₀: the
/// memory's θ learns as without the schedule.
#[test]
fn meta_lr_schedule_keeps_theta_learning_as_without_it() {
    let eta0 = 1e-2;
    let mut opt = Scheduled::new(Meta::sgd(meta_config(eta0, 1e-2)).unwrap())
        .schedule("lr", Linear::new(eta0, eta0 / 4.0, 10).unwrap())
        .unwrap();
    let mut plain = Meta::sgd(meta_config(eta0, 1e-2)).unwrap();
    opt.inner_mut().record_rates(true);
    plain.record_rates(true);
    let grads = [[1.0f32, -1.0], [0.5, -0.25], [-0.5, 1.0], [1.0, 1.0]];
    let (mut w, mut v) = ([0.0f32; 2], [0.0f32; 2]);
    for t in 0..12u64 {
        let g = grads[t as usize % 4];
        opt.step("w", &mut w, &g).unwrap();
        plain.step("w", &mut v, &g).unwrap();
        let k = Linear::new(eta0, eta0 / 4.0, 10).unwrap().value(t) / eta0;
        for (r, p) in opt
            .inner()
            .rates("w")
            .unwrap()
            .iter()
            .zip(plain.rates("w").unwrap())
        {
            assert!((r - p * k).abs() <= 1e-6 * p * k, "t = {t}: {r} vs {p}·{k}");
        }
    }
    assert_eq!(
        opt.inner().memory("w").unwrap().theta(),
        plain.memory("w").unwrap().theta()
    );
}

// ------------------------------------------------------------------ at the boundaries

/// A value in [10⁻⁴⁵, 10⁶] spread over its decades, with the bounds themselves.
fn rate() -> impl Strategy<Value = f32> {
    prop_oneof![
        Just(1e-45f32),
        Just(f32::MIN_POSITIVE),
        Just(1e6f32),
        (-45.0f32..6.0).prop_map(|e| 10f32.powf(e).clamp(1e-45, 1e6)),
    ]
}

/// A usable gradient, up to ±`MAX_GRADIENT`, with the bound itself and 0.
fn gradient() -> impl Strategy<Value = f32> {
    prop_oneof![
        Just(MAX_GRADIENT),
        Just(-MAX_GRADIENT),
        Just(0.0f32),
        (-18.0f32..18.0, any::<bool>()).prop_map(|(e, neg)| if neg {
            -(10f32.powf(e))
        } else {
            10f32.powf(e)
        }),
    ]
}

/// What a run does between steps: set `lr` to a value, step with a gradient, or step with a
/// NaN gradient (refused).
#[derive(Debug, Clone)]
enum Op {
    Lr(f32),
    Step(f32),
    Nan,
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            2 => rate().prop_map(Op::Lr),
            4 => gradient().prop_map(Op::Step),
            1 => Just(Op::Nan),
        ],
        1..40,
    )
}

/// A starting parameter: an ordinary one, or the largest finite f32 (every step of these
/// optimizers moves a coordinate by less than half its spacing there, docs/guide.md §11).
fn start() -> impl Strategy<Value = f32> {
    prop_oneof![Just(0.5f32), Just(f32::MAX)]
}

/// One op on `opt` and the parameters `w`.
fn apply(
    opt: &mut impl Optimizer,
    w: &mut [f32; 2],
    op: &Op,
) -> Result<(), lrmem_optimizers::OptimError> {
    match *op {
        Op::Lr(lr) => opt.set_lr(lr),
        Op::Step(g) => opt.step("w", w, &[g, -g]),
        Op::Nan => opt.step("w", w, &[f32::NAN, 1.0]),
    }
}

/// Runs `ops` on `opt` from w = (w0, −w0): every `Ok` step leaves the parameters and the state
/// finite, every refused call changes nothing, and the checkpoint at the end loads into
/// `fresh`.
fn run_ops<O: Optimizer + Checkpoint + Inspect>(
    what: &str,
    mut opt: O,
    fresh: O,
    w0: f32,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut w = [w0, -w0];
    for op in ops {
        let before = (opt.save().unwrap(), bits(&w));
        let result = apply(&mut opt, &mut w, op);
        if result.is_err() {
            prop_assert_eq!(
                &(opt.save().unwrap(), bits(&w)),
                &before,
                "{}: {:?}",
                what,
                op
            );
        }
        prop_assert!(
            w.iter().all(|x| x.is_finite()),
            "{}: {:?} → {:?}",
            what,
            op,
            w
        );
        let view = opt.state();
        for (name, f) in view.tensors.values().flat_map(|f| f.iter()) {
            let ok = match f {
                Field::Values(v) => v.iter().all(|x| x.is_finite()),
                Field::Scalar(x) => x.is_finite(),
                _ => true,
            };
            prop_assert!(ok, "{}: {} after {:?}", what, name, op);
        }
    }
    let bytes = opt.save().unwrap();
    let mut fresh = fresh;
    prop_assert!(
        fresh.load(&bytes).is_ok(),
        "{}: own checkpoint refused",
        what
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Rprop: Δ·lr/lr_old (a new lr), Δ·η± (a step) and Δ/Δ₀ (under `Meta`) at every scale.
    #[test]
    fn rprop_at_the_boundaries(
        lr in rate(),
        up in prop_oneof![Just(1.2f32), Just(1e30f32)],
        w0 in start(),
        ops in ops(),
    ) {
        let cfg = RpropConfig { etas: (0.5, up), ..RpropConfig::with_lr(lr) };
        run_ops("rprop", Rprop::new(cfg).unwrap(), rprop(0.5), w0, &ops)?;
        let meta = || meta_over(Rprop::new(cfg).unwrap(), lr);
        run_ops("meta-rprop", meta(), meta(), w0, &ops)?;
    }

    /// SGD-HD and Adam-HD: α·lr/lr_old, α + β·h, α·√(1 − β₂ᵗ)/(1 − β₁ᵗ), α·g and α/α₀
    /// (under `Meta`) at every scale, β₁ up to the largest f32 below 1.
    #[test]
    fn hd_at_the_boundaries(
        lr in rate(),
        beta in prop_oneof![Just(0.0f32), Just(1e30f32), Just(f32::MAX), rate()],
        beta1 in prop_oneof![Just(0.0f32), Just(0.9f32), Just(1.0f32 - f32::EPSILON / 2.0)],
        beta2 in prop_oneof![Just(0.0f32), Just(0.999f32), Just(1.0f32 - f32::EPSILON / 2.0)],
        eps in prop_oneof![Just(1e-45f32), Just(1e-8f32), Just(1e6f32)],
        w0 in start(),
        ops in ops(),
    ) {
        run_ops("sgd-hd", sgd_hd(lr, beta), sgd_hd(0.1, 0.0), w0, &ops)?;
        let adam = || AdamHd::new(AdamHdConfig {
            lr, hypergrad_lr: beta, beta1, beta2, eps, ..Default::default()
        }).unwrap();
        run_ops("adam-hd", adam(), adam_hd(0.1, 0.0), w0, &ops)?;
        run_ops("meta-sgd-hd", meta_over(sgd_hd(lr, beta), lr), meta_over(sgd_hd(lr, beta), lr), w0, &ops)?;
        run_ops("meta-adam-hd", meta_over(adam(), lr), meta_over(adam(), lr), w0, &ops)?;
    }

    /// A schedule of `lr` from any rate to any rate (0 included for hypergradient descent)
    /// with refused steps among the others: a refused step leaves the optimizer as it was (its
    /// checkpoint, step count included), every step is finite.
    #[test]
    fn schedules_at_the_boundaries(
        from in rate(),
        to in prop_oneof![Just(0.0f32), rate()],
        steps in 1u64..8,
        w0 in start(),
        ops in ops(),
    ) {
        fn run<O: Optimizer + Checkpoint>(
            what: &str,
            mut opt: Scheduled<O>,
            w0: f32,
            ops: &[Op],
        ) -> Result<(), TestCaseError> {
            let mut w = [w0, -w0];
            for op in ops.iter().filter(|op| !matches!(op, Op::Lr(_))) {
                let before = (opt.save().unwrap(), bits(&w));
                if apply(&mut opt, &mut w, op).is_err() {
                    prop_assert_eq!(&(opt.save().unwrap(), bits(&w)), &before, "{}: {:?}", what, op);
                }
                prop_assert!(w.iter().all(|x| x.is_finite()), "{}: {:?} → {:?}", what, op, w);
            }
            Ok(())
        }
        let lr = Linear::new(from, to, steps).unwrap();
        run("sgd-hd", Scheduled::new(sgd_hd(from, 1e30)).schedule("lr", lr).unwrap(), w0, &ops)?;
        run("adam-hd", Scheduled::new(adam_hd(from, 1e30)).schedule("lr", lr).unwrap(), w0, &ops)?;
        let meta = meta_over(sgd_hd(from, 1e30), from);
        run("meta-sgd-hd", Scheduled::new(meta).schedule("lr", lr).unwrap(), w0, &ops)?;
        if to > 0.0 {
            run("rprop", Scheduled::new(rprop(from)).schedule("lr", lr).unwrap(), w0, &ops)?;
            let meta = meta_over(rprop(from), from);
            run("meta-rprop", Scheduled::new(meta).schedule("lr", lr).unwrap(), w0, &ops)?;
        }
    }
}
