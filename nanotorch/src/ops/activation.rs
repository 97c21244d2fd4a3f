//! Elementwise activations. Each has a diagonal Jacobian, so its backward is an elementwise
//! product `dx = dy ⊙ f'(·)`, where `f'` is written in terms of whatever is cheapest to save.
//!
//! Every activation comes as `f(x)`, `f_into(x, y)`, `f_backward(saved, dy)` and
//! `f_backward_into(saved, dy, dx)`. The backward's `saved` tensor is the one the forward doc
//! names under **Saves**; it must come from the forward that produced `dy`, so the two have
//! the same sizes. A backward given tensors of different runtime sizes panics: that is a bug
//! in the caller's sequencing (backward without its forward), not bad data.

use ndarray::Zip;

use crate::element::Element;
use crate::gemm::threads::num_threads;
use crate::parallel::for_each_block_pair_mut_in;
use crate::shape::Shape;
use crate::tensor::Tensor;
use crate::widest::widest;

/// Tensors of at least this many elements are mapped by all threads, each a contiguous block
/// (below it, waking a second thread costs more than it saves: a 32 k-element ReLU takes a
/// few microseconds).
const PARALLEL_MAP: usize = 256 * 1024;

/// How many threads an elementwise pass over `len` elements uses.
fn map_parts(len: usize) -> usize {
    if len >= PARALLEL_MAP {
        num_threads()
    } else {
        1
    }
}

/// Applies `f` elementwise from `x` into `out` (resized to `x`'s shape).
/// (Over the flat row-major slices: for the small tensors of small networks, `ndarray::Zip`'s
/// per-call layout analysis costs more than the arithmetic.)
fn map_into<S: Shape, E: Element>(
    x: &Tensor<S, E>,
    out: &mut Tensor<S, E>,
    f: impl Fn(E) -> E + Sync,
) {
    out.resize_to(x.shape());
    let (out, x) = (out.as_slice_mut(), x.as_slice());
    for_each_block_pair_mut_in::<E, E>(
        map_parts(out.len()),
        out,
        1,
        &mut [],
        0,
        &|first, out, _| {
            let x = &x[first..][..out.len()];
            // Compiled once per instruction set and chosen at run time (as the GEMM's kernels), so
            // the loop vectorises with the CPU's widest registers instead of the baseline's 4-wide
            // SSE.
            widest(
                #[inline(always)]
                || {
                    for (o, &v) in out.iter_mut().zip(x) {
                        *o = f(v);
                    }
                },
            );
        },
    );
}

/// `dx = dy ⊙ g(saved)`, elementwise; `saved` is the forward input or output.
fn backward_map<S: Shape, E: Element>(
    saved: &Tensor<S, E>,
    dy: &Tensor<S, E>,
    g: impl Fn(E) -> E + Sync,
) -> Tensor<S, E> {
    let mut dx = Tensor::zeros(dy.shape());
    backward_map_into(saved, dy, &mut dx, g);
    dx
}

/// [`backward_map`] writing into `dx` (resized to `dy`'s shape).
fn backward_map_into<S: Shape, E: Element>(
    saved: &Tensor<S, E>,
    dy: &Tensor<S, E>,
    dx: &mut Tensor<S, E>,
    g: impl Fn(E) -> E + Sync,
) {
    assert_eq!(
        saved.dims(),
        dy.dims(),
        "an activation's backward needs the saved tensor of the forward that produced dy"
    );
    dx.resize_to(dy.shape());
    let (dx, saved, dy) = (dx.as_slice_mut(), saved.as_slice(), dy.as_slice());
    for_each_block_pair_mut_in::<E, E>(map_parts(dx.len()), dx, 1, &mut [], 0, &|first, dx, _| {
        let (saved, dy) = (&saved[first..][..dx.len()], &dy[first..][..dx.len()]);
        widest(
            #[inline(always)]
            || {
                for (d, (&s, &g_up)) in dx.iter_mut().zip(saved.iter().zip(dy)) {
                    *d = g_up * g(s);
                }
            },
        );
    });
}

/// Rectified linear unit, `y = max(x, 0)`.
///
/// - **Forward:** `y = max(x, 0)`; NaN stays NaN, as in PyTorch.
/// - **Backward:** `dx = dy ⊙ 1[y > 0]` (the derivative at 0 is taken as 0, as PyTorch does).
/// - **Saves:** the output `y` (`y > 0` exactly where `x > 0`).
/// - **Shapes:** any; `y` and `dx` have `x`'s shape.
pub fn relu<S: Shape, E: Element>(x: &Tensor<S, E>) -> Tensor<S, E> {
    let mut y = Tensor::zeros(x.shape());
    relu_into(x, &mut y);
    y
}

