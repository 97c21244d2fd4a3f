//! 2-d convolution over NCHW images, as PyTorch's `F.conv2d`: [`conv2d`] and its backward.
//!
//! The convolution is computed as **im2col + GEMM**: for each image the input patches the
//! kernel visits are copied into the columns of a matrix (`cols`, one column per output pixel),
//! and the whole convolution of that image becomes one matrix product with the weight seen as
//! an `[O, C·K·K]` matrix. The backward uses the same matrix, read the other way: the weight
//! gradient is a product with `colsᵀ`, and the input gradient is a product with `Wᵀ` followed
//! by **col2im**, which adds every column back onto the pixels it was copied from.

mod direct;

use crate::element::Element;
use crate::error::ShapeError;
use crate::gemm::threads::num_threads;
use crate::gemm::timer::{Part, timed_part};
use crate::gemm::{MatMut, MatRef, gemm};
use crate::parallel::for_each_part;
use crate::shape::{Dim, Shape, fmt_dims};
use crate::tensor::Tensor;
use crate::widest::widest;

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
    pub(crate) fn patch(&self) -> usize {
        self.in_channels * self.kernel * self.kernel
    }
    /// Output pixels per image: `OH·OW`.
    fn pixels(&self) -> usize {
        self.out_height * self.out_width
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

/// The patches of this many elements at most are built at a time: each part of the batch is
/// processed in blocks of images whose patch matrix and product stay in the core's cache (a
/// whole batch's patch matrix is megabytes, and streaming it through memory cost more than the
/// arithmetic).
const BLOCK_ELEMENTS: usize = 320 * 1024;

/// Convolutions with fewer multiply-adds than this run on one thread.
const PARALLEL_WORK: usize = 1 << 20;

/// How the batch is shared out: `parts` runs of `per_part` whole images, one per thread, each
/// with its own workspace of `workspace` elements, processed in blocks of `block` images.
/// Splitting once per call by images (rather than inside every product and copy) gives each
/// thread long independent work: a product and its im2col and col2im stay on one core.
#[derive(Clone, Copy)]
struct Plan {
    parts: usize,
    per_part: usize,
    block: usize,
    workspace: usize,
}

fn plan(g: &ConvGeometry) -> Plan {
    let per_image = (g.pixels() * g.patch()).max(1);
    let work = g.batch * g.out_channels * per_image;
    let parts = if work < PARALLEL_WORK {
        1
    } else {
        num_threads().clamp(1, g.batch.max(1))
    };
    let per_part = g.batch.div_ceil(parts).max(1);
    let block = (BLOCK_ELEMENTS / per_image).clamp(1, per_part);
    let pixels = block * g.pixels();
    let workspace =
        g.patch() * pixels + g.out_channels * pixels + g.out_channels * g.patch() + g.out_channels;
    Plan {
        parts,
        per_part,
        block,
        workspace,
    }
}

/// One part's workspace, for a block of `n` images:
///
/// - `patches`: the im2col matrix `[C·K·K, n·OH·OW]`: column `m` is the kernel window of output
///   pixel `m` (image by image, row-major within an image), row `(c, p, q)` is one kernel tap
///   across all those windows. Built from runs of `OW` consecutive input pixels, it is cheap to
///   fill; the convolution is then one product `W·patches`.
/// - `outputs`: `[O, n·OH·OW]`, the product (forward), or `dy` in that layout (backward).
/// - `dw`, `db`: the part's weight gradient, transposed (`[C·K·K, O]`), and bias gradient,
///   summed over the parts at the end.
struct Workspace<'a, E> {
    patches: &'a mut [E],
    outputs: &'a mut [E],
    dw: &'a mut [E],
    db: &'a mut [E],
}

fn workspace<'a, E>(g: &ConvGeometry, plan: &Plan, buffer: &'a mut [E]) -> Workspace<'a, E> {
    let pixels = plan.block * g.pixels();
    let (patches, rest) = buffer.split_at_mut(g.patch() * pixels);
    let (outputs, rest) = rest.split_at_mut(g.out_channels * pixels);
    let (dw, rest) = rest.split_at_mut(g.out_channels * g.patch());
    Workspace {
        patches,
        outputs,
        dw,
        db: &mut rest[..g.out_channels],
    }
}

