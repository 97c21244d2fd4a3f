//! [`Progress`]: a progress bar over the batches of an epoch, with the running loss and
//! accuracy.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::metrics::Meter;

/// The bar is redrawn with a new message at most this often (formatting costs a little).
const MESSAGE_EVERY: Duration = Duration::from_millis(100);

/// A progress bar for one epoch, drawn on standard error:
///
/// ```text
/// epoch 3/20 [##########>---------]  24/47 loss 0.4123 acc 88.20% 00:00:01
/// ```
///
/// It is drawn only when standard error is a terminal; when output goes to a file or a CI
/// log it stays hidden (and costs next to nothing), so logs hold only the lines the program
/// prints, such as [`EpochSummary`](super::EpochSummary)s. It also keeps a [`Meter`] of the
/// epoch's running loss and accuracy.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    meter: Meter,
    last_message: Option<Instant>,
}

impl Progress {
    /// A bar for epoch `epoch` of `epochs`, with `batches` steps; hidden unless standard
    /// error is a terminal.
    pub fn new(epoch: usize, epochs: usize, batches: usize) -> Self {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:30.cyan/blue}] {pos:>4}/{len} {msg} {elapsed_precise}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("#>-");
        let bar = ProgressBar::with_draw_target(Some(batches as u64), target)
            .with_style(style)
            .with_prefix(format!("epoch {epoch}/{epochs}"));
        Self {
            bar,
            meter: Meter::new(),
            last_message: None,
        }
    }

    /// A bar that is never drawn (for tests, or to silence a run), still keeping the meter.
    pub fn hidden(batches: usize) -> Self {
        Self {
            bar: ProgressBar::with_draw_target(Some(batches as u64), ProgressDrawTarget::hidden()),
            meter: Meter::new(),
            last_message: None,
        }
    }

    /// True if the bar is being drawn.
    pub fn is_visible(&self) -> bool {
        !self.bar.is_hidden()
    }

    /// Records one batch — its mean loss, its size and, for classification, how many of its
    /// predictions were right — and advances the bar.
    pub fn step(&mut self, mean_loss: f64, batch_size: usize, correct: Option<usize>) {
        self.meter.add_loss(mean_loss, batch_size);
        if let Some(c) = correct {
            self.meter.add_correct(c, batch_size);
        }
        self.bar.inc(1);
        if self.bar.is_hidden() {
            return;
        }
        let now = Instant::now();
        if self.last_message.is_none_or(|t| now - t >= MESSAGE_EVERY) {
            self.last_message = Some(now);
            self.bar.set_message(self.message());
        }
    }

    /// The running loss and accuracy as the bar shows them: `loss 0.4123 acc 88.20%`.
    pub fn message(&self) -> String {
        match self.meter.accuracy() {
            Some(a) => format!("loss {:.4} acc {:.2}%", self.meter.loss(), 100.0 * a),
            None => format!("loss {:.4}", self.meter.loss()),
        }
    }

    /// The epoch's running totals so far.
    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    /// Removes the bar from the terminal and returns the epoch's totals.
    pub fn finish(self) -> Meter {
        self.bar.finish_and_clear();
        self.meter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_running_totals_while_hidden() {
        let mut p = Progress::hidden(2);
        assert!(!p.is_visible());
        p.step(2.0, 4, Some(3));
        p.step(1.0, 2, Some(0));
        assert_eq!(p.message(), "loss 1.6667 acc 50.00%");
        let m = p.finish();
        assert_eq!(m.samples(), 6);
        assert_eq!(m.accuracy(), Some(0.5));
    }

    #[test]
    fn is_visible_exactly_when_stderr_is_a_terminal() {
        // Under `cargo test` standard error is captured, not a terminal.
        let p = Progress::new(1, 1, 10);
        assert_eq!(p.is_visible(), std::io::stderr().is_terminal());
    }
}
