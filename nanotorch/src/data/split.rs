//! Train/test splits: stratified for classification (each class keeps its share in both
//! parts, as scikit-learn's `train_test_split(..., stratify=y)`), plain for regression.

use rand::seq::SliceRandom;

use crate::element::Element;
use crate::shape::StaticDim;

use super::dataset::{Classification, Regression};
use super::error::DataError;

/// How many samples go to the test part: `⌈fraction · n⌉`, as scikit-learn counts it.
/// Errors unless `0 < fraction < 1` and both parts get at least one sample.
fn test_count(n: usize, fraction: f64) -> Result<usize, DataError> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(DataError::Invalid {
            what: "test fraction must be strictly between 0 and 1",
            found: fraction.to_string(),
        });
    }
    let n_test = (fraction * n as f64).ceil() as usize;
    if n_test == 0 || n_test >= n {
        return Err(DataError::Invalid {
            what: "a split needs at least one sample on each side",
            found: format!("{n} samples with test fraction {fraction}"),
        });
    }
    Ok(n_test)
}

/// Indices `(train, test)` of a stratified split of `labels` into `0..num_classes`, each part
/// sorted ascending.
///
/// - The test part has `⌈test_fraction · N⌉` samples.
/// - Each class `c` with `n_c` samples gives the test part `n_c · n_test / N` of them, rounded
///   so the counts add up exactly (largest remainder first, ties to the lower label); so the
///   class proportions in both parts match the whole as closely as whole numbers allow.
/// - Which samples of a class go to the test part is drawn at random from a generator seeded
///   with `seed`: the same seed gives the same split.
///
/// Errors: a fraction outside `(0, 1)`, a split leaving a part empty, a label
/// `>= num_classes`.
pub fn stratified_indices(
    labels: &[usize],
    num_classes: usize,
    test_fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>), DataError> {
    super::dataset::check_labels("labels", labels, num_classes)?;
    let n = labels.len();
    let n_test = test_count(n, test_fraction)?;

    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); num_classes];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l].push(i);
    }

    // Largest-remainder apportionment of n_test over the classes.
    let mut quota: Vec<usize> = by_class.iter().map(|c| c.len() * n_test / n).collect();
    let mut order: Vec<usize> = (0..num_classes).collect();
    // Remainder of class c is (n_c · n_test) mod n; larger first, then lower label.
    order.sort_by_key(|&c| (std::cmp::Reverse(by_class[c].len() * n_test % n), c));
    let mut missing = n_test - quota.iter().sum::<usize>();
    for &c in order.iter().cycle() {
        if missing == 0 {
            break;
        }
        if quota[c] < by_class[c].len() {
            quota[c] += 1;
            missing -= 1;
        }
    }

    let mut rng = crate::seeded_rng(seed);
    let (mut train, mut test) = (Vec::with_capacity(n - n_test), Vec::with_capacity(n_test));
    for (members, &k) in by_class.iter_mut().zip(&quota) {
        members.shuffle(&mut rng);
        test.extend_from_slice(&members[..k]);
        train.extend_from_slice(&members[k..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    Ok((train, test))
}

impl<F: StaticDim, E: Element> Classification<F, E> {
    /// Splits into `(train, test)` with each class's share preserved; see
    /// [`stratified_indices`] for the exact rule. Samples keep their original order in each
    /// part (shuffle with the [`DataLoader`](super::DataLoader)).
    pub fn stratified_split(
        &self,
        test_fraction: f64,
        seed: u64,
    ) -> Result<(Self, Self), DataError> {
        let (train, test) =
            stratified_indices(self.labels(), self.num_classes(), test_fraction, seed)?;
        Ok((self.subset(&train)?, self.subset(&test)?))
    }
}

impl<F: StaticDim, T: StaticDim, E: Element> Regression<F, T, E> {
    /// Splits into `(train, test)`: `⌈test_fraction · N⌉` samples chosen at random (seeded)
    /// for the test part, the rest for training, each part in the original order.
    pub fn split(&self, test_fraction: f64, seed: u64) -> Result<(Self, Self), DataError> {
        let n = self.len();
        let n_test = test_count(n, test_fraction)?;
        let mut perm: Vec<usize> = (0..n).collect();
        perm.shuffle(&mut crate::seeded_rng(seed));
        let (mut test, mut train) = (perm[..n_test].to_vec(), perm[n_test..].to_vec());
        train.sort_unstable();
        test.sort_unstable();
        Ok((self.subset(&train)?, self.subset(&test)?))
    }
}