/// The buffer grown to `len` elements, the parts' workspaces (it never shrinks, so a step
/// allocates only the first time).
fn reserve<E: Element>(buffer: &mut Vec<E>, len: usize) {
    if buffer.len() < len {
        buffer.resize(len, E::zero());
    }
}

/// The blocks of a part's images: `(first image within the part, count)`.
fn blocks(images: usize, block: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..images)
        .step_by(block.max(1))
        .map(move |first| (first, block.min(images - first)))
}

/// The forward of [`conv2d`] on row-major buffers of checked sizes, part by part of the batch:
/// image by image on the direct path ([`direct`], few taps), otherwise block by block of
/// images: im2col, one product `W·patches` (`[O, C·K·K]·[C·K·K, n·OH·OW]`), and each image's
/// columns copied into its `[O, OH, OW]` place in `y` with the bias added.
pub(crate) fn forward_slices<E: Element>(
    g: &ConvGeometry,
    x: &[E],
    weight: &[E],
    bias: Option<&[E]>,
    y: &mut [E],
    buffer: &mut Vec<E>,
) {
    timed_part(Part::Convolution, || {
        forward_untimed(g, x, weight, bias, y, buffer)
    });
}

fn forward_untimed<E: Element>(
    g: &ConvGeometry,
    x: &[E],
    weight: &[E],
    bias: Option<&[E]>,
    y: &mut [E],
    buffer: &mut Vec<E>,
) {
    let plan = plan(g);
    let (o_count, image_pixels, patch) = (g.out_channels, g.pixels(), g.patch());
    let (image_in, image_out) = (g.in_channels * g.height * g.width, o_count * image_pixels);
    if direct::applies(g) {
        let workspace = direct::workspace(g);
        reserve(buffer, plan.parts * workspace);
        for_each_part(
            plan.parts,
            y,
            plan.per_part * image_out,
            buffer,
            workspace,
            &|part, y_part, scratch| {
                let x_part = &x[(part * plan.per_part * image_in).min(x.len())..];
                for (y_image, x_image) in y_part
                    .chunks_exact_mut(image_out.max(1))
                    .zip(x_part.chunks_exact(image_in.max(1)))
                {
                    direct::forward_image(g, x_image, weight, bias, y_image, scratch);
                }
            },
        );
        return;
    }
    reserve(buffer, plan.parts * plan.workspace);
    for_each_part(
        plan.parts,
        y,
        plan.per_part * image_out,
        buffer,
        plan.workspace,
        &|part, y_part, scratch| {
            let ws = workspace(g, &plan, scratch);
            let x_part = &x[(part * plan.per_part * image_in).min(x.len())..];
            let images = y_part.len() / image_out.max(1);
            for (first, count) in blocks(images, plan.block) {
                let columns = count * image_pixels;
                let patches = &mut ws.patches[..patch * columns];
                im2col(
                    g,
                    &x_part[first * image_in..][..count * image_in],
                    count,
                    patches,
                );
                let outputs = &mut ws.outputs[..o_count * columns];
                gemm(
                    MatRef::row_major(weight, o_count, patch),
                    MatRef::row_major(patches, patch, columns),
                    MatMut::row_major(outputs, o_count, columns),
                    false,
                );
                let y_block = &mut y_part[first * image_out..][..count * image_out];
                for (k, plane) in y_block.chunks_exact_mut(image_pixels.max(1)).enumerate() {
                    // Plane `k` of the block is image `n`, channel `o`.
                    let (n, o) = (k / o_count, k % o_count);
                    let src = &outputs[o * columns + n * image_pixels..][..image_pixels];
                    let shift = bias.map_or(E::zero(), |bias| bias[o]);
                    for (v, &s) in plane.iter_mut().zip(src) {
                        *v = s + shift;
                    }
                }
            }
        },
    );
}

/// `dy` of a block of `count` images (NCHW) laid out as `[O, n·OH·OW]`, the layout of the
/// forward's product.
fn gather_dy<E: Element>(g: &ConvGeometry, dy: &[E], count: usize, outputs: &mut [E]) {
    let image_pixels = g.pixels();
    let columns = (count * image_pixels).max(1);
    for (o, row) in outputs.chunks_exact_mut(columns).enumerate() {
        for (n, dst) in row.chunks_exact_mut(image_pixels.max(1)).enumerate() {
            dst.copy_from_slice(&dy[(n * g.out_channels + o) * image_pixels..][..image_pixels]);
        }
    }
}

