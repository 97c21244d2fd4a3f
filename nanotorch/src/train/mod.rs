//! The training experience: what a person watching a training run wants to see.
//!
//! - [`argmax_rows`], [`accuracy`], [`Meter`]: predictions, accuracy, running loss.
//! - [`ConfusionMatrix`]: which classes get mistaken for which, printed as a table.
//! - [`EpochSummary`]: one readable line per epoch.
//! - [`Progress`]: a progress bar with the running loss and accuracy (only on a terminal).
//! - [`History`]: the summaries of a run, drawn as loss and accuracy curves in an SVG file.
//! - [`log_curves_svg`], [`roofline_svg`]: the lessons' measurements drawn as SVG charts.

mod confusion;
mod metrics;
mod plot;
mod progress;
mod summary;

pub use confusion::ConfusionMatrix;
pub use metrics::{Meter, accuracy, argmax_rows, argmax_rows_into, count_correct};
pub use plot::{History, PlotError, log_curves_svg, roofline_svg};
pub use progress::Progress;
pub use summary::EpochSummary;
