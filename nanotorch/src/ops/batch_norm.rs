//! Batch normalisation over the channel axis (axis 1), as PyTorch's `F.batch_norm`:
//! [`batch_norm_train_into`] (batch statistics, running statistics updated) and
//! [`batch_norm_eval_into`] (running statistics), each with its backward.
//!
//! A `[B, C]` batch (`BatchNorm1d`) and a `[B, C, H, W]` batch of feature maps
//! (`BatchNorm2d`) are handled alike: each channel `c` is normalised over every value it has
//! in the batch, `N = B` values for `[B, C]` and `N = B·H·W` for `[B, C, H, W]`.

use crate::element::Element;
use crate::error::ShapeError;
use crate::gemm::threads::num_threads;
use crate::gemm::timer::{Part, timed_part};
use crate::parallel::for_each_block_pair_mut_in;
use crate::shape::{Dim, Shape, fmt_dims};
use crate::tensor::Tensor;
use crate::widest::widest;

/// Shapes whose axis 1 is the channel axis batch normalisation works per: `(B, C)`,
/// `(B, C, L)` and `(B, C, H, W)`.
pub trait BatchChannels: Shape {
    /// The channel dim.
    type Channels: Dim;
    /// The channel dim of a shape value.
    fn channels(&self) -> Self::Channels;
}
impl<B: Dim, C: Dim> BatchChannels for (B, C) {
    type Channels = C;
    fn channels(&self) -> C {
        self.1
    }
}
impl<B: Dim, C: Dim, L: Dim> BatchChannels for (B, C, L) {
    type Channels = C;
    fn channels(&self) -> C {
        self.1
    }
}
impl<B: Dim, C: Dim, H: Dim, W: Dim> BatchChannels for (B, C, H, W) {
    type Channels = C;
    fn channels(&self) -> C {
        self.1
    }
}

/// The constants of batch normalisation: `eps` added to the variance, and the `momentum` of the
/// running statistics (`running = (1 − momentum)·running + momentum·batch`). PyTorch's
/// defaults are `1e-5` and `0.1`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormSpec {
    /// Added to the variance before the square root.
    pub eps: f64,
    /// Weight of the new batch in the running statistics.
    pub momentum: f64,
}

impl Default for BatchNormSpec {
    fn default() -> Self {
        Self {
            eps: 1e-5,
            momentum: 0.1,
        }
    }
}

/// What the forward keeps for the backward: the normalised input `x̂` and `1/σ` per channel.
#[derive(Clone, Debug)]
pub struct BatchNormSaved<S: BatchChannels, E: Element> {
    /// `x̂ = (x − μ)/σ`, the shape of the input.
    pub x_hat: Tensor<S, E>,
    /// `1/σ = 1/√(var + eps)` per channel.
    pub inv_std: Tensor<(S::Channels,), E>,
}

impl<S: BatchChannels, E: Element> BatchNormSaved<S, E> {
    /// Buffers for inputs of shape `shape` (resized by the forward when the batch changes).
    pub fn new(shape: S) -> Self {
        Self {
            x_hat: Tensor::zeros(shape),
            inv_std: Tensor::zeros((shape.channels(),)),
        }
    }
}

/// `(B, C, L)`: batch, channels, values per channel per sample.
pub(crate) fn layout(dims: &[usize]) -> Layout {
    let l = dims[2..].iter().product::<usize>();
    (dims[0], dims[1], l)
}

fn check_channels(what: &'static str, channels: usize, len: usize) -> Result<(), ShapeError> {
    if channels == len {
        Ok(())
    } else {
        Err(ShapeError::RuntimeDim {
            what,
            left: channels,
            right: len,
        })
    }
}

/// Visits the values of channel `c` in a `[B, C, L]` buffer, one contiguous run of `L` per
/// sample.
fn runs<E>(
    data: &[E],
    (b, c_count, l): (usize, usize, usize),
    c: usize,
) -> impl Iterator<Item = &[E]> {
    (0..b).map(move |n| &data[(n * c_count + c) * l..(n * c_count + c + 1) * l])
}

