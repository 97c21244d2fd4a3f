//! The layer trait: what every building block of a network — `Linear`, an activation, or a
//! whole `network!` struct — provides.
//!
//! - [`Module`]: parameters (visited in a fixed order, with PyTorch state-dict names),
//!   `zero_grad`, train/eval mode, initialisation.
//! - [`Layer<X>`]: `forward` for input type `X` (saving what backward needs), `backward`
//!   (accumulating parameter gradients and returning the input's gradient), and `predict`
//!   (inference, saving nothing).

use rand::Rng;

use crate::element::Element;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// A trainable parameter: its value and the gradient `backward` accumulates into.
#[derive(Clone, Debug)]
pub struct Param<S: Shape, E: Element> {
    /// The current value.
    pub value: Tensor<S, E>,
    /// ∂L/∂value, summed over every `backward` since the last `zero_grad`.
    pub grad: Tensor<S, E>,
}

impl<S: Shape, E: Element> Param<S, E> {
    /// A parameter with the given value and a zero gradient.
    pub fn new(value: Tensor<S, E>) -> Self {
        let grad = Tensor::zeros(value.shape());
        Self { value, grad }
    }

    /// The view the parameter visitors hand out.
    pub fn as_mut(&mut self) -> ParamMut<'_, E> {
        ParamMut {
            value: self.value.as_slice_mut(),
            grad: self.grad.as_slice_mut(),
        }
    }
}

/// A parameter as optimizers and checkpoints see it: flat row-major value and gradient.
/// The sizes are fixed by the layer; an optimizer updates `value` in place.
pub struct ParamMut<'a, E> {
    /// The value, row-major.
    pub value: &'a mut [E],
    /// The accumulated gradient, same layout.
    pub grad: &'a mut [E],
}

/// A buffer as checkpoints see it: model state that is saved and loaded with the parameters
/// but not trained (PyTorch's `register_buffer`), e.g. BatchNorm's running statistics.
pub enum BufferMut<'a, E> {
    /// Float values, row-major (`running_mean`, `running_var`).
    Values(&'a mut [E]),
    /// A counter, stored as a 64-bit integer as PyTorch does (`num_batches_tracked`).
    Count(&'a mut i64),
}

/// Construction from a random generator, with PyTorch's default initialisation. Networks
/// initialise their fields in declaration order from one generator, so one seed fixes all.
pub trait Init: Sized {
    /// A freshly initialised value.
    fn init<R: Rng + ?Sized>(rng: &mut R) -> Self;
}

/// Parameters, gradients and mode — the part of a layer that does not depend on its input type.
pub trait Module<E: Element> {
    /// Calls `f` on every parameter, always in the same order (the order optimizers rely on).
    /// Allocates nothing.
    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_, E>));

    /// Calls `f` with every parameter's state-dict name (prefixed by `prefix`, e.g.
    /// `"fc1."` gives `"fc1.weight"`), its sizes and its data, in [`Module::visit_params`]
    /// order.
    fn visit_named_params(
        &mut self,
        prefix: &str,
        f: &mut dyn FnMut(&str, &[usize], ParamMut<'_, E>),
    );

    /// Calls `f` with every buffer's state-dict name (prefixed as in
    /// [`Module::visit_named_params`]), its sizes and its data. Buffers are state that is
    /// saved and loaded but never trained: optimizers do not see them. Most layers have none
    /// (the default).
    fn visit_named_buffers(
        &mut self,
        prefix: &str,
        f: &mut dyn FnMut(&str, &[usize], BufferMut<'_, E>),
    ) {
        let _ = (prefix, f);
    }

    /// Switches dropout and similar layers between training (`true`) and evaluation.
    fn set_training(&mut self, training: bool);

    /// Training mode, as PyTorch's `model.train()`.
    fn train(&mut self) {
        self.set_training(true);
    }

    /// Evaluation mode, as PyTorch's `model.eval()`.
    fn eval(&mut self) {
        self.set_training(false);
    }

    /// Sets every parameter gradient to zero, as PyTorch's `optimizer.zero_grad()`.
    fn zero_grad(&mut self) {
        self.visit_params(&mut |p| p.grad.fill(E::zero()));
    }

    /// Number of scalar parameters.
    fn num_params(&mut self) -> usize {
        let mut n = 0;
        self.visit_params(&mut |p| n += p.value.len());
        n
    }
}

/// A differentiable map from `X` to [`Layer::Output`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be applied to a `{X}`",
    label = "this layer does not take values of this shape",
    note = "a layer field must be a NanoTorch layer (`Linear<IN, OUT>`, a `network!` struct, or a type implementing `nanotorch::Layer`, and `nanotorch::codegen::Declared` when it takes `[B, F]`) whose input shape matches the value passed to it"
)]
pub trait Layer<X, E: Element>: Module<E> {
    /// What `forward` returns.
    type Output;

    /// Computes the output and saves what [`Layer::backward`] will read.
    fn forward(&mut self, x: &X) -> Self::Output;

    /// Given `dy = ∂L/∂output` for the last `forward`, **adds** the parameter gradients into
    /// the parameters' `grad` and returns `∂L/∂x`.
    fn backward(&mut self, dy: &Self::Output) -> X;

    /// [`Layer::forward`] writing into `y`, so a caller can reuse its buffer. The default
    /// allocates; `Linear` and generated networks override it to reuse `y`'s memory.
    fn forward_into(&mut self, x: &X, y: &mut Self::Output) {
        *y = self.forward(x);
    }

