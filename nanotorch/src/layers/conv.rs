//! The 2-d convolution layer.

use rand::Rng;

use crate::element::Element;
use crate::layer::{Init, Layer, Module, Param, ParamMut};
use crate::ops::conv::{Conv2dSpec, ConvGeometry, backward_slices, forward_slices, geometry};
use crate::shape::{Const, ConvOut, ConvWindow, Dilated, DilatedKernel, Dim, StaticDim};
use crate::tensor::Tensor;

/// A 2-d convolution from `I` to `O` channels with a `K × K` kernel, stride `S`, padding `P`
/// and dilation `D`, as PyTorch's `nn.Conv2d(I, O, K, stride=S, padding=P, dilation=D)`.
///
/// - `weight`: `[O, I, K, K]`, state-dict name `weight`; `bias`: `[O]`, name `bias`.
/// - Initialisation as PyTorch: `W, b ~ U(−1/√(I·K·K), 1/√(I·K·K))`.
/// - Input `[B, I, H, W]` → output `[B, O, OH, OW]`, with `OH = ⌊(H + 2P − D(K − 1) − 1)/S⌋ + 1`
///   computed **in types** ([`ConvOut`] of the kernel's span [`Dilated`]), so the next layer's
///   sizes are checked by the compiler.
/// - `forward` saves its input; the im2col buffer is kept and reused.
///
/// In `network!` it is written `Conv2d<1, 16, 5, padding = 2>` (also `stride = …`,
/// `dilation = …`). The math is in [`crate::ops::conv2d`].
#[derive(Clone, Debug)]
pub struct Conv2d<
    I: StaticDim,
    O: StaticDim,
    const K: usize,
    const S: usize = 1,
    const P: usize = 0,
    const D: usize = 1,
    E: Element = f32,
> {
    /// The kernels, `[out, in, K, K]`.
    pub weight: Param<(O, I, Const<K>, Const<K>), E>,
    /// The bias, `[out]`.
    pub bias: Param<(O,), E>,
    /// The input of the last `forward`, row-major, and its sizes.
    saved_input: Vec<E>,
    input_dims: [usize; 4],
    /// The im2col workspace, reused by every call.
    cols: Vec<E>,
}

impl<
    I: StaticDim,
    O: StaticDim,
    const K: usize,
    const S: usize,
    const P: usize,
    const D: usize,
    E: Element,
> Conv2d<I, O, K, S, P, D, E>
{
    /// The window geometry: stride `S`, padding `P`, dilation `D`.
    pub fn spec() -> Conv2dSpec {
        Conv2dSpec::new(S, P, D)
    }

    /// A layer with the given weight `[O, I, K, K]` and bias `[O]`.
    pub fn from_tensors(
        weight: Tensor<(O, I, Const<K>, Const<K>), E>,
        bias: Tensor<(O,), E>,
    ) -> Self {
        Self {
            weight: Param::new(weight),
            bias: Param::new(bias),
            saved_input: Vec::new(),
            input_dims: [0; 4],
            cols: Vec::new(),
        }
    }

    /// Adds the parameter gradients for `dy` and, if `dx` is given, writes ∂L/∂x into it.
    fn backward_pass(&mut self, dy: &[E], dx: Option<&mut [E]>) {
        let g = self.geometry_for(&self.input_dims);
        assert_eq!(
            dy.len(),
            g.batch * g.out_channels * g.out_height * g.out_width,
            "backward must follow a forward with the same batch size"
        );
        backward_slices(
            &g,
            &self.saved_input,
            self.weight.value.as_slice(),
            dy,
            Some(self.weight.grad.as_slice_mut()),
            Some(self.bias.grad.as_slice_mut()),
            dx,
            &mut self.cols,
        );
    }

    fn geometry_for(&self, x: &[usize]) -> ConvGeometry {
        geometry(x, self.weight.value.dims(), Self::spec())
            .expect("the input's channels and spatial sizes are checked by the Layer bounds")
    }
}

impl<
    I: StaticDim,
    O: StaticDim,
    const K: usize,
    const S: usize,
    const P: usize,
    const D: usize,
    E: Element,
