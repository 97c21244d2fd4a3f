//! Finite-difference gradient checks (f64) of every differentiable primitive: the backward of
//! each is compared with central differences of `L(x) = Σ g ⊙ f(x)` for a random `g`, over
//! several random shapes, with PyTorch gradcheck's tolerances (eps 1e-6, atol 1e-5, rtol 1e-3).

mod common;

use common::*;
use nanotorch::ops::*;
use nanotorch::shape::U12;
use nanotorch::shape::{U2, U3, U4, U5};
use nanotorch::{Dyn, Shape, Tensor, seeded_rng};

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

/// Checks an elementwise activation whose backward reads the saved *input*.
fn check_from_input<S: Shape>(
    name: &str,
    x: &Tensor<S, f64>,
    g: &Tensor<S, f64>,
    f: impl Fn(&Tensor<S, f64>) -> Tensor<S, f64>,
    backward: impl Fn(&Tensor<S, f64>, &Tensor<S, f64>) -> Tensor<S, f64>,
) {
    let dx = backward(x, g);
    assert_grad(name, x, &dx, |x| dot(g, &f(x)));
}

/// The `_backward_into` variants, given a stale buffer of another batch size, must resize it
/// and give the same gradient as the allocating backward.
fn into_matches<S: Shape>(
    name: &str,
    saved: &Tensor<S, f64>,
    g: &Tensor<S, f64>,
    stale: S,
    backward: impl Fn(&Tensor<S, f64>, &Tensor<S, f64>) -> Tensor<S, f64>,
    backward_into: impl Fn(&Tensor<S, f64>, &Tensor<S, f64>, &mut Tensor<S, f64>),
) {
    let mut dx = Tensor::full(stale, f64::NAN);
    backward_into(saved, g, &mut dx);
    assert_eq!(
        dx,
        backward(saved, g),
        "{name}: _backward_into differs from _backward"
    );
}

type R3 = (Dyn, U3, U4);

fn r3(n: usize) -> R3 {
    (Dyn(n), U3::default(), U4::default())
}

#[test]
fn relu_sigmoid_backward_into() {
    let mut r = rng(5);
    for n in BATCHES {
        let x = rand_away_from_zero(r3(n), 1e-3, &mut r);
        let g = rand_tensor(x.shape(), -1.0, 1.0, &mut r);
        let y = relu(&x);
        into_matches("relu", &y, &g, r3(n + 1), relu_backward, relu_backward_into);
        let mut dx = Tensor::zeros(x.shape());
        relu_backward_into(&y, &g, &mut dx);
        assert_grad("relu (into)", &x, &dx, |x| dot(&g, &relu(x)));
        let y = sigmoid(&x);
        sigmoid_backward_into(&y, &g, &mut dx);
        assert_grad("sigmoid (into)", &x, &dx, |x| dot(&g, &sigmoid(x)));
        into_matches(
            "sigmoid",
            &y,
            &g,
            r3(n + 1),
            sigmoid_backward,
            sigmoid_backward_into,
        );
    }
}

#[test]
fn elementwise_binary_gradients() {
    let mut r = rng(10);
    for n in BATCHES {
        let a = rand_tensor(r3(n), -2.0, 2.0, &mut r);
        let b = rand_tensor(r3(n), -2.0, 2.0, &mut r);
        let g = rand_tensor(r3(n), -1.0, 1.0, &mut r);
        // add: identity for both inputs.
        assert_grad("add.a", &a, &g, |a| dot(&g, &add(a, &b).unwrap()));
        assert_grad("add.b", &b, &g, |b| dot(&g, &add(&a, b).unwrap()));
        // sub: dy for a, neg(dy) for b.
        assert_grad("sub.a", &a, &g, |a| dot(&g, &sub(a, &b).unwrap()));
        assert_grad("sub.b", &b, &neg(&g), |b| dot(&g, &sub(&a, b).unwrap()));
        // mul
        let (da, db) = mul_backward(&a, &b, &g).unwrap();
        assert_grad("mul.a", &a, &da, |a| dot(&g, &mul(a, &b).unwrap()));
        assert_grad("mul.b", &b, &db, |b| dot(&g, &mul(&a, b).unwrap()));
    }
}

