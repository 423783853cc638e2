//! Versioned save/load: a small envelope (magic, format version, kind) around a postcard body.
//!
//! ```text
//! b"LRMEM" | format version: u16 LE | kind: u8 | postcard payload | CRC-32C: u32 LE
//! ```
//! The CRC-32C (Castagnoli) covers every byte before it, so that a damaged file is refused
//! before anything is decoded (a flipped bit inside a float would otherwise decode to another
//! valid number). Formats written before the checksum (memories of version 1, optimizer
//! checkpoints of versions 1 and 2) still load, unchecked.
//! The envelope is public so that crates built on this one (the optimizers' whole-state
//! checkpoints) write the same, checked format.

use alloc::format;
use alloc::vec::Vec;

use serde::{de::DeserializeOwned, Serialize};

use crate::config::MemoryConfig;
use crate::error::MemoryError;
use crate::memory::Memory;
use crate::rule::RuleState;

/// First bytes of every file lrmem writes.
pub const MAGIC: &[u8; 5] = b"LRMEM";
/// Header length: magic, version, kind.
const HEADER: usize = 5 + 2 + 1;
/// Trailer length: the CRC-32C.
const TRAILER: usize = 4;
/// CRC-32C (Castagnoli; `CRC_32_ISCSI` in the `crc` catalogue).
const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// What a saved blob holds, so that one kind of state is never read as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
#[non_exhaustive]
pub enum Kind {
    /// A [`Memory`] (config, θ and its optimizer's state).
    Memory = 1,
    /// A whole optimizer (crate `optimizers`).
    Optimizer = 2,
    /// A [`ContextMemory`](crate::ContextMemory) (config, θ and its optimizer's state).
    ContextMemory = 3,
}

/// Wraps `value` as `MAGIC | version | kind | postcard(value) | CRC-32C` (the version given
/// must be one that has the checksum: every current one).
pub fn seal<T: Serialize>(kind: Kind, version: u16, value: &T) -> Result<Vec<u8>, MemoryError> {
    let mut out = Vec::with_capacity(HEADER + 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.push(kind as u8);
    let body = postcard::to_allocvec(value)
        .map_err(|e| MemoryError::corrupt(format!("could not encode state: {e}")))?;
    out.extend_from_slice(&body);
    let sum = CRC.checksum(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    Ok(out)
}

/// Checks the envelope of `bytes` (magic, `kind`, a version in `1..=newest`, and from version
/// `checked_since` on the CRC-32C trailer) and returns the format version and the payload.
pub fn open(
    bytes: &[u8],
    kind: Kind,
    newest: u16,
    checked_since: u16,
) -> Result<(u16, &[u8]), MemoryError> {
    if bytes.len() < HEADER {
        return Err(MemoryError::corrupt(format!(
            "{} bytes is shorter than the {HEADER}-byte header: the file is truncated or not an lrmem file",
            bytes.len()
        )));
    }
    if &bytes[..5] != MAGIC {
        return Err(MemoryError::corrupt(
            "missing the LRMEM magic bytes: this is not a file saved by lrmem",
        ));
    }
    let version = u16::from_le_bytes([bytes[5], bytes[6]]);
    if version == 0 || version > newest {
        return Err(MemoryError::corrupt(format!(
            "format version {version} is not supported (this build reads 1..={newest}); upgrade lrmem to read it"
        )));
    }
    if bytes[7] != kind as u8 {
        return Err(MemoryError::corrupt(format!(
            "the file holds kind {} but kind {} ({kind:?}) was expected",
            bytes[7], kind as u8
        )));
    }
    if version < checked_since {
        return Ok((version, &bytes[HEADER..]));
    }
    if bytes.len() < HEADER + TRAILER {
        return Err(MemoryError::corrupt(
            "the file ends before its checksum: it is truncated",
        ));
    }
    let (data, trailer) = bytes.split_at(bytes.len() - TRAILER);
    let saved = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    if CRC.checksum(data) != saved {
        return Err(MemoryError::corrupt(
            "the checksum does not match: the bytes were damaged or truncated after they were saved; nothing was loaded",
        ));
    }
    Ok((version, &data[HEADER..]))
}

/// Decodes a whole postcard payload; trailing bytes are an error.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, MemoryError> {
    let (value, rest) = postcard::take_from_bytes(payload)
        .map_err(|e| MemoryError::corrupt(format!("the payload is damaged or truncated ({e})")))?;
    if !rest.is_empty() {
        return Err(MemoryError::corrupt(format!(
            "{} unexpected bytes after the payload",
            rest.len()
        )));
    }
    Ok(value)
}

/// A saved memory (version 3): the config, θ, the memory optimizer's state.
#[derive(serde::Serialize, serde::Deserialize)]
struct MemoryV3 {
    config: MemoryConfig,
    theta: Vec<f32>,
    rule: RuleState,
}

/// Versions 1 and 2 of a saved memory: the same fields, with the config of those versions.
#[derive(serde::Deserialize)]
struct MemoryV1 {
    config: MemoryConfigV2,
    theta: Vec<f32>,
    rule: RuleState,
}

/// [`MemoryConfig`] as memories of versions 1 and 2 (and optimizer checkpoints up to version 3)
/// laid it out: every field of today's but [`MemoryConfig::space`], `scale` and `reload`, which were
/// always linear, raw and θ only. Public (hidden) for the optimizers' own
/// legacy checkpoints.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
pub struct MemoryConfigV2 {
    num_centers: usize,
    clip: f32,
    lm_scale: f32,
    layout: crate::Layout,
    eta0: f32,
    theta_min: f32,
    theta_max: f32,
    signal: crate::Signal,
    optimizer: crate::MemoryOptimizer,
    cutoff: f32,
    non_finite: crate::NonFinite,
}

impl From<MemoryConfigV2> for MemoryConfig {
    fn from(c: MemoryConfigV2) -> Self {
        MemoryConfig {
            num_centers: c.num_centers,
            clip: c.clip,
            lm_scale: c.lm_scale,
            layout: c.layout,
            eta0: c.eta0,
            theta_min: c.theta_min,
            theta_max: c.theta_max,
            signal: c.signal,
            optimizer: c.optimizer,
            cutoff: c.cutoff,
            non_finite: c.non_finite,
            space: crate::ThetaSpace::Linear,
            scale: crate::QueryScale::Raw,
            reload: crate::Reload::Theta,
        }
    }
}

/// 1: config, θ, moments. 2: adds the checksum. 3: the config gains `space`, `scale` and `reload`.
const MEMORY_VERSION: u16 = 3;

impl Memory {
    /// Saves config, θ and the memory optimizer's state in the versioned envelope.
    ///
    /// ```
    /// use lrmem_memory_core::{Memory, MemoryConfig};
    /// let mem = Memory::new(MemoryConfig::default())?;
    /// let bytes = mem.to_bytes()?;
    /// assert_eq!(Memory::from_bytes(&bytes)?, mem);
    /// assert!(Memory::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    /// # Ok::<(), lrmem_memory_core::MemoryError>(())
    /// ```
    pub fn to_bytes(&self) -> Result<Vec<u8>, MemoryError> {
        let body = MemoryV3 {
            config: *self.config(),
            theta: self.theta().to_vec(),
            rule: self.rule_state().clone(),
        };
        seal(Kind::Memory, MEMORY_VERSION, &body)
    }

    /// Loads what [`Memory::to_bytes`] wrote. Truncated, damaged, foreign or newer bytes, an
    /// invalid config and θ outside its bounds are all errors; nothing panics.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MemoryError> {
        let (version, payload) = open(bytes, Kind::Memory, MEMORY_VERSION, 2)?;
        let v: MemoryV3 = if version < 3 {
            let old: MemoryV1 = decode(payload)?;
            MemoryV3 {
                config: old.config.into(),
                theta: old.theta,
                rule: old.rule,
            }
        } else {
            decode(payload)?
        };
        v.config
            .validate()
            .map_err(|e| MemoryError::corrupt(format!("saved config is invalid: {e}")))?;
        Memory::restore(v.config, v.theta, v.rule)
    }
}

