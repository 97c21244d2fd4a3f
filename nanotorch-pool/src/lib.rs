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
//! the only allocations are the pool itself and the worker threads, made the first time they
//! are needed.
//!
//! This crate holds the one `unsafe` block of NanoTorch's runtime, so that `nanotorch` itself
//! can `#![forbid(unsafe_code)]`: handing a closure that borrows the caller's stack to
//! long-lived threads requires erasing its lifetime. [`run`] is sound because it does not
//! return — not even by unwinding — until every worker has finished with the closure and the
//! job has been withdrawn; see the `SAFETY` comment in `run_on`.
//!
//! **Model-checked**: built with `RUSTFLAGS="--cfg loom"`, the pool uses
//! [loom](https://docs.rs/loom)'s mutexes, condition variables, atomics and threads, and
//! exposes a `Pool` value (a fresh pool per model iteration, shut down and joined on drop);
//! `tests/loom.rs` runs a caller and two workers through jobs, a nested call, a panicking
//! part and shutdown under every interleaving loom explores (docs/reliability.md).

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

#[cfg(loom)]
use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
#[cfg(loom)]
use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
#[cfg(loom)]
use loom::thread;
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
#[cfg(not(loom))]
use std::thread;
#[cfg(not(loom))]
use std::time::{Duration, Instant};

/// The most parts one call may have (more are run as this many).
pub const MAX_PARTS: usize = 64;

/// How long a thread that has nothing to do keeps checking for work (a worker for the next
/// job, the caller for the last part) before it sleeps on a condition variable. Waking a
/// sleeping thread took tens of microseconds on the KVM guests measured — several times per
/// training step, more than splitting a mid-sized product saves. OpenMP runtimes spin for the
/// same reason (Intel's for 200 ms by default); this spins for far less.
#[cfg(not(loom))]
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
    /// The worker threads spawned so far.
    workers: Vec<thread::JoinHandle<()>>,
    /// Set once, by `Inner::shutdown`: workers return instead of waiting for the next job.
    shutdown: bool,
}

/// A pool: the global one behind [`run`], or (under loom) one per model iteration.
struct Inner {
    state: Mutex<State>,
    /// Counts published jobs (and the shutdown); workers spin on it (outside the lock) for the
    /// next job.
    generation: AtomicU64,
    /// Parts of the current job not yet finished (claimed or not); the caller spins on it.
    unfinished: AtomicUsize,
    /// Signalled when a job is published, and at shutdown.
    job_posted: Condvar,
    /// Signalled when the last part of a job finishes.
    job_done: Condvar,
    /// Held by the one caller whose job is running; others run their parts themselves.
    caller: Mutex<()>,
}

#[cfg(not(loom))]
fn pool() -> &'static Arc<Inner> {
    static POOL: OnceLock<Arc<Inner>> = OnceLock::new();
    POOL.get_or_init(|| Arc::new(Inner::new()))
}

/// Locks ignoring poisoning: no code panics while holding these locks (parts run unlocked).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Waits on `cv`, ignoring poisoning as [`lock`] does.
fn wait<'a, T>(cv: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(guard)
        .unwrap_or_else(|poisoned| poisoned.into_inner())
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
fn finish_part(pool: &Inner, job: Job, i: usize) {
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
#[cfg(not(loom))]
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

/// Under loom, which does not model time, the spin is one check: loom runs it before and
/// after every other thread's steps, which covers both ways a real spin ends (it sees the
/// change, or times out and sleeps on the condition variable).
#[cfg(loom)]
fn spin_until(done: impl Fn() -> bool) -> bool {
    done()
}

fn worker_loop(pool: &Inner) {
    loop {
        let mut state = lock(&pool.state);
        if state.shutdown {
            return;
        }
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
            state = wait(&pool.job_posted, state);
        }
    }
}

impl Inner {
    fn new() -> Self {
        Self {
            state: Mutex::new(State {
                job: None,
                next: 0,
                panicked: false,
                workers: Vec::new(),
                shutdown: false,
            }),
            generation: AtomicU64::new(0),
            unfinished: AtomicUsize::new(0),
            job_posted: Condvar::new(),
            job_done: Condvar::new(),
            caller: Mutex::new(()),
        }
    }