/// Batch normalisation in training mode: each channel is normalised with the batch's own mean
/// and variance, then scaled and shifted; the running statistics move towards the batch's.
///
/// - **Forward:** for channel `c` over its `N` values: `μ = (1/N) Σ x`, `σ² = (1/N) Σ (x − μ)²`
///   (biased), `x̂ = (x − μ)/√(σ² + eps)`, `y = weight[c]·x̂ + bias[c]`. Then
///   `running_mean ← (1 − m)·running_mean + m·μ` and `running_var ← (1 − m)·running_var +
///   m·σ²·N/(N − 1)` (the *unbiased* variance, as PyTorch).
/// - **Backward** ([`batch_norm_backward_into`]): `dweight[c] += Σ dy ⊙ x̂`,
///   `dbias[c] += Σ dy`, and, because μ and σ depend on every value of the channel,
///   `dx = (weight[c]/(N·σ)) · (N·dy − Σ dy − x̂ ⊙ Σ(dy ⊙ x̂))` — three terms: the direct
///   path, the path through the mean, and the path through the variance.
/// - **Saves:** `x̂` and `1/σ` per channel ([`BatchNormSaved`]).
/// - **Shapes:** `x, y: [B, C]` or `[B, C, H, W]`; `weight`, `bias`, running statistics: `[C]`.
///   A channel needs at least 2 values (`N ≥ 2`) for a variance: one value is a
///   [`ShapeError::Invalid`], as in PyTorch.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_train_into<S: BatchChannels, E: Element>(
    x: &Tensor<S, E>,
    weight: &Tensor<(S::Channels,), E>,
    bias: &Tensor<(S::Channels,), E>,
    spec: BatchNormSpec,
    running_mean: &mut Tensor<(S::Channels,), E>,
    running_var: &mut Tensor<(S::Channels,), E>,
    y: &mut Tensor<S, E>,
    saved: &mut BatchNormSaved<S, E>,
) -> Result<(), ShapeError> {
    let dims = layout(x.dims());
    let (b, c_count, l) = dims;
    for (what, t) in [
        ("batch_norm channels of x and weight", weight.numel()),
        ("batch_norm channels of x and bias", bias.numel()),
        (
            "batch_norm channels of x and running_mean",
            running_mean.numel(),
        ),
        (
            "batch_norm channels of x and running_var",
            running_var.numel(),
        ),
    ] {
        check_channels(what, c_count, t)?;
    }
    let n = b * l;
    if n < 2 {
        return Err(ShapeError::Invalid {
            what: "batch_norm in training mode needs more than 1 value per channel",
            found: format!("input {}", fmt_dims(x.dims())),
        });
    }
    y.resize_to(x.shape());
    saved.x_hat.resize_to(x.shape());
    saved.inv_std.resize_to((x.shape().channels(),));
    train_slices(
        dims,
        x.as_slice(),
        (weight.as_slice(), bias.as_slice()),
        spec,
        (running_mean.as_slice_mut(), running_var.as_slice_mut()),
        y.as_slice_mut(),
        (saved.x_hat.as_slice_mut(), saved.inv_std.as_slice_mut()),
    );
    Ok(())
}

