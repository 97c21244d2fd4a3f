//! Finite-difference gradient checks (f64) of the image primitives: `conv2d` (input, weight
//! and bias), `max_pool2d`, `avg_pool2d`, `global_avg_pool2d`, and batch normalisation in
//! training mode (the full three-term input gradient, and weight and bias) and evaluation mode,
//! over `[B, C]` and `[B, C, H, W]`. Each backward is compared with central differences of
//! `L = Σ g ⊙ f(·)` for a random `g`, with PyTorch gradcheck's tolerances (eps 1e-6,
//! atol 1e-5, rtol 1e-3). All dims are runtime (`Dyn`) dims.

mod common;

use common::*;
use nanotorch::ops::*;
use nanotorch::rand::seq::SliceRandom;
use nanotorch::{Dim, Dyn, SeededRng, Shape, Tensor};

type D1 = (Dyn,);
type D2 = (Dyn, Dyn);
type D4 = (Dyn, Dyn, Dyn, Dyn);

fn d4(b: usize, c: usize, h: usize, w: usize) -> D4 {
    (Dyn(b), Dyn(c), Dyn(h), Dyn(w))
}

fn d1(n: usize) -> D1 {
    (Dyn(n),)
}

// ---- convolution -----------------------------------------------------------------------

#[test]
fn conv2d_gradients() {
    let mut r = rng(101);
    // (B, C, H, W, O, K, stride, padding, dilation)
    let configs = [
        (1, 1, 5, 6, 2, 3, 1, 0, 1),
        (2, 3, 5, 4, 2, 3, 1, 1, 1),
        (2, 2, 7, 6, 3, 3, 2, 1, 2), // stride 2 + padding 1 + dilation 2
        (1, 2, 6, 7, 2, 5, 1, 2, 1),
        (2, 2, 5, 5, 2, 1, 2, 0, 1), // 1×1 kernel, stride 2: skipped pixels get 0
        (1, 2, 8, 7, 2, 3, 2, 0, 2), // the last rows and columns are never read
        (2, 1, 3, 18, 3, 5, 1, 2, 1), // 25 taps, rows of 18: the direct path
    ];
    for (b, c, h, w, o, k, s, p, d) in configs {
        let spec = Conv2dSpec::new(s, p, d);
        let name = format!("conv2d s{s} p{p} d{d} k{k}");
        let x = rand_tensor(d4(b, c, h, w), -1.0, 1.0, &mut r);
        let weight = rand_tensor(d4(o, c, k, k), -1.0, 1.0, &mut r);
        let bias = rand_tensor(d1(o), -1.0, 1.0, &mut r);
        let y: Tensor<D4, f64> = conv2d(&x, &weight, Some(&bias), spec).unwrap();
        let g = rand_tensor(y.shape(), -1.0, 1.0, &mut r);
        let (dx, dw, db) = conv2d_backward(&x, &weight, &g, spec).unwrap();
        let conv = |x: &Tensor<D4, f64>, w: &Tensor<D4, f64>, b: Option<&Tensor<D1, f64>>| {
            let y: Tensor<D4, f64> = conv2d(x, w, b, spec).unwrap();
            dot(&g, &y)
        };
        assert_grad(&format!("{name}.x"), &x, &dx, |x| {
            conv(x, &weight, Some(&bias))
        });
        assert_grad(&format!("{name}.weight"), &weight, &dw, |w| {
            conv(&x, w, Some(&bias))
        });
        assert_grad(&format!("{name}.bias"), &bias, &db, |b| {
            conv(&x, &weight, Some(b))
        });
        // Without a bias the input and weight gradients are the same functions.
        assert_grad(&format!("{name}.x (no bias)"), &x, &dx, |x| {
            conv(x, &weight, None)
        });
        // The `_into`/accumulating split gives the same gradients as the allocating form.
        let (mut dw2, mut dx2, mut cols) = (Tensor::zeros(weight.shape()), x.clone(), Vec::new());
        conv2d_backward_params(&x, &g, spec, &mut dw2, None, &mut cols).unwrap();
        conv2d_backward_input_into(&weight, &g, spec, x.shape(), &mut dx2, &mut cols).unwrap();
        assert_eq!((dx2, dw2), (dx, dw), "{name}: split backward");
    }
}

