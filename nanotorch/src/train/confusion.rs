//! [`ConfusionMatrix`]: counts of (true class, predicted class) pairs.

use std::fmt;

use crate::error::ShapeError;

/// `counts[t][p]` = how many samples of true class `t` were predicted as class `p`.
/// The diagonal holds the right answers; a large off-diagonal entry names a confusion.
///
/// Its `Display` is a table with the true classes as rows and the predictions as columns,
/// each row's recall on the right, each column's precision below, and the accuracy:
///
/// ```text
/// true \ predicted  setosa  versicolor  virginica  recall
/// setosa                12           0          0  100.0%
/// versicolor             0          11          1   91.7%
/// virginica              0           2         10   83.3%
/// precision         100.0%       84.6%      90.9%
/// accuracy 91.7% (33 of 36)
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    names: Vec<String>,
    counts: Vec<usize>,
}

impl ConfusionMatrix {
    /// An empty matrix for `classes` classes named `"0"`, `"1"`, ...
    pub fn new(classes: usize) -> Self {
        Self::with_class_names((0..classes).map(|k| k.to_string()).collect())
    }

    /// An empty matrix whose classes are named (label `k` is `names[k]`).
    pub fn with_class_names(names: Vec<String>) -> Self {
        let n = names.len();
        Self {
            names,
            counts: vec![0; n * n],
        }
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.names.len()
    }

    /// The class names.
    pub fn class_names(&self) -> &[String] {
        &self.names
    }

    fn check(&self, label: usize) -> Result<(), ShapeError> {
        if label < self.num_classes() {
            Ok(())
        } else {
            Err(ShapeError::Invalid {
                what: "class outside the confusion matrix",
                found: format!("{label} (classes are 0..{})", self.num_classes()),
            })
        }
    }

    /// Counts one sample of class `truth` predicted as `predicted`.
    /// Errors if either is not a class of the matrix.
    pub fn add(&mut self, truth: usize, predicted: usize) -> Result<(), ShapeError> {
        self.check(truth)?;
        self.check(predicted)?;
        let n = self.num_classes();
        self.counts[truth * n + predicted] += 1;
        Ok(())
    }

    /// Counts a batch: `labels[i]` predicted as `predictions[i]`. Errors (counting nothing)
    /// if the lengths differ or a class is out of range.
    pub fn add_batch(&mut self, labels: &[usize], predictions: &[usize]) -> Result<(), ShapeError> {
        if labels.len() != predictions.len() {
            return Err(ShapeError::RuntimeDim {
                what: "labels and predictions",
                left: labels.len(),
                right: predictions.len(),
            });
        }
        for &c in labels.iter().chain(predictions) {
            self.check(c)?;
        }
        for (&t, &p) in labels.iter().zip(predictions) {
            self.add(t, p)?;
        }
        Ok(())
    }

    /// Samples of class `truth` predicted as `predicted` (0 for classes out of range).
    pub fn get(&self, truth: usize, predicted: usize) -> usize {
        let n = self.num_classes();
        if truth < n && predicted < n {
            self.counts[truth * n + predicted]
        } else {
            0
        }
    }

    /// All samples counted.
    pub fn total(&self) -> usize {
        self.counts.iter().sum()
    }

    /// Samples on the diagonal (predicted right).
    pub fn correct(&self) -> usize {
        (0..self.num_classes()).map(|k| self.get(k, k)).sum()
    }

    /// The fraction predicted right, or `None` if nothing was counted.
    pub fn accuracy(&self) -> Option<f64> {
        let total = self.total();
        (total > 0).then(|| self.correct() as f64 / total as f64)
    }

    /// Of the samples of class `k`, the fraction predicted as `k` (`None` if there are none).
    pub fn recall(&self, k: usize) -> Option<f64> {
        let row: usize = (0..self.num_classes()).map(|p| self.get(k, p)).sum();
        (row > 0).then(|| self.get(k, k) as f64 / row as f64)
    }

    /// Of the samples predicted as `k`, the fraction that are `k` (`None` if there are none).
    pub fn precision(&self, k: usize) -> Option<f64> {
        let col: usize = (0..self.num_classes()).map(|t| self.get(t, k)).sum();
        (col > 0).then(|| self.get(k, k) as f64 / col as f64)
    }
}

