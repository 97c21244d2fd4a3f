//! Finite-difference gradient checks (f64) of the sequence primitives of a GPT (all but
//! attention) and of their layers: `embedding` (the table's scatter-add gradient, with tokens
//! repeated in the batch), `add_positions` (input and table), `layer_norm` over `[B, C]` and
//! `[B, T, C]` (input, weight, bias), `linear_seq` (input, weight, bias), `cross_entropy_seq`
//! with ignored positions (logits), and the layers `Embedding`, `PositionEmbedding`,
//! `LayerNorm` (rank 2 and 3) and `Linear` on `[B, T, I]` through `forward`/`backward`.
//!
//! Each backward is compared with central differences of `L = Σ g ⊙ f(·)` for a random `g`
//! (the loss itself for `cross_entropy_seq`), with PyTorch gradcheck's tolerances (eps 1e-6,
//! atol 1e-5, rtol 1e-3).

mod common;

use common::*;
use nanotorch::layers::{Embedding, LayerNorm, Linear, PositionEmbedding};
use nanotorch::loss::cross_entropy_seq;
use nanotorch::ops::*;
use nanotorch::shape::{U3, U4, U5, U6};
use nanotorch::{Dyn, Init, Layer, Module, Shape, Tensor, Tokens};

type D1 = (Dyn,);
type D2 = (Dyn, Dyn);
type D3 = (Dyn, Dyn, Dyn);

fn d3(b: usize, t: usize, c: usize) -> D3 {
    (Dyn(b), Dyn(t), Dyn(c))
}

// ---- primitives ------------------------------------------------------------------------

/// Three sequences of 4 ids over a vocabulary of 5: token 1 occurs five times (twice in the
/// first sequence), token 4 never.
fn sample_tokens() -> Tokens<U4, U5> {
    Tokens::from_vec(3, vec![1, 1, 0, 2, 3, 1, 2, 1, 0, 3, 1, 2]).unwrap()
}

#[test]
fn embedding_gradients() {
    let mut r = rng(301);
    let tokens = sample_tokens();
    let weight = rand_tensor((U5::default(), Dyn(3)), -1.0, 1.0, &mut r);
    let g = rand_tensor((Dyn(3), U4::default(), Dyn(3)), -1.0, 1.0, &mut r);
    let mut dw = Tensor::zeros(weight.shape());
    embedding_backward(&tokens, &g, &mut dw).unwrap();
    assert_grad("embedding.weight", &weight, &dw, |w| {
        dot(&g, &embedding(&tokens, w))
    });
    // Token 4 does not occur: its row gets nothing. Token 1's row is the sum of its 5 rows.
    assert!(dw.as_slice()[12..15].iter().all(|&v| v == 0.0));
    let ids = tokens.ids();
    for j in 0..3 {
        let sum: f64 = (0..12)
            .filter(|&k| ids[k] == 1)
            .map(|k| g.as_slice()[k * 3 + j])
            .sum();
        assert!((dw.as_slice()[3 + j] - sum).abs() < 1e-12);
    }
}

#[test]
fn add_positions_gradients() {
    let mut r = rng(302);
    for (b, t, c) in [(3, 4, 5), (1, 6, 2), (2, 1, 7)] {
        let x = rand_tensor(d3(b, t, c), -1.0, 1.0, &mut r);
        let table = rand_tensor((Dyn(t), Dyn(c)), -1.0, 1.0, &mut r);
        let g = rand_tensor(x.shape(), -1.0, 1.0, &mut r);
        let mut dtable = Tensor::zeros(table.shape());
        add_positions_backward(&g, &mut dtable).unwrap();
        let f = |x: &Tensor<D3, f64>, table: &Tensor<D2, f64>| {
            dot(&g, &add_positions(x, table).unwrap())
        };
        // dx = dy: the gradient passes through the addition.
        assert_grad(&format!("add_positions.x {b}x{t}x{c}"), &x, &g, |x| {
            f(x, &table)
        });
        assert_grad(
            &format!("add_positions.table {b}x{t}x{c}"),
            &table,
            &dtable,
            |tb| f(&x, tb),
        );
    }
}

