//! The entries of the [`registry`](crate::registry), by family; each file holds the key tables
//! and build functions of its optimizers, and `keys.rs` the keys several of them share.

pub(super) mod free;
mod keys;
pub(super) mod learned;
pub(super) mod memory;
pub(super) mod plain;
