//! MNIST and Fashion-MNIST from IDX files a user already has (nothing is downloaded).
//!
//! A directory with the four files of either data set —
//! `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
//! `t10k-labels-idx1-ubyte`, each raw or gzipped (`.gz`), with `-idx` or `.idx` before the
//! format — loads with [`load_dir`]. Pixels become `f32`/`f64` values in `[0, 1]`
//! (`byte / 255`), one image of 28×28 = 784 pixels per row, row by row.
//!
//! ## The IDX format
//!
//! Big-endian `u32`s, then bytes:
//!
//! | file | header | data |
//! |---|---|---|
//! | images | magic `0x00000803`, count, rows, cols | `count·rows·cols` pixels, `u8` |
//! | labels | magic `0x00000801`, count | `count` labels, `u8` |
//!
//! Every file is checked against its header: a wrong magic number, a file cut short, extra
//! bytes, images of another size, counts that disagree and labels outside `0..=9` are each a
//! [`DataError`] naming the file.

use std::path::{Path, PathBuf};

use crate::element::Element;
use crate::shape::{Dyn, U784};
use crate::tensor::Tensor;

use super::dataset::Classification;
use super::error::DataError;
use super::text::gunzip;

/// Magic number of an IDX file of unsigned bytes with 3 dims (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with 1 dim (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Side of an MNIST image in pixels.
pub const SIDE: usize = 28;
/// Number of classes.
pub const NUM_CLASSES: usize = 10;

/// MNIST's class names: the digits.
pub const DIGIT_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// Fashion-MNIST's class names, by label (use with
/// [`Classification::with_class_names`]).
pub const FASHION_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// The training and test parts of MNIST (60 000 and 10 000 images) or Fashion-MNIST, or of
/// the embedded 10 000 digits ([`datasets::mnist10k`](super::datasets::mnist10k): 8 000 and
/// 2 000).
#[derive(Clone, Debug)]
pub struct Mnist<E: Element = f32> {
    /// The `train-*` files (the first 8 000 embedded images for `mnist10k`).
    pub train: Classification<U784, E>,
    /// The `t10k-*` files (the last 2 000 embedded images for `mnist10k`).
    pub test: Classification<U784, E>,
}

impl<E: Element> Mnist<E> {
    /// Renames both parts' classes, e.g. `mnist.with_class_names(&FASHION_CLASSES)`.
    pub fn with_class_names(self, names: &[&str]) -> Result<Self, DataError> {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        Ok(Self {
            train: self.train.with_class_names(names.clone())?,
            test: self.test.with_class_names(names)?,
        })
    }
}

/// The file names tried for one part, in order.
fn candidates(prefix: &str, kind: &str) -> Vec<String> {
    let mut names = Vec::with_capacity(4);
    for sep in ["-", "."] {
        for ext in ["", ".gz"] {
            names.push(format!("{prefix}{sep}{kind}{ext}"));
        }
    }
    names
}

/// The first existing file among the usual names, or [`DataError::MissingFile`] listing them.
fn find(dir: &Path, prefix: &str, kind: &str, what: &'static str) -> Result<PathBuf, DataError> {
    let tried = candidates(prefix, kind);
    tried
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| DataError::MissingFile {
            dir: dir.to_path_buf(),
            what,
            tried,
        })
}

/// Loads the four IDX files in `dir` (see the [module docs](self) for the names).
/// Class names are the digits; for Fashion-MNIST follow with
/// [`Mnist::with_class_names`]`(&FASHION_CLASSES)`.
pub fn load_dir<E: Element>(dir: impl AsRef<Path>) -> Result<Mnist<E>, DataError> {
    let dir = dir.as_ref();
    let train_x = find(dir, "train-images", "idx3-ubyte", "training images")?;
    let train_y = find(dir, "train-labels", "idx1-ubyte", "training labels")?;
    let test_x = find(dir, "t10k-images", "idx3-ubyte", "test images")?;
    let test_y = find(dir, "t10k-labels", "idx1-ubyte", "test labels")?;
    Ok(Mnist {
        train: load_pair(&train_x, &train_y)?,
        test: load_pair(&test_x, &test_y)?,
    })
}

