//! `lrmem_optimizers::burn`: training a burn model through the adaptor is bit for bit `step_model` on
//! `Vec<f32>` slices with the same gradients (Sgd, Adam, Meta<Sgd>); names are paths, stable
//! across steps and models; bad input is a typed error that leaves the model as documented.
#![cfg(feature = "burn")]

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::{DType, Device, Tensor};
use lrmem_optimizers::burn::{param_names, BurnError, BurnOptimizer};
use lrmem_optimizers::{
    Adam, AdamConfig, Checkpoint, MemoryConfig, Meta, MetaConfig, OptimError, Optimizer, Sgd,
    SgdConfig, Tensor as Named,
};

/// The model of the burn example (`examples/burn_mlp.rs`: 2 → 32 → 1, ReLU), so that what the
/// example trains is what these tests step; its `main` and data are the example's own.
#[path = "../examples/burn_mlp.rs"]
#[allow(dead_code)]
mod example;
use example::Mlp;

const NAMES: [&str; 4] = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"];

impl Mlp {
    /// The parameters in the adaptor's order (`NAMES`).
    fn values(&self) -> Vec<Vec<f32>> {
        vec![
            values(&self.fc1.weight),
            values(self.fc1.bias.as_ref().unwrap()),
            values(&self.fc2.weight),
            values(self.fc2.bias.as_ref().unwrap()),
        ]
    }

    /// Their gradients in `grads`, in the same order.
    fn grads(&self, grads: &GradientsParams) -> Vec<Vec<f32>> {
        vec![
            grad(grads, &self.fc1.weight),
            grad(grads, self.fc1.bias.as_ref().unwrap()),
            grad(grads, &self.fc2.weight),
            grad(grads, self.fc2.bias.as_ref().unwrap()),
        ]
    }
}

fn values<const D: usize>(p: &Param<Tensor<D>>) -> Vec<f32> {
    p.val().into_data().try_into_vec::<f32>().unwrap()
}

fn grad<const D: usize>(grads: &GradientsParams, p: &Param<Tensor<D>>) -> Vec<f32> {
    let g = grads
        .get::<D>(p.id)
        .expect("every parameter has a gradient");
    g.into_data().try_into_vec::<f32>().unwrap()
}

/// `params` with their gradients `grads` as the adaptor hands them to `step_model`: named, in the
/// order of `NAMES`.
fn named<'a>(params: &'a mut [Vec<f32>], grads: &'a [Vec<f32>]) -> Vec<Named<'a>> {
    NAMES
        .iter()
        .zip(params)
        .zip(grads)
        .map(|((name, p), g)| Named::new(name, p, g))
        .collect()
}

fn bits(v: &[Vec<f32>]) -> Vec<Vec<u32>> {
    v.iter()
        .map(|t| t.iter().map(|x| x.to_bits()).collect())
        .collect()
}

fn device() -> Device {
    Device::default().autodiff()
}

/// A fixed regression batch: 6 points in 2-D and their targets.
fn batch(device: &Device) -> (Tensor<2>, Tensor<2>) {
    let x = Tensor::<2>::from_floats(
        [
            [0.5, -1.0],
            [1.0, 0.25],
            [-0.5, 0.5],
            [-1.5, -0.75],
            [2.0, 1.0],
            [0.1, -0.2],
        ],
        device,
    );
    let y = Tensor::<2>::from_floats([[1.0], [-1.0], [0.5], [0.0], [-2.0], [0.3]], device);
    (x, y)
}

fn gradients(model: &Mlp, x: &Tensor<2>, y: &Tensor<2>) -> GradientsParams {
    let loss = (model.forward(x.clone()) - y.clone())
        .powf_scalar(2.0)
        .mean();
    GradientsParams::from_grads(loss.backward(), model)
}

