//! # lrmem-bench
//!
//! lrmem's experiments and measurements, as a library: the experiment harness that runs any
//! workload with any optimizer of the registry, its reports, and the speed measurements.
//! The only crate that depends on criterion (a dev-dependency, for its benchmark suites).
//!
//! * [`harness`]: the protocol runner — an [`harness::Experiment`] (arms as
//!   [`lrmem_optimizers::OptimizerSpec`]s, seeds, threshold, cap, tuning) carried out on any
//!   [`lrmem_tasks::TaskFamily`] by [`harness::run`], with observers, outcomes (reached, censored,
//!   diverged, failed) and a results file that a killed experiment resumes from.
//! * [`workloads`]: the workload registry (MNIST and Fashion-MNIST digit pairs today); a new
//!   workload is its `TaskFamily` plus one line there. [`workloads::arms`]: the registry's preset arms by name; [`workloads::profile`]: what each profile runs.
//! * [`report`]: the markdown tables and figures of an experiment's results.
//! * [`robust`]: every promise under any input, at volume: structured fuzzing of checkpoints,
//!   configs and gradient streams, and a long adversarial soak (`cargo xtask fuzz`, `soak`).
//!
//! And how fast lrmem's optimizers step, measured against the machine's memory bandwidth and
//! against the dense formulation of the authors' code:
//!
//! * `benches/step.rs`: one optimizer step on one tensor, every optimizer, D ∈ {10³, 10⁵, 10⁶,
//!   10⁷}, M ∈ {20, 100} for the meta optimizers; throughput in elements/s and bytes/s.
//! * `benches/memory.rs`: the memory alone, update (G and θ) and prediction (η) separately,
//!   lrmem's truncated kernels against [`speed::dense::DenseMemory`].
//! * `benches/bandwidth.rs`: STREAM-style copy and triad on the same sizes (the roofline).
//! * [`speed`]: every optimizer of [`speed::cases`] timed side by side, interleaved, on the
//!   same tensors, plus copy/triad and the dense baseline; the report as JSON, Markdown and a
//!   figure. `src/bin/speed.rs` is its command line, behind `cargo xtask bench --speed`.
//! * [`plot`]: every figure of the reports, as SVG and PNG.
//!
//! Ratios measured in one run are what to quote: the machines are shared and noisy.

mod error;
pub mod harness;
pub mod plot;
pub mod report;
pub mod robust;
pub mod speed;
pub mod studies;
pub mod workloads;

pub use error::BenchError;
