//! Bad runtime input gives typed errors (the exact variant and fields are asserted), and
//! degenerate input — empty batches, NaN, infinities, huge logits — gives the documented
//! result without panicking.

use nanotorch::layers::{Dropout, Linear, Relu};
use nanotorch::ndarray::Array2;
use nanotorch::ops::*;
use nanotorch::shape::{U2, U3, U5};
use nanotorch::{Dyn, Init, Layer, ShapeError, Tensor, seeded_rng};

type Batch3 = Tensor<(Dyn, U3)>;

fn batch3(rows: usize, data: Vec<f32>) -> Batch3 {
    Tensor::from_vec(&[rows, 3], data).unwrap()
}

fn dyn2(rows: usize, cols: usize) -> Tensor<(Dyn, Dyn)> {
    Tensor::zeros((Dyn(rows), Dyn(cols)))
}

// ---------------------------------------------------------------------------------------------
// Constructors

#[test]
fn from_vec_wrong_length() {
    let err = Batch3::from_vec(&[2, 3], vec![1.0; 5]).unwrap_err();
    assert_eq!(
        err,
        ShapeError::Length {
            shape: "[2, 3]".into(),
            expected: 6,
            found: 5
        }
    );
    assert_eq!(err.to_string(), "expected 6 elements for shape [2, 3], found 5");
}

#[test]
fn from_vec_static_dim_mismatch() {
    let err = Batch3::from_vec(&[2, 4], vec![0.0; 8]).unwrap_err();
    assert_eq!(
        err,
        ShapeError::Shape {
            expected: "[_, 3]".into(),
            found: "[2, 4]".into()
        }
    );
    // Wrong rank is a shape error too.
    let err = Batch3::from_vec(&[6], vec![0.0; 6]).unwrap_err();
    assert_eq!(
        err,
        ShapeError::Shape {
            expected: "[_, 3]".into(),
            found: "[6]".into()
        }
    );
}

