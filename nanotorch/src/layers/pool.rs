//! Pooling layers: [`MaxPool2d`], [`AvgPool2d`] and [`GlobalAvgPool2d`]. They have no
//! parameters; their window is part of the type.

use rand::Rng;

use crate::element::Element;
use crate::layer::{Init, Layer, Module, ParamMut};
use crate::ops::pool::{
    Pool2dSpec, avg_pool2d_backward_into, avg_pool2d_into, global_avg_pool2d_backward_into,
    global_avg_pool2d_into, max_pool2d_backward_into, max_pool2d_into,
};
use crate::shape::{Const, ConvOut, ConvWindow, Dim};
use crate::tensor::Tensor;

/// A parameter-free layer: no parameters, nothing to switch between train and eval.
macro_rules! no_params {
    ($name:ident $(<$(const $k:ident: usize),*>)?) => {
        impl<E: Element $($(, const $k: usize)*)?> Module<E> for $name $(<$($k),*>)? {
            fn visit_params(&mut self, _f: &mut dyn FnMut(ParamMut<'_, E>)) {}
            fn visit_named_params(
                &mut self,
                _prefix: &str,
                _f: &mut dyn FnMut(&str, &[usize], ParamMut<'_, E>),
            ) {
            }
            fn set_training(&mut self, _training: bool) {}
        }

        impl $(<$(const $k: usize),*>)? Init for $name $(<$($k),*>)? {
            fn init<R: Rng + ?Sized>(_rng: &mut R) -> Self {
                Self::default()
            }
        }
    };
}

/// The output size of a `K`-wide pooling window with stride `S` and padding `P` along an axis
/// of size `X`.
pub type PoolOut<X, const K: usize, const S: usize, const P: usize> =
    ConvOut<X, Const<K>, Const<S>, Const<P>>;

/// Max pooling over `K × K` windows moving by `S` (padding `P`), as PyTorch's
/// `nn.MaxPool2d(K, stride=S, padding=P)`; in `network!`, `MaxPool2d<2>` (stride = kernel, as
/// in PyTorch) or `MaxPool2d<3, stride = 2, padding = 1>`.
///
/// `[B, C, H, W]` → `[B, C, OH, OW]` with `OH = ⌊(H + 2P − K)/S⌋ + 1` computed in types.
/// `forward` saves the arg-max of every window (see [`crate::ops::max_pool2d`]).
#[derive(Clone, Debug, Default)]
pub struct MaxPool2d<const K: usize, const S: usize = K, const P: usize = 0> {
    argmax: Vec<usize>,
}
no_params!(MaxPool2d<const K: usize, const S: usize, const P: usize>);

impl<const K: usize, const S: usize, const P: usize> MaxPool2d<K, S, P> {
    /// The window: kernel `K`, stride `S`, padding `P`.
    pub fn spec() -> Pool2dSpec {
        Pool2dSpec::new(K, S, P)
    }
}

const WINDOW_CHECKED: &str = "the window fits the input by the Layer bounds";
const SAME_BATCH: &str = "backward must follow a forward with the same batch size";

impl<B, C, H, W, const K: usize, const S: usize, const P: usize, E>
    Layer<Tensor<(B, C, H, W), E>, E> for MaxPool2d<K, S, P>
where
    B: Dim,
    C: Dim,
    E: Element,
    H: ConvWindow<Const<K>, Const<S>, Const<P>>,
    W: ConvWindow<Const<K>, Const<S>, Const<P>>,
{
    type Output = Tensor<(B, C, PoolOut<H, K, S, P>, PoolOut<W, K, S, P>), E>;

    fn forward(&mut self, x: &Tensor<(B, C, H, W), E>) -> Self::Output {
        let (b, c, _, _) = x.shape();
        let mut y = Tensor::zeros((b, c, Default::default(), Default::default()));
        self.forward_into(x, &mut y);
        y
    }

    fn forward_into(&mut self, x: &Tensor<(B, C, H, W), E>, y: &mut Self::Output) {
        max_pool2d_into(x, Self::spec(), y, &mut self.argmax).expect(WINDOW_CHECKED);
    }

    fn backward(&mut self, dy: &Self::Output) -> Tensor<(B, C, H, W), E> {
        let (b, c, _, _) = dy.shape();
        let mut dx = Tensor::zeros((b, c, H::default(), W::default()));
        self.backward_into(dy, &mut dx);
        dx
    }

    fn backward_into(&mut self, dy: &Self::Output, dx: &mut Tensor<(B, C, H, W), E>) {
        let (b, c, _, _) = dy.shape();
        max_pool2d_backward_into(&self.argmax, dy, (b, c, H::default(), W::default()), dx)
            .expect(SAME_BATCH);
    }

    fn backward_params(&mut self, _dy: &Self::Output) {}

    fn predict(&self, x: &Tensor<(B, C, H, W), E>) -> Self::Output {
        let (b, c, _, _) = x.shape();
        let mut y = Tensor::zeros((b, c, Default::default(), Default::default()));
        max_pool2d_into(x, Self::spec(), &mut y, &mut Vec::new()).expect(WINDOW_CHECKED);
        y
    }
}

/// Average pooling over `K × K` windows moving by `S` (padding `P`, counted in the average),
/// as PyTorch's `nn.AvgPool2d(K, stride=S, padding=P)`; in `network!`, `AvgPool2d<2>`.
///
/// `[B, C, H, W]` → `[B, C, OH, OW]` as [`MaxPool2d`]. Saves nothing.
#[derive(Clone, Debug, Default)]
pub struct AvgPool2d<const K: usize, const S: usize = K, const P: usize = 0>;
no_params!(AvgPool2d<const K: usize, const S: usize, const P: usize>);

impl<const K: usize, const S: usize, const P: usize> AvgPool2d<K, S, P> {
    /// The window: kernel `K`, stride `S`, padding `P`.
    pub fn spec() -> Pool2dSpec {
        Pool2dSpec::new(K, S, P)
    }
}

impl<B, C, H, W, const K: usize, const S: usize, const P: usize, E>
    Layer<Tensor<(B, C, H, W), E>, E> for AvgPool2d<K, S, P>
where
    B: Dim,
    C: Dim,
    E: Element,
    H: ConvWindow<Const<K>, Const<S>, Const<P>>,
    W: ConvWindow<Const<K>, Const<S>, Const<P>>,
{
    type Output = Tensor<(B, C, PoolOut<H, K, S, P>, PoolOut<W, K, S, P>), E>;

    fn forward(&mut self, x: &Tensor<(B, C, H, W), E>) -> Self::Output {
        self.predict(x)
    }

    fn forward_into(&mut self, x: &Tensor<(B, C, H, W), E>, y: &mut Self::Output) {
        avg_pool2d_into(x, Self::spec(), y).expect(WINDOW_CHECKED);
    }

    fn backward(&mut self, dy: &Self::Output) -> Tensor<(B, C, H, W), E> {
        let (b, c, _, _) = dy.shape();
        let mut dx = Tensor::zeros((b, c, H::default(), W::default()));
        self.backward_into(dy, &mut dx);
        dx
    }

    fn backward_into(&mut self, dy: &Self::Output, dx: &mut Tensor<(B, C, H, W), E>) {
        let (b, c, _, _) = dy.shape();
        avg_pool2d_backward_into(dy, Self::spec(), (b, c, H::default(), W::default()), dx)
            .expect(WINDOW_CHECKED);
    }

    fn backward_params(&mut self, _dy: &Self::Output) {}

    fn predict(&self, x: &Tensor<(B, C, H, W), E>) -> Self::Output {
        let (b, c, _, _) = x.shape();
        let mut y = Tensor::zeros((b, c, Default::default(), Default::default()));
        avg_pool2d_into(x, Self::spec(), &mut y).expect(WINDOW_CHECKED);
        y
    }
}

/// Global average pooling, `[B, C, H, W]` → `[B, C]`: each channel's mean over its whole map
/// (PyTorch's `nn.AdaptiveAvgPool2d(1)` followed by `flatten(1)`). See
/// [`crate::ops::global_avg_pool2d`].
#[derive(Clone, Debug, Default)]
pub struct GlobalAvgPool2d;
no_params!(GlobalAvgPool2d);

impl<B: Dim, C: Dim, H: Dim + Default, W: Dim + Default, E: Element>
    Layer<Tensor<(B, C, H, W), E>, E> for GlobalAvgPool2d
{
    type Output = Tensor<(B, C), E>;

    fn forward(&mut self, x: &Tensor<(B, C, H, W), E>) -> Self::Output {
        self.predict(x)
    }

    fn forward_into(&mut self, x: &Tensor<(B, C, H, W), E>, y: &mut Self::Output) {
        global_avg_pool2d_into(x, y);
    }

    fn backward(&mut self, dy: &Self::Output) -> Tensor<(B, C, H, W), E> {
        let (b, c) = dy.shape();
        let mut dx = Tensor::zeros((b, c, H::default(), W::default()));
        self.backward_into(dy, &mut dx);
        dx
    }

    fn backward_into(&mut self, dy: &Self::Output, dx: &mut Tensor<(B, C, H, W), E>) {
        let (b, c) = dy.shape();
        global_avg_pool2d_backward_into(dy, (b, c, H::default(), W::default()), dx)
            .expect(SAME_BATCH);
    }

    fn backward_params(&mut self, _dy: &Self::Output) {}

    fn predict(&self, x: &Tensor<(B, C, H, W), E>) -> Self::Output {
        let (b, c, _, _) = x.shape();
        let mut y = Tensor::zeros((b, c));
        global_avg_pool2d_into(x, &mut y);
        y
    }
}
