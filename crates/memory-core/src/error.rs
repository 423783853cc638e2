//! The one error type of this crate.

use alloc::string::String;

/// Everything that can go wrong in `memory-core`. Every variant's message says what to do.
///
/// No function of this crate panics on bad input: configs, gradients and saved bytes are all
/// checked and answered with one of these.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// A configuration value lies outside its valid range.
    #[error("invalid memory config: `{field}` = {value} but it must be {expected}")]
    InvalidConfig {
        /// The offending field of the config.
        field: &'static str,
        /// Its value, formatted.
        value: String,
        /// The valid range, in words.
        expected: &'static str,
    },
    /// Two slices that must have one length per coordinate do not.
    #[error("length mismatch: {what} has {found} entries but {expected} were expected (one per coordinate of the tensor)")]
    LengthMismatch {
        /// Which input was too short or too long.
        what: &'static str,
        /// The length it should have had.
        expected: usize,
        /// The length it had.
        found: usize,
    },
    /// A gradient (or query) coordinate was NaN or infinite; nothing was changed.
    #[error("non-finite gradient at coordinate {index} ({value}); nothing was updated. Fix the loss, lower the learning rate, or choose `NonFinite::Skip` to step over such coordinates")]
    NonFiniteGradient {
        /// The first non-finite coordinate.
        index: usize,
        /// Its value (NaN, inf or -inf).
        value: f32,
    },
    /// Saved bytes could not be read back: too short, not ours, a newer format, or damaged.
    #[error("cannot load saved state: {reason}")]
    Corrupt {
        /// What was wrong with the bytes, and what to do about it.
        reason: String,
    },
}

impl MemoryError {
    pub(crate) fn invalid(
        field: &'static str,
        value: impl core::fmt::Display,
        expected: &'static str,
    ) -> Self {
        use alloc::string::ToString;
        MemoryError::InvalidConfig {
            field,
            value: value.to_string(),
            expected,
        }
    }

    pub(crate) fn corrupt(reason: impl Into<String>) -> Self {
        MemoryError::Corrupt {
            reason: reason.into(),
        }
    }
}

/// Checks that `found == expected`, naming `what` in the error.
pub(crate) fn check_len(
    what: &'static str,
    expected: usize,
    found: usize,
) -> Result<(), MemoryError> {
    if expected == found {
        Ok(())
    } else {
        Err(MemoryError::LengthMismatch {
            what,
            expected,
            found,
        })
    }
}
