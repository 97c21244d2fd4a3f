//! Helpers shared by the gradient-check and parity tests.
#![allow(dead_code)]

use nanotorch::gradcheck::{GradCheckConfig, GradCheckReport, check_gradient};
use nanotorch::{SeededRng, Shape, Tensor, seeded_rng};

/// Random f64 values in [lo, hi) for a shape, from a seeded generator.
pub fn rand_tensor<S: Shape>(shape: S, lo: f64, hi: f64, rng: &mut SeededRng) -> Tensor<S, f64> {
    Tensor::rand_uniform(shape, lo, hi, rng)
}

/// Random values whose magnitude is at least `gap` — keeps inputs away from kinks at 0.
pub fn rand_away_from_zero<S: Shape>(shape: S, gap: f64, rng: &mut SeededRng) -> Tensor<S, f64> {
    let mut t = rand_tensor(shape, -2.0, 2.0, rng);
    for v in t.as_slice_mut() {
        if v.abs() < gap {
            *v = if *v < 0.0 { *v - gap } else { *v + gap };
        }
    }
    t
}

/// `Σ g ⊙ y`, the scalar whose gradient with respect to `y` is `g`.
pub fn dot<S: Shape>(g: &Tensor<S, f64>, y: &Tensor<S, f64>) -> f64 {
    g.as_slice()
        .iter()
        .zip(y.as_slice())
        .map(|(a, b)| a * b)
        .sum()
}

/// Checks the gradient of `x ↦ Σ g ⊙ f(x)` against `analytic`, with PyTorch's gradcheck
/// tolerances, and panics with the report if any coordinate fails.
pub fn assert_grad<S: Shape>(
    name: &str,
    x: &Tensor<S, f64>,
    analytic: &Tensor<S, f64>,
    mut loss: impl FnMut(&Tensor<S, f64>) -> f64,
) -> GradCheckReport {
    let shape = x.shape();
    let report = check_gradient(
        x.as_slice(),
        analytic.as_slice(),
        |v| loss(&Tensor::from_shape_vec(shape, v.to_vec()).unwrap()),
        GradCheckConfig::default(),
    );
    println!(
        "gradcheck {name:<24} checked {:>4}  max abs err {:.3e}",
        report.checked, report.max_abs_err
    );
    assert!(report.passed(), "{name}: gradient check failed: {report:?}");
    report
}

/// A seeded generator for test `k` (distinct seeds per test keep cases independent).
pub fn rng(k: u64) -> SeededRng {
    seeded_rng(0x6e61_6e6f ^ k)
}
