//! The sequence layers: [`Recurrent`] over a whole `[B, T, I]` sequence, and its three
//! kinds [`Rnn`], [`Lstm`], [`Gru`].

use std::marker::PhantomData;

use rand::Rng;

use super::RecurrentWeights;
use super::engine::{self, Scratch, Sizes, Trace};
use super::kinds::{CellKind, GruGates, LstmGates, RnnTanh};
use crate::codegen::same_batch;
use crate::element::Element;
use crate::error::ShapeError;
use crate::layer::{Init, Module, Muts, Network, NetworkIo, ParamMut, Refs};
use crate::shape::{Dim, Dyn, StaticDim};
use crate::tensor::Tensor;

/// A recurrent layer of kind `K` over a batch-first sequence: `x: [B, T, I]` and, optionally,
/// the initial state give the sequence of hidden states `hs: [B, T, H]` and the last state —
/// PyTorch's `nn.RNN` / `nn.LSTM` / `nn.GRU` with `batch_first=True` and one layer.
///
/// In `network!` it is a field called with the sequence and, unless it starts at zeros, the
/// initial state: `let (hs, h) = gru(x, h0);`, `let (hs, h) = rnn(x);`,
/// `let (hs, h, c) = lstm(x, h0, c0);`. Several layers are several fields, the second reading
/// the first's `hs`. The forward and backward are [`CellKind`]'s row arithmetic inside the
/// shared loop described in [the module](super); the kind's page states its math.
///
/// - **Parameters** (PyTorch's names for layer 0): `weight_ih_l0` `[G·H, I]`,
///   `weight_hh_l0` `[G·H, H]`, `bias_ih_l0`, `bias_hh_l0` `[G·H]`, initialised
///   `U(−1/√H, 1/√H)`.
/// - **Saves:** the input, every step's gates, states and the kind's extra values, time-major.
#[derive(Clone, Debug)]
pub struct Recurrent<K: CellKind, I: StaticDim, H: StaticDim, E: Element = f32> {
    /// The parameters.
    pub weights: RecurrentWeights<I, H, E>,
    trace: Trace<E>,
    scratch: Scratch<E>,
    kind: PhantomData<K>,
}

/// `torch.nn.RNN(I, H, batch_first=True)` (`tanh`): see [`RnnTanh`] for the math.
pub type Rnn<I, H, E = f32> = Recurrent<RnnTanh, I, H, E>;
/// `torch.nn.LSTM(I, H, batch_first=True)`: see [`LstmGates`] for the math.
pub type Lstm<I, H, E = f32> = Recurrent<LstmGates, I, H, E>;
/// `torch.nn.GRU(I, H, batch_first=True)`: see [`GruGates`] for the math.
pub type Gru<I, H, E = f32> = Recurrent<GruGates, I, H, E>;

init_and_module!(Recurrent, "_l0");

// `NetworkIo` is implemented for sequences of any width `F`: the outputs do not depend on it,
// and a call with the wrong width is then one error, at the call, from `Network`.

/// A sequence `[B, T, F]`.
type Seq<T, F, E> = Tensor<(Dyn, T, F), E>;
/// A state `[B, H]`.
type State<H, E> = Tensor<(Dyn, H), E>;

/// Sizes the outputs to the trace's and copies them out.
fn write_outputs<T: StaticDim, H: StaticDim, E: Element>(
    trace: &Trace<E>,
    hs: &mut Seq<T, H, E>,
    h: &mut State<H, E>,
    c: Option<&mut State<H, E>>,
) {
    let b = trace.sizes().b;
    hs.resize_to((Dyn(b), T::default(), H::default()));
    trace.write_sequence(hs.as_slice_mut());
    h.resize_to((Dyn(b), H::default()));
    h.as_slice_mut().copy_from_slice(trace.last_h());
    if let Some(c) = c {
        c.resize_to((Dyn(b), H::default()));
        c.as_slice_mut().copy_from_slice(trace.last_c());
    }
}

/// The gradients of the input and of the initial state, where a call wants them.
struct InputGrads<'a, T: StaticDim, I: StaticDim, H: StaticDim, E: Element> {
    x: &'a mut Seq<T, I, E>,
    h0: Option<&'a mut State<H, E>>,
    c0: Option<&'a mut State<H, E>>,
}

