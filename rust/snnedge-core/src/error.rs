//! The one error type of the core. Each variant becomes one Python exception class.

use alloc::string::String;
use core::fmt;

/// Everything that can go wrong in the core, with what was expected, what was found and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// An array or tensor has the wrong shape or size.
    Shape {
        /// What has the wrong shape (for example `connection "fc1" weight`).
        what: String,
        /// The expected shape or size.
        expected: String,
        /// The shape or size found.
        found: String,
    },
    /// Event timestamps go backwards inside a chunk or against the previous chunk.
    UnsortedEvents {
        /// Index of the offending event within the chunk.
        index: usize,
        /// Its timestamp in microseconds.
        t_us: u64,
        /// The timestamp it must not be below.
        previous_t_us: u64,
    },
    /// An event arrived for a tick that the engine has already completed (after `advance`).
    LateEvent {
        /// Index of the offending event within the chunk.
        index: usize,
        /// Its timestamp in microseconds.
        t_us: u64,
        /// The first tick still open.
        open_tick: u64,
        /// Its start time in microseconds.
        open_t_us: u64,
    },
    /// An event addresses a neuron outside the model's input layout.
    EventOutOfRange {
        /// Index of the offending event within the chunk.
        index: usize,
        /// Which field (`x`, `y` or `p`) is out of range.
        field: &'static str,
        /// Its value.
        value: u64,
        /// The exclusive upper bound.
        limit: u64,
    },
    /// A parameter does not fit its integer format.
    ParameterOverflow {
        /// The layer or connection it belongs to.
        layer: String,
        /// The parameter name.
        parameter: String,
        /// The value found (as text, it may be any integer).
        value: String,
        /// The allowed range.
        range: String,
    },
    /// The model description is inconsistent (unknown layer, cycle without delay, ...).
    InvalidModel {
        /// The layer or connection concerned (empty for the whole model).
        layer: String,
        /// What is wrong.
        message: String,
    },
    /// A model file cannot be decoded (bad magic, version, checksum or encoding).
    ModelFormat {
        /// Byte offset where the problem was found, when known.
        offset: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// A checkpoint cannot be read or does not belong to the model.
    Checkpoint {
        /// What is wrong.
        message: String,
    },
    /// A name passed to a query does not exist (for example `Engine.state("nope")`).
    UnknownName {
        /// The kind of thing (`layer`, `connection`).
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// The names that exist.
        known: String,
    },
    /// An event file does not follow its format (bad magic, corrupt packet, impossible value).
    EventFormat {
        /// The format being read (`"EVT 3.0"`, `"AEDAT 4"`...).
        format: &'static str,
        /// Byte offset in the file where the problem starts.
        offset: u64,
        /// What the reader expected there.
        expected: String,
        /// What it found.
        found: String,
    },
    /// An event file ends inside a header, record or packet (the bytes before it were decoded).
    Truncated {
        /// The format being read.
        format: &'static str,
        /// Byte offset of the incomplete header, record or packet.
        offset: u64,
        /// What was being read there.
        expected: String,
        /// How many bytes were left.
        found: String,
    },
    /// The format of a file cannot be recognised from its first bytes (nor from its name).
    UnknownFormat {
        /// The file.
        path: String,
        /// The formats that are recognised.
        expected: String,
        /// The first bytes found (escaped).
        found: String,
    },
    /// The operating system could not open, read or write a file.
    Io {
        /// The file.
        path: String,
        /// The kind of failure (`NotFound`, `PermissionDenied`...).
        kind: String,
        /// The system's message.
        message: String,
    },
    /// Events cannot be stored in the requested format (coordinate too large for its fields, ...).
    Unencodable {
        /// The format being written.
        format: &'static str,
        /// Index of the offending event within the chunk given to the writer.
        index: usize,
        /// What does not fit.
        message: String,
    },
    /// A parameter or an input value is outside what its component accepts (for example an
    /// encoder threshold that is not positive, or a timestamp that goes back in time).
    InvalidParameter {
        /// The component it belongs to (for example `delta encoder`).
        what: String,
        /// The parameter name.
        parameter: String,
        /// The value found, as text.
        value: String,
        /// What is accepted.
        expected: String,
    },
}

/// Result with the core [`Error`].
pub type Result<T> = core::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape { what, expected, found } => {
                write!(f, "{what}: expected shape {expected}, found {found}")
            }
            Error::UnsortedEvents { index, t_us, previous_t_us } => write!(
                f,
                "event {index}: timestamp {t_us} us is earlier than the previous one ({previous_t_us} us); events must be sorted by t"
            ),
            Error::LateEvent { index, t_us, open_tick, open_t_us } => write!(
                f,
                "event {index}: timestamp {t_us} us falls in a tick that is already complete; the first open tick is {open_tick} (starting at {open_t_us} us)"
            ),
            Error::EventOutOfRange { index, field, value, limit } => write!(
                f,
                "event {index}: {field} = {value} is outside the model's input layout (expected {field} < {limit})"
            ),
            Error::ParameterOverflow { layer, parameter, value, range } => write!(
                f,
                "{layer}: parameter {parameter} = {value} does not fit its integer format (expected {range})"
            ),
            Error::InvalidModel { layer, message } => {
                if layer.is_empty() {
                    write!(f, "invalid model: {message}")
                } else {
                    write!(f, "invalid model: {layer}: {message}")
                }
            }
            Error::ModelFormat { offset, message } => match offset {
                Some(o) => write!(f, "model file, byte {o}: {message}"),
                None => write!(f, "model file: {message}"),
            },
            Error::Checkpoint { message } => write!(f, "checkpoint: {message}"),
            Error::UnknownName { kind, name, known } => {
                write!(f, "no {kind} named {name:?}; the model has: {known}")
            }
            Error::EventFormat { format, offset, expected, found } => {
                write!(f, "{format} file, byte {offset}: expected {expected}, found {found}")
            }
            Error::Truncated { format, offset, expected, found } => {
                write!(f, "{format} file truncated at byte {offset}: expected {expected}, found {found}")
            }
            Error::UnknownFormat { path, expected, found } => {
                write!(f, "{path}: unknown event file format (first bytes {found}); expected one of: {expected}")
            }
            Error::Io { path, kind, message } => write!(f, "{path}: {message} ({kind})"),
            Error::Unencodable { format, index, message } => {
                write!(f, "event {index} cannot be written as {format}: {message}")
            }
            Error::InvalidParameter { what, parameter, value, expected } => {
                write!(f, "{what}: parameter {parameter} = {value} is not accepted (expected {expected})")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// Shorthand for an [`Error::InvalidModel`].
pub(crate) fn invalid(layer: &str, message: impl Into<String>) -> Error {
    Error::InvalidModel { layer: layer.into(), message: message.into() }
}

/// Shorthand for an [`Error::ParameterOverflow`] when `value` is outside `lo..=hi`.
pub(crate) fn check_range(layer: &str, parameter: &str, value: i64, lo: i64, hi: i64) -> Result<()> {
    if value < lo || value > hi {
        return Err(Error::ParameterOverflow {
            layer: layer.into(),
            parameter: parameter.into(),
            value: alloc::format!("{value}"),
            range: alloc::format!("{lo}..={hi}"),
        });
    }
    Ok(())
}
