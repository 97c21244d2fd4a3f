//! 2-d convolution over NCHW images, as PyTorch's `F.conv2d`: [`conv2d`] and its backward.
//!
//! The convolution is computed as **im2col + GEMM**: for each image the input patches the
//! kernel visits are copied into the columns of a matrix (`cols`, one column per output pixel),
//! and the whole convolution of that image becomes one matrix product with the weight seen as
//! an `[O, C·K·K]` matrix. The backward uses the same matrix, read the other way: the weight
//! gradient is a product with `colsᵀ`, and the input gradient is a product with `Wᵀ` followed
//! by **col2im**, which adds every column back onto the pixels it was copied from.

use crate::element::Element;
use crate::error::ShapeError;
use crate::gemm::{MatMut, MatRef, gemm};
use crate::shape::{Dim, Shape, fmt_dims};
use crate::tensor::Tensor;

/// The geometry of a square convolution window: how far it moves (`stride`), how many zero
/// pixels surround the input (`padding`), and the spacing of the kernel taps (`dilation`).
/// PyTorch's `Conv2d(stride=…, padding=…, dilation=…)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dSpec {
    /// Step between two output pixels, in input pixels (≥ 1).
    pub stride: usize,
    /// Zero pixels added on every side of the input.
    pub padding: usize,
    /// Spacing between kernel taps (1 = adjacent pixels).
    pub dilation: usize,
}

impl Default for Conv2dSpec {
    fn default() -> Self {
        Self::new(1, 0, 1)
    }
}

impl Conv2dSpec {
    /// A window moving by `stride` over an input padded by `padding`, with taps `dilation`
    /// apart.
    pub fn new(stride: usize, padding: usize, dilation: usize) -> Self {
        Self {
            stride,
            padding,
            dilation,
        }
    }

    /// The output size along one axis, `⌊(input + 2·padding − dilation·(kernel − 1) − 1) /
    /// stride⌋ + 1`, or `None` if the (dilated) kernel does not fit in the padded input or a
    /// size is 0.
    pub fn out_size(&self, input: usize, kernel: usize) -> Option<usize> {
        if kernel == 0 || self.stride == 0 || self.dilation == 0 {
            return None;
        }
        let span = self.dilation * (kernel - 1) + 1;
        let padded = input + 2 * self.padding;
        (padded >= span).then(|| (padded - span) / self.stride + 1)
    }
}

/// All sizes of one convolution, checked.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConvGeometry {
    pub batch: usize,
    pub in_channels: usize,
    pub height: usize,
    pub width: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub out_height: usize,
    pub out_width: usize,
    pub spec: Conv2dSpec,
}

impl ConvGeometry {
    /// Rows of the patch matrix: `C·K·K`.
    fn patch(&self) -> usize {
        self.in_channels * self.kernel * self.kernel
    }
    /// Output pixels per image: `OH·OW`.
    fn pixels(&self) -> usize {
        self.out_height * self.out_width
    }
    /// A 1×1 kernel with stride 1 and no padding reads each image as it is: its patch matrix
    /// *is* the image, and no copy is needed.
    fn is_pointwise(&self) -> bool {
        self.kernel == 1 && self.spec.stride == 1 && self.spec.padding == 0
    }
}

fn runtime(what: &'static str, left: usize, right: usize) -> Result<(), ShapeError> {
    if left == right {
        Ok(())
    } else {
        Err(ShapeError::RuntimeDim { what, left, right })
    }
}

/// Checks the input and weight sizes against each other and the spec.
pub(crate) fn geometry(
    x: &[usize],
    weight: &[usize],
    spec: Conv2dSpec,
) -> Result<ConvGeometry, ShapeError> {
    let (b, c, h, w) = (x[0], x[1], x[2], x[3]);
    let (o, c2, kh, kw) = (weight[0], weight[1], weight[2], weight[3]);
    runtime("conv2d input channels of x and weight", c, c2)?;
    runtime("conv2d kernel height and width", kh, kw)?;
    let too_big = || ShapeError::Invalid {
        what: "conv2d kernel (dilated) larger than the padded input, or a zero stride/dilation",
        found: format!(
            "input {}, kernel {kh}, stride {}, padding {}, dilation {}",
            fmt_dims(&[h, w]),
            spec.stride,
            spec.padding,
            spec.dilation
        ),
    };
    let oh = spec.out_size(h, kh).ok_or_else(too_big)?;
    let ow = spec.out_size(w, kw).ok_or_else(too_big)?;
    Ok(ConvGeometry {
        batch: b,
        in_channels: c,
        height: h,
        width: w,
        out_channels: o,
        kernel: kh,
        out_height: oh,
        out_width: ow,
        spec,
    })
}