#[test]
fn elementwise_unary_gradients() {
    let mut r = rng(11);
    for n in BATCHES {
        let x = rand_tensor((Dyn(n), U5::default()), -2.0, 2.0, &mut r);
        let g = rand_tensor(x.shape(), -1.0, 1.0, &mut r);
        assert_grad("neg", &x, &neg(&g), |x| dot(&g, &neg(x)));
        for c in [2.5, -0.75] {
            assert_grad("scale", &x, &scale_backward(&g, c), |x| {
                dot(&g, &scale(x, c))
            });
        }
    }
}

#[test]
fn elementwise_into_variants_match() {
    let mut r = rng(12);
    let a = rand_tensor(r3(2), -2.0, 2.0, &mut r);
    let b = rand_tensor(r3(2), -2.0, 2.0, &mut r);
    // Stale output buffers of another batch size must be resized, not trusted.
    let mut out = Tensor::full(r3(5), f64::NAN);
    add_into(&a, &b, &mut out).unwrap();
    assert_eq!(out, add(&a, &b).unwrap());
    sub_into(&a, &b, &mut out).unwrap();
    assert_eq!(out, sub(&a, &b).unwrap());
    mul_into(&a, &b, &mut out).unwrap();
    assert_eq!(out, mul(&a, &b).unwrap());
    let mut out = Tensor::full(r3(7), f64::NAN);
    neg_into(&a, &mut out);
    assert_eq!(out, neg(&a));
    scale_into(&a, 3.0, &mut out);
    assert_eq!(out, scale(&a, 3.0));
    // And the forward values themselves.
    for i in 0..a.numel() {
        let (x, y) = (a.as_slice()[i], b.as_slice()[i]);
        assert_eq!(add(&a, &b).unwrap().as_slice()[i], x + y);
        assert_eq!(sub(&a, &b).unwrap().as_slice()[i], x - y);
        assert_eq!(mul(&a, &b).unwrap().as_slice()[i], x * y);
        assert_eq!(scale(&a, 3.0).as_slice()[i], 3.0 * x);
    }
}

#[test]
fn add_bias_gradients() {
    let mut r = rng(13);
    for n in BATCHES {
        let x = rand_tensor((Dyn(n), U4::default()), -1.0, 1.0, &mut r);
        let bias = rand_tensor((U4::default(),), -1.0, 1.0, &mut r);
        let g = rand_tensor(x.shape(), -1.0, 1.0, &mut r);
        assert_grad("add_bias.x", &x, &g, |x| {
            dot(&g, &add_bias(x, &bias).unwrap())
        });
        let db = bias_grad(&g);
        assert_grad("add_bias.bias", &bias, &db, |b| {
            dot(&g, &add_bias(&x, b).unwrap())
        });
        // Accumulating into an existing gradient adds the same amount.
        let start = rand_tensor(bias.shape(), -1.0, 1.0, &mut r);
        let mut acc = start.clone();
        bias_grad_accumulate(&g, &mut acc).unwrap();
        let expected = add(&start, &db).unwrap();
        for (a, e) in acc.as_slice().iter().zip(expected.as_slice()) {
            assert!((a - e).abs() < 1e-12, "bias_grad_accumulate: {a} vs {e}");
        }
        let mut out = Tensor::full((Dyn(n + 3), U4::default()), f64::NAN);
        add_bias_into(&x, &bias, &mut out).unwrap();
        assert_eq!(out, add_bias(&x, &bias).unwrap());
    }
}

#[test]
fn leaky_relu_gradients() {
    let mut r = rng(14);
    for n in BATCHES {
        let x = rand_away_from_zero(r3(n), 1e-3, &mut r);
        let g = rand_tensor(x.shape(), -1.0, 1.0, &mut r);
        for slope in [0.01, 0.2, -0.5] {
            check_from_input(
                "leaky_relu",
                &x,
                &g,
                |x| leaky_relu(x, slope),
                |x, g| leaky_relu_backward(x, g, slope),
            );
            into_matches(
                "leaky_relu",
                &x,
                &g,
                r3(n + 1),
                |x, g| leaky_relu_backward(x, g, slope),
                |x, g, dx| leaky_relu_backward_into(x, g, slope, dx),
            );
        }
    }
}

