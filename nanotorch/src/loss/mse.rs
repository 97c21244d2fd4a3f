//! Mean squared error.

use crate::element::Element;
use crate::error::ShapeError;
use crate::loss::{LossAndGrad, Reduction, check_same_dims};
use crate::shape::Shape;
use crate::tensor::Tensor;

/// Mean squared error between predictions and targets, with its gradient, as PyTorch's
/// `F.mse_loss(pred, target, reduction=...)`.
///
/// - **Forward:** one term per element, `lᵢ = (pᵢ − tᵢ)²`; `L = (1/n) Σ lᵢ` for
///   [`Reduction::Mean`] (`n` = number of elements), `L = Σ lᵢ` for [`Reduction::Sum`].
/// - **Backward (fused):** `∂L/∂pᵢ = 2(pᵢ − tᵢ)/n` for `Mean`, `2(pᵢ − tᵢ)` for `Sum`.
///   No gradient is returned for the target.
/// - **Saves:** nothing — the gradient is returned with the loss.
/// - **Shapes:** `pred` and `target` of the same shape `S` (any rank) and the same runtime
///   sizes; the gradient has `pred`'s shape.
///
/// An empty input gives `NaN` under `Mean` and `0` under `Sum` (as PyTorch).
///
/// # Errors
/// [`ShapeError::Shape`] when the runtime sizes differ (`expected` is `pred`'s, `found` is
/// `target`'s).
pub fn mse_loss<S: Shape, E: Element>(
    pred: &Tensor<S, E>,
    target: &Tensor<S, E>,
    reduction: Reduction,
) -> Result<LossAndGrad<S, E>, ShapeError> {
    let mut grad = Tensor::zeros(pred.shape());
    let loss = mse_loss_into(pred, target, reduction, &mut grad)?;
    Ok((loss, grad))
}

/// [`mse_loss`] writing `∂L/∂pred` into `grad` (resized to `pred`'s shape if needed) and
/// returning the loss. On error `grad` is left untouched.
pub fn mse_loss_into<S: Shape, E: Element>(
    pred: &Tensor<S, E>,
    target: &Tensor<S, E>,
    reduction: Reduction,
    grad: &mut Tensor<S, E>,
) -> Result<E, ShapeError> {
    check_same_dims(pred.dims(), target.dims())?;
    let n = pred.numel();
    let two_scale = E::cast(2.0 * reduction.scale(n));
    grad.resize_to(pred.shape());
    let mut sum = 0.0;
    for ((g, &p), &t) in grad
        .as_slice_mut()
        .iter_mut()
        .zip(pred.as_slice())
        .zip(target.as_slice())
    {
        let d = p - t;
        sum += (d * d).as_f64();
        *g = two_scale * d;
    }
    Ok(E::cast(reduction.finish(sum, n)))
}