/// Batch normalisation in evaluation mode: each channel is normalised with the *running*
/// statistics, so a sample's output does not depend on the rest of its batch.
///
/// - **Forward:** `x̂ = (x − running_mean[c])/√(running_var[c] + eps)`,
///   `y = weight[c]·x̂ + bias[c]`; the running statistics are not changed.
/// - **Backward** ([`batch_norm_eval_backward_into`]): the statistics are constants, so
///   `dx = weight[c]/σ · dy`, `dweight[c] += Σ dy ⊙ x̂`, `dbias[c] += Σ dy`.
/// - **Saves:** `x̂` and `1/σ` ([`BatchNormSaved`]).
/// - **Shapes:** as [`batch_norm_train_into`] (any batch size, even 1).
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_eval_into<S: BatchChannels, E: Element>(
    x: &Tensor<S, E>,
    weight: &Tensor<(S::Channels,), E>,
    bias: &Tensor<(S::Channels,), E>,
    spec: BatchNormSpec,
    running_mean: &Tensor<(S::Channels,), E>,
    running_var: &Tensor<(S::Channels,), E>,
    y: &mut Tensor<S, E>,
    saved: &mut BatchNormSaved<S, E>,
) -> Result<(), ShapeError> {
    let dims = layout(x.dims());
    let c_count = dims.1;
    for (what, t) in [
        ("batch_norm channels of x and weight", weight.numel()),
        ("batch_norm channels of x and bias", bias.numel()),
        (
            "batch_norm channels of x and running_mean",
            running_mean.numel(),
        ),
        (
            "batch_norm channels of x and running_var",
            running_var.numel(),
        ),
    ] {
        check_channels(what, c_count, t)?;
    }
    y.resize_to(x.shape());
    saved.x_hat.resize_to(x.shape());
    saved.inv_std.resize_to((x.shape().channels(),));
    eval_slices(
        dims,
        x.as_slice(),
        (weight.as_slice(), bias.as_slice()),
        spec,
        (running_mean.as_slice(), running_var.as_slice()),
        y.as_slice_mut(),
        (saved.x_hat.as_slice_mut(), saved.inv_std.as_slice_mut()),
    );
    Ok(())
}

/// Checks `dy` against the saved forward and the parameter gradients against the channels.
fn check_backward<S: BatchChannels, E: Element>(
    saved: &BatchNormSaved<S, E>,
    weight: &Tensor<(S::Channels,), E>,
    dy: &Tensor<S, E>,
    dweight: &Tensor<(S::Channels,), E>,
    dbias: &Tensor<(S::Channels,), E>,
) -> Result<(), ShapeError> {
    if dy.dims() != saved.x_hat.dims() {
        return Err(ShapeError::Shape {
            expected: format!(
                "{} (the output of the last forward)",
                fmt_dims(saved.x_hat.dims())
            ),
            found: fmt_dims(dy.dims()),
        });
    }
    let c = saved.inv_std.numel();
    check_channels("batch_norm channels of weight", c, weight.numel())?;
    check_channels("batch_norm channels of dweight", c, dweight.numel())?;
    check_channels("batch_norm channels of dbias", c, dbias.numel())
}

/// Backward of [`batch_norm_train_into`]: writes `dx` (resized to `dy`'s shape) and **adds**
/// into `dweight` and `dbias`. The formula is in [`batch_norm_train_into`].
pub fn batch_norm_backward_into<S: BatchChannels, E: Element>(
    saved: &BatchNormSaved<S, E>,
    weight: &Tensor<(S::Channels,), E>,
    dy: &Tensor<S, E>,
    dx: &mut Tensor<S, E>,
    dweight: &mut Tensor<(S::Channels,), E>,
    dbias: &mut Tensor<(S::Channels,), E>,
) -> Result<(), ShapeError> {
    check_backward(saved, weight, dy, dweight, dbias)?;
    dx.resize_to(dy.shape());
    backward_slices(
        layout(dy.dims()),
        (saved.x_hat.as_slice(), saved.inv_std.as_slice()),
        weight.as_slice(),
        dy.as_slice(),
        dx.as_slice_mut(),
        (dweight.as_slice_mut(), dbias.as_slice_mut()),
    );
    Ok(())
}

/// Backward of [`batch_norm_eval_into`]: writes `dx = weight[c]/σ · dy` (resized to `dy`'s
/// shape) and **adds** into `dweight` and `dbias`.
pub fn batch_norm_eval_backward_into<S: BatchChannels, E: Element>(
    saved: &BatchNormSaved<S, E>,
    weight: &Tensor<(S::Channels,), E>,
    dy: &Tensor<S, E>,
    dx: &mut Tensor<S, E>,
    dweight: &mut Tensor<(S::Channels,), E>,
    dbias: &mut Tensor<(S::Channels,), E>,
) -> Result<(), ShapeError> {
    check_backward(saved, weight, dy, dweight, dbias)?;
    dx.resize_to(dy.shape());
    eval_backward_slices(
        layout(dy.dims()),
        (saved.x_hat.as_slice(), saved.inv_std.as_slice()),
        weight.as_slice(),
        dy.as_slice(),
        dx.as_slice_mut(),
        (dweight.as_slice_mut(), dbias.as_slice_mut()),
    );
    Ok(())
}