/// The backward of [`conv2d`] on row-major buffers of checked sizes, part by part of the batch
/// and block by block of images (im2col is redone per block rather than kept from the forward:
/// rebuilding it in cache is cheaper than reading a whole batch's patches back from memory):
///
/// - parameters, when `dweight` is given: `dWᵀ += patches·dYᵀ` (`[C·K·K, n·OH·OW]·[n·OH·OW,
///   O]`, `dY` being `dy` in the `[O, n·OH·OW]` layout: the long sum runs along the rows of
///   both operands, a shape the GEMM runs 1.5× faster than `dY·patchesᵀ`), `dbias += ` the row
///   sums of `dY`; each part sums its own images, and the parts' sums are added at the end;
/// - input, when `dx` is given: the patch gradient `Wᵀ·dY` (`[C·K·K, O]·[O, n·OH·OW]`), added
///   back onto the pixels its patches came from (col2im).
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward_slices<E: Element>(
    g: &ConvGeometry,
    x: &[E],
    weight: &[E],
    dy: &[E],
    dweight: Option<&mut [E]>,
    dbias: Option<&mut [E]>,
    dx: Option<&mut [E]>,
    buffer: &mut Vec<E>,
) {
    timed_part(Part::Convolution, || {
        backward_untimed(g, x, weight, dy, dweight, dbias, dx, buffer)
    });
}

#[allow(clippy::too_many_arguments)]
fn backward_untimed<E: Element>(
    g: &ConvGeometry,
    x: &[E],
    weight: &[E],
    dy: &[E],
    dweight: Option<&mut [E]>,
    dbias: Option<&mut [E]>,
    dx: Option<&mut [E]>,
    buffer: &mut Vec<E>,
) {
    if dweight.is_some() && direct::applies(g) {
        direct_backward_params(g, x, dy, dweight, dbias, buffer);
        if dx.is_some() {
            backward_untimed(g, x, weight, dy, None, None, dx, buffer);
        }
        return;
    }
    let plan = plan(g);
    reserve(buffer, plan.parts * plan.workspace);
    let (o_count, image_pixels, patch) = (g.out_channels, g.pixels(), g.patch());
    let (image_in, image_out) = (g.in_channels * g.height * g.width, o_count * image_pixels);
    let params = dweight.is_some();
    let (dx, dx_per_part): (&mut [E], usize) = match dx {
        Some(dx) => (dx, plan.per_part * image_in),
        None => (&mut [], 0),
    };
    let with_dx = dx_per_part > 0;
    for_each_part(
        plan.parts,
        dx,
        dx_per_part,
        &mut buffer[..],
        plan.workspace,
        &|part, dx_part, scratch| {
            let ws = workspace(g, &plan, scratch);
            ws.dw.fill(E::zero());
            ws.db.fill(E::zero());
            let first_image = part * plan.per_part;
            let images = plan.per_part.min(g.batch.saturating_sub(first_image));
            for (first, count) in blocks(images, plan.block) {
                let image = first_image + first;
                let columns = count * image_pixels;
                let outputs = &mut ws.outputs[..o_count * columns];
                gather_dy(
                    g,
                    &dy[image * image_out..][..count * image_out],
                    count,
                    outputs,
                );
                let patches = &mut ws.patches[..patch * columns];
                if params {
                    im2col(
                        g,
                        &x[image * image_in..][..count * image_in],
                        count,
                        patches,
                    );
                    gemm(
                        MatRef::row_major(patches, patch, columns),
                        MatRef::row_major(outputs, o_count, columns).t(),
                        MatMut::row_major(ws.dw, patch, o_count),
                        true,
                    );
                    for (acc, row) in ws.db.iter_mut().zip(outputs.chunks_exact(columns.max(1))) {
                        *acc += row.iter().copied().sum::<E>();
                    }
                }
                if with_dx {
                    gemm(
                        MatRef::row_major(weight, o_count, patch).t(),
                        MatRef::row_major(outputs, o_count, columns),
                        MatMut::row_major(patches, patch, columns),
                        false,
                    );
                    col2im(
                        g,
                        patches,
                        count,
                        &mut dx_part[first * image_in..][..count * image_in],
                    );
                }
            }
        },
    );
    let (mut dweight, mut dbias) = (dweight, dbias);
    for part in buffer
        .chunks_exact_mut(plan.workspace.max(1))
        .take(plan.parts)
    {
        let ws = workspace(g, &plan, part);
        if let Some(dw) = dweight.as_deref_mut() {
            for (r, row) in ws.dw.chunks_exact(o_count.max(1)).enumerate() {
                for (o, &v) in row.iter().enumerate() {
                    dw[o * patch + r] += v;
                }
            }
        }
        if let Some(db) = dbias.as_deref_mut() {
            for (acc, &v) in db.iter_mut().zip(ws.db.iter()) {
                *acc += v;
            }
        }
    }
}

