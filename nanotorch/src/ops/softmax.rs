//! Softmax and log-softmax along the **last** axis (each row of a `[B, N]` batch is one
//! distribution), computed stably: the row maximum is subtracted before exponentiating, so
//! inputs of ±10⁴ give finite results.
//!
//! Non-finite input behaves as in PyTorch: a row containing `+inf` (or `NaN`, or only `−inf`)
//! becomes all `NaN` — its maximum is `±inf`, and `inf − inf` is `NaN`. A `−inf` entry in an
//! otherwise finite row gets probability `0` (log-probability `−inf`), a valid way to mask.
//! An empty last axis gives an empty output.

use ndarray::{ArrayView1, ArrayViewMut1, Axis, Zip};

use crate::element::Element;
use crate::shape::{HasLastAxis, Shape};
use crate::tensor::Tensor;

fn last_axis<S: Shape>() -> Axis {
    Axis(S::RANK - 1)
}

fn row_max<E: Element>(row: &ArrayView1<'_, E>) -> E {
    // `max` over floats, letting a NaN through (a NaN row must give NaN, not be skipped).
    row.iter().fold(E::neg_infinity(), |m, &v| {
        if v.is_nan() || m.is_nan() {
            E::nan()
        } else {
            m.max(v)
        }
    })
}

fn softmax_row<E: Element>(x: ArrayView1<'_, E>, mut y: ArrayViewMut1<'_, E>) {
    let m = row_max(&x);
    let mut total = E::zero();
    Zip::from(&mut y).and(&x).for_each(|o, &v| {
        *o = (v - m).exp();
        total += *o;
    });
    // One division per row, then products (as PyTorch's CPU kernel does).
    let inv = E::one() / total;
    y.mapv_inplace(|v| v * inv);
}

fn log_softmax_row<E: Element>(x: ArrayView1<'_, E>, mut y: ArrayViewMut1<'_, E>) {
    let m = row_max(&x);
    let total: E = x.iter().map(|&v| (v - m).exp()).sum();
    let log_total = total.ln();
    // (x − m) − ln Σ, not x − (m + ln Σ): adding ln Σ to a large m would round it away.
    Zip::from(&mut y)
        .and(&x)
        .for_each(|o, &v| *o = (v - m) - log_total);
}

/// Applies `row_fn` to every lane of `x` along the last axis, writing the lanes of `y`.
fn per_row<S: HasLastAxis, E: Element>(
    x: &Tensor<S, E>,
    y: &mut Tensor<S, E>,
    row_fn: impl Fn(ArrayView1<'_, E>, ArrayViewMut1<'_, E>),
) {
    y.resize_to(x.shape());
    let axis = last_axis::<S>();
    Zip::from(y.data_mut().lanes_mut(axis))
        .and(x.data().lanes(axis))
        .for_each(|yr, xr| row_fn(xr, yr));
}

