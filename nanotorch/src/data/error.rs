//! [`DataError`]: everything that can go wrong reading or preparing a data set.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::error::ShapeError;

/// A problem with data from outside the program — a file, an embedded CSV, a user's vectors —
/// or with the settings used to prepare it. Each variant says what was expected and what was
/// found, and names the file when there is one.
#[derive(Debug, Error)]
pub enum DataError {
    /// A file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// None of the usual names for a file exists in the directory.
    #[error("no {what} file in {dir}: tried {}", tried.join(", "))]
    MissingFile {
        /// The directory searched.
        dir: PathBuf,
        /// Which file was wanted, e.g. `"MNIST training images"`.
        what: &'static str,
        /// Every file name tried, in order.
        tried: Vec<String>,
    },
    /// Gzip data that does not decompress (cut short or not gzip at all).
    #[error("{origin}: cannot decompress gzip data: {source}")]
    Decompress {
        /// The file or embedded data set.
        origin: String,
        /// The decoder's error.
        #[source]
        source: io::Error,
    },
    /// Data bigger than a limit allows, refused before it is held in memory: gzip data that
    /// decompresses to more than [`GUNZIP_LIMIT`](super::GUNZIP_LIMIT) bytes.
    #[error("{origin}: {what}: expected at most {limit} bytes, found more")]
    TooLarge {
        /// The file or embedded data set.
        origin: String,
        /// What is too large, e.g. `"decompressed gzip data"`.
        what: &'static str,
        /// The most bytes allowed.
        limit: u64,
    },
    /// A file is shorter than its header says it must be.
    #[error("{path}: truncated file, expected {expected} bytes, found {found}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header implies (after decompression for `.gz` files).
        expected: u64,
        /// Bytes actually present.
        found: u64,
    },
    /// A file is longer than its header says it should be (a wrong header or two files joined).
    #[error("{path}: {} unexpected bytes after the data: expected {expected} bytes, found {found}", found - expected)]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// Bytes the header implies.
        expected: u64,
        /// Bytes actually present.
        found: u64,
    },
    /// A file does not start with the magic number of the format it should have.
    #[error("{path}: bad magic number {found:#010x}, expected {expected:#010x} ({what})")]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// What the file should be, e.g. `"IDX images"`.
        what: &'static str,
        /// The magic number the format requires.
        expected: u32,
        /// The one found.
        found: u32,
    },
    /// Images of another size than the type asks for.
    #[error("{path}: images are {rows}×{cols} = {} pixels, expected {expected} pixels",
        *rows as u128 * *cols as u128)]
    ImageSize {
        /// The file.
        path: PathBuf,
        /// Rows per image in the file.
        rows: usize,
        /// Columns per image in the file.
        cols: usize,
        /// Pixels per image the feature type holds.
        expected: usize,
    },
    /// Features and labels (or images and labels) of different lengths.
    #[error("{features_origin} holds {features} samples but {labels_origin} holds {labels} labels")]
    CountMismatch {
        /// Where the features came from.
        features_origin: String,
        /// Number of feature rows.
        features: usize,
        /// Where the labels came from.
        labels_origin: String,
        /// Number of labels.
        labels: usize,
    },
    /// A class label outside `0..classes`.
    #[error("{origin}: label {label} of sample {index} is outside 0..{classes}")]
    LabelOutOfRange {
        /// Where the labels came from.
        origin: String,
        /// The sample's position (0-based).
        index: usize,
        /// The label found.
        label: usize,
        /// The number of classes.
        classes: usize,
    },
    /// A line of a text file that cannot be read as the format requires.
    #[error("{origin}, line {line}: {message}")]
    Parse {
        /// The file or embedded data set.
        origin: String,
        /// The line number, from 1.
        line: usize,
        /// What was wrong.
        message: String,
    },
    /// A setting out of range, e.g. a batch size of 0 or a test fraction of 1.5.
    #[error("{what}: {found}")]
    Invalid {
        /// What was wrong.
        what: &'static str,
        /// What was given.
        found: String,
    },
    /// Text that is not valid UTF-8.
    #[error(
        "{origin}: not UTF-8 text (the first {valid_up_to} bytes are valid, then an invalid byte sequence)"
    )]
    NotUtf8 {
        /// The file or embedded data set.
        origin: String,
        /// Bytes from the start that are valid UTF-8.
        valid_up_to: usize,
    },
    /// A text with no characters at all.
    #[error("{origin}: the text is empty")]
    EmptyText {
        /// The file or embedded data set.
        origin: String,
    },
    /// A character that a vocabulary does not hold.
    #[error("character {ch:?} (U+{:04X}) at position {position} (line {line}, column {column}) is not in the vocabulary of {vocab_size} characters", u32::from(*ch))]
    UnknownChar {
        /// The character.
        ch: char,
        /// Its index in the text, counted in characters from 0.
        position: usize,
        /// Its line, from 1.
        line: usize,
        /// Its column in that line, in characters from 1.
        column: usize,
        /// Number of characters the vocabulary has.
        vocab_size: usize,
    },
    /// A token id that names no character of a vocabulary.
    #[error(
        "id {id} at position {position} names no character: the vocabulary has the ids 0..{vocab_size}"
    )]
    UnknownId {
        /// The id.
        id: usize,
        /// Its index in the ids.
        position: usize,
        /// Number of characters the vocabulary has.
        vocab_size: usize,
    },
    /// A text with more distinct characters than the model's vocabulary size `V`.
    #[error(
        "{origin} has {found} distinct characters, more than the model's vocabulary of {capacity}: train a model with a vocabulary of at least {found}"
    )]
    VocabularyTooLarge {
        /// The file or embedded data set.
        origin: String,
        /// Distinct characters in the text.
        found: usize,
        /// The model's vocabulary size (the type-level `V`).
        capacity: usize,
    },
    /// A text (or one part of its split) too short to cut a window of the model's context from.
    #[error(
        "{origin}: the {part} part has {len} characters, but a window of context {context} needs {needed} (the context and one more character for the last target)"
    )]
    TextTooShort {
        /// The file or embedded data set.
        origin: String,
        /// `"training"`, `"validation"` or `"whole"`.
        part: &'static str,
        /// Characters in that part.
        len: usize,
        /// The model's context `T`.
        context: usize,
        /// Characters needed: `T + 1`.
        needed: usize,
    },
    /// A text (or one part of its split) too short to cut into `streams` consecutive streams
    /// of at least one window each ([`CharStreams`](super::CharStreams)).
    #[error(
        "{origin}: the {part} part has {len} characters, but {streams} streams of at least one window of {context} need {needed} ({streams}·{context} and one more character for the last target)"
    )]
    TooShortForStreams {
        /// The file or embedded data set.
        origin: String,
        /// `"training"`, `"validation"` or `"whole"`.
        part: &'static str,
        /// Characters in that part.
        len: usize,
        /// The number of streams (the batch size).
        streams: usize,
        /// The model's context `T`.
        context: usize,
        /// Characters needed: `streams · T + 1`.
        needed: usize,
    },
    /// Data whose sizes do not fit the tensor type.
    #[error(transparent)]
    Shape(#[from] ShapeError),
}
