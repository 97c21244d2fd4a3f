//! The three recurrent cells' arithmetic, one batch row of one time step at a time: what is
//! special about an RNN, an LSTM and a GRU. Everything they share — the products with the
//! weights, the loop over time, where each step's values are kept — is in `engine.rs`.
//!
//! Every slice below is one batch row: `H` values (the hidden size) per gate or state.
//! `gx` is the input side of the gates' pre-activations, `x_t·W_ihᵀ + b_ih` (`G·H` values),
//! `gh` the recurrent side, `h_{t−1}·W_hhᵀ + b_hh`.

use crate::element::Element;
use crate::ops::sigmoid_fast as sigmoid;

/// `tanh z = 2σ(2z) − 1`, through the same vectorisable exponential as the sigmoid.
#[inline(always)]
pub(super) fn tanh<E: Element>(z: E) -> E {
    let two = E::one() + E::one();
    two * sigmoid(two * z) - E::one()
}

/// One kind of recurrent cell: its gate count, its states, and one row's forward and backward.
///
/// Implemented by [`RnnTanh`], [`LstmGates`] and [`GruGates`]; the layers
/// [`Rnn`](super::Rnn), [`Lstm`](super::Lstm), [`Gru`](super::Gru) and the cells
/// [`RnnCell`](super::RnnCell), [`LstmCell`](super::LstmCell), [`GruCell`](super::GruCell) are
/// [`Recurrent`](super::Recurrent) and [`Cell`](super::Cell) of one of them.
pub trait CellKind:
    Clone + Copy + Default + std::fmt::Debug + Send + Sync + 'static + sealed::Sealed
{
    /// Gate blocks stacked in the weights' rows: 1 (RNN), 4 (LSTM: i, f, g, o), 3 (GRU:
    /// r, z, n).
    const GATES: usize;
    /// Whether the cell carries a memory `c` beside `h` (the LSTM).
    const HAS_C: bool;
    /// Values per hidden unit a step keeps besides its gates and states (LSTM: `tanh c_t`;
    /// GRU: the recurrent side of `n`, `h_{t−1}·W_hnᵀ + b_hn`).
    const EXTRA: usize;
    /// Whether the recurrent side's pre-activation gradient differs from the input side's
    /// (the GRU's, where `r` multiplies the recurrent side of `n`).
    const SPLIT: bool;

    /// One row forward: turns `gx` into the gates after their nonlinearities (what backward
    /// reads), writes the new states and the extra values.
    #[allow(clippy::too_many_arguments)]
    fn forward<E: Element>(
        gx: &mut [E],
        gh: &[E],
        h_prev: &[E],
        c_prev: &[E],
        h: &mut [E],
        c: &mut [E],
        extra: &mut [E],
    );

    /// One row backward. On entry `d_h` is `∂L/∂h_t` and `d_c` is `∂L/∂c_t` (LSTM); on exit
    /// they hold the parts of `∂L/∂h_{t−1}` and `∂L/∂c_{t−1}` that do not go through `W_hh`
    /// (the engine adds `∂zh·W_hh` to `d_h`). Writes the gradients of the input side's
    /// pre-activations into `d_zx` and, when [`CellKind::SPLIT`], the recurrent side's into
    /// `d_zh`.
    #[allow(clippy::too_many_arguments)]
    fn backward<E: Element>(
        d_h: &mut [E],
        d_c: &mut [E],
        gates: &[E],
        h_prev: &[E],
        c_prev: &[E],
        extra: &[E],
        d_zx: &mut [E],
        d_zh: &mut [E],
    );
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::RnnTanh {}
    impl Sealed for super::LstmGates {}
    impl Sealed for super::GruGates {}
}

/// The Elman RNN with `tanh` (PyTorch's `nn.RNN` default): `h_t = tanh(gx + gh)`.
///
/// - **Forward:** `h_t = tanh(x_t·W_ihᵀ + b_ih + h_{t−1}·W_hhᵀ + b_hh)`.
/// - **Backward:** `∂z = ∂L/∂h_t ⊙ (1 − h_t²)` on both sides; `h_{t−1}` receives only
///   `∂z·W_hh`.
/// - **Saves:** `h_t` (it is the gate).
#[derive(Clone, Copy, Debug, Default)]
pub struct RnnTanh;

impl CellKind for RnnTanh {
    const GATES: usize = 1;
    const HAS_C: bool = false;
    const EXTRA: usize = 0;
    const SPLIT: bool = false;