/// The parameter gradients of [`backward_slices`] by the direct path ([`direct`]): each part
/// of the batch sums its images' gradients in its own workspace (the padded image, then `dW`
/// and `dbias`), and the parts' sums are added at the end, in part order.
fn direct_backward_params<E: Element>(
    g: &ConvGeometry,
    x: &[E],
    dy: &[E],
    dweight: Option<&mut [E]>,
    dbias: Option<&mut [E]>,
    buffer: &mut Vec<E>,
) {
    let plan = plan(g);
    let (o_count, patch) = (g.out_channels, g.patch());
    let (image_in, image_out) = (g.in_channels * g.height * g.width, o_count * g.pixels());
    let image = direct::backward_workspace(g);
    let workspace = image + o_count * patch + o_count;
    reserve(buffer, plan.parts * workspace);
    for_each_part::<E, E>(
        plan.parts,
        &mut [],
        0,
        &mut buffer[..],
        workspace,
        &|part, _, scratch| {
            let (padded, sums) = scratch.split_at_mut(image);
            let (dw, db) = sums.split_at_mut(o_count * patch);
            dw.fill(E::zero());
            db.fill(E::zero());
            let first = (part * plan.per_part).min(g.batch);
            let images = plan.per_part.min(g.batch - first);
            for n in first..first + images {
                let x_image = &x[n * image_in..(n + 1) * image_in];
                let dy_image = &dy[n * image_out..(n + 1) * image_out];
                direct::backward_params_image(g, x_image, dy_image, dw, db, padded);
            }
        },
    );
    let (mut dweight, mut dbias) = (dweight, dbias);
    for part in buffer.chunks_exact(workspace).take(plan.parts) {
        let (dw, db) = part[image..].split_at(o_count * patch);
        if let Some(total) = dweight.as_deref_mut() {
            for (t, &v) in total.iter_mut().zip(dw) {
                *t += v;
            }
        }
        if let Some(total) = dbias.as_deref_mut() {
            for (t, &v) in total.iter_mut().zip(db) {
                *t += v;
            }
        }
    }
}

/// `a / s`, without the division for the common stride 1 (these bounds are computed for
/// every tap of every plane, and a division costs more than the short copy it bounds).
#[inline(always)]
fn over_stride(a: usize, s: usize) -> usize {
    if s == 1 { a } else { a / s }
}

/// The outputs `k0..k1` along one axis whose tap at `offset` reads inside an input of `size`
/// (output `k` reads padded position `k·s + offset`); the others read padding.
#[inline(always)]
fn taps_inside(offset: usize, s: usize, pad: usize, size: usize, out: usize) -> (usize, usize) {
    let k0 = over_stride(pad.saturating_sub(offset) + s - 1, s).min(out);
    let k1 = if size + pad > offset {
        (over_stride(size + pad - offset - 1, s) + 1).min(out)
    } else {
        0
    };
    (k0, k1.max(k0))
}

/// The output columns `j0..j1` of tap `q` that read inside the image (column `j` reads padded
/// column `j·s + q·d`); the others read padding.
#[inline(always)]
fn inside(g: &ConvGeometry, q: usize) -> (usize, usize) {
    let s = g.spec.stride;
    taps_inside(q * g.spec.dilation, s, g.spec.padding, g.width, g.out_width)
}

/// The output rows `i0..i1` of kernel row `p` that read inside the image (row `i` reads padded
/// row `i·s + p·d`); the others read padding.
#[inline(always)]
fn rows_inside(g: &ConvGeometry, p: usize) -> (usize, usize) {
    let s = g.spec.stride;
    taps_inside(
        p * g.spec.dilation,
        s,
        g.spec.padding,
        g.height,
        g.out_height,
    )
}

