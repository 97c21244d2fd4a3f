//! `Tensor`'s `Display` follows PyTorch's `repr` (same number formats and alignment, the
//! expected strings below were printed by PyTorch 2.x) and adds `shape=[..]`, plus
//! `dtype=f64` for double tensors.

use nanotorch::shape::{U2, U3};
use nanotorch::{Dyn, Tensor};

#[test]
fn two_by_two_f32() {
    let t = Tensor::<(U2, U2)>::from_vec(&[2, 2], vec![1.5, 2.0, 3.0, -4.25]).unwrap();
    // torch.tensor([[1.5, 2.], [3., -4.25]])
    assert_eq!(
        t.to_string(),
        "tensor([[ 1.5000,  2.0000],\n        [ 3.0000, -4.2500]], shape=[2, 2])"
    );
    assert_eq!(format!("{t:?}"), t.to_string(), "Debug prints the same");
}

#[test]
fn integral_values_print_with_a_dot() {
    let t = Tensor::<(Dyn, U2)>::from_vec(&[2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    assert_eq!(t.to_string(), "tensor([[1., 2.],\n        [3., 4.]], shape=[2, 2])");
}

#[test]
fn scalar() {
    let t = Tensor::<(), f32>::full((), 3.5);
    assert_eq!(t.to_string(), "tensor(3.5000, shape=[])");
}

#[test]
fn f64_names_its_dtype() {
    let t = Tensor::<(U3,), f64>::from_vec(&[3], vec![0.1, 2.0, -3.0]).unwrap();
    // torch.tensor([0.1, 2., -3.], dtype=torch.float64)
    assert_eq!(t.to_string(), "tensor([ 0.1000,  2.0000, -3.0000], shape=[3], dtype=f64)");
}

#[test]
fn scientific_notation_like_python() {
    let t = Tensor::<(U2,)>::from_vec(&[2], vec![1e-5, 1.0]).unwrap();
    assert_eq!(t.to_string(), "tensor([1.0000e-05, 1.0000e+00], shape=[2])");
    // A ratio over 1000 switches to scientific even for integers.
    let t = Tensor::<(U2,)>::from_vec(&[2], vec![1.0, 10000.0]).unwrap();
    assert_eq!(t.to_string(), "tensor([1.0000e+00, 1.0000e+04], shape=[2])");
    let t = Tensor::<(U2,)>::from_vec(&[2], vec![0.001, 2.0]).unwrap();
    assert_eq!(t.to_string(), "tensor([1.0000e-03, 2.0000e+00], shape=[2])");
}

#[test]
fn non_finite_values() {
    let t = Tensor::<(U3,)>::from_vec(&[3], vec![f32::NAN, 1.5, f32::INFINITY]).unwrap();
    assert_eq!(t.to_string(), "tensor([   nan, 1.5000,    inf], shape=[3])");
}

#[test]
fn rank_three_separates_blocks_with_a_blank_line() {
    let t = Tensor::<(U2, U2, U2)>::from_vec(&[2, 2, 2], (1..=8).map(|v| v as f32).collect())
        .unwrap();
    assert_eq!(
        t.to_string(),
        "tensor([[[1., 2.],\n         [3., 4.]],\n\n        [[5., 6.],\n         [7., 8.]]], shape=[2, 2, 2])"
    );
}
