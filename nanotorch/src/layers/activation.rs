//! Parameter-free activation layers, for use as fields of a network or on their own.
//! Each saves only what its primitive's backward reads: its output (ReLU, sigmoid, tanh,
//! softmax, log-softmax), its input (GELU, leaky ReLU) or its mask (dropout).

use rand::Rng;

use crate::codegen::Declared;
use crate::element::Element;
use crate::layer::{Init, Layer, Module, ParamMut};
use crate::ops;
use crate::shape::{Dim, HasLastAxis, Shape};
use crate::tensor::Tensor;
use crate::{SeededRng, seeded_rng};

macro_rules! activation_layer {
    // `saves output`: backward reads the forward's output. `saves input`: it reads the input.
    ($(#[$doc:meta])* $name:ident: $bound:path, saves $what:ident, $fwd:path, $bwd:path) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default)]
        pub struct $name<S: Shape, E: Element = f32> {
            /// What the backward reads (see the primitive's doc), from the last `forward`.
            saved: Option<Tensor<S, E>>,
        }

        impl<S: Shape, E: Element> Init for $name<S, E> {
            fn init<R: Rng + ?Sized>(_rng: &mut R) -> Self {
                Self { saved: None }
            }
        }

        impl<S: Shape, E: Element> Module<E> for $name<S, E> {
            fn visit_params(&mut self, _f: &mut dyn FnMut(ParamMut<'_, E>)) {}
            fn visit_named_params(
                &mut self,
                _prefix: &str,
                _f: &mut dyn FnMut(&str, &[usize], ParamMut<'_, E>),
            ) {
            }
            fn set_training(&mut self, _training: bool) {}
        }

        impl<S: $bound, E: Element> Layer<Tensor<S, E>, E> for $name<S, E> {
            type Output = Tensor<S, E>;

            fn forward(&mut self, x: &Tensor<S, E>) -> Tensor<S, E> {
                let y = $fwd(x);
                activation_layer!(@save self, $what, x, y);
                y
            }

            fn backward(&mut self, dy: &Tensor<S, E>) -> Tensor<S, E> {
                match &self.saved {
                    Some(saved) => $bwd(saved, dy),
                    // No forward yet: nothing flowed through, so no gradient flows back.
                    None => Tensor::zeros(dy.shape()),
                }
            }

            fn predict(&self, x: &Tensor<S, E>) -> Tensor<S, E> {
                $fwd(x)
            }
        }

        activation_layer!(@declared $name);
    };
    (@declared $name:ident) => {
        // Applied to a `[B, F]` value in a `network!`, the layer takes `F` features.
        impl<B: Dim, F: Dim, E: Element> Declared for $name<(B, F), E> {
            type InputFeatures = F;
        }
    };
    (@save $self:ident, output, $x:ident, $y:ident) => {
        save_into(&mut $self.saved, &$y)
    };
    (@save $self:ident, input, $x:ident, $y:ident) => {
        save_into(&mut $self.saved, $x)
    };
}

/// Copies `t` into the saved buffer, reusing its allocation when the sizes match.
fn save_into<S: Shape, E: Element>(saved: &mut Option<Tensor<S, E>>, t: &Tensor<S, E>) {
    match saved {
        Some(buf) => buf.assign(t),
        None => *saved = Some(t.clone()),
    }
}

activation_layer!(
    /// ReLU as a layer; see [`ops::relu`]. Saves its output.
    Relu: Shape, saves output, ops::relu, ops::relu_backward
);
activation_layer!(
    /// Sigmoid as a layer; see [`ops::sigmoid`]. Saves its output.
    Sigmoid: Shape, saves output, ops::sigmoid, ops::sigmoid_backward
);
activation_layer!(
    /// Tanh as a layer, as PyTorch's `nn.Tanh`; see [`ops::tanh`]. Saves its output.
    Tanh: Shape, saves output, ops::tanh, ops::tanh_backward
);
activation_layer!(
    /// Exact GELU as a layer, as PyTorch's `nn.GELU()`; see [`ops::gelu`]. Saves its input.
    Gelu: Shape, saves input, ops::gelu, ops::gelu_backward
);
activation_layer!(
    /// Tanh-approximated GELU as a layer, as PyTorch's `nn.GELU(approximate='tanh')`; see
    /// [`ops::gelu_tanh`]. Saves its input.
    GeluTanh: Shape, saves input, ops::gelu_tanh, ops::gelu_tanh_backward
);
activation_layer!(
    /// Softmax over the last axis as a layer, as PyTorch's `nn.Softmax(dim=-1)`; see
    /// [`ops::softmax`](fn@ops::softmax). Saves its output.
    Softmax: HasLastAxis, saves output, ops::softmax, ops::softmax_backward
);
activation_layer!(
    /// Log-softmax over the last axis as a layer, as PyTorch's `nn.LogSoftmax(dim=-1)`; see
    /// [`ops::log_softmax`]. Saves its output.
    LogSoftmax: HasLastAxis, saves output, ops::log_softmax, ops::log_softmax_backward
);

activation_layer!(@declared LeakyRelu);
activation_layer!(@declared Dropout);

/// PyTorch's default negative slope for leaky ReLU.
pub const DEFAULT_NEGATIVE_SLOPE: f64 = 0.01;

/// Leaky ReLU as a layer, as PyTorch's `nn.LeakyReLU(negative_slope)`; see
/// [`ops::leaky_relu`]. Saves its input. [`Init`] and [`Default`] give PyTorch's slope, `0.01`.
#[derive(Clone, Debug)]
pub struct LeakyRelu<S: Shape, E: Element = f32> {
    /// The slope for `x ≤ 0` (may be negative, as in PyTorch).
    pub negative_slope: E,
    /// The input of the last `forward`.
    saved: Option<Tensor<S, E>>,
}

impl<S: Shape, E: Element> LeakyRelu<S, E> {
    /// A leaky ReLU with the given slope for `x ≤ 0`.
    pub fn new(negative_slope: E) -> Self {
        Self {
            negative_slope,
            saved: None,
        }
    }
}

impl<S: Shape, E: Element> Default for LeakyRelu<S, E> {
    fn default() -> Self {
        Self::new(E::cast(DEFAULT_NEGATIVE_SLOPE))
    }
}

impl<S: Shape, E: Element> Init for LeakyRelu<S, E> {
    fn init<R: Rng + ?Sized>(_rng: &mut R) -> Self {
        Self::default()
    }
}

impl<S: Shape, E: Element> Module<E> for LeakyRelu<S, E> {
    fn visit_params(&mut self, _f: &mut dyn FnMut(ParamMut<'_, E>)) {}
    fn visit_named_params(
        &mut self,
        _prefix: &str,
        _f: &mut dyn FnMut(&str, &[usize], ParamMut<'_, E>),
    ) {
    }
    fn set_training(&mut self, _training: bool) {}
}

impl<S: Shape, E: Element> Layer<Tensor<S, E>, E> for LeakyRelu<S, E> {
    type Output = Tensor<S, E>;

    fn forward(&mut self, x: &Tensor<S, E>) -> Tensor<S, E> {
        save_into(&mut self.saved, x);
        self.predict(x)
    }

    fn backward(&mut self, dy: &Tensor<S, E>) -> Tensor<S, E> {
        match &self.saved {
            Some(x) => ops::leaky_relu_backward(x, dy, self.negative_slope),
            None => Tensor::zeros(dy.shape()),
        }
    }

    fn predict(&self, x: &Tensor<S, E>) -> Tensor<S, E> {
        ops::leaky_relu(x, self.negative_slope)
    }
}

/// Dropout as a layer, as PyTorch's `nn.Dropout(p)`; see [`ops::dropout`](fn@ops::dropout).
///
/// Holds its probability `p`, its mode (training, the default, or evaluation — switched by
/// [`Module::train`] / [`Module::eval`]) and its own seeded generator, so a run is reproducible
/// from the network's seed. `forward` draws a new mask in training and saves it; `predict` is
/// always the identity (inference).
#[derive(Clone, Debug)]
pub struct Dropout<S: Shape, E: Element = f32> {
    p: f64,
    training: bool,
    rng: SeededRng,
    /// The mask of the last `forward` (its buffer is reused).
    mask: Option<Tensor<S, E>>,
}

impl<S: Shape, E: Element> Dropout<S, E> {
    /// A dropout layer with drop probability `p` and a generator seeded with `seed`.
    /// A `p` outside `[0, 1]` is a [`crate::ShapeError::Invalid`].
    pub fn new(p: f64, seed: u64) -> Result<Self, crate::ShapeError> {
        Self::with_rng(p, seeded_rng(seed))
    }

    /// A dropout layer with drop probability `p` drawing its masks from `rng`.
    pub fn with_rng(p: f64, rng: SeededRng) -> Result<Self, crate::ShapeError> {
        ops::check_dropout_p(p)?;
        Ok(Self {
            p,
            training: true,
            rng,
            mask: None,
        })
    }

    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// True in training mode (masks are drawn), false in evaluation (identity).
    pub fn is_training(&self) -> bool {
        self.training
    }
}

/// PyTorch's default drop probability for `nn.Dropout()`.
pub const DEFAULT_DROPOUT_P: f64 = 0.5;

impl<S: Shape, E: Element> Init for Dropout<S, E> {
    /// `p = 0.5` (PyTorch's default), in training mode, with a generator seeded from `rng`
    /// (so each dropout layer of a network draws its own masks, all fixed by one seed).
    fn init<R: Rng + ?Sized>(rng: &mut R) -> Self {
        use rand::SeedableRng;
        let own = SeededRng::seed_from_u64(rng.next_u64());
        Self::with_rng(DEFAULT_DROPOUT_P, own).expect("the default p is in [0, 1]")
    }
}

impl<S: Shape, E: Element> Module<E> for Dropout<S, E> {
    fn visit_params(&mut self, _f: &mut dyn FnMut(ParamMut<'_, E>)) {}
    fn visit_named_params(
        &mut self,
        _prefix: &str,
        _f: &mut dyn FnMut(&str, &[usize], ParamMut<'_, E>),
    ) {
    }
    fn set_training(&mut self, training: bool) {
        self.training = training;
    }
}

impl<S: Shape, E: Element> Layer<Tensor<S, E>, E> for Dropout<S, E> {
    type Output = Tensor<S, E>;

    fn forward(&mut self, x: &Tensor<S, E>) -> Tensor<S, E> {
        let mask = self.mask.get_or_insert_with(|| Tensor::zeros(x.shape()));
        let mut y = Tensor::zeros(x.shape());
        ops::dropout_into(x, self.p, self.training, &mut self.rng, &mut y, mask)
            .expect("p was checked when the layer was built");
        y
    }

    fn backward(&mut self, dy: &Tensor<S, E>) -> Tensor<S, E> {
        match &self.mask {
            Some(mask) => ops::dropout_backward(mask, dy),
            None => Tensor::zeros(dy.shape()),
        }
    }

    fn predict(&self, x: &Tensor<S, E>) -> Tensor<S, E> {
        x.clone()
    }
}
