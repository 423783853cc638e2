//! Helpers shared by the hyperparameter and the schedule/group tests: a spec from text, a built
//! optimizer, exact bit patterns, and a two-tensor quadratic to train on.
#![allow(dead_code)] // each test binary uses its own subset

use lrmem_optimizers::{Built, Optimizer, OptimizerSpec, Tensor};

pub fn spec(text: &str) -> OptimizerSpec {
    text.parse().unwrap()
}

pub fn built(text: &str) -> Built {
    spec(text).build().unwrap()
}

/// The bits of every value, so that comparisons are exact.
pub fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

/// `steps` model steps over two tensors of a quadratic; returns the parameters.
pub fn train<O: Optimizer>(opt: &mut O, steps: usize) -> (Vec<f32>, Vec<f32>) {
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