/// [`relu`] writing into `y`.
pub fn relu_into<S: Shape, E: Element>(x: &Tensor<S, E>, y: &mut Tensor<S, E>) {
    // Written so that NaN passes through (NaN < 0 is false), as in PyTorch.
    map_into(x, y, |v| if v < E::zero() { E::zero() } else { v });
}

/// Backward of [`relu`] from the saved output: `dx = dy ⊙ 1[y > 0]`.
pub fn relu_backward<S: Shape, E: Element>(y: &Tensor<S, E>, dy: &Tensor<S, E>) -> Tensor<S, E> {
    backward_map(y, dy, relu_grad)
}

/// [`relu_backward`] writing into `dx` (resized if needed).
pub fn relu_backward_into<S: Shape, E: Element>(
    y: &Tensor<S, E>,
    dy: &Tensor<S, E>,
    dx: &mut Tensor<S, E>,
) {
    backward_map_into(y, dy, dx, relu_grad);
}

/// `1[y > 0]`, written as PyTorch's `threshold_backward` so a NaN output passes `dy` through.
fn relu_grad<E: Element>(y: E) -> E {
    if y <= E::zero() { E::zero() } else { E::one() }
}

/// Logistic sigmoid, `y = σ(x) = 1 / (1 + e^(−x))`.
///
/// - **Forward:** computed without overflow for any `x`: for `x ≥ 0` as `1 / (1 + e^(−x))`,
///   for `x < 0` as `e^x / (1 + e^x)` — the exponent is never positive, so `e^…` never
///   overflows, and `σ(−1000)` is `0`, not `NaN`.
/// - **Backward:** `dx = dy ⊙ y ⊙ (1 − y)` — the derivative written with the output.
/// - **Saves:** the output `y`.
/// - **Shapes:** any; `y` and `dx` have `x`'s shape.
pub fn sigmoid<S: Shape, E: Element>(x: &Tensor<S, E>) -> Tensor<S, E> {
    let mut y = Tensor::zeros(x.shape());
    sigmoid_into(x, &mut y);
    y
}

/// The numerically stable scalar sigmoid used by [`sigmoid`] (and by the losses).
pub fn sigmoid_scalar<E: Element>(x: E) -> E {
    // e = e^(−|x|) ≤ 1 never overflows; σ(x) = 1/(1 + e) for x ≥ 0 and e/(1 + e) for x < 0.
    // One exp and a select (no unpredictable branch around the exp).
    let e = (-x.abs()).exp();
    let r = E::one() / (E::one() + e);
    if x >= E::zero() { r } else { e * r }
}

/// [`sigmoid`] writing into `y`.
///
/// The same formula as [`sigmoid_scalar`], with `e^(−|x|)` from
/// [`Element::exp_nonpositive`]: for `f32` a vectorisable exponential instead of the C
/// library's `expf`; the two differ by at most a few units in the last place.
pub fn sigmoid_into<S: Shape, E: Element>(x: &Tensor<S, E>, y: &mut Tensor<S, E>) {
    map_into(x, y, sigmoid_fast);
}

/// The scalar of [`sigmoid_into`]: [`sigmoid_scalar`]'s formula with
/// [`Element::exp_nonpositive`], so a loop over it vectorises (layers with gates, such as
/// [`Lstm`](crate::layers::Lstm), apply it element by element).
#[inline]
pub fn sigmoid_fast<E: Element>(v: E) -> E {
    let e = (-v.abs()).exp_nonpositive();
    let r = E::one() / (E::one() + e);
    if v >= E::zero() { r } else { e * r }
}

/// `e^x` for `x ≤ 0` (or NaN) in `f32`, written so that a loop over it vectorises: no calls,
/// no branches. Cody–Waite reduction `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2`, Cephes' degree-6
/// polynomial for `e^r` (relative error about 1 ulp), and `2ⁿ` built from its bits.
/// Below `−87.3` (where `e^x` is no longer a normal `f32`) the result is `0`.
#[inline]
pub fn exp_neg_f32(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that n·LN2_HI is exact for |n| < 2⁹.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2²³: adding it rounds to an integer held in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let t = x * LOG2_E + ROUND;
    let n = t - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let e_r = p * r * r + r + 1.0;
    // n is t's integer part, in t's low mantissa bits; 2ⁿ has exponent field n + 127.
    let n_int = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let two_n = f32::from_bits((n_int.wrapping_add(127) as u32) << 23);
    if x < -87.3 { 0.0 } else { e_r * two_n }
}

