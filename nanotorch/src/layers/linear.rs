//! The fully connected layer.

use rand::Rng;

use crate::element::Element;
use crate::layer::{Init, Layer, Module, Param, ParamMut};
use crate::ops::matmul::{
    linear_rows_backward_input, linear_rows_backward_params, linear_rows_into,
};
use crate::ops::{linear_backward_input, linear_backward_params, linear_into};
use crate::shape::{Dim, Dyn, FeaturesAgree, StaticDim};
use crate::tensor::Tensor;

/// A fully connected layer `y = x·Wᵀ + b` from `I` input features to `O` output features,
/// as PyTorch's `nn.Linear(I, O)`.
///
/// - `weight`: `[O, I]`, state-dict name `weight`; `bias`: `[O]`, name `bias`.
/// - Initialisation as PyTorch: `W ~ U(−1/√I, 1/√I)` (Kaiming-uniform with `a = √5`) and
///   `b ~ U(−1/√I, 1/√I)`.
/// - `forward` saves its input (backward needs it for `dW = dyᵀ·x`).
///
/// It maps `[B, I]` rows to `[B, O]`, and the last axis of a `[B, T, I]` sequence to
/// `[B, T, O]` (every position by the same weights, as PyTorch's `nn.Linear` on a 3-d input).
///
/// The math is in [`crate::ops::linear`] and [`crate::ops::linear_seq`].
#[derive(Clone, Debug)]
pub struct Linear<I: StaticDim, O: StaticDim, E: Element = f32> {
    /// The weight, `[out, in]`.
    pub weight: Param<(O, I), E>,
    /// The bias, `[out]`.
    pub bias: Param<(O,), E>,
    /// The input of the last `forward`, kept for `backward` (rows = batch, or batch × length
    /// for a sequence).
    saved_input: Tensor<(Dyn, I), E>,
}

impl<I: StaticDim, O: StaticDim, E: Element> Linear<I, O, E> {
    /// A layer with the given weight `[O, I]` and bias `[O]` (e.g. loaded from a checkpoint).
    pub fn from_tensors(weight: Tensor<(O, I), E>, bias: Tensor<(O,), E>) -> Self {
        Self {
            weight: Param::new(weight),
            bias: Param::new(bias),
            saved_input: Tensor::zeros((Dyn(0), I::default())),
        }
    }
}

impl<I: StaticDim, O: StaticDim, E: Element> Init for Linear<I, O, E> {
    fn init<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let bound = E::cast(1.0 / (I::SIZE as f64).sqrt());
        let weight = Tensor::rand_uniform((O::default(), I::default()), -bound, bound, rng);
        let bias = Tensor::rand_uniform((O::default(),), -bound, bound, rng);
        Self::from_tensors(weight, bias)
    }
}

impl<I: StaticDim, O: StaticDim, E: Element> Module<E> for Linear<I, O, E> {
    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_, E>)) {
        f(self.weight.as_mut());
        f(self.bias.as_mut());
    }

    fn visit_named_params(
        &mut self,
        prefix: &str,
        f: &mut dyn FnMut(&str, &[usize], ParamMut<'_, E>),
    ) {
        f(
            &format!("{prefix}weight"),
            &[O::SIZE, I::SIZE],
            self.weight.as_mut(),
        );
        f(&format!("{prefix}bias"), &[O::SIZE], self.bias.as_mut());
    }

    fn set_training(&mut self, _training: bool) {}
}

impl<B: Dim, I2: Dim, I: StaticDim, O: StaticDim, E: Element> Layer<Tensor<(B, I2), E>, E>
    for Linear<I, O, E>
where
    I2: FeaturesAgree<I>,
{
    type Output = Tensor<(B, O), E>;

    fn forward(&mut self, x: &Tensor<(B, I2), E>) -> Tensor<(B, O), E> {
        let y = self.predict(x);
        // Reuse the saved-input buffer; it reallocates only when the batch size changes.
        self.saved_input.resize_to((Dyn(x.dims()[0]), I::default()));
        self.saved_input
            .as_slice_mut()
            .copy_from_slice(x.as_slice());
        y
    }

    fn backward(&mut self, dy: &Tensor<(B, O), E>) -> Tensor<(B, I2), E> {
        Layer::<Tensor<(B, I2), E>, E>::backward_params(self, dy);
        let dx = linear_backward_input(&self.weight.value, dy);
        Tensor::from_array(dx.into_array()).expect("I2 agrees with I by the trait bound")
    }

    fn forward_into(&mut self, x: &Tensor<(B, I2), E>, y: &mut Tensor<(B, O), E>) {
        linear_into(x, &self.weight.value, Some(&self.bias.value), y)
            .expect("features agree by the trait bound");
        self.saved_input.resize_to((Dyn(x.dims()[0]), I::default()));
        self.saved_input
            .as_slice_mut()
            .copy_from_slice(x.as_slice());
    }

    fn backward_params(&mut self, dy: &Tensor<(B, O), E>) {
        // A batch mismatch means backward was called without the matching forward: a bug in
        // the caller's sequencing, not bad data.
        linear_backward_params(
            &self.saved_input,
            dy,
            &mut self.weight.grad,
            Some(&mut self.bias.grad),
        )
        .expect("backward must follow a forward with the same batch size");
    }

    fn predict(&self, x: &Tensor<(B, I2), E>) -> Tensor<(B, O), E> {
        let mut y = Tensor::zeros((x.shape().0, O::default()));
        linear_into(x, &self.weight.value, Some(&self.bias.value), &mut y)
            .expect("features agree by the trait bound");
        y
    }
}

