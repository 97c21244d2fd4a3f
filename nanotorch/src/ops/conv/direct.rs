//! Direct convolution, for layers with few taps per output pixel (`C·K·K ≤` [`DIRECT_TAPS`],
//! stride 1, no dilation): LeNet's first layer has one input channel and a 5 × 5 kernel, 25
//! taps. There, im2col copies every input pixel 25 times into a matrix only 25 rows deep, and
//! the product over such a thin matrix spends more time loading and storing than multiplying.
//! Here the window slides over the (zero-padded) image itself:
//!
//! - **Forward:** for a block of [`OB`] output channels and one vector of adjacent output
//!   pixels of a row, the `OB` vectors of sums stay in registers while the `C·K·K` taps go by;
//!   each tap is one load of input pixels and `OB` multiply-adds.
//!   A row whose width is not a multiple of the vector ends with a block that overlaps the
//!   one before it, written twice with the same values.
//! - **Weight gradient:** `dW[o, c, p, q] = Σ_{b, i, j} dy[b, o, i, j] · x̃[b, c, i + p, j + q]`,
//!   one long dot product per tap and channel ([`backward_params_image`]).
//!
//! The input gradient, when needed, stays with im2col's path.

use super::{ConvGeometry, copy_run};
use crate::element::Element;
use crate::gemm::Lane;
use crate::gemm::timer::timed;

/// Layers with at most this many taps per output (`C·K·K`) are convolved directly.
pub(super) const DIRECT_TAPS: usize = 32;
/// Output channels per block: `OB` vector accumulators (a block of pixels is one vector of a
/// row: 16 `f32` with AVX-512), enough independent multiply-adds to keep both FMA units busy.
const OB: usize = 8;
/// The most lanes of a vector on any instruction set (16 `f32` with AVX-512).
const MAX_LANES: usize = 16;

/// Whether the direct path applies to this convolution.
pub(super) fn applies(g: &ConvGeometry) -> bool {
    g.spec.stride == 1
        && g.spec.dilation == 1
        && g.in_channels * g.kernel * g.kernel <= DIRECT_TAPS
        && g.out_width >= MAX_LANES
}

/// Sizes of one zero-padded input image: `(padded height, padded width)`.
fn padded(g: &ConvGeometry) -> (usize, usize) {
    (g.height + 2 * g.spec.padding, g.width + 2 * g.spec.padding)
}

/// Elements of one padded image: `C` planes of `(H + 2·pad) × (W + 2·pad)`, then `K` zeros
/// (the weight gradient reads the last plane as one flat run that starts up to `K − 1` past
/// its last row's start).
fn image_len(g: &ConvGeometry) -> usize {
    let (ph, pw) = padded(g);
    g.in_channels * ph * pw + g.kernel
}

/// Elements of the forward's workspace: the padded image.
pub(super) fn workspace(g: &ConvGeometry) -> usize {
    image_len(g)
}

/// Elements of the weight gradient's workspace: the padded image, then `dy` with its rows
/// widened to the padded width.
pub(super) fn backward_workspace(g: &ConvGeometry) -> usize {
    image_len(g) + g.out_channels * g.out_height * padded(g).1
}

/// Copies image `x` (`[C, H, W]`) into `out` (`[C, H + 2·pad, W + 2·pad]`, then `K` values)
/// inside a border of zeros.
fn pad_image<E: Element>(g: &ConvGeometry, x: &[E], out: &mut [E]) {
    let (pad, w) = (g.spec.padding, g.width);
    let (ph, pw) = padded(g);
    out.fill(E::zero());
    let planes = out.chunks_exact_mut((ph * pw).max(1)).take(g.in_channels);
    for (plane, src) in planes.zip(x.chunks_exact((g.height * w).max(1))) {
        for (row, line) in plane[pad * pw..]
            .chunks_exact_mut(pw)
            .zip(src.chunks_exact(w))
        {
            row[pad..pad + w].copy_from_slice(line);
        }
    }
}