/// `(B, C, L)` sizes of a batch-norm input.
pub(crate) type Layout = (usize, usize, usize);

/// Channels whose statistics one threaded pass computes (kept on the stack, so the threaded
/// path allocates nothing; more channels take several passes).
const CHANNEL_GROUP: usize = 128;

/// Batches of fewer values than this are normalised on the calling thread (in cache, waking a
/// second thread costs more than it saves).
const PARALLEL_VALUES: usize = 64 * 1024;

/// How many threads a pass over a `[B, C, L]` batch uses.
fn parts((b, c, l): Layout) -> usize {
    if b * c * l < PARALLEL_VALUES {
        1
    } else {
        num_threads().min(b).min(c)
    }
}

/// `(mean, biased variance)` of channel `c`: two passes over its runs, the second one reading
/// them from cache.
///
/// Like the other loops of the training passes, compiled for the widest vectors the CPU has
/// ([`widest`]; the baseline's are 4-wide SSE). The sums keep their 8 lanes whatever the vector width, so the
/// results do not depend on the CPU.
fn channel_stats<E: Element>(xs: &[E], dims: Layout, c: usize, inv_n: E) -> (E, E) {
    widest(
        #[inline(always)]
        || {
            // Plain loops, as in `channel_grad_sums`.
            let mut sum = E::zero();
            for run in runs(xs, dims, c) {
                sum += lanes_sum(run);
            }
            let mean = sum * inv_n;
            let mut sum_sq = E::zero();
            for run in runs(xs, dims, c) {
                sum_sq += lanes_sum_sq_dev(run, mean);
            }
            (mean, sum_sq * inv_n)
        },
    )
}

/// [`batch_norm_train_into`] on row-major buffers of checked sizes: `affine` is
/// `(weight, bias)`, `running` is `(mean, var)`, `saved` is `(x̂, 1/σ)`.
///
/// On one thread each channel is finished (statistics, then `x̂` and `y`) while its values are
/// in cache. On several, a group of channels gets its statistics with the channels shared out
/// over the threads, then the group is normalised with the samples shared out (a thread
/// writes only whole samples, which are contiguous). Each channel's sums run in the same order
/// either way, so the result does not depend on the number of threads.
pub(crate) fn train_slices<E: Element>(
    dims: Layout,
    xs: &[E],
    affine: (&[E], &[E]),
    spec: BatchNormSpec,
    running: (&mut [E], &mut [E]),
    y: &mut [E],
    saved: (&mut [E], &mut [E]),
) {
    timed_part(Part::Normalization, || {
        train_slices_in(parts(dims), dims, xs, affine, spec, running, y, saved)
    });
}

/// [`train_slices`] on `parts` threads.
#[allow(clippy::too_many_arguments)]
fn train_slices_in<E: Element>(
    parts: usize,
    dims: Layout,
    xs: &[E],
    (weight, bias): (&[E], &[E]),
    spec: BatchNormSpec,
    (running_mean, running_var): (&mut [E], &mut [E]),
    y: &mut [E],
    (x_hat, inv_stds): (&mut [E], &mut [E]),
) {
    let (b, c_count, l) = dims;
    let n = b * l;
    let (m, eps, inv_n) = (
        E::cast(spec.momentum),
        E::cast(spec.eps),
        E::cast(1.0 / n as f64),
    );
    let unbias = E::cast(n as f64 / (n - 1).max(1) as f64);
    let mut finish = |c: usize, mean: E, var: E| {
        let inv_std = E::one() / (var + eps).sqrt();
        inv_stds[c] = inv_std;
        running_mean[c] = (E::one() - m) * running_mean[c] + m * mean;
        running_var[c] = (E::one() - m) * running_var[c] + m * var * unbias;
        inv_std
    };
    if parts == 1 {
        for c in 0..c_count {
            let (mean, var) = channel_stats(xs, dims, c, inv_n);
            let inv_std = finish(c, mean, var);
            normalize_channel(dims, c, xs, mean, inv_std, (weight[c], bias[c]), y, x_hat);
        }
        return;
    }
    for first in (0..c_count).step_by(CHANNEL_GROUP) {
        let group = CHANNEL_GROUP.min(c_count - first);
        let (mut means, mut inv) = ([E::zero(); CHANNEL_GROUP], [E::zero(); CHANNEL_GROUP]);
        for_each_block_pair_mut_in(
            parts,
            &mut means[..group],
            1,
            &mut inv[..group],
            1,
            &|k0, means, vars| {
                for (k, (mean, var)) in means.iter_mut().zip(vars).enumerate() {
                    (*mean, *var) = channel_stats(xs, dims, first + k0 + k, inv_n);
                }
            },
        );
        for k in 0..group {
            inv[k] = finish(first + k, means[k], inv[k]);
        }
        let sample = c_count * l;
        for_each_block_pair_mut_in(parts, y, sample, x_hat, sample, &|s0, ys, hats| {
            for (s, (ys, hats)) in ys
                .chunks_exact_mut(sample)
                .zip(hats.chunks_exact_mut(sample))
                .enumerate()
            {
                let xs = &xs[(s0 + s) * sample..][..sample];
                for k in 0..group {
                    let at = (first + k) * l..(first + k + 1) * l;
                    let c = first + k;
                    normalize_run(
                        &xs[at.clone()],
                        (means[k], inv[k]),
                        (weight[c], bias[c]),
                        &mut ys[at.clone()],
                        &mut hats[at],
                    );
                }
            }
        });
    }
}

