//! Every promise under any input, checked at volume: structured fuzzing of checkpoints, configs
//! and gradient streams, and a long adversarial soak, for every optimizer of the registry. The
//! command lines are `cargo xtask fuzz` and `cargo xtask soak` (`src/bin/robust.rs`).
//!
//! The promises (README, "Bad input"): nothing panics; an error leaves parameters and state as
//! they were (the optimizer's checkpoint bytes are compared); after a step that returns `Ok`,
//! parameters and every θ are finite and θ lies in its bounds; memory use stays flat over a
//! long run. Fuzzing here is structured mutation with a seeded generator on the pinned stable
//! toolchain (coverage-guided fuzzers need a nightly or a toolchain this project cannot use):
//! the mutations aim at what the decoders and validators must refuse, and a mutated checkpoint
//! gets its checksum recomputed half of the time so that it reaches the decoder rather than
//! stopping at the CRC.
//!
//! Every run takes a seed and reproduces bit for bit.

use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};

use lrmem_optimizers::{registry, Built, Checkpoint, Optimizer, OptimizerSpec, Tensor};

/// A small deterministic generator (xorshift64*): fuzzing must reproduce from its seed alone.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value, 0 included).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f32) -> bool {
        self.unit() < p
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Values that break numerical code: zeros, denormals, bounds of every kind, NaN and ∞.
const HOSTILE: [f32; 22] = [
    0.0,
    -0.0,
    1e-45,
    1e-38,
    1e-20,
    1e-9,
    1e-6,
    0.5,
    0.9,
    0.999,
    1.0,
    1.0000001,
    1.5,
    10.0,
    1e6,
    1e7,
    1e18,
    1e21,
    f32::MAX,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
];

/// A gradient coordinate: mostly ordinary, sometimes hostile (either sign).
fn coordinate(rng: &mut Rng, hostile: f32) -> f32 {
    if rng.chance(hostile) {
        let x = *rng.pick(&HOSTILE);
        if rng.chance(0.5) {
            -x
        } else {
            x
        }
    } else {
        (rng.unit() * 2.0 - 1.0) * *rng.pick(&[1e-4f32, 1e-2, 0.3, 1.0, 5.0])
    }
}

/// What one target found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    /// The target's name.
    pub target: String,
    /// Cases run.
    pub cases: u64,
    /// Cases the optimizer accepted (a load, build or step that returned `Ok`).
    pub accepted: u64,
    /// Cases it refused with an error (and, as checked, without any change).
    pub refused: u64,
    /// Broken promises, each with enough to reproduce it (at most 20 kept).
    pub failures: Vec<String>,
    /// Total broken promises.
    pub failed: u64,
}

impl Found {
    fn new(target: &str) -> Found {
        Found {
            target: target.to_owned(),
            ..Found::default()
        }
    }

    /// Counts one case, accepted or refused.
    fn count(&mut self, accepted: bool) {
        self.cases += 1;
        if accepted {
            self.accepted += 1;
        } else {
            self.refused += 1;
        }
    }

    fn fail(&mut self, what: String) {
        self.failed += 1;
        if self.failures.len() < 20 {
            self.failures.push(what);
        }
    }
}

/// The fuzz targets, by name: `checkpoints`, `configs`, `gradients`.
pub const TARGETS: [&str; 3] = ["checkpoints", "configs", "gradients"];

/// Runs fuzz target `target` for `cases` cases from `seed`.
pub fn fuzz(target: &str, cases: u64, seed: u64) -> Option<Found> {
    let mut rng = Rng::new(seed);
    Some(match target {
        "checkpoints" => fuzz_checkpoints(&mut rng, cases),
        "configs" => fuzz_configs(&mut rng, cases),
        "gradients" => fuzz_gradients(&mut rng, cases),
        _ => return None,
    })
}

/// The two tensors every target steps: `a` (5 coordinates) and `b` (3).
struct Model {
    a: Vec<f32>,
    b: Vec<f32>,
}

impl Model {
    fn new() -> Model {
        Model {
            a: vec![0.5, -0.25, 1.0, 0.0, -2.0],
            b: vec![0.75, -1.5, 0.1],
        }
    }
}

