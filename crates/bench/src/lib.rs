//! # lrmem-bench
//!
//! lrmem's experiments and measurements, as a library. What lives where:
//!
//! | module | its job |
//! |---|---|
//! | [`harness`] | the protocol runner: an [`harness::Experiment`] (arms as optimizer specs, seeds, threshold, cap, tuning) carried out on any [`lrmem_tasks::TaskFamily`] by [`harness::run`], with observers, outcomes, a resumable results file, and shards of the runs that [`harness::merge`] joins |
//! | [`workloads`] | what runs: the workload registry (a new workload is its `TaskFamily` plus one entry), the optimizers' registry presets as arms ([`workloads::arms`]), the profiles ([`workloads::profile`]) |
//! | [`studies`] | experiments with a question of their own: the memory's study ([`studies::study`]), the learned optimizer ([`studies::l2l`]), MAML's learning rates ([`studies::maml`]) |
//! | [`report`] | `REPORT.md`: a workload's tables, figures and pictures, and [`report::run`], everything `cargo xtask bench` writes |
//! | [`plot`] | every figure, as SVG and PNG |
//! | [`speed`] | how fast each optimizer steps, against the memory bandwidth, Adam and the dense D×M formulation of the authors' code ([`speed::dense`]); `speed.json`, `SPEED.md` and its figure |
//! | [`robust`] | every promise under any input, at volume: structured fuzzing of checkpoints, configs and gradient streams, and a long adversarial soak |
//!
//! Beside the library: `src/bin/speed.rs` and `src/bin/robust.rs`, the command lines of the
//! speed suite and of fuzzing and soaking (behind `cargo xtask bench --speed`, `fuzz`,
//! `soak`); `examples/experiment.rs`, the harness from your own program; `benches/`, the
//! criterion suites (the only use of criterion, a dev-dependency): `step.rs` (one step on one
//! tensor, every case of [`speed::cases`], D ∈ {10³, 10⁵, 10⁶, 10⁷}), `memory.rs` (the memory
//! alone, lrmem's truncated kernels against [`speed::dense::DenseMemory`]), `bandwidth.rs`
//! (STREAM copy and triad, the roofline), `model.rs` (one online update of the LeNet);
//! `tests/`, the harness, its shards, and the dense baseline against the memory.
//!
//! Every list of optimizers here (the profiles' arms, the studies' peers, the speed cases) is
//! derived from `lrmem_optimizers::registry`. Ratios measured in one run are what to quote:
//! the machines are shared and noisy.

mod error;
pub mod harness;
pub mod plot;
pub mod report;
pub mod robust;
pub mod speed;
pub mod studies;
pub mod workloads;

pub use error::BenchError;
