//! The two kinds of data set: [`Classification`] (features and class labels) and
//! [`Regression`] (features and real-valued targets), and the [`Dataset`] trait that lets a
//! [`DataLoader`] batch either.

use crate::element::Element;
use crate::shape::{Dyn, StaticDim};
use crate::tensor::Tensor;

use super::error::DataError;
use super::loader::DataLoader;
use super::samples::Samples;

/// A data set: features and targets with one entry per sample.
pub trait Dataset {
    /// The features, one sample per row.
    type Features: Samples;
    /// The targets: class labels or a tensor of values.
    type Targets: Samples;

    /// The feature rows.
    fn features(&self) -> &Self::Features;

    /// The targets, in the same order as the feature rows.
    fn targets(&self) -> &Self::Targets;

    /// Number of samples.
    fn len(&self) -> usize {
        self.features().num_samples()
    }

    /// True if the data set has no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A loader over this data set yielding batches of `batch_size` samples, in order;
    /// chain [`DataLoader::shuffle`] and [`DataLoader::drop_last`] to change that.
    fn loader(
        &self,
        batch_size: usize,
    ) -> Result<DataLoader<'_, Self::Features, Self::Targets>, DataError> {
        DataLoader::new(self.features(), self.targets(), batch_size)
    }
}

/// A classification data set: `F` features per sample and a class label in `0..num_classes`.
///
/// The fields are private so the invariants hold: as many labels as feature rows, every
/// label below the number of class names.
#[derive(Clone, Debug)]
pub struct Classification<F: StaticDim, E: Element = f32> {
    features: Tensor<(Dyn, F), E>,
    labels: Vec<usize>,
    class_names: Vec<String>,
}

impl<F: StaticDim, E: Element> Classification<F, E> {
    /// Checks and bundles features `[N, F]`, `N` labels and the class names (label `k` is
    /// `class_names[k]`).
    ///
    /// Errors: [`DataError::CountMismatch`] if `N` differs from the number of labels,
    /// [`DataError::LabelOutOfRange`] for a label `>= class_names.len()`.
    pub fn new(
        features: Tensor<(Dyn, F), E>,
        labels: Vec<usize>,
        class_names: Vec<String>,
    ) -> Result<Self, DataError> {
        let rows = features.dims()[0];
        if rows != labels.len() {
            return Err(DataError::CountMismatch {
                features_origin: "the feature tensor".into(),
                features: rows,
                labels_origin: "the label vector".into(),
                labels: labels.len(),
            });
        }
        check_labels("labels", &labels, class_names.len())?;
        Ok(Self {
            features,
            labels,
            class_names,
        })
    }

    /// The feature rows, `[N, F]`.
    pub fn features(&self) -> &Tensor<(Dyn, F), E> {
        &self.features
    }

    /// The class label of each row.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// The name of each class, indexed by label.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True if there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// How many samples each class has, indexed by label.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes()];
        for &l in &self.labels {
            counts[l] += 1;
        }
        counts
    }

    /// Renames the classes (e.g. Fashion-MNIST's names for an IDX file's labels 0..9).
    /// Errors if a label would be out of range of the new names.
    pub fn with_class_names(self, class_names: Vec<String>) -> Result<Self, DataError> {
        Self::new(self.features, self.labels, class_names)
    }

    /// The samples at `indices`, in that order. Errors if an index is out of range.
    pub fn subset(&self, indices: &[usize]) -> Result<Self, DataError> {
        check_indices(indices, self.len())?;
        let mut features = self.features.empty_batch();
        self.features.gather_into(indices, &mut features);
        Ok(Self {
            features,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            class_names: self.class_names.clone(),
        })
    }

    /// Applies `f` to the feature values in place — e.g. scaling pixels, or
    /// [`Standardizer::transform`](super::Standardizer::transform).
    ///
    /// # Panics
    /// If `f` resizes the tensor (a bug in `f`: the labels would no longer match the rows).
    pub fn map_features(&mut self, f: impl FnOnce(&mut Tensor<(Dyn, F), E>)) {
        let dims = self.features.dims().to_vec();
        f(&mut self.features);
        assert_eq!(
            self.features.dims(),
            &dims[..],
            "map_features must not resize the features"
        );
    }

    /// Splits into features, labels and class names.
    pub fn into_parts(self) -> (Tensor<(Dyn, F), E>, Vec<usize>, Vec<String>) {
        (self.features, self.labels, self.class_names)
    }
}

