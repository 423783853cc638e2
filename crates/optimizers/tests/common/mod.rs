//! Helpers shared by the integration tests: a spec from text, a built optimizer, exact bit
//! patterns, a two-tensor quadratic to train on, the tests' memory settings, and the assertion
//! that two optimizers are one.
#![allow(dead_code)] // each test binary uses its own subset

use std::fmt::Debug;

use lrmem_optimizers::{
    Built, Checkpoint, MemoryConfig, MemoryOptimizer, MetaConfig, Optimizer, OptimizerSpec, Tensor,
};

/// The spec `text`, which must parse.
pub fn spec(text: &str) -> OptimizerSpec {
    OptimizerSpec::parse(text).unwrap_or_else(|e| panic!("`{text}`: {e}"))
}

/// The optimizer of the spec `text`, which must build.
pub fn built(text: &str) -> Built {
    spec(text)
        .build()
        .unwrap_or_else(|e| panic!("`{text}`: {e}"))
}

/// The bits of every value, so that comparisons are exact.
pub fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

/// `steps` model steps over two tensors of a quadratic; returns the parameters.
pub fn train<O: Optimizer + ?Sized>(opt: &mut O, steps: usize) -> (Vec<f32>, Vec<f32>) {
    let (mut a, mut b) = (vec![1.0f32, -0.5, 0.25], vec![0.75f32, 2.0]);
    for _ in 0..steps {
        let ga: Vec<f32> = a
            .iter()
            .enumerate()
            .map(|(i, x)| (1.0 + i as f32) * x)
            .collect();
        let gb: Vec<f32> = b.iter().map(|x| 0.5 * x - 0.1).collect();
        opt.step_model(&mut [Tensor::new("a", &mut a, &ga), Tensor::new("b", &mut b, &gb)])
            .unwrap();
    }
    (a, b)
}

/// The memory most tests use: queries clipped at ±4, initial rate `eta0` (η₀), θ learned by
/// Adam at rate `xi` (ξ); the rest at its defaults.
pub fn memory(eta0: f32, xi: f32) -> MemoryConfig {
    MemoryConfig {
        clip: 4.0,
        eta0,
        optimizer: MemoryOptimizer::adam(xi),
        ..MemoryConfig::default()
    }
}

/// A `MetaConfig` with that memory ([`memory`]).
pub fn meta_config(eta0: f32, xi: f32) -> MetaConfig {
    with_memory(memory(eta0, xi))
}

/// A `MetaConfig` with this memory, the rest (the query) at its defaults.
pub fn with_memory(memory: MemoryConfig) -> MetaConfig {
    MetaConfig {
        memory,
        ..MetaConfig::default()
    }
}

/// Runs `a` and `b` through `run` and asserts that they are one optimizer: the same results of
/// `run` and the same checkpoint bytes afterwards.
pub fn assert_same_runs<T: PartialEq + Debug>(
    what: &str,
    a: &mut (impl Optimizer + Checkpoint),
    b: &mut (impl Optimizer + Checkpoint),
    run: impl Fn(&mut dyn Optimizer) -> T,
) {
    assert_eq!(run(a), run(b), "{what}: steps");
    assert_eq!(a.save().unwrap(), b.save().unwrap(), "{what}: state");
}

/// Gradients of a separable quadratic, deterministic per step.
pub fn quadratic_grad(w: &[f32], t: usize) -> Vec<f32> {
    w.iter()
        .enumerate()
        .map(|(i, x)| 1.3 * x - 0.2 + 0.1 * ((i + 3 * t) as f32).sin())
        .collect()
}

/// Trains one five-coordinate tensor per name for `steps` steps on [`quadratic_grad`].
pub fn train_named<O: Optimizer + ?Sized>(
    opt: &mut O,
    names: &[&str],
    steps: usize,
) -> Vec<Vec<f32>> {
    let mut ws: Vec<Vec<f32>> = names
        .iter()
        .enumerate()
        .map(|(k, _)| (0..5).map(|i| 0.5 - 0.2 * (i + k) as f32).collect())
        .collect();
    for t in 0..steps {
        for (name, w) in names.iter().zip(ws.iter_mut()) {
            let g = quadratic_grad(w, t);
            opt.step(name, w, &g).unwrap();
        }
    }
    ws
}
