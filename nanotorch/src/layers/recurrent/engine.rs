//! The loop over time every recurrent layer and cell runs, whatever its [`CellKind`]: the input
//! side of all steps in one product, then step by step the recurrent product and the cell's
//! arithmetic; backward the same loop reversed, then the weights' gradients in one product
//! each over all steps.
//!
//! Values are kept **time-major** (`[T, B, …]`): one step's rows are then contiguous, so the
//! per-step products read and write the kept values in place, with no copy per step, and all
//! the `h_{t−1}` of a sequence are one matrix `[T·B, H]` for `∂L/∂W_hh`.

use std::marker::PhantomData;

use pulp::{Simd, WithSimd};

use super::kinds::CellKind;
use crate::element::Element;
use crate::gemm::{MatMut, MatRef, gemm};

/// The sizes of one call: batch, steps, input and hidden features.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sizes {
    pub b: usize,
    pub t: usize,
    pub i: usize,
    pub h: usize,
}

/// The weights, as PyTorch lays them out: `w_ih` `[G·H, I]`, `w_hh` `[G·H, H]`, the biases
/// `[G·H]`.
pub(crate) struct Weights<'a, E> {
    pub w_ih: &'a [E],
    pub w_hh: &'a [E],
    pub b_ih: &'a [E],
    pub b_hh: &'a [E],
}

/// Where the weights' gradients are added.
pub(crate) struct WeightGrads<'a, E> {
    pub w_ih: &'a mut [E],
    pub w_hh: &'a mut [E],
    pub b_ih: &'a mut [E],
    pub b_hh: &'a mut [E],
}

/// What forward keeps for backward, time-major.
#[derive(Clone, Debug, Default)]
pub struct Trace<E> {
    sizes: Sizes,
    /// The input, `[T, B, I]`.
    x: Vec<E>,
    /// The gates after their nonlinearities, `[T, B, G·H]`.
    gates: Vec<E>,
    /// `h0, h_0 … h_{T−1}`, `[T + 1, B, H]`: block `t` is step `t`'s `h_{t−1}`.
    h: Vec<E>,
    /// `c0, c_0 … c_{T−1}` (LSTM), `[T + 1, B, H]`.
    c: Vec<E>,
    /// The kind's extra values, `[T, B, X·H]`.
    extra: Vec<E>,
}

/// Buffers reused from call to call.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scratch<E> {
    /// `W_hhᵀ` `[H, G·H]`, so that the per-step product reads it in place (the GEMM packs a
    /// transposed operand at every call; 64 steps would pack it 64 times).
    w_hh_t: Vec<E>,
    /// One step's recurrent side, `[B, G·H]`.
    gh: Vec<E>,
    /// The input side's pre-activation gradients, `[T, B, G·H]`.
    d_zx: Vec<E>,
    /// The recurrent side's (GRU only), `[T, B, G·H]`.
    d_zh: Vec<E>,
    /// The carried `∂L/∂h` and `∂L/∂c`, `[B, H]`; after backward, those of the initial state.
    pub d_h: Vec<E>,
    pub d_c: Vec<E>,
    /// `∂L/∂x`, `[T, B, I]`.
    d_x: Vec<E>,
}

/// `v` resized to `n` values (its allocation kept once it is large enough).
fn sized<E: Element>(v: &mut Vec<E>, n: usize) -> &mut [E] {
    v.resize(n, E::zero());
    &mut v[..n]
}

/// `[a, b, inner]` → `[b, a, inner]`: batch-major to time-major and back.
fn swap_outer<E: Copy>(src: &[E], a: usize, b: usize, inner: usize, dst: &mut [E]) {
    for p in 0..a {
        for q in 0..b {
            let from = (p * b + q) * inner;
            let to = (q * a + p) * inner;
            dst[to..to + inner].copy_from_slice(&src[from..from + inner]);
        }
    }
}

/// Block `k` of `v`, blocks of `len` values: one step's rows of a time-major buffer.
fn block<E>(v: &[E], k: usize, len: usize) -> &[E] {
    &v[k * len..(k + 1) * len]
}

