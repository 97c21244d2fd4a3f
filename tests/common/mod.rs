//! Helpers shared by the gradient-check and parity tests.
#![allow(dead_code, unused_macros)]

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

/// All parameter values (or gradients) of a model, flattened in visit order.
pub fn flat_params<M: nanotorch::Module<f64>>(model: &mut M, grads: bool) -> Vec<f64> {
    let mut out = Vec::new();
    model.visit_params(&mut |p| out.extend_from_slice(if grads { p.grad } else { p.value }));
    out
}

/// Overwrites all parameter values of a model from a flat vector (visit order).
pub fn set_flat_params<M: nanotorch::Module<f64>>(model: &mut M, values: &[f64]) {
    let mut k = 0;
    model.visit_params(&mut |p| {
        let n = p.value.len();
        p.value.copy_from_slice(&values[k..k + n]);
        k += n;
    });
}

/// Gradient check of every parameter of a model: `backprop` runs forward + backward for the
/// scalar loss (after `zero_grad`), `loss` evaluates the same scalar without saving.
pub fn assert_model_grads<M: nanotorch::Module<f64>>(
    name: &str,
    model: &mut M,
    mut backprop: impl FnMut(&mut M),
    mut loss: impl FnMut(&M) -> f64,
) -> GradCheckReport {
    model.zero_grad();
    backprop(model);
    let analytic = flat_params(model, true);
    let values = flat_params(model, false);
    let report = check_gradient(
        &values,
        &analytic,
        |v| {
            set_flat_params(model, v);
            loss(model)
        },
        GradCheckConfig::default(),
    );
    set_flat_params(model, &values);
    println!(
        "gradcheck {name:<24} params {:>5}  max abs err {:.3e}",
        report.checked, report.max_abs_err
    );
    assert!(
        report.passed(),
        "{name}: parameter gradient check failed: {report:?}"
    );
    assert!(
        analytic.iter().any(|g| *g != 0.0),
        "{name}: all gradients are zero"
    );
    report
}

/// Checks all parameters and the input gradient of a network.
macro_rules! check_network {
    ($name:literal, $net:ty, $in_shape:expr, $out_shape:expr, $seed:expr) => {{
        let mut r = rng($seed);
        for batch in [1usize, 3] {
            let mut net = <$net>::new($seed);
            let x = rand_tensor($in_shape(batch), -1.5, 1.5, &mut r);
            let g = rand_tensor($out_shape(batch), -1.0, 1.0, &mut r);
            assert_model_grads(
                $name,
                &mut net,
                |n| {
                    n.forward(&x);
                    n.backward(&g).unwrap();
                },
                |n| dot(&g, &n.predict(&x)),
            );
            // The input gradient, through `backward_with_input`.
            net.zero_grad();
            net.forward(&x);
            let dx = net.backward_with_input(&g).unwrap().clone();
            assert_grad(concat!($name, ".input"), &x, &dx, |x| {
                dot(&g, &net.predict(x))
            });
        }
    }};
}
