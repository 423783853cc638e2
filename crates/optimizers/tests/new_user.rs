//! The program a new user writes first: a logistic regression with 1,000 weights trained online
//! (one example per step) with `Sgd`, `Adam` and `Meta` over both, every one at its defaults;
//! then the memory of the `Meta` run carried into a related problem through a saved checkpoint.
//! Nothing may diverge numerically, what the guide says of the defaults must hold, and the
//! reload workflow must work as the guide shows it.

use lrmem_optimizers::{
    Adam, AdamConfig, Checkpoint, LoadMemories, MemoryOptimizer, Meta, MetaConfig, OptimError,
    Optimizer, Sgd, SgdConfig, Tensor,
};

const DIM: usize = 1000;

/// A small deterministic generator (xorshift64*), so that the data is the same on every run.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (x >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Uniform in [−1, 1).
    fn symmetric(&mut self) -> f32 {
        2.0 * self.uniform() - 1.0
    }
}

/// A binary classification problem: inputs uniform in [−1, 1]^DIM, labels drawn from the
/// logistic model with the true weights (w·x has a standard deviation of about 3).
struct Problem {
    truth: Vec<f32>,
    bias: f32,
}

impl Problem {
    fn new(seed: u64) -> Problem {
        let mut rng = Rng(seed);
        let scale = (27.0 / DIM as f32).sqrt();
        Problem {
            truth: (0..DIM).map(|_| scale * rng.symmetric()).collect(),
            bias: 0.5 * rng.symmetric(),
        }
    }

    /// The same problem with every true weight moved by up to ±`by` of its scale: a related task.
    fn related(&self, seed: u64, by: f32) -> Problem {
        let mut rng = Rng(seed);
        let scale = (27.0 / DIM as f32).sqrt();
        Problem {
            truth: self
                .truth
                .iter()
                .map(|w| w + by * scale * rng.symmetric())
                .collect(),
            bias: self.bias,
        }
    }

