//! One full training step (zero_grad, forward, loss `_into`, backward, optimizer step) of the
//! five benchmark models in `src/bench_models.rs`, in f32.
//!
//! Run: `cargo bench --bench train_step` (add `-- --quick` for a short run). Thread count of
//! the matrix products: `NANOTORCH_NUM_THREADS=1` (or 2) in the environment; the default is
//! the number of cores.
//! For the comparison with PyTorch use `cargo run --release --example speed_compare`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nanotorch_suite::bench_models::{NAMES, by_name};

fn train_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("train_step");
    for name in NAMES {
        let mut bench = by_name(name).expect("a known model");
        // Elements = floating-point operations of the step's matrix products, so criterion
        // also reports the products' throughput (Gelem/s = GFLOP/s).
        group.throughput(Throughput::Elements(bench.gemm_flops() as u64));
        group.bench_function(name, |b| b.iter(|| black_box(bench.step())));
    }
    group.finish();
}

criterion_group!(benches, train_step);
criterion_main!(benches);