/// Where tap `t = (c, p, q)` of output pixel `(0, 0)` reads in the padded image: pixel
/// `(i, j)` reads `i·PW + j` further. Worked out once per call (divisions per tap cost more
/// than the tap's arithmetic).
fn tap_offsets(g: &ConvGeometry) -> [usize; DIRECT_TAPS] {
    let (k, (ph, pw)) = (g.kernel, padded(g));
    let mut offsets = [0; DIRECT_TAPS];
    for (t, offset) in offsets.iter_mut().enumerate().take(g.patch()) {
        let (c, p, q) = (t / (k * k), (t / k) % k, t % k);
        *offset = (c * ph + p) * pw + q;
    }
    offsets
}

/// The block of a row of `ow` outputs after the one at `j0`, blocks being `width` wide: `0,
/// width, 2·width, …`, and a last block at `ow − width` that overlaps the one before it when
/// `ow` is not a multiple of `width`. `None` after the last.
#[inline(always)]
fn next_block(j0: usize, width: usize, ow: usize) -> Option<usize> {
    let last = ow - width;
    (j0 < last).then(|| (j0 + width).min(last))
}

/// The forward of one image: `y` (`[O, OH, OW]`) = the convolution of `x` (`[C, H, W]`) with
/// `weight` (`[O, C·K·K]`), plus `bias`. `scratch` holds [`workspace`] elements.
pub(super) fn forward_image<E: Element>(
    g: &ConvGeometry,
    x: &[E],
    weight: &[E],
    bias: Option<&[E]>,
    y: &mut [E],
    scratch: &mut [E],
) {
    pad_image(g, x, scratch);
    // Its multiply-adds are this convolution's products (the step timer counts them so).
    timed(|| {
        pulp::Arch::new().dispatch(Forward {
            g,
            image: scratch,
            weight,
            bias,
            y,
        })
    });
}

struct Forward<'a, E> {
    g: &'a ConvGeometry,
    image: &'a [E],
    weight: &'a [E],
    bias: Option<&'a [E]>,
    y: &'a mut [E],
}

impl<E: Element> pulp::WithSimd for Forward<'_, E> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let Forward {
            g,
            image,
            weight,
            bias,
            y,
        } = self;
        let (taps, offsets, pw) = (g.patch(), tap_offsets(g), padded(g).1);
        let (oh, ow, lanes) = (g.out_height, g.out_width, E::lanes::<S>());
        for o0 in (0..g.out_channels).step_by(OB) {
            let channels = OB.min(g.out_channels - o0);
            // The block's weights tap by tap, `OB` side by side (0 past the last channel).
            let mut w = [[E::zero(); OB]; DIRECT_TAPS];
            for (t, tap) in w.iter_mut().enumerate().take(taps) {
                for (r, v) in tap.iter_mut().enumerate().take(channels) {
                    *v = weight[(o0 + r) * taps + t];
                }
            }
            let shift: [E::V<S>; OB] = std::array::from_fn(|r| match bias {
                Some(b) if r < channels => E::splat(simd, b[o0 + r]),
                _ => E::splat(simd, E::zero()),
            });
            for i in 0..oh {
                let mut j0 = 0;
                loop {
                    let mut acc = shift;
                    for (wt, &offset) in w.iter().zip(&offsets).take(taps) {
                        let at = offset + i * pw + j0;
                        let pixels = vector::<E, S>(&image[at..at + lanes]);
                        for r in 0..OB {
                            let wv = E::splat(simd, wt[r]);
                            acc[r] = <E as Lane>::mul_add(simd, wv, pixels, acc[r]);
                        }
                    }
                    for (r, &acc) in acc.iter().enumerate().take(channels) {
                        let at = ((o0 + r) * oh + i) * ow + j0;
                        E::store::<S>(acc, &mut y[at..at + lanes]);
                    }
                    match next_block(j0, lanes, ow) {
                        Some(next) => j0 = next,
                        None => break,
                    }
                }
            }
        }
    }
}

/// The `lanes` values of `v` as one vector.
#[inline(always)]
fn vector<E: Element, S: pulp::Simd>(v: &[E]) -> E::V<S> {
    match E::as_simd::<S>(v).0.first() {
        Some(&v) => v,
        None => unreachable!("the slice holds one whole vector"),
    }
}