/// Applies `row_fn(y, dy, dx)` to matching lanes along the last axis (the backwards).
fn per_row_backward<S: HasLastAxis, E: Element>(
    y: &Tensor<S, E>,
    dy: &Tensor<S, E>,
    dx: &mut Tensor<S, E>,
    row_fn: impl Fn(ArrayView1<'_, E>, ArrayView1<'_, E>, ArrayViewMut1<'_, E>),
) {
    dx.resize_to(dy.shape());
    let axis = last_axis::<S>();
    Zip::from(dx.data_mut().lanes_mut(axis))
        .and(y.data().lanes(axis))
        .and(dy.data().lanes(axis))
        .for_each(|dxr, yr, dyr| row_fn(yr, dyr, dxr));
}

/// Softmax along the last axis: `y[.., i] = e^(x[.., i]) / Σⱼ e^(x[.., j])`.
///
/// - **Forward:** with the row maximum `m` subtracted first (`e^(x−m)` never overflows and the
///   result is unchanged): `y = e^(x−m) / Σ e^(x−m)`. Each row of `y` sums to 1.
/// - **Backward:** `dx = y ⊙ (dy − Σ_last(dy ⊙ y))`, the row sum broadcast back along the
///   last axis (the Jacobian is `diag(y) − y·yᵀ` per row).
/// - **Saves:** the output `y`.
/// - **Shapes:** any rank ≥ 1 (`S: HasLastAxis`); `y` and `dx` have `x`'s shape.
pub fn softmax<S: HasLastAxis, E: Element>(x: &Tensor<S, E>) -> Tensor<S, E> {
    let mut y = Tensor::zeros(x.shape());
    softmax_into(x, &mut y);
    y
}

/// [`softmax`] writing into `y` (resized if needed).
pub fn softmax_into<S: HasLastAxis, E: Element>(x: &Tensor<S, E>, y: &mut Tensor<S, E>) {
    per_row(x, y, softmax_row);
}

/// Backward of [`softmax`] from the saved output: `dx = y ⊙ (dy − Σ_last(dy ⊙ y))`.
///
/// `y` and `dy` must come from the same forward (same sizes); otherwise this panics — a
/// sequencing bug, not bad data.
pub fn softmax_backward<S: HasLastAxis, E: Element>(
    y: &Tensor<S, E>,
    dy: &Tensor<S, E>,
) -> Tensor<S, E> {
    let mut dx = Tensor::zeros(dy.shape());
    softmax_backward_into(y, dy, &mut dx);
    dx
}

/// [`softmax_backward`] writing into `dx` (resized if needed).
pub fn softmax_backward_into<S: HasLastAxis, E: Element>(
    y: &Tensor<S, E>,
    dy: &Tensor<S, E>,
    dx: &mut Tensor<S, E>,
) {
    per_row_backward(y, dy, dx, |yr, dyr, mut dxr| {
        let inner: E = yr.iter().zip(dyr.iter()).map(|(&a, &g)| a * g).sum();
        Zip::from(&mut dxr)
            .and(&yr)
            .and(&dyr)
            .for_each(|d, &a, &g| *d = a * (g - inner));
    });
}

/// Log-softmax along the last axis: `y = x − log Σ_last eˣ`, as PyTorch's `F.log_softmax`.
///
/// - **Forward:** by log-sum-exp with the row maximum `m`: `y = (x − m) − ln Σ e^(x−m)`.
///   Never takes the log of a rounded-to-zero probability, so `y` stays finite for inputs of
///   ±10⁴ (where `ln(softmax(x))` would give `−inf`).
/// - **Backward:** `dx = dy − eʸ ⊙ Σ_last dy` (`eʸ` is the softmax).
/// - **Saves:** the output `y`.
/// - **Shapes:** any rank ≥ 1 (`S: HasLastAxis`); `y` and `dx` have `x`'s shape.
pub fn log_softmax<S: HasLastAxis, E: Element>(x: &Tensor<S, E>) -> Tensor<S, E> {
    let mut y = Tensor::zeros(x.shape());
    log_softmax_into(x, &mut y);
    y
}

/// [`log_softmax`] writing into `y` (resized if needed).
pub fn log_softmax_into<S: HasLastAxis, E: Element>(x: &Tensor<S, E>, y: &mut Tensor<S, E>) {
    per_row(x, y, log_softmax_row);
}

/// Backward of [`log_softmax`] from the saved output: `dx = dy − eʸ ⊙ Σ_last dy`.
///
/// `y` and `dy` must come from the same forward (same sizes); otherwise this panics.
pub fn log_softmax_backward<S: HasLastAxis, E: Element>(
    y: &Tensor<S, E>,
    dy: &Tensor<S, E>,
) -> Tensor<S, E> {
    let mut dx = Tensor::zeros(dy.shape());
    log_softmax_backward_into(y, dy, &mut dx);
    dx
}

/// [`log_softmax_backward`] writing into `dx` (resized if needed).
pub fn log_softmax_backward_into<S: HasLastAxis, E: Element>(
    y: &Tensor<S, E>,
    dy: &Tensor<S, E>,
    dx: &mut Tensor<S, E>,
) {
    per_row_backward(y, dy, dx, |yr, dyr, mut dxr| {
        let total: E = dyr.iter().copied().sum();
        Zip::from(&mut dxr)
            .and(&yr)
            .and(&dyr)
            .for_each(|d, &a, &g| *d = g - a.exp() * total);
    });
}
