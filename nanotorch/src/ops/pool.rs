//! Pooling over NCHW images: [`max_pool2d`], [`avg_pool2d`] and [`global_avg_pool2d`], as
//! PyTorch's `F.max_pool2d`, `F.avg_pool2d` (with `count_include_pad=True`, `ceil_mode=False`)
//! and `F.adaptive_avg_pool2d(x, 1)` flattened to `[B, C]`.
//!
//! Pooling has no parameters. Its backward *routes* the gradient: max pooling sends each
//! output's gradient to the one input pixel that won the window, average pooling spreads it
//! evenly over the window.

use crate::element::Element;
use crate::error::ShapeError;
use crate::ops::conv::output_shape;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::parallel::for_each_block_pair_mut;
use crate::shape::{Dim, Shape, fmt_dims};
use crate::tensor::Tensor;

/// A square pooling window: its size, its step, and the padding around the input (PyTorch's
/// `kernel_size`, `stride`, `padding`; PyTorch's default stride is the kernel size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dSpec {
    /// Window size.
    pub kernel: usize,
    /// Step between two windows.
    pub stride: usize,
    /// Padding on every side (−∞ for max pooling, 0 for average pooling). At most half the
    /// kernel, as in PyTorch.
    pub padding: usize,
}

impl Pool2dSpec {
    /// A `kernel × kernel` window moving by `stride` over an input padded by `padding`.
    pub fn new(kernel: usize, stride: usize, padding: usize) -> Self {
        Self {
            kernel,
            stride,
            padding,
        }
    }

    /// The output size along one axis, `⌊(input + 2·padding − kernel) / stride⌋ + 1`, or
    /// `None` if the window does not fit, a size is 0, or the padding exceeds half the kernel.
    pub fn out_size(&self, input: usize) -> Option<usize> {
        if self.kernel == 0 || self.stride == 0 || 2 * self.padding > self.kernel {
            return None;
        }
        let padded = input + 2 * self.padding;
        (padded >= self.kernel).then(|| (padded - self.kernel) / self.stride + 1)
    }
}

/// Batch·channels, input and output sizes of one pooling call.
#[derive(Clone, Copy)]
struct PoolGeometry {
    planes: usize,
    height: usize,
    width: usize,
    out_height: usize,
    out_width: usize,
}

fn geometry(x: &[usize], spec: Pool2dSpec) -> Result<PoolGeometry, ShapeError> {
    let bad = || ShapeError::Invalid {
        what: "pooling window larger than the padded input, a zero size, or padding over half the kernel",
        found: format!(
            "input {}, kernel {}, stride {}, padding {}",
            fmt_dims(&x[2..]),
            spec.kernel,
            spec.stride,
            spec.padding
        ),
    };
    Ok(PoolGeometry {
        planes: x[0] * x[1],
        height: x[2],
        width: x[3],
        out_height: spec.out_size(x[2]).ok_or_else(bad)?,
        out_width: spec.out_size(x[3]).ok_or_else(bad)?,
    })
}

fn check_dy(g: &PoolGeometry, input: &[usize], dy: &[usize]) -> Result<(), ShapeError> {
    let want = [input[0], input[1], g.out_height, g.out_width];
    if dy == want {
        Ok(())
    } else {
        Err(ShapeError::Shape {
            expected: format!("{} (the output of the pooling)", fmt_dims(&want)),
            found: fmt_dims(dy),
        })
    }
}

/// The input rows (or columns) window `i` covers, clipped to the input: `start..end`.
fn window(i: usize, spec: Pool2dSpec, size: usize) -> (usize, usize) {
    let start = (i * spec.stride).saturating_sub(spec.padding);
    let end = (i * spec.stride + spec.kernel)
        .saturating_sub(spec.padding)
        .min(size);
    (start, end)
}