// ---- pooling ---------------------------------------------------------------------------

/// Values `0.05·k + offset` for `k = 0..n`, shuffled: no ties, and every two values at least
/// 0.05 apart, so a finite-difference step (1e-6) never changes which one is the maximum.
fn spread<S: Shape>(shape: S, offset: f64, r: &mut SeededRng) -> Tensor<S, f64> {
    let mut v: Vec<f64> = (0..shape.numel())
        .map(|k| 0.05 * k as f64 + offset)
        .collect();
    v.shuffle(r);
    Tensor::from_shape_vec(shape, v).unwrap()
}

#[test]
fn max_pool2d_gradients() {
    let mut r = rng(102);
    // (shape, kernel, stride, padding, offset of the values)
    let configs = [
        (d4(2, 2, 4, 6), 2, 2, 0, -3.0),
        (d4(1, 2, 7, 9), 3, 2, 1, -2.0),
        (d4(2, 1, 5, 6), 3, 1, 1, -1.0), // overlapping windows: a pixel can win several
        (d4(1, 2, 5, 7), 3, 2, 1, -20.0), // all negative: the padding is −∞, not 0
        (d4(2, 2, 5, 7), 2, 2, 0, 0.5),  // the last row and column belong to no window
    ];
    for (shape, k, s, p, offset) in configs {
        let spec = Pool2dSpec::new(k, s, p);
        let x = spread(shape, offset, &mut r);
        let y: Tensor<D4, f64> = max_pool2d(&x, spec).unwrap();
        let g = rand_tensor(y.shape(), -1.0, 1.0, &mut r);
        let dx = max_pool2d_backward(&x, &g, spec).unwrap();
        assert_grad(&format!("max_pool2d k{k} s{s} p{p}"), &x, &dx, |x| {
            let y: Tensor<D4, f64> = max_pool2d(x, spec).unwrap();
            dot(&g, &y)
        });
    }
}

#[test]
fn avg_pool2d_gradients() {
    let mut r = rng(103);
    let configs = [
        (d4(2, 2, 5, 6), 3, 1, 1),
        (d4(1, 2, 7, 9), 3, 2, 1),
        (d4(2, 3, 5, 7), 2, 2, 0),
        (d4(1, 1, 4, 5), 2, 1, 1),
        (d4(1, 2, 6, 6), 5, 2, 2),
    ];
    for (shape, k, s, p) in configs {
        let spec = Pool2dSpec::new(k, s, p);
        let x = rand_tensor(shape, -2.0, 2.0, &mut r);
        let y: Tensor<D4, f64> = avg_pool2d(&x, spec).unwrap();
        let g = rand_tensor(y.shape(), -1.0, 1.0, &mut r);
        let dx = avg_pool2d_backward(&g, spec, x.shape()).unwrap();
        assert_grad(&format!("avg_pool2d k{k} s{s} p{p}"), &x, &dx, |x| {
            let y: Tensor<D4, f64> = avg_pool2d(x, spec).unwrap();
            dot(&g, &y)
        });
    }
}

#[test]
fn global_avg_pool2d_gradients() {
    let mut r = rng(104);
    for shape in [d4(2, 3, 4, 5), d4(1, 2, 1, 1), d4(3, 1, 3, 7)] {
        let x = rand_tensor(shape, -2.0, 2.0, &mut r);
        let g = rand_tensor((shape.0, shape.1), -1.0, 1.0, &mut r);
        let dx = global_avg_pool2d_backward(&g, x.shape()).unwrap();
        assert_grad("global_avg_pool2d", &x, &dx, |x| {
            dot(&g, &global_avg_pool2d(x))
        });
    }
}