/// im2col of `count` images: row `(c, p, q)` of `patches` (`[C·K·K, n·OH·OW]`) holds, at
/// column `b·OH·OW + i·OW + j`, the input pixel `x̃[b, c, i·s + p·d, j·s + q·d]` (0 in the
/// padding). Each output row `i` of a tap is one run of `OW` input pixels (contiguous when
/// the stride is 1), so the matrix is filled by short copies whose bounds are worked out once
/// per tap, not per pixel. Compiled for the widest vectors the CPU has (through `pulp`): the
/// runs are 10 to 30 values, and 4-wide copies took twice as long as 8-wide ones.
fn im2col<E: Element>(g: &ConvGeometry, x: &[E], count: usize, patches: &mut [E]) {
    timed_part(Part::Patches, || {
        widest(
            #[inline(always)]
            || im2col_taps(g, x, count, patches),
        )
    });
}

#[inline(always)]
fn im2col_taps<E: Element>(g: &ConvGeometry, x: &[E], count: usize, patches: &mut [E]) {
    let (k, s, pad, d) = (g.kernel, g.spec.stride, g.spec.padding, g.spec.dilation);
    let (h, w, ow) = (g.height, g.width, g.out_width);
    let (image_pixels, image_len, plane_len) = (g.pixels(), g.in_channels * h * w, h * w);
    let columns = (count * image_pixels).max(1);
    for (r, row) in patches.chunks_exact_mut(columns).enumerate() {
        let (c, p, q) = (r / (k * k), (r / k) % k, r % k);
        let (i0, i1) = rows_inside(g, p);
        let (j0, j1) = inside(g, q);
        let run = j1 - j0;
        let padded = j0 > 0 || j1 < ow;
        if i0 == i1 || j0 == j1 {
            row.fill(E::zero());
            continue;
        }
        // The first pixel read, at output row `i0`, column `j0` (inside the image by
        // construction); each next output row reads `s` input rows further.
        let first = (i0 * s + p * d - pad) * w + j0 * s + q * d - pad;
        for (n, image_row) in row.chunks_exact_mut(image_pixels.max(1)).enumerate() {
            let plane = &x[n * image_len + c * plane_len..][..plane_len];
            image_row[..i0 * ow].fill(E::zero());
            image_row[i1 * ow..].fill(E::zero());
            // Offsets by hand, as in col2im.
            for (i, at) in (i0..i1).zip((first..).step_by(w * s)) {
                let out = &mut image_row[i * ow..(i + 1) * ow];
                if padded {
                    out[..j0].fill(E::zero());
                    out[j1..].fill(E::zero());
                }
                if s == 1 {
                    copy_run(&mut out[j0..j1], &plane[at..at + run]);
                } else {
                    for (o, &v) in out[j0..j1].iter_mut().zip(plane[at..].iter().step_by(s)) {
                        *o = v;
                    }
                }
            }
        }
    }
}

/// Copies `src[..dst.len()]` into `dst`, for the short runs of im2col (one output row, often
/// 10 to 30 values): in 8-wide blocks the compiler keeps in registers, the last block
/// overlapping the one before. `copy_from_slice` calls the library's `memcpy` for every run,
/// which costs more than the copy at these lengths.
#[inline(always)]
fn copy_run<E: Copy>(dst: &mut [E], src: &[E]) {
    const LANES: usize = 8;
    let n = dst.len();
    let src = &src[..n];
    if (LANES..=2 * LANES).contains(&n) {
        // Two blocks, overlapping unless `n` is 16: the common case (LeNet's second layer
        // copies runs of 10) without a loop.
        if let (Some(d), Some(v)) = (dst.first_chunk_mut::<LANES>(), src.first_chunk::<LANES>()) {
            *d = *v;
        }
        if let (Some(d), Some(v)) = (dst.last_chunk_mut::<LANES>(), src.last_chunk::<LANES>()) {
            *d = *v;
        }
        return;
    }
    if n < LANES {
        for (d, &v) in dst.iter_mut().zip(src) {
            *d = v;
        }
        return;
    }
    let mut at = 0;
    loop {
        let start = at.min(n - LANES);
        let d: &mut [E; LANES] = (&mut dst[start..start + LANES])
            .try_into()
            .expect("LANES elements");
        let v: &[E; LANES] = (&src[start..start + LANES])
            .try_into()
            .expect("LANES elements");
        *d = *v;
        if start + LANES == n {
            return;
        }
        at += LANES;
    }
}

