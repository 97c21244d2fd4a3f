//! Finite-difference checks (f64) of the layers through the `Layer` trait: `forward`, then
//! `backward` with a random upstream gradient `g`, compared with central differences of
//! `Σ g ⊙ forward(x)` — for the input gradient and, for `Linear`, the parameter gradients.

mod common;

use common::*;
use nanotorch::layers::*;
use nanotorch::shape::{U3, U4, U5};
use nanotorch::{Dyn, Init, Layer, Module, Shape, Tensor};

const BATCHES: [usize; 3] = [1, 2, 7];

/// Runs `forward` then `backward(g)` on `layer` and checks the returned `dx` against finite
/// differences of `x ↦ Σ g ⊙ forward(x)`, each evaluated on a fresh clone of the layer as it
/// was before the forward (so a dropout layer redraws the very same mask).
fn check_layer<S: Shape, L>(name: &str, layer: &mut L, x: &Tensor<S, f64>, g: &Tensor<S, f64>)
where
    L: Layer<Tensor<S, f64>, f64, Output = Tensor<S, f64>> + Clone,
{
    let before = layer.clone();
    let y = layer.forward(x);
    let dx = layer.backward(g);
    assert_eq!(dx.dims(), x.dims(), "{name}: dx has x's shape");
    assert_grad(name, x, &dx, |x| dot(g, &before.clone().forward(x)));
    // forward must return what the loss above differentiates.
    assert_eq!(y, before.clone().forward(x), "{name}: forward is deterministic given its state");
}

fn r3(n: usize) -> (Dyn, U3, U4) {
    (Dyn(n), U3::default(), U4::default())
}

#[test]
fn linear_layer_gradients() {
    let mut r = rng(101);
    for n in BATCHES {
        let mut layer = Linear::<U5, U3, f64>::init(&mut r);
        let x = rand_tensor((Dyn(n), U5::default()), -1.0, 1.0, &mut r);
        let g = rand_tensor((Dyn(n), U3::default()), -1.0, 1.0, &mut r);
        let snapshot = layer.clone();

        let y = layer.forward(&x);
        assert_eq!(y, layer.predict(&x), "predict equals forward");
        let dx = layer.backward(&g);
        assert_grad("Linear dx", &x, &dx, |x| dot(&g, &snapshot.predict(x)));

        let w = snapshot.weight.value.clone();
        assert_grad("Linear weight.grad", &w, &layer.weight.grad, |w| {
            let mut l = snapshot.clone();
            l.weight.value = w.clone();
            dot(&g, &l.predict(&x))
        });
        let b = snapshot.bias.value.clone();
        assert_grad("Linear bias.grad", &b, &layer.bias.grad, |b| {
            let mut l = snapshot.clone();
            l.bias.value = b.clone();
            dot(&g, &l.predict(&x))
        });

        // visit_params hands out weight then bias, with the same gradients.
        let mut seen = Vec::new();
        layer.visit_params(&mut |p| seen.push((p.value.to_vec(), p.grad.to_vec())));
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].0, layer.weight.value.to_vec());
        assert_eq!(seen[0].1, layer.weight.grad.to_vec());
        assert_eq!(seen[1].1, layer.bias.grad.to_vec());

        // A second forward/backward accumulates: the gradients double.
        let (gw, gb) = (layer.weight.grad.clone(), layer.bias.grad.clone());
        layer.forward(&x);
        Layer::<Tensor<(Dyn, U5), f64>, f64>::backward_params(&mut layer, &g);
        for (a, b) in layer.weight.grad.as_slice().iter().zip(gw.as_slice()) {
            assert!((a - 2.0 * b).abs() < 1e-12, "weight grads accumulate");
        }
        for (a, b) in layer.bias.grad.as_slice().iter().zip(gb.as_slice()) {
            assert!((a - 2.0 * b).abs() < 1e-12, "bias grads accumulate");
        }
        layer.zero_grad();
        assert!(layer.weight.grad.as_slice().iter().all(|&v| v == 0.0));
        assert!(layer.bias.grad.as_slice().iter().all(|&v| v == 0.0));
    }
}