/// One step of each tensor of the model (`a`, then `b`), each checked against the promises; a
/// model step is accepted if both are.
fn checked_step(
    opt: &mut Built,
    model: &mut Model,
    grads: (&[f32], &[f32]),
    found: &mut Found,
    case: &str,
) -> bool {
    let a = checked_tensor_step(opt, "a", &mut model.a, grads.0, found, case);
    let b = checked_tensor_step(opt, "b", &mut model.b, grads.1, found, case);
    a && b
}

/// One tensor step, checked: a panic, an error that changed the state or the parameters (the
/// promise holds per call of `Optimizer::step` as of `step_model`, which checks every tensor
/// before it moves any),
/// or non-finite parameters or θ after `Ok` is a failure. Returns whether it was accepted.
fn checked_tensor_step(
    opt: &mut Built,
    name: &str,
    params: &mut Vec<f32>,
    grads: &[f32],
    found: &mut Found,
    case: &str,
) -> bool {
    let before = opt.save();
    // Bits, so that a refused NaN parameter compares equal to itself.
    let bits = |w: &[f32]| w.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let kept = bits(params);
    let result = catch_unwind(AssertUnwindSafe(|| opt.step(name, params, grads)));
    match result {
        Err(_) => {
            found.fail(format!("{case}: step panicked"));
            false
        }
        Ok(Err(e)) => {
            if opt.save().ok() != before.ok() || bits(params) != kept {
                found.fail(format!(
                    "{case}: a refused step of `{name}` changed the state or parameters ({e})"
                ));
            }
            false
        }
        Ok(Ok(())) => {
            if !params.iter().all(|x| x.is_finite()) {
                found.fail(format!("{case}: `{name}` not finite after Ok: {params:?}"));
            }
            let floor = theta_floor(case);
            for (key, theta) in opt.memory_thetas() {
                if !theta.iter().all(|t| t.is_finite() && *t >= floor) {
                    found.fail(format!(
                        "{case}: θ of `{key}` not finite, or below {floor}, after Ok: {theta:?}"
                    ));
                }
            }
            true
        }
    }
}

/// The least θ a case's memories may hold: 0, or the negative `theta_min` its spec (quoted in
/// the case's label, as the config fuzzer writes it) configures — a negative floor is allowed
/// on purpose (MAML's inner rate) and still bounds θ.
fn theta_floor(case: &str) -> f32 {
    case.split("theta_min=")
        .nth(1)
        .and_then(|rest| rest.split([',', '`', ' ']).next())
        .and_then(|v| v.parse::<f32>().ok())
        .map_or(0.0, |v| v.min(0.0))
}

/// Ordinary gradients for the model.
fn ordinary(rng: &mut Rng) -> (Vec<f32>, Vec<f32>) {
    (
        (0..5).map(|_| coordinate(rng, 0.0)).collect(),
        (0..3).map(|_| coordinate(rng, 0.0)).collect(),
    )
}

/// Every optimizer of the registry at its defaults, and with `non_finite=skip`.
fn every_optimizer() -> Vec<String> {
    registry()
        .iter()
        .flat_map(|e| [e.name.to_owned(), format!("{}:non_finite=skip", e.name)])
        .collect()
}

/// CRC-32C of `data`, the checksum of lrmem's envelope (memory-core's persist module).
fn crc32c(data: &[u8]) -> u32 {
    const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
    CRC.checksum(data)
}