/// `rows` copies of `bias` side by side.
fn fill_rows<E: Copy>(dst: &mut [E], bias: &[E]) {
    for row in dst.chunks_exact_mut(bias.len()) {
        row.copy_from_slice(bias);
    }
}

/// `acc += Σ_rows m[row]`.
fn add_column_sums<E: Element>(acc: &mut [E], m: &[E]) {
    for row in m.chunks_exact(acc.len()) {
        for (a, v) in acc.iter_mut().zip(row) {
            *a += *v;
        }
    }
}

impl<E: Element> Trace<E> {
    /// The sizes of the last forward.
    pub(crate) fn sizes(&self) -> Sizes {
        self.sizes
    }

    /// The sequence of `h_t`, batch-major `[B, T, H]`, into `hs`.
    pub(crate) fn write_sequence(&self, hs: &mut [E]) {
        let Sizes { b, t, h, .. } = self.sizes;
        swap_outer(&self.h[b * h..], t, b, h, hs);
    }

    /// The last `h` (`h0` when there were no steps), `[B, H]`.
    pub(crate) fn last_h(&self) -> &[E] {
        let Sizes { b, t, h, .. } = self.sizes;
        &self.h[t * b * h..(t + 1) * b * h]
    }

    /// The last `c` (LSTM), `[B, H]`.
    pub(crate) fn last_c(&self) -> &[E] {
        let Sizes { b, t, h, .. } = self.sizes;
        &self.c[t * b * h..(t + 1) * b * h]
    }
}

/// Runs the cell over the `T` steps of `x` (batch-major `[B, T, I]`) from `h0` (and `c0`),
/// `None` meaning zeros; keeps everything backward reads in `trace`.
pub(crate) fn forward<K: CellKind, E: Element>(
    w: &Weights<'_, E>,
    sizes: Sizes,
    x: &[E],
    h0: Option<&[E]>,
    c0: Option<&[E]>,
    trace: &mut Trace<E>,
    scratch: &mut Scratch<E>,
) {
    let Sizes { b, t, i, h } = sizes;
    let gh_width = K::GATES * h;
    let state = b * h;
    trace.sizes = sizes;
    swap_outer(x, b, t, i, sized(&mut trace.x, t * b * i));
    // The input side of every step at once: gates = x·W_ihᵀ + b_ih, [T·B, G·H].
    let gates = sized(&mut trace.gates, t * b * gh_width);
    fill_rows(gates, w.b_ih);
    gemm(
        MatRef::row_major(&trace.x, t * b, i),
        MatRef::row_major(w.w_ih, gh_width, i).t(),
        MatMut::row_major(gates, t * b, gh_width),
        true,
    );
    let w_hh_t = sized(&mut scratch.w_hh_t, h * gh_width);
    swap_outer(w.w_hh, gh_width, h, 1, w_hh_t);
    let hs = sized(&mut trace.h, (t + 1) * state);
    match h0 {
        Some(h0) => hs[..state].copy_from_slice(h0),
        None => hs[..state].fill(E::zero()),
    }
    let cs = sized(&mut trace.c, if K::HAS_C { (t + 1) * state } else { 0 });
    if K::HAS_C {
        match c0 {
            Some(c0) => cs[..state].copy_from_slice(c0),
            None => cs[..state].fill(E::zero()),
        }
    }
    let extra = sized(&mut trace.extra, t * b * K::EXTRA * h);
    let gh = sized(&mut scratch.gh, b * gh_width);
    for step in 0..t {
        let (h_before, h_now) = hs.split_at_mut((step + 1) * state);
        let h_prev = &h_before[step * state..];
        // The recurrent side: h_{t−1}·W_hhᵀ + b_hh.
        fill_rows(gh, w.b_hh);
        gemm(
            MatRef::row_major(h_prev, b, h),
            MatRef::row_major(&scratch.w_hh_t, h, gh_width),
            MatMut::row_major(gh, b, gh_width),
            true,
        );
        let (c_prev, c_now) = if K::HAS_C {
            let (before, now) = cs.split_at_mut((step + 1) * state);
            (&before[step * state..], &mut now[..state])
        } else {
            (&[][..], &mut [][..])
        };
        let gates_t = &mut trace.gates[step * b * gh_width..(step + 1) * b * gh_width];
        let extra_t = &mut extra[step * b * K::EXTRA * h..(step + 1) * b * K::EXTRA * h];
        pulp::Arch::new().dispatch(ForwardRows::<K, E> {
            h,
            gates: gates_t,
            gh,
            h_prev,
            c_prev,
            h_now: &mut h_now[..state],
            c_now,
            extra: extra_t,
            kind: PhantomData,
        });
    }
}