/// Max pooling: the largest value in each window.
///
/// - **Forward:** `y[b, c, i, j] = max_{p, q < K} x̃[b, c, i·s + p, j·s + q]`, `x̃` being `x`
///   padded with −∞.
/// - **Backward:** `dx[b, c, h, w] = Σ dy[b, c, i, j]` over the windows whose maximum was
///   `x[b, c, h, w]`; every other pixel gets 0. A tie goes to the first maximum in the window's
///   row-major order, as in PyTorch.
/// - **Saves:** the arg-max of every window (a flat index into the input), not the input.
/// - **Shapes:** `x: [B, C, H, W]` → `y: [B, C, OH, OW]`, `OH = ⌊(H + 2·padding − K) /
///   stride⌋ + 1` (see [`Pool2dSpec::out_size`]).
pub fn max_pool2d<B: Dim, C: Dim, H: Dim, W: Dim, OH: Dim, OW: Dim, E: Element>(
    x: &Tensor<(B, C, H, W), E>,
    spec: Pool2dSpec,
) -> Result<Tensor<(B, C, OH, OW), E>, ShapeError> {
    let g = geometry(x.dims(), spec)?;
    let (b, c, _, _) = x.shape();
    let mut y = Tensor::zeros(output_shape(b, c, g.out_height, g.out_width)?);
    max_pool2d_into(x, spec, &mut y, &mut Vec::new())?;
    Ok(y)
}

/// [`max_pool2d`] writing into `y` (resized if needed) and the arg-max of every output into
/// `argmax` (reused; it grows only past the largest size seen).
pub fn max_pool2d_into<B: Dim, C: Dim, H: Dim, W: Dim, OH: Dim, OW: Dim, E: Element>(
    x: &Tensor<(B, C, H, W), E>,
    spec: Pool2dSpec,
    y: &mut Tensor<(B, C, OH, OW), E>,
    argmax: &mut Vec<usize>,
) -> Result<(), ShapeError> {
    let g = geometry(x.dims(), spec)?;
    let (b, c, _, _) = x.shape();
    y.resize_to(output_shape(b, c, g.out_height, g.out_width)?);
    argmax.resize(y.numel(), 0);
    let (plane, out_plane) = (g.height * g.width, g.out_height * g.out_width);
    let xs = x.as_slice();
    let g = &g;
    // Planes are independent: blocks of them run on the GEMM's threads.
    for_each_block_pair_mut(
        y.as_slice_mut(),
        out_plane,
        argmax,
        out_plane,
        &|first, y_block, arg_block| {
            for (k, (out, arg)) in y_block
                .chunks_exact_mut(out_plane.max(1))
                .zip(arg_block.chunks_exact_mut(out_plane.max(1)))
                .enumerate()
            {
                let base = (first + k) * plane;
                let xp = &xs[base..base + plane];
                for i in 0..g.out_height {
                    let at = i * g.out_width..(i + 1) * g.out_width;
                    max_pool_row(xp, g, spec, i, &mut out[at.clone()], &mut arg[at]);
                }
                arg.iter_mut().for_each(|a| *a += base);
            }
        },
    );
    Ok(())
}

/// [`max_pool_row`] for the common 2×2 window with stride 2 and no padding: each window is
/// two pairs of neighbours, `(a, b)` on row `r0` and `(c, d)` below, compared in that order
/// with the index chosen by a conditional move. About 4× faster than the general loop, whose
/// strided reads and per-tap loop cost more than the comparisons. Returns `false`, having
/// written garbage, if the row holds a NaN (the general loop then redoes it exactly).
fn max_pool_row_2x2<E: Element>(
    xp: &[E],
    w: usize,
    r0: usize,
    out: &mut [E],
    arg: &mut [usize],
) -> bool {
    let len = 2 * out.len();
    let (top, bottom) = (&xp[r0 * w..][..len], &xp[(r0 + 1) * w..][..len]);
    let mut nan = false;
    for (j, ((o, a), (t, b))) in out
        .iter_mut()
        .zip(arg.iter_mut())
        .zip(top.chunks_exact(2).zip(bottom.chunks_exact(2)))
        .enumerate()
    {
        let at = r0 * w + 2 * j;
        let (mut best, mut from) = (t[0], at);
        for (v, tap) in [(t[1], at + 1), (b[0], at + w), (b[1], at + w + 1)] {
            let wins = v > best;
            from = std::hint::select_unpredictable(wins, tap, from);
            best = std::hint::select_unpredictable(wins, v, best);
        }
        nan |= t[0].is_nan() | t[1].is_nan() | b[0].is_nan() | b[1].is_nan();
        *o = best;
        *a = from;
    }
    !nan
}

