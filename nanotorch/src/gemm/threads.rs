//! How many threads a matrix product may use.
//!
//! The default follows the machine, as PyTorch's does: the number of cores the process may run
//! on (`std::thread::available_parallelism`). The environment variable `NANOTORCH_NUM_THREADS`
//! overrides it when the program starts, and [`crate::set_num_threads`] at any time.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The environment variable read (once, at the first product) for the thread count.
pub const ENV_VAR: &str = "NANOTORCH_NUM_THREADS";

/// 0 until the first read; then the thread count.
static NUM_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Sets the number of threads matrix products may use (at least 1).
///
/// `set_num_threads(1)` makes every product run on the calling thread. Like PyTorch's
/// `torch.set_num_threads`, this is process-wide.
pub fn set_num_threads(threads: usize) {
    NUM_THREADS.store(threads.max(1), Ordering::Relaxed);
}

/// The number of threads matrix products may use: the last [`set_num_threads`], else
/// `NANOTORCH_NUM_THREADS`, else the number of cores available.
pub fn num_threads() -> usize {
    match NUM_THREADS.load(Ordering::Relaxed) {
        0 => {
            let threads = from_env().unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
            });
            // Another thread may have set it meanwhile; theirs wins.
            match NUM_THREADS.compare_exchange(0, threads, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => threads,
                Err(set) => set,
            }
        }
        n => n,
    }
}

/// `NANOTORCH_NUM_THREADS` as a positive integer; anything else is ignored with a warning
/// rather than a panic (a typo in an environment variable should not stop a training run).
fn from_env() -> Option<usize> {
    let value = std::env::var(ENV_VAR).ok()?;
    match value.trim().parse::<usize>() {
        Ok(n) if n > 0 => Some(n),
        _ => {
            eprintln!(
                "nanotorch: ignoring {ENV_VAR}={value:?} (expected a positive integer); \
                 using the number of cores"
            );
            None
        }
    }
}