> Init for Conv2d<I, O, K, S, P, D, E>
{
    fn init<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let bound = E::cast(1.0 / ((I::SIZE * K * K) as f64).sqrt());
        let weight = Tensor::rand_uniform(
            (O::default(), I::default(), Const, Const),
            -bound,
            bound,
            rng,
        );
        let bias = Tensor::rand_uniform((O::default(),), -bound, bound, rng);
        Self::from_tensors(weight, bias)
    }
}

impl<
    I: StaticDim,
    O: StaticDim,
    const K: usize,
    const S: usize,
    const P: usize,
    const D: usize,
    E: Element,
> Module<E> for Conv2d<I, O, K, S, P, D, E>
{
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
            &[O::SIZE, I::SIZE, K, K],
            self.weight.as_mut(),
        );
        f(&format!("{prefix}bias"), &[O::SIZE], self.bias.as_mut());
    }

    fn set_training(&mut self, _training: bool) {}
}

/// The output size of this layer's window along an axis of size `X`.
pub type Conv2dOut<X, const K: usize, const S: usize, const P: usize, const D: usize> =
    ConvOut<X, Dilated<Const<K>, Const<D>>, Const<S>, Const<P>>;

impl<B, H, W, I, O, const K: usize, const S: usize, const P: usize, const D: usize, E>
    Layer<Tensor<(B, I, H, W), E>, E> for Conv2d<I, O, K, S, P, D, E>
where
    B: Dim,
    I: StaticDim,
    O: StaticDim,
    E: Element,
    Const<K>: DilatedKernel<Const<D>>,
    H: ConvWindow<Dilated<Const<K>, Const<D>>, Const<S>, Const<P>>,
    W: ConvWindow<Dilated<Const<K>, Const<D>>, Const<S>, Const<P>>,
{
    type Output = Tensor<(B, O, Conv2dOut<H, K, S, P, D>, Conv2dOut<W, K, S, P, D>), E>;

    fn forward(&mut self, x: &Tensor<(B, I, H, W), E>) -> Self::Output {
        let mut y = Tensor::zeros((
            x.shape().0,
            O::default(),
            Default::default(),
            Default::default(),
        ));
        self.forward_into(x, &mut y);
        y
    }

    fn forward_into(&mut self, x: &Tensor<(B, I, H, W), E>, y: &mut Self::Output) {
        let g = self.geometry_for(x.dims());
        y.resize_to((
            x.shape().0,
            O::default(),
            Default::default(),
            Default::default(),
        ));
        forward_slices(
            &g,
            x.as_slice(),
            self.weight.value.as_slice(),
            Some(self.bias.value.as_slice()),
            y.as_slice_mut(),
            &mut self.cols,
        );
        // Keeps the allocation: after the first step this copies without allocating.
        self.saved_input.clear();
        self.saved_input.extend_from_slice(x.as_slice());
        self.input_dims = [g.batch, g.in_channels, g.height, g.width];
    }

    fn backward(&mut self, dy: &Self::Output) -> Tensor<(B, I, H, W), E> {
        let mut dx = Tensor::zeros((dy.shape().0, I::default(), H::default(), W::default()));
        self.backward_into(dy, &mut dx);
        dx
    }

    fn backward_into(&mut self, dy: &Self::Output, dx: &mut Tensor<(B, I, H, W), E>) {
        dx.resize_to((dy.shape().0, I::default(), H::default(), W::default()));
        self.backward_pass(dy.as_slice(), Some(dx.as_slice_mut()));
    }

    fn backward_params(&mut self, dy: &Self::Output) {
        self.backward_pass(dy.as_slice(), None);
    }

    fn predict(&self, x: &Tensor<(B, I, H, W), E>) -> Self::Output {
        let g = self.geometry_for(x.dims());
        let mut y = Tensor::zeros((
            x.shape().0,
            O::default(),
            Default::default(),
            Default::default(),
        ));
        forward_slices(
            &g,
            x.as_slice(),
            self.weight.value.as_slice(),
            Some(self.bias.value.as_slice()),
            y.as_slice_mut(),
            &mut Vec::new(),
        );
        y
    }
}
