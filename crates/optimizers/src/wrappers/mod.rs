//! Optimizers over any optimizer: [`Meta`](crate::Meta) (a memory of learning rates in place of
//! a base's learning rate) and [`MetaContext`](crate::MetaContext) (the memory over two
//! inputs), [`Mechanic`](crate::Mechanic) (a learned scale of a base's steps),
//! [`Scheduled`](crate::Scheduled) (hyperparameters from schedules) and
//! [`Groups`](crate::Groups) (an optimizer per group of tensors).

pub mod context;
pub(crate) mod groups;
pub mod mechanic;
pub(crate) mod meta;
pub mod schedule;
