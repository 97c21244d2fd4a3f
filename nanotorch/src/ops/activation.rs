//! Elementwise activations. Each has a diagonal Jacobian, so its backward is an elementwise
//! product `dx = dy ⊙ f'(·)`, where `f'` is written in terms of whatever is cheapest to save.

use ndarray::Zip;

use crate::element::Element;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// Applies `f` elementwise from `x` into `out` (resized to `x`'s shape).
fn map_into<S: Shape, E: Element>(x: &Tensor<S, E>, out: &mut Tensor<S, E>, f: impl Fn(E) -> E) {
    out.resize_to(x.shape());
    Zip::from(out.data_mut())
        .and(x.data())
        .for_each(|o, &v| *o = f(v));
}

/// `dx = dy ⊙ g(saved)`, elementwise; `saved` is the forward input or output.
fn backward_map<S: Shape, E: Element>(
    saved: &Tensor<S, E>,
    dy: &Tensor<S, E>,
    g: impl Fn(E) -> E,
) -> Tensor<S, E> {
    let mut dx = Tensor::zeros(dy.shape());
    Zip::from(dx.data_mut())
        .and(saved.data())
        .and(dy.data())
        .for_each(|d, &s, &g_up| *d = g_up * g(s));
    dx
}

/// Rectified linear unit, `y = max(x, 0)`.
///
/// - **Forward:** `y = max(x, 0)`.
/// - **Backward:** `dx = dy ⊙ 1[y > 0]` (the derivative at 0 is taken as 0, as PyTorch does).
/// - **Saves:** the output `y` (`y > 0` exactly where `x > 0`).
/// - **Shapes:** any; `y` and `dx` have `x`'s shape.
pub fn relu<S: Shape, E: Element>(x: &Tensor<S, E>) -> Tensor<S, E> {
    let mut y = Tensor::zeros(x.shape());
    relu_into(x, &mut y);
    y
}

/// [`relu`] writing into `y`.
pub fn relu_into<S: Shape, E: Element>(x: &Tensor<S, E>, y: &mut Tensor<S, E>) {
    map_into(x, y, |v| if v > E::zero() { v } else { E::zero() });
}

/// Backward of [`relu`] from the saved output: `dx = dy ⊙ 1[y > 0]`.
pub fn relu_backward<S: Shape, E: Element>(y: &Tensor<S, E>, dy: &Tensor<S, E>) -> Tensor<S, E> {
    backward_map(y, dy, |v| if v > E::zero() { E::one() } else { E::zero() })
}

/// Logistic sigmoid, `y = σ(x) = 1 / (1 + e^(−x))`.
///
/// - **Forward:** computed without overflow for any `x`: for `x ≥ 0` as `1 / (1 + e^(−x))`,
///   for `x < 0` as `e^x / (1 + e^x)` — the exponent is never positive, so `e^…` never
///   overflows, and `σ(−1000)` is `0`, not `NaN`.
/// - **Backward:** `dx = dy ⊙ y ⊙ (1 − y)` — the derivative written with the output.
/// - **Saves:** the output `y`.
/// - **Shapes:** any; `y` and `dx` have `x`'s shape.
pub fn sigmoid<S: Shape, E: Element>(x: &Tensor<S, E>) -> Tensor<S, E> {
    let mut y = Tensor::zeros(x.shape());
    sigmoid_into(x, &mut y);
    y
}

/// The numerically stable scalar sigmoid used by [`sigmoid`] (and by the losses).
pub fn sigmoid_scalar<E: Element>(x: E) -> E {
    if x >= E::zero() {
        E::one() / (E::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (E::one() + e)
    }
}

/// [`sigmoid`] writing into `y`.
pub fn sigmoid_into<S: Shape, E: Element>(x: &Tensor<S, E>, y: &mut Tensor<S, E>) {
    map_into(x, y, sigmoid_scalar);
}

/// Backward of [`sigmoid`] from the saved output: `dx = dy ⊙ y ⊙ (1 − y)`.
pub fn sigmoid_backward<S: Shape, E: Element>(y: &Tensor<S, E>, dy: &Tensor<S, E>) -> Tensor<S, E> {
    backward_map(y, dy, |v| v * (E::one() - v))
}
