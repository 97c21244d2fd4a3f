//! Layer normalisation over the last axis, as PyTorch's `F.layer_norm(x, (C,), weight, bias,
//! eps)`: [`layer_norm_into`] and its backward [`layer_norm_backward_into`].
//!
//! Batch normalisation (`ops::batch_norm`) normalises each *feature* over the batch; layer
//! normalisation normalises each *row* — one sample, or one position of a sequence — over its
//! own `C` features. A row's output therefore does not depend on the rest of the batch, the
//! same computation runs in training and in evaluation, and there are no running statistics.
//! `[B, C]` and `[B, T, C]` inputs are handled alike: as `R = B` or `R = B·T` rows of `C`.

use crate::element::Element;
use crate::error::ShapeError;
use crate::shape::{HasLastAxis, fmt_dims};
use crate::tensor::Tensor;

/// What the forward keeps for the backward: the normalised input `x̂`, row-major with the
/// input's layout (`R·C` values), and `1/σ` per row (`R` values). Plain vectors, so one value
/// serves inputs of any rank; the forward resizes them (reusing their memory).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LayerNormSaved<E> {
    /// `x̂ = (x − μ)/σ` for every element, in the input's row-major order.
    pub x_hat: Vec<E>,
    /// `1/σ = 1/√(var + eps)`, one per row.
    pub inv_std: Vec<E>,
}

impl<E> LayerNormSaved<E> {
    /// Empty buffers; the first forward sizes them.
    pub fn new() -> Self {
        Self {
            x_hat: Vec::new(),
            inv_std: Vec::new(),
        }
    }
}

/// Layer normalisation: every row of `C` values (the last axis) is normalised with its own
/// mean and variance, then scaled and shifted per feature — PyTorch's `nn.LayerNorm(C)`.
///
/// - **Forward:** for a row `x` of `C` values: `μ = (1/C) Σⱼ xⱼ`, `σ² = (1/C) Σⱼ (xⱼ − μ)²`
///   (biased), `x̂ⱼ = (xⱼ − μ)/√(σ² + eps)`, `yⱼ = weight[j]·x̂ⱼ + bias[j]`.
/// - **Backward** ([`layer_norm_backward_into`]): with `gⱼ = dyⱼ·weight[j]` (the gradient
///   reaching `x̂`), `dweight[j] += Σ_rows dyⱼ·x̂ⱼ`, `dbias[j] += Σ_rows dyⱼ`, and, because μ
///   and σ depend on the whole row,
///   `dxⱼ = (1/σ)·(gⱼ − (1/C) Σₖ gₖ − x̂ⱼ·(1/C) Σₖ gₖ·x̂ₖ)` — the direct path, the path
///   through the mean and the path through the variance (batch norm's three terms, over a
///   row instead of a column).
/// - **Saves:** `x̂` and `1/σ` per row ([`LayerNormSaved`]).
/// - **Shapes:** `x, y: [.., C]` (any rank 1 to 4; every position of the leading axes is one
///   row); `weight`, `bias`: `[C]`.
///
/// # Errors
/// - [`ShapeError::RuntimeDim`] when `weight` or `bias` does not have `C` values (possible
///   only when `C` is a runtime dim);
/// - [`ShapeError::Invalid`] when `eps` is negative or not finite.
pub fn layer_norm_into<S: HasLastAxis, E: Element>(
    x: &Tensor<S, E>,
    weight: &Tensor<(S::Last,), E>,
    bias: &Tensor<(S::Last,), E>,
    eps: f64,
    y: &mut Tensor<S, E>,
    saved: &mut LayerNormSaved<E>,
) -> Result<(), ShapeError> {
    let c = check_forward(x, weight, bias, eps)?;
    y.resize_to(x.shape());
    let rows = rows(x.numel(), c);
    saved.x_hat.resize(x.numel(), E::zero());
    saved.inv_std.resize(rows, E::zero());
    forward_rows(
        c,
        x.as_slice(),
        (weight.as_slice(), bias.as_slice()),
        E::cast(eps),
        y.as_slice_mut(),
        Some((&mut saved.x_hat, &mut saved.inv_std)),
    );
    Ok(())
}

/// [`layer_norm_into`] into a new tensor, saving nothing (inference). Errors as
/// [`layer_norm_into`].
pub fn layer_norm<S: HasLastAxis, E: Element>(
    x: &Tensor<S, E>,
    weight: &Tensor<(S::Last,), E>,
    bias: &Tensor<(S::Last,), E>,
    eps: f64,
) -> Result<Tensor<S, E>, ShapeError> {
    let c = check_forward(x, weight, bias, eps)?;
    let mut y = Tensor::zeros(x.shape());
    forward_rows(
        c,
        x.as_slice(),
        (weight.as_slice(), bias.as_slice()),
        E::cast(eps),
        y.as_slice_mut(),
        None,
    );
    Ok(y)
}