/// Checkpoints of every optimizer, mutated (bit flips, random bytes, truncation, insertion,
/// deletion, duplication, splicing with another optimizer's), half of them with a recomputed
/// checksum, loaded into a fresh optimizer of the same kind: a load must not panic, a refused
/// load must change nothing, and an accepted one must step to finite values.
fn fuzz_checkpoints(rng: &mut Rng, cases: u64) -> Found {
    let mut found = Found::new("checkpoints");
    let specs = every_optimizer();
    let saved: Vec<(String, Vec<u8>)> = specs
        .iter()
        .map(|s| {
            let mut opt = build(s).expect("registry defaults build");
            let mut model = Model::new();
            let mut g = Rng::new(7);
            for _ in 0..4 {
                let (ga, gb) = ordinary(&mut g);
                let _ = opt.step_model(&mut [
                    Tensor::new("a", &mut model.a, &ga),
                    Tensor::new("b", &mut model.b, &gb),
                ]);
            }
            (s.clone(), opt.save().expect("a checkpoint"))
        })
        .collect();
    for case in 0..cases {
        let (spec, original) = &saved[rng.below(saved.len())];
        let mut bytes = original.clone();
        for _ in 0..1 + rng.below(3) {
            mutate(rng, &mut bytes, &saved);
        }
        if rng.chance(0.5) && bytes.len() > 12 {
            let n = bytes.len() - 4;
            let sum = crc32c(&bytes[..n]).to_le_bytes();
            bytes[n..].copy_from_slice(&sum);
        }
        let mut opt = build(spec).expect("registry defaults build");
        let before = opt.save().ok();
        let tag = format!("case {case} ({spec}, {} bytes)", bytes.len());
        found.cases += 1;
        match catch_unwind(AssertUnwindSafe(|| opt.load(&bytes))) {
            Err(_) => found.fail(format!("{tag}: load panicked")),
            Ok(Err(_)) => {
                found.refused += 1;
                if opt.save().ok() != before {
                    found.fail(format!("{tag}: a refused load changed the state"));
                }
            }
            Ok(Ok(())) => {
                found.accepted += 1;
                let mut model = Model::new();
                for _ in 0..3 {
                    let (ga, gb) = ordinary(rng);
                    checked_step(&mut opt, &mut model, (&ga, &gb), &mut found, &tag);
                }
            }
        }
    }
    found
}

/// One structural mutation of `bytes`.
fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>, others: &[(String, Vec<u8>)]) {
    let n = bytes.len().max(1);
    match rng.below(7) {
        0 => {
            let i = rng.below(n).min(bytes.len().saturating_sub(1));
            if let Some(b) = bytes.get_mut(i) {
                *b ^= 1 << rng.below(8);
            }
        }
        1 => {
            let i = rng.below(n).min(bytes.len().saturating_sub(1));
            if let Some(b) = bytes.get_mut(i) {
                *b = rng.next_u64() as u8;
            }
        }
        2 => bytes.truncate(rng.below(n)),
        3 => {
            let i = rng.below(bytes.len() + 1);
            bytes.insert(i, rng.next_u64() as u8);
        }
        4 => {
            if !bytes.is_empty() {
                bytes.remove(rng.below(bytes.len()));
            }
        }
        5 => {
            let (i, len) = (rng.below(n), 1 + rng.below(16));
            let piece: Vec<u8> = bytes.iter().skip(i).take(len).copied().collect();
            let at = rng.below(bytes.len() + 1);
            bytes.splice(at..at, piece);
        }
        _ => {
            let other = &rng.pick(others).1;
            let cut = rng.below(bytes.len().min(other.len()) + 1);
            bytes.truncate(cut);
            bytes.extend_from_slice(&other[cut.min(other.len())..]);
        }
    }
}

fn build(spec: &str) -> Option<Built> {
    spec.parse::<OptimizerSpec>().ok()?.build().ok()
}

