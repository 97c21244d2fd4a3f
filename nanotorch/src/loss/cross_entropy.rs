//! Cross-entropy over class logits, and the negative log-likelihood it is built on.

use crate::element::Element;
use crate::error::ShapeError;
use crate::loss::{LossAndGrad, Reduction, check_class_targets};
use crate::shape::Dim;
use crate::tensor::Tensor;

/// Cross-entropy of class logits against class indices, with its gradient — PyTorch's
/// `F.cross_entropy(logits, targets, reduction=...)` (no class weights, no `ignore_index`,
/// no label smoothing). It is `log_softmax` followed by [`nll_loss`], fused.
///
/// - **Forward:** for row `i` with logits `zᵢ` and class `yᵢ`,
///   `lᵢ = −log softmax(zᵢ)[yᵢ] = logsumexp(zᵢ) − zᵢ[yᵢ]`, computed stably as
///   `lᵢ = (mᵢ − zᵢ[yᵢ]) + ln Σⱼ e^(zᵢⱼ − mᵢ)` with `mᵢ = maxⱼ zᵢⱼ`: every exponent is `≤ 0`,
///   so logits of `±10⁴` give a finite loss and gradient. `L = (1/B) Σᵢ lᵢ` for
///   [`Reduction::Mean`], `Σᵢ lᵢ` for [`Reduction::Sum`].
/// - **Backward (fused):** `∂L/∂zᵢⱼ = (softmax(zᵢ)ⱼ − 1[j = yᵢ])/B` for `Mean`, without the
///   `1/B` for `Sum` — the predicted probabilities minus the one-hot target.
/// - **Saves:** nothing — the gradient is returned with the loss.
/// - **Shapes:** `logits: [B, C]`, `targets`: `B` indices in `0..C` → gradient `[B, C]`.
///
/// An empty batch (`B = 0`) gives `NaN` under `Mean` and `0` under `Sum` (as PyTorch).
///
/// # Errors
/// - [`ShapeError::RuntimeDim`] when `targets.len()` (left) is not the batch size `B` (right);
/// - [`ShapeError::ClassIndex`] when a target is `≥ C`.
pub fn cross_entropy<B: Dim, C: Dim, E: Element>(
    logits: &Tensor<(B, C), E>,
    targets: &[usize],
    reduction: Reduction,
) -> Result<LossAndGrad<(B, C), E>, ShapeError> {
    let mut grad = Tensor::zeros(logits.shape());
    let loss = cross_entropy_into(logits, targets, reduction, &mut grad)?;
    Ok((loss, grad))
}

/// [`cross_entropy`] writing `∂L/∂logits` into `grad` (resized if needed) and returning the
/// loss. On error `grad` is left untouched.
pub fn cross_entropy_into<B: Dim, C: Dim, E: Element>(
    logits: &Tensor<(B, C), E>,
    targets: &[usize],
    reduction: Reduction,
    grad: &mut Tensor<(B, C), E>,
) -> Result<E, ShapeError> {
    let (b, c) = logits.shape();
    check_class_targets(
        "cross_entropy: number of targets vs batch rows",
        b,
        c,
        targets,
    )?;
    grad.resize_to(logits.shape());
    let scale = E::cast(reduction.scale(b.size()));
    let mut sum = 0.0;
    if c.size() > 0 {
        let rows = logits.as_slice().chunks_exact(c.size());
        let grad_rows = grad.as_slice_mut().chunks_exact_mut(c.size());
        for ((z, g), &y) in rows.zip(grad_rows).zip(targets) {
            let m = z.iter().fold(E::neg_infinity(), |acc, &v| acc.max(v));
            // g temporarily holds e^(z − m); then it is normalised into softmax · scale.
            let mut total = E::zero();
            for (gj, &zj) in g.iter_mut().zip(z) {
                *gj = (zj - m).exp();
                total += *gj;
            }
            sum += ((m - z[y]) + total.ln()).as_f64();
            let factor = scale / total;
            for gj in g.iter_mut() {
                *gj *= factor;
            }
            g[y] -= scale;
        }
    }
    Ok(E::cast(reduction.finish(sum, b.size())))
}

/// Negative log-likelihood of log-probabilities against class indices, with its gradient —
/// PyTorch's `F.nll_loss(log_probs, targets, reduction=...)` (no class weights, no
/// `ignore_index`). Feed it the output of a log-softmax; [`cross_entropy`] does both at once.
///
/// - **Forward:** `lᵢ = −log_probs[i, yᵢ]`; `L = (1/B) Σᵢ lᵢ` for [`Reduction::Mean`],
///   `Σᵢ lᵢ` for [`Reduction::Sum`].
/// - **Backward (fused):** `∂L/∂log_probs[i, j] = −1[j = yᵢ]/B` for `Mean` (no `1/B` for
///   `Sum`): minus the one-hot target, zero elsewhere.
/// - **Saves:** nothing.
/// - **Shapes:** `log_probs: [B, C]`, `targets`: `B` indices in `0..C` → gradient `[B, C]`.
///
/// An empty batch gives `NaN` under `Mean` and `0` under `Sum`.
///
/// # Errors
/// As [`cross_entropy`]: [`ShapeError::RuntimeDim`] for a wrong number of targets,
/// [`ShapeError::ClassIndex`] for a target `≥ C`.
pub fn nll_loss<B: Dim, C: Dim, E: Element>(
    log_probs: &Tensor<(B, C), E>,
    targets: &[usize],
    reduction: Reduction,
) -> Result<LossAndGrad<(B, C), E>, ShapeError> {
    let mut grad = Tensor::zeros(log_probs.shape());
    let loss = nll_loss_into(log_probs, targets, reduction, &mut grad)?;
    Ok((loss, grad))
}