#[test]
fn tanh_gradients() {
    let mut r = rng(15);
    for n in BATCHES {
        let x = rand_tensor(r3(n), -3.0, 3.0, &mut r);
        let g = rand_tensor(x.shape(), -1.0, 1.0, &mut r);
        check_from_output("tanh", &x, &g, tanh, tanh_backward);
        into_matches(
            "tanh",
            &tanh(&x),
            &g,
            r3(n + 1),
            tanh_backward,
            tanh_backward_into,
        );
    }
}

#[test]
fn gelu_gradients() {
    let mut r = rng(16);
    for n in BATCHES {
        let x = rand_tensor(r3(n), -4.0, 4.0, &mut r);
        let g = rand_tensor(x.shape(), -1.0, 1.0, &mut r);
        check_from_input("gelu", &x, &g, gelu, gelu_backward);
        into_matches("gelu", &x, &g, r3(n + 1), gelu_backward, gelu_backward_into);
        check_from_input("gelu_tanh", &x, &g, gelu_tanh, gelu_tanh_backward);
        into_matches(
            "gelu_tanh",
            &x,
            &g,
            r3(n + 1),
            gelu_tanh_backward,
            gelu_tanh_backward_into,
        );
    }
}

#[test]
fn exp_log_gradients() {
    let mut r = rng(17);
    for n in BATCHES {
        let x = rand_tensor(r3(n), -2.0, 2.0, &mut r);
        let g = rand_tensor(x.shape(), -1.0, 1.0, &mut r);
        check_from_output("exp", &x, &g, exp, exp_backward);
        into_matches(
            "exp",
            &exp(&x),
            &g,
            r3(n + 1),
            exp_backward,
            exp_backward_into,
        );
        let x = rand_tensor(r3(n), 0.5, 3.0, &mut r);
        check_from_input("log", &x, &g, log, log_backward);
        into_matches("log", &x, &g, r3(n + 1), log_backward, log_backward_into);
    }
}

#[test]
fn softmax_gradients() {
    let mut r = rng(18);
    for n in BATCHES {
        let x = rand_tensor((Dyn(n), U5::default()), -3.0, 3.0, &mut r);
        let g = rand_tensor(x.shape(), -1.0, 1.0, &mut r);
        check_from_output("softmax [n,5]", &x, &g, softmax, softmax_backward);
        check_from_output(
            "log_softmax [n,5]",
            &x,
            &g,
            log_softmax,
            log_softmax_backward,
        );
        let y = softmax(&x);
        into_matches(
            "softmax",
            &y,
            &g,
            (Dyn(n + 1), U5::default()),
            softmax_backward,
            softmax_backward_into,
        );
        let y = log_softmax(&x);
        into_matches(
            "log_softmax",
            &y,
            &g,
            (Dyn(n + 1), U5::default()),
            log_softmax_backward,
            log_softmax_backward_into,
        );
        // Rank 3: the last axis is the one normalised.
        let x = rand_tensor(r3(n), -3.0, 3.0, &mut r);
        let g = rand_tensor(x.shape(), -1.0, 1.0, &mut r);
        check_from_output("softmax [n,3,4]", &x, &g, softmax, softmax_backward);
        check_from_output(
            "log_softmax [n,3,4]",
            &x,
            &g,
            log_softmax,
            log_softmax_backward,
        );
        for row in softmax(&x).as_slice().chunks(4) {
            assert!(
                (row.iter().sum::<f64>() - 1.0).abs() < 1e-12,
                "softmax row sums to 1"
            );
        }
    }
    // Rank 1: the whole vector is one distribution.
    let x = rand_tensor((U5::default(),), -3.0, 3.0, &mut r);
    let g = rand_tensor(x.shape(), -1.0, 1.0, &mut r);
    check_from_output("softmax [5]", &x, &g, softmax, softmax_backward);
    check_from_output("log_softmax [5]", &x, &g, log_softmax, log_softmax_backward);
}

