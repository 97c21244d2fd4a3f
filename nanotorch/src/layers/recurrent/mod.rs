//! Recurrent layers with PyTorch's semantics: the sequence layers [`Rnn`], [`Lstm`], [`Gru`]
//! (`torch.nn.RNN/LSTM/GRU`, one layer, batch first) and the one-step cells [`RnnCell`],
//! [`LstmCell`], [`GruCell`] (`torch.nn.RNNCell/LSTMCell/GRUCell`).
//!
//! Each is one [`CellKind`] — the arithmetic of one row of one step, in `kinds.rs` — run by one
//! shared loop over time (`engine.rs`): the input side of every step, `x·W_ihᵀ + b_ih`, is one
//! product over all `B·T` rows before the loop; only `h_{t−1}·W_hhᵀ` runs step by step;
//! backward runs the steps in reverse and then forms `∂L/∂W_hh = Σ_t ∂z_tᵀ·h_{t−1}`,
//! `∂L/∂W_ih` and `∂L/∂x` in one product each over all steps. A `network!` cell scanned with
//! `scan(cell, x, h0)` computes the same values (lesson 22); these layers are what it looks like
//! fused by hand.

/// `Init` and `Module` of a recurrent layer or cell type (`Recurrent`, `Cell`): PyTorch's
/// initialisation, and the four parameters under PyTorch's names with `suffix` (`"_l0"` for a
/// layer, none for a cell).
macro_rules! init_and_module {
    ($ty:ident, $suffix:literal) => {
        impl<K: CellKind, I: StaticDim, H: StaticDim, E: Element> Init for $ty<K, I, H, E> {
            fn init<R: Rng + ?Sized>(rng: &mut R) -> Self {
                $ty {
                    weights: RecurrentWeights::init(K::GATES, rng),
                    trace: Trace::default(),
                    scratch: Scratch::default(),
                    kind: PhantomData,
                }
            }
        }

        impl<K: CellKind, I: StaticDim, H: StaticDim, E: Element> Module<E> for $ty<K, I, H, E> {
            fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_, E>)) {
                self.weights.visit(f);
            }

            fn visit_named_params(
                &mut self,
                prefix: &str,
                f: &mut dyn FnMut(&str, &[usize], ParamMut<'_, E>),
            ) {
                self.weights.visit_named(prefix, $suffix, f);
            }

            fn set_training(&mut self, _training: bool) {}
        }
    };
}

mod cell;
mod engine;
mod kinds;
mod sequence;

use rand::Rng;

use crate::element::Element;
use crate::layer::{Param, ParamMut};
use crate::shape::{Dyn, StaticDim};
use crate::tensor::Tensor;

pub use cell::{Cell, GruCell, LstmCell, RnnCell};
pub use engine::Trace;
pub use kinds::{CellKind, GruGates, LstmGates, RnnTanh};
pub use sequence::{Gru, Lstm, Recurrent, Rnn};

/// The four parameters of a recurrent layer or cell, in PyTorch's layout: the `G` gates'
/// weights stacked by rows in PyTorch's gate order, all initialised `U(−1/√H, 1/√H)`.
#[derive(Clone, Debug)]
pub struct RecurrentWeights<I: StaticDim, H: StaticDim, E: Element> {
    /// `weight_ih` `[G·H, I]`.
    pub weight_ih: Param<(Dyn, I), E>,
    /// `weight_hh` `[G·H, H]`.
    pub weight_hh: Param<(Dyn, H), E>,
    /// `bias_ih` `[G·H]`.
    pub bias_ih: Param<(Dyn,), E>,
    /// `bias_hh` `[G·H]`.
    pub bias_hh: Param<(Dyn,), E>,
}

impl<I: StaticDim, H: StaticDim, E: Element> RecurrentWeights<I, H, E> {
    /// PyTorch's initialisation for `gates` stacked gates.
    fn init<R: Rng + ?Sized>(gates: usize, rng: &mut R) -> Self {
        let bound = E::cast(1.0 / (H::SIZE as f64).sqrt());
        let rows = Dyn(gates * H::SIZE);
        let weight_ih = Tensor::rand_uniform((rows, I::default()), -bound, bound, rng);
        let weight_hh = Tensor::rand_uniform((rows, H::default()), -bound, bound, rng);
        let bias_ih = Tensor::rand_uniform((rows,), -bound, bound, rng);
        let bias_hh = Tensor::rand_uniform((rows,), -bound, bound, rng);
        RecurrentWeights {
            weight_ih: Param::new(weight_ih),
            weight_hh: Param::new(weight_hh),
            bias_ih: Param::new(bias_ih),
            bias_hh: Param::new(bias_hh),
        }
    }

    /// Visits the four parameters in PyTorch's order.
    fn visit(&mut self, f: &mut dyn FnMut(ParamMut<'_, E>)) {
        f(self.weight_ih.as_mut());
        f(self.weight_hh.as_mut());
        f(self.bias_ih.as_mut());
        f(self.bias_hh.as_mut());
    }

    /// Visits them with PyTorch's names: `weight_ih{suffix}` and so on (`suffix` is `"_l0"`
    /// for a layer, empty for a cell).
    fn visit_named(
        &mut self,
        prefix: &str,
        suffix: &str,
        f: &mut dyn FnMut(&str, &[usize], ParamMut<'_, E>),
    ) {
        let named: [(&str, &mut dyn ViewParam<E>); 4] = [
            ("weight_ih", &mut self.weight_ih),
            ("weight_hh", &mut self.weight_hh),
            ("bias_ih", &mut self.bias_ih),
            ("bias_hh", &mut self.bias_hh),
        ];
        for (name, p) in named {
            let dims = p.dims().to_vec();
            f(&format!("{prefix}{name}{suffix}"), &dims, p.view());
        }
    }

    /// The values, for the engine.
    fn values(&self) -> engine::Weights<'_, E> {
        engine::Weights {
            w_ih: self.weight_ih.value.as_slice(),
            w_hh: self.weight_hh.value.as_slice(),
            b_ih: self.bias_ih.value.as_slice(),
            b_hh: self.bias_hh.value.as_slice(),
        }
    }

    /// The values and, separately borrowed, the gradients.
    fn values_and_grads(&mut self) -> (engine::Weights<'_, E>, engine::WeightGrads<'_, E>) {
        (
            engine::Weights {
                w_ih: self.weight_ih.value.as_slice(),
                w_hh: self.weight_hh.value.as_slice(),
                b_ih: self.bias_ih.value.as_slice(),
                b_hh: self.bias_hh.value.as_slice(),
            },
            engine::WeightGrads {
                w_ih: self.weight_ih.grad.as_slice_mut(),
                w_hh: self.weight_hh.grad.as_slice_mut(),
                b_ih: self.bias_ih.grad.as_slice_mut(),
                b_hh: self.bias_hh.grad.as_slice_mut(),
            },
        )
    }
}

/// A parameter of any shape, seen through its sizes and a [`ParamMut`].
trait ViewParam<E: Element> {
    fn dims(&self) -> &[usize];
    fn view(&mut self) -> ParamMut<'_, E>;
}

impl<S: crate::shape::Shape, E: Element> ViewParam<E> for Param<S, E> {
    fn dims(&self) -> &[usize] {
        self.value.dims()
    }
    fn view(&mut self) -> ParamMut<'_, E> {
        self.as_mut()
    }
}
