//! Finite-difference checks (f64) of every loss's fused gradient, for both reductions and
//! several batch sizes, with PyTorch gradcheck's tolerances (eps 1e-6, atol 1e-5, rtol 1e-3);
//! plus the losses' behaviour at the edges: logits of ±1e4, typed errors for bad targets,
//! empty batches, and the `_into` variants' buffer reuse.

mod common;

use common::*;
use nanotorch::loss::*;
use nanotorch::rand::Rng;
use nanotorch::shape::{U2, U3, U4, U5};
use nanotorch::{Dyn, ShapeError, Tensor};

const BATCHES: [usize; 3] = [1, 2, 7];
const REDUCTIONS: [Reduction; 2] = [Reduction::Mean, Reduction::Sum];

fn random_classes(n: usize, classes: usize, r: &mut nanotorch::SeededRng) -> Vec<usize> {
    (0..n).map(|_| r.random_range(0..classes)).collect()
}

#[test]
fn mse_gradients() {
    let mut r = rng(101);
    for n in BATCHES {
        for red in REDUCTIONS {
            let pred = rand_tensor((Dyn(n), U4::default()), -2.0, 2.0, &mut r);
            let target = rand_tensor(pred.shape(), -2.0, 2.0, &mut r);
            let (_, grad) = mse_loss(&pred, &target, red).unwrap();
            assert_grad(&format!("mse {red:?} n={n}"), &pred, &grad, |p| {
                mse_loss(p, &target, red).unwrap().0
            });
        }
    }
    // Any rank: a batch of 3-D samples.
    let pred = rand_tensor((Dyn(2), U3::default(), U2::default()), -2.0, 2.0, &mut r);
    let target = rand_tensor(pred.shape(), -2.0, 2.0, &mut r);
    let (_, grad) = mse_loss(&pred, &target, Reduction::Mean).unwrap();
    assert_grad("mse rank 3", &pred, &grad, |p| {
        mse_loss(p, &target, Reduction::Mean).unwrap().0
    });
}

#[test]
fn bce_with_logits_gradients() {
    let mut r = rng(102);
    for n in BATCHES {
        for red in REDUCTIONS {
            let logits = rand_tensor((Dyn(n), U4::default()), -5.0, 5.0, &mut r);
            let targets = rand_tensor(logits.shape(), 0.0, 1.0, &mut r);
            let (_, grad) = bce_with_logits(&logits, &targets, red).unwrap();
            assert_grad(
                &format!("bce_with_logits {red:?} n={n}"),
                &logits,
                &grad,
                |z| bce_with_logits(z, &targets, red).unwrap().0,
            );
        }
    }
}

#[test]
fn cross_entropy_gradients() {
    let mut r = rng(103);
    for n in BATCHES {
        for red in REDUCTIONS {
            let logits = rand_tensor((Dyn(n), U5::default()), -3.0, 3.0, &mut r);
            let y = random_classes(n, 5, &mut r);
            let (_, grad) = cross_entropy(&logits, &y, red).unwrap();
            assert_grad(
                &format!("cross_entropy {red:?} n={n}"),
                &logits,
                &grad,
                |z| cross_entropy(z, &y, red).unwrap().0,
            );
        }
    }
}

#[test]
fn nll_gradients() {
    let mut r = rng(104);
    for n in BATCHES {
        for red in REDUCTIONS {
            let log_probs = rand_tensor((Dyn(n), U5::default()), -4.0, 0.0, &mut r);
            let y = random_classes(n, 5, &mut r);
            let (_, grad) = nll_loss(&log_probs, &y, red).unwrap();
            assert_grad(&format!("nll {red:?} n={n}"), &log_probs, &grad, |lp| {
                nll_loss(lp, &y, red).unwrap().0
            });
        }
    }
}

