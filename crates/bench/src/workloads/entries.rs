//! The workloads, one [`WorkloadEntry`] each: their options, protocols' defaults and what the
//! quick profile shrinks, with the measurements behind the caps and thresholds.

use super::build::{began, pairs, robot_forward, robot_inverse};
use super::{Build, WorkloadEntry};

const PAIR_OPTIONS: &[(&str, &str)] = &[
    (
        "dir",
        "the folder of the four IDX files, raw or gzip (default DATA_ROOT/<workload>)",
    ),
    (
        "pairs",
        "the class pairs in task order, e.g. 1-2,1-3,1-4 (the default, the papers')",
    ),
    (
        "pixels",
        "unit (p/255, default), raw (0–255, what the authors' PyTorch loader feeds) or standardized",
    ),
];

const ROBOT_OPTIONS: &[(&str, &str)] = &[
    (
        "train",
        "training trajectories per task (default 64)",
    ),
    ("test", "held-out trajectories per task (default 16)"),
    ("seconds", "length of every trajectory, s (default 1)"),
    (
        "margin",
        "fraction of each joint range kept free at both ends (default 0.4: the middle 20 %, a work cell)",
    ),
    (
        "eval-every",
        "a held-out evaluation for the threshold checks every N updates; crossings are resolved to N (default 50 forward, 500 inverse)",
    ),
    (
        "payload",
        "the payload of tasks 2 and 3, kg (default 1.5)",
    ),
    (
        "order",
        "inverse only: shuffled (default; see lrmem_tasks::robot::RobotConfig::inverse for why) or stream (recorded order, the papers' online setting)",
    ),
];

/// The quick profile's robot data: 8 training trajectories and 4 held-out of 0.5 s per task.
const ROBOT_QUICK: &[(&str, &str)] = &[("train", "8"), ("test", "4"), ("seconds", "0.5")];

const BEGAN_OPTIONS: &[(&str, &str)] = &[
    (
        "dir",
        "the folder of MNIST's four IDX files (default DATA_ROOT/mnist)",
    ),
    (
        "eval-every",
        "a held-out M_global for the threshold checks every N iterations; crossings are resolved to N (default 50)",
    ),
    (
        "eval-images",
        "held-out test images and fixed noise vectors per evaluation (default 256)",
    ),
    ("batch", "real images per iteration (default 8)"),
    (
        "fid-samples",
        "held-out digits and generated samples of the Fréchet distance at every curve point (default 1000; 0: none)",
    ),
];

/// Iterations of `began` per run: what the full profile's budget allows (20 arms × 5 seeds
/// within 30 min on 2 cores: ≈ 17 ms per iteration at batch 8 on a free core, ≈ 2 s of
/// held-out M_global every 50 iterations and ≈ 0.2 s per Fréchet distance point, ≈ 30 s a
/// run). Far short of BEGAN's own training (tens of thousands of iterations): on the
/// development seed the reference arm's generator still draws blurred strokes at 1500
/// iterations, and "1"s after 6000 (the `began` example of the tasks crate).
const BEGAN_CAP: usize = 1500;
/// The `began` threshold on held-out M_global, fixed on the development seed 1000 (the
/// reported seeds are 0–4) before the comparison: the value the reference arm (Adam at
/// BEGAN's 1e−4, β₁ = 0.5) reaches by half the cap (0.29 after 750 iterations, then flat
/// near 0.29–0.31), rounded up to 0.3.
const BEGAN_THRESHOLD: f64 = 0.3;
/// A further, harder threshold of `began`: 0.2, which Adam at the base rate 1e−3 reaches
/// after ≈ 850 iterations on the development seed and the reference arm not within the cap.
const BEGAN_ALSO: &[f64] = &[0.2];