/// One output row of max pooling over a plane `xp`: the maximum and its index (in the plane)
/// of every window in row `i`.
///
/// The window's taps are visited in row-major order, one tap for all the row's windows at a
/// time: each window's running maximum then depends only on its own previous tap, so the
/// windows are independent and the loop over them has no branch to mispredict. `>` keeps the
/// first of equal maxima, and a NaN wins, as in PyTorch.
fn max_pool_row<E: Element>(
    xp: &[E],
    g: &PoolGeometry,
    spec: Pool2dSpec,
    i: usize,
    out: &mut [E],
    arg: &mut [usize],
) {
    let (s, w) = (spec.stride, g.width);
    let (r0, r1) = window(i, spec, g.height);
    if spec.padding == 0
        && spec.kernel == 2
        && s == 2
        && r1 == r0 + 2
        && max_pool_row_2x2(xp, w, r0, out, arg)
    {
        return;
    }
    if spec.padding == 0 {
        // Every window lies inside the plane: tap (p, q) of window j is (r0 + p, j·s + q).
        // `max` and an index select keep the loop free of data-dependent branches; a NaN
        // (which `max` would skip) sends the row to the exact loop below.
        let mut nan = false;
        for (j, (o, a)) in out.iter_mut().zip(arg.iter_mut()).enumerate() {
            *o = xp[r0 * w + j * s];
            *a = r0 * w + j * s;
            nan |= o.is_nan();
        }
        for r in r0..r1 {
            for q in 0..spec.kernel {
                if r == r0 && q == 0 {
                    continue;
                }
                let line = &xp[r * w + q..];
                for (j, (o, a)) in out.iter_mut().zip(arg.iter_mut()).enumerate() {
                    let v = line[j * s];
                    nan |= v.is_nan();
                    // Which tap wins is data: a branch here would mispredict on half the
                    // windows, so the index is chosen with a conditional move.
                    *a = std::hint::select_unpredictable(v > *o, r * w + q + j * s, *a);
                    *o = o.max(v);
                }
            }
        }
        if !nan {
            return;
        }
    }
    for (j, (o, a)) in out.iter_mut().zip(arg.iter_mut()).enumerate() {
        let (c0, c1) = window(j, spec, w);
        let (mut best, mut at) = (xp[r0 * w + c0], r0 * w + c0);
        for r in r0..r1 {
            for (col, &v) in xp[r * w + c0..r * w + c1].iter().enumerate() {
                let wins = (v > best) | v.is_nan();
                best = std::hint::select_unpredictable(wins, v, best);
                at = std::hint::select_unpredictable(wins, r * w + c0 + col, at);
            }
        }
        *o = best;
        *a = at;
    }
}

/// Backward of [`max_pool2d`]: routes each `dy` entry to its window's arg-max, writing `dx`
/// (resized to `input_shape` and zeroed first; pixels that won no window get 0).
pub fn max_pool2d_backward_into<B: Dim, C: Dim, H: Dim, W: Dim, OH: Dim, OW: Dim, E: Element>(
    argmax: &[usize],
    dy: &Tensor<(B, C, OH, OW), E>,
    input_shape: (B, C, H, W),
    dx: &mut Tensor<(B, C, H, W), E>,
) -> Result<(), ShapeError> {
    if argmax.len() < dy.numel() {
        return Err(ShapeError::Length {
            shape: fmt_dims(dy.dims()),
            expected: dy.numel(),
            found: argmax.len(),
        });
    }
    dx.resize_to(input_shape);
    let (plane, out_plane) = (dx.dims()[2] * dx.dims()[3], dy.dims()[2] * dy.dims()[3]);
    let (dys, outside) = (dy.as_slice(), AtomicUsize::new(usize::MAX));
    // Planes are independent (a window never leaves its plane): blocks of them run on the
    // GEMM's threads, each zeroing its planes and routing their gradients.
    for_each_block_pair_mut::<E, E>(dx.as_slice_mut(), plane, &mut [], 0, &|first, dxs, _| {
        dxs.fill(E::zero());
        let (base, planes) = (first * plane, dxs.len() / plane.max(1));
        let at = first * out_plane..(first + planes) * out_plane;
        for (&at, &d) in argmax[at.clone()].iter().zip(&dys[at]) {
            match at.checked_sub(base).and_then(|i| dxs.get_mut(i)) {
                Some(slot) => *slot += d,
                None => outside.store(at, Ordering::Relaxed),
            }
        }
    });
    match outside.into_inner() {
        usize::MAX => Ok(()),
        at => Err(ShapeError::Invalid {
            what: "max_pool2d_backward: an arg-max outside its plane of the input (argmax from \
                   another call?)",
            found: at.to_string(),
        }),
    }
}

