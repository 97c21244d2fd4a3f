//! Where a training step's time goes, for measurement: [`start`] switches a timer on for the
//! calling thread; every matrix product called from that thread then adds its wall time, and
//! so does every region of the kinds in [`Part`] (a convolution, its im2col/col2im copies,
//! an attention, a normalisation); [`stop`] switches it off and returns the [`Timings`].
//! `examples/gflops` splits training steps into their products and the rest this way, inside
//! the step (products timed apart from the step run with hot caches, and did not add up to
//! it). Off, a product or region pays one thread-local read.
//!
//! Counted as products: every product a layer or primitive runs through the GEMM on the
//! calling thread — linear layers, matmuls, attention's batched products, the convolutions'
//! im2col products — and the multiply-adds of the direct convolution. Regions nest: a
//! product inside a convolution counts as a product *and* inside that convolution
//! ([`Timings::products_in`]), so the parts of a step can be told apart without counting
//! anything twice. Not counted: work started on other threads (at 2 threads a convolution
//! runs its products inside its own parallel parts: its region's wall time is counted, its
//! products are not).

use std::cell::Cell;
use std::time::{Duration, Instant};

/// A kind of region the timer tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// A convolution's forward or backward, whole (its products, copies and sums).
    Convolution,
    /// Copies between images and patch matrices: im2col and col2im.
    Patches,
    /// Attention's forward or backward, whole (its products, masked softmax and copies).
    Attention,
    /// Batch and layer normalisation, forward and backward.
    Normalization,
}

const PARTS: usize = 4;

/// What the timer measured between [`start`] and [`stop`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Timings {
    /// Wall time spent in products.
    pub products: Duration,
    /// How many products ran.
    pub product_count: u64,
    parts: [Duration; PARTS],
    products_in: [Duration; PARTS],
}

impl Timings {
    /// Wall time spent in regions of kind `part` (outermost regions only: a region inside
    /// another of its kind is not counted twice).
    pub fn part(&self, part: Part) -> Duration {
        self.parts[part as usize]
    }

    /// Wall time spent in products that ran inside regions of kind `part`.
    pub fn products_in(&self, part: Part) -> Duration {
        self.products_in[part as usize]
    }
}

/// The timer's state on one thread: what it measured, and which kinds of region are open.
#[derive(Clone, Copy)]
struct State {
    timings: Timings,
    open: [bool; PARTS],
}

thread_local! {
    /// `Some` while the timer runs on this thread.
    static STATE: Cell<Option<State>> = const { Cell::new(None) };
}

/// Starts (or restarts from zero) the timer on this thread.
pub fn start() {
    STATE.with(|s| {
        s.set(Some(State {
            timings: Timings::default(),
            open: [false; PARTS],
        }))
    });
}

/// Stops the timer on this thread and returns what it measured since [`start`] (all zero when
/// it was not started).
pub fn stop() -> Timings {
    STATE.with(|s| s.take().map(|state| state.timings).unwrap_or_default())
}

/// Runs `f` (one product), adding its wall time if the timer runs on this thread.
#[inline]
pub(crate) fn timed<R>(f: impl FnOnce() -> R) -> R {
    if STATE.with(|s| s.get().is_none()) {
        return f();
    }
    let start = Instant::now();
    let out = f();
    let spent = start.elapsed();
    STATE.with(|s| {
        if let Some(mut state) = s.get() {
            let t = &mut state.timings;
            t.products += spent;
            t.product_count += 1;
            for (within, _) in t.products_in.iter_mut().zip(state.open).filter(|(_, o)| *o) {
                *within += spent;
            }
            s.set(Some(state));
        }
    });
    out
}

/// Runs `f` as a region of kind `part`, adding its wall time if the timer runs on this thread
/// and no region of that kind is already open.
#[inline]
pub(crate) fn timed_part<R>(part: Part, f: impl FnOnce() -> R) -> R {
    let i = part as usize;
    let opened = STATE.with(|s| match s.get() {
        Some(mut state) if !state.open[i] => {
            state.open[i] = true;
            s.set(Some(state));
            true
        }
        _ => false,
    });
    if !opened {
        return f();
    }
    let start = Instant::now();
    let out = f();
    let spent = start.elapsed();
    STATE.with(|s| {
        if let Some(mut state) = s.get() {
            state.timings.parts[i] += spent;
            state.open[i] = false;
            s.set(Some(state));
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(ms: u64) {
        std::thread::sleep(Duration::from_millis(ms));
    }

    /// A product inside a convolution counts as a product and as the convolution's; a
    /// convolution inside another counts once; nothing is measured once the timer stops.
    #[test]
    fn nested_regions_count_once() {
        start();
        let wall = Instant::now();
        timed_part(Part::Convolution, || {
            timed(|| work(3));
            timed_part(Part::Patches, || work(2));
            timed_part(Part::Convolution, || work(2));
        });
        let wall = wall.elapsed();
        timed(|| work(1));
        let t = stop();
        assert_eq!(t.product_count, 2);
        assert!(t.products_in(Part::Convolution) >= Duration::from_millis(3));
        assert!(t.products >= t.products_in(Part::Convolution) + Duration::from_millis(1));
        assert!(t.part(Part::Patches) >= Duration::from_millis(2));
        assert!(t.part(Part::Convolution) >= Duration::from_millis(7));
        // Counted twice, the inner convolution would push the total past the wall time.
        assert!(t.part(Part::Convolution) <= wall, "{t:?} in {wall:?}");
        assert_eq!(t.part(Part::Attention), Duration::ZERO);
        timed(|| work(1));
        assert_eq!(stop().product_count, 0);
    }
}
