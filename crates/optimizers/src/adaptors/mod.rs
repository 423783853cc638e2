//! Adaptors to the frameworks models live in: burn modules (feature `burn`) and ndarray arrays
//! (feature `ndarray`), each stepped by any optimizer of this crate.

#[cfg(feature = "burn")]
pub mod burn;
#[cfg(feature = "ndarray")]
pub mod ndarray;
