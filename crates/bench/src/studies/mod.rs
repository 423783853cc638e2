//! The studies: experiments with a question of their own, each with its results and its
//! section of the report.
//!
//! - [`study`]: does a memory of learning rates pay? The diagnosis, the variants on development
//!   tasks, the recommended memory on held-out tasks (`cargo xtask bench --study`).
//! - [`l2l`]: the learned LSTM optimizer against the peers (`--l2l`). Learning to learn spreads
//!   over three crates by layer: the optimizer and its weights in `lrmem_optimizers::l2l`, the
//!   task families and meta-training in `lrmem_tasks::l2l`, the study (arms, tuning, report)
//!   here.
//! - [`maml`]: MAML's learning rates on mixed linear regression (`--maml`); the exact losses in
//!   `lrmem_tasks::maml`, the sweep and the memory's run here.

pub mod l2l;
pub mod maml;
pub mod study;
