//! [`Lstm`]: PyTorch's `nn.LSTM` (one layer, batch first) as one layer with a hand-derived
//! backward through time, its gates fused the way PyTorch stores them.

use rand::Rng;

use crate::element::Element;
use crate::layer::{Init, Module, Muts, Network, NetworkIo, Param, ParamMut, Refs};
use crate::ops::sigmoid_fast as sigmoid;
use crate::ops::{
    linear_backward_input_into, linear_into, linear_seq_backward_input_into,
    linear_seq_backward_params, linear_seq_into,
};
use crate::shape::{Dyn, StaticDim};
use crate::tensor::Tensor;

/// A long short-term memory layer, batch first: `x: [B, T, I]` and the initial state
/// `(h0, c0)`, each `[B, H]`, give the sequence of states `hs: [B, T, H]` and the last
/// `(h, c)` — `torch.nn.LSTM(I, H, batch_first=True)` with `(h0, c0)` given.
///
/// - **Forward**, for `t = 0 … T−1`, with the four gates' weights stacked as PyTorch stacks
///   them (rows `i, f, g, o`): `z_t = x_t·W_ihᵀ + b_ih + h_{t−1}·W_hhᵀ + b_hh` `[B, 4H]`;
///   `i, f, o = σ(z_i, z_f, z_o)`, `g = tanh(z_g)`; `c_t = f ⊙ c_{t−1} + i ⊙ g`;
///   `h_t = o ⊙ tanh(c_t)`. The input side `x·W_ihᵀ + b_ih` is one product over all `B·T`
///   rows before the loop; only `h_{t−1}·W_hhᵀ` runs step by step.
/// - **Backward** through time, `t = T−1 … 0`: `∂L/∂h_t` is what `hs` receives at `t` plus what
///   step `t + 1` sent back; `∂L/∂c_t = ∂L/∂h_t ⊙ o ⊙ (1 − tanh² c_t)` plus step `t + 1`'s
///   `∂L/∂c_t ⊙ f_{t+1}`; the gates' gradients `∂z = [∂i·i(1−i), ∂f·f(1−f), ∂g·(1−g²),
///   ∂o·o(1−o)]` with `∂i = ∂c ⊙ g`, `∂f = ∂c ⊙ c_{t−1}`, `∂g = ∂c ⊙ i`, `∂o = ∂h ⊙ tanh c_t`;
///   `∂L/∂h_{t−1} = ∂z·W_hh` (one product per step). After the loop, one product each over
///   all `B·T` rows: `∂L/∂W_hh = Σ_t ∂z_tᵀ·h_{t−1}`, `∂L/∂W_ih = ∂Zᵀ·X`, `∂L/∂X = ∂Z·W_ih`.
/// - **Saves:** the input, the gates after their nonlinearities, every `c_t` and `tanh c_t`,
///   every `h_t` (the output sequence), every `h_{t−1}` and the initial state.
/// - **Parameters** (PyTorch's names and layouts): `weight_ih_l0` `[4H, I]`, `weight_hh_l0`
///   `[4H, H]`, `bias_ih_l0`, `bias_hh_l0` `[4H]`, all initialised `U(−1/√H, 1/√H)`.
///
/// In `network!` it is a field called with three values: `let (hs, h, c) = lstm(x, h0, c0);`.
#[derive(Clone, Debug)]
pub struct Lstm<I: StaticDim, H: StaticDim, E: Element = f32> {
    /// `weight_ih_l0` `[4H, I]`.
    pub weight_ih: Param<(Dyn, I), E>,
    /// `weight_hh_l0` `[4H, H]`.
    pub weight_hh: Param<(Dyn, H), E>,
    /// `bias_ih_l0` `[4H]`.
    pub bias_ih: Param<(Dyn,), E>,
    /// `bias_hh_l0` `[4H]`.
    pub bias_hh: Param<(Dyn,), E>,
    saved: Saved<I, H, E>,
    work: Work<I, H, E>,
}