#[test]
fn elementwise_activation_layers() {
    let mut r = rng(102);
    for n in BATCHES {
        let x = rand_away_from_zero(r3(n), 1e-3, &mut r);
        let g = rand_tensor(x.shape(), -1.0, 1.0, &mut r);
        check_layer("Relu", &mut Relu::init(&mut r), &x, &g);
        check_layer("Sigmoid", &mut Sigmoid::init(&mut r), &x, &g);
        check_layer("Tanh", &mut Tanh::init(&mut r), &x, &g);
        check_layer("Gelu", &mut Gelu::init(&mut r), &x, &g);
        check_layer("GeluTanh", &mut GeluTanh::init(&mut r), &x, &g);
        check_layer("LeakyRelu", &mut LeakyRelu::init(&mut r), &x, &g);
        check_layer("LeakyRelu(-0.3)", &mut LeakyRelu::new(-0.3), &x, &g);
    }
}

#[test]
fn leaky_relu_layer_default_slope_is_pytorchs() {
    let layer = LeakyRelu::<(Dyn, U3), f64>::default();
    assert_eq!(layer.negative_slope, 0.01);
    let x = Tensor::<(Dyn, U3), f64>::from_vec(&[1, 3], vec![-2.0, 0.0, 3.0]).unwrap();
    assert_eq!(layer.predict(&x).to_vec(), vec![-0.02, 0.0, 3.0]);
}

#[test]
fn softmax_layers() {
    let mut r = rng(103);
    for n in BATCHES {
        let x = rand_tensor((Dyn(n), U5::default()), -3.0, 3.0, &mut r);
        let g = rand_tensor(x.shape(), -1.0, 1.0, &mut r);
        check_layer("Softmax", &mut Softmax::init(&mut r), &x, &g);
        check_layer("LogSoftmax", &mut LogSoftmax::init(&mut r), &x, &g);
        let x = rand_tensor(r3(n), -3.0, 3.0, &mut r);
        let g = rand_tensor(x.shape(), -1.0, 1.0, &mut r);
        check_layer("Softmax rank 3", &mut Softmax::init(&mut r), &x, &g);
        check_layer("LogSoftmax rank 3", &mut LogSoftmax::init(&mut r), &x, &g);
    }
}

#[test]
fn dropout_layer() {
    let mut r = rng(104);
    for n in BATCHES {
        let x = rand_tensor(r3(n), -2.0, 2.0, &mut r);
        let g = rand_tensor(x.shape(), -1.0, 1.0, &mut r);
        let mut layer = Dropout::new(0.4, 7 + n as u64).unwrap();
        assert!(layer.is_training(), "layers start in training mode, as in PyTorch");
        check_layer("Dropout train p=0.4", &mut layer, &x, &g);
        // Training drops something for a batch this size and scales what it keeps.
        let y = layer.forward(&x);
        for (yi, xi) in y.as_slice().iter().zip(x.as_slice()) {
            assert!(*yi == 0.0 || (yi - xi / 0.6).abs() < 1e-12, "kept values scaled by 1/(1-p)");
        }
        // Consecutive forwards draw different masks.
        let big = Tensor::ones(r3(40));
        assert_ne!(layer.forward(&big), layer.forward(&big), "a new mask per forward");

        layer.eval();
        assert!(!layer.is_training());
        check_layer("Dropout eval", &mut layer, &x, &g);
        assert_eq!(layer.forward(&x), x, "eval is the identity");
        assert_eq!(layer.predict(&x), x, "predict is the identity");

        let mut layer = Dropout::<_, f64>::init(&mut r);
        assert_eq!(layer.p(), 0.5, "PyTorch's default p");
        check_layer("Dropout init p=0.5", &mut layer, &x, &g);
    }
}

#[test]
fn backward_before_forward_gives_zeros() {
    let g = Tensor::<(Dyn, U3), f64>::ones((Dyn(2), U3::default()));
    assert_eq!(Tanh::default().backward(&g), Tensor::zeros(g.shape()));
    assert_eq!(Gelu::default().backward(&g), Tensor::zeros(g.shape()));
    assert_eq!(LeakyRelu::default().backward(&g), Tensor::zeros(g.shape()));
    assert_eq!(Dropout::new(0.5, 1).unwrap().backward(&g), Tensor::zeros(g.shape()));
}