impl<K: CellKind, I: StaticDim, H: StaticDim, E: Element> Recurrent<K, I, H, E> {
    fn sizes<T: StaticDim>(x: &Seq<T, I, E>) -> Sizes {
        Sizes {
            b: x.dims()[0],
            t: T::SIZE,
            i: I::SIZE,
            h: H::SIZE,
        }
    }

    /// The forward pass, keeping what backward reads.
    fn run_forward<T: StaticDim>(
        &mut self,
        x: &Seq<T, I, E>,
        h0: Option<&State<H, E>>,
        c0: Option<&State<H, E>>,
    ) {
        engine::forward::<K, E>(
            &self.weights.values(),
            Self::sizes(x),
            x.as_slice(),
            h0.map(|h| h.as_slice()),
            c0.map(|c| c.as_slice()),
            &mut self.trace,
            &mut self.scratch,
        );
    }

    /// Backpropagation through time; **adds** the parameter gradients.
    fn run_backward<T: StaticDim>(
        &mut self,
        d_hs: &Seq<T, H, E>,
        d_h: &State<H, E>,
        d_c: Option<&State<H, E>>,
        inputs: Option<InputGrads<'_, T, I, H, E>>,
    ) {
        let b = self.trace.sizes().b;
        let (values, grads) = self.weights.values_and_grads();
        let (dx, h0_grad, c0_grad) = match inputs {
            Some(InputGrads { x, h0, c0 }) => {
                x.resize_to((Dyn(b), T::default(), I::default()));
                (Some(x.as_slice_mut()), h0, c0)
            }
            None => (None, None, None),
        };
        engine::backward::<K, E>(
            &values,
            grads,
            &self.trace,
            Some(d_hs.as_slice()),
            d_h.as_slice(),
            d_c.map(|c| c.as_slice()),
            &mut self.scratch,
            dx,
        );
        for (dst, src) in [(h0_grad, &self.scratch.d_h), (c0_grad, &self.scratch.d_c)] {
            if let Some(dst) = dst {
                dst.resize_to((Dyn(b), H::default()));
                dst.as_slice_mut().copy_from_slice(src);
            }
        }
    }

    /// Inference without `&mut self`: a fresh trace (this allocates; training and generation
    /// loops use `forward_into`, which reuses the layer's buffers).
    fn run_predict<T: StaticDim>(
        &self,
        x: &Seq<T, I, E>,
        h0: Option<&State<H, E>>,
        c0: Option<&State<H, E>>,
        hs: &mut Seq<T, H, E>,
        h: &mut State<H, E>,
        c: Option<&mut State<H, E>>,
    ) {
        let (mut trace, mut scratch) = (Trace::default(), Scratch::default());
        engine::forward::<K, E>(
            &self.weights.values(),
            Self::sizes(x),
            x.as_slice(),
            h0.map(|h| h.as_slice()),
            c0.map(|c| c.as_slice()),
            &mut trace,
            &mut scratch,
        );
        write_outputs::<T, H, E>(&trace, hs, h, c);
    }
}

