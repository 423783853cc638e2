//! After every `Ok` step, the state of every learning-rate-free peer saves and loads back
//! identically and shows only finite values, whatever the gradients (up to ±`MAX_GRADIENT`)
//! and the hyperparameters at the ends of their valid ranges: the combinations where each value
//! is valid alone but a product of them and the state leaves f32 (docs/algorithm.md §12).

use lrmem_optimizers::{
    Built, Checkpoint, Field, Groups, Inspect, Optimizer, OptimizerSpec, Prodigy, ProdigyConfig,
    StateView, Tensor, MAX_GRADIENT,
};

/// Every value of a view is finite (a count or a name is).
fn finite_view(view: &StateView<'_>) -> Result<(), String> {
    let all = view
        .tensors
        .iter()
        .chain(&view.memories)
        .flat_map(|(t, f)| f.iter().map(move |(k, v)| (t.as_str(), k, v)))
        .chain(view.model.iter().map(|(k, v)| ("model", k, v)));
    for (t, k, v) in all {
        let ok = match v {
            Field::Values(x) => x.iter().all(|x| x.is_finite()),
            Field::Scalar(x) => x.is_finite(),
            _ => true,
        };
        if !ok {
            return Err(format!("`{t}`.`{k}` = {v:?}"));
        }
    }
    Ok(())
}

/// The state after an `Ok` step saves, loads into `fresh` and saves again to the same bytes.
fn round_trip<O: Checkpoint>(opt: &O, fresh: &mut O) -> Result<(), String> {
    let bytes = opt.save().map_err(|e| format!("save: {e}"))?;
    fresh.load(&bytes).map_err(|e| format!("load: {e}"))?;
    let again = fresh.save().map_err(|e| format!("save again: {e}"))?;
    if again != bytes {
        return Err("the loaded state saves to other bytes".into());
    }
    Ok(())
}

/// The view's check, for optimizers that have one.
fn viewed<O: Inspect>(opt: &O) -> Result<(), String> {
    finite_view(&opt.state())
}

/// Steps `opt` on a two-tensor model with gradients `grad(step, coordinate)`; after every `Ok`
/// step the state must round-trip and the parameters stay finite. Returns the `Ok` steps.
fn drive<O: Optimizer + Checkpoint>(
    opt: O,
    fresh: impl FnMut() -> O,
    view: fn(&O) -> Result<(), String>,
    steps: usize,
    grad: impl Fn(usize, usize) -> f32,
) -> Result<usize, String> {
    drive_from(opt, fresh, view, steps, grad, (vec![0.5; 4], vec![-1.0; 3]))
}

/// The parameters of the two-tensor model.
type Params = (Vec<f32>, Vec<f32>);

/// A gradient pattern: g(step, coordinate).
type Pattern = fn(usize, usize) -> f32;

/// [`drive`] from the parameters `(a, b)`.
fn drive_from<O: Optimizer + Checkpoint>(
    mut opt: O,
    mut fresh: impl FnMut() -> O,
    view: fn(&O) -> Result<(), String>,
    steps: usize,
    grad: impl Fn(usize, usize) -> f32,
    (mut a, mut b): Params,
) -> Result<usize, String> {
    let mut ok = 0;
    for t in 0..steps {
        let ga: Vec<f32> = (0..4).map(|d| grad(t, d)).collect();
        let gb: Vec<f32> = (0..3).map(|d| grad(t, d + 4)).collect();
        let res =
            opt.step_model(&mut [Tensor::new("a", &mut a, &ga), Tensor::new("b", &mut b, &gb)]);
        if res.is_err() {
            continue;
        }
        ok += 1;
        round_trip(&opt, &mut fresh())
            .and_then(|()| view(&opt))
            .map_err(|e| format!("after Ok step {t}: {e}"))?;
        if !a.iter().chain(&b).all(|x| x.is_finite()) {
            return Err(format!("after Ok step {t}: parameters {a:?} {b:?}"));
        }
    }
    Ok(ok)
}

/// Prodigy with g = 1e18 on every coordinate: d and the running numerator r grow past f32's
/// range (d is capped at `D_LIMIT` = 1e100 in f64). Before, after 27 `Ok` steps the view showed
/// r = ∞ and the checkpoint did not load (its scalars were checked as f32); also under
/// `Groups`.
#[test]
fn prodigy_saturated_state_loads_back() {
    let g = |_: usize, _: usize| 1e18f32;
    let new = || Prodigy::new(ProdigyConfig::default()).unwrap();
    let ok = drive(new(), new, viewed, 60, g).unwrap();
    assert!(ok >= 27, "{ok} Ok steps");
    let groups = || Groups::new(Built::new(new()));
    drive(groups(), groups, |_| Ok(()), 60, g).unwrap();
}

