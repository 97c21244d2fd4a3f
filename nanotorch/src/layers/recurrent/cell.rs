//! The one-step cells: [`Cell`] and its three kinds [`RnnCell`], [`LstmCell`], [`GruCell`].

use std::marker::PhantomData;

use rand::Rng;

use super::RecurrentWeights;
use super::engine::{self, Scratch, Sizes, Trace};
use super::kinds::{CellKind, GruGates, LstmGates, RnnTanh};
use crate::element::Element;
use crate::layer::{Init, Module, Muts, Network, NetworkIo, ParamMut, Refs, StepState};
use crate::shape::{Dim, StaticDim};
use crate::tensor::Tensor;

/// One step of a recurrent cell of kind `K`: the input `x_t: [B, I]` and the state `[B, H]`
/// (`h`, or `h` and `c` for the LSTM) give the next state — PyTorch's `nn.RNNCell`,
/// `nn.LSTMCell`, `nn.GRUCell`.
///
/// In `network!` it is a field called `let h = cell(x_t, h);` (`let (h, c) = cell(x_t, h, c);`)
/// or run over a sequence by `scan(cell, x, h0)`, which keeps each step's saved values
/// ([`StepState`]). Its math is its kind's ([`RnnTanh`], [`LstmGates`], [`GruGates`]): the
/// sequence layers' loop with one step.
///
/// - **Parameters** (PyTorch's cell names): `weight_ih` `[G·H, I]`, `weight_hh` `[G·H, H]`,
///   `bias_ih`, `bias_hh` `[G·H]`, initialised `U(−1/√H, 1/√H)`.
/// - **Saves:** the input, the old state, the gates, the new state and the kind's extra values.
#[derive(Clone, Debug)]
pub struct Cell<K: CellKind, I: StaticDim, H: StaticDim, E: Element = f32> {
    /// The parameters.
    pub weights: RecurrentWeights<I, H, E>,
    trace: Trace<E>,
    scratch: Scratch<E>,
    kind: PhantomData<K>,
}

/// `torch.nn.RNNCell(I, H)` (`tanh`): see [`RnnTanh`] for the math.
pub type RnnCell<I, H, E = f32> = Cell<RnnTanh, I, H, E>;
/// `torch.nn.LSTMCell(I, H)`: see [`LstmGates`] for the math.
pub type LstmCell<I, H, E = f32> = Cell<LstmGates, I, H, E>;
/// `torch.nn.GRUCell(I, H)`: see [`GruGates`] for the math.
pub type GruCell<I, H, E = f32> = Cell<GruGates, I, H, E>;

init_and_module!(Cell, "");

/// A scan swaps each step's saved values in and out.
impl<K: CellKind, I: StaticDim, H: StaticDim, E: Element> StepState for Cell<K, I, H, E> {
    type Saved = Trace<E>;

    fn swap_saved(&mut self, saved: &mut Trace<E>) {
        std::mem::swap(&mut self.trace, saved);
    }
}

// `NetworkIo` is implemented for steps of any width `F` (the outputs do not depend on it), so a
// call with the wrong width is one error, at the call, from `Network`.

/// A value `[B, F]`.
type Rows<B, F, E> = Tensor<(B, F), E>;

impl<K: CellKind, I: StaticDim, H: StaticDim, E: Element> Cell<K, I, H, E> {
    /// One step (`T = 1`: a `[B, I]` input is its own time-major layout).
    fn step<B: Dim>(
        weights: &RecurrentWeights<I, H, E>,
        x: &Rows<B, I, E>,
        h: &Rows<B, H, E>,
        c: Option<&Rows<B, H, E>>,
        trace: &mut Trace<E>,
        scratch: &mut Scratch<E>,
    ) {
        let sizes = Sizes {
            b: x.dims()[0],
            t: 1,
            i: I::SIZE,
            h: H::SIZE,
        };
        let (h, c) = (Some(h.as_slice()), c.map(|c| c.as_slice()));
        engine::forward::<K, E>(&weights.values(), sizes, x.as_slice(), h, c, trace, scratch);
    }

    /// The new state out of the trace, sized as the input's batch.
    fn write_state<B: Dim>(
        trace: &Trace<E>,
        like: &Rows<B, I, E>,
        h: &mut Rows<B, H, E>,
        c: Option<&mut Rows<B, H, E>>,
    ) {
        let b = like.shape().0;
        h.resize_to((b, H::default()));
        h.as_slice_mut().copy_from_slice(trace.last_h());
        if let Some(c) = c {
            c.resize_to((b, H::default()));
            c.as_slice_mut().copy_from_slice(trace.last_c());
        }
    }