/// Backward of [`sigmoid`] from the saved output: `dx = dy ⊙ y ⊙ (1 − y)`.
pub fn sigmoid_backward<S: Shape, E: Element>(y: &Tensor<S, E>, dy: &Tensor<S, E>) -> Tensor<S, E> {
    backward_map(y, dy, |v| v * (E::one() - v))
}

/// [`sigmoid_backward`] writing into `dx` (resized if needed).
pub fn sigmoid_backward_into<S: Shape, E: Element>(
    y: &Tensor<S, E>,
    dy: &Tensor<S, E>,
    dx: &mut Tensor<S, E>,
) {
    backward_map_into(y, dy, dx, |v| v * (E::one() - v));
}

/// Leaky ReLU, `y = x` for `x > 0` and `y = negative_slope·x` otherwise (PyTorch's
/// `F.leaky_relu`; its default slope is `0.01`).
///
/// - **Forward:** `y = x` if `x > 0`, else `negative_slope·x`.
/// - **Backward:** `dx = dy` where `x > 0`, else `negative_slope·dy` (at `x = 0` the slope
///   side is taken, as PyTorch does).
/// - **Saves:** the input `x`. (The output would not do: with a negative slope, which
///   PyTorch allows, the sign of `y` no longer tells the sign of `x`.)
/// - **Shapes:** any; `y` and `dx` have `x`'s shape.
pub fn leaky_relu<S: Shape, E: Element>(x: &Tensor<S, E>, negative_slope: E) -> Tensor<S, E> {
    let mut y = Tensor::zeros(x.shape());
    leaky_relu_into(x, negative_slope, &mut y);
    y
}

/// [`leaky_relu`] writing into `y`.
pub fn leaky_relu_into<S: Shape, E: Element>(
    x: &Tensor<S, E>,
    negative_slope: E,
    y: &mut Tensor<S, E>,
) {
    map_into(x, y, |v| if v > E::zero() { v } else { negative_slope * v });
}

/// Backward of [`leaky_relu`] from the saved input: `dx = dy ⊙ (x > 0 ? 1 : negative_slope)`.
pub fn leaky_relu_backward<S: Shape, E: Element>(
    x: &Tensor<S, E>,
    dy: &Tensor<S, E>,
    negative_slope: E,
) -> Tensor<S, E> {
    let mut dx = Tensor::zeros(dy.shape());
    leaky_relu_backward_into(x, dy, negative_slope, &mut dx);
    dx
}

/// [`leaky_relu_backward`] writing into `dx` (resized if needed).
pub fn leaky_relu_backward_into<S: Shape, E: Element>(
    x: &Tensor<S, E>,
    dy: &Tensor<S, E>,
    negative_slope: E,
    dx: &mut Tensor<S, E>,
) {
    backward_map_into(x, dy, dx, |v| {
        if v > E::zero() {
            E::one()
        } else {
            negative_slope
        }
    });
}

/// Hyperbolic tangent, `y = tanh(x)`.
///
/// - **Forward:** `y = (eˣ − e⁻ˣ) / (eˣ + e⁻ˣ)`, saturating to ±1 without overflow.
/// - **Backward:** `dx = dy ⊙ (1 − y²)` — the derivative written with the output.
/// - **Saves:** the output `y`.
/// - **Shapes:** any; `y` and `dx` have `x`'s shape.
pub fn tanh<S: Shape, E: Element>(x: &Tensor<S, E>) -> Tensor<S, E> {
    let mut y = Tensor::zeros(x.shape());
    tanh_into(x, &mut y);
    y
}

/// [`tanh`] writing into `y`.
pub fn tanh_into<S: Shape, E: Element>(x: &Tensor<S, E>, y: &mut Tensor<S, E>) {
    map_into(x, y, |v| v.tanh());
}

/// Backward of [`tanh`] from the saved output: `dx = dy ⊙ (1 − y²)`.
pub fn tanh_backward<S: Shape, E: Element>(y: &Tensor<S, E>, dy: &Tensor<S, E>) -> Tensor<S, E> {
    backward_map(y, dy, |v| E::one() - v * v)
}

/// [`tanh_backward`] writing into `dx` (resized if needed).
pub fn tanh_backward_into<S: Shape, E: Element>(
    y: &Tensor<S, E>,
    dy: &Tensor<S, E>,
    dx: &mut Tensor<S, E>,
) {
    backward_map_into(y, dy, dx, |v| E::one() - v * v);
}