// ---- batch normalisation ---------------------------------------------------------------

/// Inputs, parameters and running statistics of one batch-norm check. The input has a
/// different offset and spread per channel.
struct BnSetup<S: BatchChannels<Channels = Dyn>> {
    x: Tensor<S, f64>,
    weight: Tensor<D1, f64>,
    bias: Tensor<D1, f64>,
    running_mean: Tensor<D1, f64>,
    running_var: Tensor<D1, f64>,
    g: Tensor<S, f64>,
}

fn bn_setup<S: BatchChannels<Channels = Dyn>>(shape: S, r: &mut SeededRng) -> BnSetup<S> {
    let c = shape.channels().size();
    let mut x = rand_tensor(shape, -1.0, 1.0, r);
    let offset = rand_tensor(d1(c), -2.0, 2.0, r);
    let spread = rand_tensor(d1(c), 0.5, 3.0, r);
    let per_channel = x.numel() / (shape.dims()[0] * c);
    for (k, v) in x.as_slice_mut().iter_mut().enumerate() {
        let ch = (k / per_channel) % c;
        *v = *v * spread.as_slice()[ch] + offset.as_slice()[ch];
    }
    BnSetup {
        x,
        weight: rand_tensor(d1(c), 0.5, 2.0, r),
        bias: rand_tensor(d1(c), -1.0, 1.0, r),
        running_mean: rand_tensor(d1(c), -1.0, 1.0, r),
        running_var: rand_tensor(d1(c), 0.5, 2.0, r),
        g: rand_tensor(shape, -1.0, 1.0, r),
    }
}

/// Forward in training mode (running statistics updated on copies, which the output does not
/// depend on).
fn bn_train<S: BatchChannels<Channels = Dyn>>(
    s: &BnSetup<S>,
    x: &Tensor<S, f64>,
    weight: &Tensor<D1, f64>,
    bias: &Tensor<D1, f64>,
    saved: &mut BatchNormSaved<S, f64>,
) -> Tensor<S, f64> {
    let (mut rm, mut rv) = (s.running_mean.clone(), s.running_var.clone());
    let mut y = Tensor::zeros(x.shape());
    batch_norm_train_into(
        x,
        weight,
        bias,
        BatchNormSpec::default(),
        &mut rm,
        &mut rv,
        &mut y,
        saved,
    )
    .unwrap();
    y
}

fn bn_eval<S: BatchChannels<Channels = Dyn>>(
    s: &BnSetup<S>,
    x: &Tensor<S, f64>,
    weight: &Tensor<D1, f64>,
    bias: &Tensor<D1, f64>,
    saved: &mut BatchNormSaved<S, f64>,
) -> Tensor<S, f64> {
    let mut y = Tensor::zeros(x.shape());
    batch_norm_eval_into(
        x,
        weight,
        bias,
        BatchNormSpec::default(),
        &s.running_mean,
        &s.running_var,
        &mut y,
        saved,
    )
    .unwrap();
    y
}

type BnForward<S> = fn(
    &BnSetup<S>,
    &Tensor<S, f64>,
    &Tensor<D1, f64>,
    &Tensor<D1, f64>,
    &mut BatchNormSaved<S, f64>,
) -> Tensor<S, f64>;

