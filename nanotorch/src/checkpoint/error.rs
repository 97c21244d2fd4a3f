//! [`CheckpointError`] and the per-parameter [`Problem`]s a load can find.

use std::fmt;
use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::shape::fmt_dims;

/// Why a checkpoint could not be saved or loaded.
#[derive(Debug, Error)]
pub enum CheckpointError {
    /// The file system refused an operation.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done: `"read"`, `"create"`, `"write"`, `"rename onto"`, ...
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The bytes are not a valid safetensors file (cut short, bad header, overlapping data).
    #[error("{origin} is not a valid safetensors file: {message}")]
    Corrupt {
        /// The file, or `"the checkpoint bytes"`.
        origin: String,
        /// What the safetensors reader found wrong.
        message: String,
    },
    /// The file is valid but does not fit the model; every problem is listed.
    #[error("{origin} does not fit the model ({} problem{}):{}", problems.len(),
        if problems.len() == 1 { "" } else { "s" }, ListProblems(problems))]
    Mismatch {
        /// The file, or `"the checkpoint bytes"`.
        origin: String,
        /// Each parameter or buffer that is missing, unexpected, or of the wrong shape or
        /// dtype.
        problems: Vec<Problem>,
    },
    /// The model names two parameters or buffers the same, so a state dict cannot hold it.
    #[error("the model has two parameters or buffers named `{name}`")]
    DuplicateName {
        /// The repeated name.
        name: String,
    },
    /// The safetensors writer refused the tensors (should not happen for a valid model).
    #[error("cannot encode the checkpoint: {message}")]
    Encode {
        /// The writer's message.
        message: String,
    },
}

impl CheckpointError {
    /// The per-parameter problems, if this is a [`CheckpointError::Mismatch`]; else empty.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Mismatch { problems, .. } => problems,
            _ => &[],
        }
    }
}

/// One parameter or buffer that does not fit, by its state-dict name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The model has this parameter or buffer; the file does not.
    Missing {
        /// State-dict name, e.g. `"fc1.weight"`.
        name: String,
        /// The model's sizes for it.
        shape: Vec<usize>,
    },
    /// The file has this tensor; the model has no parameter or buffer of that name.
    Unexpected {
        /// The tensor's name in the file.
        name: String,
        /// Its sizes in the file.
        shape: Vec<usize>,
    },
    /// Same name, different sizes.
    Shape {
        /// State-dict name.
        name: String,
        /// The model's sizes.
        expected: Vec<usize>,
        /// The file's sizes.
        found: Vec<usize>,
    },
    /// Same name, an element type the model cannot take without conversion.
    Dtype {
        /// State-dict name.
        name: String,
        /// The model's type: `"F32"` or `"F64"`, or `"I64"` for a counter
        /// (`num_batches_tracked`).
        expected: &'static str,
        /// The file's type, e.g. `"F64"` or `"I64"`.
        found: String,
    },
}

impl Problem {
    /// The parameter, buffer or tensor name the problem is about.
    pub fn name(&self) -> &str {
        match self {
            Self::Missing { name, .. }
            | Self::Unexpected { name, .. }
            | Self::Shape { name, .. }
            | Self::Dtype { name, .. } => name,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { name, shape } => {
                write!(f, "missing `{name}` (the model's is {})", fmt_dims(shape))
            }
            Self::Unexpected { name, shape } => write!(
                f,
                "unexpected `{name}` {} (the model has no parameter or buffer of that name)",
                fmt_dims(shape)
            ),
            Self::Shape {
                name,
                expected,
                found,
            } => write!(
                f,
                "shape of `{name}`: the model's is {}, the file's is {}",
                fmt_dims(expected),
                fmt_dims(found)
            ),
            Self::Dtype {
                name,
                expected,
                found,
            } => write!(
                f,
                "dtype of `{name}`: the model's is {expected}, the file's is {found}"
            ),
        }
    }
}

/// Formats problems one per line, indented, for [`CheckpointError::Mismatch`].
struct ListProblems<'a>(&'a [Problem]);

impl fmt::Display for ListProblems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in self.0 {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}