/// Backpropagation through time from `∂L/∂hs` (batch-major `[B, T, H]`, if the sequence is an
/// output) and the gradients of the last states. **Adds** the weights' gradients; leaves those
/// of the initial states in `scratch.d_h`, `scratch.d_c` and, when `inputs`, `∂L/∂x`
/// batch-major in `d_x`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward<K: CellKind, E: Element>(
    w: &Weights<'_, E>,
    grads: WeightGrads<'_, E>,
    trace: &Trace<E>,
    d_hs: Option<&[E]>,
    d_h_last: &[E],
    d_c_last: Option<&[E]>,
    scratch: &mut Scratch<E>,
    d_x: Option<&mut [E]>,
) {
    let Sizes { b, t, i, h } = trace.sizes;
    let gh_width = K::GATES * h;
    let state = b * h;
    sized(&mut scratch.d_h, state).copy_from_slice(d_h_last);
    let d_c = sized(&mut scratch.d_c, if K::HAS_C { state } else { 0 });
    match d_c_last {
        Some(d) if K::HAS_C => d_c.copy_from_slice(d),
        _ => d_c.fill(E::zero()),
    }
    sized(&mut scratch.d_zx, t * b * gh_width);
    sized(
        &mut scratch.d_zh,
        if K::SPLIT { t * b * gh_width } else { 0 },
    );
    for step in (0..t).rev() {
        let zs = step * b * gh_width..(step + 1) * b * gh_width;
        let (d_zx_t, d_zh_t) = (&mut scratch.d_zx[zs.clone()], &mut scratch.d_zh[..]);
        let d_zh_t = if K::SPLIT {
            &mut d_zh_t[zs.clone()]
        } else {
            d_zh_t
        };
        pulp::Arch::new().dispatch(BackwardRows::<K, E> {
            h,
            d_hs: d_hs.map(|d| (d, t, step)),
            d_h: &mut scratch.d_h,
            d_c: &mut scratch.d_c,
            gates: block(&trace.gates, step, b * gh_width),
            h_prev: block(&trace.h, step, state),
            c_prev: if K::HAS_C {
                block(&trace.c, step, state)
            } else {
                &[]
            },
            extra: block(&trace.extra, step, b * K::EXTRA * h),
            d_zx: d_zx_t,
            d_zh: d_zh_t,
            kind: PhantomData,
        });
        // ∂L/∂h_{t−1} += ∂zh·W_hh.
        let d_zh_rows = if K::SPLIT {
            &scratch.d_zh[zs.clone()]
        } else {
            &scratch.d_zx[zs]
        };
        gemm(
            MatRef::row_major(d_zh_rows, b, gh_width),
            MatRef::row_major(w.w_hh, gh_width, h),
            MatMut::row_major(&mut scratch.d_h, b, h),
            true,
        );
    }
    let d_zh = if K::SPLIT {
        &scratch.d_zh
    } else {
        &scratch.d_zx
    };
    // The weights: one product each over all T·B rows.
    gemm(
        MatRef::row_major(d_zh, t * b, gh_width).t(),
        MatRef::row_major(&trace.h, t * b, h),
        MatMut::row_major(grads.w_hh, gh_width, h),
        true,
    );
    add_column_sums(grads.b_hh, &d_zh[..t * b * gh_width]);
    gemm(
        MatRef::row_major(&scratch.d_zx, t * b, gh_width).t(),
        MatRef::row_major(&trace.x, t * b, i),
        MatMut::row_major(grads.w_ih, gh_width, i),
        true,
    );
    add_column_sums(grads.b_ih, &scratch.d_zx);
    if let Some(d_x) = d_x {
        let d_x_tm = sized(&mut scratch.d_x, t * b * i);
        gemm(
            MatRef::row_major(&scratch.d_zx, t * b, gh_width),
            MatRef::row_major(w.w_ih, gh_width, i),
            MatMut::row_major(d_x_tm, t * b, i),
            false,
        );
        swap_outer(&scratch.d_x, t, b, i, d_x);
    }
}

