//! Benchmarks of the hot primitives (f32): matrix products, elementwise ops, and the LeNet's
//! convolution, max pooling and batch norm. Run: `cargo bench --bench primitives` (add
//! `-- --quick` for a short run, or a name filter such as `conv2d`).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use nanotorch::ops::{
    BatchNormSaved, BatchNormSpec, Conv2dSpec, Pool2dSpec, add, batch_norm_backward_into,
    batch_norm_train_into, conv2d_backward_input_into, conv2d_backward_params, conv2d_into, matmul,
    max_pool2d_backward_into, max_pool2d_into, relu, sigmoid, softmax,
};
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

/// A `[B, C, H, W]` batch of images with runtime sizes.
type Images = Tensor<(Dyn, Dyn, Dyn, Dyn)>;

fn rand_images([b, c, h, w]: [usize; 4], seed: u64) -> Images {
    Tensor::rand_uniform(
        (Dyn(b), Dyn(c), Dyn(h), Dyn(w)),
        -1.0,
        1.0,
        &mut seeded_rng(seed),
    )
}

/// The LeNet's layers at batch 64 (`src/bench_models.rs`), through the ops' `_into` entry
/// points with buffers kept across iterations, as a training step keeps them.
fn bench_conv(c: &mut Criterion) {
    // conv2: [64, 16, 14, 14] * [32, 16, 5, 5] -> [64, 32, 10, 10]
    let x = rand_images([64, 16, 14, 14], 7);
    let weight = rand_images([32, 16, 5, 5], 8);
    let bias: Tensor<(Dyn,)> = Tensor::rand_uniform((Dyn(32),), -1.0, 1.0, &mut seeded_rng(9));
    let spec = Conv2dSpec::default();
    let mut y = Images::default();
    let mut cols = Vec::new();
    c.bench_function("conv2d forward 64x16x14x14 * 32x16x5x5", |bench| {
        bench.iter(|| {
            conv2d_into(
                black_box(&x),
                black_box(&weight),
                Some(&bias),
                spec,
                &mut y,
                &mut cols,
            )
            .unwrap()
        })
    });
    let dy = rand_images([64, 32, 10, 10], 10);
    let mut dweight = Tensor::zeros(weight.shape());
    let mut dbias = Tensor::zeros(bias.shape());
    let mut dx = Images::default();
    c.bench_function("conv2d backward 64x16x14x14 * 32x16x5x5", |bench| {
        bench.iter(|| {
            // zero_grad, then dW and dbias (added into), then dx
            dweight.fill(0.0);
            dbias.fill(0.0);
            conv2d_backward_params(
                black_box(&x),
                black_box(&dy),
                spec,
                &mut dweight,
                Some(&mut dbias),
                &mut cols,
            )
            .unwrap();
            conv2d_backward_input_into(&weight, &dy, spec, x.shape(), &mut dx, &mut cols).unwrap()
        })
    });

    // pool1 and bn1 sizes: [64, 16, 28, 28]
    let x = rand_images([64, 16, 28, 28], 11);
    let pool = Pool2dSpec::new(2, 2, 0);
    let mut y = Images::default();
    let mut argmax = Vec::new();
    c.bench_function("max_pool2d 2x2 64x16x28x28", |bench| {
        bench.iter(|| max_pool2d_into(black_box(&x), pool, &mut y, &mut argmax).unwrap())
    });
    let dy = rand_images([64, 16, 14, 14], 12);
    let mut dx = Images::default();
    c.bench_function("max_pool2d backward 2x2 64x16x28x28", |bench| {
        bench
            .iter(|| max_pool2d_backward_into(&argmax, black_box(&dy), x.shape(), &mut dx).unwrap())
    });

    let weight: Tensor<(Dyn,)> = Tensor::rand_uniform((Dyn(16),), 0.5, 1.5, &mut seeded_rng(13));
    let bias: Tensor<(Dyn,)> = Tensor::rand_uniform((Dyn(16),), -1.0, 1.0, &mut seeded_rng(14));
    let mut running_mean = Tensor::zeros(bias.shape());
    let mut running_var = Tensor::ones(bias.shape());
    let mut y = Images::default();
    let mut saved = BatchNormSaved::new(x.shape());
    let dy = rand_images([64, 16, 28, 28], 15);
    let mut dx = Images::default();
    let mut dweight = Tensor::zeros(weight.shape());
    let mut dbias = Tensor::zeros(bias.shape());
    c.bench_function("batch_norm train forward+backward 64x16x28x28", |bench| {
        bench.iter(|| {
            batch_norm_train_into(
                black_box(&x),
                &weight,
                &bias,
                BatchNormSpec::default(),
                &mut running_mean,
                &mut running_var,
                &mut y,
                &mut saved,
            )
            .unwrap();
            dweight.fill(0.0);
            dbias.fill(0.0);
            batch_norm_backward_into(
                &saved,
                &weight,
                black_box(&dy),
                &mut dx,
                &mut dweight,
                &mut dbias,
            )
            .unwrap()
        })
    });
}

criterion_group!(benches, bench_matmul, bench_elementwise, bench_conv);
criterion_main!(benches);
