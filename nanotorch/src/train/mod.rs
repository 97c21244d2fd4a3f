//! The training experience: metrics, summaries, progress bar, curves.
