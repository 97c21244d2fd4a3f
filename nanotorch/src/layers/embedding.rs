//! Embedding layers: [`Embedding`], a table of token vectors, and [`PositionEmbedding`], a
//! table of position vectors added to a sequence.

use rand::Rng;

use crate::element::Element;
use crate::layer::{Init, Layer, Module, Param, ParamMut};
use crate::ops::embedding::{add_table, gather_rows, scatter_add_rows, sum_into_table};
use crate::shape::{Dim, Dyn, StaticDim};
use crate::tensor::Tensor;
use crate::tokens::Tokens;

/// A table of `V` learned vectors of `C` features, looked up by token id — PyTorch's
/// `nn.Embedding(V, C)`.
///
/// - `weight`: `[V, C]`, state-dict name `weight`, initialised `N(0, 1)` as PyTorch.
/// - Input: [`Tokens<T, V>`](Tokens), a batch of `T` ids below `V`; output: `[B, T, C]`,
///   row `weight[id]` for every id.
/// - `forward` saves the ids (the backward adds each gradient row onto the row it came from).
///
/// **Backward.** Token ids are integers and have no gradient. `backward`,
/// `backward_into` and `backward_params` all **add** the table's gradient into
/// `weight.grad`; `backward` then returns the ids of the last forward unchanged (the
/// `Layer` trait's input type) and `backward_into` leaves its destination untouched. An
/// embedding is always the first layer of a network, so `backward_params` is the one a
/// network calls.
///
/// The math is in [`crate::ops::embedding()`].
#[derive(Clone, Debug)]
pub struct Embedding<V: StaticDim, C: StaticDim, E: Element = f32> {
    /// The table, `[V, C]`: row `v` is token `v`'s vector.
    pub weight: Param<(V, C), E>,
    /// The ids of the last `forward`, row-major `[B, T]`.
    saved_ids: Vec<usize>,
    /// The batch of the last `forward`.
    saved_batch: usize,
}

impl<V: StaticDim, C: StaticDim, E: Element> Embedding<V, C, E> {
    /// A layer with the given table `[V, C]` (e.g. loaded from a checkpoint).
    pub fn from_tensor(weight: Tensor<(V, C), E>) -> Self {
        Self {
            weight: Param::new(weight),
            saved_ids: Vec::new(),
            saved_batch: 0,
        }
    }

    /// Scatters `dy` into `weight.grad` at the saved ids.
    fn add_grad<T: StaticDim>(&mut self, dy: &Tensor<(Dyn, T, C), E>) {
        assert!(
            dy.dims() == [self.saved_batch, T::SIZE, C::SIZE]
                && self.saved_ids.len() == self.saved_batch * T::SIZE,
            "backward must follow a forward with the same batch size"
        );
        scatter_add_rows(
            &self.saved_ids,
            dy.as_slice(),
            C::SIZE,
            self.weight.grad.as_slice_mut(),
        );
    }
}

impl<V: StaticDim, C: StaticDim, E: Element> Init for Embedding<V, C, E> {
    fn init<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let weight = Tensor::rand_normal((V::default(), C::default()), E::zero(), E::one(), rng)
            .expect("std 1 is a valid standard deviation");
        Self::from_tensor(weight)
    }
}

impl<V: StaticDim, C: StaticDim, E: Element> Module<E> for Embedding<V, C, E> {
    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_, E>)) {
        f(self.weight.as_mut());
    }

    fn visit_named_params(
        &mut self,
        prefix: &str,
        f: &mut dyn FnMut(&str, &[usize], ParamMut<'_, E>),
    ) {
        f(
            &format!("{prefix}weight"),
            &[V::SIZE, C::SIZE],
            self.weight.as_mut(),
        );
    }

    fn set_training(&mut self, _training: bool) {}
}