/// The output shape value for computed sizes, checking the output type's static dims.
pub(crate) fn output_shape<B: Dim, O: Dim, OH: Dim, OW: Dim>(
    b: B,
    o: O,
    oh: usize,
    ow: usize,
) -> Result<(B, O, OH, OW), ShapeError> {
    let mismatch = || ShapeError::Shape {
        expected: crate::shape::fmt_pattern(&<(B, O, OH, OW)>::pattern()),
        found: fmt_dims(&[b.size(), o.size(), oh, ow]),
    };
    Ok((
        b,
        o,
        OH::from_size(oh).ok_or_else(mismatch)?,
        OW::from_size(ow).ok_or_else(mismatch)?,
    ))
}

/// 2-d convolution (cross-correlation, as in every framework) of a batch of images.
///
/// - **Forward:** `y[b, o, i, j] = bias[o] + Σ_{c, p, q} W[o, c, p, q] ·
///   x̃[b, c, i·s + p·d, j·s + q·d]`, where `x̃` is `x` padded with `padding` zeros on every side,
///   `s` the stride and `d` the dilation. Computed per image as `Y = W·cols`, with `W` seen as
///   `[O, C·K·K]` and `cols` the `[C·K·K, OH·OW]` matrix of patches (im2col).
/// - **Backward:** `dW += Σ_b dY_b · cols_bᵀ` and `dbias += Σ_{b,i,j} dy[b, :, i, j]`
///   ([`conv2d_backward_params`]); `dx = col2im(Wᵀ · dY_b)` — every entry of `Wᵀ·dY_b` is
///   added back onto the input pixel its patch entry came from
///   ([`conv2d_backward_input_into`]). That is a convolution of `dy` with the kernel flipped
///   and its in/out channels swapped.
/// - **Saves:** the input `x` (the weight gradient needs its patches; they are rebuilt in
///   backward rather than kept, which would cost `K·K` times the input's memory).
/// - **Shapes:** `x: [B, C, H, W]`, `weight: [O, C, K, K]`, `bias: [O]` → `y: [B, O, OH, OW]`
///   with `OH = ⌊(H + 2·padding − dilation·(K − 1) − 1) / stride⌋ + 1` (same for `OW`), see
///   [`Conv2dSpec::out_size`]. A channel count, kernel or output size that disagrees at run
///   time is a [`ShapeError`].
pub fn conv2d<B, C, H, W, O, K, OH, OW, E>(
    x: &Tensor<(B, C, H, W), E>,
    weight: &Tensor<(O, C, K, K), E>,
    bias: Option<&Tensor<(O,), E>>,
    spec: Conv2dSpec,
) -> Result<Tensor<(B, O, OH, OW), E>, ShapeError>
where
    B: Dim,
    C: Dim,
    H: Dim,
    W: Dim,
    O: Dim,
    K: Dim,
    OH: Dim,
    OW: Dim,
    E: Element,
{
    let g = geometry(x.dims(), weight.dims(), spec)?;
    let shape = output_shape(x.shape().0, weight.shape().0, g.out_height, g.out_width)?;
    let mut y = Tensor::zeros(shape);
    conv2d_into(x, weight, bias, spec, &mut y, &mut Vec::new())?;
    Ok(y)
}