/// Random specs for every optimizer (random keys of its entry, hostile and ordinary values,
/// the text of a number or of a word): parsing and building must not panic; a built optimizer
/// must keep its promises over ten steps of ordinary and hostile gradients.
fn fuzz_configs(rng: &mut Rng, cases: u64) -> Found {
    let mut found = Found::new("configs");
    let entries = registry();
    for case in 0..cases {
        let entry = rng.pick(entries);
        let mut spec = entry.name.to_owned();
        let picks = rng.below(4);
        for i in 0..picks {
            let key = rng.pick(entry.keys);
            let value = match rng.below(6) {
                0 => key.default.to_owned(),
                1 => rng
                    .pick(&[
                        "sgd", "adam", "momentum", "sign", "clipped", "log", "linear", "skip",
                        "error", "inf", "-1", "", "true", "1e999",
                    ])
                    .to_string(),
                2 => format!(
                    "{}",
                    (rng.unit() * 2.0 - 1.0) * 10f32.powi(rng.below(12) as i32 - 6)
                ),
                _ => {
                    let x = *rng.pick(&HOSTILE);
                    format!("{}", if rng.chance(0.3) { -x } else { x })
                }
            };
            spec.push(if i == 0 { ':' } else { ',' });
            let _ = write!(spec, "{}={value}", key.name);
        }
        found.cases += 1;
        let built = catch_unwind(AssertUnwindSafe(|| build(&spec)));
        let mut opt = match built {
            Err(_) => {
                found.fail(format!("case {case}: `{spec}` panicked while building"));
                continue;
            }
            Ok(None) => {
                found.refused += 1;
                continue;
            }
            Ok(Some(opt)) => opt,
        };
        found.accepted += 1;
        let mut model = Model::new();
        for _ in 0..10 {
            let ga: Vec<f32> = (0..5).map(|_| coordinate(rng, 0.1)).collect();
            let gb: Vec<f32> = (0..3).map(|_| coordinate(rng, 0.1)).collect();
            checked_step(
                &mut opt,
                &mut model,
                (&ga, &gb),
                &mut found,
                &format!("case {case}: `{spec}`"),
            );
        }
    }
    found
}

/// Adversarial gradient streams for every optimizer, with and without weight decay (NaN, ±∞,
/// huge, denormal, zero and wrong lengths among ordinary values, and now and then a hostile
/// parameter): every step keeps the promises.
fn fuzz_gradients(rng: &mut Rng, cases: u64) -> Found {
    let mut found = Found::new("gradients");
    let mut specs = every_optimizer();
    specs.extend(
        [
            "sgd:weight_decay=0.5",
            "sgd:weight_decay=0.5,momentum=0.9",
            "adam:weight_decay=0.5",
            "adam:weight_decay=0.5,decoupled=true",
            "meta-sgd:weight_decay=0.5",
            "meta-adam:weight_decay=0.5",
            "meta-adam:weight_decay=0.5,decoupled=true",
        ]
        .map(String::from),
    );
    let mut case = 0;
    while case < cases {
        let spec = rng.pick(&specs).clone();
        let mut opt = build(&spec).expect("registry defaults build");
        let mut model = Model::new();
        let hostile = *rng.pick(&[0.0f32, 0.01, 0.1, 0.5, 1.0]);
        for _ in 0..50 {
            if case >= cases {
                break;
            }
            let la = if rng.chance(0.02) { rng.below(8) } else { 5 };
            let ga: Vec<f32> = (0..la).map(|_| coordinate(rng, hostile)).collect();
            let gb: Vec<f32> = (0..3).map(|_| coordinate(rng, hostile)).collect();
            if rng.chance(0.02) {
                // A diverged parameter: hostile, or far out.
                let i = rng.below(model.a.len());
                model.a[i] = coordinate(rng, 1.0);
            }
            let tag = format!("step {case} of `{spec}`");
            let accepted = checked_step(&mut opt, &mut model, (&ga, &gb), &mut found, &tag);
            found.count(accepted);
            // The caller restarts a parameter that did not come back finite.
            for w in model.a.iter_mut().filter(|w| !w.is_finite()) {
                *w = 0.5;
            }
            case += 1;
        }
    }
    found
}

/// What a soak of one optimizer found.
#[derive(Debug, Clone, PartialEq)]
pub struct Soaked {
    /// The optimizer's spec.
    pub spec: String,
    /// Steps taken, accepted and refused, and promises broken.
    pub found: Found,
    /// Resident memory (bytes) after the first tenth of the steps and at the end, where the
    /// platform reports it (`/proc/self/statm`).
    pub resident: Option<(u64, u64)>,
}

