//! After its first step an optimizer allocates nothing; neither do gradient clipping, a
//! schedule step, or a loss's `_into` variant writing into a rightly sized buffer.
//!
//! Allocations are counted by a global allocator that wraps the system one and counts, per
//! thread, every `alloc`/`alloc_zeroed`/`realloc`. The count is thread-local so the test
//! threads of this binary do not see each other's allocations. (It lives in its own test
//! binary because a global allocator applies to the whole binary.)

mod train_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use nanotorch::loss::*;
use nanotorch::optim::*;
use nanotorch::shape::U5;
use nanotorch::{Dyn, Tensor};
use train_support::TwoParams;

thread_local! {
    // `const` initialisation: no lazy setup and no destructor, so reading it never allocates.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: the allocator may run while the thread-local is being torn down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

struct CountingAllocator;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; counting
// touches only a thread-local `Cell`, which neither allocates nor unwinds.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Allocations made on this thread while running `f`.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

fn model() -> TwoParams<f32> {
    let w: Vec<f32> = (0..12).map(|i| 0.1 * i as f32 - 0.5).collect();
    let mut m = TwoParams::new(&w, &[0.5, -0.25, 0.0, 1.0]);
    let gw: Vec<f32> = (0..12).map(|i| 0.05 * i as f32 - 0.3).collect();
    m.set_grads(&gw, &[0.1, -0.2, 0.3, -0.4]);
    m
}

/// Steps `opt` once (allocating its state), then checks that further steps — with a
/// schedule and clipping, as in a training loop — allocate nothing.
fn steady_state_allocates_nothing<O: Optimizer<f32>>(name: &str, mut opt: O) {
    let mut m = model();
    let first = allocations(|| opt.step(&mut m));
    let mut sched = CosineAnnealingLr::new(&opt, 10, 0.0).unwrap();
    let later = allocations(|| {
        for _ in 0..5 {
            clip_grad_norm(&mut m, 0.5);
            opt.step(&mut m);
            sched.step(&mut opt);
        }
    });
    println!("{name:<28} first step: {first} allocations, next 5 steps: {later}");
    assert_eq!(later, 0, "{name}: steps after the first allocated");
    assert!(
        !m.weight.value.has_non_finite(),
        "{name}: the steps did run"
    );
}

#[test]
fn optimizer_steps_allocate_nothing_after_the_first() {
    // The counter works: a fresh buffer is an allocation.
    assert!(allocations(|| drop(std::hint::black_box(vec![0u8; 64]))) >= 1);
    steady_state_allocates_nothing("sgd", Sgd::new(0.1));
    steady_state_allocates_nothing(
        "sgd nesterov+weight decay",
        Sgd::new(0.1)
            .momentum(0.9)
            .nesterov(true)
            .weight_decay(1e-2),
    );
    steady_state_allocates_nothing("adam amsgrad", Adam::new().weight_decay(0.1).amsgrad(true));
    steady_state_allocates_nothing("adamw", AdamW::new());
    steady_state_allocates_nothing(
        "rmsprop centered+momentum",
        RmsProp::new().centered(true).momentum(0.9),
    );
}

#[test]
fn stateful_optimizers_allocate_on_the_first_step() {
    // The first step is where the state comes from; seeing it proves the counter sees the
    // optimizer's allocations.
    let mut m = model();
    let mut adam = Adam::<f32>::new();
    assert!(allocations(|| adam.step(&mut m)) > 0);
    let mut sgd = Sgd::<f32>::new(0.1).momentum(0.9);
    assert!(allocations(|| sgd.step(&mut m)) > 0);
}

#[test]
fn loss_into_variants_allocate_nothing() {
    let logits = Tensor::<(Dyn, U5), f32>::from_vec(
        &[3, 5],
        (0..15).map(|i| (i as f32 * 0.7).sin() * 3.0).collect(),
    )
    .unwrap();
    let soft = Tensor::<(Dyn, U5), f32>::full(logits.shape(), 0.25);
    let y = [4, 0, 2];
    let mut grad = Tensor::zeros(logits.shape());
    let n = allocations(|| {
        for red in [Reduction::Mean, Reduction::Sum] {
            cross_entropy_into(&logits, &y, red, &mut grad).unwrap();
            nll_loss_into(&logits, &y, red, &mut grad).unwrap();
            mse_loss_into(&logits, &soft, red, &mut grad).unwrap();
            bce_with_logits_into(&logits, &soft, red, &mut grad).unwrap();
        }
    });
    assert_eq!(
        n, 0,
        "a loss's _into variant allocated with a rightly sized buffer"
    );
}
