//! The entries of the [`registry`](crate::registry()), by family: `papers.rs` (the baselines,
//! the memory over each base and the papers' peers), `peers.rs` (the learning-rate-free peers and
//! the learned optimizer); `keys.rs` holds the keys several of them share.

mod keys;
pub(super) mod papers;
pub(super) mod peers;