#[test]
fn full_reduction_gradients() {
    let mut r = rng(19);
    for n in BATCHES {
        let x = rand_tensor(r3(n), -2.0, 2.0, &mut r);
        let g = rand_tensor((), -1.0, 1.0, &mut r);
        let dx = sum_all_backward(x.shape(), &g);
        assert_grad("sum_all", &x, &dx, |x| dot(&g, &sum_all(x)));
        let dx = mean_all_backward(x.shape(), &g);
        assert_grad("mean_all", &x, &dx, |x| dot(&g, &mean_all(x)));
    }
}

#[test]
fn axis_reduction_gradients() {
    let mut r = rng(20);
    for n in BATCHES {
        let x = rand_tensor(r3(n), -2.0, 2.0, &mut r);
        let s = x.shape();

        let g0 = rand_tensor((U3::default(), U4::default()), -1.0, 1.0, &mut r);
        let dx = sum_axis_backward::<0, _, _>(s, &g0).unwrap();
        assert_grad("sum_axis<0>", &x, &dx, |x| {
            dot(&g0, &sum_axis::<0, _, _>(x))
        });
        let dx = mean_axis_backward::<0, _, _>(s, &g0).unwrap();
        assert_grad("mean_axis<0>", &x, &dx, |x| {
            dot(&g0, &mean_axis::<0, _, _>(x))
        });

        let g1 = rand_tensor((Dyn(n), U4::default()), -1.0, 1.0, &mut r);
        let dx = sum_axis_backward::<1, _, _>(s, &g1).unwrap();
        assert_grad("sum_axis<1>", &x, &dx, |x| {
            dot(&g1, &sum_axis::<1, _, _>(x))
        });
        let dx = mean_axis_backward::<1, _, _>(s, &g1).unwrap();
        assert_grad("mean_axis<1>", &x, &dx, |x| {
            dot(&g1, &mean_axis::<1, _, _>(x))
        });

        let g2 = rand_tensor((Dyn(n), U3::default()), -1.0, 1.0, &mut r);
        let dx = sum_axis_backward::<2, _, _>(s, &g2).unwrap();
        assert_grad("sum_axis<2>", &x, &dx, |x| {
            dot(&g2, &sum_axis::<2, _, _>(x))
        });
        let dx = mean_axis_backward::<2, _, _>(s, &g2).unwrap();
        assert_grad("mean_axis<2>", &x, &dx, |x| {
            dot(&g2, &mean_axis::<2, _, _>(x))
        });
    }
}

#[test]
fn reshape_and_flatten_gradients() {
    let mut r = rng(21);
    for n in BATCHES {
        let x = rand_tensor(r3(n), -2.0, 2.0, &mut r);
        // [n, 3, 4] -> [2, 6n]: a reshape that crosses the batch axis.
        let to = (U2::default(), Dyn(6 * n));
        let g = rand_tensor(to, -1.0, 1.0, &mut r);
        let dx = reshape_backward(x.shape(), &g).unwrap();
        assert_grad("reshape", &x, &dx, |x| dot(&g, &reshape(x, to).unwrap()));

        // flatten rank 3: [n, 3, 4] -> [n, 12]
        let g = rand_tensor((Dyn(n), U12::default()), -1.0, 1.0, &mut r);
        let dx = flatten_backward(x.shape(), &g);
        assert_grad("flatten rank 3", &x, &dx, |x| dot(&g, &flatten(x)));
        assert_eq!(
            flatten(&x).to_vec(),
            x.to_vec(),
            "flatten keeps row-major order"
        );

        // flatten rank 4: [n, 2, 3, 2] -> [n, 12]
        let x4 = rand_tensor(
            (Dyn(n), U2::default(), U3::default(), U2::default()),
            -2.0,
            2.0,
            &mut r,
        );
        let dx = flatten_backward(x4.shape(), &g);
        assert_grad("flatten rank 4", &x4, &dx, |x| dot(&g, &flatten(x)));

        // flatten rank 2 is the identity.
        let x2 = rand_tensor((Dyn(n), U5::default()), -2.0, 2.0, &mut r);
        let g2 = rand_tensor(x2.shape(), -1.0, 1.0, &mut r);
        assert_eq!(flatten(&x2), x2);
        let dx = flatten_backward(x2.shape(), &g2);
        assert_grad("flatten rank 2", &x2, &dx, |x| dot(&g2, &flatten(x)));
    }
}