    #[inline(always)]
    fn forward<E: Element>(
        gx: &mut [E],
        gh: &[E],
        _h_prev: &[E],
        _c_prev: &[E],
        h: &mut [E],
        _c: &mut [E],
        _extra: &mut [E],
    ) {
        for ((z, r), out) in gx.iter_mut().zip(gh).zip(h.iter_mut()) {
            *z = tanh(*z + *r);
            *out = *z;
        }
    }

    #[inline(always)]
    fn backward<E: Element>(
        d_h: &mut [E],
        _d_c: &mut [E],
        gates: &[E],
        _h_prev: &[E],
        _c_prev: &[E],
        _extra: &[E],
        d_zx: &mut [E],
        _d_zh: &mut [E],
    ) {
        for ((dh, h), dz) in d_h.iter_mut().zip(gates).zip(d_zx.iter_mut()) {
            *dz = *dh * (E::one() - *h * *h);
            *dh = E::zero();
        }
    }
}

/// The LSTM (PyTorch's `nn.LSTM`), gates in PyTorch's order `i, f, g, o`.
///
/// - **Forward:** `z = gx + gh`; `i, f, o = σ(z_i, z_f, z_o)`, `g = tanh(z_g)`;
///   `c_t = f ⊙ c_{t−1} + i ⊙ g`; `h_t = o ⊙ tanh(c_t)`.
/// - **Backward:** `∂c = ∂L/∂c_t + ∂L/∂h_t ⊙ o ⊙ (1 − tanh² c_t)`;
///   `∂z = [∂c ⊙ g ⊙ i(1−i), ∂c ⊙ c_{t−1} ⊙ f(1−f), ∂c ⊙ i ⊙ (1−g²), ∂L/∂h_t ⊙ tanh c_t ⊙ o(1−o)]`
///   on both sides; `∂L/∂c_{t−1} = ∂c ⊙ f`; `h_{t−1}` receives only `∂z·W_hh`.
/// - **Saves:** the four gates after their nonlinearities, `c_t`, `tanh c_t`.
#[derive(Clone, Copy, Debug, Default)]
pub struct LstmGates;

impl CellKind for LstmGates {
    const GATES: usize = 4;
    const HAS_C: bool = true;
    const EXTRA: usize = 1;
    const SPLIT: bool = false;

    #[inline(always)]
    fn forward<E: Element>(
        gx: &mut [E],
        gh: &[E],
        _h_prev: &[E],
        c_prev: &[E],
        h: &mut [E],
        c: &mut [E],
        tanh_c: &mut [E],
    ) {
        let hh = h.len();
        for (z, r) in gx.iter_mut().zip(gh) {
            *z += *r;
        }
        // One pass per kind of nonlinearity (loops the compiler vectorises), then the state.
        let (ifg, o) = gx.split_at_mut(3 * hh);
        let (i_f, g) = ifg.split_at_mut(2 * hh);
        for v in i_f.iter_mut() {
            *v = sigmoid(*v);
        }
        for v in o.iter_mut() {
            *v = sigmoid(*v);
        }
        for v in g.iter_mut() {
            *v = tanh(*v);
        }
        let (i, f) = i_f.split_at(hh);
        // Every slice re-cut to `hh`, so the loop has no bounds checks and vectorises.
        let (c_prev, c, tanh_c, h) = (&c_prev[..hh], &mut c[..hh], &mut tanh_c[..hh], &mut h[..hh]);
        let (g, o) = (&g[..hh], &o[..hh]);
        for j in 0..hh {
            let cj = f[j] * c_prev[j] + i[j] * g[j];
            c[j] = cj;
            tanh_c[j] = tanh(cj);
            h[j] = o[j] * tanh_c[j];
        }
    }

    #[inline(always)]
    fn backward<E: Element>(
        d_h: &mut [E],
        d_c: &mut [E],
        gates: &[E],
        _h_prev: &[E],
        c_prev: &[E],
        tanh_c: &[E],
        d_zx: &mut [E],
        _d_zh: &mut [E],
    ) {
        let hh = d_h.len();
        let one = E::one();
        let (gi, rest) = gates.split_at(hh);
        let (gf, rest) = rest.split_at(hh);
        let (gg, go) = rest.split_at(hh);
        let (di, rest) = d_zx.split_at_mut(hh);
        let (df, rest) = rest.split_at_mut(hh);
        let (dg, d_o) = rest.split_at_mut(hh);
        let (d_o, go, tanh_c, c_prev) = (&mut d_o[..hh], &go[..hh], &tanh_c[..hh], &c_prev[..hh]);
        let (d_c, d_h) = (&mut d_c[..hh], &mut d_h[..hh]);
        for j in 0..hh {
            let (i, f, g, o, tc) = (gi[j], gf[j], gg[j], go[j], tanh_c[j]);
            let dh = d_h[j];
            let dc = d_c[j] + dh * o * (one - tc * tc);
            di[j] = dc * g * i * (one - i);
            df[j] = dc * c_prev[j] * f * (one - f);
            dg[j] = dc * i * (one - g * g);
            d_o[j] = dh * tc * o * (one - o);
            d_c[j] = dc * f;
            d_h[j] = E::zero();
        }
    }
}

