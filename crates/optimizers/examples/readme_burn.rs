use burn::{
    nn::LinearConfig,
    optim::GradientsParams,
    tensor::{Device, Tensor},
};
use lrmem_optimizers::{burn::BurnOptimizer, OptimizerSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let device = Device::default().autodiff();
    let mut model = LinearConfig::new(2, 1).init(&device); // any burn Module
    let mut opt = BurnOptimizer::new("meta-sgd:lr=0.01".parse::<OptimizerSpec>()?.build()?);

    // Fit y = 2·x₁ − x₂ + 1 on four points.
    let x = Tensor::<2>::from_floats([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], &device);
    let y = Tensor::<2>::from_floats([[1.0], [3.0], [0.0], [2.0]], &device);
    for step in 0..=200 {
        let loss = (model.forward(x.clone()) - y.clone())
            .powf_scalar(2.0)
            .mean();
        if step % 40 == 0 {
            println!(
                "step {step:>3}: loss {:.5}",
                loss.clone().into_scalar::<f32>()
            );
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        opt.step(&mut model, &grads)?; // every parameter in one Optimizer::step_model
    }
    Ok(())
}