/// The linear map on the last axis of a sequence: `[B, T, I]` → `[B, T, O]`, computed as one
/// product over the `B·T` rows ([`crate::ops::linear_seq`]). `forward` saves the input, in the
/// same buffer as the `[B, I]` form; `forward_into`, `backward_into` and `backward_params`
/// allocate nothing once the buffers have their size.
impl<B: Dim, T: Dim, I2: Dim, I: StaticDim, O: StaticDim, E: Element>
    Layer<Tensor<(B, T, I2), E>, E> for Linear<I, O, E>
where
    I2: FeaturesAgree<I>,
{
    type Output = Tensor<(B, T, O), E>;

    fn forward(&mut self, x: &Tensor<(B, T, I2), E>) -> Tensor<(B, T, O), E> {
        let (b, t, _) = x.shape();
        let mut y = Tensor::zeros((b, t, O::default()));
        self.forward_into(x, &mut y);
        y
    }

    fn forward_into(&mut self, x: &Tensor<(B, T, I2), E>, y: &mut Tensor<(B, T, O), E>) {
        let (b, t, _) = x.shape();
        y.resize_to((b, t, O::default()));
        self.seq_forward(b.size() * t.size(), x.as_slice(), y.as_slice_mut());
        self.saved_input
            .resize_to((Dyn(b.size() * t.size()), I::default()));
        self.saved_input
            .as_slice_mut()
            .copy_from_slice(x.as_slice());
    }

    fn backward(&mut self, dy: &Tensor<(B, T, O), E>) -> Tensor<(B, T, I2), E> {
        let (b, t, _) = dy.shape();
        let i2 = I2::from_size(I::SIZE).expect("I2 agrees with I by the trait bound");
        let mut dx = Tensor::zeros((b, t, i2));
        self.backward_into(dy, &mut dx);
        dx
    }

    fn backward_into(&mut self, dy: &Tensor<(B, T, O), E>, dx: &mut Tensor<(B, T, I2), E>) {
        Layer::<Tensor<(B, T, I2), E>, E>::backward_params(self, dy);
        let (b, t, _) = dy.shape();
        let i2 = I2::from_size(I::SIZE).expect("I2 agrees with I by the trait bound");
        dx.resize_to((b, t, i2));
        linear_rows_backward_input(
            self.weight.value.as_slice(),
            dy.as_slice(),
            (b.size() * t.size(), I::SIZE, O::SIZE),
            dx.as_slice_mut(),
        );
    }

    fn backward_params(&mut self, dy: &Tensor<(B, T, O), E>) {
        let (b, t, _) = dy.shape();
        let rows = b.size() * t.size();
        // A row-count mismatch means backward was called without the matching forward: a bug
        // in the caller's sequencing, not bad data.
        assert_eq!(
            self.saved_input.dims()[0],
            rows,
            "backward must follow a forward with the same batch size"
        );
        linear_rows_backward_params(
            self.saved_input.as_slice(),
            dy.as_slice(),
            (rows, I::SIZE, O::SIZE),
            self.weight.grad.as_slice_mut(),
            Some(self.bias.grad.as_slice_mut()),
        );
    }

    fn predict(&self, x: &Tensor<(B, T, I2), E>) -> Tensor<(B, T, O), E> {
        let (b, t, _) = x.shape();
        let mut y = Tensor::zeros((b, t, O::default()));
        self.seq_forward(b.size() * t.size(), x.as_slice(), y.as_slice_mut());
        y
    }
}

impl<I: StaticDim, O: StaticDim, E: Element> Linear<I, O, E> {
    /// `y = x·Wᵀ + b` over the `rows` rows of a row-major input of `I` features.
    fn seq_forward(&self, rows: usize, x: &[E], y: &mut [E]) {
        linear_rows_into(
            x,
            self.weight.value.as_slice(),
            Some(self.bias.value.as_slice()),
            (rows, I::SIZE, O::SIZE),
            y,
        );
    }
}