/// Backward of [`layer_norm_into`]: writes `dx` (resized to `dy`'s shape) and **adds** into
/// `dweight` and `dbias`. The formula is in [`layer_norm_into`].
///
/// # Errors
/// - [`ShapeError::Shape`] when `dy` does not have the size of the input of the forward that
///   filled `saved`;
/// - [`ShapeError::RuntimeDim`] when `weight`, `dweight` or `dbias` does not have `C` values.
pub fn layer_norm_backward_into<S: HasLastAxis, E: Element>(
    saved: &LayerNormSaved<E>,
    weight: &Tensor<(S::Last,), E>,
    dy: &Tensor<S, E>,
    dx: &mut Tensor<S, E>,
    dweight: &mut Tensor<(S::Last,), E>,
    dbias: &mut Tensor<(S::Last,), E>,
) -> Result<(), ShapeError> {
    let c = last(dy.dims());
    for (what, n) in [
        ("layer_norm features of dy and weight", weight.numel()),
        ("layer_norm features of dy and dweight", dweight.numel()),
        ("layer_norm features of dy and dbias", dbias.numel()),
    ] {
        check_features(what, c, n)?;
    }
    if saved.x_hat.len() != dy.numel() || saved.inv_std.len() != rows(dy.numel(), c) {
        return Err(ShapeError::Shape {
            expected: format!(
                "{} values in rows of {c} (the input of the last forward)",
                saved.x_hat.len()
            ),
            found: fmt_dims(dy.dims()),
        });
    }
    dx.resize_to(dy.shape());
    backward_rows(
        c,
        (&saved.x_hat, &saved.inv_std),
        weight.as_slice(),
        dy.as_slice(),
        Some(dx.as_slice_mut()),
        (dweight.as_slice_mut(), dbias.as_slice_mut()),
    );
    Ok(())
}

/// The size of the last axis (0 for a scalar, which has no rows).
fn last(dims: &[usize]) -> usize {
    dims.last().copied().unwrap_or(0)
}

/// Number of rows of `c` values in `numel` values.
fn rows(numel: usize, c: usize) -> usize {
    numel.checked_div(c).unwrap_or(0)
}

fn check_features(what: &'static str, c: usize, n: usize) -> Result<(), ShapeError> {
    if c == n {
        Ok(())
    } else {
        Err(ShapeError::RuntimeDim {
            what,
            left: c,
            right: n,
        })
    }
}

/// Checks the forward's arguments; returns the row width `C`.
fn check_forward<S: HasLastAxis, E: Element>(
    x: &Tensor<S, E>,
    weight: &Tensor<(S::Last,), E>,
    bias: &Tensor<(S::Last,), E>,
    eps: f64,
) -> Result<usize, ShapeError> {
    let c = last(x.dims());
    check_features("layer_norm features of x and weight", c, weight.numel())?;
    check_features("layer_norm features of x and bias", c, bias.numel())?;
    if !(eps.is_finite() && eps >= 0.0) {
        return Err(ShapeError::Invalid {
            what: "layer_norm needs a finite eps >= 0",
            found: eps.to_string(),
        });
    }
    Ok(c)
}

/// The forward on row-major buffers of checked sizes: rows of `c` values of `xs` into `ys`,
/// saving `(x̂, 1/σ)` when `saved` is given.
pub(crate) fn forward_rows<E: Element>(
    c: usize,
    xs: &[E],
    (weight, bias): (&[E], &[E]),
    eps: E,
    ys: &mut [E],
    saved: Option<(&mut [E], &mut [E])>,
) {
    if c == 0 {
        return;
    }
    let inv_c = E::one() / E::cast(c as f64);
    match saved {
        Some((x_hat, inv_stds)) => {
            let rows = xs
                .chunks_exact(c)
                .zip(ys.chunks_exact_mut(c))
                .zip(x_hat.chunks_exact_mut(c));
            for (((x, y), h), s) in rows.zip(inv_stds.iter_mut()) {
                let (mean0, delta, inv_std) = row_stats(x, inv_c, eps);
                *s = inv_std;
                let out = y.iter_mut().zip(h.iter_mut());
                for ((((o, hj), &v), &w), &b) in out.zip(x).zip(weight).zip(bias) {
                    let n = ((v - mean0) - delta) * inv_std;
                    *hj = n;
                    *o = w * n + b;
                }
            }
        }
        None => {
            for (x, y) in xs.chunks_exact(c).zip(ys.chunks_exact_mut(c)) {
                let (mean0, delta, inv_std) = row_stats(x, inv_c, eps);
                for (((o, &v), &w), &b) in y.iter_mut().zip(x).zip(weight).zip(bias) {
                    *o = w * (((v - mean0) - delta) * inv_std) + b;
                }
            }
        }
    }
}