/// What the backward reads.
#[derive(Clone, Debug, Default)]
struct Saved<I: StaticDim, H: StaticDim, E: Element> {
    x: Tensor<(Dyn, Dyn, I), E>,
    h0: Tensor<(Dyn, H), E>,
    c0: Tensor<(Dyn, H), E>,
    /// `i, f, g, o` after their nonlinearities, `[B, T, 4H]`.
    gates: Tensor<(Dyn, Dyn, Dyn), E>,
    /// `c_t`, `[B, T, H]`.
    c: Tensor<(Dyn, Dyn, H), E>,
    /// `tanh c_t`, `[B, T, H]`.
    tanh_c: Tensor<(Dyn, Dyn, H), E>,
    /// `h_t`, `[B, T, H]`.
    h: Tensor<(Dyn, Dyn, H), E>,
    /// `h_{t−1}` for every step (`h0`, then `h_0 … h_{T−2}`), `[B, T, H]`: the recurrent
    /// weights' gradient is one product over all steps.
    h_prev: Tensor<(Dyn, Dyn, H), E>,
}

/// Buffers reused from step to step.
#[derive(Clone, Debug, Default)]
struct Work<I: StaticDim, H: StaticDim, E: Element> {
    /// `h_{t−1}·W_hhᵀ + b_hh` for one step, `[B, 4H]`.
    recurrent: Tensor<(Dyn, Dyn), E>,
    /// One step's `h_{t−1}`, `[B, H]`.
    h_prev: Tensor<(Dyn, H), E>,
    /// The gradient of the pre-activation gates, all steps, `[B, T, 4H]`.
    d_z: Tensor<(Dyn, Dyn, Dyn), E>,
    /// One step's `∂z`, `[B, 4H]`.
    d_z_t: Tensor<(Dyn, Dyn), E>,
    /// The carried `∂L/∂h` and `∂L/∂c`, and the next ones, `[B, H]`.
    d_h: Tensor<(Dyn, H), E>,
    d_c: Tensor<(Dyn, H), E>,
    d_h_prev: Tensor<(Dyn, H), E>,
    /// `∂L/∂x` before it is given the caller's length type, `[B, T, I]`.
    d_x_seq: Tensor<(Dyn, Dyn, I), E>,
}

impl<I: StaticDim, H: StaticDim, E: Element> Init for Lstm<I, H, E> {
    fn init<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let bound = E::cast(1.0 / (H::SIZE as f64).sqrt());
        let rows = Dyn(4 * H::SIZE);
        Lstm {
            weight_ih: Param::new(Tensor::rand_uniform(
                (rows, I::default()),
                -bound,
                bound,
                rng,
            )),
            weight_hh: Param::new(Tensor::rand_uniform(
                (rows, H::default()),
                -bound,
                bound,
                rng,
            )),
            bias_ih: Param::new(Tensor::rand_uniform((rows,), -bound, bound, rng)),
            bias_hh: Param::new(Tensor::rand_uniform((rows,), -bound, bound, rng)),
            saved: Saved::default(),
            work: Work::default(),
        }
    }
}

impl<I: StaticDim, H: StaticDim, E: Element> Module<E> for Lstm<I, H, E> {
    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_, E>)) {
        f(self.weight_ih.as_mut());
        f(self.weight_hh.as_mut());
        f(self.bias_ih.as_mut());
        f(self.bias_hh.as_mut());
    }

    fn visit_named_params(
        &mut self,
        prefix: &str,
        f: &mut dyn FnMut(&str, &[usize], ParamMut<'_, E>),
    ) {
        let dims = |p: &[usize]| p.to_vec();
        let (wi, wh) = (
            dims(self.weight_ih.value.dims()),
            dims(self.weight_hh.value.dims()),
        );
        let (bi, bh) = (
            dims(self.bias_ih.value.dims()),
            dims(self.bias_hh.value.dims()),
        );
        f(
            &format!("{prefix}weight_ih_l0"),
            &wi,
            self.weight_ih.as_mut(),
        );
        f(
            &format!("{prefix}weight_hh_l0"),
            &wh,
            self.weight_hh.as_mut(),
        );
        f(&format!("{prefix}bias_ih_l0"), &bi, self.bias_ih.as_mut());
        f(&format!("{prefix}bias_hh_l0"), &bh, self.bias_hh.as_mut());
    }

    fn set_training(&mut self, _training: bool) {}
}

