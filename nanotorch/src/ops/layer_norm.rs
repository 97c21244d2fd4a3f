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
use crate::gemm::timer::{Part, timed_part};
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

/// Rows per block of the kernels. Within a block the rows are processed phase by phase (all
/// their sums, then all their statistics, then all their outputs), so the work of different
/// rows is independent and the processor overlaps it; row by row, each row's short chain of
/// dependent sums would stall the next.
const BLOCK: usize = 16;

/// The forward on row-major buffers of checked sizes: rows of `c` values of `xs` into `ys`,
/// saving `(x̂, 1/σ)` when `saved` is given.
#[inline(always)]
pub(crate) fn forward_rows<E: Element>(
    c: usize,
    xs: &[E],
    affine: (&[E], &[E]),
    eps: E,
    ys: &mut [E],
    saved: Option<(&mut [E], &mut [E])>,
) {
    timed_part(Part::Normalization, || {
        forward_rows_untimed(c, xs, affine, eps, ys, saved)
    });
}

#[inline(always)]
fn forward_rows_untimed<E: Element>(
    c: usize,
    xs: &[E],
    (weight, bias): (&[E], &[E]),
    eps: E,
    ys: &mut [E],
    mut saved: Option<(&mut [E], &mut [E])>,
) {
    if c == 0 {
        return;
    }
    let inv_c = E::one() / E::cast(c as f64);
    let rows = xs.len() / c;
    for r0 in (0..rows).step_by(BLOCK) {
        let n = BLOCK.min(rows - r0);
        let at = r0 * c..(r0 + n) * c;
        let xb = &xs[at.clone()];
        // Per row: a first mean μ₀, then the deviations d = x − μ₀. Their sum corrects the
        // rounding of μ₀ (μ = μ₀ + δ, δ = Σd/C) and their squares give the variance
        // (σ² = (Σd² − (Σd)²/C)/C, exact for any μ₀); x − μ is computed as d − δ. For a row
        // far from 0 (|μ| ≫ σ) each d is exact (x and μ₀ are close), so x̂ keeps the
        // precision of x − μ instead of inheriting the rounding error of μ divided by σ.
        let mut mean0 = [E::zero(); BLOCK];
        let mut delta = [E::zero(); BLOCK];
        let mut inv_std = [E::zero(); BLOCK];
        for (m, x) in mean0.iter_mut().zip(xb.chunks_exact(c)) {
            *m = lanes_sum(x) * inv_c;
        }
        let stats = delta.iter_mut().zip(inv_std.iter_mut()).zip(&mean0);
        for (((d, s), &m), x) in stats.zip(xb.chunks_exact(c)) {
            let (sum_d, sum_d2) = (lanes_sum_dev(x, m), lanes_sum_sq_dev(x, m));
            *d = sum_d * inv_c;
            let var = ((sum_d2 - sum_d * *d) * inv_c).max(E::zero());
            *s = E::one() / (var + eps).sqrt();
        }
        let rows_out = ys[at.clone()].chunks_exact_mut(c).zip(xb.chunks_exact(c));
        let row_stats = mean0.iter().zip(&delta).zip(&inv_std);
        match &mut saved {
            Some((x_hat, inv_stds)) => {
                inv_stds[r0..r0 + n].copy_from_slice(&inv_std[..n]);
                let rows_out = rows_out.zip(x_hat[at].chunks_exact_mut(c));
                for (((y, x), h), ((&m, &d), &s)) in rows_out.zip(row_stats) {
                    let out = y.iter_mut().zip(h.iter_mut());
                    for ((((o, hj), &v), &w), &b) in out.zip(x).zip(weight).zip(bias) {
                        let n = ((v - m) - d) * s;
                        *hj = n;
                        *o = w * n + b;
                    }
                }
            }
            None => {
                for ((y, x), ((&m, &d), &s)) in rows_out.zip(row_stats) {
                    for (((o, &v), &w), &b) in y.iter_mut().zip(x).zip(weight).zip(bias) {
                        *o = w * (((v - m) - d) * s) + b;
                    }
                }
            }
        }
    }
}

/// The backward on row-major buffers of checked sizes: adds the parameter gradients and, if
/// `dx` is given, writes the input gradient.
#[inline(always)]
pub(crate) fn backward_rows<E: Element>(
    c: usize,
    saved: (&[E], &[E]),
    weight: &[E],
    dys: &[E],
    dx: Option<&mut [E]>,
    grads: (&mut [E], &mut [E]),
) {
    timed_part(Part::Normalization, || {
        backward_rows_untimed(c, saved, weight, dys, dx, grads)
    });
}

