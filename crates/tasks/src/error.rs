//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while loading data or training a task.
///
/// Bad input files are errors, never panics; each message names the file and says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// A data file could not be read (missing, unreadable, damaged gzip stream).
    #[error("cannot read {path}: {source}; run `cargo xtask data` (or set LRMEM_DATA to the folder holding mnist/)")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS or the gzip decoder said.
        #[source]
        source: std::io::Error,
    },
    /// A cache file (e.g. the trained feature network of [`crate::fid`]) could not be written.
    #[error("cannot write the cache file {path}: {source}; make its folder writable or give another path")]
    Cache {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// None of the accepted names of a data file exists in the folder.
    #[error("{dir} has no {name} (nor {name}.gz); run `cargo xtask data` (or set LRMEM_DATA to the folder holding mnist/)")]
    MissingFile {
        /// The folder searched.
        dir: PathBuf,
        /// The file's name without `.gz`.
        name: String,
    },
    /// The file is not the kind of IDX file expected (wrong magic number).
    #[error("{path} is not an IDX {what} file: magic number {found:#010x}, expected {expected:#010x}; the file is damaged or mislabelled: run `cargo xtask data` again")]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// "images" or "labels".
        what: &'static str,
        /// The magic number read.
        found: u32,
        /// The magic number required.
        expected: u32,
    },
    /// The file's length does not match its header (truncated, or trailing bytes).
    #[error("{path} has {actual} bytes but its IDX header promises {expected}; the file is truncated or damaged: run `cargo xtask data` again")]
    Length {
        /// The file.
        path: PathBuf,
        /// Bytes the header implies (header included).
        expected: u64,
        /// Bytes found (after decompression).
        actual: u64,
    },
    /// A header or content that no valid data set has (zero or mismatched sizes, labels > 9).
    #[error("{path}: {reason}; run `cargo xtask data` again")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A bad request by the caller (e.g. digits out of range), as opposed to bad data.
    #[error("invalid argument: {0}")]
    Argument(String),
    /// A trainable tensor received no gradient: the autodiff tape did not reach it.
    #[error("no gradient for {names:?}: the autodiff tape did not reach these tensors (an op whose operands all lacked the tape); fix the model's forward pass")]
    MissingGradient {
        /// The tensors' names.
        names: Vec<String>,
    },
    /// The adapter was used with a model it was not built for.
    #[error("model mismatch at tensor {index} (`{name}`): {reason}; build one Adapter per model")]
    ModelMismatch {
        /// The visit index.
        index: usize,
        /// The name the adapter recorded.
        name: String,
        /// What differs.
        reason: String,
    },
    /// The optimizer refused a step (e.g. a non-finite gradient).
    #[error("optimizer step on `{name}` failed: {source}")]
    Optim {
        /// The tensor being stepped.
        name: String,
        /// The optimizer's error.
        #[source]
        source: lrmem_optimizers::OptimError,
    },
    /// A joint vector handed to the Panda model has the wrong number of entries.
    #[error("{what} has {found} entries but the Panda has {expected} joints; pass one value per joint, base to flange")]
    JointCount {
        /// Which vector (`q`, `qd`, `qdd`, `tau`, possibly prefixed by where it came from).
        what: String,
        /// Entries required.
        expected: usize,
        /// Entries given.
        found: usize,
    },
    /// A joint vector or configuration value handed to the Panda model is NaN or infinite.
    #[error("{what}[{index}] is {value}; every joint value must be a finite number")]
    NonFinite {
        /// Which vector.
        what: String,
        /// The offending entry.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// The vendored robot description failed to load (the packaged crate is damaged).
    #[error("the vendored Panda URDF does not give a 7-joint arm: {0}; reinstall lrmem-tasks (crates/tasks/data/panda must be the file named in its PROVENANCE.md)")]
    Robot(String),
    /// A JSON input (e.g. the `panda` example's STATES.json) is malformed.
    #[error("{origin}: {reason}")]
    Json {
        /// Where the JSON came from (a file name, or a position inside it).
        origin: String,
        /// What is wrong and what to write instead.
        reason: String,
    },
    /// Data for the dynamics models hold a NaN or an infinity.
    #[error("{what} holds a non-finite value at index {index}; the simulation or the sensor data that produced it diverged: regenerate or filter the data")]
    NonFiniteData {
        /// Which data (e.g. "training trajectory 3, tau").
        what: String,
        /// Index of the first bad value in that array.
        index: usize,
    },
    /// An evaluation target does not vary, so its NMSE (MSE divided by the target's variance)
    /// is undefined.
    #[error("dimension {dim} of {what} is constant on the evaluation set, so its NMSE is undefined; evaluate on data where every output varies")]
    ConstantTarget {
        /// Which targets.
        what: String,
        /// The constant dimension.
        dim: usize,
    },
    /// Training produced a non-finite loss: the model diverged (an outcome of a too-large
    /// step, reported rather than trained on).
    #[error("{what} at iteration {iteration} is not finite: the model diverged; lower the learning rates")]
    Diverged {
        /// Which losses, with their values.
        what: String,
        /// Iterations done before the diverged one.
        iteration: usize,
    },
    /// dfdx's device failed (allocation, shape); carries dfdx's message.
    #[error("dfdx device error: {0}")]
    Device(String),
}

impl From<dfdx::tensor::CpuError> for TaskError {
    fn from(e: dfdx::tensor::CpuError) -> Self {
        TaskError::Device(e.to_string())
    }
}
