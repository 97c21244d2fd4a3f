//! Reductions: the sum and mean of all elements ([`sum_all`], [`mean_all`]) or along one
//! axis ([`sum_axis`], [`mean_axis`]). Their backwards broadcast `dy` back over the reduced
//! elements — each input element contributed once (sum) or `1/n`-th (mean).

use ndarray::{Axis, IxDyn};

use crate::element::Element;
use crate::error::ShapeError;
use crate::shape::{RemoveAxis, Shape, fmt_dims};
use crate::tensor::Tensor;

/// The single value of a rank-0 tensor.
fn scalar<E: Element>(t: &Tensor<(), E>) -> E {
    t.as_slice()[0]
}

/// The sum of all elements, a rank-0 tensor.
///
/// - **Forward:** `y = Σᵢ x[i]` (`0` for an empty tensor, as in PyTorch).
/// - **Backward:** `dx[i] = dy` for every `i` ([`sum_all_backward`]).
/// - **Saves:** only the input's shape.
/// - **Shapes:** `x`: any → `y: []`.
pub fn sum_all<S: Shape, E: Element>(x: &Tensor<S, E>) -> Tensor<(), E> {
    Tensor::full((), x.data().sum())
}

/// Backward of [`sum_all`]: `dy` broadcast to `shape`.
pub fn sum_all_backward<S: Shape, E: Element>(shape: S, dy: &Tensor<(), E>) -> Tensor<S, E> {
    Tensor::full(shape, scalar(dy))
}

/// The mean of all elements, a rank-0 tensor.
///
/// - **Forward:** `y = (1/n) Σᵢ x[i]` with `n` the element count. The mean of an empty
///   tensor is `NaN` (0/0), as in PyTorch — not an error.
/// - **Backward:** `dx[i] = dy / n` ([`mean_all_backward`]).
/// - **Saves:** only the input's shape.
/// - **Shapes:** `x`: any → `y: []`.
pub fn mean_all<S: Shape, E: Element>(x: &Tensor<S, E>) -> Tensor<(), E> {
    let n = E::cast(x.numel() as f64);
    Tensor::full((), x.data().sum() / n)
}

/// Backward of [`mean_all`]: `dy / n` broadcast to `shape` (`n = shape.numel()`).
pub fn mean_all_backward<S: Shape, E: Element>(shape: S, dy: &Tensor<(), E>) -> Tensor<S, E> {
    let n = E::cast(shape.numel() as f64);
    Tensor::full(shape, scalar(dy) / n)
}

/// The sum along axis `AX`, which disappears from the shape:
/// `sum_axis::<1, _, _>(&x)` turns `[B, N]` into `[B]`.
///
/// - **Forward:** `y[.., ..] = Σₖ x[.., k, ..]` with `k` running along axis `AX` (an empty
///   axis sums to `0`).
/// - **Backward:** `dx[.., k, ..] = dy[.., ..]` for every `k` — `dy` broadcast back along the
///   removed axis ([`sum_axis_backward`]).
/// - **Saves:** only the input's shape.
/// - **Shapes:** `x: S` → `y: S::Output`, `S` without axis `AX` (see [`RemoveAxis`]); an
///   axis past the rank does not compile.
pub fn sum_axis<const AX: usize, S: RemoveAxis<AX>, E: Element>(
    x: &Tensor<S, E>,
) -> Tensor<S::Output, E> {
    let summed = x.view_dyn().sum_axis(Axis(AX));
    Tensor::from_shape_vec(x.shape().remove(), summed.iter().copied().collect())
        .expect("the summed array has the sizes of the shape without the axis")
}

/// Backward of [`sum_axis`]: broadcasts `dy` back along axis `AX` to `shape`, the input's
/// shape. Errors with [`ShapeError::Shape`] if `dy`'s sizes are not `shape` without axis `AX`.
pub fn sum_axis_backward<const AX: usize, S: RemoveAxis<AX>, E: Element>(
    shape: S,
    dy: &Tensor<S::Output, E>,
) -> Result<Tensor<S, E>, ShapeError> {
    let expected = shape.remove().dims();
    if dy.dims() != expected.as_slice() {
        return Err(ShapeError::Shape {
            expected: fmt_dims(&expected),
            found: fmt_dims(dy.dims()),
        });
    }
    let dims = shape.dims();
    let spread = dy
        .view_dyn()
        .insert_axis(Axis(AX))
        .broadcast(IxDyn(&dims))
        .ok_or_else(|| ShapeError::Shape {
            expected: fmt_dims(&dims),
            found: fmt_dims(dy.dims()),
        })?
        .iter()
        .copied()
        .collect();
    Tensor::from_shape_vec(shape, spread)
}

/// The mean along axis `AX`, which disappears from the shape.
///
/// - **Forward:** `y = (1/n) Σₖ x[.., k, ..]` with `n` the length of axis `AX`. The mean over
///   an empty axis is `NaN`, as in PyTorch.
/// - **Backward:** `dx[.., k, ..] = dy[.., ..] / n` ([`mean_axis_backward`]).
/// - **Saves:** only the input's shape.
/// - **Shapes:** as [`sum_axis`].
pub fn mean_axis<const AX: usize, S: RemoveAxis<AX>, E: Element>(
    x: &Tensor<S, E>,
) -> Tensor<S::Output, E> {
    let n = E::cast(x.dims()[AX] as f64);
    let mut y = sum_axis::<AX, S, E>(x);
    y.as_slice_mut().iter_mut().for_each(|v| *v /= n);
    y
}

/// Backward of [`mean_axis`]: `dy / n` broadcast back along axis `AX` to `shape`. Errors as
/// [`sum_axis_backward`].
pub fn mean_axis_backward<const AX: usize, S: RemoveAxis<AX>, E: Element>(
    shape: S,
    dy: &Tensor<S::Output, E>,
) -> Result<Tensor<S, E>, ShapeError> {
    let n = E::cast(shape.dims()[AX] as f64);
    let mut dx = sum_axis_backward::<AX, S, E>(shape, dy)?;
    dx.as_slice_mut().iter_mut().for_each(|v| *v /= n);
    Ok(dx)
}