    /// Tells the workers to return and waits until they have. Only for a pool with no call
    /// running (a `Pool` being dropped); the global pool is never shut down.
    #[cfg(any(loom, test))]
    fn shutdown(&self) {
        let workers = {
            let mut state = lock(&self.state);
            state.shutdown = true;
            self.generation.fetch_add(1, Ordering::AcqRel);
            self.job_posted.notify_all();
            std::mem::take(&mut state.workers)
        };
        for worker in workers {
            // A worker cannot panic (parts run under `catch_unwind`), so `join` returns `Ok`.
            let _ = worker.join();
        }
    }
}

/// [`run`] on `pool` (an `Arc` because each worker keeps a reference to it).
fn run_on(pool: &Arc<Inner>, parts: usize, f: &(dyn Fn(usize) + Sync)) {
    let parts = parts.min(MAX_PARTS);
    if parts <= 1 {
        if parts == 1 {
            f(0);
        }
        return;
    }
    let Ok(_caller) = pool.caller.try_lock() else {
        (0..parts).for_each(f);
        return;
    };
    // SAFETY: the `'static` reference exists only inside `state.job`, and this function
    // does not return or unwind before (1) every part has finished (`unfinished == 0`,
    // waited for below; a part is counted finished only after its call of `f` has
    // returned, and parts that panic are caught and still counted), after which no
    // thread can be running `f`, and (2) `state.job` is set back to `None` under the
    // lock, after which no thread can start running it (`claim` reads the job under the
    // same lock, and all `parts` indices have been claimed by then). The calling
    // thread's own parts run under `catch_unwind`, so a panic there also waits for (1)
    // and (2). `tests/loom.rs` checks (1) and (2) under every interleaving loom explores.
    let erased: &'static (dyn Fn(usize) + Sync) = unsafe {
        std::mem::transmute::<&(dyn Fn(usize) + Sync), &'static (dyn Fn(usize) + Sync)>(f)
    };
    let mut state = lock(&pool.state);
    while state.workers.len() < parts - 1 {
        let pool = Arc::clone(pool);
        let spawned = thread::Builder::new()
            .name(format!("nanotorch-worker-{}", state.workers.len() + 1))
            .spawn(move || worker_loop(&pool));
        match spawned {
            Ok(handle) => state.workers.push(handle),
            Err(_) => break, // fewer threads; the calling thread picks up the rest
        }
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
        state = wait(&pool.job_done, state);
    }
    state.job = None;
    let panicked = state.panicked;
    drop(state);
    if let Some(payload) = own_panic {
        resume_unwind(payload);
    }
    assert!(!panicked, "a part of a nanotorch_pool::run call panicked");
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
#[cfg(not(loom))]
pub fn run(parts: usize, f: &(dyn Fn(usize) + Sync)) {
    if parts <= 1 {
        // No pool needed (and none created).
        if parts == 1 {
            f(0);
        }
        return;
    }
    run_on(pool(), parts, f);
}

/// A pool of its own, for the model-checked test only (`--cfg loom`): loom needs fresh
/// synchronization objects and threads in every iteration of a model, so the test cannot use
/// the global pool behind `run`. Dropping it shuts the workers down and joins them.
#[cfg(loom)]
pub struct Pool(Arc<Inner>);

#[cfg(loom)]
impl Pool {
    /// A pool with no worker threads yet (they are spawned by the first call that needs them).
    pub fn new() -> Self {
        Self(Arc::new(Inner::new()))
    }

    /// `run` on this pool: calls `f(i)` for every `i` in `0..parts` and returns when all
    /// have returned; panics after all parts have finished if one panicked.
    pub fn run(&self, parts: usize, f: &(dyn Fn(usize) + Sync)) {
        run_on(&self.0, parts, f);
    }
}

#[cfg(loom)]
impl Default for Pool {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(loom)]
impl Drop for Pool {
    fn drop(&mut self) {
        self.0.shutdown();
    }
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
    fn a_pool_shuts_down_and_joins_its_workers() {
        let pool = Arc::new(Inner::new());
        let hits = AtomicUsize::new(0);
        run_on(&pool, 3, &|_| {
            hits.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(hits.load(Ordering::Relaxed), 3);
        assert_eq!(lock(&pool.state).workers.len(), 2);
        pool.shutdown();
        // Joined: only this test's reference to the pool is left.
        assert_eq!(Arc::strong_count(&pool), 1);
        assert!(lock(&pool.state).workers.is_empty());
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