/// A saved context memory (version 1): the config, θ (K·M), the memory optimizer's state.
#[derive(serde::Serialize, serde::Deserialize)]
struct ContextMemoryV1 {
    config: crate::ContextConfig,
    theta: Vec<f32>,
    rule: RuleState,
}

/// 1: config, θ, moments, with the checksum.
const CONTEXT_VERSION: u16 = 1;

impl crate::ContextMemory {
    /// Saves config, θ and the memory optimizer's state in the versioned, checksummed envelope.
    ///
    /// ```
    /// use lrmem_memory_core::{ContextConfig, ContextMemory};
    /// let mem = ContextMemory::new(ContextConfig::default())?;
    /// let bytes = mem.to_bytes()?;
    /// assert_eq!(ContextMemory::from_bytes(&bytes)?, mem);
    /// assert!(ContextMemory::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    /// # Ok::<(), lrmem_memory_core::MemoryError>(())
    /// ```
    pub fn to_bytes(&self) -> Result<Vec<u8>, MemoryError> {
        let body = ContextMemoryV1 {
            config: *self.config(),
            theta: self.theta().to_vec(),
            rule: self.rule_state().clone(),
        };
        seal(Kind::ContextMemory, CONTEXT_VERSION, &body)
    }

    /// Loads what [`ContextMemory::to_bytes`](crate::ContextMemory::to_bytes) wrote.
    /// Truncated, damaged, foreign or newer bytes, an invalid config and θ outside its bounds
    /// are all errors; nothing panics.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MemoryError> {
        let (_, payload) = open(bytes, Kind::ContextMemory, CONTEXT_VERSION, 1)?;
        let v: ContextMemoryV1 = decode(payload)?;
        v.config
            .validate()
            .map_err(|e| MemoryError::corrupt(format!("saved config is invalid: {e}")))?;
        crate::ContextMemory::restore(v.config, v.theta, v.rule)
    }
}