#[inline(always)]
fn backward_rows_untimed<E: Element>(
    c: usize,
    (x_hat, inv_stds): (&[E], &[E]),
    weight: &[E],
    dys: &[E],
    mut dx: Option<&mut [E]>,
    (dweight, dbias): (&mut [E], &mut [E]),
) {
    if c == 0 {
        return;
    }
    let inv_c = E::one() / E::cast(c as f64);
    let rows = dys.len() / c;
    for r0 in (0..rows).step_by(BLOCK) {
        let n = BLOCK.min(rows - r0);
        let at = r0 * c..(r0 + n) * c;
        let (dyb, hb) = (&dys[at.clone()], &x_hat[at.clone()]);
        // The parameter gradients, while the block's rows are in cache.
        for (dy, h) in dyb.chunks_exact(c).zip(hb.chunks_exact(c)) {
            let grads = dweight.iter_mut().zip(dbias.iter_mut());
            for (((gw, gb), &d), &hj) in grads.zip(dy).zip(h) {
                *gw += d * hj;
                *gb += d;
            }
        }
        let Some(dx) = dx.as_deref_mut() else {
            continue;
        };
        // (1/C) Σ g and (1/C) Σ g·x̂ per row, g = dy ⊙ weight.
        let (mut mean_g, mut mean_gh) = ([E::zero(); BLOCK], [E::zero(); BLOCK]);
        let means = mean_g.iter_mut().zip(mean_gh.iter_mut());
        for ((g, gh), (dy, h)) in means.zip(dyb.chunks_exact(c).zip(hb.chunks_exact(c))) {
            *g = lanes_dot(dy, weight) * inv_c;
            *gh = lanes_dot3(dy, weight, h) * inv_c;
        }
        let rows_in = dyb.chunks_exact(c).zip(hb.chunks_exact(c));
        let row_stats = mean_g.iter().zip(&mean_gh).zip(&inv_stds[r0..r0 + n]);
        for ((out, (dy, h)), ((&g, &gh), &s)) in
            dx[at].chunks_exact_mut(c).zip(rows_in).zip(row_stats)
        {
            for (((o, &d), &w), &hj) in out.iter_mut().zip(dy).zip(weight).zip(h) {
                *o = s * (d * w - g - hj * gh);
            }
        }
    }
}

/// The sum of 8 lanes, pairwise (three dependent additions rather than seven).
#[inline(always)]
fn hsum<E: Element>(a: [E; 8]) -> E {
    ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))
}

/// `Σₖ f(a[k])` in 8 independent lanes, so the compiler keeps them in SIMD registers (a
/// single running sum is a chain of dependent additions it may not reorder). Each reduction
/// gets a loop of its own: two sums in one loop get vectorised across the pair instead.
#[inline(always)]
fn lanes1<E: Element>(a: &[E], f: impl Fn(E) -> E) -> E {
    let (chunks, rest) = a.as_chunks::<8>();
    let mut acc = [E::zero(); 8];
    for ca in chunks {
        for (s, &x) in acc.iter_mut().zip(ca) {
            *s += f(x);
        }
    }
    hsum(acc) + rest.iter().fold(E::zero(), |s, &x| s + f(x))
}

/// `Σₖ f(a[k], b[k], c[k])` in 8 lanes (`a`, `b`, `c` of equal lengths).
#[inline(always)]
fn lanes3<E: Element>(a: &[E], b: &[E], c: &[E], f: impl Fn(E, E, E) -> E) -> E {
    let ((ca, ra), (cb, rb), (cc, rc)) =
        (a.as_chunks::<8>(), b.as_chunks::<8>(), c.as_chunks::<8>());
    let mut acc = [E::zero(); 8];
    for ((xa, xb), xc) in ca.iter().zip(cb).zip(cc) {
        for j in 0..8 {
            acc[j] += f(xa[j], xb[j], xc[j]);
        }
    }
    let tail = ra
        .iter()
        .zip(rb)
        .zip(rc)
        .fold(E::zero(), |s, ((&x, &y), &z)| s + f(x, y, z));
    hsum(acc) + tail
}

/// `Σ v`.
#[inline(always)]
fn lanes_sum<E: Element>(v: &[E]) -> E {
    lanes1(v, |x| x)
}

/// `Σ (v − m)`.
#[inline(always)]
fn lanes_sum_dev<E: Element>(v: &[E], m: E) -> E {
    lanes1(v, |x| x - m)
}

/// `Σ (v − m)²`.
#[inline(always)]
fn lanes_sum_sq_dev<E: Element>(v: &[E], m: E) -> E {
    lanes1(v, |x| (x - m) * (x - m))
}

/// `Σ dy·w`.
#[inline(always)]
fn lanes_dot<E: Element>(dy: &[E], w: &[E]) -> E {
    lanes3(dy, w, w, |d, w, _| d * w)
}

/// `Σ dy·w·h`.
#[inline(always)]
fn lanes_dot3<E: Element>(dy: &[E], w: &[E], h: &[E]) -> E {
    lanes3(dy, w, h, |d, w, h| d * w * h)
}
