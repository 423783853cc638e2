//! The AFL++ harness of `cargo xtask fuzz --coverage` (docs/guide.md §11): arbitrary bytes into
//! every loader of saved state and into the spec parser, with the promises of §11 checked on
//! whatever they accept. A broken promise is a `panic!`, which AFL++ counts as a crash.
//!
//! The first byte of an input picks the target, the rest is what that target reads:
//!
//! | first byte | target |
//! |---|---|
//! | 0 | an optimizer spec's text: parse, print and parse back, build, step, save and load |
//! | 1 | `Memory::from_bytes` |
//! | 2 | `ContextMemory::from_bytes` |
//! | 3 | `L2lWeights::load` (the file behind `l2l:weights=PATH`) |
//! | 4 + i | `Checkpoint::load` into registry entry i (mod the registry's length), built from its defaults and stepped |
//!
//! `lrmem-fuzz --seed-corpus DIR` writes the starting corpus: valid inputs for every target,
//! generated from the registry (no hand-written blobs). `lrmem-fuzz < FILE` (any other way of
//! running it outside AFL++) runs one input: how a saved crash is reproduced.

use std::path::Path;

use lrmem_memory_core::{ContextConfig, ContextMemory, ContextTrace, Memory, MemoryConfig, Trace};
use lrmem_optimizers::l2l::L2lWeights;
use lrmem_optimizers::{registry, Built, Checkpoint, Optimizer, OptimizerSpec, Tensor};

/// First byte of a spec text input.
const SPEC: u8 = 0;
/// First byte of a memory file.
const MEMORY: u8 = 1;
/// First byte of a context memory file.
const CONTEXT: u8 = 2;
/// First byte of an L2L weights file.
const L2L: u8 = 3;
/// First byte of a checkpoint for registry entry 0; entry i is `CHECKPOINT + i`.
const CHECKPOINT: u8 = 4;

/// The tiny model every optimizer steps: two tensors, so that whole-model optimizers see a
/// model and per-tensor ones keep two states.
const SHAPES: [(&str, usize); 2] = [("w", 3), ("b", 1)];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, dir] = &args[..] {
        if flag == "--seed-corpus" {
            if let Err(e) = seed_corpus(Path::new(dir)) {
                eprintln!("lrmem-fuzz: writing the seed corpus into {dir}: {e}");
                std::process::exit(1);
            }
            return;
        }
    }
    if !args.is_empty() {
        eprintln!("usage: lrmem-fuzz --seed-corpus DIR | lrmem-fuzz < INPUT");
        std::process::exit(2);
    }
    afl::fuzz!(|data: &[u8]| one(data));
}

/// Runs one input (what AFL++ calls in its loop).
fn one(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which {
        SPEC => spec_text(&String::from_utf8_lossy(rest)),
        MEMORY => memory(rest),
        CONTEXT => context_memory(rest),
        L2L => l2l_weights(rest),
        _ => {
            let entries = registry();
            let entry = &entries[usize::from(which - CHECKPOINT) % entries.len()];
            checkpoint(entry.name, rest);
        }
    }
}

/// Parameters and gradients of the tiny model: small, finite, different per tensor and step.
fn model(step: usize) -> Vec<(Vec<f32>, Vec<f32>)> {
    SHAPES
        .iter()
        .enumerate()
        .map(|(t, &(_, len))| {
            let params = (0..len).map(|i| 0.5 - 0.25 * (i + t) as f32).collect();
            let grads = (0..len)
                .map(|i| 0.1 * (((i + 2 * t + step) % 5) as f32 - 2.0) + 0.01)
                .collect();
            (params, grads)
        })
        .collect()
}

/// One step of the tiny model with the gradients of step `step`, from `params` (the model's
/// parameters as the optimizer left them); checks §11's promise either way: an error changes
/// neither the parameters nor the state, a success leaves finite parameters.
fn step_checked(opt: &mut Built, params: &mut [Vec<f32>], step: usize, what: &str) {
    let grads: Vec<Vec<f32>> = model(step).into_iter().map(|(_, g)| g).collect();
    let before_params = params.to_vec();
    let before_state = opt.save();
    let mut tensors: Vec<Tensor<'_>> = SHAPES
        .iter()
        .zip(params.iter_mut())
        .zip(&grads)
        .map(|((&(name, _), p), g)| Tensor::new(name, p, g))
        .collect();
    match opt.step_model(&mut tensors) {
        Ok(()) => {
            for ((name, _), p) in SHAPES.iter().zip(params.iter()) {
                if !p.iter().all(|x| x.is_finite()) {
                    panic!("{what}: a step on finite small gradients left `{name}` = {p:?}");
                }
            }
        }
        Err(e) => {
            if params != before_params.as_slice() {
                panic!("{what}: a refused step ({e}) moved the parameters");
            }
            if opt.save().ok() != before_state.ok() {
                panic!("{what}: a refused step ({e}) changed the state");
            }
        }
    }
}