/// Trains a burn model for a few steps through the adaptor with `through_burn`, and a copy of its
/// initial parameters in `Vec<f32>`s with `on_slices` (one `step_model` per step, same names,
/// same order, the gradients burn computed), and asserts every parameter bit for bit after each
/// step, and the memories at the end.
fn same_as_slices(what: &str, through_burn: impl Optimizer, mut on_slices: impl Optimizer) {
    let device = device();
    let (x, y) = batch(&device);
    let mut model = Mlp::new(&device);
    assert_eq!(param_names(&model), NAMES);
    let mut opt = BurnOptimizer::new(through_burn);
    let initial = model.values();
    let mut params = initial.clone();
    for step in 0..8 {
        let grads = gradients(&model, &x, &y);
        let g = model.grads(&grads);
        let mut tensors = named(&mut params, &g);
        on_slices.step_model(&mut tensors).unwrap();
        opt.step(&mut model, &grads).unwrap();
        assert_eq!(
            bits(&model.values()),
            bits(&params),
            "{what}: parameters after step {step}"
        );
    }
    assert_ne!(bits(&params), bits(&initial), "{what}: nothing moved");
    assert_eq!(
        opt.memory_thetas(),
        on_slices.memory_thetas(),
        "{what}: memories"
    );
    // Still a trainable leaf on the autodiff device, with its id.
    assert!(model.fc1.weight.val().is_require_grad());
    assert!(model.fc1.weight.val().is_autodiff());
}

#[test]
fn sgd_matches_slices() {
    let sgd = || {
        Sgd::new(SgdConfig {
            momentum: 0.9,
            ..SgdConfig::with_lr(0.05)
        })
        .unwrap()
    };
    same_as_slices("sgd", sgd(), sgd());
}

#[test]
fn adam_matches_slices() {
    let config = AdamConfig::with_lr(0.01);
    same_as_slices(
        "adam",
        Adam::new(config).unwrap(),
        Adam::new(config).unwrap(),
    );
}

fn meta_config() -> MetaConfig {
    MetaConfig {
        memory: MemoryConfig {
            eta0: 1e-2,
            ..MemoryConfig::default()
        },
        ..MetaConfig::default()
    }
}

#[test]
fn meta_sgd_matches_slices() {
    same_as_slices(
        "meta-sgd",
        Meta::sgd(meta_config()).unwrap(),
        Meta::sgd(meta_config()).unwrap(),
    );
}

/// One memory shared by every tensor learns from them in the order they step: the adaptor must
/// hand them over in one `step_model`, in the order of `param_names`.
#[test]
fn meta_sgd_with_one_shared_memory_matches_slices() {
    let shared = || {
        Meta::sgd(meta_config())
            .unwrap()
            .with_routing(|_| Some("all".to_string()))
    };
    same_as_slices("meta-sgd, one memory", shared(), shared());
}

/// The spec registry's boxed optimizers work too.
#[test]
fn boxed_spec_optimizer_matches_slices() {
    let build = || {
        lrmem_optimizers::OptimizerSpec::parse("meta-sgd:lr=0.01")
            .unwrap()
            .build()
            .unwrap()
    };
    same_as_slices("meta-sgd spec", build(), build());
}

#[derive(Module, Debug)]
struct Deep {
    layers: Vec<Linear>,
    head: Linear,
}

#[test]
fn names_are_paths_and_stable() {
    let device = device();
    let (x, y) = batch(&device);
    let mut model = Mlp::new(&device);
    let mut opt = BurnOptimizer::new(Meta::sgd(meta_config()).unwrap());
    for _ in 0..3 {
        let grads = gradients(&model, &x, &y);
        opt.step(&mut model, &grads).unwrap();
        assert_eq!(param_names(&model), NAMES, "across steps");
    }
    let keys: Vec<String> = opt.memory_thetas().into_iter().map(|(k, _)| k).collect();
    let mut sorted = NAMES.to_vec();
    sorted.sort();
    assert_eq!(keys, sorted, "a memory per parameter, keyed by its name");

    // Another run: a model built anew has other ParamIds but the same names, so the trained
    // optimizer (or its checkpoint) carries over to it and makes no new memories.
    let mut fresh = Mlp::new(&device);
    assert_ne!(fresh.fc1.weight.id, model.fc1.weight.id);
    assert_eq!(param_names(&fresh), NAMES, "across models");
    let grads = gradients(&fresh, &x, &y);
    opt.step(&mut fresh, &grads).unwrap();
    assert_eq!(opt.memory_thetas().len(), 4);

    // Vec elements by index; ids are kept by a step.
    let deep = Deep {
        layers: vec![
            LinearConfig::new(2, 3).init(&device),
            LinearConfig::new(3, 3).with_bias(false).init(&device),
        ],
        head: LinearConfig::new(3, 1).init(&device),
    };
    assert_eq!(
        param_names(&deep),
        [
            "layers.0.weight",
            "layers.0.bias",
            "layers.1.weight",
            "head.weight",
            "head.bias"
        ]
    );
    let ids = (model.fc1.weight.id, model.fc2.bias.as_ref().unwrap().id);
    let grads = gradients(&model, &x, &y);
    opt.step(&mut model, &grads).unwrap();
    assert_eq!(
        (model.fc1.weight.id, model.fc2.bias.as_ref().unwrap().id),
        ids
    );
}