#[test]
fn from_array_static_dim_mismatch() {
    let err = Batch3::from_array(Array2::<f32>::zeros((2, 4))).unwrap_err();
    assert_eq!(
        err,
        ShapeError::Shape {
            expected: "[_, 3]".into(),
            found: "[2, 4]".into()
        }
    );
    let err = Tensor::<(U2, U3)>::from_array(Array2::<f32>::zeros((3, 3))).unwrap_err();
    assert_eq!(
        err,
        ShapeError::Shape {
            expected: "[2, 3]".into(),
            found: "[3, 3]".into()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Mismatched runtime dims

fn runtime(what: &'static str, left: usize, right: usize) -> ShapeError {
    ShapeError::RuntimeDim { what, left, right }
}

#[test]
fn elementwise_runtime_dims_must_agree() {
    let a = batch3(2, vec![0.0; 6]);
    let b = batch3(3, vec![0.0; 9]);
    assert_eq!(add(&a, &b).unwrap_err(), runtime("add operands", 2, 3));
    assert_eq!(sub(&a, &b).unwrap_err(), runtime("sub operands", 2, 3));
    assert_eq!(mul(&a, &b).unwrap_err(), runtime("mul operands", 2, 3));
    assert_eq!(mul_backward(&a, &b, &a).unwrap_err(), runtime("mul operands", 2, 3));
    let mut out = Tensor::zeros(a.shape());
    assert_eq!(add_into(&a, &b, &mut out).unwrap_err(), runtime("add operands", 2, 3));
    // The second axis is compared too.
    assert_eq!(add(&dyn2(2, 3), &dyn2(2, 4)).unwrap_err(), runtime("add operands", 3, 4));
}

#[test]
fn matmul_inner_dims_must_agree() {
    let a = dyn2(2, 3);
    let b = Tensor::<(Dyn, U2)>::zeros((Dyn(4), U2::default()));
    assert_eq!(matmul(&a, &b).unwrap_err(), runtime("matmul inner dims", 3, 4));
}

#[test]
fn concat_batches_must_agree() {
    let a = batch3(2, vec![0.0; 6]);
    let b = Tensor::<(Dyn, U2)>::zeros((Dyn(3), U2::default()));
    assert_eq!(concat(&a, &b).unwrap_err(), runtime("concat batch of a and b", 2, 3));
}

#[test]
fn bias_length_must_match_features() {
    let x = dyn2(2, 3);
    let bias = Tensor::<(Dyn,)>::zeros((Dyn(4),));
    assert_eq!(
        add_bias(&x, &bias).unwrap_err(),
        runtime("add_bias features of x and bias", 3, 4)
    );
    let mut db = Tensor::<(Dyn,)>::zeros((Dyn(4),));
    assert_eq!(
        bias_grad_accumulate(&x, &mut db).unwrap_err(),
        runtime("bias_grad_accumulate features of dy and db", 3, 4)
    );
}

#[test]
fn reshape_counts_must_agree() {
    let x = batch3(2, vec![0.0; 6]);
    let err = reshape(&x, (Dyn(4), U2::default())).unwrap_err();
    assert_eq!(
        err,
        ShapeError::Length {
            shape: "[4, 2]".into(),
            expected: 8,
            found: 6
        }
    );
}

#[test]
fn reduction_backward_checks_dy() {
    let dy = Tensor::<(Dyn,)>::zeros((Dyn(5),));
    let err = sum_axis_backward::<1, _, f32>((Dyn(2), U3::default()), &dy).unwrap_err();
    assert_eq!(
        err,
        ShapeError::Shape {
            expected: "[2]".into(),
            found: "[5]".into()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Empty tensors: no panic, PyTorch's results.

#[test]
fn empty_batch_through_linear() {
    let mut layer = Linear::<U3, U2>::init(&mut seeded_rng(1));
    let x = batch3(0, vec![]);
    let y = layer.forward(&x);
    assert_eq!(y.dims(), &[0, 2]);
    let dx: Batch3 = layer.backward(&y);
    assert_eq!(dx.dims(), &[0, 3]);
    // No samples, no gradient.
    assert!(layer.weight.grad.as_slice().iter().all(|&g| g == 0.0));
    assert!(layer.bias.grad.as_slice().iter().all(|&g| g == 0.0));
}

#[test]
fn empty_batch_through_activations_and_softmax() {
    let x = batch3(0, vec![]);
    let mut relu_layer = Relu::default();
    assert_eq!(relu_layer.forward(&x).dims(), &[0, 3]);
    assert_eq!(relu_layer.backward(&x).dims(), &[0, 3]);
    assert_eq!(softmax(&x).dims(), &[0, 3]);
    assert_eq!(log_softmax(&x).dims(), &[0, 3]);
    assert_eq!(softmax_backward(&x, &x).dims(), &[0, 3]);
    // An empty last axis: nothing to normalise.
    let rows = Tensor::<(Dyn, Dyn)>::zeros((Dyn(2), Dyn(0)));
    assert_eq!(softmax(&rows).dims(), &[2, 0]);
}

#[test]
fn empty_reductions_match_pytorch() {
    let x = batch3(0, vec![]);
    // torch.zeros(0, 3): sum() = 0, mean() = nan, sum(0) = [0, 0, 0], mean(0) = [nan]*3,
    // sum(1) = [] (shape [0]).
    assert_eq!(sum_all(&x).to_vec(), vec![0.0]);
    assert!(mean_all(&x).to_vec()[0].is_nan());
    assert_eq!(sum_axis::<0, _, _>(&x).to_vec(), vec![0.0; 3]);
    let m = mean_axis::<0, _, _>(&x);
    assert_eq!(m.dims(), &[3]);
    assert!(m.as_slice().iter().all(|v| v.is_nan()));
    assert_eq!(sum_axis::<1, _, _>(&x).dims(), &[0]);
    assert_eq!(mean_all_backward(x.shape(), &Tensor::full((), 1.0)).dims(), &[0, 3]);
    assert_eq!(bias_grad(&x).to_vec(), vec![0.0; 3]);
}

// ---------------------------------------------------------------------------------------------
// NaN, infinities, huge values

#[test]
fn nan_and_inf_propagate_through_elementwise_ops() {
    let x = batch3(1, vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY]);
    let y = relu(&x).to_vec();
    assert!(y[0].is_nan(), "relu(NaN) = NaN, as in PyTorch");
    assert_eq!(&y[1..], &[f32::INFINITY, 0.0]);
    let y = sigmoid(&x).to_vec();
    assert!(y[0].is_nan());
    assert_eq!(&y[1..], &[1.0, 0.0]);
    let y = tanh(&x).to_vec();
    assert!(y[0].is_nan());
    assert_eq!(&y[1..], &[1.0, -1.0]);
    let y = leaky_relu(&x, 0.01).to_vec();
    assert!(y[0].is_nan());
    assert_eq!(&y[1..], &[f32::INFINITY, f32::NEG_INFINITY]);
    let y = exp(&x).to_vec();
    assert!(y[0].is_nan());
    assert_eq!(&y[1..], &[f32::INFINITY, 0.0]);
    let s = add(&x, &x).unwrap().to_vec();
    assert!(s[0].is_nan());
    assert_eq!(&s[1..], &[f32::INFINITY, f32::NEG_INFINITY]);
    assert!(sum_all(&x).to_vec()[0].is_nan());
}

#[test]
fn log_outside_its_domain_is_not_an_error() {
    let x = batch3(1, vec![0.0, -1.0, 1.0]);
    let y = log(&x).to_vec();
    assert_eq!(y[0], f32::NEG_INFINITY);
    assert!(y[1].is_nan());
    assert_eq!(y[2], 0.0);
}

#[test]
fn sigmoid_of_huge_inputs_is_finite() {
    let x = Tensor::<(U2,)>::from_vec(&[2], vec![1e4, -1e4]).unwrap();
    assert_eq!(sigmoid(&x).to_vec(), vec![1.0, 0.0]);
    let x = x.cast::<f64>();
    assert_eq!(sigmoid(&x).to_vec(), vec![1.0, 0.0]);
}

#[test]
fn softmax_of_huge_logits_is_finite() {
    // torch.softmax([1e4, -1e4, 0]) = [1, 0, 0]; log_softmax = [0, -20000, -10000].
    let x = batch3(1, vec![1e4, -1e4, 0.0]);
    assert_eq!(softmax(&x).to_vec(), vec![1.0, 0.0, 0.0]);
    assert_eq!(log_softmax(&x).to_vec(), vec![0.0, -20000.0, -10000.0]);
    let x = batch3(1, vec![-1e4, -1e4, -1e4]);
    let y = softmax(&x).to_vec();
    for v in y {
        assert!((v - 1.0 / 3.0).abs() < 1e-6);
    }
}

#[test]
fn softmax_of_a_row_with_infinities() {
    // As PyTorch: a +inf entry makes its whole row NaN (inf − inf); other rows are unaffected;
    // a −inf entry in a finite row gets probability 0 (log-probability −inf).
    let x = batch3(
        3,
        vec![f32::INFINITY, 1.0, 2.0, f32::NEG_INFINITY, 1.0, 2.0, 0.0, 0.0, 0.0],
    );
    let y = softmax(&x).to_vec();
    assert!(y[..3].iter().all(|v| v.is_nan()));
    assert_eq!(y[3], 0.0);
    assert!((y[4] - 0.268_941_43).abs() < 1e-6 && (y[5] - 0.731_058_6).abs() < 1e-6);
    assert!(y[6..].iter().all(|v| (v - 1.0 / 3.0).abs() < 1e-6));
    let l = log_softmax(&x).to_vec();
    assert!(l[..3].iter().all(|v| v.is_nan()));
    assert_eq!(l[3], f32::NEG_INFINITY);
    assert!((l[4] + 1.313_261_7).abs() < 1e-5 && (l[5] + 0.313_261_7).abs() < 1e-5);
}

// ---------------------------------------------------------------------------------------------
// Dropout probability

#[test]
fn dropout_probability_out_of_range() {
    let x = batch3(2, vec![1.0; 6]);
    let mut rng = seeded_rng(3);
    for (p, shown) in [(1.5, "1.5"), (-0.1, "-0.1"), (f64::NAN, "NaN")] {
        let expected = ShapeError::Invalid {
            what: "dropout probability must be in [0, 1]",
            found: shown.into(),
        };
        assert_eq!(dropout(&x, p, true, &mut rng).unwrap_err(), expected);
        // Rejected in evaluation mode too, as PyTorch does.
        assert_eq!(dropout(&x, p, false, &mut rng).unwrap_err(), expected);
        assert_eq!(Dropout::<(Dyn, U3)>::new(p, 0).unwrap_err(), expected);
    }
}

#[test]
fn dropout_edge_probabilities() {
    let x = Tensor::<(Dyn, U5)>::ones((Dyn(20), U5::default()));
    let mut rng = seeded_rng(4);
    let (y, mask) = dropout(&x, 1.0, true, &mut rng).unwrap();
    assert!(y.as_slice().iter().all(|&v| v == 0.0), "p = 1 zeros everything");
    assert!(mask.as_slice().iter().all(|&v| v == 0.0));
    let (y, _) = dropout(&x, 0.0, true, &mut rng).unwrap();
    assert_eq!(y, x, "p = 0 keeps everything");
    let (y, mask) = dropout(&x, 0.5, false, &mut rng).unwrap();
    assert_eq!(y, x, "evaluation is the identity");
    assert!(mask.as_slice().iter().all(|&v| v == 1.0));
}