/// [`conv2d`] writing into `y` (resized if needed). `cols` is the im2col buffer: it grows to
/// `C·K·K · OH·OW` elements the first time and is reused after, so a training step that keeps
/// it allocates nothing.
pub fn conv2d_into<B, C, H, W, O, K, OH, OW, E>(
    x: &Tensor<(B, C, H, W), E>,
    weight: &Tensor<(O, C, K, K), E>,
    bias: Option<&Tensor<(O,), E>>,
    spec: Conv2dSpec,
    y: &mut Tensor<(B, O, OH, OW), E>,
    cols: &mut Vec<E>,
) -> Result<(), ShapeError>
where
    B: Dim,
    C: Dim,
    H: Dim,
    W: Dim,
    O: Dim,
    K: Dim,
    OH: Dim,
    OW: Dim,
    E: Element,
{
    let g = geometry(x.dims(), weight.dims(), spec)?;
    if let Some(bias) = bias {
        runtime(
            "conv2d bias length and output channels",
            bias.numel(),
            g.out_channels,
        )?;
    }
    let shape = output_shape(x.shape().0, weight.shape().0, g.out_height, g.out_width)?;
    y.resize_to(shape);
    forward_slices(
        &g,
        x.as_slice(),
        weight.as_slice(),
        bias.map(|b| b.as_slice()),
        y.as_slice_mut(),
        cols,
    );
    Ok(())
}

/// The forward of [`conv2d`] on row-major buffers of checked sizes (also used by the
/// `Conv2d` layer, which keeps its input with runtime spatial sizes).
pub(crate) fn forward_slices<E: Element>(
    g: &ConvGeometry,
    x: &[E],
    weight: &[E],
    bias: Option<&[E]>,
    y: &mut [E],
    cols: &mut Vec<E>,
) {
    let (image, out_image) = (
        g.in_channels * g.height * g.width,
        g.out_channels * g.pixels(),
    );
    let w = MatRef::row_major(weight, g.out_channels, g.patch());
    for (xb, yb) in x
        .chunks_exact(image.max(1))
        .zip(y.chunks_exact_mut(out_image.max(1)))
        .take(g.batch)
    {
        let patches = patches_of(g, xb, cols);
        gemm(
            w,
            MatRef::row_major(patches, g.patch(), g.pixels()),
            MatMut::row_major(yb, g.out_channels, g.pixels()),
            false,
        );
        if let Some(bias) = bias {
            for (row, &b) in yb.chunks_exact_mut(g.pixels().max(1)).zip(bias) {
                row.iter_mut().for_each(|v| *v += b);
            }
        }
    }
}

/// [`conv2d_backward_params`] on row-major buffers of checked sizes.
pub(crate) fn backward_params_slices<E: Element>(
    g: &ConvGeometry,
    x: &[E],
    dy: &[E],
    dweight: &mut [E],
    mut dbias: Option<&mut [E]>,
    cols: &mut Vec<E>,
) {
    let (image, out_image) = (
        g.in_channels * g.height * g.width,
        g.out_channels * g.pixels(),
    );
    let pixels = g.pixels().max(1);
    for (xb, dyb) in x
        .chunks_exact(image.max(1))
        .zip(dy.chunks_exact(out_image.max(1)))
        .take(g.batch)
    {
        let patches = patches_of(g, xb, cols);
        gemm(
            MatRef::row_major(dyb, g.out_channels, g.pixels()),
            MatRef::row_major(patches, g.patch(), g.pixels()).t(),
            MatMut::row_major(dweight, g.out_channels, g.patch()),
            true,
        );
        if let Some(db) = dbias.as_deref_mut() {
            for (acc, row) in db.iter_mut().zip(dyb.chunks_exact(pixels)) {
                *acc += row.iter().copied().sum::<E>();
            }
        }
    }
}

/// [`conv2d_backward_input_into`] on row-major buffers of checked sizes.
pub(crate) fn backward_input_slices<E: Element>(
    g: &ConvGeometry,
    weight: &[E],
    dy: &[E],
    dx: &mut [E],
    cols: &mut Vec<E>,
) {
    let (image, out_image) = (
        g.in_channels * g.height * g.width,
        g.out_channels * g.pixels(),
    );
    let wt = MatRef::row_major(weight, g.out_channels, g.patch()).t();
    if g.is_pointwise() {
        // The patch matrix is the image itself, so Wᵀ·dY_b is dx_b directly.
        for (dxb, dyb) in dx
            .chunks_exact_mut(image.max(1))
            .zip(dy.chunks_exact(out_image.max(1)))
            .take(g.batch)
        {
            gemm(
                wt,
                MatRef::row_major(dyb, g.out_channels, g.pixels()),
                MatMut::row_major(dxb, g.patch(), g.pixels()),
                false,
            );
        }
        return;
    }
    dx.fill(E::zero());
    let len = g.patch() * g.pixels();
    if cols.len() < len {
        cols.resize(len, E::zero());
    }
    for (dxb, dyb) in dx
        .chunks_exact_mut(image.max(1))
        .zip(dy.chunks_exact(out_image.max(1)))
        .take(g.batch)
    {
        gemm(
            wt,
            MatRef::row_major(dyb, g.out_channels, g.pixels()),
            MatMut::row_major(&mut cols[..len], g.patch(), g.pixels()),
            false,
        );
        col2im(g, &cols[..len], dxb);
    }
}