/// The standard normal CDF `Φ(x) = ½(1 + erf(x/√2))`.
fn normal_cdf<E: Element>(x: E) -> E {
    E::cast(0.5) * (E::one() + (x * E::cast(std::f64::consts::FRAC_1_SQRT_2)).erf())
}

/// The standard normal density `φ(x) = e^(−x²/2) / √(2π)`.
fn normal_pdf<E: Element>(x: E) -> E {
    // 1/√(2π) = (2/√π)·(1/√2)·½
    let inv_sqrt_2pi = std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2 * 0.5;
    E::cast(inv_sqrt_2pi) * (-(x * x) * E::cast(0.5)).exp()
}

/// GELU, exact form (PyTorch's `F.gelu(x, approximate='none')`): `y = x·Φ(x)`, where
/// `Φ(x) = ½(1 + erf(x/√2))` is the standard normal CDF.
///
/// - **Forward:** `y = x·Φ(x)`.
/// - **Backward:** `dx = dy ⊙ (Φ(x) + x·φ(x))`, with `φ(x) = e^(−x²/2)/√(2π)` the normal
///   density (product rule; `Φ' = φ`).
/// - **Saves:** the input `x`.
/// - **Shapes:** any; `y` and `dx` have `x`'s shape.
pub fn gelu<S: Shape, E: Element>(x: &Tensor<S, E>) -> Tensor<S, E> {
    let mut y = Tensor::zeros(x.shape());
    gelu_into(x, &mut y);
    y
}

/// [`gelu`] writing into `y`.
pub fn gelu_into<S: Shape, E: Element>(x: &Tensor<S, E>, y: &mut Tensor<S, E>) {
    map_into(x, y, |v| v * normal_cdf(v));
}

/// Backward of [`gelu`] from the saved input: `dx = dy ⊙ (Φ(x) + x·φ(x))`.
pub fn gelu_backward<S: Shape, E: Element>(x: &Tensor<S, E>, dy: &Tensor<S, E>) -> Tensor<S, E> {
    backward_map(x, dy, gelu_grad)
}

/// [`gelu_backward`] writing into `dx` (resized if needed).
pub fn gelu_backward_into<S: Shape, E: Element>(
    x: &Tensor<S, E>,
    dy: &Tensor<S, E>,
    dx: &mut Tensor<S, E>,
) {
    backward_map_into(x, dy, dx, gelu_grad);
}

fn gelu_grad<E: Element>(x: E) -> E {
    normal_cdf(x) + x * normal_pdf(x)
}

/// `√(2/π)`, the constant of the tanh approximation of GELU.
const SQRT_2_OVER_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2;
/// The cubic coefficient of the tanh approximation of GELU.
const GELU_TANH_CUBIC: f64 = 0.044715;

/// GELU, tanh approximation (PyTorch's `F.gelu(x, approximate='tanh')`):
/// `y = ½x(1 + tanh(u))` with `u = √(2/π)(x + 0.044715x³)`.
///
/// - **Forward:** as above.
/// - **Backward:** `dx = dy ⊙ (½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²))`
///   (product and chain rules).
/// - **Saves:** the input `x`.
/// - **Shapes:** any; `y` and `dx` have `x`'s shape.
pub fn gelu_tanh<S: Shape, E: Element>(x: &Tensor<S, E>) -> Tensor<S, E> {
    let mut y = Tensor::zeros(x.shape());
    gelu_tanh_into(x, &mut y);
    y
}

/// [`gelu_tanh`] writing into `y`.
pub fn gelu_tanh_into<S: Shape, E: Element>(x: &Tensor<S, E>, y: &mut Tensor<S, E>) {
    map_into(x, y, |v| {
        let u = E::cast(SQRT_2_OVER_PI) * (v + E::cast(GELU_TANH_CUBIC) * v * v * v);
        E::cast(0.5) * v * (E::one() + tanh_vectorisable(u))
    });
}

/// `tanh(u)`, as `sign(u)·(1 − e)/(1 + e)` with `e = e^(−2|u|)` from
/// [`Element::exp_nonpositive`]: the exponent is never positive (no overflow), and for `f32`
/// the loop around it vectorises, where the C library's `tanhf` is a call per element (it was
/// two thirds of the GPT's training step). Near 0 the result is exact to about one unit of
/// `1.0` (not of `tanh u`), which is what GELU's `1 + tanh u` and `1 − tanh² u` can use.
#[inline]
fn tanh_vectorisable<E: Element>(u: E) -> E {
    let e = (-(u + u).abs()).exp_nonpositive();
    let t = (E::one() - e) / (E::one() + e);
    if u >= E::zero() { t } else { -t }
}

