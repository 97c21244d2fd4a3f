//! Finite-difference gradient checks (f64) of every differentiable primitive: the backward of
//! each is compared with central differences of `L(x) = Σ g ⊙ f(x)` for a random `g`, over
//! several random shapes, with PyTorch gradcheck's tolerances (eps 1e-6, atol 1e-5, rtol 1e-3).

mod common;

use common::*;
use nanotorch::ops::*;
use nanotorch::shape::{U3, U4, U5};
use nanotorch::{Dyn, Shape, Tensor};

/// Batch sizes the checks run over (a runtime dim, so several sizes go through one type).
const BATCHES: [usize; 3] = [1, 2, 7];

#[test]
fn matmul_gradients() {
    let mut r = rng(1);
    for m in BATCHES {
        let a = rand_tensor((Dyn(m), U4::default()), -1.0, 1.0, &mut r);
        let b = rand_tensor((U4::default(), U3::default()), -1.0, 1.0, &mut r);
        let g = rand_tensor((Dyn(m), U3::default()), -1.0, 1.0, &mut r);
        let (da, db) = matmul_backward(&a, &b, &g).unwrap();
        assert_grad("matmul.a", &a, &da, |a| dot(&g, &matmul(a, &b).unwrap()));
        assert_grad("matmul.b", &b, &db, |b| dot(&g, &matmul(&a, b).unwrap()));
    }
}

#[test]
fn linear_gradients() {
    let mut r = rng(2);
    for n in BATCHES {
        let x = rand_tensor((Dyn(n), U5::default()), -1.0, 1.0, &mut r);
        let w = rand_tensor((U3::default(), U5::default()), -1.0, 1.0, &mut r);
        let b = rand_tensor((U3::default(),), -1.0, 1.0, &mut r);
        let g = rand_tensor((Dyn(n), U3::default()), -1.0, 1.0, &mut r);
        let dx = linear_backward_input(&w, &g);
        let mut dw = Tensor::zeros(w.shape());
        let mut db = Tensor::zeros(b.shape());
        linear_backward_params(&x, &g, &mut dw, Some(&mut db)).unwrap();
        assert_grad("linear.x", &x, &dx, |x| {
            dot(&g, &linear(x, &w, Some(&b)).unwrap())
        });
        assert_grad("linear.weight", &w, &dw, |w| {
            dot(&g, &linear(&x, w, Some(&b)).unwrap())
        });
        assert_grad("linear.bias", &b, &db, |b| {
            dot(&g, &linear(&x, &w, Some(b)).unwrap())
        });
    }
}

/// Checks an elementwise activation whose backward reads the saved *output*.
fn check_from_output<S: Shape>(
    name: &str,
    x: &Tensor<S, f64>,
    g: &Tensor<S, f64>,
    f: impl Fn(&Tensor<S, f64>) -> Tensor<S, f64>,
    backward: impl Fn(&Tensor<S, f64>, &Tensor<S, f64>) -> Tensor<S, f64>,
) {
    let dx = backward(&f(x), g);
    assert_grad(name, x, &dx, |x| dot(g, &f(x)));
}

#[test]
fn relu_gradients() {
    let mut r = rng(3);
    for n in BATCHES {
        let x = rand_away_from_zero((Dyn(n), U4::default()), 1e-3, &mut r);
        let g = rand_tensor(x.shape(), -1.0, 1.0, &mut r);
        check_from_output("relu", &x, &g, relu, relu_backward);
    }
}

#[test]
fn sigmoid_gradients() {
    let mut r = rng(4);
    for n in BATCHES {
        let x = rand_tensor((Dyn(n), U4::default(), U3::default()), -6.0, 6.0, &mut r);
        let g = rand_tensor(x.shape(), -1.0, 1.0, &mut r);
        check_from_output("sigmoid", &x, &g, sigmoid, sigmoid_backward);
    }
}