/// Backward of [`max_pool2d`], allocating: recomputes the arg-max from `x`.
pub fn max_pool2d_backward<B: Dim, C: Dim, H: Dim, W: Dim, OH: Dim, OW: Dim, E: Element>(
    x: &Tensor<(B, C, H, W), E>,
    dy: &Tensor<(B, C, OH, OW), E>,
    spec: Pool2dSpec,
) -> Result<Tensor<(B, C, H, W), E>, ShapeError> {
    let g = geometry(x.dims(), spec)?;
    check_dy(&g, x.dims(), dy.dims())?;
    let mut y: Tensor<(B, C, OH, OW), E> = Tensor::zeros(dy.shape());
    let mut argmax = Vec::new();
    max_pool2d_into(x, spec, &mut y, &mut argmax)?;
    let mut dx = Tensor::zeros(x.shape());
    max_pool2d_backward_into(&argmax, dy, x.shape(), &mut dx)?;
    Ok(dx)
}

/// Average pooling: the mean of each window, padding included in the count (PyTorch's default
/// `count_include_pad=True`, so every output divides by `K²`).
///
/// - **Forward:** `y[b, c, i, j] = (1/K²) Σ_{p, q < K} x̃[b, c, i·s + p, j·s + q]`, `x̃` being
///   `x` padded with zeros.
/// - **Backward:** `dx[b, c, h, w] = (1/K²) Σ dy[b, c, i, j]` over the windows covering
///   `(h, w)`.
/// - **Saves:** nothing (the backward needs only the sizes).
/// - **Shapes:** as [`max_pool2d`].
pub fn avg_pool2d<B: Dim, C: Dim, H: Dim, W: Dim, OH: Dim, OW: Dim, E: Element>(
    x: &Tensor<(B, C, H, W), E>,
    spec: Pool2dSpec,
) -> Result<Tensor<(B, C, OH, OW), E>, ShapeError> {
    let g = geometry(x.dims(), spec)?;
    let (b, c, _, _) = x.shape();
    let mut y = Tensor::zeros(output_shape(b, c, g.out_height, g.out_width)?);
    avg_pool2d_into(x, spec, &mut y)?;
    Ok(y)
}

/// [`avg_pool2d`] writing into `y` (resized if needed).
pub fn avg_pool2d_into<B: Dim, C: Dim, H: Dim, W: Dim, OH: Dim, OW: Dim, E: Element>(
    x: &Tensor<(B, C, H, W), E>,
    spec: Pool2dSpec,
    y: &mut Tensor<(B, C, OH, OW), E>,
) -> Result<(), ShapeError> {
    let g = geometry(x.dims(), spec)?;
    let (b, c, _, _) = x.shape();
    y.resize_to(output_shape(b, c, g.out_height, g.out_width)?);
    let (plane, out_plane) = (g.height * g.width, g.out_height * g.out_width);
    let scale = E::one() / E::cast((spec.kernel * spec.kernel) as f64);
    for (xp, out) in x
        .as_slice()
        .chunks_exact(plane.max(1))
        .zip(y.as_slice_mut().chunks_exact_mut(out_plane.max(1)))
        .take(g.planes)
    {
        for i in 0..g.out_height {
            let (r0, r1) = window(i, spec, g.height);
            for j in 0..g.out_width {
                let (c0, c1) = window(j, spec, g.width);
                let mut sum = E::zero();
                for r in r0..r1 {
                    sum += xp[r * g.width + c0..r * g.width + c1]
                        .iter()
                        .copied()
                        .sum::<E>();
                }
                out[i * g.out_width + j] = sum * scale;
            }
        }
    }
    Ok(())
}