/// Cross-entropy is `nll_loss(log_softmax(z))`: the fused loss must equal that composition.
#[test]
fn cross_entropy_is_nll_of_log_softmax() {
    let mut r = rng(105);
    let logits = rand_tensor((Dyn(6), U5::default()), -3.0, 3.0, &mut r);
    let y = random_classes(6, 5, &mut r);
    let mut log_probs = logits.clone();
    for row in log_probs.as_slice_mut().chunks_exact_mut(5) {
        let lse = row.iter().map(|z| z.exp()).sum::<f64>().ln();
        row.iter_mut().for_each(|z| *z -= lse);
    }
    let (ce, _) = cross_entropy(&logits, &y, Reduction::Mean).unwrap();
    let (nll, _) = nll_loss(&log_probs, &y, Reduction::Mean).unwrap();
    assert!(
        (ce - nll).abs() < 1e-12,
        "cross_entropy {ce} vs nll(log_softmax) {nll}"
    );
}

#[test]
fn large_logits_stay_finite() {
    // Row 0: class 1 is 2e4 below the winner, so the loss is 2e4 and the gradient is
    // softmax − onehot = [1, −1, 0] (softmax is exactly one-hot at this scale).
    // Row 1: the target class wins by 1e4: zero loss and zero gradient.
    let data = [1e4, -1e4, 0.0, -1e4, -1e4, 1e4];
    let expected_grad = [0.5, -0.5, 0.0, 0.0, 0.0, 0.0]; // mean over B = 2
    let logits64 = Tensor::<(Dyn, U3), f64>::from_slice(&[2, 3], &data).unwrap();
    let logits32 = logits64.cast::<f32>();
    let y = [1, 2];

    let (loss, grad) = cross_entropy(&logits64, &y, Reduction::Mean).unwrap();
    assert!((loss - 1e4).abs() < 1e-9, "mean loss {loss}, expected 1e4");
    for (g, e) in grad.as_slice().iter().zip(expected_grad) {
        assert!((g - e).abs() < 1e-12, "gradient {grad}");
    }
    let (loss, grad) = cross_entropy(&logits32, &y, Reduction::Sum).unwrap();
    assert!(
        (loss - 2e4).abs() < 1e-2,
        "f32 sum loss {loss}, expected 2e4"
    );
    assert!(!grad.has_non_finite(), "f32 gradient {grad}");

    let (loss, grad) = nll_loss(&logits32, &y, Reduction::Sum).unwrap();
    assert_eq!(loss, 0.0, "nll of −1e4 and 1e4 sums to 0");
    assert!(!grad.has_non_finite());

    // BCE: l(1e4, 1) = 0, l(−1e4, 1) = 1e4, l(0, 1) = ln 2; σ saturates to exactly 0 or 1.
    let targets = Tensor::<(Dyn, U3), f32>::ones((Dyn(2), U3::default()));
    let (loss, grad) = bce_with_logits(&logits32, &targets, Reduction::Sum).unwrap();
    let expected = 1e4 + std::f64::consts::LN_2 + 2e4;
    assert!(
        (f64::from(loss) - expected).abs() < 1e-2,
        "bce sum {loss}, expected {expected}"
    );
    assert!(!grad.has_non_finite(), "bce gradient {grad}");
    assert_eq!(grad.as_slice(), &[0.0, -1.0, -0.5, -1.0, -1.0, 0.0]);
}

#[test]
fn wrong_number_of_targets_is_a_typed_error() {
    let logits = Tensor::<(Dyn, U3), f32>::zeros((Dyn(4), U3::default()));
    let err = cross_entropy(&logits, &[0, 1, 2], Reduction::Mean).unwrap_err();
    assert!(
        matches!(
            err,
            ShapeError::RuntimeDim {
                left: 3,
                right: 4,
                ..
            }
        ),
        "got {err:?}"
    );
    assert_eq!(
        err.to_string(),
        "cross_entropy: number of targets vs batch rows: runtime dims disagree, 3 vs 4"
    );
    let err = nll_loss(&logits, &[0; 5], Reduction::Sum).unwrap_err();
    assert!(
        matches!(
            err,
            ShapeError::RuntimeDim {
                left: 5,
                right: 4,
                ..
            }
        ),
        "got {err:?}"
    );
}