/// The `Network` impls of the one-state kinds (RNN, GRU): `(x)` or `(x, h0)` → `(hs, h)`.
macro_rules! one_state {
    ($kind:ty) => {
        impl<T: StaticDim, F: Dim, I: StaticDim, H: StaticDim, E: Element> NetworkIo<Seq<T, F, E>>
            for Recurrent<$kind, I, H, E>
        {
            type Outputs = (Seq<T, H, E>, State<H, E>);
        }

        impl<T: StaticDim, I: StaticDim, H: StaticDim, E: Element>
            Network<(Seq<T, I, E>, State<H, E>)> for Recurrent<$kind, I, H, E>
        {
            type Outputs = (Seq<T, H, E>, State<H, E>);

            fn forward_into(
                &mut self,
                (x, h0): Refs<'_, (Seq<T, I, E>, State<H, E>)>,
                (hs, h): Muts<'_, Self::Outputs>,
            ) {
                self.run_forward(x, Some(h0), None);
                write_outputs::<T, H, E>(&self.trace, hs, h, None);
            }

            fn backward_into(
                &mut self,
                (d_hs, d_h): Refs<'_, Self::Outputs>,
                (dx, dh0): Muts<'_, (Seq<T, I, E>, State<H, E>)>,
            ) {
                let inputs = InputGrads {
                    x: dx,
                    h0: Some(dh0),
                    c0: None,
                };
                self.run_backward(d_hs, d_h, None, Some(inputs));
            }

            fn backward_params(&mut self, (d_hs, d_h): Refs<'_, Self::Outputs>) {
                self.run_backward(d_hs, d_h, None, None);
            }

            fn predict(&self, (x, h0): Refs<'_, (Seq<T, I, E>, State<H, E>)>) -> Self::Outputs {
                let mut out = Self::Outputs::default();
                self.run_predict(x, Some(h0), None, &mut out.0, &mut out.1, None);
                out
            }
        }

        impl<T: StaticDim, I: StaticDim, H: StaticDim, E: Element> Network<(Seq<T, I, E>,)>
            for Recurrent<$kind, I, H, E>
        {
            type Outputs = (Seq<T, H, E>, State<H, E>);

            fn forward_into(
                &mut self,
                (x,): Refs<'_, (Seq<T, I, E>,)>,
                (hs, h): Muts<'_, Self::Outputs>,
            ) {
                self.run_forward(x, None, None);
                write_outputs::<T, H, E>(&self.trace, hs, h, None);
            }

            fn backward_into(
                &mut self,
                (d_hs, d_h): Refs<'_, Self::Outputs>,
                (dx,): Muts<'_, (Seq<T, I, E>,)>,
            ) {
                let inputs = InputGrads {
                    x: dx,
                    h0: None,
                    c0: None,
                };
                self.run_backward(d_hs, d_h, None, Some(inputs));
            }

            fn backward_params(&mut self, (d_hs, d_h): Refs<'_, Self::Outputs>) {
                self.run_backward(d_hs, d_h, None, None);
            }

            fn predict(&self, (x,): Refs<'_, (Seq<T, I, E>,)>) -> Self::Outputs {
                let mut out = Self::Outputs::default();
                self.run_predict(x, None, None, &mut out.0, &mut out.1, None);
                out
            }
        }
    };
}

one_state!(RnnTanh);
one_state!(GruGates);

/// What [`Recurrent::forward_state_into`]'s batch check names.
const STATE_BATCH: &str = "the batch sizes of a recurrent layer's sequence and initial state";

/// `forward_state_into` of the one-state kinds.
macro_rules! forward_state_into {
    ($kind:ty) => {
        impl<I: StaticDim, H: StaticDim, E: Element> Recurrent<$kind, I, H, E> {
            /// The forward from a given state, outside `network!` (a generation loop feeding
            /// one character at a time, say), where a call of [`Network::forward_into`] would
            /// have to name which of the layer's input tuples it means: the states into `hs`,
            /// the last into `h`; buffers reused.
            ///
            /// # Errors
            /// [`ShapeError::RuntimeDim`] if `h0`'s batch is not `x`'s.
            pub fn forward_state_into<T: StaticDim>(
                &mut self,
                x: &Seq<T, I, E>,
                h0: &State<H, E>,
                hs: &mut Seq<T, H, E>,
                h: &mut State<H, E>,
            ) -> Result<(), ShapeError> {
                same_batch(x, h0, STATE_BATCH)?;
                self.run_forward(x, Some(h0), None);
                write_outputs::<T, H, E>(&self.trace, hs, h, None);
                Ok(())
            }
        }
    };
}

forward_state_into!(RnnTanh);
forward_state_into!(GruGates);