/// One step's rows forward: the kind's arithmetic for each of the batch's rows. Run through
/// `pulp`, so the kind's loops are compiled for each instruction set and the widest the CPU
/// has is chosen at run time (as the GEMM's kernels are): without it they would be 4-wide SSE.
struct ForwardRows<'a, K, E> {
    h: usize,
    /// In: the input side `[B, G·H]`; out: the gates.
    gates: &'a mut [E],
    gh: &'a [E],
    h_prev: &'a [E],
    c_prev: &'a [E],
    h_now: &'a mut [E],
    c_now: &'a mut [E],
    extra: &'a mut [E],
    kind: PhantomData<K>,
}

impl<K: CellKind, E: Element> WithSimd for ForwardRows<'_, K, E> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        let h = self.h;
        let (gw, xw) = (K::GATES * h, K::EXTRA * h);
        for r in 0..self.h_now.len() / h {
            let row = r * h..(r + 1) * h;
            let c_row = if K::HAS_C { row.clone() } else { 0..0 };
            K::forward(
                &mut self.gates[r * gw..(r + 1) * gw],
                &self.gh[r * gw..(r + 1) * gw],
                &self.h_prev[row.clone()],
                &self.c_prev[c_row.clone()],
                &mut self.h_now[row],
                &mut self.c_now[c_row],
                &mut self.extra[r * xw..(r + 1) * xw],
            );
        }
    }
}

/// One step's rows backward, run through `pulp` as [`ForwardRows`] is.
struct BackwardRows<'a, K, E> {
    h: usize,
    /// `∂L/∂hs` batch-major `[B, T, H]`, with `T` and this step.
    d_hs: Option<(&'a [E], usize, usize)>,
    d_h: &'a mut [E],
    d_c: &'a mut [E],
    gates: &'a [E],
    h_prev: &'a [E],
    c_prev: &'a [E],
    extra: &'a [E],
    d_zx: &'a mut [E],
    d_zh: &'a mut [E],
    kind: PhantomData<K>,
}

impl<K: CellKind, E: Element> WithSimd for BackwardRows<'_, K, E> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        let h = self.h;
        let (gw, xw) = (K::GATES * h, K::EXTRA * h);
        for r in 0..self.d_h.len() / h {
            let row = r * h..(r + 1) * h;
            let d_h = &mut self.d_h[row.clone()];
            if let Some((d_hs, t, step)) = self.d_hs {
                let from = (r * t + step) * h;
                for (d, g) in d_h.iter_mut().zip(&d_hs[from..from + h]) {
                    *d += *g;
                }
            }
            let c_row = if K::HAS_C { row.clone() } else { 0..0 };
            let gz = r * gw..(r + 1) * gw;
            K::backward(
                d_h,
                &mut self.d_c[c_row.clone()],
                &self.gates[gz.clone()],
                &self.h_prev[row],
                &self.c_prev[c_row],
                &self.extra[r * xw..(r + 1) * xw],
                &mut self.d_zx[gz.clone()],
                if K::SPLIT {
                    &mut self.d_zh[gz]
                } else {
                    &mut []
                },
            );
        }
    }
}