#[test]
fn class_out_of_range_is_a_typed_error() {
    let logits = Tensor::<(Dyn, U3), f32>::zeros((Dyn(3), U3::default()));
    let mut grad = Tensor::full(logits.shape(), 7.0);
    let err = cross_entropy_into(&logits, &[0, 2, 3], Reduction::Mean, &mut grad).unwrap_err();
    assert_eq!(
        err,
        ShapeError::ClassIndex {
            position: 2,
            index: 3,
            classes: 3
        }
    );
    assert_eq!(
        err.to_string(),
        "target 3 at position 2 is not a class: expected an index in 0..3"
    );
    assert!(
        grad.as_slice().iter().all(|&g| g == 7.0),
        "grad touched on error"
    );
    let err = nll_loss(&logits, &[9, 0, 0], Reduction::Mean).unwrap_err();
    assert!(matches!(
        err,
        ShapeError::ClassIndex {
            position: 0,
            index: 9,
            ..
        }
    ));
}

#[test]
fn mismatched_runtime_dims_are_a_typed_error() {
    let a = Tensor::<(Dyn, U4), f32>::zeros((Dyn(2), U4::default()));
    let b = Tensor::<(Dyn, U4), f32>::zeros((Dyn(3), U4::default()));
    let err = mse_loss(&a, &b, Reduction::Mean).unwrap_err();
    assert_eq!(
        err,
        ShapeError::Shape {
            expected: "[2, 4]".into(),
            found: "[3, 4]".into()
        }
    );
    let err = bce_with_logits(&b, &a, Reduction::Sum).unwrap_err();
    assert_eq!(err.to_string(), "expected shape [3, 4], found [2, 4]");
}

/// PyTorch: the mean over an empty batch is NaN (0/0), the sum is 0; the gradient is empty.
#[test]
fn empty_batch_gives_nan_mean_and_zero_sum() {
    let empty = Tensor::<(Dyn, U3), f32>::zeros((Dyn(0), U3::default()));
    type Loss = fn(&Tensor<(Dyn, U3), f32>, Reduction) -> (f32, Tensor<(Dyn, U3), f32>);
    let losses: [(&str, Loss); 4] = [
        ("mse", |x, r| mse_loss(x, x, r).unwrap()),
        ("bce_with_logits", |x, r| bce_with_logits(x, x, r).unwrap()),
        ("cross_entropy", |x, r| cross_entropy(x, &[], r).unwrap()),
        ("nll", |x, r| nll_loss(x, &[], r).unwrap()),
    ];
    for (name, f) in losses {
        let (mean, grad) = f(&empty, Reduction::Mean);
        assert!(mean.is_nan(), "{name}: empty mean {mean}");
        assert_eq!(grad.dims(), &[0, 3], "{name}");
        let (sum, _) = f(&empty, Reduction::Sum);
        assert_eq!(sum, 0.0, "{name}: empty sum");
    }
}

/// The `_into` variants give the same numbers as the allocating ones, resize a wrongly sized
/// buffer, and reuse a rightly sized one in place.
#[test]
fn into_variants_reuse_the_gradient_buffer() {
    let mut r = rng(106);
    let logits = rand_tensor((Dyn(5), U4::default()), -3.0, 3.0, &mut r);
    let targets = rand_tensor(logits.shape(), 0.0, 1.0, &mut r);
    let y = random_classes(5, 4, &mut r);
    let mut grad = Tensor::zeros((Dyn(2), U4::default()));

    let loss = cross_entropy_into(&logits, &y, Reduction::Mean, &mut grad).unwrap();
    let (l2, g2) = cross_entropy(&logits, &y, Reduction::Mean).unwrap();
    assert_eq!((loss, &grad), (l2, &g2));
    let buffer = grad.as_slice().as_ptr();

    let loss = nll_loss_into(&logits, &y, Reduction::Sum, &mut grad).unwrap();
    let (l2, g2) = nll_loss(&logits, &y, Reduction::Sum).unwrap();
    assert_eq!((loss, &grad), (l2, &g2));
    let loss = mse_loss_into(&logits, &targets, Reduction::Sum, &mut grad).unwrap();
    let (l2, g2) = mse_loss(&logits, &targets, Reduction::Sum).unwrap();
    assert_eq!((loss, &grad), (l2, &g2));
    let loss = bce_with_logits_into(&logits, &targets, Reduction::Mean, &mut grad).unwrap();
    let (l2, g2) = bce_with_logits(&logits, &targets, Reduction::Mean).unwrap();
    assert_eq!((loss, &grad), (l2, &g2));
    assert_eq!(
        grad.as_slice().as_ptr(),
        buffer,
        "same-sized buffer was reallocated"
    );
}