fn percent(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |v| format!("{:.1}%", 100.0 * v))
}

impl fmt::Display for ConfusionMatrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.num_classes();
        let corner = "true \\ predicted";
        let first = self
            .names
            .iter()
            .map(|s| s.chars().count())
            .chain([corner.len(), "precision".len()])
            .max()
            .unwrap_or(0);
        let widths: Vec<usize> = (0..n)
            .map(|k| {
                let count_w = (0..n)
                    .map(|t| self.get(t, k).to_string().len())
                    .max()
                    .unwrap_or(1);
                self.names[k]
                    .chars()
                    .count()
                    .max(count_w)
                    .max("100.0%".len())
            })
            .collect();
        write!(f, "{corner:<first$}")?;
        for (name, w) in self.names.iter().zip(&widths) {
            write!(f, "  {name:>w$}")?;
        }
        writeln!(f, "  {:>6}", "recall")?;
        for t in 0..n {
            write!(f, "{:<first$}", self.names[t])?;
            for (p, w) in widths.iter().enumerate() {
                write!(f, "  {:>w$}", self.get(t, p))?;
            }
            writeln!(f, "  {:>6}", percent(self.recall(t)))?;
        }
        write!(f, "{:<first$}", "precision")?;
        for (p, w) in widths.iter().enumerate() {
            write!(f, "  {:>w$}", percent(self.precision(p)))?;
        }
        writeln!(f)?;
        write!(
            f,
            "accuracy {} ({} of {})",
            percent(self.accuracy()),
            self.correct(),
            self.total()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> ConfusionMatrix {
        let mut m =
            ConfusionMatrix::with_class_names(vec!["cat".into(), "dog".into(), "bird".into()]);
        // truth:      cat cat cat dog dog bird
        // predicted:  cat cat dog dog cat bird
        m.add_batch(&[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 0, 2])
            .unwrap();
        m
    }

    #[test]
    fn counts_pairs_and_derives_rates() {
        let m = example();
        assert_eq!(m.get(0, 0), 2);
        assert_eq!(m.get(0, 1), 1);
        assert_eq!(m.get(1, 0), 1);
        assert_eq!(m.get(1, 1), 1);
        assert_eq!(m.get(2, 2), 1);
        assert_eq!(m.get(2, 0), 0);
        assert_eq!(m.total(), 6);
        assert_eq!(m.correct(), 4);
        assert_eq!(m.accuracy(), Some(4.0 / 6.0));
        assert_eq!(m.recall(0), Some(2.0 / 3.0));
        assert_eq!(m.precision(0), Some(2.0 / 3.0));
        assert_eq!(m.recall(1), Some(0.5));
        assert_eq!(m.precision(2), Some(1.0));
        assert_eq!(ConfusionMatrix::new(2).accuracy(), None);
    }

    #[test]
    fn rejects_out_of_range_classes_without_counting() {
        let mut m = ConfusionMatrix::new(2);
        assert!(m.add(2, 0).is_err());
        assert!(m.add_batch(&[0, 1], &[0, 5]).is_err());
        assert!(m.add_batch(&[0, 1], &[0]).is_err());
        assert_eq!(m.total(), 0);
    }

    #[test]
    fn displays_a_readable_table() {
        let text = example().to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["true", "\\", "predicted", "cat", "dog", "bird", "recall"]
        );
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["cat", "2", "1", "0", "66.7%"]
        );
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            ["dog", "1", "1", "0", "50.0%"]
        );
        assert_eq!(
            lines[3].split_whitespace().collect::<Vec<_>>(),
            ["bird", "0", "0", "1", "100.0%"]
        );
        assert_eq!(
            lines[4].split_whitespace().collect::<Vec<_>>(),
            ["precision", "66.7%", "50.0%", "100.0%"]
        );
        assert_eq!(lines[5], "accuracy 66.7% (4 of 6)");
        // Columns line up: every row is as wide as the header.
        assert!(
            lines[..4]
                .iter()
                .all(|l| l.chars().count() == lines[0].chars().count()),
            "{text}"
        );
    }
}