/// [`nll_loss`] writing `∂L/∂log_probs` into `grad` (resized if needed) and returning the
/// loss. On error `grad` is left untouched.
pub fn nll_loss_into<B: Dim, C: Dim, E: Element>(
    log_probs: &Tensor<(B, C), E>,
    targets: &[usize],
    reduction: Reduction,
    grad: &mut Tensor<(B, C), E>,
) -> Result<E, ShapeError> {
    let (b, c) = log_probs.shape();
    check_class_targets("nll_loss: number of targets vs batch rows", b, c, targets)?;
    grad.resize_to(log_probs.shape());
    grad.fill(E::zero());
    let scale = E::cast(reduction.scale(b.size()));
    let mut sum = 0.0;
    if c.size() > 0 {
        let rows = log_probs.as_slice().chunks_exact(c.size());
        let grad_rows = grad.as_slice_mut().chunks_exact_mut(c.size());
        for ((lp, g), &y) in rows.zip(grad_rows).zip(targets) {
            sum -= lp[y].as_f64();
            g[y] = -scale;
        }
    }
    Ok(E::cast(reduction.finish(sum, b.size())))
}

/// Cross-entropy of next-token logits over a sequence, with ignored positions — PyTorch's
/// `F.cross_entropy(logits.view(-1, V), targets.view(-1), ignore_index=-1)`: the `B·T`
/// positions are `B·T` rows of class logits, and a position whose target is `None` (PyTorch's
/// `-1`) counts for nothing.
///
/// - **Forward:** for each position `p` with a target `yₚ = Some(v)`,
///   `lₚ = logsumexp(zₚ) − zₚ[v]` (computed stably, as [`cross_entropy`]), and
///   `L = (1/N) Σₚ lₚ` over the `N` positions that have a target (the mean over the counted
///   positions, not over all `B·T`).
/// - **Backward (fused):** `∂L/∂zₚ = (softmax(zₚ) − onehot(v))/N` for a counted position, `0`
///   for an ignored one. The gradient is written for every position.
/// - **Saves:** nothing — the gradient is returned with the loss.
/// - **Shapes:** `logits: [B, T, V]`, `targets`: `B·T` entries, row-major as the logits'
///   positions (`targets[b·T + t]`), each `None` or `Some(v)` with `v < V` → gradient
///   `[B, T, V]`.
///
/// With no counted position (`N = 0`) the loss is `NaN`, as PyTorch's, and the gradient 0.
///
/// # Errors
/// - [`ShapeError::RuntimeDim`] when `targets.len()` (left) is not `B·T` (right);
/// - [`ShapeError::ClassIndex`] when a target is `≥ V` (`position` is its flat index).
pub fn cross_entropy_seq<B: Dim, T: Dim, V: Dim, E: Element>(
    logits: &Tensor<(B, T, V), E>,
    targets: &[Option<usize>],
) -> Result<LossAndGrad<(B, T, V), E>, ShapeError> {
    let mut grad = Tensor::zeros(logits.shape());
    let loss = cross_entropy_seq_into(logits, targets, &mut grad)?;
    Ok((loss, grad))
}

/// [`cross_entropy_seq`] writing `∂L/∂logits` into `grad` (resized if needed) and returning
/// the loss. On error `grad` is left untouched.
pub fn cross_entropy_seq_into<B: Dim, T: Dim, V: Dim, E: Element>(
    logits: &Tensor<(B, T, V), E>,
    targets: &[Option<usize>],
    grad: &mut Tensor<(B, T, V), E>,
) -> Result<E, ShapeError> {
    let (b, t, v) = logits.shape();
    let positions = b.size() * t.size();
    if targets.len() != positions {
        return Err(ShapeError::RuntimeDim {
            what: "cross_entropy_seq: number of targets vs batch × length",
            left: targets.len(),
            right: positions,
        });
    }
    let mut counted = 0;
    for (position, target) in targets.iter().enumerate() {
        if let Some(index) = *target {
            if index >= v.size() {
                return Err(ShapeError::ClassIndex {
                    position,
                    index,
                    classes: v.size(),
                });
            }
            counted += 1;
        }
    }
    grad.resize_to(logits.shape());
    let scale = E::cast(Reduction::Mean.scale(counted));
    let mut sum = 0.0;
    if v.size() > 0 {
        let rows = logits.as_slice().chunks_exact(v.size());
        let grad_rows = grad.as_slice_mut().chunks_exact_mut(v.size());
        for ((z, g), target) in rows.zip(grad_rows).zip(targets) {
            let Some(y) = *target else {
                g.fill(E::zero());
                continue;
            };
            let m = z.iter().fold(E::neg_infinity(), |acc, &x| acc.max(x));
            // g temporarily holds e^(z − m); then it is normalised into softmax / N.
            let mut total = E::zero();
            for (gj, &zj) in g.iter_mut().zip(z) {
                *gj = (zj - m).exp();
                total += *gj;
            }
            sum += ((m - z[y]) + total.ln()).as_f64();
            let factor = scale / total;
            for gj in g.iter_mut() {
                *gj *= factor;
            }
            g[y] -= scale;
        }
    }
    Ok(E::cast(Reduction::Mean.finish(sum, counted)))
}