/// `steps` whole-model steps of every optimizer (with `non_finite=skip`, so that a stream with
/// hostile values runs on) on a tensor of 256 coordinates and one of 3: gradients of a quadratic
/// with noise, a hostile coordinate now and then, bursts of huge and tiny ones; every step checked.
pub fn soak(steps: u64, seed: u64) -> Vec<Soaked> {
    registry()
        .iter()
        .map(|entry| {
            let spec = format!("{}:non_finite=skip", entry.name);
            let mut rng = Rng::new(seed ^ entry.name.len() as u64);
            let mut opt = build(&spec).expect("registry defaults build");
            let mut found = Found::new(entry.name);
            let (mut a, mut b) = (vec![0.5f32; 256], vec![0.0f32; 3]);
            let mut early = None;
            for t in 0..steps {
                let burst = (t / 1000) % 10 == 9;
                let scale = if burst {
                    *rng.pick(&[1e-30f32, 1e12, 1e17])
                } else {
                    1.0
                };
                let ga: Vec<f32> = a
                    .iter()
                    .map(|w| {
                        if rng.chance(1e-3) {
                            *rng.pick(&HOSTILE)
                        } else {
                            scale * (w - 0.3 + 0.1 * (rng.unit() - 0.5))
                        }
                    })
                    .collect();
                let gb: Vec<f32> = b.iter().map(|w| w + 0.2 * (rng.unit() - 0.5)).collect();
                let mut model = Model { a, b };
                let tag = format!("{spec} step {t}");
                let accepted = checked_step(&mut opt, &mut model, (&ga, &gb), &mut found, &tag);
                found.count(accepted);
                Model { a, b } = model;
                if t == steps / 10 {
                    early = resident();
                }
            }
            Soaked {
                spec,
                found,
                resident: early.zip(resident()),
            }
        })
        .collect()
}

/// Resident memory of this process in bytes, where `/proc/self/statm` exists.
fn resident() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// The fuzz results as a markdown table.
pub fn fuzz_markdown(found: &[Found], seed: u64) -> String {
    let mut out = String::from(
        "| target | cases | accepted | refused | broken promises |\n|---|---:|---:|---:|---:|\n",
    );
    for f in found {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            f.target, f.cases, f.accepted, f.refused, f.failed
        );
    }
    let _ = writeln!(out, "\nSeed {seed}.");
    failures(&mut out, found.iter());
    out
}

/// The soak results as a markdown table.
pub fn soak_markdown(soaked: &[Soaked], steps: u64, seed: u64) -> String {
    let mut out = String::from(
        "| optimizer | steps | accepted | refused | broken promises | resident at 10% → end |\n|---|---:|---:|---:|---:|---|\n",
    );
    for s in soaked {
        let mem = s.resident.map_or_else(
            || "n/a".to_owned(),
            |(a, b)| {
                format!(
                    "{:.1} → {:.1} MiB",
                    a as f64 / 1048576.0,
                    b as f64 / 1048576.0
                )
            },
        );
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {mem} |",
            s.spec, s.found.cases, s.found.accepted, s.found.refused, s.found.failed
        );
    }
    let _ = writeln!(out, "\n{steps} steps per optimizer, seed {seed}.");
    failures(&mut out, soaked.iter().map(|s| &s.found));
    out
}

fn failures<'a>(out: &mut String, found: impl Iterator<Item = &'a Found>) {
    for f in found {
        for what in &f.failures {
            let _ = writeln!(out, "- {}: {what}", f.target);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each target runs, reproduces from its seed, and keeps every promise on a small budget.
    #[test]
    fn targets_run_clean_and_reproduce() {
        for target in TARGETS {
            let a = fuzz(target, 300, 5).unwrap();
            assert_eq!(a, fuzz(target, 300, 5).unwrap(), "{target}");
            assert_eq!(a.cases, 300, "{target}");
            assert_eq!(a.failed, 0, "{target}: {:?}", a.failures);
            assert!(a.accepted > 0 && a.refused > 0, "{target}: {a:?}");
        }
        assert!(fuzz("nothing", 1, 0).is_none());
        // θ's floor: 0 unless a case configures a negative theta_min.
        assert_eq!(
            theta_floor("case 3: `meta-sgd:theta_min=-1.5,xi=0.1`"),
            -1.5
        );
        assert_eq!(theta_floor("case 3: `meta-sgd:theta_min=1e-9`"), 0.0);
        assert_eq!(theta_floor("gradients case 7"), 0.0);
        for s in soak(300, 1) {
            assert_eq!(s.found.failed, 0, "{}: {:?}", s.spec, s.found.failures);
        }
    }
}