/// `tanh z = 2σ(2z) − 1`, through the same exponential.
#[inline]
fn tanh<E: Element>(z: E) -> E {
    let two = E::one() + E::one();
    two * sigmoid(two * z) - E::one()
}

impl<I: StaticDim, H: StaticDim, E: Element> Lstm<I, H, E> {
    /// The forward pass, keeping what backward reads; the outputs into `hs`, `h`, `c`.
    fn run_forward<T: StaticDim>(
        &mut self,
        x: &Tensor<(Dyn, T, I), E>,
        h0: &Tensor<(Dyn, H), E>,
        c0: &Tensor<(Dyn, H), E>,
        hs: &mut Tensor<(Dyn, T, H), E>,
        h_last: &mut Tensor<(Dyn, H), E>,
        c_last: &mut Tensor<(Dyn, H), E>,
    ) {
        let (b, t, hh) = (x.dims()[0], T::SIZE, H::SIZE);
        let s = &mut self.saved;
        s.x.resize_to((Dyn(b), Dyn(t), I::default()));
        s.x.as_slice_mut().copy_from_slice(x.as_slice());
        s.h0.assign(h0);
        s.c0.assign(c0);
        // The input side for every step at once: z = x·W_ihᵀ + b_ih, [B, T, 4H].
        linear_seq_into(
            &s.x,
            &self.weight_ih.value,
            Some(&self.bias_ih.value),
            &mut s.gates,
        )
        .expect("the input has the layer's width");
        s.c.resize_to((Dyn(b), Dyn(t), H::default()));
        s.tanh_c.resize_to((Dyn(b), Dyn(t), H::default()));
        s.h.resize_to((Dyn(b), Dyn(t), H::default()));
        s.h_prev.resize_to((Dyn(b), Dyn(t), H::default()));
        let w = &mut self.work;
        for step in 0..t {
            // h_{t−1}·W_hhᵀ + b_hh.
            if step == 0 {
                w.h_prev.assign(h0);
            } else {
                w.h_prev.resize_to((Dyn(b), H::default()));
                for r in 0..b {
                    let src = (r * t + step - 1) * hh;
                    w.h_prev.as_slice_mut()[r * hh..(r + 1) * hh]
                        .copy_from_slice(&s.h.as_slice()[src..src + hh]);
                }
            }
            for r in 0..b {
                let dst = (r * t + step) * hh;
                s.h_prev.as_slice_mut()[dst..dst + hh]
                    .copy_from_slice(&w.h_prev.as_slice()[r * hh..(r + 1) * hh]);
            }
            linear_into(
                &w.h_prev,
                &self.weight_hh.value,
                Some(&self.bias_hh.value),
                &mut w.recurrent,
            )
            .expect("the state has the layer's width");
            let (gates, c, tanh_c, h) = (
                s.gates.as_slice_mut(),
                s.c.as_slice_mut(),
                s.tanh_c.as_slice_mut(),
                s.h.as_slice_mut(),
            );
            let c0 = s.c0.as_slice();
            for r in 0..b {
                let z = &mut gates[(r * t + step) * 4 * hh..(r * t + step + 1) * 4 * hh];
                let rec = &w.recurrent.as_slice()[r * 4 * hh..(r + 1) * 4 * hh];
                for (zk, rk) in z.iter_mut().zip(rec) {
                    *zk += *rk;
                }
                // The gates, one pass each (loops the compiler vectorises), then the state.
                let (ifg, o) = z.split_at_mut(3 * hh);
                let (i_f, g) = ifg.split_at_mut(2 * hh);
                for v in i_f.iter_mut().chain(o.iter_mut()) {
                    *v = sigmoid(*v);
                }
                for v in g.iter_mut() {
                    *v = tanh(*v);
                }
                let base = (r * t + step) * hh;
                // The previous step's c sits right before this step's (or is c0).
                let (before, now) = c.split_at_mut(base);
                let c_prev: &[E] = if step == 0 {
                    &c0[r * hh..(r + 1) * hh]
                } else {
                    &before[base - hh..]
                };
                for j in 0..hh {
                    let cj = i_f[hh + j] * c_prev[j] + i_f[j] * g[j];
                    now[j] = cj;
                    tanh_c[base + j] = tanh(cj);
                    h[base + j] = o[j] * tanh_c[base + j];
                }
            }
        }
        hs.resize_to((Dyn(b), T::default(), H::default()));
        hs.as_slice_mut().copy_from_slice(s.h.as_slice());
        h_last.resize_to((Dyn(b), H::default()));
        c_last.resize_to((Dyn(b), H::default()));
        for r in 0..b {
            let last = (r * t + t - 1) * hh;
            let (hsrc, csrc) = if t == 0 {
                (
                    &s.h0.as_slice()[r * hh..(r + 1) * hh],
                    &s.c0.as_slice()[r * hh..(r + 1) * hh],
                )
            } else {
                (
                    &s.h.as_slice()[last..last + hh],
                    &s.c.as_slice()[last..last + hh],
                )
            };
            h_last.as_slice_mut()[r * hh..(r + 1) * hh].copy_from_slice(hsrc);
            c_last.as_slice_mut()[r * hh..(r + 1) * hh].copy_from_slice(csrc);
        }
    }

