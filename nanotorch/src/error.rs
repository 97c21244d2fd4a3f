//! Typed errors for bad runtime input. The library returns these instead of panicking.

use thiserror::Error;

/// A runtime shape or data problem: what was expected and what was found.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ShapeError {
    /// The data has a different number of elements than the shape needs.
    #[error("expected {expected} elements for shape {shape}, found {found}")]
    Length {
        /// The shape the caller asked for, e.g. `[50, 3]`.
        shape: String,
        /// Elements that shape holds.
        expected: usize,
        /// Elements the data holds.
        found: usize,
    },
    /// The data's shape differs from the one the type (or the caller) requires.
    #[error("expected shape {expected}, found {found}")]
    Shape {
        /// The required shape, e.g. `[_, 3]` (an `_` is a runtime dim, any size).
        expected: String,
        /// The shape actually given.
        found: String,
    },
    /// Two runtime dims that must agree do not (e.g. two batches of different sizes).
    #[error("{what}: runtime dims disagree, {left} vs {right}")]
    RuntimeDim {
        /// Which dims had to agree.
        what: &'static str,
        /// The first one's size.
        left: usize,
        /// The second one's size.
        right: usize,
    },
    /// A class-index target (cross-entropy, NLL) names no class of the logits.
    #[error(
        "target {index} at position {position} is not a class: expected an index in 0..{classes}"
    )]
    ClassIndex {
        /// Where in the target list (the batch row).
        position: usize,
        /// The index given.
        index: usize,
        /// The number of classes (valid indices are `0..classes`).
        classes: usize,
    },
    /// A value is out of the range an operation accepts (e.g. a dropout probability of 1.5).
    #[error("{what}: {found}")]
    Invalid {
        /// What was wrong.
        what: &'static str,
        /// What was given.
        found: String,
    },
}