/// The GRU (PyTorch's `nn.GRU`), gates in PyTorch's order `r, z, n`.
///
/// - **Forward:** `r = σ(gx_r + gh_r)`, `z = σ(gx_z + gh_z)`, `n = tanh(gx_n + r ⊙ gh_n)` —
///   the reset gate multiplies the recurrent side *with its bias*, `r ⊙ (h_{t−1}·W_hnᵀ + b_hn)`,
///   as PyTorch computes it; `h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}`.
/// - **Backward:** `∂n = ∂L/∂h_t ⊙ (1 − z)`, `∂z = ∂L/∂h_t ⊙ (h_{t−1} − n)`; the pre-activation
///   of `n` gets `∂a_n = ∂n ⊙ (1 − n²)`, of which the input side takes all and the recurrent
///   side `∂a_n ⊙ r`; `∂r = ∂a_n ⊙ gh_n`; `r` and `z` get `∂r ⊙ r(1−r)`, `∂z ⊙ z(1−z)` on both
///   sides; `h_{t−1}` receives `∂L/∂h_t ⊙ z` directly, plus `∂zh·W_hh`.
/// - **Saves:** the three gates after their nonlinearities and `gh_n`.
#[derive(Clone, Copy, Debug, Default)]
pub struct GruGates;

impl CellKind for GruGates {
    const GATES: usize = 3;
    const HAS_C: bool = false;
    const EXTRA: usize = 1;
    const SPLIT: bool = true;

    #[inline(always)]
    fn forward<E: Element>(
        gx: &mut [E],
        gh: &[E],
        h_prev: &[E],
        _c_prev: &[E],
        h: &mut [E],
        _c: &mut [E],
        gh_n: &mut [E],
    ) {
        let hh = h.len();
        let (rz, n) = gx.split_at_mut(2 * hh);
        for (v, r) in rz.iter_mut().zip(&gh[..2 * hh]) {
            *v = sigmoid(*v + *r);
        }
        gh_n.copy_from_slice(&gh[2 * hh..]);
        let (r, z) = rz.split_at(hh);
        let (n, gh_n, h, h_prev) = (&mut n[..hh], &gh_n[..hh], &mut h[..hh], &h_prev[..hh]);
        for j in 0..hh {
            let nj = tanh(n[j] + r[j] * gh_n[j]);
            n[j] = nj;
            h[j] = (E::one() - z[j]) * nj + z[j] * h_prev[j];
        }
    }

    #[inline(always)]
    fn backward<E: Element>(
        d_h: &mut [E],
        _d_c: &mut [E],
        gates: &[E],
        h_prev: &[E],
        _c_prev: &[E],
        gh_n: &[E],
        d_zx: &mut [E],
        d_zh: &mut [E],
    ) {
        let hh = d_h.len();
        let one = E::one();
        let (gr, rest) = gates.split_at(hh);
        let (gz, gn) = rest.split_at(hh);
        let (dxr, rest) = d_zx.split_at_mut(hh);
        let (dxz, dxn) = rest.split_at_mut(hh);
        let (dhr, rest) = d_zh.split_at_mut(hh);
        let (dhz, dhn) = rest.split_at_mut(hh);
        let (gn, dxn, dhn, gh_n) = (&gn[..hh], &mut dxn[..hh], &mut dhn[..hh], &gh_n[..hh]);
        let (d_h, h_prev) = (&mut d_h[..hh], &h_prev[..hh]);
        for j in 0..hh {
            let (r, z, n) = (gr[j], gz[j], gn[j]);
            let dh = d_h[j];
            let d_an = dh * (one - z) * (one - n * n);
            let d_ar = d_an * gh_n[j] * r * (one - r);
            let d_az = dh * (h_prev[j] - n) * z * (one - z);
            dxn[j] = d_an;
            dhn[j] = d_an * r;
            dxr[j] = d_ar;
            dhr[j] = d_ar;
            dxz[j] = d_az;
            dhz[j] = d_az;
            d_h[j] = dh * z;
        }
    }
}
