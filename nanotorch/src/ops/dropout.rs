//! Dropout, as PyTorch's `F.dropout`: in training each element is zeroed with probability `p`
//! and the kept ones are scaled by `1/(1 − p)`, so the expected output equals the input; in
//! evaluation it is the identity.

use ndarray::Zip;
use rand::Rng;

use crate::element::Element;
use crate::error::ShapeError;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// Checks a dropout probability: `p` must lie in `[0, 1]` (as PyTorch; `p = 1` drops everything).
pub fn check_dropout_p(p: f64) -> Result<(), ShapeError> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(ShapeError::Invalid {
            what: "dropout probability must be in [0, 1]",
            found: p.to_string(),
        })
    }
}

/// Dropout with a mask drawn from `rng`; returns `(y, mask)`.
///
/// - **Forward:** in training, for each element in row-major order one uniform `u ∈ [0, 1)` is
///   drawn and `mask = 1/(1 − p)` if `u ≥ p`, else `0` (so each element is dropped with
///   probability `p`); `y = x ⊙ mask`. With `p = 1` the mask is all zeros; with `p = 0` all
///   ones. In evaluation (`training = false`) the mask is all ones, `y = x`, and `rng` is not
///   used.
/// - **Backward:** `dx = dy ⊙ mask` ([`dropout_backward`]).
/// - **Saves:** the mask.
/// - **Shapes:** any; `y`, `mask` and `dx` have `x`'s shape.
///
/// A `p` outside `[0, 1]` (or NaN) is a [`ShapeError::Invalid`], in training and evaluation
/// alike (PyTorch rejects it in both).
pub fn dropout<S: Shape, E: Element, R: Rng + ?Sized>(
    x: &Tensor<S, E>,
    p: f64,
    training: bool,
    rng: &mut R,
) -> Result<(Tensor<S, E>, Tensor<S, E>), ShapeError> {
    let mut y = Tensor::zeros(x.shape());
    let mut mask = Tensor::zeros(x.shape());
    dropout_into(x, p, training, rng, &mut y, &mut mask)?;
    Ok((y, mask))
}

/// [`dropout`] writing the output into `y` and the mask into `mask` (both resized if needed).
pub fn dropout_into<S: Shape, E: Element, R: Rng + ?Sized>(
    x: &Tensor<S, E>,
    p: f64,
    training: bool,
    rng: &mut R,
    y: &mut Tensor<S, E>,
    mask: &mut Tensor<S, E>,
) -> Result<(), ShapeError> {
    check_dropout_p(p)?;
    mask.resize_to(x.shape());
    if training {
        // p = 1 drops everything: never compute 1/(1 − p) = inf.
        let keep = if p < 1.0 { E::cast(1.0 / (1.0 - p)) } else { E::zero() };
        for m in mask.as_slice_mut() {
            *m = if rng.random::<f64>() >= p { keep } else { E::zero() };
        }
    } else {
        mask.fill(E::one());
    }
    y.resize_to(x.shape());
    Zip::from(y.data_mut())
        .and(x.data())
        .and(mask.data())
        .for_each(|o, &v, &m| *o = v * m);
    Ok(())
}

/// Backward of [`dropout`] from the saved mask: `dx = dy ⊙ mask`.
///
/// `mask` must come from the forward that produced `dy` (same sizes); otherwise this panics.
pub fn dropout_backward<S: Shape, E: Element>(
    mask: &Tensor<S, E>,
    dy: &Tensor<S, E>,
) -> Tensor<S, E> {
    let mut dx = Tensor::zeros(dy.shape());
    dropout_backward_into(mask, dy, &mut dx);
    dx
}

/// [`dropout_backward`] writing into `dx` (resized if needed).
pub fn dropout_backward_into<S: Shape, E: Element>(
    mask: &Tensor<S, E>,
    dy: &Tensor<S, E>,
    dx: &mut Tensor<S, E>,
) {
    dx.resize_to(dy.shape());
    Zip::from(dx.data_mut())
        .and(mask.data())
        .and(dy.data())
        .for_each(|d, &m, &g| *d = g * m);
}