/// Updates per task of `panda-forward`: about what the default profile's time allows (11
/// arms × 2 seeds × 3 tasks at ≈ 5 ms per 128-step BPTT update with its checks on a free
/// core: ≈ 8 min with 2 jobs; 6 arms took 800 s on 2 heavily shared cores). Measured on task 1 (`robot_tasks` example of the tasks crate): after 3000
/// updates at lr 1e−3 Adam's held-out state-change NMSE is ≈ 0.44 and SGD's ≈ 1.0 (at 1e−2:
/// Adam ≈ 0.55, SGD ≈ 0.66), so NMSE 0.1 is not reached within this cap at the papers' rate:
/// the forward workload's thresholds are censored in the default profile and its final NMSEs
/// (the report's end-of-task table) carry the comparison.
const FORWARD_CAP: usize = 3000;
/// Further thresholds of `panda-forward`: the NMSE 0.03, and NMSE 0.6, chosen on
/// task 1 (the development task) so that the updates-to-threshold table separates arms at
/// all. Why 0.1 and 0.03 are out of reach: the state change of q is q̇·dt (linear in the
/// input, learned), but the change of q̇ is M(q)⁻¹(τ − h(q, q̇))·dt, and under computed-torque
/// tracking τ is mostly gravity, so q̈ is a small difference of large terms. Measured on task 1
/// (`robot_tasks` example of the tasks crate, `perdim` mode): a least-squares affine model
/// reaches held-out NMSE 0.000 on the seven q dimensions but 0.23–1.13 on the q̇ ones (0.34
/// overall); the LSTM after 2000 Adam updates at 1e−3 reaches 0.46 (q dimensions 0.10–0.41,
/// q̇ dimensions 0.32–1.20), and 0.51 in batches of 16. Adam crosses 0.6 after ≈ 1000 updates
/// on task 1, SGD not within the cap.
const FORWARD_ALSO: &[f64] = &[0.03, 0.6];
/// Updates per task of `panda-inverse`. Measured on task 1 (shuffled order, lr 1e−3): Adam
/// reaches NMSE 0.1 after ≈ 10 000 updates and then plateaus near 0.08; SGD plateaus near
/// 0.23. Plain optimizers step at ≈ 0.1 ms per update, the memory arms at ≈ 1 ms (their
/// per-tensor cost dominates on the MLP's small tensors), so the default profile takes
/// ≈ 15–25 min on 2 cores, most of it in the memory arms.
const INVERSE_CAP: usize = 50_000;

/// A workload of class pairs of an MNIST-format data set (`name` is also the data set's
/// folder): the papers' protocol, LeNet learning one image per update, test accuracy 0.98.
const fn digit_pairs(name: &'static str, summary: &'static str, in_full: bool) -> WorkloadEntry {
    WorkloadEntry {
        name,
        summary,
        options: PAIR_OPTIONS,
        threshold: 0.98,
        also: &[],
        cap: 3000,
        quick_cap: 1500,
        curve_unit: 1,
        quick_options: &[("pairs", "1-2,1-3")],
        data: Some(name),
        reference_arms: &[],
        full_tuning: true,
        one_task: false,
        in_full_profile: in_full,
        build: |entry, c| pairs(c, entry.name),
    }
}

/// A workload of the simulated Panda: threshold NMSE 0.1 and `also`, `[cap, quick cap, curve
/// unit]` (the curve unit is its evaluation period), the robot's options and quick data.
const fn robot(
    name: &'static str,
    summary: &'static str,
    also: &'static [f64],
    [cap, quick_cap, curve_unit]: [usize; 3],
    build: Build,
) -> WorkloadEntry {
    WorkloadEntry {
        name,
        summary,
        options: ROBOT_OPTIONS,
        threshold: 0.1,
        also,
        cap,
        quick_cap,
        curve_unit,
        quick_options: ROBOT_QUICK,
        data: None,
        reference_arms: &[],
        full_tuning: true,
        one_task: false,
        in_full_profile: true,
        build,
    }
}

/// Every workload, one entry each.
pub fn registry() -> &'static [WorkloadEntry] {
    const REGISTRY: &[WorkloadEntry] = &[
        digit_pairs(
            "mnist",
            "sequential binary MNIST: online LeNet, one image per update, test accuracy",
            true,
        ),
        digit_pairs(
            "fashion-mnist",
            "the same protocol on Fashion-MNIST class pairs",
            false,
        ),
        robot(
            "panda-forward",
            "simulated Panda, LSTM forward dynamics (128-step BPTT): no payload, 1.5 kg, sinusoids; held-out state-change NMSE",
            FORWARD_ALSO,
            [FORWARD_CAP, 300, 50],
            |_, c| Ok(Box::new(robot_forward(c)?)),
        ),
        robot(
            "panda-inverse",
            "simulated Panda, online inverse dynamics (MLP, one sample per update): no payload, 1.5 kg, sinusoids; held-out torque NMSE",
            &[0.03],
            [INVERSE_CAP, 3000, 500],
            |_, c| Ok(Box::new(robot_inverse(c)?)),
        ),
        WorkloadEntry {
            name: "began",
            summary: "BEGAN on MNIST (the workshop paper's GAN): an optimizer per player, held-out M_global",
            options: BEGAN_OPTIONS,
            threshold: BEGAN_THRESHOLD,
            also: BEGAN_ALSO,
            cap: BEGAN_CAP,
            quick_cap: 100,
            curve_unit: 50,
            quick_options: &[("eval-every", "25"), ("eval-images", "64"), ("fid-samples", "200")],
            data: Some("mnist"),
            reference_arms: &[("adam-began", "adam:lr=1e-4,beta1=0.5")],
            full_tuning: false,
            one_task: true,
            in_full_profile: true,
            build: |_, c| began(c),
        },
    ];
    REGISTRY
}