#[derive(Module, Debug)]
struct Tied {
    a: Linear,
    b: Linear,
}

/// A parameter at two paths (one ParamId) steps once, under its first path, and both get it.
#[test]
fn tied_parameters_step_once() {
    let device = device();
    let a = LinearConfig::new(2, 1).init(&device);
    let mut model = Tied { b: a.clone(), a };
    assert_eq!(param_names(&model), ["a.weight", "a.bias"]);
    let x = Tensor::<2>::from_floats([[1.0, 2.0]], &device);
    let before = values(&model.a.weight);
    let loss = (model.a.forward(x.clone()) + model.b.forward(x)).sum();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let g = grad(&grads, &model.a.weight);
    let mut opt = BurnOptimizer::new(Sgd::new(SgdConfig::with_lr(0.5)).unwrap());
    opt.step(&mut model, &grads).unwrap();
    let expected: Vec<f32> = before.iter().zip(&g).map(|(w, g)| w - 0.5 * g).collect();
    assert_eq!(values(&model.a.weight), expected);
    assert_eq!(values(&model.b.weight), expected);
}

/// A gradient with a NaN is the optimizer's error; the adaptor hands back the model as
/// `step_model` left the slices: unchanged, the tensors before the failing one included.
#[test]
fn optimizer_error_leaves_the_model_as_the_slices() {
    let device = device();
    let (x, y) = batch(&device);
    for (failing, index) in [("fc1.weight", 0usize), ("fc2.weight", 2)] {
        let mut model = Mlp::new(&device);
        let mut grads = gradients(&model, &x, &y);
        let mut g = model.grads(&grads);
        g[index][0] = f32::NAN;
        let nan = |p: &Param<Tensor<2>>, g: &[f32]| {
            Tensor::<2>::from_floats(
                burn::tensor::TensorData::new(g.to_vec(), p.val().dims()),
                &Device::default(),
            )
        };
        let target = if index == 0 {
            &model.fc1.weight
        } else {
            &model.fc2.weight
        };
        grads.register(target.id, nan(target, &g[index]));

        let mut params = model.values();
        let mut on_slices = Adam::new(AdamConfig::with_lr(0.01)).unwrap();
        let mut tensors = named(&mut params, &g);
        let slice_err = on_slices.step_model(&mut tensors).unwrap_err();
        drop(tensors);

        let before = model.values();
        let mut opt = BurnOptimizer::new(Adam::new(AdamConfig::with_lr(0.01)).unwrap());
        let err = opt.step(&mut model, &grads).unwrap_err();
        // (NaN inside: compared as text and by variant.)
        assert!(matches!(&err, BurnError::Optimizer(e) if e.to_string() == slice_err.to_string()));
        assert!(
            matches!(&slice_err, OptimError::NonFiniteGradient { tensor, .. } if tensor == failing)
        );
        assert!(err.to_string().contains(failing), "{err}");
        assert_eq!(bits(&model.values()), bits(&params), "as the slices");
        let moved: Vec<bool> = model
            .values()
            .iter()
            .zip(&before)
            .map(|(a, b)| a != b)
            .collect();
        assert_eq!(moved, [false; 4], "a failed step moved parameters");
    }
}