/// The reverse of [`im2col`] for `count` images: `dx` (their `[C, H, W]` planes) is set to the
/// sum of every patch entry added onto the pixel it was copied from (entries from the padding
/// are dropped).
fn col2im<E: Element>(g: &ConvGeometry, patches: &[E], count: usize, dx: &mut [E]) {
    timed_part(Part::Patches, || {
        widest(
            #[inline(always)]
            || col2im_taps(g, patches, count, dx),
        )
    });
}

#[inline(always)]
fn col2im_taps<E: Element>(g: &ConvGeometry, patches: &[E], count: usize, dx: &mut [E]) {
    let (k, s, pad, d) = (g.kernel, g.spec.stride, g.spec.padding, g.spec.dilation);
    let (w, ow) = (g.width, g.out_width);
    let image_pixels = g.pixels();
    let columns = count * image_pixels;
    let plane_len = (g.height * w).max(1);
    for (m, plane) in dx.chunks_exact_mut(plane_len).enumerate() {
        let (n, c) = (m / g.in_channels, m % g.in_channels);
        plane.fill(E::zero());
        for p in 0..k {
            let (i0, i1) = rows_inside(g, p);
            for q in 0..k {
                let (j0, j1) = inside(g, q);
                if i0 == i1 || j0 == j1 {
                    continue;
                }
                let r = (c * k + p) * k + q;
                let src = &patches[r * columns + n * image_pixels..][..image_pixels];
                // As in im2col: output row `i0`, column `j0` reads this pixel first.
                let first = (i0 * s + p * d - pad) * w + j0 * s + q * d - pad;
                // Offsets by hand: chunk iterators divide to find their lengths, and a
                // division per tap cost more than the additions it bounds.
                for (i, at) in (i0..i1).zip((first..).step_by(w * s)) {
                    let run = &src[i * ow + j0..i * ow + j1];
                    if s == 1 {
                        add_run(&mut plane[at..at + run.len()], run);
                    } else {
                        for (t, &v) in plane[at..].iter_mut().step_by(s).zip(run) {
                            *t += v;
                        }
                    }
                }
            }
        }
    }
}