impl<I: StaticDim, H: StaticDim, E: Element> Lstm<I, H, E> {
    /// The forward from a given state `(h0, c0)`, outside `network!`, as
    /// [`Rnn`]'s `forward_state_into`: the states into `hs`, the last into `h` and `c`.
    ///
    /// # Errors
    /// [`ShapeError::RuntimeDim`] if a state's batch is not `x`'s.
    #[allow(clippy::too_many_arguments)]
    pub fn forward_state_into<T: StaticDim>(
        &mut self,
        x: &Seq<T, I, E>,
        h0: &State<H, E>,
        c0: &State<H, E>,
        hs: &mut Seq<T, H, E>,
        h: &mut State<H, E>,
        c: &mut State<H, E>,
    ) -> Result<(), ShapeError> {
        same_batch(x, h0, STATE_BATCH)?;
        same_batch(x, c0, STATE_BATCH)?;
        self.run_forward(x, Some(h0), Some(c0));
        write_outputs::<T, H, E>(&self.trace, hs, h, Some(c));
        Ok(())
    }
}

type LstmOut<T, H, E> = (Seq<T, H, E>, State<H, E>, State<H, E>);

impl<T: StaticDim, F: Dim, I: StaticDim, H: StaticDim, E: Element> NetworkIo<Seq<T, F, E>>
    for Lstm<I, H, E>
{
    type Outputs = LstmOut<T, H, E>;
}

impl<T: StaticDim, I: StaticDim, H: StaticDim, E: Element>
    Network<(Seq<T, I, E>, State<H, E>, State<H, E>)> for Lstm<I, H, E>
{
    type Outputs = LstmOut<T, H, E>;

    fn forward_into(
        &mut self,
        (x, h0, c0): Refs<'_, (Seq<T, I, E>, State<H, E>, State<H, E>)>,
        (hs, h, c): Muts<'_, Self::Outputs>,
    ) {
        self.run_forward(x, Some(h0), Some(c0));
        write_outputs::<T, H, E>(&self.trace, hs, h, Some(c));
    }

    fn backward_into(
        &mut self,
        (d_hs, d_h, d_c): Refs<'_, Self::Outputs>,
        (dx, dh0, dc0): Muts<'_, (Seq<T, I, E>, State<H, E>, State<H, E>)>,
    ) {
        let inputs = InputGrads {
            x: dx,
            h0: Some(dh0),
            c0: Some(dc0),
        };
        self.run_backward(d_hs, d_h, Some(d_c), Some(inputs));
    }

    fn backward_params(&mut self, (d_hs, d_h, d_c): Refs<'_, Self::Outputs>) {
        self.run_backward(d_hs, d_h, Some(d_c), None);
    }

    fn predict(
        &self,
        (x, h0, c0): Refs<'_, (Seq<T, I, E>, State<H, E>, State<H, E>)>,
    ) -> Self::Outputs {
        let mut out = Self::Outputs::default();
        let (hs, h, c) = (&mut out.0, &mut out.1, &mut out.2);
        self.run_predict(x, Some(h0), Some(c0), hs, h, Some(c));
        out
    }
}

impl<T: StaticDim, I: StaticDim, H: StaticDim, E: Element> Network<(Seq<T, I, E>,)>
    for Lstm<I, H, E>
{
    type Outputs = LstmOut<T, H, E>;

    fn forward_into(
        &mut self,
        (x,): Refs<'_, (Seq<T, I, E>,)>,
        (hs, h, c): Muts<'_, Self::Outputs>,
    ) {
        self.run_forward(x, None, None);
        write_outputs::<T, H, E>(&self.trace, hs, h, Some(c));
    }

    fn backward_into(
        &mut self,
        (d_hs, d_h, d_c): Refs<'_, Self::Outputs>,
        (dx,): Muts<'_, (Seq<T, I, E>,)>,
    ) {
        let inputs = InputGrads {
            x: dx,
            h0: None,
            c0: None,
        };
        self.run_backward(d_hs, d_h, Some(d_c), Some(inputs));
    }

    fn backward_params(&mut self, (d_hs, d_h, d_c): Refs<'_, Self::Outputs>) {
        self.run_backward(d_hs, d_h, Some(d_c), None);
    }

    fn predict(&self, (x,): Refs<'_, (Seq<T, I, E>,)>) -> Self::Outputs {
        let mut out = Self::Outputs::default();
        let (hs, h, c) = (&mut out.0, &mut out.1, &mut out.2);
        self.run_predict(x, None, None, hs, h, Some(c));
        out
    }
}