/// The patch matrix of one image: the image itself for a pointwise kernel, else im2col into
/// `cols`.
fn patches_of<'a, E: Element>(g: &ConvGeometry, image: &'a [E], cols: &'a mut Vec<E>) -> &'a [E] {
    if g.is_pointwise() {
        return image;
    }
    let len = g.patch() * g.pixels();
    if cols.len() < len {
        cols.resize(len, E::zero());
    }
    im2col(g, image, &mut cols[..len]);
    &cols[..len]
}

/// Copies the patches of one `[C, H, W]` image into `cols`, `[C·K·K, OH·OW]`: row
/// `(c, p, q)` holds, for every output pixel `(i, j)`, the input pixel `x̃[c, i·s + p·d,
/// j·s + q·d]` (0 in the padding).
fn im2col<E: Element>(g: &ConvGeometry, image: &[E], cols: &mut [E]) {
    let (k, s, pad, d) = (g.kernel, g.spec.stride, g.spec.padding, g.spec.dilation);
    let (h, w, oh, ow) = (g.height, g.width, g.out_height, g.out_width);
    let mut rows = cols.chunks_exact_mut((oh * ow).max(1));
    for c in 0..g.in_channels {
        let plane = &image[c * h * w..(c + 1) * h * w];
        for p in 0..k {
            for q in 0..k {
                let row = rows.next().expect("cols has C·K·K rows");
                for i in 0..oh {
                    let out = &mut row[i * ow..(i + 1) * ow];
                    // Input row of this output row and tap, in padded coordinates.
                    let r = i * s + p * d;
                    if r < pad || r - pad >= h {
                        out.fill(E::zero());
                        continue;
                    }
                    let line = &plane[(r - pad) * w..(r - pad + 1) * w];
                    for (j, o) in out.iter_mut().enumerate() {
                        let col = j * s + q * d;
                        *o = if col < pad || col - pad >= w {
                            E::zero()
                        } else {
                            line[col - pad]
                        };
                    }
                }
            }
        }
    }
}

/// The reverse of [`im2col`]: adds every entry of `cols` onto the pixel of `image` it was
/// copied from (entries from the padding are dropped). `image` must be zeroed by the caller
/// before the first call.
fn col2im<E: Element>(g: &ConvGeometry, cols: &[E], image: &mut [E]) {
    let (k, s, pad, d) = (g.kernel, g.spec.stride, g.spec.padding, g.spec.dilation);
    let (h, w, oh, ow) = (g.height, g.width, g.out_height, g.out_width);
    let mut rows = cols.chunks_exact((oh * ow).max(1));
    for c in 0..g.in_channels {
        let plane = &mut image[c * h * w..(c + 1) * h * w];
        for p in 0..k {
            for q in 0..k {
                let row = rows.next().expect("cols has C·K·K rows");
                for i in 0..oh {
                    let r = i * s + p * d;
                    if r < pad || r - pad >= h {
                        continue;
                    }
                    let line = &mut plane[(r - pad) * w..(r - pad + 1) * w];
                    for (j, &v) in row[i * ow..(i + 1) * ow].iter().enumerate() {
                        let col = j * s + q * d;
                        if col >= pad && col - pad < w {
                            line[col - pad] += v;
                        }
                    }
                }
            }
        }
    }
}

fn check_dy(g: &ConvGeometry, dy: &[usize]) -> Result<(), ShapeError> {
    let want = [g.batch, g.out_channels, g.out_height, g.out_width];
    if dy == want {
        Ok(())
    } else {
        Err(ShapeError::Shape {
            expected: format!("{} (the output of conv2d)", fmt_dims(&want)),
            found: fmt_dims(dy),
        })
    }
}