/// Backward of [`avg_pool2d`] into `dx` (resized to `input_shape`): each `dy` entry, divided by
/// `K²`, is added to every input pixel of its window.
pub fn avg_pool2d_backward_into<B: Dim, C: Dim, H: Dim, W: Dim, OH: Dim, OW: Dim, E: Element>(
    dy: &Tensor<(B, C, OH, OW), E>,
    spec: Pool2dSpec,
    input_shape: (B, C, H, W),
    dx: &mut Tensor<(B, C, H, W), E>,
) -> Result<(), ShapeError> {
    let dims = input_shape.dims();
    let g = geometry(&dims, spec)?;
    check_dy(&g, &dims, dy.dims())?;
    dx.resize_to(input_shape);
    dx.fill(E::zero());
    let (plane, out_plane) = (g.height * g.width, g.out_height * g.out_width);
    let scale = E::one() / E::cast((spec.kernel * spec.kernel) as f64);
    for (dxp, dyp) in dx
        .as_slice_mut()
        .chunks_exact_mut(plane.max(1))
        .zip(dy.as_slice().chunks_exact(out_plane.max(1)))
    {
        for i in 0..g.out_height {
            let (r0, r1) = window(i, spec, g.height);
            for j in 0..g.out_width {
                let (c0, c1) = window(j, spec, g.width);
                let share = dyp[i * g.out_width + j] * scale;
                for r in r0..r1 {
                    dxp[r * g.width + c0..r * g.width + c1]
                        .iter_mut()
                        .for_each(|v| *v += share);
                }
            }
        }
    }
    Ok(())
}

/// Backward of [`avg_pool2d`], allocating.
pub fn avg_pool2d_backward<B: Dim, C: Dim, H: Dim, W: Dim, OH: Dim, OW: Dim, E: Element>(
    dy: &Tensor<(B, C, OH, OW), E>,
    spec: Pool2dSpec,
    input_shape: (B, C, H, W),
) -> Result<Tensor<(B, C, H, W), E>, ShapeError> {
    let mut dx = Tensor::zeros(input_shape);
    avg_pool2d_backward_into(dy, spec, input_shape, &mut dx)?;
    Ok(dx)
}

/// Global average pooling: the mean of each channel's whole map, `[B, C, H, W] → [B, C]`
/// (PyTorch's `F.adaptive_avg_pool2d(x, 1).flatten(1)`), the usual bridge from a conv stack to
/// a classifier that works for any image size.
///
/// - **Forward:** `y[b, c] = (1/(H·W)) Σ_{h, w} x[b, c, h, w]`.
/// - **Backward:** `dx[b, c, h, w] = dy[b, c] / (H·W)`.
/// - **Saves:** nothing but the input's sizes.
/// - **Shapes:** `x: [B, C, H, W]` → `y: [B, C]`.
pub fn global_avg_pool2d<B: Dim, C: Dim, H: Dim, W: Dim, E: Element>(
    x: &Tensor<(B, C, H, W), E>,
) -> Tensor<(B, C), E> {
    let (b, c, _, _) = x.shape();
    let mut y = Tensor::zeros((b, c));
    global_avg_pool2d_into(x, &mut y);
    y
}

/// [`global_avg_pool2d`] writing into `y` (resized if needed).
pub fn global_avg_pool2d_into<B: Dim, C: Dim, H: Dim, W: Dim, E: Element>(
    x: &Tensor<(B, C, H, W), E>,
    y: &mut Tensor<(B, C), E>,
) {
    let (b, c, h, w) = x.shape();
    y.resize_to((b, c));
    let plane = (h.size() * w.size()).max(1);
    let scale = E::one() / E::cast((h.size() * w.size()) as f64);
    for (out, xp) in y
        .as_slice_mut()
        .iter_mut()
        .zip(x.as_slice().chunks_exact(plane))
    {
        *out = xp.iter().copied().sum::<E>() * scale;
    }
}

/// Backward of [`global_avg_pool2d`] into `dx` (resized to `input_shape`). Errors if `dy` is
/// not `[B, C]` of that shape.
pub fn global_avg_pool2d_backward_into<B: Dim, C: Dim, H: Dim, W: Dim, E: Element>(
    dy: &Tensor<(B, C), E>,
    input_shape: (B, C, H, W),
    dx: &mut Tensor<(B, C, H, W), E>,
) -> Result<(), ShapeError> {
    let want = [input_shape.0.size(), input_shape.1.size()];
    if dy.dims() != want {
        return Err(ShapeError::Shape {
            expected: format!("{} (the output of global_avg_pool2d)", fmt_dims(&want)),
            found: fmt_dims(dy.dims()),
        });
    }
    dx.resize_to(input_shape);
    let (_, _, h, w) = input_shape;
    let plane = (h.size() * w.size()).max(1);
    let scale = E::one() / E::cast((h.size() * w.size()) as f64);
    for (dxp, &d) in dx.as_slice_mut().chunks_exact_mut(plane).zip(dy.as_slice()) {
        dxp.fill(d * scale);
    }
    Ok(())
}