/// The statistics of one row: `(μ₀, δ, 1/σ)` with `x − μ = (x − μ₀) − δ`.
///
/// A first mean μ₀, then the deviations `d = x − μ₀`: their sum corrects the rounding of μ₀
/// (`μ = μ₀ + δ`, `δ = Σd/C`), and their squares give the variance
/// (`σ² = (Σd² − (Σd)²/C)/C`, exact for any μ₀). For a row far from 0 (`|μ| ≫ σ`) each `d` is
/// exact (`x` and μ₀ are close), so `x̂` keeps the precision of `x − μ` instead of inheriting
/// the rounding error of μ divided by σ.
#[inline(always)]
fn row_stats<E: Element>(x: &[E], inv_c: E, eps: E) -> (E, E, E) {
    let mean0 = lanes_sum(x) * inv_c;
    let (sum_d, sum_d2) = lanes_sum_dev(x, mean0);
    let delta = sum_d * inv_c;
    let var = ((sum_d2 - sum_d * delta) * inv_c).max(E::zero());
    (mean0, delta, E::one() / (var + eps).sqrt())
}

/// The backward on row-major buffers of checked sizes: adds the parameter gradients and, if
/// `dx` is given, writes the input gradient.
pub(crate) fn backward_rows<E: Element>(
    c: usize,
    (x_hat, inv_stds): (&[E], &[E]),
    weight: &[E],
    dys: &[E],
    dx: Option<&mut [E]>,
    (dweight, dbias): (&mut [E], &mut [E]),
) {
    if c == 0 {
        return;
    }
    let rows = dys.chunks_exact(c).zip(x_hat.chunks_exact(c));
    let Some(dx) = dx else {
        for (dy, h) in rows {
            for (((gw, gb), &d), &hj) in dweight.iter_mut().zip(dbias.iter_mut()).zip(dy).zip(h) {
                *gw += d * hj;
                *gb += d;
            }
        }
        return;
    };
    let inv_c = E::one() / E::cast(c as f64);
    for (((dy, h), out), &inv_std) in rows.zip(dx.chunks_exact_mut(c)).zip(inv_stds) {
        let (sum_g, sum_gh) = row_sums_and_param_grads(dy, h, weight, dweight, dbias);
        let (mean_g, mean_gh) = (sum_g * inv_c, sum_gh * inv_c);
        for (((o, &d), &w), &hj) in out.iter_mut().zip(dy).zip(weight).zip(h) {
            *o = inv_std * (d * w - mean_g - hj * mean_gh);
        }
    }
}

/// For one row: adds `dy ⊙ x̂` into `dweight` and `dy` into `dbias`, and returns
/// `(Σ g, Σ g·x̂)` with `g = dy ⊙ weight`, in 8 lanes — one pass over the row.
#[inline(always)]
fn row_sums_and_param_grads<E: Element>(
    dy: &[E],
    h: &[E],
    weight: &[E],
    dweight: &mut [E],
    dbias: &mut [E],
) -> (E, E) {
    let (mut s, mut p) = ([E::zero(); 8], [E::zero(); 8]);
    let (dc, hc, wc) = (
        dy.chunks_exact(8),
        h.chunks_exact(8),
        weight.chunks_exact(8),
    );
    let (dr, hr, wr) = (dc.remainder(), hc.remainder(), wc.remainder());
    let (gwc, gbc) = (dweight.chunks_exact_mut(8), dbias.chunks_exact_mut(8));
    for ((((d, hh), w), gw), gb) in dc.zip(hc).zip(wc).zip(gwc).zip(gbc) {
        for k in 0..8 {
            gw[k] += d[k] * hh[k];
            gb[k] += d[k];
            let g = d[k] * w[k];
            s[k] += g;
            p[k] += g * hh[k];
        }
    }
    let (mut ts, mut tp) = (E::zero(), E::zero());
    let full = dy.len() - dr.len();
    let (gwr, gbr) = (&mut dweight[full..], &mut dbias[full..]);
    for ((((&d, &hj), &w), gw), gb) in dr.iter().zip(hr).zip(wr).zip(gwr).zip(gbr) {
        *gw += d * hj;
        *gb += d;
        ts += d * w;
        tp += d * w * hj;
    }
    (hsum(s) + ts, hsum(p) + tp)
}

/// The sum of 8 lanes, pairwise (three dependent additions rather than seven).
#[inline(always)]
fn hsum<E: Element>(a: [E; 8]) -> E {
    ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))
}

/// Sums in 8 independent lanes, so the compiler can keep them in SIMD registers.
#[inline(always)]
fn lanes_sum<E: Element>(v: &[E]) -> E {
    let mut acc = [E::zero(); 8];
    let chunks = v.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a += x;
        }
    }
    let mut tail = E::zero();
    for &x in rest {
        tail += x;
    }
    hsum(acc) + tail
}

/// `(Σ (v − mean), Σ (v − mean)²)` in 8 lanes each.
#[inline(always)]
fn lanes_sum_dev<E: Element>(v: &[E], mean: E) -> (E, E) {
    let (mut s, mut q) = ([E::zero(); 8], [E::zero(); 8]);
    let chunks = v.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        for k in 0..8 {
            let d = chunk[k] - mean;
            s[k] += d;
            q[k] += d * d;
        }
    }
    let (mut ts, mut tq) = (E::zero(), E::zero());
    for &x in rest {
        let d = x - mean;
        ts += d;
        tq += d * d;
    }
    (hsum(s) + ts, hsum(q) + tq)
}
