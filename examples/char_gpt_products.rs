//! GFLOP/s of NanoTorch's linear-layer products at the shapes of the `char_gpt` training step
//! (768 rows = batch 12 × 64 positions; 128 → 128, 128 → 512, 512 → 128, 128 → 73): the
//! forward `x·Wᵀ` (`nt`, with the bias), `dW = dyᵀ·x` (`tn`, with the bias gradient) and
//! `dX = dy·W` (`nn`). Each figure is the best of ~2 ms samples over about a second, as
//! `examples/gflops.rs` times its products. PyTorch's `torch.mm` on the same shapes and layouts:
//!
//! ```text
//! NANOTORCH_NUM_THREADS=1 cargo run --release --example char_gpt_products
//! .venv/bin/python scripts/mm_torch.py --threads 1 768x128x128:nt 128x768x128:tn \
//!     768x128x128:nn 768x128x512:nt 512x768x128:tn 768x512x128:nn 768x512x128:nt \
//!     128x768x512:tn 768x128x512:nn 768x128x73:nt 73x768x128:tn 768x73x128:nn
//! ```
//!
//! (`mm_torch.py` prints seconds per product; GFLOP/s is `2·M·K·N / seconds / 1e9`.)

use nanotorch::ops::*;
use nanotorch::{Dyn, Tensor, seeded_rng};
use std::time::{Duration, Instant};
type Matrix = Tensor<(Dyn, Dyn)>;
fn rand(r: usize, c: usize, s: u64) -> Matrix {
    Tensor::rand_uniform((Dyn(r), Dyn(c)), -1.0, 1.0, &mut seeded_rng(s))
}
/// Best seconds per call of `f` over samples of about 2 ms, for about a second.
fn best(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut warm = 0u32;
    while start.elapsed() < Duration::from_millis(200) || warm < 5 {
        f();
        warm += 1;
    }
    let per = start.elapsed().as_secs_f64() / f64::from(warm);
    let n = ((2e-3 / per) as usize).max(1);
    let mut b = f64::INFINITY;
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < 1.0 {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        b = b.min(t.elapsed().as_secs_f64() / n as f64);
    }
    b
}
/// Times the three products of each layer shape and prints their GFLOP/s.
fn main() {
    let rows = 768;
    for (inp, out) in [(128usize, 128usize), (128, 512), (512, 128), (128, 73)] {
        let x = rand(rows, inp, 1);
        let w = rand(out, inp, 2);
        let bias: Tensor<(Dyn,)> = Tensor::rand_uniform((Dyn(out),), -1.0, 1.0, &mut seeded_rng(3));
        let dy = rand(rows, out, 4);
        let mut y = rand(rows, out, 5);
        let mut dw = rand(out, inp, 6);
        let mut db: Tensor<(Dyn,)> = Tensor::zeros((Dyn(out),));
        let mut dx = rand(rows, inp, 7);
        let fl = 2.0 * (rows * inp * out) as f64 / 1e9;
        let a = best(|| linear_into(&x, &w, Some(&bias), &mut y).unwrap());
        let b = best(|| linear_backward_params(&x, &dy, &mut dw, Some(&mut db)).unwrap());
        let c = best(|| linear_backward_input_into(&w, &dy, &mut dx));
        println!(
            "{rows}x{inp}x{out}:nt {:.1}  {out}x{rows}x{inp}:tn {:.1}  {rows}x{out}x{inp}:nn {:.1} GFLOP/s",
            fl / a,
            fl / b,
            fl / c
        );
    }
}