    /// Backpropagation through time from the gradients of the outputs; **adds** the parameter
    /// gradients and writes those of the input and the initial state into `d_inputs`, if given.
    fn run_backward<T: StaticDim>(
        &mut self,
        d_hs: &Tensor<(Dyn, T, H), E>,
        d_h_last: &Tensor<(Dyn, H), E>,
        d_c_last: &Tensor<(Dyn, H), E>,
        d_inputs: Option<(
            &mut Tensor<(Dyn, T, I), E>,
            &mut Tensor<(Dyn, H), E>,
            &mut Tensor<(Dyn, H), E>,
        )>,
    ) {
        let (s, w) = (&self.saved, &mut self.work);
        let (b, t, hh) = (s.x.dims()[0], T::SIZE, H::SIZE);
        w.d_h.assign(d_h_last);
        w.d_c.assign(d_c_last);
        w.d_z.resize_to((Dyn(b), Dyn(t), Dyn(4 * hh)));
        w.d_z_t.resize_to((Dyn(b), Dyn(4 * hh)));
        let (gates, c, tanh_c) = (s.gates.as_slice(), s.c.as_slice(), s.tanh_c.as_slice());
        for step in (0..t).rev() {
            {
                let (d_h, d_c) = (w.d_h.as_slice_mut(), w.d_c.as_slice_mut());
                let d_z = w.d_z.as_slice_mut();
                let d_hs = d_hs.as_slice();
                for r in 0..b {
                    let base = (r * t + step) * hh;
                    let gz = (r * t + step) * 4 * hh;
                    for j in 0..hh {
                        let k = r * hh + j;
                        let dh = d_h[k] + d_hs[base + j];
                        let (i, f) = (gates[gz + j], gates[gz + hh + j]);
                        let (g, o) = (gates[gz + 2 * hh + j], gates[gz + 3 * hh + j]);
                        let tc = tanh_c[base + j];
                        let dc = d_c[k] + dh * o * (E::one() - tc * tc);
                        let c_prev = if step == 0 {
                            s.c0.as_slice()[k]
                        } else {
                            c[base - hh + j]
                        };
                        d_z[gz + j] = dc * g * i * (E::one() - i);
                        d_z[gz + hh + j] = dc * c_prev * f * (E::one() - f);
                        d_z[gz + 2 * hh + j] = dc * i * (E::one() - g * g);
                        d_z[gz + 3 * hh + j] = dh * tc * o * (E::one() - o);
                        d_c[k] = dc * f;
                    }
                }
            }
            // This step's ∂z as [B, 4H], then ∂W_hh, ∂b_hh and ∂h_{t−1}.
            for r in 0..b {
                let gz = (r * t + step) * 4 * hh;
                w.d_z_t.as_slice_mut()[r * 4 * hh..(r + 1) * 4 * hh]
                    .copy_from_slice(&w.d_z.as_slice()[gz..gz + 4 * hh]);
            }
            linear_backward_input_into(&self.weight_hh.value, &w.d_z_t, &mut w.d_h_prev);
            std::mem::swap(&mut w.d_h, &mut w.d_h_prev);
        }
        // The recurrent weights and the input side, all steps at once.
        linear_seq_backward_params(
            &s.h_prev,
            &w.d_z,
            &mut self.weight_hh.grad,
            Some(&mut self.bias_hh.grad),
        )
        .expect("the gradient has the states' batch and length");
        linear_seq_backward_params(
            &s.x,
            &w.d_z,
            &mut self.weight_ih.grad,
            Some(&mut self.bias_ih.grad),
        )
        .expect("the gradient has the input's batch and length");
        if let Some((dx, dh0, dc0)) = d_inputs {
            linear_seq_backward_input_into(&self.weight_ih.value, &w.d_z, &mut w.d_x_seq);
            dx.resize_to((Dyn(b), T::default(), I::default()));
            dx.as_slice_mut().copy_from_slice(w.d_x_seq.as_slice());
            dh0.assign(&w.d_h);
            dc0.assign(&w.d_c);
        }
    }
}

