//! The pool under every interleaving loom explores: run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p nanotorch-pool --release --test loom`
//! (see .ci/run and docs/reliability.md).
//!
//! Each model builds a fresh [`Pool`], runs a job of three parts (the caller and two workers),
//! and drops the pool, which shuts the workers down and joins them — so a lost wake-up, a
//! worker that never returns, or a deadlock is a failure. Each part writes a
//! `loom::cell::UnsafeCell` that only it touches, and the caller reads them all after `run`
//! returns: loom reports a data race unless every part's write happens before `run` returns,
//! which is the claim the pool's `unsafe` lifetime erasure rests on.
#![cfg(loom)]

use std::panic::{AssertUnwindSafe, catch_unwind};

use loom::cell::UnsafeCell;
use nanotorch_pool::Pool;

/// One cell per part; part `i` writes only cell `i`.
struct Slots([UnsafeCell<usize>; 4]);

// SAFETY: each cell is written by one part and read by the caller after `run` returned — the
// very ordering loom checks in these models (a violation is reported as a causality error,
// not undefined behaviour, since loom's cells track every access).
unsafe impl Sync for Slots {}

impl Slots {
    fn new() -> Self {
        Self([(); 4].map(|()| UnsafeCell::new(0)))
    }

    fn add(&self, i: usize, n: usize) {
        // SAFETY: loom checks this access against every other one to the same cell.
        self.0[i].with_mut(|p| unsafe { *p += n });
    }

    fn get(&self, i: usize) -> usize {
        // SAFETY: as in `add`.
        self.0[i].with(|p| unsafe { *p })
    }
}

/// Checks `f` under loom with a preemption bound of 2 unless `LOOM_MAX_PREEMPTIONS` says
/// otherwise.
/// Prints how many interleavings it explored (with `--nocapture`).
fn model(name: &str, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    let iterations = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = iterations.clone();
    let start = std::time::Instant::now();
    builder.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    let n = iterations.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "{name}: {n} interleavings (preemption bound {:?}) in {:.2?}",
        builder.preemption_bound,
        start.elapsed()
    );
    assert!(n > 1, "{name}: loom explored a single interleaving");
}

#[test]
fn every_part_runs_once_and_happens_before_run_returns() {
    model(
        "every_part_runs_once_and_happens_before_run_returns",
        || {
            let pool = Pool::new();
            let slots = Slots::new();
            pool.run(3, &|i| slots.add(i, 1));
            assert_eq!([slots.get(0), slots.get(1), slots.get(2)], [1, 1, 1]);
            drop(pool);
        },
    );
}

#[test]
fn a_second_job_reuses_the_workers() {
    model("a_second_job_reuses_the_workers", || {
        let pool = Pool::new();
        let slots = Slots::new();
        pool.run(3, &|i| slots.add(i, 1));
        pool.run(3, &|i| slots.add(i, 10));
        assert_eq!([slots.get(0), slots.get(1), slots.get(2)], [11, 11, 11]);
        drop(pool);
    });
}

#[test]
fn a_nested_call_runs_inline() {
    model("a_nested_call_runs_inline", || {
        let pool = Pool::new();
        let slots = Slots::new();
        // Part 0 (the caller's or a worker's) calls `run` again: it must not deadlock on the
        // pool its own call holds, and runs both inner parts itself.
        pool.run(3, &|i| {
            if i == 0 {
                pool.run(2, &|j| slots.add(j, 1));
            } else {
                slots.add(i + 1, 1);
            }
        });
        assert_eq!(
            [slots.get(0), slots.get(1), slots.get(2), slots.get(3)],
            [1, 1, 1, 1]
        );
        drop(pool);
    });
}

#[test]
fn a_panicking_part_is_reported_after_the_others_finish() {
    quiet_expected_panics();
    model(
        "a_panicking_part_is_reported_after_the_others_finish",
        || {
            let pool = Pool::new();
            let slots = Slots::new();
            let result = catch_unwind(AssertUnwindSafe(|| {
                pool.run(3, &|i| {
                    if i == 1 {
                        panic!("{EXPECTED}");
                    }
                    slots.add(i, 1);
                })
            }));
            assert!(result.is_err());
            assert_eq!([slots.get(0), slots.get(2)], [1, 1]);
            drop(pool);
        },
    );
}

const EXPECTED: &str = "expected panic in a loom model";

/// Keeps the test's own panics (thousands, one per interleaving) out of the output; any
/// other panic still goes to the default hook.
fn quiet_expected_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // Part 1's panic, and `run`'s own report of it when a worker ran part 1.
        let payload = info.payload();
        let expected = payload
            .downcast_ref::<String>()
            .is_some_and(|m| m == EXPECTED)
            || payload
                .downcast_ref::<&str>()
                .is_some_and(|m| m.starts_with("a part of a nanotorch_pool::run call panicked"));
        if !expected {
            default(info);
        }
    }));
}