/// Loads one images file and its labels file, checking that the counts agree.
pub fn load_pair<E: Element>(
    images: impl AsRef<Path>,
    labels: impl AsRef<Path>,
) -> Result<Classification<U784, E>, DataError> {
    let (images, labels) = (images.as_ref(), labels.as_ref());
    let x = read_images(images)?;
    let y = read_labels(labels)?;
    if x.dims()[0] != y.len() {
        return Err(DataError::CountMismatch {
            features_origin: images.display().to_string(),
            features: x.dims()[0],
            labels_origin: labels.display().to_string(),
            labels: y.len(),
        });
    }
    let names = DIGIT_CLASSES.iter().map(|s| s.to_string()).collect();
    Classification::new(x, y, names)
}

/// Reads a file, gunzipping it if it starts with the gzip signature (whatever its name).
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        gunzip(&path.display().to_string(), &bytes)
    } else {
        Ok(bytes)
    }
}

/// Reads an IDX images file of 28×28 images; pixels scaled to `[0, 1]`.
pub fn read_images<E: Element>(
    path: impl AsRef<Path>,
) -> Result<Tensor<(Dyn, U784), E>, DataError> {
    let path = path.as_ref();
    parse_images(path, &read_maybe_gz(path)?)
}

/// Reads an IDX labels file; every label must be in `0..=9`.
pub fn read_labels(path: impl AsRef<Path>) -> Result<Vec<usize>, DataError> {
    let path = path.as_ref();
    parse_labels(path, &read_maybe_gz(path)?)
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Checks that `bytes` holds at least the `header` bytes and the magic number; returns the
/// header's `u32`s after the magic.
fn header(
    path: &Path,
    bytes: &[u8],
    what: &'static str,
    magic: u32,
    fields: usize,
) -> Result<Vec<u32>, DataError> {
    let need = 4 * (1 + fields);
    let truncated = || DataError::Truncated {
        path: path.to_path_buf(),
        expected: need as u64,
        found: bytes.len() as u64,
    };
    // The magic number first: a short file of the wrong kind is reported as the wrong kind.
    if bytes.len() < 4 {
        return Err(truncated());
    }
    let found = be_u32(bytes, 0);
    if found != magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            what,
            expected: magic,
            found,
        });
    }
    if bytes.len() < need {
        return Err(truncated());
    }
    Ok((1..=fields).map(|k| be_u32(bytes, 4 * k)).collect())
}

/// Checks the total length against the header's promise.
fn check_len(path: &Path, expected: u64, found: usize) -> Result<(), DataError> {
    let (path, found) = (path.to_path_buf(), found as u64);
    match found.cmp(&expected) {
        std::cmp::Ordering::Less => Err(DataError::Truncated {
            path,
            expected,
            found,
        }),
        std::cmp::Ordering::Greater => Err(DataError::TrailingBytes {
            path,
            expected,
            found,
        }),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

/// Parses the bytes of an IDX images file (already decompressed); `path` names it in errors.
pub fn parse_images<E: Element>(
    path: &Path,
    bytes: &[u8],
) -> Result<Tensor<(Dyn, U784), E>, DataError> {
    let h = header(path, bytes, "IDX images (ubyte, 3 dims)", IMAGES_MAGIC, 3)?;
    let (count, rows, cols) = (h[0] as u64, h[1] as usize, h[2] as usize);
    // In u64: two u32s from the file multiply without overflow on any target.
    if u64::from(h[1]) * u64::from(h[2]) != (SIDE * SIDE) as u64 {
        return Err(DataError::ImageSize {
            path: path.to_path_buf(),
            rows,
            cols,
            expected: SIDE * SIDE,
        });
    }
    check_len(path, 16 + count * (SIDE * SIDE) as u64, bytes.len())?;
    // b / 255 rounded once to E: the same values as torchvision's `ToTensor`.
    let pixels = bytes[16..]
        .iter()
        .map(|&b| E::cast(f64::from(b) / 255.0))
        .collect();
    Ok(Tensor::from_shape_vec(
        (Dyn(count as usize), U784::default()),
        pixels,
    )?)
}

/// Parses the bytes of an IDX labels file (already decompressed); `path` names it in errors.
pub fn parse_labels(path: &Path, bytes: &[u8]) -> Result<Vec<usize>, DataError> {
    let h = header(path, bytes, "IDX labels (ubyte, 1 dim)", LABELS_MAGIC, 1)?;
    check_len(path, 8 + h[0] as u64, bytes.len())?;
    let labels: Vec<usize> = bytes[8..].iter().map(|&b| usize::from(b)).collect();
    super::dataset::check_labels(&path.display().to_string(), &labels, NUM_CLASSES)?;
    Ok(labels)
}