/// The promise on a saved state `bytes` that `opt` accepted: it saves, the save loads into a
/// fresh optimizer of `spec`, and that one saves the very same bytes.
fn round_trip(spec: &OptimizerSpec, opt: &Built, what: &str) {
    let saved = opt
        .save()
        .unwrap_or_else(|e| panic!("{what}: a loaded optimizer does not save: {e}"));
    let mut fresh = spec.build().expect("the spec built once");
    if let Err(e) = fresh.load(&saved) {
        panic!("{what}: its own save does not load back: {e}");
    }
    let again = fresh.save().expect("saved once");
    if again != saved {
        panic!("{what}: save → load → save changed the bytes");
    }
}

/// Spec text: whatever parses prints as text that parses to the same spec; whatever builds
/// steps (or refuses), saves and loads back.
fn spec_text(text: &str) {
    let Ok(spec) = OptimizerSpec::parse(text) else {
        return;
    };
    let printed = spec.to_string();
    match OptimizerSpec::parse(&printed) {
        Ok(back) if back == spec => {}
        other => panic!("spec {text:?} prints as {printed:?}, which parses as {other:?}"),
    }
    let Ok(mut opt) = spec.build() else {
        return;
    };
    let what = format!("spec `{printed}`");
    let mut params: Vec<Vec<f32>> = model(0).into_iter().map(|(p, _)| p).collect();
    for step in 0..2 {
        step_checked(&mut opt, &mut params, step, &what);
    }
    round_trip(&spec, &opt, &what);
}

/// The optimizer of `name` at its defaults after two steps of the tiny model, and its model.
fn stepped(name: &str) -> (OptimizerSpec, Built, Vec<Vec<f32>>) {
    let spec = OptimizerSpec::new(name).expect("a registry name");
    let mut opt = spec
        .build()
        .unwrap_or_else(|e| panic!("{name} does not build at its defaults: {e}"));
    let mut params: Vec<Vec<f32>> = model(0).into_iter().map(|(p, _)| p).collect();
    for step in 0..2 {
        step_checked(&mut opt, &mut params, step, name);
    }
    (spec, opt, params)
}

/// A checkpoint for registry entry `name`: loaded into a stepped optimizer of it. Refused, it
/// changes nothing; accepted, it round-trips and the loaded optimizer steps or refuses cleanly.
fn checkpoint(name: &str, bytes: &[u8]) {
    let (spec, mut opt, mut params) = stepped(name);
    let before = opt.save().expect("a stepped optimizer saves");
    let what = format!("a checkpoint loaded into {name}");
    match opt.load(bytes) {
        Err(e) => {
            if opt.save().ok().as_ref() != Some(&before) {
                panic!("{name}: a refused checkpoint ({e}) changed the optimizer");
            }
        }
        Ok(()) => {
            round_trip(&spec, &opt, &what);
            step_checked(&mut opt, &mut params, 2, &what);
        }
    }
}

/// A memory file: what loads saves, loads back equal and saves the same bytes; it steps a
/// small gradient (or refuses) with finite rates.
fn memory(bytes: &[u8]) {
    let Ok(mut mem) = Memory::from_bytes(bytes) else {
        return;
    };
    let saved = mem
        .to_bytes()
        .unwrap_or_else(|e| panic!("a loaded memory does not save: {e}"));
    let back = Memory::from_bytes(&saved)
        .unwrap_or_else(|e| panic!("a loaded memory's save does not load: {e}"));
    if back != mem || back.to_bytes().ok().as_ref() != Some(&saved) {
        panic!("a loaded memory changed through save → load");
    }
    let mut trace = Trace::new(4);
    for z in [[0.1f32, -0.2, 0.05, 0.0], [0.2, 0.1, -0.05, 0.01]] {
        let mut rates = Vec::new();
        if mem
            .step(&mut trace, &z, |_, eta, _| rates.push(eta))
            .is_ok()
            && !rates.iter().all(|r| r.is_finite())
        {
            panic!("a loaded memory handed out rates {rates:?} for a small gradient");
        }
    }
}