/// Backward of [`gelu_tanh`] from the saved input.
pub fn gelu_tanh_backward<S: Shape, E: Element>(
    x: &Tensor<S, E>,
    dy: &Tensor<S, E>,
) -> Tensor<S, E> {
    backward_map(x, dy, gelu_tanh_grad)
}

/// [`gelu_tanh_backward`] writing into `dx` (resized if needed).
pub fn gelu_tanh_backward_into<S: Shape, E: Element>(
    x: &Tensor<S, E>,
    dy: &Tensor<S, E>,
    dx: &mut Tensor<S, E>,
) {
    backward_map_into(x, dy, dx, gelu_tanh_grad);
}

fn gelu_tanh_grad<E: Element>(x: E) -> E {
    let k = E::cast(SQRT_2_OVER_PI);
    let a = E::cast(GELU_TANH_CUBIC);
    let half = E::cast(0.5);
    let t = tanh_vectorisable(k * (x + a * x * x * x));
    let du = k * (E::one() + E::cast(3.0) * a * x * x);
    half * (E::one() + t) + half * x * (E::one() - t * t) * du
}

/// Exponential, `y = eˣ`.
///
/// - **Forward:** `y = eˣ` (overflows to `inf` for large `x`, as in PyTorch).
/// - **Backward:** `dx = dy ⊙ y` — the exponential is its own derivative.
/// - **Saves:** the output `y`.
/// - **Shapes:** any; `y` and `dx` have `x`'s shape.
pub fn exp<S: Shape, E: Element>(x: &Tensor<S, E>) -> Tensor<S, E> {
    let mut y = Tensor::zeros(x.shape());
    exp_into(x, &mut y);
    y
}

/// [`exp`] writing into `y`.
pub fn exp_into<S: Shape, E: Element>(x: &Tensor<S, E>, y: &mut Tensor<S, E>) {
    map_into(x, y, |v| v.exp());
}

/// Backward of [`exp`] from the saved output: `dx = dy ⊙ y`.
pub fn exp_backward<S: Shape, E: Element>(y: &Tensor<S, E>, dy: &Tensor<S, E>) -> Tensor<S, E> {
    backward_map(y, dy, |v| v)
}

/// [`exp_backward`] writing into `dx` (resized if needed).
pub fn exp_backward_into<S: Shape, E: Element>(
    y: &Tensor<S, E>,
    dy: &Tensor<S, E>,
    dx: &mut Tensor<S, E>,
) {
    backward_map_into(y, dy, dx, |v| v);
}

/// Natural logarithm, `y = ln x`.
///
/// - **Forward:** `y = ln x`. As in PyTorch this is not an error outside the domain:
///   `ln 0 = −inf` and `ln x = NaN` for `x < 0` (check with [`Tensor::has_non_finite`]).
/// - **Backward:** `dx = dy / x`.
/// - **Saves:** the input `x`.
/// - **Shapes:** any; `y` and `dx` have `x`'s shape.
pub fn log<S: Shape, E: Element>(x: &Tensor<S, E>) -> Tensor<S, E> {
    let mut y = Tensor::zeros(x.shape());
    log_into(x, &mut y);
    y
}

/// [`log`] writing into `y`.
pub fn log_into<S: Shape, E: Element>(x: &Tensor<S, E>, y: &mut Tensor<S, E>) {
    map_into(x, y, |v| v.ln());
}

/// Backward of [`log`] from the saved input: `dx = dy / x`.
pub fn log_backward<S: Shape, E: Element>(x: &Tensor<S, E>, dy: &Tensor<S, E>) -> Tensor<S, E> {
    let mut dx = Tensor::zeros(dy.shape());
    log_backward_into(x, dy, &mut dx);
    dx
}

/// [`log_backward`] writing into `dx` (resized if needed).
pub fn log_backward_into<S: Shape, E: Element>(
    x: &Tensor<S, E>,
    dy: &Tensor<S, E>,
    dx: &mut Tensor<S, E>,
) {
    dx.resize_to(dy.shape());
    Zip::from(dx.data_mut())
        .and(x.data())
        .and(dy.data())
        .for_each(|d, &v, &g| *d = g / v);
}