impl<F: StaticDim, E: Element> Dataset for Classification<F, E> {
    type Features = Tensor<(Dyn, F), E>;
    type Targets = Vec<usize>;

    fn features(&self) -> &Self::Features {
        &self.features
    }

    fn targets(&self) -> &Vec<usize> {
        &self.labels
    }
}

/// A regression data set: `F` features and `T` real-valued targets per sample.
#[derive(Clone, Debug)]
pub struct Regression<F: StaticDim, T: StaticDim, E: Element = f32> {
    features: Tensor<(Dyn, F), E>,
    targets: Tensor<(Dyn, T), E>,
}

impl<F: StaticDim, T: StaticDim, E: Element> Regression<F, T, E> {
    /// Checks and bundles features `[N, F]` and targets `[N, T]`.
    /// Errors with [`DataError::CountMismatch`] if the row counts differ.
    pub fn new(
        features: Tensor<(Dyn, F), E>,
        targets: Tensor<(Dyn, T), E>,
    ) -> Result<Self, DataError> {
        let (rows, trows) = (features.dims()[0], targets.dims()[0]);
        if rows != trows {
            return Err(DataError::CountMismatch {
                features_origin: "the feature tensor".into(),
                features: rows,
                labels_origin: "the target tensor".into(),
                labels: trows,
            });
        }
        Ok(Self { features, targets })
    }

    /// The feature rows, `[N, F]`.
    pub fn features(&self) -> &Tensor<(Dyn, F), E> {
        &self.features
    }

    /// The targets, `[N, T]`.
    pub fn targets(&self) -> &Tensor<(Dyn, T), E> {
        &self.targets
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.features.dims()[0]
    }

    /// True if there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The samples at `indices`, in that order. Errors if an index is out of range.
    pub fn subset(&self, indices: &[usize]) -> Result<Self, DataError> {
        check_indices(indices, self.len())?;
        let mut features = self.features.empty_batch();
        self.features.gather_into(indices, &mut features);
        let mut targets = self.targets.empty_batch();
        self.targets.gather_into(indices, &mut targets);
        Ok(Self { features, targets })
    }

    /// Applies `f` to the feature values in place.
    ///
    /// # Panics
    /// If `f` resizes the tensor (a bug in `f`: the targets would no longer match the rows).
    pub fn map_features(&mut self, f: impl FnOnce(&mut Tensor<(Dyn, F), E>)) {
        let dims = self.features.dims().to_vec();
        f(&mut self.features);
        assert_eq!(
            self.features.dims(),
            &dims[..],
            "map_features must not resize the features"
        );
    }

    /// Applies `f` to the target values in place (e.g. standardizing the targets too).
    ///
    /// # Panics
    /// If `f` resizes the tensor.
    pub fn map_targets(&mut self, f: impl FnOnce(&mut Tensor<(Dyn, T), E>)) {
        let dims = self.targets.dims().to_vec();
        f(&mut self.targets);
        assert_eq!(
            self.targets.dims(),
            &dims[..],
            "map_targets must not resize the targets"
        );
    }

    /// Splits into features and targets.
    pub fn into_parts(self) -> (Tensor<(Dyn, F), E>, Tensor<(Dyn, T), E>) {
        (self.features, self.targets)
    }
}

impl<F: StaticDim, T: StaticDim, E: Element> Dataset for Regression<F, T, E> {
    type Features = Tensor<(Dyn, F), E>;
    type Targets = Tensor<(Dyn, T), E>;

    fn features(&self) -> &Self::Features {
        &self.features
    }

    fn targets(&self) -> &Self::Targets {
        &self.targets
    }
}

/// Errors with [`DataError::LabelOutOfRange`] for the first label `>= classes`.
pub(crate) fn check_labels(
    origin: &str,
    labels: &[usize],
    classes: usize,
) -> Result<(), DataError> {
    match labels.iter().position(|&l| l >= classes) {
        Some(index) => Err(DataError::LabelOutOfRange {
            origin: origin.to_string(),
            index,
            label: labels[index],
            classes,
        }),
        None => Ok(()),
    }
}

fn check_indices(indices: &[usize], len: usize) -> Result<(), DataError> {
    match indices.iter().find(|&&i| i >= len) {
        Some(i) => Err(DataError::Invalid {
            what: "sample index out of range",
            found: format!("{i} (the data set has {len} samples)"),
        }),
        None => Ok(()),
    }
}