#[test]
fn concat_gradients() {
    let mut r = rng(22);
    for n in BATCHES {
        let a = rand_tensor((Dyn(n), U3::default()), -2.0, 2.0, &mut r);
        let b = rand_tensor((Dyn(n), U2::default()), -2.0, 2.0, &mut r);
        let g = rand_tensor((Dyn(n), U5::default()), -1.0, 1.0, &mut r);
        let (da, db) = concat_backward::<Dyn, U3, U2, f64>(&g);
        assert_grad("concat.a", &a, &da, |a| dot(&g, &concat(a, &b).unwrap()));
        assert_grad("concat.b", &b, &db, |b| dot(&g, &concat(&a, b).unwrap()));
        let y = concat(&a, &b).unwrap();
        for i in 0..n {
            let row = &y.as_slice()[5 * i..5 * i + 5];
            assert_eq!(&row[..3], &a.as_slice()[3 * i..3 * i + 3]);
            assert_eq!(&row[3..], &b.as_slice()[2 * i..2 * i + 2]);
        }
        let mut out = Tensor::full((Dyn(n + 2), U5::default()), f64::NAN);
        concat_into(&a, &b, &mut out).unwrap();
        assert_eq!(out, y);
    }
}

#[test]
fn dropout_gradients() {
    let mut r = rng(23);
    for n in BATCHES {
        let x = rand_tensor(r3(n), -2.0, 2.0, &mut r);
        let g = rand_tensor(x.shape(), -1.0, 1.0, &mut r);
        for (p, training) in [
            (0.3, true),
            (0.5, true),
            (0.0, true),
            (1.0, true),
            (0.5, false),
        ] {
            // The same seed gives the same mask, so the mask is fixed while x is perturbed.
            let seed = 100 + n as u64;
            let (_, mask) = dropout(&x, p, training, &mut seeded_rng(seed)).unwrap();
            let keep = if training {
                if p < 1.0 { 1.0 / (1.0 - p) } else { 0.0 }
            } else {
                1.0
            };
            assert!(
                mask.as_slice().iter().all(|&m| m == 0.0 || m == keep),
                "dropout mask values are 0 or {keep}"
            );
            let dx = dropout_backward(&mask, &g);
            assert_grad("dropout", &x, &dx, |x| {
                dot(
                    &g,
                    &dropout(x, p, training, &mut seeded_rng(seed)).unwrap().0,
                )
            });
        }
    }
}

#[test]
fn linear_bias_gradient_adds_column_sums_for_every_width() {
    // The bias gradient has a register path for widths 1–8 and a row-by-row path above:
    // both must add Σ_rows dy to what `db` already holds.
    let mut r = rng(40);
    for width in 1..=12 {
        for rows in [0usize, 1, 5, 33] {
            let x = rand_tensor((Dyn(rows), Dyn(3)), -1.0, 1.0, &mut r);
            let dy = rand_tensor((Dyn(rows), Dyn(width)), -1.0, 1.0, &mut r);
            let mut dw = Tensor::zeros((Dyn(width), Dyn(3)));
            let start = rand_tensor((Dyn(width),), -1.0, 1.0, &mut r);
            let mut db = start.clone();
            linear_backward_params(&x, &dy, &mut dw, Some(&mut db)).unwrap();
            for j in 0..width {
                let sum: f64 = (0..rows).map(|i| dy.as_slice()[i * width + j]).sum();
                let want = start.as_slice()[j] + sum;
                let got = db.as_slice()[j];
                assert!(
                    (got - want).abs() <= 1e-12,
                    "width {width}, {rows} rows, column {j}: {got} vs {want}"
                );
            }
        }
    }
}