/// Backward of [`conv2d`] for the parameters, **adding** into `dweight` and `dbias`:
/// `dW += Σ_b dY_b · cols_bᵀ` (`[O, OH·OW]·[OH·OW, C·K·K]`) and `dbias[o] += Σ_{b,i,j}
/// dy[b, o, i, j]`. `cols` is the reused im2col buffer, as in [`conv2d_into`].
pub fn conv2d_backward_params<B, C, H, W, O, K, OH, OW, E>(
    x: &Tensor<(B, C, H, W), E>,
    dy: &Tensor<(B, O, OH, OW), E>,
    spec: Conv2dSpec,
    dweight: &mut Tensor<(O, C, K, K), E>,
    dbias: Option<&mut Tensor<(O,), E>>,
    cols: &mut Vec<E>,
) -> Result<(), ShapeError>
where
    B: Dim,
    C: Dim,
    H: Dim,
    W: Dim,
    O: Dim,
    K: Dim,
    OH: Dim,
    OW: Dim,
    E: Element,
{
    let g = geometry(x.dims(), dweight.dims(), spec)?;
    check_dy(&g, dy.dims())?;
    if let Some(db) = &dbias {
        runtime(
            "conv2d bias length and output channels",
            db.numel(),
            g.out_channels,
        )?;
    }
    backward_params_slices(
        &g,
        x.as_slice(),
        dy.as_slice(),
        dweight.as_slice_mut(),
        dbias.map(|d| d.as_slice_mut()),
        cols,
    );
    Ok(())
}

/// Backward of [`conv2d`] for the input, written into `dx` (resized to `input_shape`):
/// `dx_b = col2im(Wᵀ · dY_b)`. The input's sizes are passed because a strided convolution
/// maps several input sizes to the same output size. `cols` is the reused buffer for `Wᵀ·dY_b`.
pub fn conv2d_backward_input_into<B, C, H, W, O, K, OH, OW, E>(
    weight: &Tensor<(O, C, K, K), E>,
    dy: &Tensor<(B, O, OH, OW), E>,
    spec: Conv2dSpec,
    input_shape: (B, C, H, W),
    dx: &mut Tensor<(B, C, H, W), E>,
    cols: &mut Vec<E>,
) -> Result<(), ShapeError>
where
    B: Dim,
    C: Dim,
    H: Dim,
    W: Dim,
    O: Dim,
    K: Dim,
    OH: Dim,
    OW: Dim,
    E: Element,
{
    let g = geometry(&input_shape.dims(), weight.dims(), spec)?;
    check_dy(&g, dy.dims())?;
    dx.resize_to(input_shape);
    backward_input_slices(
        &g,
        weight.as_slice(),
        dy.as_slice(),
        dx.as_slice_mut(),
        cols,
    );
    Ok(())
}

/// Backward of [`conv2d`], allocating: `(dx, dweight, dbias)` for the upstream gradient `dy`.
#[allow(clippy::type_complexity)]
pub fn conv2d_backward<B, C, H, W, O, K, OH, OW, E>(
    x: &Tensor<(B, C, H, W), E>,
    weight: &Tensor<(O, C, K, K), E>,
    dy: &Tensor<(B, O, OH, OW), E>,
    spec: Conv2dSpec,
) -> Result<
    (
        Tensor<(B, C, H, W), E>,
        Tensor<(O, C, K, K), E>,
        Tensor<(O,), E>,
    ),
    ShapeError,
>
where
    B: Dim,
    C: Dim,
    H: Dim,
    W: Dim,
    O: Dim,
    K: Dim,
    OH: Dim,
    OW: Dim,
    E: Element,
{
    let mut cols = Vec::new();
    let mut dweight = Tensor::zeros(weight.shape());
    let mut dbias = Tensor::zeros((weight.shape().0,));
    conv2d_backward_params(x, dy, spec, &mut dweight, Some(&mut dbias), &mut cols)?;
    let mut dx = Tensor::zeros(x.shape());
    conv2d_backward_input_into(weight, dy, spec, x.shape(), &mut dx, &mut cols)?;
    Ok((dx, dweight, dbias))
}
