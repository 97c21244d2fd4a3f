//! Batch normalisation layers: [`BatchNorm1d`] over `[B, C]` and [`BatchNorm2d`] over
//! `[B, C, H, W]`.

use rand::Rng;

use crate::element::Element;
use crate::layer::{BufferMut, Init, Layer, Module, Param, ParamMut};
use crate::ops::batch_norm::{
    BatchNormSpec, Layout, backward_slices, eval_backward_slices, eval_slices, layout, train_slices,
};
use crate::shape::{Dim, StaticDim};
use crate::tensor::Tensor;

/// The state both batch-norm layers share: the affine parameters, the running statistics
/// (buffers), and what the last forward saved.
#[derive(Clone, Debug)]
pub struct BatchNormState<C: StaticDim, E: Element> {
    /// The scale γ, `[C]`, initialised to 1 (state-dict name `weight`).
    pub weight: Param<(C,), E>,
    /// The shift β, `[C]`, initialised to 0 (`bias`).
    pub bias: Param<(C,), E>,
    /// The running mean, `[C]`, initialised to 0 — a buffer (`running_mean`): saved and
    /// loaded, never trained.
    pub running_mean: Tensor<(C,), E>,
    /// The running (unbiased) variance, `[C]`, initialised to 1 — a buffer (`running_var`).
    pub running_var: Tensor<(C,), E>,
    /// How many training batches updated the running statistics (`num_batches_tracked`).
    pub num_batches_tracked: i64,
    /// `eps` and `momentum` (PyTorch's defaults, `1e-5` and `0.1`).
    pub spec: BatchNormSpec,
    training: bool,
    /// Whether the last forward normalised with batch statistics (its backward differs).
    saved_training: bool,
    saved_layout: Layout,
    x_hat: Vec<E>,
    inv_std: Vec<E>,
}

impl<C: StaticDim, E: Element> BatchNormState<C, E> {
    fn new() -> Self {
        Self {
            weight: Param::new(Tensor::ones((C::default(),))),
            bias: Param::new(Tensor::zeros((C::default(),))),
            running_mean: Tensor::zeros((C::default(),)),
            running_var: Tensor::ones((C::default(),)),
            num_batches_tracked: 0,
            spec: BatchNormSpec::default(),
            training: true,
            saved_training: true,
            saved_layout: (0, C::SIZE, 0),
            x_hat: Vec::new(),
            inv_std: vec![E::zero(); C::SIZE],
        }
    }

    /// Normalises `x` (row-major, sizes `dims`) into `y`: batch statistics in training mode
    /// (updating the running ones), running statistics in evaluation mode.
    fn forward(&mut self, dims: &[usize], x: &[E], y: &mut [E]) {
        let layout = layout(dims);
        self.x_hat.resize(x.len(), E::zero());
        let affine = (self.weight.value.as_slice(), self.bias.value.as_slice());
        let saved = (&mut self.x_hat[..], &mut self.inv_std[..]);
        if self.training {
            let running = (
                self.running_mean.as_slice_mut(),
                self.running_var.as_slice_mut(),
            );
            train_slices(layout, x, affine, self.spec, running, y, saved);
            self.num_batches_tracked += 1;
        } else {
            let running = (self.running_mean.as_slice(), self.running_var.as_slice());
            eval_slices(layout, x, affine, self.spec, running, y, saved);
        }
        self.saved_training = self.training;
        self.saved_layout = layout;
    }

    /// The running-statistics normalisation, saving nothing.
    fn predict(&self, dims: &[usize], x: &[E], y: &mut [E]) {
        let mut x_hat = vec![E::zero(); x.len()];
        let mut inv_std = vec![E::zero(); C::SIZE];
        eval_slices(
            layout(dims),
            x,
            (self.weight.value.as_slice(), self.bias.value.as_slice()),
            self.spec,
            (self.running_mean.as_slice(), self.running_var.as_slice()),
            y,
            (&mut x_hat, &mut inv_std),
        );
    }

    /// Adds the parameter gradients and, if `dx` is given, writes ∂L/∂x.
    fn backward(&mut self, dims: &[usize], dy: &[E], dx: Option<&mut [E]>) {
        assert_eq!(
            layout(dims),
            self.saved_layout,
            "backward must follow a forward with the same batch size"
        );
        // Without the input gradient only the two parameter sums are needed.
        let Some(dx) = dx else {
            return self.param_grads(dy);
        };
        let saved = (&self.x_hat[..], &self.inv_std[..]);
        let grads = (
            self.weight.grad.as_slice_mut(),
            self.bias.grad.as_slice_mut(),
        );
        if self.saved_training {
            backward_slices(
                self.saved_layout,
                saved,
                self.weight.value.as_slice(),
                dy,
                dx,
                grads,
            );
        } else {
            eval_backward_slices(
                self.saved_layout,
                saved,
                self.weight.value.as_slice(),
                dy,
                dx,
                grads,
            );
        }
    }