/// The new user's case: a NaN in `fc2.weight`'s gradient after a few good steps. The error says
/// nothing was updated, and nothing was, for every optimizer of the registry: `fc1.weight` and
/// `fc1.bias` (stepped before `fc2.weight` in the model's order) keep their bits, and so does
/// the optimizer's saved state, so that skipping the bad batch goes on from where it was.
#[test]
fn a_nan_in_a_later_layer_changes_nothing_for_any_optimizer() {
    let device = device();
    let (x, y) = batch(&device);
    for entry in lrmem_optimizers::registry() {
        let spec = entry.spec(entry.contract).unwrap();
        let mut opt = BurnOptimizer::new(spec.build().unwrap());
        let mut model = Mlp::new(&device);
        for _ in 0..3 {
            let grads = gradients(&model, &x, &y);
            opt.step(&mut model, &grads).unwrap();
        }
        let mut grads = gradients(&model, &x, &y);
        let mut g = model.grads(&grads)[2].clone();
        g[5] = f32::NAN;
        let w = &model.fc2.weight;
        let bad = burn::tensor::TensorData::new(g, w.val().dims());
        grads.register(w.id, Tensor::<2>::from_floats(bad, &Device::default()));
        let (before, state) = (model.values(), opt.inner().save().unwrap());
        let err = opt.step(&mut model, &grads).unwrap_err();
        let name = entry.name;
        assert!(
            matches!(&err, BurnError::Optimizer(OptimError::NonFiniteGradient { tensor, index: 5, .. }) if tensor == "fc2.weight"),
            "{name}: {err}"
        );
        assert!(
            err.to_string().contains("nothing was updated"),
            "{name}: {err}"
        );
        assert_eq!(
            bits(&model.values()),
            bits(&before),
            "{name}: parameters moved"
        );
        assert_eq!(opt.inner().save().unwrap(), state, "{name}: state changed");
        // Skipping the bad batch goes on as if it never came.
        let grads = gradients(&model, &x, &y);
        opt.step(&mut model, &grads).unwrap();
    }
}

/// The adaptor's own checks come before any step: model and optimizer are untouched.
#[test]
fn bad_gradients_change_nothing() {
    let device = device();
    let (x, y) = batch(&device);
    let mut model = Mlp::new(&device);
    let before = model.values();
    let mut opt = BurnOptimizer::new(Adam::new(AdamConfig::with_lr(0.01)).unwrap());

    // Gradients of another instance of the same architecture (other ParamIds).
    let other = Mlp::new(&device);
    let foreign = gradients(&other, &x, &y);
    let err = opt.step(&mut model, &foreign).unwrap_err();
    assert_eq!(
        err,
        BurnError::UnmatchedGradients {
            unmatched: 4,
            total: 4
        }
    );
    assert!(
        err.to_string().contains("GradientsParams::from_grads"),
        "{err}"
    );

    // A gradient of the wrong shape, after parameters that are fine.
    let mut grads = gradients(&model, &x, &y);
    let bias = model.fc2.bias.as_ref().unwrap();
    grads.register(bias.id, Tensor::<1>::zeros([3], &Device::default()));
    let err = opt.step(&mut model, &grads).unwrap_err();
    assert_eq!(
        err,
        BurnError::ShapeMismatch {
            name: "fc2.bias".into(),
            params: vec![1],
            grads: vec![3]
        }
    );
    assert_eq!(bits(&model.values()), bits(&before), "model unchanged");

    // The optimizer is unchanged too: its next step is a fresh Adam's first step.
    let grads = gradients(&model, &x, &y);
    let mut fresh = model.clone();
    BurnOptimizer::new(Adam::new(AdamConfig::with_lr(0.01)).unwrap())
        .step(&mut fresh, &grads)
        .unwrap();
    opt.step(&mut model, &grads).unwrap();
    assert_eq!(bits(&model.values()), bits(&fresh.values()));
}

#[derive(Module, Debug)]
struct Wide {
    w: Param<Tensor<1>>,
}

/// lrmem steps f32; a parameter of another dtype is refused, not converted.
#[test]
fn non_f32_parameters_are_refused() {
    let device = device();
    let w = Tensor::<1>::from_floats([1.0, 2.0], &device)
        .cast(DType::F64)
        .detach()
        .require_grad();
    let mut model = Wide {
        w: Param::from_tensor(w),
    };
    let loss = model.w.val().sum();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let mut opt = BurnOptimizer::new(Sgd::new(SgdConfig::with_lr(0.1)).unwrap());
    let err = opt.step(&mut model, &grads).unwrap_err();
    assert!(
        matches!(&err, BurnError::UnsupportedDType { name, what: "value", .. } if name == "w"),
        "{err:?}"
    );
}

/// Parameters without a gradient (frozen) do not move, and nothing is an error.
#[test]
fn frozen_parameters_stay() {
    let device = device();
    let (x, y) = batch(&device);
    let mut model = Mlp::new(&device);
    model.fc1 = model.fc1.no_grad();
    let before = model.values();
    let grads = gradients(&model, &x, &y);
    let mut opt = BurnOptimizer::new(Sgd::new(SgdConfig::with_lr(0.1)).unwrap());
    opt.step(&mut model, &grads).unwrap();
    let after = model.values();
    assert_eq!(bits(&after[..2]), bits(&before[..2]));
    assert_ne!(bits(&after[2..]), bits(&before[2..]));
}