/// Sums in 8 independent lanes, so the compiler can keep them in one SIMD register (a single
/// running sum is a chain of dependent additions it may not reorder).
#[inline(always)]
fn lanes_sum<E: Element>(v: &[E]) -> E {
    lanes(v, |x| x)
}

/// `Σ (v − mean)²` in 8 lanes.
#[inline(always)]
fn lanes_sum_sq_dev<E: Element>(v: &[E], mean: E) -> E {
    lanes(v, |x| (x - mean) * (x - mean))
}

#[inline(always)]
fn lanes<E: Element>(v: &[E], f: impl Fn(E) -> E) -> E {
    let mut acc = [E::zero(); 8];
    let chunks = v.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a += f(x);
        }
    }
    acc.iter().copied().sum::<E>() + rest.iter().map(|&x| f(x)).sum::<E>()
}

/// `(Σ d, Σ d·h)` in 8 lanes each.
#[inline(always)]
fn lanes_sum_and_dot<E: Element>(d: &[E], h: &[E]) -> (E, E) {
    let (mut s, mut p) = ([E::zero(); 8], [E::zero(); 8]);
    let (dc, hc) = (d.chunks_exact(8), h.chunks_exact(8));
    let (dr, hr) = (dc.remainder(), hc.remainder());
    for (dd, hh) in dc.zip(hc) {
        for k in 0..8 {
            s[k] += dd[k];
            p[k] += dd[k] * hh[k];
        }
    }
    let tail_s = dr.iter().copied().sum::<E>();
    let tail_p = dr.iter().zip(hr).map(|(&a, &b)| a * b).sum::<E>();
    (
        s.iter().copied().sum::<E>() + tail_s,
        p.iter().copied().sum::<E>() + tail_p,
    )
}

/// [`batch_norm_eval_into`] on row-major buffers of checked sizes.
pub(crate) fn eval_slices<E: Element>(
    dims: Layout,
    xs: &[E],
    (weight, bias): (&[E], &[E]),
    spec: BatchNormSpec,
    (running_mean, running_var): (&[E], &[E]),
    y: &mut [E],
    (x_hat, inv_stds): (&mut [E], &mut [E]),
) {
    let eps = E::cast(spec.eps);
    for c in 0..dims.1 {
        let inv_std = E::one() / (running_var[c] + eps).sqrt();
        inv_stds[c] = inv_std;
        normalize_channel(
            dims,
            c,
            xs,
            running_mean[c],
            inv_std,
            (weight[c], bias[c]),
            y,
            x_hat,
        );
    }
}