    /// Backward of one step; **adds** the parameter gradients, writes the inputs' if wanted.
    fn step_backward<B: Dim>(
        &mut self,
        d_h: &Rows<B, H, E>,
        d_c: Option<&Rows<B, H, E>>,
        inputs: Option<(
            &mut Rows<B, I, E>,
            &mut Rows<B, H, E>,
            Option<&mut Rows<B, H, E>>,
        )>,
    ) {
        let (values, grads) = self.weights.values_and_grads();
        let (dx, dh, dc) = match inputs {
            Some((dx, dh, dc)) => {
                let b = d_h.shape().0;
                dx.resize_to((b, I::default()));
                (Some(dx.as_slice_mut()), Some(dh), dc)
            }
            None => (None, None, None),
        };
        engine::backward::<K, E>(
            &values,
            grads,
            &self.trace,
            None,
            d_h.as_slice(),
            d_c.map(|c| c.as_slice()),
            &mut self.scratch,
            dx,
        );
        if let Some(dh) = dh {
            dh.resize_to(d_h.shape());
            dh.as_slice_mut().copy_from_slice(&self.scratch.d_h);
        }
        if let Some(dc) = dc {
            dc.resize_to(d_h.shape());
            dc.as_slice_mut().copy_from_slice(&self.scratch.d_c);
        }
    }
}

/// The `Network` impls of the one-state cells (RNN, GRU): `(x_t, h)` → `(h',)`.
macro_rules! one_state_cell {
    ($kind:ty) => {
        impl<B: Dim, F: Dim, I: StaticDim, H: StaticDim, E: Element> NetworkIo<Rows<B, F, E>>
            for Cell<$kind, I, H, E>
        {
            type Outputs = (Rows<B, H, E>,);
        }

        impl<B: Dim, I: StaticDim, H: StaticDim, E: Element> Network<(Rows<B, I, E>, Rows<B, H, E>)>
            for Cell<$kind, I, H, E>
        {
            type Outputs = (Rows<B, H, E>,);

            fn forward_into(
                &mut self,
                (x, h): Refs<'_, (Rows<B, I, E>, Rows<B, H, E>)>,
                (h_new,): Muts<'_, Self::Outputs>,
            ) {
                Self::step(
                    &self.weights,
                    x,
                    h,
                    None,
                    &mut self.trace,
                    &mut self.scratch,
                );
                Self::write_state(&self.trace, x, h_new, None);
            }

            fn backward_into(
                &mut self,
                (d_h,): Refs<'_, Self::Outputs>,
                (dx, dh): Muts<'_, (Rows<B, I, E>, Rows<B, H, E>)>,
            ) {
                self.step_backward(d_h, None, Some((dx, dh, None)));
            }

            fn backward_params(&mut self, (d_h,): Refs<'_, Self::Outputs>) {
                self.step_backward(d_h, None, None);
            }

            fn predict(&self, (x, h): Refs<'_, (Rows<B, I, E>, Rows<B, H, E>)>) -> Self::Outputs {
                let (mut trace, mut scratch) = (Trace::default(), Scratch::default());
                Self::step(&self.weights, x, h, None, &mut trace, &mut scratch);
                let mut out = Self::Outputs::default();
                Self::write_state(&trace, x, &mut out.0, None);
                out
            }
        }
    };
}

one_state_cell!(RnnTanh);
one_state_cell!(GruGates);

/// `(x_t, h, c)`.
type LstmIn<B, I, H, E> = (Rows<B, I, E>, Rows<B, H, E>, Rows<B, H, E>);
/// `(h', c')`.
type LstmState<B, H, E> = (Rows<B, H, E>, Rows<B, H, E>);

impl<B: Dim, F: Dim, I: StaticDim, H: StaticDim, E: Element> NetworkIo<Rows<B, F, E>>
    for LstmCell<I, H, E>
{
    type Outputs = LstmState<B, H, E>;
}

impl<B: Dim, I: StaticDim, H: StaticDim, E: Element> Network<LstmIn<B, I, H, E>>
    for LstmCell<I, H, E>
{
    type Outputs = LstmState<B, H, E>;

    fn forward_into(
        &mut self,
        (x, h, c): Refs<'_, LstmIn<B, I, H, E>>,
        (h_new, c_new): Muts<'_, Self::Outputs>,
    ) {
        Self::step(
            &self.weights,
            x,
            h,
            Some(c),
            &mut self.trace,
            &mut self.scratch,
        );
        Self::write_state(&self.trace, x, h_new, Some(c_new));
    }

    fn backward_into(
        &mut self,
        (d_h, d_c): Refs<'_, Self::Outputs>,
        (dx, dh, dc): Muts<'_, LstmIn<B, I, H, E>>,
    ) {
        self.step_backward(d_h, Some(d_c), Some((dx, dh, Some(dc))));
    }

    fn backward_params(&mut self, (d_h, d_c): Refs<'_, Self::Outputs>) {
        self.step_backward(d_h, Some(d_c), None);
    }

    fn predict(&self, (x, h, c): Refs<'_, LstmIn<B, I, H, E>>) -> Self::Outputs {
        let (mut trace, mut scratch) = (Trace::default(), Scratch::default());
        Self::step(&self.weights, x, h, Some(c), &mut trace, &mut scratch);
        let mut out = Self::Outputs::default();
        Self::write_state(&trace, x, &mut out.0, Some(&mut out.1));
        out
    }
}
