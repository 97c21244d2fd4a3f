//! Layer normalisation: [`LayerNorm`] over the last axis of `[B, C]` or `[B, T, C]` values.

use rand::Rng;

use crate::element::Element;
use crate::layer::{Init, Layer, Module, Param, ParamMut};
use crate::ops::layer_norm::{LayerNormSaved, backward_rows, forward_rows};
use crate::shape::{Dim, StaticDim};
use crate::tensor::Tensor;

/// Layer normalisation over the last axis, as PyTorch's `nn.LayerNorm(C)`: every row of `C`
/// features (a sample of `[B, C]`, a position of `[B, T, C]`) is normalised with its own mean
/// and biased variance, then scaled by `weight` and shifted by `bias`.
///
/// - `weight`: `[C]`, initialised to 1 (state-dict name `weight`); `bias`: `[C]`, initialised
///   to 0 (`bias`); `eps = 1e-5`, added to the variance.
/// - Input and output: `[B, C]` or `[B, T, C]`, the same shape.
/// - No running statistics and no train/eval difference: a row never sees the rest of its
///   batch.
/// - `forward` saves `x̂` and `1/σ` per row.
///
/// The math is in [`crate::ops::layer_norm_into`].
#[derive(Clone, Debug)]
pub struct LayerNorm<C: StaticDim, E: Element = f32> {
    /// The scale γ, `[C]`.
    pub weight: Param<(C,), E>,
    /// The shift β, `[C]`.
    pub bias: Param<(C,), E>,
    /// Added to the variance before the square root (PyTorch's default `1e-5`).
    pub eps: f64,
    /// `x̂` and `1/σ` of the last forward.
    saved: LayerNormSaved<E>,
}

impl<C: StaticDim, E: Element> LayerNorm<C, E> {
    /// The freshly initialised layer: weight 1, bias 0, eps `1e-5`.
    pub fn new() -> Self {
        Self::from_tensors(
            Tensor::ones((C::default(),)),
            Tensor::zeros((C::default(),)),
        )
    }

    /// A layer with the given weight and bias `[C]` (e.g. loaded from a checkpoint), eps
    /// `1e-5`.
    pub fn from_tensors(weight: Tensor<(C,), E>, bias: Tensor<(C,), E>) -> Self {
        Self {
            weight: Param::new(weight),
            bias: Param::new(bias),
            eps: 1e-5,
            saved: LayerNormSaved::new(),
        }
    }

    fn forward_slices(&mut self, x: &[E], y: &mut [E]) {
        self.saved.x_hat.resize(x.len(), E::zero());
        self.saved
            .inv_std
            .resize(x.len() / C::SIZE.max(1), E::zero());
        forward_rows(
            C::SIZE,
            x,
            (self.weight.value.as_slice(), self.bias.value.as_slice()),
            E::cast(self.eps),
            y,
            Some((&mut self.saved.x_hat, &mut self.saved.inv_std)),
        );
    }

    fn predict_slices(&self, x: &[E], y: &mut [E]) {
        forward_rows(
            C::SIZE,
            x,
            (self.weight.value.as_slice(), self.bias.value.as_slice()),
            E::cast(self.eps),
            y,
            None,
        );
    }

    fn backward_slices(&mut self, dy: &[E], dx: Option<&mut [E]>) {
        assert_eq!(
            dy.len(),
            self.saved.x_hat.len(),
            "backward must follow a forward with the same batch size"
        );
        backward_rows(
            C::SIZE,
            (&self.saved.x_hat, &self.saved.inv_std),
            self.weight.value.as_slice(),
            dy,
            dx,
            (
                self.weight.grad.as_slice_mut(),
                self.bias.grad.as_slice_mut(),
            ),
        );
    }
}

impl<C: StaticDim, E: Element> Default for LayerNorm<C, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: StaticDim, E: Element> Init for LayerNorm<C, E> {
    fn init<R: Rng + ?Sized>(_rng: &mut R) -> Self {
        Self::new()
    }
}

impl<C: StaticDim, E: Element> Module<E> for LayerNorm<C, E> {
    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_, E>)) {
        f(self.weight.as_mut());
        f(self.bias.as_mut());
    }

    fn visit_named_params(
        &mut self,
        prefix: &str,
        f: &mut dyn FnMut(&str, &[usize], ParamMut<'_, E>),
    ) {
        f(&format!("{prefix}weight"), &[C::SIZE], self.weight.as_mut());
        f(&format!("{prefix}bias"), &[C::SIZE], self.bias.as_mut());
    }

    fn set_training(&mut self, _training: bool) {}
}

macro_rules! layer_norm_layer {
    ($($d:ident),*) => {
        impl<$($d: Dim,)* C: StaticDim, E: Element> Layer<Tensor<($($d,)* C), E>, E>
            for LayerNorm<C, E>
        {
            type Output = Tensor<($($d,)* C), E>;

            fn forward(&mut self, x: &Self::Output) -> Self::Output {
                let mut y = Tensor::zeros(x.shape());
                self.forward_into(x, &mut y);
                y
            }

            fn forward_into(&mut self, x: &Self::Output, y: &mut Self::Output) {
                y.resize_to(x.shape());
                self.forward_slices(x.as_slice(), y.as_slice_mut());
            }

            fn backward(&mut self, dy: &Self::Output) -> Self::Output {
                let mut dx = Tensor::zeros(dy.shape());
                self.backward_into(dy, &mut dx);
                dx
            }

            fn backward_into(&mut self, dy: &Self::Output, dx: &mut Self::Output) {
                dx.resize_to(dy.shape());
                self.backward_slices(dy.as_slice(), Some(dx.as_slice_mut()));
            }

            fn backward_params(&mut self, dy: &Self::Output) {
                self.backward_slices(dy.as_slice(), None);
            }

            fn predict(&self, x: &Self::Output) -> Self::Output {
                let mut y = Tensor::zeros(x.shape());
                self.predict_slices(x.as_slice(), y.as_slice_mut());
                y
            }
        }
    };
}

layer_norm_layer!(B);
layer_norm_layer!(B, T);