    /// [`Layer::backward`] writing `∂L/∂x` into `dx` (same buffer-reuse contract as
    /// [`Layer::forward_into`]).
    fn backward_into(&mut self, dy: &Self::Output, dx: &mut X) {
        *dx = self.backward(dy);
    }

    /// Like [`Layer::backward`] but skips `∂L/∂x` — for a network's first layer, whose input
    /// needs no gradient.
    fn backward_params(&mut self, dy: &Self::Output) {
        let _ = self.backward(dy);
    }

    /// Inference: the output without saving anything (and without needing `&mut self`).
    fn predict(&self, x: &X) -> Self::Output;
}

/// A differentiable map from several values to several values: what `network!` writes for a
/// `forward` with more than one input or output, and what an enclosing network calls it
/// through (`let (h, c) = cell(x, state)`).
///
/// `I` and [`Network::Outputs`] are tuples of value types, `(Tensor<(Dyn, U64)>,
/// Tensor<(Dyn, U128)>)`; the methods take and give tuples of references to them
/// ([`Refs`], [`Muts`]), so no value is copied into a tuple. A call with the wrong number of
/// inputs or an input of the wrong shape names a tuple this network is not implemented for:
/// one error at the call, with both tuples written out.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not take the inputs `{I}`",
    label = "called with these inputs",
    note = "a network with several inputs is called with as many values as its `forward` declares, each of its declared shape"
)]
pub trait Network<I: Tuple> {
    /// The tuple of output types (those of [`NetworkIo::Outputs`] for the first input).
    type Outputs: Tuple;

    /// Computes the outputs into `outputs` and saves what [`Network::backward_into`] reads.
    fn forward_into(&mut self, inputs: Refs<'_, I>, outputs: Muts<'_, Self::Outputs>);

    /// Given `∂L/∂outputs` for the last forward, **adds** the parameter gradients and writes
    /// `∂L/∂inputs`.
    fn backward_into(&mut self, d_outputs: Refs<'_, Self::Outputs>, d_inputs: Muts<'_, I>);

    /// Like [`Network::backward_into`], without the input gradients.
    fn backward_params(&mut self, d_outputs: Refs<'_, Self::Outputs>);

    /// Inference: the outputs, saving nothing.
    fn predict(&self, inputs: Refs<'_, I>) -> Self::Outputs;
}

/// The output types of a network with several inputs or outputs, as a tuple, given the type
/// of its first input `X0`. An enclosing network names the types of the values a call returns
/// through this ([`codegen::Out`](crate::codegen::Out)). A `network!` implements it for every
/// `X0`, so the types are known even when the call's inputs are wrong (that is one error, at
/// the call, from [`Network`]); a layer whose outputs depend on its input's length (as
/// [`Lstm`](crate::layers::Lstm)'s do) implements it for the sequences it takes.
pub trait NetworkIo<X0> {
    /// The tuple of output types.
    type Outputs: Tuple;
}

/// Tuples of values (arity 1 to 6), with their tuples of shared and mutable references.
pub trait Tuple {
    /// `(&A, &B)` for `(A, B)`.
    type Refs<'a>
    where
        Self: 'a;
    /// `(&mut A, &mut B)` for `(A, B)`.
    type Muts<'a>
    where
        Self: 'a;
}

/// The tuple of shared references to the values of the tuple type `T`.
pub type Refs<'a, T> = <T as Tuple>::Refs<'a>;
/// The tuple of mutable references to the values of the tuple type `T`.
pub type Muts<'a, T> = <T as Tuple>::Muts<'a>;

/// The `K`-th type of a tuple type: `<(A, B) as Nth<1>>::Ty` is `B`.
pub trait Nth<const K: usize> {
    /// The type at position `K`.
    type Ty;
}

macro_rules! tuples {
    ($( ($($t:ident $k:tt),+) )+) => {$(
        impl<$($t),+> Tuple for ($($t,)+) {
            type Refs<'a> = ($(&'a $t,)+) where Self: 'a;
            type Muts<'a> = ($(&'a mut $t,)+) where Self: 'a;
        }
        tuples!(@nth ($($t),+) $($t $k)+);
    )+};
    (@nth $all:tt $($t:ident $k:tt)+) => {$(
        tuples!(@one $all $t $k);
    )+};
    (@one ($($all:ident),+) $t:ident $k:tt) => {
        impl<$($all),+> Nth<$k> for ($($all,)+) {
            type Ty = $t;
        }
    };
}

tuples! {
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, F 4)
    (A 0, B 1, C 2, D 3, F 4, G 5)
}

/// A layer whose saved values — what its backward reads — can be swapped with a buffer held
/// elsewhere. A scan over time (`let (hs, h) = scan(cell, x, h0)` in `network!`) runs one cell
/// at every step: before step `t` it swaps in step `t`'s buffer, runs the cell, and swaps it
/// out again, so each step keeps its own saved values while the parameters are shared; the
/// backward loop swaps each step's values back in before the cell's backward. A swap moves
/// pointers, not data: after the first sequence, a step allocates nothing.
///
/// Every `network!` whose fields are `Linear`s and other networks implements it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be run at every step of a scan",
    label = "the cell of this scan",
    note = "a scanned cell is a `network!` whose fields are `Linear` layers or other such networks: its saved values must be swappable per step (`nanotorch::StepState`)"
)]
pub trait StepState {
    /// Everything the layer's backward reads, owned.
    type Saved: Default + Clone + std::fmt::Debug;

    /// Exchanges the layer's saved values with `saved`.
    fn swap_saved(&mut self, saved: &mut Self::Saved);
}