/// A context memory file: as [`memory`].
fn context_memory(bytes: &[u8]) {
    let Ok(mut mem) = ContextMemory::from_bytes(bytes) else {
        return;
    };
    let saved = mem
        .to_bytes()
        .unwrap_or_else(|e| panic!("a loaded context memory does not save: {e}"));
    let back = ContextMemory::from_bytes(&saved)
        .unwrap_or_else(|e| panic!("a loaded context memory's save does not load: {e}"));
    if back != mem || back.to_bytes().ok().as_ref() != Some(&saved) {
        panic!("a loaded context memory changed through save → load");
    }
    let mut trace = ContextTrace::new(4);
    for z in [[0.1f32, -0.2, 0.05, 0.0], [0.2, 0.1, -0.05, 0.01]] {
        let mut rates = Vec::new();
        if mem
            .step_blocks(&mut trace, &z, |_, etas, _| rates.extend_from_slice(etas))
            .is_ok()
            && !rates.iter().all(|r| r.is_finite())
        {
            panic!("a loaded context memory handed out rates {rates:?} for a small gradient");
        }
    }
}

/// An L2L weights file: what loads saves and loads back equal, to the same bytes.
fn l2l_weights(bytes: &[u8]) {
    let Ok(w) = L2lWeights::load(bytes) else {
        return;
    };
    let saved = w
        .save()
        .unwrap_or_else(|e| panic!("loaded L2L weights do not save: {e}"));
    let back = L2lWeights::load(&saved)
        .unwrap_or_else(|e| panic!("loaded L2L weights' save does not load: {e}"));
    if back != w || back.save().ok().as_ref() != Some(&saved) {
        panic!("loaded L2L weights changed through save → load");
    }
}

/// Writes the starting corpus into `dir`: every registry entry's checkpoint after a few steps
/// of the tiny model, every entry's spec text bare, with its keys at their defaults and with
/// each preset's keys, a memory and a context memory fresh and stepped, and the shipped L2L
/// weights. Each file is the target's byte followed by the input.
fn seed_corpus(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let write = |file: String, target: u8, body: &[u8]| -> std::io::Result<()> {
        let mut bytes = vec![target];
        bytes.extend_from_slice(body);
        std::fs::write(dir.join(file), bytes)
    };
    for (i, entry) in registry().iter().enumerate() {
        let target = CHECKPOINT + u8::try_from(i)?;
        let (_, opt, _) = stepped(entry.name);
        write(format!("checkpoint-{}", entry.name), target, &opt.save()?)?;
        write(format!("spec-{}", entry.name), SPEC, entry.name.as_bytes())?;
        // Every key at its default, where the default is a value a spec can give (not
        // prose such as `sqrt(beta2)`).
        let keys: Vec<String> = entry
            .keys
            .iter()
            .map(|k| format!("{}={}", k.name, k.default))
            .filter(|kv| entry.spec(kv).and_then(|s| s.build()).is_ok())
            .collect();
        if !keys.is_empty() {
            let text = format!("{}:{}", entry.name, keys.join(","));
            write(
                format!("spec-{}-defaults", entry.name),
                SPEC,
                text.as_bytes(),
            )?;
        }
        for preset in entry.presets {
            let text = if preset.keys.is_empty() {
                entry.name.to_owned()
            } else {
                format!("{}:{}", entry.name, preset.keys)
            };
            write(
                format!("spec-{}-{}", entry.name, preset.name),
                SPEC,
                text.as_bytes(),
            )?;
        }
    }
    let mut mem = Memory::new(MemoryConfig::default())?;
    write("memory-fresh".into(), MEMORY, &mem.to_bytes()?)?;
    let mut trace = Trace::new(4);
    for z in [[0.1f32, -0.2, 0.05, 0.0], [0.2, 0.1, -0.05, 0.01]] {
        mem.step(&mut trace, &z, |_, _, _| {})?;
    }
    write("memory-stepped".into(), MEMORY, &mem.to_bytes()?)?;
    let mut ctx = ContextMemory::new(ContextConfig::default())?;
    write("context-fresh".into(), CONTEXT, &ctx.to_bytes()?)?;
    let mut trace = ContextTrace::new(4);
    for z in [[0.1f32, -0.2, 0.05, 0.0], [0.2, 0.1, -0.05, 0.01]] {
        ctx.step_blocks(&mut trace, &z, |_, _, _| {})?;
    }
    write("context-stepped".into(), CONTEXT, &ctx.to_bytes()?)?;
    write(
        "l2l-init".into(),
        L2L,
        &L2lWeights::init(5.0, 0.01, 1)?.save()?,
    )?;
    if let Some(w) = L2lWeights::shipped("quadratic") {
        write("l2l-shipped".into(), L2L, &w.save()?)?;
    }
    Ok(())
}
