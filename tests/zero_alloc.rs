//! A full training step — `zero_grad`, `forward`, the loss's `_into` variant, `backward`, the
//! optimizer's `step` — allocates nothing once warmed up at a batch size, and a batch of
//! another size (a last partial batch) and the return to the full size allocate nothing either.
//!
//! This holds with the `openblas` feature (this package's default): OpenBLAS works in buffers
//! it set up once. The pure-Rust `matrixmultiply` backend (`--no-default-features`) allocates
//! one packing buffer per matrix product, so there the tests check that the network code adds
//! nothing to those (at most one allocation per product).
//!
//! Allocations are counted per thread by a global allocator wrapping the system one (its own
//! test binary, since a global allocator applies to the whole binary), as in
//! `tests/alloc_optim.rs`. It also keeps the sizes of the first allocations it sees, so a
//! failure says what was allocated.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use nanotorch_suite::bench_models::{DigitsStep, ResidualStep, TinyStep, TrainStep};

/// Matrix products per training step (forward, dW of every layer, dX of all but the first):
/// what the `matrixmultiply` backend allocates per step.
const PRODUCTS: [(&str, usize); 3] = [("tiny", 8), ("digits", 5), ("residual", 8)];

/// The allocations a steady-state step may make with the configured matrix-product backend.
fn allowed_per_step(name: &str) -> usize {
    if cfg!(feature = "openblas") {
        0
    } else {
        PRODUCTS.iter().find(|(n, _)| *n == name).map_or(0, |p| p.1)
    }
}

const KEPT: usize = 16;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static SIZES: Cell<[usize; KEPT]> = const { Cell::new([0; KEPT]) };
}

fn count_one(size: usize) {
    let _ = ALLOCATIONS.try_with(|c| {
        let n = c.get();
        if n < KEPT {
            let _ = SIZES.try_with(|s| {
                let mut sizes = s.get();
                sizes[n] = size;
                s.set(sizes);
            });
        }
        c.set(n + 1);
    });
}

struct CountingAllocator;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; counting
// touches only thread-local `Cell`s, which neither allocate nor unwind.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one(new_size);
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

/// Allocations made on this thread while running `f`, and the byte sizes of the first few.
fn allocations(f: impl FnOnce()) -> (usize, Vec<usize>) {
    ALLOCATIONS.with(|c| c.set(0));
    f();
    let n = ALLOCATIONS.with(Cell::get);
    let sizes = SIZES.with(Cell::get);
    (n, sizes[..n.min(KEPT)].to_vec())
}

/// Warms `bench` up, then checks that `steps` more steps allocate nothing.
fn steady_state(name: &str, bench: &mut dyn TrainStep) {
    for _ in 0..3 {
        bench.step();
    }
    let mut losses = [0.0f32; 5];
    let (n, sizes) = allocations(|| {
        for loss in &mut losses {
            *loss = bench.step();
        }
    });
    println!("{name}: 5 steady-state steps made {n} allocations (sizes {sizes:?})");
    assert!(
        losses.iter().all(|l| l.is_finite()),
        "{name}: the steps ran"
    );
    assert!(
        n <= 5 * allowed_per_step(name),
        "{name}: steady-state steps allocated {n} times (byte sizes {sizes:?})"
    );
}

/// Allocations of the first and of the second step after the batch size changes from `full`
/// to `partial` and back (the data itself is replaced outside the counted steps).
fn batch_change(name: &str, bench: &mut dyn TrainStep, full: usize, partial: usize) {
    for _ in 0..3 {
        bench.step();
    }
    let mut report = Vec::new();
    for (size, seed) in [(partial, 2), (full, 1)] {
        bench.set_batch(size, seed);
        let (first, _) = allocations(|| {
            bench.step();
        });
        let (second, sizes) = allocations(|| {
            bench.step();
        });
        report.push(format!("batch {size}: first step {first}, second {second}"));
        // Buffers keep their memory (`Tensor::resize_to`), so neither the smaller batch nor
        // the return to the full one allocates, not even on its first step.
        assert!(
            first <= allowed_per_step(name),
            "{name}: the first step at batch {size} allocated {first} times"
        );
        assert!(
            second <= allowed_per_step(name),
            "{name}: the second step at batch {size} allocated {second} times ({sizes:?})"
        );
    }
    println!(
        "{name}, batch {full} → {partial} → {full}: {}",
        report.join("; ")
    );
}

#[test]
fn the_counter_sees_allocations() {
    let (n, sizes) = allocations(|| drop(std::hint::black_box(vec![0u8; 64])));
    assert_eq!((n, sizes), (1, vec![64]));
}

#[test]
fn tiny_steps_allocate_nothing() {
    steady_state("tiny", &mut TinyStep::new());
}

#[test]
fn digits_steps_allocate_nothing() {
    steady_state("digits", &mut DigitsStep::new());
}

#[test]
fn residual_steps_allocate_nothing() {
    steady_state("residual", &mut ResidualStep::new());
}

#[test]
fn digits_partial_batch_allocates_nothing() {
    batch_change("digits", &mut DigitsStep::new(), 32, 20);
}

#[test]
fn residual_partial_batch_allocates_nothing() {
    batch_change("residual", &mut ResidualStep::new(), 64, 40);
}