/// Backward of [`global_avg_pool2d`], allocating (errors as the `_into` form).
pub fn global_avg_pool2d_backward<B: Dim, C: Dim, H: Dim, W: Dim, E: Element>(
    dy: &Tensor<(B, C), E>,
    input_shape: (B, C, H, W),
) -> Result<Tensor<(B, C, H, W), E>, ShapeError> {
    let mut dx = Tensor::zeros(input_shape);
    global_avg_pool2d_backward_into(dy, input_shape, &mut dx)?;
    Ok(dx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::Dyn;

    type D4 = (Dyn, Dyn, Dyn, Dyn);

    /// The rule every path must follow: taps in row-major order, a later tap wins if it is
    /// larger or NaN; the arg-max is a flat index into the whole input.
    fn reference(x: &[f32], (b, c, h, w): (usize, usize, usize, usize)) -> (Vec<f32>, Vec<usize>) {
        let (mut y, mut arg) = (Vec::new(), Vec::new());
        for plane in 0..b * c {
            for i in 0..h / 2 {
                for j in 0..w / 2 {
                    let at = |p: usize, q: usize| plane * h * w + (2 * i + p) * w + 2 * j + q;
                    let (mut best, mut from) = (x[at(0, 0)], at(0, 0));
                    for (p, q) in [(0, 1), (1, 0), (1, 1)] {
                        let v = x[at(p, q)];
                        if v > best || v.is_nan() {
                            (best, from) = (v, at(p, q));
                        }
                    }
                    y.push(best);
                    arg.push(from);
                }
            }
        }
        (y, arg)
    }

    /// The 2×2 stride-2 path keeps PyTorch's rules on ties (the first maximum) and NaN, and its
    /// threaded backward routes every gradient to its arg-max, on a batch large enough to be
    /// split over threads.
    #[test]
    fn two_by_two_windows_follow_the_rules() {
        let dims = (4, 8, 32, 36);
        let len = dims.0 * dims.1 * dims.2 * dims.3;
        // Few distinct values, so most windows have ties; a NaN in a few rows.
        let mut x: Vec<f32> = (0..len).map(|i| ((i * 7) % 5) as f32).collect();
        for at in [3, 777, 5000, len - 1] {
            x[at] = f32::NAN;
        }
        let x = Tensor::<D4, f32>::from_vec(&[dims.0, dims.1, dims.2, dims.3], x).unwrap();
        let spec = Pool2dSpec::new(2, 2, 0);
        let mut y = Tensor::<D4, f32>::zeros((Dyn(0), Dyn(0), Dyn(0), Dyn(0)));
        let mut arg = Vec::new();
        max_pool2d_into(&x, spec, &mut y, &mut arg).unwrap();
        let (want_y, want_arg) = reference(x.as_slice(), dims);
        assert_eq!(arg, want_arg);
        for (got, want) in y.as_slice().iter().zip(&want_y) {
            assert!(
                got == want || (got.is_nan() && want.is_nan()),
                "{got} vs {want}"
            );
        }
        let dy_values: Vec<f32> = (0..y.numel()).map(|i| 1.0 + i as f32).collect();
        let dy = Tensor::<D4, f32>::from_vec(y.dims(), dy_values).unwrap();
        let mut dx = Tensor::<D4, f32>::zeros((Dyn(0), Dyn(0), Dyn(0), Dyn(0)));
        max_pool2d_backward_into(&arg, &dy, x.shape(), &mut dx).unwrap();
        let mut want_dx = vec![0.0f32; len];
        for (&at, &d) in want_arg.iter().zip(dy.as_slice()) {
            want_dx[at] += d;
        }
        assert_eq!(dx.as_slice(), &want_dx[..]);
    }
}