    fn samples(&self, seed: u64, n: usize) -> Vec<(Vec<f32>, f32)> {
        let mut rng = Rng(seed);
        (0..n)
            .map(|_| {
                let x: Vec<f32> = (0..DIM).map(|_| rng.symmetric()).collect();
                let p = sigmoid(dot(&self.truth, &x) + self.bias);
                let y = if rng.uniform() < p { 1.0 } else { 0.0 };
                (x, y)
            })
            .collect()
    }
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Mean cross-entropy of the model (w, b) on `data`.
fn loss(w: &[f32], b: f32, data: &[(Vec<f32>, f32)]) -> f32 {
    let total: f32 = data
        .iter()
        .map(|(x, y)| {
            let p = sigmoid(dot(w, x) + b).clamp(1e-7, 1.0 - 1e-7);
            -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
        })
        .sum();
    total / data.len() as f32
}

/// Online training, one example per step, both tensors in one `step_model`; returns the model.
fn train(
    opt: &mut dyn Optimizer,
    data: &[(Vec<f32>, f32)],
    names: [&str; 2],
) -> Result<(Vec<f32>, f32), OptimError> {
    let (mut w, mut b) = (vec![0.0f32; DIM], vec![0.0f32]);
    for (x, y) in data {
        let err = sigmoid(dot(&w, x) + b[0]) - y;
        let gw: Vec<f32> = x.iter().map(|xi| err * xi).collect();
        let gb = [err];
        opt.step_model(&mut [
            Tensor::new(names[0], &mut w, &gw),
            Tensor::new(names[1], &mut b, &gb),
        ])?;
    }
    Ok((w, b[0]))
}

/// The memory config the guide recommends when consecutive gradients are independent draws
/// (online learning on i.i.d. examples): the paper's plain ascent on θ (θ ← θ + ξ·G, Eq. 5), whose
/// step is as small as the signal, with ξ = 10⁻².
fn iid_config() -> MetaConfig {
    let mut config = MetaConfig::default();
    config.memory.optimizer = MemoryOptimizer::sgd(1e-2);
    config
}

/// At their defaults Sgd and Adam learn, and nothing diverges numerically. Meta at its defaults
/// (Adam on θ, ξ = η₀ = 10⁻³) does not learn this problem: its signal is noise (the examples are
/// independent), Adam normalises the memory gradient, so θ random-walks about ξ per step and
/// after 3,000 steps some rates are tens of times η₀, too large for noisy labels: the held-out
/// loss rises. The guide (section 3) says why and what to pick; with its pick Meta-SGD keeps its
/// weights' rates near η₀ and learns as SGD does.
#[test]
fn every_optimizer_at_its_defaults_on_the_logistic_regression() {
    let problem = Problem::new(1);
    let data = problem.samples(2, 3000);
    let test = problem.samples(3, 500);
    let start = loss(&[0.0; DIM], 0.0, &test);
    let names = ["linear.weight", "linear.bias"];
    let run = |name: &str, opt: &mut dyn Optimizer| {
        let (w, b) = train(opt, &data, names).unwrap();
        assert!(
            w.iter().all(|x| x.is_finite()) && b.is_finite(),
            "{name}: parameters are not finite"
        );
        let end = loss(&w, b, &test);
        let theta = opt.memory_thetas();
        // The weights' memory: 1,000 coordinates a step (the bias's memory sees one).
        let top = theta
            .iter()
            .filter(|(k, _)| k == "linear.weight")
            .flat_map(|(_, t)| t.iter().copied())
            .fold(0.0f32, f32::max);
        println!("{name}: held-out loss {start:.4} → {end:.4}, largest weight θ {top:.1e}");
        (end, top)
    };
    let (sgd, _) = run("Sgd", &mut Sgd::new(SgdConfig::default()).unwrap());
    let (adam, _) = run("Adam", &mut Adam::new(AdamConfig::default()).unwrap());
    assert!(
        sgd < start && adam < start,
        "Sgd {sgd}, Adam {adam}, start {start}"
    );

    let eta0 = MetaConfig::default().memory.eta0;
    for (name, mut opt) in [
        (
            "Meta<Sgd>",
            Box::new(Meta::sgd(MetaConfig::default()).unwrap()) as Box<dyn Optimizer>,
        ),
        (
            "Meta<Adam>",
            Box::new(Meta::adam(MetaConfig::default()).unwrap()),
        ),
    ] {
        let (end, top) = run(name, opt.as_mut());
        assert!(
            end > start && top > 10.0 * eta0,
            "{name}: the guide says the defaults raise the rates on noise ({end}, θ up to {top}); update it"
        );
    }
    let (end, top) = run("Meta<Sgd>, guide", &mut Meta::sgd(iid_config()).unwrap());
    assert!(
        end < start && end < 1.02 * sgd && top < 10.0 * eta0,
        "Meta<Sgd> with the guide's pick: held-out loss {end} (Sgd {sgd}), θ up to {top}"
    );
}

#[test]
fn a_saved_memory_carries_into_a_related_problem() {
    let first = Problem::new(11);
    let names = ["linear.weight", "linear.bias"];
    let mut opt = Meta::sgd(iid_config()).unwrap();
    train(&mut opt, &first.samples(12, 3000), names).unwrap();
    let saved = opt.save().unwrap();

    // The related problem, in a model whose layer is now called `head`.
    let second = first.related(13, 0.5);
    let data = second.samples(14, 3000);
    let test = second.samples(15, 500);
    let renamed = ["head.weight", "head.bias"];
    let mut reloaded = Meta::sgd(iid_config()).unwrap();
    let report = reloaded
        .load_memories(
            &saved,
            LoadMemories {
                rename: &[
                    ("linear.weight", "head.weight"),
                    ("linear.bias", "head.bias"),
                ],
                ..LoadMemories::default()
            },
        )
        .unwrap();
    assert_eq!(report.loaded, ["head.bias", "head.weight"]);
    assert_eq!(
        reloaded.memory("head.weight").unwrap().theta(),
        opt.memory("linear.weight").unwrap().theta(),
        "θ carried over as saved"
    );
    let (w, b) = train(&mut reloaded, &data, renamed).unwrap();
    let (start, end) = (loss(&[0.0; DIM], 0.0, &test), loss(&w, b, &test));
    println!("reloaded memory: held-out loss {start:.4} → {end:.4}");
    assert!(end < 0.9 * start, "held-out loss {start} → {end}");

    // Forgetting the rename is an error naming the tensor, never a silently fresh memory.
    let mut strict = Meta::sgd(iid_config()).unwrap();
    strict
        .load_memories(&saved, LoadMemories::default())
        .unwrap();
    let err = train(&mut strict, &data[..1], renamed).unwrap_err();
    assert!(err.to_string().contains("head.weight"), "{err}");
}