/// `x̂ = (x − mean)·inv_std` and `y = weight·x̂ + bias` for channel `c`.
#[allow(clippy::too_many_arguments)]
fn normalize_channel<E: Element>(
    (b, c_count, l): Layout,
    c: usize,
    xs: &[E],
    mean: E,
    inv_std: E,
    affine: (E, E),
    y: &mut [E],
    x_hat: &mut [E],
) {
    for s in 0..b {
        let at = (s * c_count + c) * l..(s * c_count + c + 1) * l;
        normalize_run(
            &xs[at.clone()],
            (mean, inv_std),
            affine,
            &mut y[at.clone()],
            &mut x_hat[at],
        );
    }
}

/// One run of a channel: `x̂ = (x − mean)·inv_std`, `y = weight·x̂ + bias`.
fn normalize_run<E: Element>(
    xr: &[E],
    (mean, inv_std): (E, E),
    (w, sh): (E, E),
    out: &mut [E],
    hat: &mut [E],
) {
    widest(
        #[inline(always)]
        || {
            for ((&v, h), o) in xr.iter().zip(hat.iter_mut()).zip(out.iter_mut()) {
                *h = (v - mean) * inv_std;
                *o = w * *h + sh;
            }
        },
    );
}

/// `(Σ dy, Σ dy·x̂)` over channel `c`.
fn channel_grad_sums<E: Element>(dys: &[E], hats: &[E], dims: Layout, c: usize) -> (E, E) {
    widest(
        #[inline(always)]
        || {
            // A plain loop: an iterator's `fold` was left out of line, compiled for the
            // baseline.
            let (mut sum_dy, mut sum_dy_hat) = (E::zero(), E::zero());
            for (d, h) in runs(dys, dims, c).zip(runs(hats, dims, c)) {
                let (a, b) = lanes_sum_and_dot(d, h);
                sum_dy += a;
                sum_dy_hat += b;
            }
            (sum_dy, sum_dy_hat)
        },
    )
}

/// One run of a channel's input gradient: `dx = k·(N·dy − Σdy − x̂·Σdy·x̂)`, `k = γ/(σ·N)`.
fn backward_run<E: Element>(out: &mut [E], dy: &[E], hat: &[E], n: E, k: E, (s1, s2): (E, E)) {
    widest(
        #[inline(always)]
        || {
            for ((o, &d), &h) in out.iter_mut().zip(dy).zip(hat) {
                *o = k * (n * d - s1 - h * s2);
            }
        },
    );
}

/// [`batch_norm_backward_into`] on row-major buffers of checked sizes, threaded as
/// [`train_slices`] is: the channels' sums with channels shared out, then `dx` with samples
/// shared out.
pub(crate) fn backward_slices<E: Element>(
    dims: Layout,
    saved: (&[E], &[E]),
    weight: &[E],
    dys: &[E],
    dx: &mut [E],
    grads: (&mut [E], &mut [E]),
) {
    timed_part(Part::Normalization, || {
        backward_slices_in(parts(dims), dims, saved, weight, dys, dx, grads)
    });
}

/// [`backward_slices`] on `parts` threads.
fn backward_slices_in<E: Element>(
    parts: usize,
    dims: Layout,
    (hats, inv_stds): (&[E], &[E]),
    weight: &[E],
    dys: &[E],
    dx: &mut [E],
    (dweight, dbias): (&mut [E], &mut [E]),
) {
    let (b, c_count, l) = dims;
    let n = E::cast((b * l) as f64);
    if parts == 1 {
        for c in 0..c_count {
            let sums = channel_grad_sums(dys, hats, dims, c);
            dbias[c] += sums.0;
            dweight[c] += sums.1;
            let k = weight[c] * inv_stds[c] / n;
            for s in 0..b {
                let at = (s * c_count + c) * l..(s * c_count + c + 1) * l;
                backward_run(&mut dx[at.clone()], &dys[at.clone()], &hats[at], n, k, sums);
            }
        }
        return;
    }
    for first in (0..c_count).step_by(CHANNEL_GROUP) {
        let group = CHANNEL_GROUP.min(c_count - first);
        let (mut s1, mut s2) = ([E::zero(); CHANNEL_GROUP], [E::zero(); CHANNEL_GROUP]);
        for_each_block_pair_mut_in(
            parts,
            &mut s1[..group],
            1,
            &mut s2[..group],
            1,
            &|k0, s1, s2| {
                for (k, (a, b)) in s1.iter_mut().zip(s2).enumerate() {
                    (*a, *b) = channel_grad_sums(dys, hats, dims, first + k0 + k);
                }
            },
        );
        for k in 0..group {
            dbias[first + k] += s1[k];
            dweight[first + k] += s2[k];
        }
        let sample = c_count * l;
        for_each_block_pair_mut_in::<E, E>(parts, dx, sample, &mut [], 0, &|s0, dxs, _| {
            for (s, dxs) in dxs.chunks_exact_mut(sample).enumerate() {
                let at_sample = (s0 + s) * sample;
                for k in 0..group {
                    let c = first + k;
                    let at = c * l..(c + 1) * l;
                    let from = at_sample + c * l..at_sample + (c + 1) * l;
                    let kc = weight[c] * inv_stds[c] / n;
                    backward_run(
                        &mut dxs[at],
                        &dys[from.clone()],
                        &hats[from],
                        n,
                        kc,
                        (s1[k], s2[k]),
                    );
                }
            }
        });
    }
}

