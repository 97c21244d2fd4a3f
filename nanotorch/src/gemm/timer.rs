//! Time spent in matrix products, for measurement: [`start`] switches a timer on for the
//! calling thread, every product called from that thread then adds its wall time, and
//! [`stop`] switches it off and returns the total. `examples/gflops` splits a training step
//! into its products and the rest this way, inside the step (products timed apart from the
//! step run with hot caches, and did not add up to it). Off, a product pays one thread-local
//! read.
//!
//! Counted: every product a layer or primitive runs through the GEMM on the calling thread —
//! linear layers, matmuls, attention's batched products, the convolutions' im2col products.
//! Not counted: products started on other threads (a convolution split over images at 2
//! threads runs its products inside the parts, so they fall in "the rest").

use std::cell::Cell;
use std::time::{Duration, Instant};

thread_local! {
    /// `Some((total, products))` while the timer runs on this thread.
    static TOTAL: Cell<Option<(Duration, u64)>> = const { Cell::new(None) };
}

/// Starts (or restarts from zero) the product timer on this thread.
pub fn start() {
    TOTAL.with(|t| t.set(Some((Duration::ZERO, 0))));
}

/// Stops the timer on this thread: the wall time spent in products since [`start`], and how
/// many products ran (zero when it was not started).
pub fn stop() -> (Duration, u64) {
    TOTAL.with(|t| t.take().unwrap_or_default())
}

/// Runs `f` (one product), adding its wall time if the timer runs on this thread.
#[inline]
pub(crate) fn timed<R>(f: impl FnOnce() -> R) -> R {
    if TOTAL.with(|t| t.get().is_none()) {
        return f();
    }
    let start = Instant::now();
    let out = f();
    let spent = start.elapsed();
    TOTAL.with(|t| {
        if let Some((total, count)) = t.get() {
            t.set(Some((total + spent, count + 1)));
        }
    });
    out
}
