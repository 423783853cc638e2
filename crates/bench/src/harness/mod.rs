//! The experiment harness: any [`TaskFamily`](lrmem_tasks::TaskFamily) × any optimizer of the
//! registry, the papers' transfer protocol, tuning, resumable results, runs spread over machines.
//!
//! An [`Experiment`] names a protocol (threshold, cap, curve spacing), the [`Arm`]s (an
//! [`OptimizerSpec`](lrmem_optimizers::OptimizerSpec) each, and whether it carries its learned
//! state into the next task), the seeds, the base learning rate of the "paper" setting and an
//! optional [`Tuning`]. [`run`] carries it out on a task family with [`RunOptions`] (threads,
//! results file, resume, a [`Shard`] of the runs) and an [`Observer`] (progress bars, logging);
//! [`merge`] joins the shards' results files into the results one machine would have;
//! [`run_one`] is one run, for callers that drive their own loop.
//!
//! Where each part lives:
//!
//! - `arm.rs`: [`Arm`], an optimizer spec and whether it reloads; its text form.
//! - `experiment.rs`: [`Protocol`], [`Setting`], [`RunSpec`], [`Experiment`], [`RunOptions`],
//!   [`Results`]: what an experiment is and what it gives.
//! - `outcome.rs`: [`Outcome`], [`TaskResult`], [`RunResult`]: what one run gave.
//! - `observer.rs`: [`Observer`], and observers that watch nothing or pass on to two.
//! - `run_one.rs`: [`run_one`], one run task by task, update by update.
//! - `run.rs`: [`run`] and [`merge`], the order of the settings and what a results file
//!   already holds.
//! - `threads.rs`: the parallel runs, one thread (and one rayon pool) each.
//! - `tune.rs`: [`Tuning`] and how a tuned learning rate is picked.
//! - `store.rs`: [`ResultsFile`], the resumable results file.
//! - `shard.rs`: [`Shard`], which runs a machine of a job array takes, and the shards' files.
//!
//! ```no_run
//! use lrmem_bench::harness::{self, Arm, Experiment, NoObserver, Protocol, RunOptions};
//! use lrmem_tasks::{mnist::{Mnist, PixelScale}, MnistPairs};
//!
//! let mnist = Mnist::load(&lrmem_tasks::mnist::default_dir())?;
//! let family = MnistPairs::new(&mnist, &[(1, 2), (1, 3)], PixelScale::Unit)?;
//! let experiment = Experiment {
//!     arms: vec![Arm::parse("sgd")?, Arm::parse("meta-sgd:xi=0.001+reload")?],
//!     seeds: vec![0, 1],
//!     ..Experiment::new("mnist", Protocol { threshold: 0.98, cap: 3000, curve_every: 150, also: vec![] })
//! };
//! let results = harness::run(&family, &experiment, &RunOptions::default(), &NoObserver)?;
//! for run in &results.runs {
//!     println!("{} seed {}: {:?}", run.spec.arm.name, run.spec.seed, run.tasks[0].outcome);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod arm;
mod experiment;
mod observer;
mod outcome;
mod run;
mod run_one;
mod shard;
pub(crate) mod store;
mod threads;
mod tune;

pub use arm::Arm;
pub use experiment::{Experiment, Protocol, Results, RunOptions, RunSpec, Setting};
pub use observer::{Both, NoObserver, Observer};
pub use outcome::{Crossing, Outcome, RunResult, TaskResult};
pub use run::{merge, run};
pub use run_one::{run_one, task_seed};
pub use shard::{results_file_name, shard_files, Shard};
pub use store::{ResultsFile, SCHEMA, SCHEMA_VERSION};
pub use tune::{pick_lr, takes_base_lr, widened, TunedLr, Tuning};