/// Adds one image's weight gradient into `dw` (`[O, C·K·K]`) and bias gradient into `db`:
/// `x` is the image (`[C, H, W]`), `dy` its output gradient (`[O, OH, OW]`). `scratch` holds
/// [`backward_workspace`] elements.
///
/// With `dy`'s rows widened by zeros to the padded input's width `PW`, tap `(c, p, q)`'s sum
/// `Σ_{i,j} dy[o, i, j] · x̃[c, i + p, j + q]` is one flat dot product of `OH·PW` values: `dy`'s
/// widened plane against the padded image read from `(c·PH + p)·PW + q` on (a product that
/// wraps past a row's end meets a zero of `dy`). No masks, no short rows: long runs of vector
/// multiply-adds, `OB` channels sharing each load of the image.
pub(super) fn backward_params_image<E: Element>(
    g: &ConvGeometry,
    x: &[E],
    dy: &[E],
    dw: &mut [E],
    db: &mut [E],
    scratch: &mut [E],
) {
    let (image, widened) = scratch.split_at_mut(image_len(g));
    pad_image(g, x, image);
    let (pw, ow) = (padded(g).1, g.out_width);
    for (wide, row) in widened.chunks_exact_mut(pw).zip(dy.chunks_exact(ow.max(1))) {
        // Rows are short: `copy_from_slice` would call `memcpy` for each.
        copy_run(&mut wide[..ow], row);
        wide[ow..].fill(E::zero());
    }
    timed(|| {
        pulp::Arch::new().dispatch(BackwardParams {
            g,
            image,
            dy: widened,
            dw,
            db,
        })
    });
}

struct BackwardParams<'a, E> {
    g: &'a ConvGeometry,
    image: &'a [E],
    /// `dy` with rows widened to the padded width: `[O, OH·PW]`.
    dy: &'a [E],
    dw: &'a mut [E],
    db: &'a mut [E],
}

impl<E: Element> pulp::WithSimd for BackwardParams<'_, E> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let BackwardParams {
            g,
            image,
            dy,
            dw,
            db,
        } = self;
        let (taps, offsets) = (g.patch(), tap_offsets(g));
        let len = g.out_height * padded(g).1;
        let zero = E::splat(simd, E::zero());
        for (sum, plane) in db.iter_mut().zip(dy.chunks_exact(len.max(1))) {
            // In vectors: a plain running sum is a chain of dependent additions.
            let (vectors, tail) = E::as_simd::<S>(plane);
            let total = vectors
                .iter()
                .fold(zero, |acc, &v| <E as Lane>::add_v(simd, acc, v));
            *sum += horizontal_sum::<E, S>(total) + tail.iter().copied().sum::<E>();
        }
        for o0 in (0..g.out_channels).step_by(OB) {
            let channels = OB.min(g.out_channels - o0);
            // The block's planes of `dy` (a ragged last block of channels repeats its last
            // one; those sums are not kept).
            let planes: [&[E]; OB] = std::array::from_fn(|r| {
                let at = (o0 + r.min(channels - 1)) * len;
                &dy[at..at + len]
            });
            let vectors: [&[E::V<S>]; OB] = planes.map(|p| E::as_simd::<S>(p).0);
            for (t, &offset) in offsets.iter().enumerate().take(taps) {
                let (xs, x_tail) = E::as_simd::<S>(&image[offset..offset + len]);
                let mut acc = [zero; OB];
                for (m, &x) in xs.iter().enumerate() {
                    for r in 0..OB {
                        acc[r] = <E as Lane>::mul_add(simd, vectors[r][m], x, acc[r]);
                    }
                }
                let done = len - x_tail.len();
                for (r, &acc) in acc.iter().enumerate().take(channels) {
                    let tail: E = x_tail
                        .iter()
                        .zip(&planes[r][done..])
                        .map(|(&x, &d)| x * d)
                        .sum();
                    dw[(o0 + r) * taps + t] += horizontal_sum::<E, S>(acc) + tail;
                }
            }
        }
    }
}

/// The sum of a vector's lanes.
#[inline(always)]
fn horizontal_sum<E: Element, S: pulp::Simd>(v: E::V<S>) -> E {
    let lanes = E::lanes::<S>();
    let mut values = [E::zero(); MAX_LANES];
    E::store::<S>(v, &mut values[..lanes]);
    values[..lanes].iter().copied().sum::<E>()
}
