//! Binary cross-entropy on logits.

use crate::element::Element;
use crate::error::ShapeError;
use crate::loss::{LossAndGrad, Reduction, check_same_dims};
use crate::ops::sigmoid_scalar;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// Binary cross-entropy of `σ(z)` against probabilities `y`, computed from the logits `z`
/// without ever forming `σ(z)`, with its gradient — PyTorch's
/// `F.binary_cross_entropy_with_logits(z, y, reduction=...)` (no `weight`, no `pos_weight`).
///
/// - **Forward:** per element, `lᵢ = −[yᵢ·ln σ(zᵢ) + (1 − yᵢ)·ln(1 − σ(zᵢ))]`, evaluated in the
///   stable form `lᵢ = max(zᵢ, 0) − zᵢ·yᵢ + ln(1 + e^(−|zᵢ|))`: the exponent is never positive,
///   so nothing overflows and a logit of `±10⁴` gives a finite loss. `L = (1/n) Σ lᵢ` for
///   [`Reduction::Mean`] (`n` = number of elements), `Σ lᵢ` for [`Reduction::Sum`].
/// - **Backward (fused):** `∂L/∂zᵢ = (σ(zᵢ) − yᵢ)/n` for `Mean`, `σ(zᵢ) − yᵢ` for `Sum`, with
///   the overflow-free [`sigmoid_scalar`]. No gradient is returned for the target.
/// - **Saves:** nothing — the gradient is returned with the loss.
/// - **Shapes:** `logits` and `targets` of the same shape `S` and runtime sizes; the gradient
///   has the logits' shape.
///
/// Targets are meant to lie in `[0, 1]` (hard labels or soft probabilities); as in PyTorch they
/// are not checked. An empty input gives `NaN` under `Mean` and `0` under `Sum`.
///
/// # Errors
/// [`ShapeError::Shape`] when the runtime sizes differ (`expected` is the logits', `found` is
/// the targets').
pub fn bce_with_logits<S: Shape, E: Element>(
    logits: &Tensor<S, E>,
    targets: &Tensor<S, E>,
    reduction: Reduction,
) -> Result<LossAndGrad<S, E>, ShapeError> {
    let mut grad = Tensor::zeros(logits.shape());
    let loss = bce_with_logits_into(logits, targets, reduction, &mut grad)?;
    Ok((loss, grad))
}

/// [`bce_with_logits`] writing `∂L/∂logits` into `grad` (resized if needed) and returning the
/// loss. On error `grad` is left untouched.
pub fn bce_with_logits_into<S: Shape, E: Element>(
    logits: &Tensor<S, E>,
    targets: &Tensor<S, E>,
    reduction: Reduction,
    grad: &mut Tensor<S, E>,
) -> Result<E, ShapeError> {
    check_same_dims(logits.dims(), targets.dims())?;
    let n = logits.numel();
    let scale = E::cast(reduction.scale(n));
    grad.resize_to(logits.shape());
    let mut sum = 0.0;
    for ((g, &z), &y) in grad
        .as_slice_mut()
        .iter_mut()
        .zip(logits.as_slice())
        .zip(targets.as_slice())
    {
        let term = z.max(E::zero()) - z * y + (-z.abs()).exp().ln_1p();
        sum += term.as_f64();
        *g = (sigmoid_scalar(z) - y) * scale;
    }
    Ok(E::cast(reduction.finish(sum, n)))
}
