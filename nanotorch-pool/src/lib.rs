//! A fork-join thread pool that allocates nothing per call.
//!
//! [`run`] calls a borrowed closure `f(0)`, …, `f(parts − 1)`, spread over the calling thread
//! and persistent worker threads, and returns when every call has returned. NanoTorch's matrix
//! products use it to split a product into row blocks.
//!
//! Why not `rayon`: a `rayon::join` from a thread outside rayon's pool goes through its global
//! injector queue, a linked list whose blocks are allocated as jobs pass through (one 1.5 KB
//! block per 63 jobs), so a training step on two threads was not allocation-free. Here a call
//! touches only a mutex and two condition variables, which allocate nothing on Linux (futexes);
//! the only allocations are the worker threads themselves, spawned the first time they are
//! needed.
//!
//! This crate holds the one `unsafe` block of NanoTorch's runtime, so that `nanotorch` itself
//! can `#![forbid(unsafe_code)]`: handing a closure that borrows the caller's stack to
//! long-lived threads requires erasing its lifetime. [`run`] is sound because it does not
//! return — not even by unwinding — until every worker has finished with the closure and the
//! job has been withdrawn; see the `SAFETY` comment in [`run`].

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The most parts one call may have (more are run as this many).
pub const MAX_PARTS: usize = 64;

/// How long a thread that has nothing to do keeps checking for work (a worker for the next
/// job, the caller for the last part) before it sleeps on a condition variable. Waking a
/// sleeping thread took tens of microseconds on the KVM guests measured — several times per
/// training step, more than splitting a mid-sized product saves. OpenMP runtimes spin for the
/// same reason (Intel's for 200 ms by default); this spins for far less.
const SPIN: Duration = Duration::from_micros(200);

/// A job as the workers see it: the closure with its lifetime erased, and how many parts.
#[derive(Clone, Copy)]
struct Job {
    f: &'static (dyn Fn(usize) + Sync),
    parts: usize,
}

/// What the pool's threads share, behind one mutex.
struct State {
    /// The current job; `None` between calls.
    job: Option<Job>,
    /// The next part index not yet claimed by any thread.
    next: usize,
    /// Whether any part panicked.
    panicked: bool,
    /// Worker threads spawned so far.
    workers: usize,
}

struct Pool {
    state: Mutex<State>,
    /// Counts published jobs; workers spin on it (outside the lock) for the next job.
    generation: AtomicU64,
    /// Parts of the current job not yet finished (claimed or not); the caller spins on it.
    unfinished: AtomicUsize,
    /// Signalled when a job is published.
    job_posted: Condvar,
    /// Signalled when the last part of a job finishes.
    job_done: Condvar,
    /// Held by the one caller whose job is running; others run their parts themselves.
    caller: Mutex<()>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::new(State {
            job: None,
            next: 0,
            panicked: false,
            workers: 0,
        }),
        generation: AtomicU64::new(0),
        unfinished: AtomicUsize::new(0),
        job_posted: Condvar::new(),
        job_done: Condvar::new(),
        caller: Mutex::new(()),
    })
}

/// Locks ignoring poisoning: no code panics while holding these locks (parts run unlocked).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Claims the next unclaimed part of the current job, if any.
fn claim(state: &mut State) -> Option<(Job, usize)> {
    let job = state.job?;
    (state.next < job.parts).then(|| {
        state.next += 1;
        (job, state.next - 1)
    })
}

/// Runs part `i` and records that it finished (and whether it panicked).
fn finish_part(pool: &Pool, job: Job, i: usize) {
    let ok = catch_unwind(AssertUnwindSafe(|| (job.f)(i))).is_ok();
    if !ok {
        lock(&pool.state).panicked = true;
    }
    if pool.unfinished.fetch_sub(1, Ordering::AcqRel) == 1 {
        // The last part: wake the caller if it went to sleep. Taking the lock orders this
        // after the caller's check-then-wait, so the wake-up cannot be lost.
        let _state = lock(&pool.state);
        pool.job_done.notify_all();
    }
}

/// Spins until `done()` or [`SPIN`] has passed; returns whether `done()` became true.
fn spin_until(done: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    loop {
        for _ in 0..64 {
            if done() {
                return true;
            }
            std::hint::spin_loop();
        }
        if start.elapsed() > SPIN {
            return done();
        }
    }
}

