//! [`EpochSummary`]: the one line printed after each epoch.

use std::fmt;
use std::time::Duration;

/// What happened in one epoch. Its `Display` is one aligned line, e.g.
///
/// ```text
/// epoch  3/20  train loss 0.4123 acc  88.20%  test loss 0.4511 acc  86.70%  0.84s
/// ```
///
/// Parts that are `None` are left out (a regression has no accuracy; a run may have no test
/// set).
#[derive(Clone, Debug, PartialEq)]
pub struct EpochSummary {
    /// The epoch, counting from 1.
    pub epoch: usize,
    /// The number of epochs in the run.
    pub epochs: usize,
    /// Mean training loss per sample.
    pub train_loss: f64,
    /// Training accuracy in `[0, 1]`.
    pub train_accuracy: Option<f64>,
    /// Mean test loss per sample.
    pub test_loss: Option<f64>,
    /// Test accuracy in `[0, 1]`.
    pub test_accuracy: Option<f64>,
    /// Wall-clock time of the epoch.
    pub elapsed: Duration,
}

impl EpochSummary {
    /// A summary with only the training loss; fill in the rest with the `with_*` methods.
    pub fn new(epoch: usize, epochs: usize, train_loss: f64, elapsed: Duration) -> Self {
        Self {
            epoch,
            epochs,
            train_loss,
            train_accuracy: None,
            test_loss: None,
            test_accuracy: None,
            elapsed,
        }
    }

    /// Sets the training accuracy.
    pub fn with_train_accuracy(mut self, accuracy: f64) -> Self {
        self.train_accuracy = Some(accuracy);
        self
    }

    /// Sets the test loss and, if known, the test accuracy.
    pub fn with_test(mut self, loss: f64, accuracy: Option<f64>) -> Self {
        self.test_loss = Some(loss);
        self.test_accuracy = accuracy;
        self
    }
}

fn part(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    loss: Option<f64>,
    acc: Option<f64>,
) -> fmt::Result {
    if loss.is_none() && acc.is_none() {
        return Ok(());
    }
    write!(f, "  {name}")?;
    if let Some(l) = loss {
        write!(f, " loss {l:.4}")?;
    }
    if let Some(a) = acc {
        write!(f, " acc {:>6.2}%", 100.0 * a)?;
    }
    Ok(())
}

impl fmt::Display for EpochSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self.epochs.max(self.epoch).to_string().len();
        write!(f, "epoch {:>w$}/{}", self.epoch, self.epochs)?;
        part(f, "train", Some(self.train_loss), self.train_accuracy)?;
        part(f, "test", self.test_loss, self.test_accuracy)?;
        // Sub-second epochs (the small data sets) read better in milliseconds.
        let secs = self.elapsed.as_secs_f64();
        if secs < 1.0 {
            write!(f, "  {:.1}ms", secs * 1e3)
        } else {
            write!(f, "  {secs:.2}s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_one_aligned_line() {
        let s = EpochSummary::new(3, 20, 0.41234, Duration::from_millis(840))
            .with_train_accuracy(0.882)
            .with_test(0.45106, Some(0.867));
        assert_eq!(
            s.to_string(),
            "epoch  3/20  train loss 0.4123 acc  88.20%  test loss 0.4511 acc  86.70%  840.0ms"
        );
        let r = EpochSummary::new(12, 100, 2.5, Duration::from_secs(2));
        assert_eq!(r.to_string(), "epoch  12/100  train loss 2.5000  2.00s");
    }
}
