//! Small real data sets, embedded in the library: they load with no file and no download.
//!
//! Each is a byte-for-byte copy of the file scikit-learn ships (see `nanotorch/data/`
//! `PROVENANCE.md` for sources, licences and checksums). Features are returned raw, as
//! scikit-learn's `load_*` functions return them; standardize them with
//! [`Standardizer`](super::Standardizer) fitted on the training part.
//!
//! ```
//! use nanotorch::data::datasets;
//!
//! let digits = datasets::digits::<f32>()?;
//! assert_eq!(digits.features().dims(), &[1797, 64]);
//! assert_eq!(digits.num_classes(), 10);
//! # Ok::<(), nanotorch::data::DataError>(())
//! ```

use crate::element::Element;
use crate::shape::{Dyn, U1, U4, U10, U64};
use crate::shape::{U13, U30};
use crate::tensor::Tensor;

use super::dataset::{Classification, Regression};
use super::error::DataError;
use super::text::{Header, gunzip, labelled_csv, number_table};

static DIGITS_GZ: &[u8] = include_bytes!("../../data/digits.csv.gz");
static IRIS: &[u8] = include_bytes!("../../data/iris.csv");
static BREAST_CANCER: &[u8] = include_bytes!("../../data/breast_cancer.csv");
static WINE: &[u8] = include_bytes!("../../data/wine_data.csv");
static DIABETES_X_GZ: &[u8] = include_bytes!("../../data/diabetes_data_raw.csv.gz");
static DIABETES_Y_GZ: &[u8] = include_bytes!("../../data/diabetes_target.csv.gz");

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