/// [`batch_norm_eval_backward_into`] on row-major buffers of checked sizes.
pub(crate) fn eval_backward_slices<E: Element>(
    (b, c_count, l): Layout,
    (hats, inv_stds): (&[E], &[E]),
    weight: &[E],
    dys: &[E],
    dx: &mut [E],
    (dweight, dbias): (&mut [E], &mut [E]),
) {
    for c in 0..c_count {
        let k = weight[c] * inv_stds[c];
        let (mut sum_dy, mut sum_dy_hat) = (E::zero(), E::zero());
        for s in 0..b {
            let at = (s * c_count + c) * l..(s * c_count + c + 1) * l;
            let out = &mut dx[at.clone()];
            for ((o, &d), &h) in out.iter_mut().zip(&dys[at.clone()]).zip(&hats[at]) {
                *o = k * d;
                sum_dy += d;
                sum_dy_hat += d * h;
            }
        }
        dweight[c] += sum_dy_hat;
        dbias[c] += sum_dy;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The threaded passes (channels shared out for the sums, samples for the elementwise
    /// part, in groups of [`CHANNEL_GROUP`]) give exactly the serial loop's numbers.
    #[test]
    fn threads_give_the_serial_result() {
        let dims = (6, CHANNEL_GROUP + 3, 37);
        let len = dims.0 * dims.1 * dims.2;
        let value = |i: usize, k: usize| ((i * k) % 1013) as f32 / 97.0 - 5.0 + (i % 7) as f32;
        let xs: Vec<f32> = (0..len).map(|i| value(i, 31)).collect();
        let dys: Vec<f32> = (0..len).map(|i| value(i, 17) * 0.1).collect();
        let weight: Vec<f32> = (0..dims.1).map(|c| 0.5 + c as f32 * 0.01).collect();
        let bias: Vec<f32> = (0..dims.1).map(|c| c as f32 * -0.02).collect();
        let run = |parts: usize| {
            let (mut rm, mut rv) = (vec![0.1f32; dims.1], vec![0.9f32; dims.1]);
            let (mut y, mut hat, mut inv) = (vec![0.0; len], vec![0.0; len], vec![0.0; dims.1]);
            train_slices_in(
                parts,
                dims,
                &xs,
                (&weight, &bias),
                BatchNormSpec::default(),
                (&mut rm, &mut rv),
                &mut y,
                (&mut hat, &mut inv),
            );
            let (mut dx, mut dw, mut db) = (vec![0.0; len], vec![1.0; dims.1], vec![2.0; dims.1]);
            backward_slices_in(
                parts,
                dims,
                (&hat, &inv),
                &weight,
                &dys,
                &mut dx,
                (&mut dw, &mut db),
            );
            [y, hat, inv, rm, rv, dx, dw, db]
        };
        let serial = run(1);
        assert!(serial[5].iter().any(|&v| v != 0.0), "a gradient to compare");
        for parts in [2, 3] {
            assert_eq!(run(parts), serial, "{parts} threads");
        }
    }
}