/// Checks `layer_norm` on input `x`: the input, weight and bias gradients.
fn check_layer_norm<S: nanotorch::shape::HasLastAxis<Last = Dyn>>(
    name: &str,
    x: &Tensor<S, f64>,
    r: &mut nanotorch::SeededRng,
) {
    let c = *x.dims().last().unwrap();
    let w = rand_tensor((Dyn(c),), 0.5, 1.5, r);
    let b = rand_tensor((Dyn(c),), -0.5, 0.5, r);
    let g = rand_tensor(x.shape(), -1.0, 1.0, r);
    let eps = 1e-5;
    let mut saved = LayerNormSaved::new();
    let (mut y, mut dx) = (Tensor::default(), Tensor::default());
    let (mut dw, mut db) = (Tensor::zeros(w.shape()), Tensor::zeros(b.shape()));
    layer_norm_into(x, &w, &b, eps, &mut y, &mut saved).unwrap();
    layer_norm_backward_into(&saved, &w, &g, &mut dx, &mut dw, &mut db).unwrap();
    assert_eq!(y, layer_norm(x, &w, &b, eps).unwrap());
    let f = |x: &Tensor<S, f64>, w: &Tensor<D1, f64>, b: &Tensor<D1, f64>| {
        dot(&g, &layer_norm(x, w, b, eps).unwrap())
    };
    assert_grad(&format!("{name}.x"), x, &dx, |x| f(x, &w, &b));
    assert_grad(&format!("{name}.weight"), &w, &dw, |w| f(x, w, &b));
    assert_grad(&format!("{name}.bias"), &b, &db, |b| f(x, &w, b));
}

/// Rows with their own offsets and spreads, so the mean and variance paths both matter.
fn rows_off_center<S: Shape>(shape: S, r: &mut nanotorch::SeededRng) -> Tensor<S, f64> {
    let mut x = rand_tensor(shape, -1.0, 1.0, r);
    let c = *x.dims().last().unwrap();
    for (k, row) in x.as_slice_mut().chunks_mut(c).enumerate() {
        let (offset, scale) = (k as f64 * 0.7 - 1.0, 0.5 + (k % 3) as f64);
        for v in row {
            *v = *v * scale + offset;
        }
    }
    x
}

#[test]
fn layer_norm_gradients_rank_2() {
    let mut r = rng(303);
    for (b, c) in [(4, 7), (1, 5), (3, 16), (2, 1)] {
        let x = rows_off_center((Dyn(b), Dyn(c)), &mut r);
        check_layer_norm(&format!("layer_norm [{b}, {c}]"), &x, &mut r);
    }
}

#[test]
fn layer_norm_gradients_rank_3() {
    let mut r = rng(304);
    for (b, t, c) in [(3, 4, 9), (2, 3, 16), (1, 2, 3)] {
        let x = rows_off_center(d3(b, t, c), &mut r);
        check_layer_norm(&format!("layer_norm [{b}, {t}, {c}]"), &x, &mut r);
    }
}

#[test]
fn linear_seq_gradients() {
    let mut r = rng(305);
    for (b, t, i, o) in [(2, 3, 4, 5), (1, 5, 3, 2), (3, 2, 9, 1)] {
        let name = format!("linear_seq [{b}, {t}, {i}] -> {o}");
        let x = rand_tensor(d3(b, t, i), -1.0, 1.0, &mut r);
        let w = rand_tensor((Dyn(o), Dyn(i)), -1.0, 1.0, &mut r);
        let bias = rand_tensor((Dyn(o),), -1.0, 1.0, &mut r);
        let g = rand_tensor(d3(b, t, o), -1.0, 1.0, &mut r);
        let (mut dw, mut db, mut dx) = (
            Tensor::zeros(w.shape()),
            Tensor::zeros(bias.shape()),
            Tensor::default(),
        );
        linear_seq_backward_params(&x, &g, &mut dw, Some(&mut db)).unwrap();
        linear_seq_backward_input_into(&w, &g, &mut dx);
        let f = |x: &Tensor<D3, f64>, w: &Tensor<D2, f64>, b: Option<&Tensor<D1, f64>>| {
            dot(&g, &linear_seq(x, w, b).unwrap())
        };
        assert_grad(&format!("{name}.x"), &x, &dx, |x| f(x, &w, Some(&bias)));
        assert_grad(&format!("{name}.weight"), &w, &dw, |w| {
            f(&x, w, Some(&bias))
        });
        assert_grad(&format!("{name}.bias"), &bias, &db, |b| f(&x, &w, Some(b)));
        // Without a bias the input and weight gradients are the same functions.
        assert_grad(&format!("{name}.x (no bias)"), &x, &dx, |x| f(x, &w, None));
    }
}

