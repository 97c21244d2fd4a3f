//! GFLOP/s of the MNIST-sized training step (784 → 256 → 128 → 10, batch 128) against the
//! peak of the same matrix-product backend on a big square product, measured in the same
//! process, at 1 and 2 threads; plus each of the step's eight products on its own.
//!
//! ```text
//! cargo run --release --example gflops                          # OpenBLAS (default)
//! cargo run --release --example gflops --no-default-features    # matrixmultiply
//! ```
//!
//! FLOPs are counted as `2·M·N·K` per product: forward 3, `dW` 3, `dX` 2 (the first layer's
//! input gradient is not computed). Everything else in the step (bias, ReLU, loss, SGD) is
//! time without counted FLOPs. Times are medians of many repetitions after warm-up.

use std::process::Command;
use std::time::{Duration, Instant};

use nanotorch::ops::{
    linear_backward_input_into, linear_backward_params, linear_into, matmul_into,
};
use nanotorch::{Dyn, Tensor, seeded_rng};
use nanotorch_suite::bench_models::{MnistStep, TrainStep};

type Matrix = Tensor<(Dyn, Dyn)>;

fn rand(rows: usize, cols: usize, seed: u64) -> Matrix {
    Tensor::rand_uniform((Dyn(rows), Dyn(cols)), -1.0, 1.0, &mut seeded_rng(seed))
}

/// Median seconds of one call of `f` (samples of about 5 ms each, for about `seconds`).
fn median_secs(mut f: impl FnMut(), seconds: f64) -> f64 {
    let start = Instant::now();
    let mut warm = 0u32;
    while start.elapsed() < Duration::from_millis(200) || warm < 5 {
        f();
        warm += 1;
    }
    let per = start.elapsed().as_secs_f64() / f64::from(warm);
    let n = ((5e-3 / per) as usize).max(1);
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < seconds || samples.len() < 9 {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        samples.push(t.elapsed().as_secs_f64() / n as f64);
    }
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn gflops(flops: f64, secs: f64) -> f64 {
    flops / secs / 1e9
}

fn worker() {
    let n = 1024;
    let (a, b) = (rand(n, n, 1), rand(n, n, 2));
    let mut c = rand(n, n, 3);
    let square_flops = 2.0 * (n * n * n) as f64;
    let peak = gflops(
        square_flops,
        median_secs(|| matmul_into(&a, &b, &mut c).expect("square"), 2.0),
    );

    let mut step = MnistStep::new();
    let step_flops = step.gemm_flops();
    let step_secs = median_secs(
        || {
            step.step();
        },
        2.0,
    );
    println!(
        "peak {peak:.1} GFLOP/s ({n}³ product) | mnist step {:.3} ms = {:.1} GFLOP/s = {:.0}% of peak",
        step_secs * 1e3,
        gflops(step_flops, step_secs),
        100.0 * gflops(step_flops, step_secs) / peak
    );

    // The step's products one by one (shapes as the generated code calls them).
    let batch = 128;
    let layers = [(784, 256), (256, 128), (128, 10)];
    let mut total = 0.0;
    for (l, &(inp, out)) in layers.iter().enumerate() {
        let x = rand(batch, inp, 10 + l as u64);
        let w = rand(out, inp, 20 + l as u64);
        let bias: Tensor<(Dyn,)> =
            Tensor::rand_uniform((Dyn(out),), -1.0, 1.0, &mut seeded_rng(30));
        let dy = rand(batch, out, 40 + l as u64);
        let mut y = rand(batch, out, 50);
        let mut dw = rand(out, inp, 60);
        let mut db: Tensor<(Dyn,)> = Tensor::zeros((Dyn(out),));
        let mut dx = rand(batch, inp, 70);
        let flops = 2.0 * (batch * inp * out) as f64;
        let fwd = median_secs(
            || linear_into(&x, &w, Some(&bias), &mut y).expect("fwd"),
            0.3,
        );
        let dws = median_secs(
            || linear_backward_params(&x, &dy, &mut dw, Some(&mut db)).expect("dW"),
            0.3,
        );
        total += fwd + dws;
        let mut line = format!(
            "  layer {inp}→{out}: forward {:.1} µs ({:.1} GF/s), dW {:.1} µs ({:.1} GF/s)",
            fwd * 1e6,
            gflops(flops, fwd),
            dws * 1e6,
            gflops(flops, dws)
        );
        if l > 0 {
            let dxs = median_secs(|| linear_backward_input_into(&w, &dy, &mut dx), 0.3);
            total += dxs;
            line += &format!(", dX {:.1} µs ({:.1} GF/s)", dxs * 1e6, gflops(flops, dxs));
        }
        println!("{line}");
    }
    println!(
        "  the eight products alone: {:.3} ms = {:.1} GFLOP/s; the rest of the step: {:.3} ms",
        total * 1e3,
        gflops(step_flops, total),
        (step_secs - total) * 1e3
    );
}

fn main() {
    if std::env::args().any(|a| a == "--worker") {
        worker();
        return;
    }
    let backend = if cfg!(feature = "openblas") {
        "OpenBLAS"
    } else {
        "matrixmultiply"
    };
    let me = std::env::current_exe().expect("the path of this program");
    for threads in ["1", "2"] {
        println!("{backend}, {threads} thread(s):");
        let out = Command::new(&me)
            .arg("--worker")
            .env("OPENBLAS_NUM_THREADS", threads)
            .env("MATMUL_NUM_THREADS", threads)
            .output()
            .expect("run the worker");
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}