/// The learning-rate-free peers at the ends of their hyperparameters' ranges, on gradients at
/// ±`MAX_GRADIENT`, tiny ones, and both mixed: every `Ok` step leaves a state that loads back.
#[test]
fn peers_at_the_ends_of_their_ranges_load_back() {
    let specs = [
        "prodigy",
        "prodigy:d0=1e-30",
        "prodigy:d0=1e6,weight_decay=1e6,decouple=false",
        "prodigy:d0=1e6,lr=1e6,weight_decay=1e-6",
        "prodigy:d_coef=1e6,use_bias_correction=true,safeguard_warmup=true",
        "prodigy:beta1=0,eps=1e-30",
        "dadapt-adam",
        "dadapt-adam:d0=1e6,lr=1e6",
        "dadapt-adam:d0=1e-30,weight_decay=1e6,use_bias_correction=true",
        "dadapt-sgd",
        "dadapt-sgd:d0=1e6,lr=1e6,momentum=0.99",
        "dadapt-sgd:d0=1e-30,weight_decay=1e6",
        "dog",
        "dog:reps_rel=1e6,lr=1e6",
        "dog:reps_rel=1e-30,weight_decay=1e6,eps=1e-30",
        "dog:init_eta=1e6",
        "ldog",
        "ldog:reps_rel=1e6,lr=1e6",
        "sf-sgd",
        "sf-sgd:lr=1e6,warmup_steps=3",
        "sf-sgd:lr=1e-30,r=10,weight_lr_power=10",
        "sf-adamw",
        "sf-adamw:lr=1e6,warmup_steps=3",
        "sf-adamw:lr=1e-30,r=10,weight_lr_power=10,eps=1e-30",
        "cocob",
        "cocob:alpha=1e-30",
        "cocob:alpha=1e6,eps=1e-30,lr=1e6",
        "mechanic-sgd",
        "mechanic-sgd:lr=1e6,s_init=1e6",
        "mechanic-adam:s_init=1e-30,s_decay=1e6,lr=1e6",
        "mechanic-adam:s_eps=1e-30,s_init=1e6",
    ];
    let patterns: [(&str, Pattern); 6] = [
        ("max", |_, _| MAX_GRADIENT),
        ("alternating max", |t, d| {
            if (t + d) % 2 == 0 {
                MAX_GRADIENT
            } else {
                -MAX_GRADIENT
            }
        }),
        ("tiny", |t, d| 1e-30 * (1.0 + ((t + d) % 3) as f32)),
        (
            "max then tiny",
            |t, _| if t < 10 { MAX_GRADIENT } else { 1e-30 },
        ),
        (
            "tiny then max",
            |t, _| if t < 10 { 1e-30 } else { MAX_GRADIENT },
        ),
        ("mixed", |t, d| {
            if d % 2 == 0 {
                MAX_GRADIENT
            } else {
                1e-30 * if t % 3 == 0 { -1.0 } else { 1.0 }
            }
        }),
    ];
    let mut failures = Vec::new();
    for spec in specs {
        let parsed: OptimizerSpec = match spec.parse() {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{spec}: {e}"));
                continue;
            }
        };
        let build = || parsed.build();
        if let Err(e) = build() {
            failures.push(format!("{spec}: refused ({e})"));
            continue;
        }
        for (name, g) in patterns {
            let new = || build().unwrap();
            if let Err(e) = drive(new(), new, viewed, 40, g) {
                failures.push(format!("{spec}, {name}: {e}"));
            }
            // Parameters at f32's ends: distances and norms of x − x₀ leave f32.
            let huge: Params = (vec![3e38, -3e38, 1e-30, 0.0], vec![1e30, -1.0, 1e-38]);
            if let Err(e) = drive_from(new(), new, viewed, 40, g, huge) {
                failures.push(format!("{spec}, {name}, huge parameters: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `meta-sgd:clip=1e-16` on a 4,096-coordinate tensor: every parameter stays finite and moves
/// by the memory's rate (before, the prediction table's cubics overflowed f32 and 2,048
/// parameters became NaN after an `Ok` step); a clip whose kernel width leaves f32 is refused
/// when the spec is built, naming `clip`.
#[test]
fn meta_with_tiny_clip_steps_finite() {
    for clip in ["1e-15", "1e-16", "1e-17"] {
        let mut opt = format!("meta-sgd:clip={clip}")
            .parse::<OptimizerSpec>()
            .unwrap()
            .build()
            .unwrap();
        let mut w = vec![1.0f32; 4096];
        for t in 0..4 {
            let g: Vec<f32> = (0..4096)
                .map(|d| if (d + t) % 2 == 0 { 1e-19 } else { -3e-17 })
                .collect();
            opt.step("w", &mut w, &g).unwrap();
            let bad = w.iter().filter(|x| !x.is_finite()).count();
            assert_eq!(bad, 0, "clip {clip}, step {t}: {bad} parameters not finite");
        }
    }
    for clip in ["1e-20", "1e-30", "1e30"] {
        let err = format!("meta-sgd:clip={clip}")
            .parse::<OptimizerSpec>()
            .unwrap()
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains("clip"), "{clip}: {err}");
    }
}