#[test]
fn cross_entropy_seq_gradients() {
    let mut r = rng(306);
    // (B, T, V, ignored positions)
    let configs: [(usize, usize, usize, &[usize]); 4] = [
        (2, 4, 3, &[0, 5]),
        (3, 3, 5, &[]),
        (1, 6, 4, &[0, 1, 2, 3, 4]), // one position counted
        (2, 5, 3, &[0, 1, 5, 6]),
    ];
    for (b, t, v, ignored) in configs {
        let logits = rand_tensor(d3(b, t, v), -3.0, 3.0, &mut r);
        let targets: Vec<Option<usize>> = (0..b * t)
            .map(|k| (!ignored.contains(&k)).then_some((k * 7 + 1) % v))
            .collect();
        let (_, grad) = cross_entropy_seq(&logits, &targets).unwrap();
        let name = format!(
            "cross_entropy_seq [{b}, {t}, {v}], {} ignored",
            ignored.len()
        );
        assert_grad(&name, &logits, &grad, |z| {
            cross_entropy_seq(z, &targets).unwrap().0
        });
        // An ignored position's logits get no gradient.
        for &k in ignored {
            assert!(
                grad.as_slice()[k * v..(k + 1) * v]
                    .iter()
                    .all(|&g| g == 0.0)
            );
        }
    }
}

// ---- layers ----------------------------------------------------------------------------

#[test]
fn embedding_layer_gradients() {
    type X = Tokens<U4, U5>;
    let mut r = rng(311);
    let tokens = sample_tokens();
    let mut layer = Embedding::<U5, U3, f64>::init(&mut r);
    let g = rand_tensor((Dyn(3), U4::default(), U3::default()), -1.0, 1.0, &mut r);
    assert_model_grads(
        "Embedding (backward_params)",
        &mut layer,
        |m| {
            m.forward(&tokens);
            Layer::<X, f64>::backward_params(m, &g);
        },
        |m| dot(&g, &m.predict(&tokens)),
    );
    // backward adds the same gradient and hands the ids back.
    let by_params = layer.weight.grad.clone();
    layer.zero_grad();
    layer.forward(&tokens);
    assert_eq!(Layer::<X, f64>::backward(&mut layer, &g), tokens);
    assert_eq!(layer.weight.grad, by_params);
    // State-dict name and size.
    let mut names = Vec::new();
    layer.visit_named_params("wte.", &mut |n, dims, _| {
        names.push((n.to_string(), dims.to_vec()))
    });
    assert_eq!(names, [("wte.weight".to_string(), vec![5, 3])]);
}

/// Checks a layer whose output has its input's shape: `dx` from `backward` against finite
/// differences of `x ↦ Σ g ⊙ predict(x)`, then every parameter gradient.
fn check_same_shape_layer<S: Shape, L>(
    name: &str,
    layer: &mut L,
    x: &Tensor<S, f64>,
    g: &Tensor<S, f64>,
) where
    L: Layer<Tensor<S, f64>, f64, Output = Tensor<S, f64>> + Clone,
{
    let snapshot = layer.clone();
    let y = layer.forward(x);
    assert_eq!(y, snapshot.predict(x), "{name}: predict equals forward");
    let dx = layer.backward(g);
    assert_grad(&format!("{name}.x"), x, &dx, |x| {
        dot(g, &snapshot.predict(x))
    });
    assert_model_grads(
        &format!("{name} params"),
        layer,
        |m| {
            m.forward(x);
            m.backward(g);
        },
        |m| dot(g, &m.predict(x)),
    );
}