    /// `dweight += Σ dy ⊙ x̂`, `dbias += Σ dy` — the same in both modes.
    fn param_grads(&mut self, dy: &[E]) {
        let (b, c_count, l) = self.saved_layout;
        let (dw, db) = (
            self.weight.grad.as_slice_mut(),
            self.bias.grad.as_slice_mut(),
        );
        for s in 0..b {
            for c in 0..c_count {
                let at = (s * c_count + c) * l..(s * c_count + c + 1) * l;
                for (&d, &h) in dy[at.clone()].iter().zip(&self.x_hat[at]) {
                    dw[c] += d * h;
                    db[c] += d;
                }
            }
        }
    }

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

    fn visit_named_buffers(
        &mut self,
        prefix: &str,
        f: &mut dyn FnMut(&str, &[usize], BufferMut<'_, E>),
    ) {
        f(
            &format!("{prefix}running_mean"),
            &[C::SIZE],
            BufferMut::Values(self.running_mean.as_slice_mut()),
        );
        f(
            &format!("{prefix}running_var"),
            &[C::SIZE],
            BufferMut::Values(self.running_var.as_slice_mut()),
        );
        f(
            &format!("{prefix}num_batches_tracked"),
            &[],
            BufferMut::Count(&mut self.num_batches_tracked),
        );
    }
}

macro_rules! batch_norm_layer {
    ($(#[$doc:meta])* $name:ident, ($($d:ident),*)) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name<C: StaticDim, E: Element = f32> {
            /// Parameters, running statistics and saved values.
            pub state: BatchNormState<C, E>,
        }

        impl<C: StaticDim, E: Element> Init for $name<C, E> {
            fn init<R: Rng + ?Sized>(_rng: &mut R) -> Self {
                Self { state: BatchNormState::new() }
            }
        }

        impl<C: StaticDim, E: Element> Module<E> for $name<C, E> {
            fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_, E>)) {
                self.state.visit_params(f);
            }
            fn visit_named_params(
                &mut self,
                prefix: &str,
                f: &mut dyn FnMut(&str, &[usize], ParamMut<'_, E>),
            ) {
                self.state.visit_named_params(prefix, f);
            }
            fn visit_named_buffers(
                &mut self,
                prefix: &str,
                f: &mut dyn FnMut(&str, &[usize], BufferMut<'_, E>),
            ) {
                self.state.visit_named_buffers(prefix, f);
            }
            fn set_training(&mut self, training: bool) {
                self.state.training = training;
            }
        }

        impl<B: Dim, C: StaticDim, $($d: Dim,)* E: Element> Layer<Tensor<(B, C, $($d),*), E>, E>
            for $name<C, E>
        {
            type Output = Tensor<(B, C, $($d),*), E>;

            fn forward(&mut self, x: &Self::Output) -> Self::Output {
                let mut y = Tensor::zeros(x.shape());
                self.forward_into(x, &mut y);
                y
            }

            fn forward_into(&mut self, x: &Self::Output, y: &mut Self::Output) {
                y.resize_to(x.shape());
                self.state.forward(x.dims(), x.as_slice(), y.as_slice_mut());
            }

            fn backward(&mut self, dy: &Self::Output) -> Self::Output {
                let mut dx = Tensor::zeros(dy.shape());
                self.backward_into(dy, &mut dx);
                dx
            }

            fn backward_into(&mut self, dy: &Self::Output, dx: &mut Self::Output) {
                dx.resize_to(dy.shape());
                self.state.backward(dy.dims(), dy.as_slice(), Some(dx.as_slice_mut()));
            }

            fn backward_params(&mut self, dy: &Self::Output) {
                self.state.backward(dy.dims(), dy.as_slice(), None);
            }

            fn predict(&self, x: &Self::Output) -> Self::Output {
                let mut y = Tensor::zeros(x.shape());
                self.state.predict(x.dims(), x.as_slice(), y.as_slice_mut());
                y
            }
        }
    };
}

batch_norm_layer!(
    /// Batch normalisation of `[B, C]` features, as PyTorch's `nn.BatchNorm1d(C)`: in training
    /// mode each feature is normalised with the batch's mean and variance and the running
    /// statistics follow them (momentum 0.1); in evaluation mode (`eval()`, and always in
    /// `predict`) the running statistics are used. State-dict names: `weight`, `bias`,
    /// `running_mean`, `running_var`, `num_batches_tracked`. The math is in
    /// [`crate::ops::batch_norm_train_into`].
    ///
    /// A training batch of one sample has no variance: PyTorch refuses it; here every
    /// normalised value is 0 then, so the output is the bias.
    BatchNorm1d, ()
);
batch_norm_layer!(
    /// Batch normalisation of `[B, C, H, W]` feature maps, as PyTorch's `nn.BatchNorm2d(C)`:
    /// each channel is normalised over its `B·H·W` values. Modes, buffers and state-dict names
    /// as [`BatchNorm1d`].
    BatchNorm2d, (H, W)
);