/// Checks the input, weight and bias gradients of one mode; returns `(dx, 1/σ)`.
fn check_bn<S: BatchChannels<Channels = Dyn>>(
    name: &str,
    s: &BnSetup<S>,
    training: bool,
) -> (Tensor<S, f64>, Tensor<D1, f64>) {
    let forward: BnForward<S> = if training { bn_train } else { bn_eval };
    let mut saved = BatchNormSaved::new(s.x.shape());
    forward(s, &s.x, &s.weight, &s.bias, &mut saved);
    let mut dx = Tensor::zeros(s.x.shape());
    let (mut dw, mut db) = (
        Tensor::zeros(s.weight.shape()),
        Tensor::zeros(s.bias.shape()),
    );
    if training {
        batch_norm_backward_into(&saved, &s.weight, &s.g, &mut dx, &mut dw, &mut db).unwrap();
    } else {
        batch_norm_eval_backward_into(&saved, &s.weight, &s.g, &mut dx, &mut dw, &mut db).unwrap();
    }
    let loss = |x: &Tensor<S, f64>, w: &Tensor<D1, f64>, b: &Tensor<D1, f64>| {
        let mut scratch = BatchNormSaved::new(x.shape());
        dot(&s.g, &forward(s, x, w, b, &mut scratch))
    };
    assert_grad(&format!("{name}.x"), &s.x, &dx, |x| {
        loss(x, &s.weight, &s.bias)
    });
    assert_grad(&format!("{name}.weight"), &s.weight, &dw, |w| {
        loss(&s.x, w, &s.bias)
    });
    assert_grad(&format!("{name}.bias"), &s.bias, &db, |b| {
        loss(&s.x, &s.weight, b)
    });
    (dx, saved.inv_std)
}

/// Largest `|dx − weight[c]/σ[c]·g|`: how far the input gradient is from its direct term
/// alone (the whole gradient in eval mode; in training mode the mean and variance terms add to
/// it).
fn off_direct<S: BatchChannels<Channels = Dyn>>(
    s: &BnSetup<S>,
    dx: &Tensor<S, f64>,
    inv_std: &Tensor<D1, f64>,
) -> f64 {
    let c = s.weight.numel();
    let per_channel = dx.numel() / (dx.dims()[0] * c);
    dx.as_slice()
        .iter()
        .zip(s.g.as_slice())
        .enumerate()
        .map(|(k, (d, g))| {
            let ch = (k / per_channel) % c;
            (d - s.weight.as_slice()[ch] * inv_std.as_slice()[ch] * g).abs()
        })
        .fold(0.0, f64::max)
}

fn bn_shapes_1d() -> [D2; 3] {
    [(Dyn(5), Dyn(3)), (Dyn(2), Dyn(4)), (Dyn(8), Dyn(1))]
}

fn bn_shapes_2d() -> [D4; 3] {
    [d4(2, 3, 4, 5), d4(1, 2, 3, 3), d4(3, 1, 2, 2)]
}

#[test]
fn batch_norm_train_gradients() {
    let mut r = rng(105);
    for shape in bn_shapes_1d() {
        let s = bn_setup(shape, &mut r);
        let (dx, inv_std) = check_bn("batch_norm_train 1-d", &s, true);
        // The check is not passed by the direct term alone: the mean and variance terms
        // change the gradient visibly.
        assert!(off_direct(&s, &dx, &inv_std) > 1e-2);
    }
    for shape in bn_shapes_2d() {
        let s = bn_setup(shape, &mut r);
        let (dx, inv_std) = check_bn("batch_norm_train 2-d", &s, true);
        assert!(off_direct(&s, &dx, &inv_std) > 1e-2);
    }
}

#[test]
fn batch_norm_eval_gradients() {
    let mut r = rng(106);
    for shape in bn_shapes_1d().into_iter().chain([(Dyn(1), Dyn(3))]) {
        let s = bn_setup(shape, &mut r);
        let (dx, inv_std) = check_bn("batch_norm_eval 1-d", &s, false);
        assert!(off_direct(&s, &dx, &inv_std) < 1e-12);
    }
    for shape in bn_shapes_2d() {
        let s = bn_setup(shape, &mut r);
        let (dx, inv_std) = check_bn("batch_norm_eval 2-d", &s, false);
        assert!(off_direct(&s, &dx, &inv_std) < 1e-12);
    }
}