/// `dst += src`, elementwise, in 8-wide blocks and a scalar tail (blocks cannot overlap, as
/// in [`copy_run`], for a sum).
#[inline(always)]
fn add_run<E: Element>(dst: &mut [E], src: &[E]) {
    const LANES: usize = 8;
    let n = dst.len();
    let (src, full) = (&src[..n], n - n % LANES);
    for (d, v) in dst[..full]
        .chunks_exact_mut(LANES)
        .zip(src[..full].chunks_exact(LANES))
    {
        let (d, v): (&mut [E; LANES], &[E; LANES]) = (
            d.try_into().expect("LANES elements"),
            v.try_into().expect("LANES elements"),
        );
        // Whole blocks loaded, added and stored: the compiler turns this into one vector
        // addition (adding in place element by element it kept scalar).
        let mut sum = *d;
        for (t, &x) in sum.iter_mut().zip(v) {
            *t += x;
        }
        *d = sum;
    }
    for (t, &x) in dst[full..].iter_mut().zip(&src[full..]) {
        *t += x;
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
    backward_slices(
        &g,
        x.as_slice(),
        &[],
        dy.as_slice(),
        Some(dweight.as_slice_mut()),
        dbias.map(|d| d.as_slice_mut()),
        None,
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
    backward_slices(
        &g,
        &[],
        weight.as_slice(),
        dy.as_slice(),
        None,
        None,
        Some(dx.as_slice_mut()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::Dyn;

    type D4 = (Dyn, Dyn, Dyn, Dyn);

    /// The six loops of the definition, in f64: `y` and the three gradients for `dy`.
    #[allow(clippy::type_complexity)]
    fn six_loops(
        x: &Tensor<D4, f64>,
        w: &Tensor<D4, f64>,
        dy: &[f64],
        spec: Conv2dSpec,
        (oh, ow): (usize, usize),
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let ([b, c, h, wd], [o, _, k, _]) = (
            <[usize; 4]>::try_from(x.dims()).unwrap(),
            <[usize; 4]>::try_from(w.dims()).unwrap(),
        );
        let (xs, ws) = (x.as_slice(), w.as_slice());
        let (mut y, mut dx, mut dw) = (
            vec![0.0; b * o * oh * ow],
            vec![0.0; xs.len()],
            vec![0.0; ws.len()],
        );
        for (n, oc, i, j) in (0..b).flat_map(|n| {
            (0..o)
                .flat_map(move |oc| (0..oh).flat_map(move |i| (0..ow).map(move |j| (n, oc, i, j))))
        }) {
            let out = ((n * o + oc) * oh + i) * ow + j;
            for (ci, p, q) in
                (0..c).flat_map(|ci| (0..k).flat_map(move |p| (0..k).map(move |q| (ci, p, q))))
            {
                let (yy, xx) = (
                    i * spec.stride + p * spec.dilation,
                    j * spec.stride + q * spec.dilation,
                );
                if yy < spec.padding
                    || xx < spec.padding
                    || yy - spec.padding >= h
                    || xx - spec.padding >= wd
                {
                    continue;
                }
                let at = ((n * c + ci) * h + yy - spec.padding) * wd + xx - spec.padding;
                let tap = ((oc * c + ci) * k + p) * k + q;
                y[out] += ws[tap] * xs[at];
                dx[at] += ws[tap] * dy[out];
                dw[tap] += xs[at] * dy[out];
            }
        }
        (y, dx, dw)
    }

    /// Both paths against the definition: im2col, the product and col2im on images wide
    /// enough for the runs of every copy path (under 8, 8 to 16, over 16 values), with
    /// padding, stride and dilation, across several blocks of images; the direct path with a
    /// ragged block of output channels and rows whose last block overlaps (or not).
    #[test]
    fn im2col_and_col2im_match_the_six_loops() {
        let value = |i: usize, m: usize| ((i * m) % 101) as f64 / 50.0 - 1.0;
        // (size, channels, kernel, spec): im2col's path, then the direct path (few taps, rows
        // of 16 or more outputs: LeNet's first layer, and a width of whole blocks).
        for (size, c, k, spec) in [
            (14, 3, 5, Conv2dSpec::new(1, 0, 1)),
            (21, 3, 3, Conv2dSpec::new(2, 1, 2)),
            (9, 3, 3, Conv2dSpec::new(1, 1, 1)),
            (28, 1, 5, Conv2dSpec::new(1, 2, 1)),
            (22, 3, 3, Conv2dSpec::new(1, 2, 1)),
            (18, 2, 3, Conv2dSpec::new(1, 0, 1)),
        ] {
            let (b, o) = (40, 5);
            let x = Tensor::<D4, f64>::from_vec(
                &[b, c, size, size],
                (0..b * c * size * size).map(|i| value(i, 37)).collect(),
            )
            .unwrap();
            let w = Tensor::<D4, f64>::from_vec(
                &[o, c, k, k],
                (0..o * c * k * k).map(|i| value(i, 13)).collect(),
            )
            .unwrap();
            let y: Tensor<D4, f64> = conv2d(&x, &w, None, spec).unwrap();
            let (oh, ow) = (y.dims()[2], y.dims()[3]);
            let dy_values: Vec<f64> = (0..y.numel()).map(|i| value(i, 29)).collect();
            let dy = Tensor::<D4, f64>::from_vec(y.dims(), dy_values.clone()).unwrap();
            let (dx, dw, _) = conv2d_backward(&x, &w, &dy, spec).unwrap();
            let (want_y, want_dx, want_dw) = six_loops(&x, &w, &dy_values, spec, (oh, ow));
            for (what, got, want) in [
                ("y", y.as_slice(), &want_y),
                ("dx", dx.as_slice(), &want_dx),
                ("dw", dw.as_slice(), &want_dw),
            ] {
                let err = got
                    .iter()
                    .zip(want.iter())
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max);
                assert!(
                    err < 1e-10,
                    "{what} for size {size}, k {k}, {spec:?}: off by {err}"
                );
            }
        }
    }
}
