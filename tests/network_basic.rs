use nanotorch::prelude::*;

network! {
    /// The Python NanoTorch's README model: fits y = x·[1, 2, 3].
    pub struct Regressor {
        fc1: Linear<3, 3>,
        fc2: Linear<3, 5>,
        fc3: Linear<5, 1>,
    }
    fn forward(x: [B, 3]) -> [B, 1] {
        let h = sigmoid(fc1(x));
        fc3(sigmoid(fc2(h)))
    }
}

network! {
    pub struct ResidualMlp {
        inp: Linear<64, 32>,
        block: Linear<32, 32>,
        head: Linear<32, 10>,
    }
    fn forward(x: [B, 64]) -> [B, 10] {
        let h = relu(inp(x));
        let r = h + relu(block(h));   // h is used twice: its gradient sums both paths
        head(r)
    }
}

#[test]
fn builds_and_runs() {
    let mut net = Regressor::<f64>::new(0);
    let x =
        Tensor::<(Dyn, U3), f64>::from_vec(&[2, 3], vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6]).unwrap();
    let y = net.forward(&x).clone();
    assert_eq!(y.dims(), &[2, 1]);
    net.backward(&Tensor::ones(y.shape())).unwrap();
    let mut r = ResidualMlp::<f64>::new(1);
    let x = Tensor::<(Dyn, U64), f64>::zeros((Dyn(4), U64::default()));
    let y = r.forward(&x).clone();
    assert_eq!(y.dims(), &[4, 10]);
}

network! {
    /// A batch fixed in the type: every tensor of this network has exactly 8 rows.
    pub struct StaticBatch {
        fc: Linear<4, 2>,
    }
    fn forward(x: [8, 4]) -> [8, 2] = fc -> log_softmax;
}

type Hidden = U16;

network! {
    /// Sizes given as aliases (checked by the compiler, not the macro).
    pub struct AliasSizes {
        fc1: Linear<4, Hidden>,
        fc2: Linear<Hidden, 3>,
    }
    fn forward(x: [B, 4]) -> [B, 3] = fc1 -> relu -> fc2;
}

#[test]
fn static_batch_dim_is_in_the_type() {
    let mut net = StaticBatch::<f32>::new(0);
    let x: Tensor<(U8, U4)> = Tensor::ones(Default::default());
    let y: &Tensor<(U8, U2)> = net.forward(&x);
    assert_eq!(y.dims(), &[8, 2]);
    // log_softmax rows exponentiate to probabilities that sum to one.
    for row in y.as_slice().chunks(2) {
        let total: f32 = row.iter().map(|v| v.exp()).sum();
        assert!((total - 1.0).abs() < 1e-6);
    }
}

#[test]
fn alias_sizes_work() {
    let mut net = AliasSizes::<f32>::new(0);
    let x = Tensor::<(Dyn, U4)>::ones((Dyn(3), U4::default()));
    assert_eq!(net.forward(&x).dims(), &[3, 3]);
    assert_eq!(net.fc1.weight.value.dims(), &[16, 4]);
}

#[test]
fn predict_equals_forward_and_saves_nothing() {
    let mut net = ResidualMlp::<f64>::new(3);
    let mut rng = seeded_rng(9);
    let x = Tensor::<(Dyn, U64), f64>::rand_uniform((Dyn(5), U64::default()), -1.0, 1.0, &mut rng);
    let predicted = net.predict(&x);
    assert_eq!(&predicted, net.forward(&x));
}

#[test]
fn backward_rejects_a_gradient_of_the_wrong_size() {
    let mut net = Regressor::<f32>::new(0);
    // No forward yet: the saved output is empty, so a 3-row gradient does not fit.
    let d = Tensor::<(Dyn, U1)>::ones((Dyn(3), U1::default()));
    assert_eq!(
        net.backward(&d),
        Err(ShapeError::Shape {
            expected: "[0, 1] (the output of the last forward)".into(),
            found: "[3, 1]".into()
        })
    );
    let x = Tensor::<(Dyn, U3)>::zeros((Dyn(2), U3::default()));
    net.forward(&x);
    assert!(net.backward_with_input(&d).is_err());
    // The right size is accepted.
    let d = Tensor::<(Dyn, U1)>::ones((Dyn(2), U1::default()));
    assert!(net.backward(&d).is_ok());
}

/// A custom layer: doubles its input. Called on `[B, F]` values inside a `network!`, it
/// declares its input width through `codegen::Declared`, as every NanoTorch layer does.
#[derive(Default)]
pub struct Double<E: Element = f32>(std::marker::PhantomData<E>);

impl<E: Element> Init for Double<E> {
    fn init<R: nanotorch::rand::Rng + ?Sized>(_rng: &mut R) -> Self {
        Self::default()
    }
}

impl<E: Element> Module<E> for Double<E> {
    fn visit_params(&mut self, _f: &mut dyn FnMut(nanotorch::ParamMut<'_, E>)) {}
    fn visit_named_params(
        &mut self,
        _prefix: &str,
        _f: &mut dyn FnMut(&str, &[usize], nanotorch::ParamMut<'_, E>),
    ) {
    }
    fn set_training(&mut self, _training: bool) {}
}

impl<E: Element> Layer<Tensor<(Dyn, U8), E>, E> for Double<E> {
    type Output = Tensor<(Dyn, U8), E>;
    fn forward(&mut self, x: &Tensor<(Dyn, U8), E>) -> Self::Output {
        self.predict(x)
    }
    fn backward(&mut self, dy: &Self::Output) -> Tensor<(Dyn, U8), E> {
        scale(dy, E::cast(2.0))
    }
    fn predict(&self, x: &Tensor<(Dyn, U8), E>) -> Self::Output {
        scale(x, E::cast(2.0))
    }
}

impl<E: Element> nanotorch::codegen::Declared for Double<E> {
    type InputFeatures = U8;
}

network! {
    /// A hidden width as a size parameter, for nesting with arguments.
    pub struct Widen<H> {
        fc: Linear<4, H>,
    }
    fn forward(x: [B, 4]) -> [B, H] = fc -> relu;
}

network! {
    /// Layer fields other than `Linear`: a nested network with a size parameter, an
    /// activation layer, and a custom layer.
    pub struct LayerFields {
        widen: Widen<U8, E>,
        act: Tanh<(Dyn, U8), E>,
        double: Double,
        head: Linear<8, 2>,
    }
    fn forward(x: [B, 4]) -> [B, 2] {
        let h = double(act(widen(x)));
        head(h)
    }
}

#[test]
fn layer_fields_other_than_linear_are_called_through_their_declared_width() {
    let mut net = LayerFields::<f64>::new(3);
    let x = Tensor::<(Dyn, U4), f64>::from_vec(&[2, 4], (0..8).map(|v| v as f64 / 8.0).collect())
        .unwrap();
    let y = net.forward(&x).clone();
    // The same computation by hand, from the same weights.
    let h = relu(
        &linear(
            &x,
            &net.widen.fc.weight.value,
            Some(&net.widen.fc.bias.value),
        )
        .unwrap(),
    );
    let h = scale(&tanh(&h), 2.0);
    let expected = linear(&h, &net.head.weight.value, Some(&net.head.bias.value)).unwrap();
    assert_eq!(y, expected);
    net.backward(&Tensor::ones(y.shape())).unwrap();
    assert_eq!(net.predict(&x), y);
}
