//! The GEMM against a plain triple loop, on every path (small, packed, transposed-output,
//! threaded), every operand layout, ragged edges and both element types.

use super::threads::set_num_threads;
use super::{MatMut, MatRef, gemm};

/// `c (+)= a·b` by the definition, in f64.
fn reference(a: MatRef<'_, f64>, b: MatRef<'_, f64>, c: &mut [f64], accumulate: bool) {
    for i in 0..a.rows {
        for j in 0..b.cols {
            let sum: f64 = (0..a.cols).map(|p| a.at(i, p) * b.at(p, j)).sum();
            let dst = &mut c[i * b.cols + j];
            *dst = if accumulate { *dst + sum } else { sum };
        }
    }
}

/// Deterministic values in [-1, 1) with no two neighbours equal.
fn values(len: usize, seed: usize) -> Vec<f64> {
    (0..len)
        .map(|i| ((i * 7919 + seed * 104_729) % 2003) as f64 / 1001.5 - 1.0)
        .collect()
}

/// Views `data` as a `rows × cols` matrix, stored row-major or as its transpose.
fn view<E: Copy>(data: &[E], rows: usize, cols: usize, transposed: bool) -> MatRef<'_, E> {
    if transposed {
        MatRef::row_major(data, cols, rows).t()
    } else {
        MatRef::row_major(data, rows, cols)
    }
}

fn check(m: usize, k: usize, n: usize) {
    for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
        for accumulate in [false, true] {
            let (a, b) = (values(m * k, 1), values(k * n, 2));
            let start = values(m * n, 3);
            let mut want = start.clone();
            reference(
                view(&a, m, k, ta),
                view(&b, k, n, tb),
                &mut want,
                accumulate,
            );

            let mut got = start.clone();
            let c = MatMut::row_major(&mut got, m, n);
            gemm(view(&a, m, k, ta), view(&b, k, n, tb), c, accumulate);
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-12 * (1.0 + k as f64),
                    "f64 {m}×{k}×{n} ta={ta} tb={tb} accumulate={accumulate}: {g} vs {w}"
                );
            }

            let (a32, b32): (Vec<f32>, Vec<f32>) = (
                a.iter().map(|&x| x as f32).collect(),
                b.iter().map(|&x| x as f32).collect(),
            );
            let mut got32: Vec<f32> = start.iter().map(|&x| x as f32).collect();
            let c32 = MatMut::row_major(&mut got32, m, n);
            gemm(view(&a32, m, k, ta), view(&b32, k, n, tb), c32, accumulate);
            for (g, w) in got32.iter().zip(&want) {
                assert!(
                    (f64::from(*g) - w).abs() <= 1e-5 * (1.0 + k as f64),
                    "f32 {m}×{k}×{n} ta={ta} tb={tb} accumulate={accumulate}: {g} vs {w}"
                );
            }
        }
    }
}

#[test]
fn small_products_match_the_definition() {
    for (m, k, n) in [
        (1, 1, 1),
        (50, 3, 3),
        (5, 50, 3),
        (3, 7, 1),
        (17, 13, 11),
        (4, 0, 3),
    ] {
        check(m, k, n);
    }
}

#[test]
fn packed_products_match_the_definition() {
    // Ragged in every dimension (not multiples of the tile sizes), deeper than one depth
    // block (KC = 256), taller than one row block (MC = 96), and narrow outputs (the
    // transposed-output path).
    for (m, k, n) in [
        (97, 300, 45),
        (128, 64, 10),
        (7, 513, 33),
        (200, 31, 129),
        (33, 40, 70),
    ] {
        check(m, k, n);
    }
}

#[test]
fn threaded_products_match_the_definition() {
    // Big enough to be split over threads (PARALLEL_WORK), with a ragged split point.
    set_num_threads(3);
    check(131, 70, 150);
    set_num_threads(2);
    check(100, 90, 80);
}

/// Timing of the LeNet step's convolution products (not a check; run with
/// `cargo test --release -p nanotorch conv_product_timing -- --ignored --nocapture`).
#[test]
#[ignore]
fn conv_product_timing() {
    set_num_threads(1);
    // (name, m, k, n, a transposed, b transposed)
    let mut shapes: Vec<(String, usize, usize, usize, bool, bool)> = Vec::new();
    for (conv, o, ckk, px) in [
        ("conv1", 16, 25, 3920),
        ("conv2", 32, 400, 300),
        ("conv2", 32, 400, 800),
    ] {
        for (what, m, k, n, ta, tb) in [
            ("fwd Pcmᵀ·Wᵀ", px, ckk, o, true, true),
            ("fwd W·Pcm", o, ckk, px, false, false),
            ("fwd Prows·Wᵀ", px, ckk, o, false, true),
            ("dW dYcm·Pcmᵀ", o, px, ckk, false, true),
            ("dWᵀ Pcm·dYrows", ckk, px, o, false, false),
            ("dWᵀ Pcm·dYcmᵀ", ckk, px, o, false, true),
            ("dPcm Wᵀ·dYcm", ckk, o, px, true, false),
            ("dProws dYrows·W", px, o, ckk, false, false),
        ] {
            shapes.push((format!("{conv} {px} {what}"), m, k, n, ta, tb));
        }
    }
    for (name, m, k, n, ta, tb) in shapes {
        let name = name.as_str();
        let a: Vec<f32> = values(m * k, 1).iter().map(|&v| v as f32).collect();
        let b: Vec<f32> = values(k * n, 2).iter().map(|&v| v as f32).collect();
        let mut c = vec![0f32; m * n];
        let mut best = f64::INFINITY;
        for _ in 0..200 {
            let t = std::time::Instant::now();
            gemm(
                view(&a, m, k, ta),
                view(&b, k, n, tb),
                MatMut::row_major(&mut c, m, n),
                false,
            );
            best = best.min(t.elapsed().as_secs_f64());
        }
        let flops = 2.0 * (m * k * n) as f64;
        println!(
            "{name:28} [{m}, {k}]·[{k}, {n}]  {:.3} ms  {:.1} GFLOP/s",
            best * 1e3,
            flops / best / 1e9
        );
    }
}
