//! Benchmarks of the hot primitives (f32). Run: `cargo bench --bench primitives`
//! (add `-- --quick` for a short run).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use nanotorch::ops::{add, matmul, relu, sigmoid, softmax};
use nanotorch::{Dyn, Tensor, seeded_rng};

fn rand_matrix(rows: usize, cols: usize, seed: u64) -> Tensor<(Dyn, Dyn)> {
    Tensor::rand_uniform((Dyn(rows), Dyn(cols)), -1.0, 1.0, &mut seeded_rng(seed))
}

fn bench_matmul(c: &mut Criterion) {
    let a = rand_matrix(128, 784, 1);
    let b = rand_matrix(784, 256, 2);
    c.bench_function("matmul 128x784 * 784x256", |bench| {
        bench.iter(|| matmul(black_box(&a), black_box(&b)).unwrap())
    });
    let a = rand_matrix(64, 64, 3);
    let b = rand_matrix(64, 64, 4);
    c.bench_function("matmul 64x64 * 64x64", |bench| {
        bench.iter(|| matmul(black_box(&a), black_box(&b)).unwrap())
    });
}

fn bench_elementwise(c: &mut Criterion) {
    let x = rand_matrix(128, 256, 5);
    let y = rand_matrix(128, 256, 6);
    c.bench_function("relu 128x256", |bench| bench.iter(|| relu(black_box(&x))));
    c.bench_function("sigmoid 128x256", |bench| {
        bench.iter(|| sigmoid(black_box(&x)))
    });
    c.bench_function("add 128x256", |bench| {
        bench.iter(|| add(black_box(&x), black_box(&y)).unwrap())
    });
    c.bench_function("softmax 128x256", |bench| {
        bench.iter(|| softmax(black_box(&x)))
    });
}

criterion_group!(benches, bench_matmul, bench_elementwise);
criterion_main!(benches);
