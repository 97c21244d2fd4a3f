//! Parameter-free activation layers, for use as fields of a network or on their own.
//! Each saves only what its primitive's backward reads.

use rand::Rng;

use crate::element::Element;
use crate::layer::{Init, Layer, Module, ParamMut};
use crate::ops;
use crate::shape::Shape;
use crate::tensor::Tensor;

macro_rules! activation_layer {
    ($(#[$doc:meta])* $name:ident, $fwd:path, $bwd:path) => {
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

        impl<S: Shape, E: Element> Layer<Tensor<S, E>, E> for $name<S, E> {
            type Output = Tensor<S, E>;

            fn forward(&mut self, x: &Tensor<S, E>) -> Tensor<S, E> {
                let y = $fwd(x);
                match &mut self.saved {
                    Some(buf) => buf.assign(&y),
                    None => self.saved = Some(y.clone()),
                }
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
    };
}

activation_layer!(
    /// ReLU as a layer; see [`ops::relu`]. Saves its output.
    Relu, ops::relu, ops::relu_backward
);
activation_layer!(
    /// Sigmoid as a layer; see [`ops::sigmoid`]. Saves its output.
    Sigmoid, ops::sigmoid, ops::sigmoid_backward
);