/// The types of a call `let (hs, h, c) = lstm(x, h0, c0)`.
type Inputs<T, I, H, E> = (
    Tensor<(Dyn, T, I), E>,
    Tensor<(Dyn, H), E>,
    Tensor<(Dyn, H), E>,
);
type Outputs<T, H, E> = (
    Tensor<(Dyn, T, H), E>,
    Tensor<(Dyn, H), E>,
    Tensor<(Dyn, H), E>,
);

impl<T: StaticDim, I: StaticDim, H: StaticDim, E: Element> NetworkIo<Tensor<(Dyn, T, I), E>>
    for Lstm<I, H, E>
{
    type Outputs = Outputs<T, H, E>;
}

impl<T: StaticDim, I: StaticDim, H: StaticDim, E: Element> Network<Inputs<T, I, H, E>>
    for Lstm<I, H, E>
{
    type Outputs = Outputs<T, H, E>;

    fn forward_into(
        &mut self,
        (x, h0, c0): Refs<'_, Inputs<T, I, H, E>>,
        (hs, h, c): Muts<'_, Outputs<T, H, E>>,
    ) {
        self.run_forward(x, h0, c0, hs, h, c);
    }

    fn backward_into(
        &mut self,
        (d_hs, d_h, d_c): Refs<'_, Outputs<T, H, E>>,
        (dx, dh0, dc0): Muts<'_, Inputs<T, I, H, E>>,
    ) {
        self.run_backward(d_hs, d_h, d_c, Some((dx, dh0, dc0)));
    }

    fn backward_params(&mut self, (d_hs, d_h, d_c): Refs<'_, Outputs<T, H, E>>) {
        self.run_backward(d_hs, d_h, d_c, None);
    }

    fn predict(&self, (x, h0, c0): Refs<'_, Inputs<T, I, H, E>>) -> Outputs<T, H, E> {
        let mut scratch = self.clone();
        let mut out = Outputs::<T, H, E>::default();
        scratch.run_forward(x, h0, c0, &mut out.0, &mut out.1, &mut out.2);
        out
    }
}