fn worker_loop(pool: &'static Pool) {
    loop {
        let mut state = lock(&pool.state);
        if let Some((job, i)) = claim(&mut state) {
            drop(state);
            finish_part(pool, job, i);
            continue;
        }
        let seen = pool.generation.load(Ordering::Acquire);
        drop(state);
        if spin_until(|| pool.generation.load(Ordering::Acquire) != seen) {
            continue;
        }
        let mut state = lock(&pool.state);
        while pool.generation.load(Ordering::Acquire) == seen {
            state = pool
                .job_posted
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

/// Calls `f(i)` for every `i` in `0..parts`, on the calling thread and up to `parts − 1` worker
/// threads, and returns when all calls have returned. Parts may run in any order and at the
/// same time, so `f` is `Sync`.
///
/// If another thread's call is running, this one runs all its parts on the calling thread (it
/// never waits for a pool that may be busy for long, and a part that itself calls `run` cannot
/// deadlock).
///
/// # Panics
/// If a part panics, after all parts have finished (with the first panic's payload when it was
/// the calling thread's part, else a message).
pub fn run(parts: usize, f: &(dyn Fn(usize) + Sync)) {
    let parts = parts.min(MAX_PARTS);
    if parts <= 1 {
        if parts == 1 {
            f(0);
        }
        return;
    }
    let pool = pool();
    let Ok(_caller) = pool.caller.try_lock() else {
        (0..parts).for_each(f);
        return;
    };
    // SAFETY: the `'static` reference exists only inside `state.job`, and this function does
    // not return or unwind before (1) every part has finished (`unfinished == 0`, waited for
    // below; a part is counted finished only after its call of `f` has returned, and parts
    // that panic are caught and still counted), after which no thread can be running `f`,
    // and (2) `state.job` is set back to `None` under the lock, after which no thread can
    // start running it (`claim` reads the job under the same lock, and all `parts` indices
    // have been claimed by then). The calling thread's own parts run under `catch_unwind`, so
    // a panic there also waits for (1) and (2).
    let erased: &'static (dyn Fn(usize) + Sync) = unsafe {
        std::mem::transmute::<&(dyn Fn(usize) + Sync), &'static (dyn Fn(usize) + Sync)>(f)
    };
    let mut state = lock(&pool.state);
    while state.workers < parts - 1 {
        let spawned = std::thread::Builder::new()
            .name(format!("nanotorch-worker-{}", state.workers + 1))
            .spawn(move || worker_loop(pool));
        if spawned.is_err() {
            break; // fewer threads; the calling thread picks up the rest
        }
        state.workers += 1;
    }
    state.job = Some(Job { f: erased, parts });
    state.next = 0;
    state.panicked = false;
    pool.unfinished.store(parts, Ordering::Release);
    pool.generation.fetch_add(1, Ordering::AcqRel);
    pool.job_posted.notify_all();
    let mut own_panic = None;
    while let Some((job, i)) = claim(&mut state) {
        drop(state);
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| (job.f)(i))) {
            own_panic.get_or_insert(payload);
            lock(&pool.state).panicked = true;
        }
        pool.unfinished.fetch_sub(1, Ordering::AcqRel);
        state = lock(&pool.state);
    }
    drop(state);
    spin_until(|| pool.unfinished.load(Ordering::Acquire) == 0);
    let mut state = lock(&pool.state);
    while pool.unfinished.load(Ordering::Acquire) > 0 {
        state = pool
            .job_done
            .wait(state)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
    }
    state.job = None;
    let panicked = state.panicked;
    drop(state);
    if let Some(payload) = own_panic {
        resume_unwind(payload);
    }
    assert!(!panicked, "a part of a nanotorch_pool::run call panicked");
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn every_part_runs_once() {
        for parts in [0, 1, 2, 3, 7, MAX_PARTS] {
            let hits: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
            run(parts, &|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        }
    }

    #[test]
    fn borrowed_data_is_written_by_parts() {
        let rows: Vec<Mutex<Vec<usize>>> = (0..4).map(|_| Mutex::new(vec![0; 100])).collect();
        for _ in 0..200 {
            run(4, &|i| {
                for x in lock(&rows[i]).iter_mut() {
                    *x += i;
                }
            });
        }
        for (i, row) in rows.iter().enumerate() {
            assert!(lock(row).iter().all(|&x| x == 200 * i));
        }
    }

    #[test]
    fn a_panicking_part_is_reported_after_all_parts_finish() {
        let done = AtomicUsize::new(0);
        let result = catch_unwind(AssertUnwindSafe(|| {
            run(3, &|i| {
                if i == 1 {
                    panic!("part 1 fails");
                }
                done.fetch_add(1, Ordering::Relaxed);
            });
        }));
        assert!(result.is_err());
        assert_eq!(done.load(Ordering::Relaxed), 2);
        // The pool still works afterwards.
        let hits = AtomicUsize::new(0);
        run(3, &|_| {
            hits.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(hits.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn nested_calls_run_inline() {
        let hits = AtomicUsize::new(0);
        run(2, &|_| {
            run(2, &|_| {
                hits.fetch_add(1, Ordering::Relaxed);
            });
        });
        assert_eq!(hits.load(Ordering::Relaxed), 4);
    }
}