#[test]
fn position_embedding_layer_gradients() {
    let mut r = rng(312);
    for b in [1, 3] {
        let mut layer = PositionEmbedding::<U4, U3, f64>::init(&mut r);
        let x = rand_tensor((Dyn(b), U4::default(), U3::default()), -1.0, 1.0, &mut r);
        let g = rand_tensor(x.shape(), -1.0, 1.0, &mut r);
        check_same_shape_layer(&format!("PositionEmbedding b{b}"), &mut layer, &x, &g);
    }
    let mut names = Vec::new();
    PositionEmbedding::<U4, U3, f64>::init(&mut r).visit_named_params("wpe.", &mut |n, dims, _| {
        names.push((n.to_string(), dims.to_vec()))
    });
    assert_eq!(names, [("wpe.weight".to_string(), vec![4, 3])]);
}

/// A `LayerNorm` with random (not 1 and 0) weight and bias, so their gradients are exercised
/// with non-trivial values.
fn random_layer_norm(r: &mut nanotorch::SeededRng) -> LayerNorm<U6, f64> {
    LayerNorm::from_tensors(
        rand_tensor((U6::default(),), 0.5, 1.5, r),
        rand_tensor((U6::default(),), -0.5, 0.5, r),
    )
}

#[test]
fn layer_norm_layer_gradients() {
    let mut r = rng(313);
    for b in [1, 4] {
        let x = rows_off_center((Dyn(b), U6::default()), &mut r);
        let g = rand_tensor(x.shape(), -1.0, 1.0, &mut r);
        check_same_shape_layer(
            &format!("LayerNorm [{b}, 6]"),
            &mut random_layer_norm(&mut r),
            &x,
            &g,
        );
        let x = rows_off_center((Dyn(b), U3::default(), U6::default()), &mut r);
        let g = rand_tensor(x.shape(), -1.0, 1.0, &mut r);
        check_same_shape_layer(
            &format!("LayerNorm [{b}, 3, 6]"),
            &mut random_layer_norm(&mut r),
            &x,
            &g,
        );
    }
    // PyTorch's initialisation and state-dict names.
    let mut ln = LayerNorm::<U6, f64>::init(&mut r);
    assert_eq!(
        (ln.weight.value.to_vec(), ln.bias.value.to_vec(), ln.eps),
        (vec![1.0; 6], vec![0.0; 6], 1e-5)
    );
    let mut names = Vec::new();
    ln.visit_named_params("ln_f.", &mut |n, dims, _| {
        names.push((n.to_string(), dims.to_vec()))
    });
    assert_eq!(
        names,
        [
            ("ln_f.weight".to_string(), vec![6]),
            ("ln_f.bias".to_string(), vec![6])
        ]
    );
}

#[test]
fn linear_layer_on_sequences_gradients() {
    type X = Tensor<(Dyn, Dyn, U4), f64>;
    let mut r = rng(314);
    for (b, t) in [(1, 1), (2, 3), (3, 5)] {
        let mut layer = Linear::<U4, U5, f64>::init(&mut r);
        let x: X = rand_tensor((Dyn(b), Dyn(t), U4::default()), -1.0, 1.0, &mut r);
        let g = rand_tensor((Dyn(b), Dyn(t), U5::default()), -1.0, 1.0, &mut r);
        let snapshot = layer.clone();
        let y = layer.forward(&x);
        assert_eq!(y, snapshot.predict(&x), "predict equals forward");
        // Row by row it is the [B, I] layer.
        let rows = Tensor::<(Dyn, U4), f64>::from_vec(&[b * t, 4], x.to_vec()).unwrap();
        assert_eq!(y.to_vec(), snapshot.predict(&rows).to_vec());
        let dx = Layer::<X, f64>::backward(&mut layer, &g);
        assert_grad(&format!("Linear [{b}, {t}, 4] dx"), &x, &dx, |x| {
            dot(&g, &snapshot.predict(x))
        });
        assert_model_grads(
            &format!("Linear [{b}, {t}, 4] params"),
            &mut layer,
            |m| {
                m.forward(&x);
                Layer::<X, f64>::backward_params(m, &g);
            },
            |m| dot(&g, &m.predict(&x)),
        );
    }
}