impl<T: StaticDim, V: StaticDim, C: StaticDim, E: Element> Layer<Tokens<T, V>, E>
    for Embedding<V, C, E>
{
    type Output = Tensor<(Dyn, T, C), E>;

    fn forward(&mut self, x: &Tokens<T, V>) -> Self::Output {
        let mut y = Tensor::zeros((Dyn(x.batch()), T::default(), C::default()));
        self.forward_into(x, &mut y);
        y
    }

    fn forward_into(&mut self, x: &Tokens<T, V>, y: &mut Self::Output) {
        y.resize_to((Dyn(x.batch()), T::default(), C::default()));
        gather_rows(
            x.ids(),
            self.weight.value.as_slice(),
            C::SIZE,
            y.as_slice_mut(),
        );
        // The ids are kept in a buffer that is reused from one batch to the next.
        self.saved_ids.clear();
        self.saved_ids.extend_from_slice(x.ids());
        self.saved_batch = x.batch();
    }

    /// Adds the table's gradient and returns the ids of the last forward (ids have no
    /// gradient).
    fn backward(&mut self, dy: &Self::Output) -> Tokens<T, V> {
        self.add_grad(dy);
        Tokens::from_checked(self.saved_batch, self.saved_ids.clone())
    }

    /// Adds the table's gradient; `dx` is left unchanged (ids have no gradient).
    fn backward_into(&mut self, dy: &Self::Output, _dx: &mut Tokens<T, V>) {
        self.add_grad(dy);
    }

    fn backward_params(&mut self, dy: &Self::Output) {
        self.add_grad(dy);
    }

    fn predict(&self, x: &Tokens<T, V>) -> Self::Output {
        let mut y = Tensor::zeros((Dyn(x.batch()), T::default(), C::default()));
        gather_rows(
            x.ids(),
            self.weight.value.as_slice(),
            C::SIZE,
            y.as_slice_mut(),
        );
        y
    }
}

/// Learned absolute positions, as minGPT's `wpe = nn.Embedding(T, C)` added to the token
/// embeddings: `y[b, t, :] = x[b, t, :] + weight[t, :]`.
///
/// - `weight`: `[T, C]`, state-dict name `weight`, initialised `N(0, 1)` (`nn.Embedding`'s
///   default).
/// - Input and output: `[B, T, C]` — a sequence of exactly `T` positions.
/// - Backward: `dx = dy`, `weight.grad += Σ_b dy[b]`. Nothing is saved.
///
/// The math is in [`crate::ops::add_positions`].
#[derive(Clone, Debug)]
pub struct PositionEmbedding<T: StaticDim, C: StaticDim, E: Element = f32> {
    /// The table, `[T, C]`: row `t` is added at position `t`.
    pub weight: Param<(T, C), E>,
}

impl<T: StaticDim, C: StaticDim, E: Element> PositionEmbedding<T, C, E> {
    /// A layer with the given table `[T, C]` (e.g. loaded from a checkpoint).
    pub fn from_tensor(weight: Tensor<(T, C), E>) -> Self {
        Self {
            weight: Param::new(weight),
        }
    }
}

impl<T: StaticDim, C: StaticDim, E: Element> Init for PositionEmbedding<T, C, E> {
    fn init<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let weight = Tensor::rand_normal((T::default(), C::default()), E::zero(), E::one(), rng)
            .expect("std 1 is a valid standard deviation");
        Self::from_tensor(weight)
    }
}

impl<T: StaticDim, C: StaticDim, E: Element> Module<E> for PositionEmbedding<T, C, E> {
    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_, E>)) {
        f(self.weight.as_mut());
    }

    fn visit_named_params(
        &mut self,
        prefix: &str,
        f: &mut dyn FnMut(&str, &[usize], ParamMut<'_, E>),
    ) {
        f(
            &format!("{prefix}weight"),
            &[T::SIZE, C::SIZE],
            self.weight.as_mut(),
        );
    }

    fn set_training(&mut self, _training: bool) {}
}

impl<B: Dim, T: StaticDim, C: StaticDim, E: Element> Layer<Tensor<(B, T, C), E>, E>
    for PositionEmbedding<T, C, E>
{
    type Output = Tensor<(B, T, C), E>;

    fn forward(&mut self, x: &Self::Output) -> Self::Output {
        self.predict(x)
    }

    fn forward_into(&mut self, x: &Self::Output, y: &mut Self::Output) {
        y.resize_to(x.shape());
        add_table(x.as_slice(), self.weight.value.as_slice(), y.as_slice_mut());
    }

    fn backward(&mut self, dy: &Self::Output) -> Self::Output {
        Layer::<Self::Output, E>::backward_params(self, dy);
        dy.clone()
    }

    fn backward_into(&mut self, dy: &Self::Output, dx: &mut Self::Output) {
        Layer::<Self::Output, E>::backward_params(self, dy);
        dx.assign(dy);
    }

    fn backward_params(&mut self, dy: &Self::Output) {
        sum_into_table(dy.as_slice(), self.weight.grad.as_slice_mut());
    }

    fn predict(&self, x: &Self::Output) -> Self::Output {
        let mut y = Tensor::zeros(x.shape());
        add_table(x.as_slice(), self.weight.value.as_slice(), y.as_slice_mut());
        y
    }
}
