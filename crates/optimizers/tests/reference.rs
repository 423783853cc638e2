//! The learning-rate-free peers against their reference implementations, number for number.
//!
//! `tests/fixtures/reference/` holds one gradient sequence for three tensors (1, 7 and 5,000
//! coordinates) and, per case, the parameters the reference implementation (prodigyopt,
//! dadaptation, dog-optimizer, schedulefree, mechanic-pytorch, optax) reached after every step,
//! written by `tools/reference/generate.py`. Each case replays the sequence through the
//! `trajectory` example's own `replay` (what the command line runs) and requires every
//! parameter, at every step, within 1e−5 of the largest magnitude of its tensor in the
//! reference (float32 both sides; the references sum in another order and fuse some
//! multiply-adds). The 5,000-coordinate tensor is compared at every 25th coordinate per step
//! and in full after the last.

use std::collections::BTreeMap;

#[path = "../examples/trajectory.rs"]
mod trajectory;

use trajectory::{parse_grads, parse_init, replay, Named};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference");
const TOLERANCE: f64 = 1e-5;

#[derive(serde::Deserialize)]
struct Case {
    spec: String,
    stride: usize,
    steps: Vec<Values>,
    #[serde(rename = "final")]
    last: Values,
    #[serde(default)]
    eval: Option<Vec<Values>>,
    /// The reference run on float64 tensors (torch cases).
    #[serde(default)]
    steps64: Option<Vec<Values>>,
    /// Its parameters after the last step, in full.
    #[serde(default)]
    final64: Option<Values>,
}

type Values = BTreeMap<String, Vec<f64>>;

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{DIR}/{name}.json"))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// The largest |a − b| over a tensor, relative to the largest |b|.
fn worst(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-30);
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

/// Per tensor, how far the reference's float64 run (`exact`) is from the reference (`want`).
fn noise(exact: Option<&Values>, want: &Values) -> BTreeMap<String, f64> {
    want.iter()
        .map(|(k, w)| {
            (
                k.clone(),
                exact.and_then(|e| e.get(k)).map_or(0.0, |e| worst(e, w)),
            )
        })
        .collect()
}

/// Every tensor of `got` (every `stride`-th coordinate of `weight` unless `full`) against
/// `want`: within [`TOLERANCE`] of the tensor's scale, or within twice the distance `noise` of
/// the reference's float64 run from the reference, where rounding alone moves it more.
fn compare(
    case: &str,
    what: &str,
    got: &Named,
    want: &Values,
    noise: &BTreeMap<String, f64>,
    stride: usize,
    full: bool,
) {
    for (name, want) in want {
        let got = got
            .get(name)
            .unwrap_or_else(|| panic!("{case} {what}: no tensor `{name}`"));
        let got: Vec<f64> = if name == "weight" && !full {
            got.iter().step_by(stride).map(|&x| x as f64).collect()
        } else {
            got.iter().map(|&x| x as f64).collect()
        };
        assert_eq!(got.len(), want.len(), "{case} {what} `{name}`: length");
        let err = worst(&got, want);
        let noise = noise.get(name).copied().unwrap_or(0.0);
        if std::env::var("REF_REPORT").is_ok() {
            println!("REPORT {case} | {what} | {name} | err {err:.2e} | f64 {noise:.2e}");
        }
        assert!(
            err <= TOLERANCE.max(2.0 * noise),
            "{case} {what} `{name}`: off by {err:e} of the tensor's scale (the reference's float64 run is off by {noise:e})\n  lrmem {:?}\n  reference {:?}",
            &got[..got.len().min(8)],
            &want[..want.len().min(8)]
        );
    }
}

/// Replays the fixture `file` and compares every step.
fn check(file: &str) {
    let init = parse_init(&read("init")).unwrap();
    let grads = parse_grads(&read("grads")).unwrap();
    let case: Case = serde_json::from_str(&read(file)).unwrap();
    let steps = replay(&case.spec, &init, &grads).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_eq!(steps.len(), case.steps.len(), "{file}: steps");
    for (t, (got, want)) in steps.iter().zip(&case.steps).enumerate() {
        let noise = noise(case.steps64.as_ref().map(|s| &s[t]), want);
        let what = format!("step {}", t + 1);
        compare(file, &what, &got.params, want, &noise, case.stride, false);
    }
    let last = steps.last().expect("fixtures have steps");
    let noise = noise(case.final64.as_ref(), &case.last);
    compare(
        file,
        "after the last step",
        &last.params,
        &case.last,
        &noise,
        case.stride,
        true,
    );
    if let Some(eval) = &case.eval {
        for (t, (got, want)) in steps.iter().zip(eval).enumerate() {
            let what = format!("eval point after step {}", t + 1);
            compare(
                file,
                &what,
                &got.eval,
                want,
                &BTreeMap::new(),
                case.stride,
                false,
            );
        }
    } else {
        assert!(
            last.eval.is_empty(),
            "{file}: an eval point the reference does not have"
        );
    }
}

/// One test per fixture.
macro_rules! fixtures {
    ($($test:ident => $file:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                check($file);
            }
        )*
    };
}

fixtures! {
    prodigy => "prodigy",
    prodigy_options => "prodigy-options",
    prodigy_coupled => "prodigy-coupled",
    // Baydin's AdamHD with one parameter group per tensor: lrmem's α is per tensor, the
    // reference's per group (updated tensor by tensor within a step when a group has several).
    adam_hd => "adam-hd",
}
fixtures! {
    dog => "dog",
    dog_options => "dog-options",
    dog_init_eta => "dog-init-eta",
    ldog => "ldog",
}
fixtures! {
    cocob => "cocob",
    cocob_options => "cocob-options",
}
fixtures! {
    mechanic_sgd => "mechanic-sgd",
    mechanic_adam => "mechanic-adam",
    mechanic_adam_options => "mechanic-adam-options",
}
fixtures! {
    sf_sgd => "sf-sgd",
    sf_sgd_options => "sf-sgd-options",
    sf_adamw => "sf-adamw",
    sf_adamw_options => "sf-adamw-options",
}
fixtures! {
    dadapt_adam => "dadapt-adam",
    dadapt_adam_options => "dadapt-adam-options",
    dadapt_sgd => "dadapt-sgd",
    dadapt_sgd_options => "dadapt-sgd-options",
}

#[test]
fn replay_errors_say_what_is_wrong() {
    let init = parse_init(r#"{"w": [1.0, 2.0]}"#).unwrap();
    let grads = parse_grads(r#"[{"w": [0.1, 0.2]}, {"v": [0.1]}]"#).unwrap();
    let err = replay("prodigy", &init, &grads).unwrap_err();
    assert!(err.contains("step 2") && err.contains("`v`"), "{err}");
    let grads = parse_grads(r#"[{"w": [0.1]}]"#).unwrap();
    let err = replay("prodigy", &init, &grads).unwrap_err();
    assert!(err.contains("step 1") && err.contains("`w`"), "{err}");
    assert!(replay("no-such-optimizer", &init, &grads)
        .unwrap_err()
        .contains("no-such-optimizer"));
    assert!(parse_init("{\"w\": [1.0,").is_err());
    assert!(parse_grads("{\"w\": [1.0]}").unwrap_err().contains("GRADS"));
}
