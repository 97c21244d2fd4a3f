//! Predicted classes, accuracy, and a running mean of the loss.

use crate::element::Element;
use crate::error::ShapeError;
use crate::shape::Dim;
use crate::tensor::Tensor;

/// The predicted class of each row of `logits` (or probabilities): the index of the largest
/// value, the first one on ties, as `torch.argmax(logits, dim=1)`. NaNs are never chosen
/// (a row of NaNs predicts class 0).
pub fn argmax_rows<B: Dim, C: Dim, E: Element>(logits: &Tensor<(B, C), E>) -> Vec<usize> {
    let mut out = Vec::new();
    argmax_rows_into(logits, &mut out);
    out
}

/// [`argmax_rows`] writing into `out` (cleared first; no allocation once it has capacity).
pub fn argmax_rows_into<B: Dim, C: Dim, E: Element>(
    logits: &Tensor<(B, C), E>,
    out: &mut Vec<usize>,
) {
    out.clear();
    let classes = logits.dims()[1];
    if classes == 0 {
        out.resize(logits.dims()[0], 0);
        return;
    }
    out.extend(logits.as_slice().chunks_exact(classes).map(|row| {
        let mut best = 0;
        for (k, &v) in row.iter().enumerate() {
            if v > row[best] || (row[best].is_nan() && !v.is_nan()) {
                best = k;
            }
        }
        best
    }));
}

fn check_len(predictions: &[usize], labels: &[usize]) -> Result<(), ShapeError> {
    if predictions.len() == labels.len() {
        Ok(())
    } else {
        Err(ShapeError::RuntimeDim {
            what: "predictions and labels",
            left: predictions.len(),
            right: labels.len(),
        })
    }
}

/// How many predictions equal their label. Errors if the lengths differ.
pub fn count_correct(predictions: &[usize], labels: &[usize]) -> Result<usize, ShapeError> {
    check_len(predictions, labels)?;
    Ok(predictions
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count())
}

/// The fraction of predictions equal to their label, in `[0, 1]`.
/// Errors if the lengths differ or there are no predictions (the accuracy of nothing is
/// undefined, not 0 or 1).
pub fn accuracy(predictions: &[usize], labels: &[usize]) -> Result<f64, ShapeError> {
    let correct = count_correct(predictions, labels)?;
    if labels.is_empty() {
        return Err(ShapeError::Invalid {
            what: "accuracy of zero predictions is undefined",
            found: "0 labels".into(),
        });
    }
    Ok(correct as f64 / labels.len() as f64)
}

/// Running totals over the batches of an epoch: the mean loss per sample and the accuracy
/// so far. Batches of different sizes are weighted by their size, so the epoch's loss is the
/// mean over samples, as if computed on the whole epoch at once.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Meter {
    loss_sum: f64,
    samples: usize,
    correct: usize,
    counted: usize,
}

impl Meter {
    /// An empty meter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a batch of `batch_size` samples whose **mean** loss was `mean_loss`.
    pub fn add_loss(&mut self, mean_loss: f64, batch_size: usize) {
        self.loss_sum += mean_loss * batch_size as f64;
        self.samples += batch_size;
    }

    /// Adds `correct` right predictions out of `batch_size`.
    pub fn add_correct(&mut self, correct: usize, batch_size: usize) {
        self.correct += correct;
        self.counted += batch_size;
    }

    /// The mean loss per sample so far (`NaN` before any batch).
    pub fn loss(&self) -> f64 {
        if self.samples == 0 {
            f64::NAN
        } else {
            self.loss_sum / self.samples as f64
        }
    }

    /// The accuracy so far, or `None` if no predictions were counted.
    pub fn accuracy(&self) -> Option<f64> {
        (self.counted > 0).then(|| self.correct as f64 / self.counted as f64)
    }

    /// Samples whose loss was added.
    pub fn samples(&self) -> usize {
        self.samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::{Dyn, U3};

    #[test]
    fn argmax_takes_the_first_maximum_and_skips_nans() {
        let t = Tensor::<(Dyn, U3), f32>::from_vec(
            &[4, 3],
            vec![0.1, 0.7, 0.2, 5., 5., 1., f32::NAN, -1., 2., -3., -2., -1.],
        )
        .unwrap();
        assert_eq!(argmax_rows(&t), vec![1, 0, 2, 2]);
    }

    #[test]
    fn accuracy_counts_matches_and_rejects_bad_input() {
        assert_eq!(accuracy(&[0, 1, 2, 2], &[0, 1, 1, 2]).unwrap(), 0.75);
        assert_eq!(count_correct(&[3, 3], &[3, 1]).unwrap(), 1);
        assert!(matches!(
            accuracy(&[0, 1], &[0]),
            Err(ShapeError::RuntimeDim {
                left: 2,
                right: 1,
                ..
            })
        ));
        assert!(accuracy(&[], &[]).is_err());
    }

    #[test]
    fn meter_weights_batches_by_size() {
        let mut m = Meter::new();
        assert!(m.loss().is_nan());
        assert_eq!(m.accuracy(), None);
        m.add_loss(1.0, 3);
        m.add_loss(3.0, 1);
        m.add_correct(2, 3);
        m.add_correct(1, 1);
        assert_eq!(m.loss(), 1.5);
        assert_eq!(m.accuracy(), Some(0.75));
        assert_eq!(m.samples(), 4);
    }
}
