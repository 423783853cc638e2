//! The optimizers themselves, each a module: the papers' SGD and Adam with the peers they
//! measure (Rprop, hypergradient descent), the learning-rate-free and schedule-free optimizers
//! practitioners pick today (Prodigy, D-Adaptation, DoG, Schedule-Free, COCOB), and the learned
//! LSTM optimizer. Each stands on [`crate::optimizer`] (Adam-HD also on Adam's direction): none knows a
//! wrapper or the registry's text format.

pub(crate) mod adam;
pub mod cocob;
pub mod dadapt;
pub mod dog;
pub(crate) mod hd;
pub mod l2l;
pub mod prodigy;
pub(crate) mod rprop;
pub mod schedule_free;
pub(crate) mod sgd;

#[cfg(test)]
mod tests;
