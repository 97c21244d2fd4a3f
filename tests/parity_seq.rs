//! Parity with PyTorch for the sequence primitives of a GPT (all but attention): token
//! `embedding`, `add_positions`, `layer_norm` over `[B, C]` and `[B, T, C]`, `linear_seq` (the
//! linear map on the last axis of `[B, T, I]`) and `cross_entropy_seq` with ignored positions —
//! both as the functions of `nanotorch::ops`/`nanotorch::loss` and through the layers
//! (`Embedding`, `PositionEmbedding`, `LayerNorm`, `Linear` on a sequence).
//!
//! `tests/golden/seq.json` is written by `scripts/golden_seq.py` from PyTorch's float32 CPU
//! kernels (`F.embedding`, `nn.LayerNorm` with eps 1e-5, `F.linear` on `[B, T, I]`,
//! `F.cross_entropy(logits.view(-1, V), targets.view(-1), ignore_index=-1)`), in the format of
//! `tests/golden/primitives.json` (see `tests/common/golden.rs`). Each case is replayed
//! through NanoTorch's f32 forward and backward and the output and every gradient compared.
//!
//! **Tolerance:** `|nanotorch − torch| ≤ 1e-5·|torch| + 1e-6` for every element
//! (`golden::RTOL`, `golden::ATOL`), as for the other primitives; sizes must match exactly.
//! The per-op errors are printed by `cargo test --release --test parity_seq -- --nocapture`.
//!
//! **Buffer reuse:** the `_into` variants write into buffers first filled by a call on a
//! *larger* batch with other values, then by one of the case's size with other values; the
//! compared result is the third call's, and must equal the allocating variant's bit for bit.
//! The layers run the same way (`forward_into`, `backward_into`), and must equal their
//! allocating `forward`/`backward`/`predict`.
//!
//! **Allocation:** [`steady_state_allocates_nothing`] counts the allocations of the calling
//! thread (a counting global allocator) and requires none from the `_into` primitives and the
//! layers' `forward_into`/`backward_into`/`backward_params` once warmed up.
//!
//! **Nothing is skipped:** a case whose op or sizes this test cannot run fails, and so does a
//! golden file that lacks one of the ops in [`OPS`].

#[path = "common/golden.rs"]
mod golden;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use golden::{Case, Errors, GoldenTensor, Outcome, compare, compare_case, parse_cases};
use nanotorch::layers::{Embedding, LayerNorm, Linear, PositionEmbedding};
use nanotorch::loss::{cross_entropy_seq, cross_entropy_seq_into};
use nanotorch::ops::*;
use nanotorch::shape::*;
use nanotorch::{Dyn, Layer, Module, Shape, ShapeError, Tensor, Tokens};
use serde_json::Value;

const GOLDEN: &str = include_str!("golden/seq.json");

/// The ops the golden file must cover.
const OPS: &[&str] = &[
    "embedding",
    "add_positions",
    "layer_norm",
    "linear_seq",
    "cross_entropy_seq",
];

type D1 = (Dyn,);
type D2 = (Dyn, Dyn);
type D3 = (Dyn, Dyn, Dyn);

// ---- stale buffers ---------------------------------------------------------------------

/// `t` with its values changed (`−1.5·v + 0.25`) and its batch (axis 0) repeated `times`
/// times: the input of a call that leaves wrong values, of another size, in the buffers.
fn stale<S: Shape>(t: &Tensor<S, f32>, times: usize) -> Tensor<S, f32> {
    let mut dims = t.dims().to_vec();
    dims[0] *= times;
    let data: Vec<f32> = t.as_slice().iter().map(|v| -1.5 * v + 0.25).collect();
    Tensor::from_vec(&dims, data.repeat(times)).unwrap()
}

/// The stale inputs a case's `_into` calls run on first: a doubled batch, then the case's
/// own size.
fn stale_inputs<S: Shape>(t: &Tensor<S, f32>) -> [Tensor<S, f32>; 2] {
    [stale(t, 2), stale(t, 1)]
}

/// Panics (failing the case) unless the `_into` result equals the allocating one bit for bit.
fn same<S: Shape>(what: &str, into: &Tensor<S, f32>, alloc: &Tensor<S, f32>) {
    assert!(
        into.dims() == alloc.dims() && into.as_slice() == alloc.as_slice(),
        "{what}: the _into variant (reused buffers) differs from the allocating one"
    );
}

/// An integer-list param (token ids, targets with −1 for ignored).
fn ints(c: &Case, name: &str) -> Vec<i64> {
    c.params
        .get(name)
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(Value::as_i64).collect())
        .unwrap_or_else(|| panic!("{}: missing integer-list param {name}", c.label()))
}

// ---- embedding -------------------------------------------------------------------------

/// The case's token ids as `Tokens<T, V>`.
fn tokens<T: StaticDim, V: StaticDim>(c: &Case) -> Tokens<T, V> {
    let ids = ints(c, "ids").into_iter().map(|i| i as usize).collect();
    Tokens::from_vec(c.param_usize("batch"), ids).expect("golden ids fit the vocabulary")
}

/// Other ids for the stale calls: twice the batch, every id moved by one.
fn stale_tokens<T: StaticDim, V: StaticDim>(t: &Tokens<T, V>) -> Tokens<T, V> {
    let ids: Vec<usize> = t.ids().iter().map(|&i| (i + 1) % V::SIZE).collect();
    Tokens::from_vec(2 * t.batch(), ids.repeat(2)).unwrap()
}

fn embedding_typed<T: StaticDim, V: StaticDim>(c: &Case) -> Outcome {
    let tokens = tokens::<T, V>(c);
    let w: Tensor<(V, Dyn)> = c.input("weight");
    let dy: Tensor<(Dyn, T, Dyn)> = c.upstream();
    let (mut y, mut dw) = (Tensor::default(), Tensor::zeros(w.shape()));
    let stale_t = stale_tokens(&tokens);
    for (st, sdy) in [(&stale_t, &stale(&dy, 2)), (&tokens, &stale(&dy, 1))] {
        embedding_into(st, &w, &mut y);
        embedding_backward(st, sdy, &mut dw).unwrap();
    }
    embedding_into(&tokens, &w, &mut y);
    // The table's gradient accumulates: start it from 0.
    dw.fill(0.0);
    embedding_backward(&tokens, &dy, &mut dw).unwrap();
    same("embedding", &y, &embedding(&tokens, &w));
    Outcome::new(&y).grad("weight", &dw)
}

fn embedding_case(c: &Case) -> Outcome {
    let (t, v) = (c.param_usize("length"), c.input_dims("weight")[0]);
    match (t, v) {
        (5, 7) => embedding_typed::<U5, U7>(c),
        (4, 3) => embedding_typed::<U4, U3>(c),
        (6, 10) => embedding_typed::<U6, U10>(c),
        (11, 3) => embedding_typed::<U11, U3>(c),
        _ => panic!("no code for embedding with T = {t}, V = {v}"),
    }
}

// ---- positions, layer norm, linear, loss -----------------------------------------------

fn add_positions_case(c: &Case) -> Outcome {
    let x: Tensor<D3> = c.input("x");
    let table: Tensor<D2> = c.input("weight");
    let dy: Tensor<D3> = c.upstream();
    let (mut y, mut dtable) = (Tensor::default(), Tensor::zeros(table.shape()));
    for (sx, sdy) in stale_inputs(&x).iter().zip(&stale_inputs(&dy)) {
        add_positions_into(sx, &table, &mut y).unwrap();
        add_positions_backward(sdy, &mut dtable).unwrap();
    }
    add_positions_into(&x, &table, &mut y).unwrap();
    dtable.fill(0.0);
    add_positions_backward(&dy, &mut dtable).unwrap();
    same("add_positions", &y, &add_positions(&x, &table).unwrap());
    // dx = dy: the addition passes the gradient through.
    Outcome::new(&y).grad("x", &dy).grad("weight", &dtable)
}

fn layer_norm_typed<S: HasLastAxis<Last = Dyn>>(c: &Case) -> Outcome {
    let x: Tensor<S> = c.input("x");
    let (w, b): (Tensor<D1>, Tensor<D1>) = (c.input("weight"), c.input("bias"));
    let dy: Tensor<S> = c.upstream();
    let eps = f64::from(c.param_f32("eps"));
    let (mut y, mut dx, mut saved) = (Tensor::default(), Tensor::default(), Default::default());
    let (mut dw, mut db) = (Tensor::zeros(w.shape()), Tensor::zeros(b.shape()));
    for (sx, sdy) in stale_inputs(&x).iter().zip(&stale_inputs(&dy)) {
        layer_norm_into(sx, &w, &b, eps, &mut y, &mut saved).unwrap();
        layer_norm_backward_into(&saved, &w, sdy, &mut dx, &mut dw, &mut db).unwrap();
    }
    layer_norm_into(&x, &w, &b, eps, &mut y, &mut saved).unwrap();
    dw.fill(0.0);
    db.fill(0.0);
    layer_norm_backward_into(&saved, &w, &dy, &mut dx, &mut dw, &mut db).unwrap();
    same("layer_norm", &y, &layer_norm(&x, &w, &b, eps).unwrap());
    Outcome::new(&y)
        .grad("x", &dx)
        .grad("weight", &dw)
        .grad("bias", &db)
}

fn layer_norm_case(c: &Case) -> Outcome {
    match c.input_dims("x").len() {
        2 => layer_norm_typed::<D2>(c),
        3 => layer_norm_typed::<D3>(c),
        r => panic!("no code for layer_norm of rank {r}"),
    }
}

fn linear_seq_case(c: &Case) -> Outcome {
    let x: Tensor<D3> = c.input("x");
    let w: Tensor<D2> = c.input("weight");
    let b: Option<Tensor<D1>> = c.inputs.contains_key("bias").then(|| c.input("bias"));
    let dy: Tensor<D3> = c.upstream();
    let (mut y, mut dx) = (Tensor::default(), Tensor::default());
    let (mut dw, mut db) = (Tensor::zeros(w.shape()), b.as_ref().map(Tensor::zeros_like));
    for (sx, sdy) in stale_inputs(&x).iter().zip(&stale_inputs(&dy)) {
        linear_seq_into(sx, &w, b.as_ref(), &mut y).unwrap();
        linear_seq_backward_params(sx, sdy, &mut dw, db.as_mut()).unwrap();
        linear_seq_backward_input_into(&w, sdy, &mut dx);
    }
    linear_seq_into(&x, &w, b.as_ref(), &mut y).unwrap();
    dw.fill(0.0);
    if let Some(db) = &mut db {
        db.fill(0.0);
    }
    linear_seq_backward_params(&x, &dy, &mut dw, db.as_mut()).unwrap();
    linear_seq_backward_input_into(&w, &dy, &mut dx);
    same("linear_seq", &y, &linear_seq(&x, &w, b.as_ref()).unwrap());
    let outcome = Outcome::new(&y).grad("x", &dx).grad("weight", &dw);
    match &db {
        Some(db) => outcome.grad("bias", db),
        None => outcome,
    }
}

/// The case's targets: `None` where PyTorch's is −1.
fn targets(c: &Case) -> Vec<Option<usize>> {
    ints(c, "targets")
        .into_iter()
        .map(|t| (t >= 0).then_some(t as usize))
        .collect()
}

fn cross_entropy_seq_case(c: &Case) -> Outcome {
    let logits: Tensor<D3> = c.input("logits");
    let targets = targets(c);
    let mut grad = Tensor::default();
    // A stale call on a doubled batch first.
    let twice: Vec<Option<usize>> = targets.iter().chain(&targets).copied().collect();
    cross_entropy_seq_into(&stale(&logits, 2), &twice, &mut grad).unwrap();
    let loss = cross_entropy_seq_into(&logits, &targets, &mut grad).unwrap();
    let (loss2, grad2) = cross_entropy_seq(&logits, &targets).unwrap();
    assert_eq!(loss.to_bits(), loss2.to_bits(), "allocating loss differs");
    same("cross_entropy_seq grad", &grad, &grad2);
    let mut outcome = Outcome::new(&grad).grad("logits", &grad);
    outcome.output = GoldenTensor {
        shape: Vec::new(),
        data: vec![loss],
    };
    outcome
}

fn run(c: &Case) -> Outcome {
    match c.op.as_str() {
        "embedding" => embedding_case(c),
        "add_positions" => add_positions_case(c),
        "layer_norm" => layer_norm_case(c),
        "linear_seq" => linear_seq_case(c),
        "cross_entropy_seq" => cross_entropy_seq_case(c),
        other => panic!("no code for op {other}"),
    }
}

/// Runs a case, turning a panic (an unknown op or size, a failed consistency check) into an
/// error message.
fn run_caught(c: &Case, f: fn(&Case) -> Outcome) -> Result<Outcome, String> {
    catch_unwind(AssertUnwindSafe(|| f(c))).map_err(|panic| {
        let msg = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        format!("{}: panicked: {msg}", c.label())
    })
}

/// Replays every case with `f` and prints the errors per op; returns the failures.
fn replay_all(title: &str, f: fn(&Case) -> Outcome, ops: &[&str]) -> Vec<String> {
    let cases = parse_cases(GOLDEN).expect("golden file parses");
    let mut per_op: BTreeMap<&str, (usize, Errors)> = BTreeMap::new();
    let mut failures = Vec::new();
    for c in cases.iter().filter(|c| ops.contains(&c.op.as_str())) {
        let entry = per_op.entry(c.op.as_str()).or_default();
        entry.0 += 1;
        match run_caught(c, f) {
            Ok(outcome) => {
                let errors = compare_case(c, &outcome);
                failures.extend(errors.failures.iter().cloned());
                entry.1.merge(errors);
            }
            Err(msg) => failures.push(msg),
        }
    }
    for op in ops {
        if !per_op.contains_key(op) {
            failures.push(format!("the golden file has no case for {op}"));
        }
    }
    println!("{title} (tolerance |a-b| <= 1e-5*|b| + 1e-6):");
    println!(
        "{:<18} {:>5} {:>7} {:>12} {:>12} {:>9}  worst element (largest share of the tolerance)",
        "op", "cases", "values", "max rel err", "max abs err", "tol used"
    );
    for (op, (n, e)) in &per_op {
        println!(
            "{op:<18} {n:>5} {:>7} {:>12.3e} {:>12.3e} {:>8.1}%  {}",
            e.compared,
            e.max_rel,
            e.max_abs,
            100.0 * e.max_tol_used,
            e.worst
        );
    }
    failures
}

#[test]
fn seq_ops_match_pytorch() {
    let failures = replay_all("PyTorch parity of the sequence ops", run, OPS);
    assert!(
        failures.is_empty(),
        "{} parity failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---- the layers ------------------------------------------------------------------------

/// The layer `L`'s `backward` with input type `X` (the layers take several).
fn layer_backward<X, L: Layer<X, f32>>(layer: &mut L, dy: &L::Output) -> X {
    layer.backward(dy)
}

fn embedding_layer<T: StaticDim, V: StaticDim, C: StaticDim>(c: &Case) -> Outcome {
    type X<T, V> = Tokens<T, V>;
    let mut layer = Embedding::<V, C>::from_tensor(c.input("weight"));
    let tokens = tokens::<T, V>(c);
    let dy: Tensor<(Dyn, T, C)> = c.upstream();
    let mut y = Tensor::default();
    let mut dx = X::<T, V>::default();
    layer.forward_into(&stale_tokens(&tokens), &mut y);
    Layer::<X<T, V>, f32>::backward_params(&mut layer, &stale(&dy, 2));
    layer.zero_grad();
    layer.forward_into(&tokens, &mut y);
    assert_eq!(y, layer.predict(&tokens), "predict equals forward_into");
    assert_eq!(
        y,
        layer.clone().forward(&tokens),
        "forward equals forward_into"
    );
    // The three backwards add the same gradient; backward hands the ids back, backward_into
    // leaves its destination alone.
    layer.backward_into(&dy, &mut dx);
    assert_eq!(
        dx,
        X::default(),
        "backward_into leaves the (id) destination alone"
    );
    let once = layer.weight.grad.clone();
    assert_eq!(layer_backward::<X<T, V>, _>(&mut layer, &dy), tokens);
    Layer::<X<T, V>, f32>::backward_params(&mut layer, &dy);
    let thrice: Vec<f32> = once.as_slice().iter().map(|g| 3.0 * g).collect();
    let got = layer.weight.grad.to_vec();
    assert!(
        got.iter()
            .zip(&thrice)
            .all(|(a, b)| (a - b).abs() <= 1e-5 * b.abs() + 1e-6),
        "three backwards accumulate three gradients"
    );
    Outcome::new(&y).grad("weight", &once)
}

fn position_layer<T: StaticDim, C: StaticDim>(c: &Case) -> Outcome {
    type X<T, C> = Tensor<(Dyn, T, C)>;
    let mut layer = PositionEmbedding::<T, C>::from_tensor(c.input("weight"));
    let x: X<T, C> = c.input("x");
    let dy: X<T, C> = c.upstream();
    let (mut y, mut dx) = (Tensor::default(), Tensor::default());
    for (sx, sdy) in stale_inputs(&x).iter().zip(&stale_inputs(&dy)) {
        layer.forward_into(sx, &mut y);
        layer.backward_into(sdy, &mut dx);
    }
    layer.zero_grad();
    layer.forward_into(&x, &mut y);
    assert_eq!(y, layer.predict(&x));
    layer.backward_into(&dy, &mut dx);
    let mut fresh = layer.clone();
    fresh.zero_grad();
    assert_eq!(
        dx,
        Layer::<X<T, C>, f32>::backward(&mut fresh, &dy),
        "backward equals backward_into"
    );
    assert_eq!(fresh.weight.grad, layer.weight.grad);
    Outcome::new(&y)
        .grad("x", &dx)
        .grad("weight", &layer.weight.grad)
}

fn layer_norm_layer<S, C: StaticDim>(c: &Case) -> Outcome
where
    S: Shape,
    LayerNorm<C>: Layer<Tensor<S>, f32, Output = Tensor<S>>,
{
    let mut layer = LayerNorm::<C>::from_tensors(c.input("weight"), c.input("bias"));
    layer.eps = f64::from(c.param_f32("eps"));
    let x: Tensor<S> = c.input("x");
    let dy: Tensor<S> = c.upstream();
    let (mut y, mut dx) = (Tensor::default(), Tensor::default());
    for (sx, sdy) in stale_inputs(&x).iter().zip(&stale_inputs(&dy)) {
        layer.forward_into(sx, &mut y);
        layer.backward_into(sdy, &mut dx);
    }
    layer.zero_grad();
    layer.forward_into(&x, &mut y);
    assert_eq!(y, layer.predict(&x), "predict equals forward_into");
    let mut fresh = layer.clone();
    layer.backward_into(&dy, &mut dx);
    assert_eq!(dx, fresh.backward(&dy), "backward equals backward_into");
    // backward_params adds the same parameter gradients as backward.
    let mut params_only = fresh.clone();
    params_only.zero_grad();
    params_only.backward_params(&dy);
    assert_eq!(params_only.weight.grad, layer.weight.grad);
    assert_eq!(params_only.bias.grad, layer.bias.grad);
    Outcome::new(&y)
        .grad("x", &dx)
        .grad("weight", &layer.weight.grad)
        .grad("bias", &layer.bias.grad)
}

fn linear_layer<I: StaticDim, O: StaticDim>(c: &Case) -> Outcome {
    type X<I> = Tensor<(Dyn, Dyn, I)>;
    let mut layer = Linear::<I, O>::from_tensors(c.input("weight"), c.input("bias"));
    let x: X<I> = c.input("x");
    let dy: Tensor<(Dyn, Dyn, O)> = c.upstream();
    let (mut y, mut dx): (_, X<I>) = (Tensor::default(), Tensor::default());
    for (sx, sdy) in stale_inputs(&x).iter().zip(&stale_inputs(&dy)) {
        layer.forward_into(sx, &mut y);
        layer.backward_into(sdy, &mut dx);
    }
    layer.zero_grad();
    layer.forward_into(&x, &mut y);
    assert_eq!(y, layer.predict(&x), "predict equals forward_into");
    let mut fresh = layer.clone();
    layer.backward_into(&dy, &mut dx);
    assert_eq!(
        dx,
        Layer::<X<I>, f32>::backward(&mut fresh, &dy),
        "backward equals backward_into"
    );
    let mut params_only = fresh.clone();
    params_only.zero_grad();
    Layer::<X<I>, f32>::backward_params(&mut params_only, &dy);
    assert_eq!(params_only.weight.grad, layer.weight.grad);
    assert_eq!(params_only.bias.grad, layer.bias.grad);
    Outcome::new(&y)
        .grad("x", &dx)
        .grad("weight", &layer.weight.grad)
        .grad("bias", &layer.bias.grad)
}

/// Replays a case through the layer of its sizes (static dims, so one instance per size).
fn run_layer(c: &Case) -> Outcome {
    let dims = |name: &str| c.input_dims(name).to_vec();
    match c.op.as_str() {
        "embedding" => match (c.param_usize("length"), &dims("weight")[..]) {
            (5, [7, 4]) => embedding_layer::<U5, U7, U4>(c),
            (4, [3, 8]) => embedding_layer::<U4, U3, U8>(c),
            (6, [10, 5]) => embedding_layer::<U6, U10, U5>(c),
            (11, [3, 12]) => embedding_layer::<U11, U3, U12>(c),
            (t, w) => panic!("no code for Embedding with T = {t}, weight {w:?}"),
        },
        "add_positions" => match &dims("weight")[..] {
            [5, 4] => position_layer::<U5, U4>(c),
            [4, 8] => position_layer::<U4, U8>(c),
            [11, 6] => position_layer::<U11, U6>(c),
            [3, 17] => position_layer::<U3, U17>(c),
            w => panic!("no code for PositionEmbedding with weight {w:?}"),
        },
        "layer_norm" => {
            let x = dims("x");
            macro_rules! by_width {
                ($($c:literal => $t:ty),*) => {
                    match (x.len(), x[x.len() - 1]) {
                        $((2, $c) => layer_norm_layer::<(Dyn, $t), $t>(c),
                          (3, $c) => layer_norm_layer::<(Dyn, Dyn, $t), $t>(c),)*
                        _ => panic!("no code for LayerNorm on {x:?}"),
                    }
                };
            }
            by_width!(3 => U3, 7 => U7, 8 => U8, 16 => U16, 24 => U24, 33 => U33, 48 => U48)
        }
        "linear_seq" => match &dims("weight")[..] {
            [3, 8] => linear_layer::<U8, U3>(c),
            [12, 16] => linear_layer::<U16, U12>(c),
            [3, 48] => linear_layer::<U48, U3>(c),
            [1, 7] => linear_layer::<U7, U1>(c),
            [9, 5] => linear_layer::<U5, U9>(c),
            w => panic!("no code for Linear with weight {w:?}"),
        },
        other => panic!("no layer for op {other}"),
    }
}

/// The layers' results match PyTorch too (they share the primitives' kernels, through other
/// entry points). A `Linear` always has a bias: a case without one runs with a zero bias and
/// is compared without the bias gradient.
#[test]
fn seq_layers_match_pytorch() {
    fn run_layer_case(c: &Case) -> Outcome {
        if c.op == "linear_seq" && !c.inputs.contains_key("bias") {
            let mut with_bias = c.clone();
            let o = c.input_dims("weight")[0];
            with_bias.inputs.insert(
                "bias".into(),
                GoldenTensor {
                    shape: vec![o],
                    data: vec![0.0; o],
                },
            );
            let mut outcome = run_layer(&with_bias);
            outcome.grads.remove("bias");
            return outcome;
        }
        run_layer(c)
    }
    let failures = replay_all(
        "PyTorch parity of the sequence layers",
        run_layer_case,
        &["embedding", "add_positions", "layer_norm", "linear_seq"],
    );
    assert!(
        failures.is_empty(),
        "{} parity failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The replay can fail: a wrong value, a missing gradient and an op or size the test has no
/// code for are all failures, never silent passes.
#[test]
fn wrong_results_and_unknown_cases_fail() {
    let cases = parse_cases(GOLDEN).expect("golden file parses");
    let c = cases.iter().find(|c| c.op == "layer_norm").unwrap();
    let mut outcome = run(c);
    assert!(compare_case(c, &outcome).failures.is_empty());
    outcome.grads.get_mut("x").unwrap().data[0] *= 1.0 + 1e-3;
    assert_eq!(compare_case(c, &outcome).failures.len(), 1);
    outcome.grads.remove("weight");
    assert!(!compare_case(c, &outcome).failures.is_empty());

    let mut unknown = c.clone();
    unknown.op = "rms_norm".to_string();
    assert!(run_caught(&unknown, run).is_err());
    let e = cases.iter().find(|c| c.op == "embedding").unwrap();
    let mut other_size = e.clone();
    other_size.params.insert("length".into(), Value::from(9));
    assert!(run_caught(&other_size, run).is_err());
    assert!(run_caught(&other_size, run_layer).is_err());
}

// ---- accuracy far from zero -------------------------------------------------------------

/// Layer norm on rows whose mean is large next to their spread (offset 10, spread 0.5): the
/// f32 result agrees with the f64 computation on the same f32 inputs within the parity
/// tolerance — output and all three gradients. (PyTorch's float32 kernel does not on this
/// input: it is up to 2.2 tolerances from the f64 values, so the golden cases keep rows
/// within a few standard deviations of 0.)
#[test]
fn layer_norm_is_accurate_far_from_zero() {
    let mut r = nanotorch::seeded_rng(11);
    let (b, t, c) = (2, 11, 24);
    let shape = (Dyn(b), Dyn(t), Dyn(c));
    let mut x = Tensor::<D3>::rand_normal(shape, 0.0, 0.5, &mut r).unwrap();
    for (k, v) in x.as_slice_mut().iter_mut().enumerate() {
        *v += 10.0 + 0.3 * (k / c) as f32;
    }
    let w = Tensor::<D1>::rand_uniform((Dyn(c),), 0.5, 1.5, &mut r);
    let bias = Tensor::<D1>::rand_uniform((Dyn(c),), -0.5, 0.5, &mut r);
    let dy = Tensor::<D3>::rand_uniform(shape, -1.0, 1.0, &mut r);

    let mut errors = Errors::default();
    let mut compare_all = |got: [Vec<f32>; 4], want: [Vec<f64>; 4]| {
        for (name, (g, w)) in ["output", "dx", "dweight", "dbias"]
            .iter()
            .zip(got.iter().zip(&want))
        {
            let w: Vec<f32> = w.iter().map(|&v| v as f32).collect();
            let shape = vec![w.len()];
            errors.merge(compare(
                &format!("layer_norm far from 0: {name}"),
                &GoldenTensor {
                    shape: shape.clone(),
                    data: g.clone(),
                },
                &GoldenTensor { shape, data: w },
            ));
        }
    };
    let f32_run = {
        let mut saved = LayerNormSaved::new();
        let (mut y, mut dx) = (Tensor::default(), Tensor::default());
        let (mut dw, mut db) = (Tensor::zeros(w.shape()), Tensor::zeros(w.shape()));
        layer_norm_into(&x, &w, &bias, 1e-5, &mut y, &mut saved).unwrap();
        layer_norm_backward_into(&saved, &w, &dy, &mut dx, &mut dw, &mut db).unwrap();
        [y.to_vec(), dx.to_vec(), dw.to_vec(), db.to_vec()]
    };
    let f64_run = {
        let (x, w, bias, dy) = (
            x.cast::<f64>(),
            w.cast::<f64>(),
            bias.cast::<f64>(),
            dy.cast::<f64>(),
        );
        let mut saved = LayerNormSaved::new();
        let (mut y, mut dx) = (Tensor::default(), Tensor::default());
        let (mut dw, mut db) = (Tensor::zeros(w.shape()), Tensor::zeros(w.shape()));
        layer_norm_into(&x, &w, &bias, 1e-5, &mut y, &mut saved).unwrap();
        layer_norm_backward_into(&saved, &w, &dy, &mut dx, &mut dw, &mut db).unwrap();
        [y.to_vec(), dx.to_vec(), dw.to_vec(), db.to_vec()]
    };
    compare_all(f32_run, f64_run);
    println!(
        "layer_norm far from 0, f32 vs f64: max abs err {:.3e}, {:.1}% of the tolerance ({})",
        errors.max_abs,
        100.0 * errors.max_tol_used,
        errors.worst
    );
    assert!(errors.failures.is_empty(), "{:?}", errors.failures);
}

// ---- accumulation ----------------------------------------------------------------------

/// Panics unless `got` is twice `once`, within the parity tolerance.
fn assert_twice<S: Shape>(what: &str, got: &Tensor<S, f32>, once: &[f32]) {
    let twice: Vec<f32> = once.iter().map(|v| 2.0 * v).collect();
    let errors = compare(
        what,
        &golden::record(got),
        &GoldenTensor {
            shape: got.dims().to_vec(),
            data: twice,
        },
    );
    assert!(
        errors.failures.is_empty() && once.iter().any(|v| *v != 0.0),
        "{what}: a second call does not add onto the first: {:?}",
        errors.failures
    );
}

/// Parameter gradients accumulate (`+=`): two backward calls give twice one call. Input
/// gradients are overwritten: the second call gives the same `dx`.
#[test]
fn parameter_gradients_accumulate() {
    let cases = parse_cases(GOLDEN).expect("golden file parses");
    let find = |op: &str| cases.iter().find(|c| c.op == op).unwrap();

    let c = find("embedding");
    let (tokens, w): (Tokens<U5, U7>, Tensor<(U7, Dyn)>) = (tokens(c), c.input("weight"));
    let dy: Tensor<(Dyn, U5, Dyn)> = c.upstream();
    let mut dw = Tensor::zeros(w.shape());
    embedding_backward(&tokens, &dy, &mut dw).unwrap();
    let once = dw.to_vec();
    embedding_backward(&tokens, &dy, &mut dw).unwrap();
    assert_twice("embedding dweight", &dw, &once);

    let c = find("add_positions");
    let (table, dy): (Tensor<D2>, Tensor<D3>) = (c.input("weight"), c.upstream());
    let mut dt = Tensor::zeros(table.shape());
    add_positions_backward(&dy, &mut dt).unwrap();
    let once = dt.to_vec();
    add_positions_backward(&dy, &mut dt).unwrap();
    assert_twice("add_positions dtable", &dt, &once);

    let c = cases
        .iter()
        .find(|c| c.op == "layer_norm" && c.input_dims("x").len() == 3)
        .unwrap();
    let x: Tensor<D3> = c.input("x");
    let (w, b): (Tensor<D1>, Tensor<D1>) = (c.input("weight"), c.input("bias"));
    let dy: Tensor<D3> = c.upstream();
    let mut saved = LayerNormSaved::new();
    let (mut y, mut dx) = (Tensor::default(), Tensor::default());
    layer_norm_into(&x, &w, &b, 1e-5, &mut y, &mut saved).unwrap();
    let (mut dw, mut db) = (Tensor::zeros(w.shape()), Tensor::zeros(b.shape()));
    layer_norm_backward_into(&saved, &w, &dy, &mut dx, &mut dw, &mut db).unwrap();
    let (once_w, once_b, once_dx) = (dw.to_vec(), db.to_vec(), dx.clone());
    layer_norm_backward_into(&saved, &w, &dy, &mut dx, &mut dw, &mut db).unwrap();
    assert_twice("layer_norm dweight", &dw, &once_w);
    assert_twice("layer_norm dbias", &db, &once_b);
    assert_eq!(dx, once_dx, "layer_norm dx is overwritten, not accumulated");

    let c = cases
        .iter()
        .find(|c| c.op == "linear_seq" && c.inputs.contains_key("bias"))
        .unwrap();
    let (x, w, dy): (Tensor<D3>, Tensor<D2>, Tensor<D3>) =
        (c.input("x"), c.input("weight"), c.upstream());
    let (mut dw, mut db) = (Tensor::zeros(w.shape()), Tensor::zeros((Dyn(w.dims()[0]),)));
    linear_seq_backward_params(&x, &dy, &mut dw, Some(&mut db)).unwrap();
    let (once_w, once_b) = (dw.to_vec(), db.to_vec());
    linear_seq_backward_params(&x, &dy, &mut dw, Some(&mut db)).unwrap();
    assert_twice("linear_seq dweight", &dw, &once_w);
    assert_twice("linear_seq dbias", &db, &once_b);
}

// ---- bad input -------------------------------------------------------------------------

/// Runs `f`, which must return a `ShapeError` — a panic or an `Ok` fails the test.
fn expect_err<T>(what: &str, f: impl FnOnce() -> Result<T, ShapeError>) -> ShapeError {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Err(e)) => {
            println!("{what}: {e}");
            e
        }
        Ok(Ok(_)) => panic!("{what}: accepted"),
        Err(_) => panic!("{what}: panicked instead of returning a ShapeError"),
    }
}

#[test]
fn tokens_are_checked_when_built() {
    type Toks = Tokens<U4, U3>;
    let ok = Toks::from_vec(2, vec![0, 1, 2, 2, 1, 1, 0, 0]).unwrap();
    assert_eq!((ok.batch(), ok.ids().len()), (2, 8));
    assert_eq!(ok.shape(), (Dyn(2), U4::default()));
    assert_eq!(ok.dims(), [2, 4]);
    // The empty batch is a valid value (and the default).
    assert_eq!(Toks::from_vec(0, vec![]).unwrap(), Toks::default());

    // An id ≥ V names no token.
    let e = expect_err("id 3 of a vocabulary of 3", || {
        Toks::from_vec(2, vec![0, 1, 2, 2, 1, 3, 0, 0])
    });
    assert!(matches!(e, ShapeError::Invalid { ref found, .. } if found.contains("id 3 at [1, 1]")));
    // A wrong number of ids for the batch.
    let e = expect_err("7 ids for [2, 4]", || Toks::from_vec(2, vec![0; 7]));
    assert_eq!(
        e,
        ShapeError::Length {
            shape: "[2, 4]".into(),
            expected: 8,
            found: 7
        }
    );
    expect_err("4 ids for a batch of 0", || Toks::from_vec(0, vec![0; 4]));
    expect_err("an overflowing batch", || {
        Toks::from_vec(usize::MAX, vec![])
    });

    // assign_from_slice checks the same, and leaves the value unchanged on error.
    let mut buf = ok.clone();
    expect_err("assign: id 7", || buf.assign_from_slice(1, &[0, 7, 0, 0]));
    expect_err("assign: wrong length", || buf.assign_from_slice(1, &[0, 1]));
    assert_eq!(buf, ok);
    buf.assign_from_slice(1, &[2, 2, 1, 0]).unwrap();
    assert_eq!((buf.batch(), buf.ids()), (1, &[2, 2, 1, 0][..]));
}

#[test]
fn seq_ops_bad_sizes_are_shape_errors() {
    let x3 = |b, t, c| Tensor::<D3>::full((Dyn(b), Dyn(t), Dyn(c)), 0.5);
    let v1 = |n| Tensor::<D1>::full((Dyn(n),), 1.0);

    // embedding_backward: dy of another batch or width.
    let tokens = Tokens::<U4, U3>::from_vec(2, vec![0, 1, 2, 0, 1, 2, 0, 1]).unwrap();
    let mut dw = Tensor::<(U3, Dyn)>::zeros((U3::default(), Dyn(5)));
    let dy = |b, c| Tensor::<(Dyn, U4, Dyn)>::zeros((Dyn(b), U4::default(), Dyn(c)));
    expect_err("embedding dy batch 3 for 2 sequences", || {
        embedding_backward(&tokens, &dy(3, 5), &mut dw)
    });
    expect_err("embedding dy width 4 for a table of 5", || {
        embedding_backward(&tokens, &dy(2, 4), &mut dw)
    });

    // add_positions: a table of another length or width (runtime dims).
    let table = |t, c| Tensor::<D2>::zeros((Dyn(t), Dyn(c)));
    expect_err("add_positions table [5, 4] for [2, 6, 4]", || {
        add_positions(&x3(2, 6, 4), &table(5, 4))
    });
    expect_err("add_positions_backward table [6, 3]", || {
        add_positions_backward(&x3(2, 6, 4), &mut table(6, 3))
    });

    // layer_norm: weight or bias of another width, a bad eps, a dy of another size.
    let x = x3(2, 3, 4);
    let e = expect_err("layer_norm weight 5 for 4 features", || {
        layer_norm(&x, &v1(5), &v1(4), 1e-5)
    });
    assert!(matches!(
        e,
        ShapeError::RuntimeDim {
            left: 4,
            right: 5,
            ..
        }
    ));
    expect_err("layer_norm bias 3", || layer_norm(&x, &v1(4), &v1(3), 1e-5));
    expect_err("layer_norm eps -1", || layer_norm(&x, &v1(4), &v1(4), -1.0));
    expect_err("layer_norm eps NaN", || {
        layer_norm(&x, &v1(4), &v1(4), f64::NAN)
    });
    let (mut y, mut saved) = (Tensor::default(), LayerNormSaved::new());
    layer_norm_into(&x, &v1(4), &v1(4), 1e-5, &mut y, &mut saved).unwrap();
    let mut dx = Tensor::default();
    let (mut dw, mut db) = (v1(4), v1(4));
    expect_err("layer_norm backward with a dy of another batch", || {
        layer_norm_backward_into(&saved, &v1(4), &x3(3, 3, 4), &mut dx, &mut dw, &mut db)
    });
    expect_err("layer_norm backward with a dweight of 5", || {
        layer_norm_backward_into(&saved, &v1(4), &x, &mut dx, &mut v1(5), &mut db)
    });

    // linear_seq: features, bias, batches.
    let w = Tensor::<D2>::zeros((Dyn(3), Dyn(4)));
    let e = expect_err("linear_seq 5 features for a weight of 4", || {
        linear_seq(&x3(2, 3, 5), &w, None)
    });
    assert!(matches!(
        e,
        ShapeError::RuntimeDim {
            left: 5,
            right: 4,
            ..
        }
    ));
    expect_err("linear_seq bias 2 for 3 outputs", || {
        linear_seq(&x, &w, Some(&v1(2)))
    });
    let mut dw = Tensor::<D2>::zeros((Dyn(3), Dyn(4)));
    expect_err("linear_seq_backward_params dy of batch 1", || {
        linear_seq_backward_params(&x, &x3(1, 3, 3), &mut dw, None)
    });
    expect_err("linear_seq_backward_params dy of length 2", || {
        linear_seq_backward_params(&x, &x3(2, 2, 3), &mut dw, None)
    });
    expect_err("linear_seq_backward_params dbias of 2", || {
        linear_seq_backward_params(&x, &x3(2, 3, 3), &mut dw, Some(&mut v1(2)))
    });

    // cross_entropy_seq: the number of targets, a target ≥ V.
    let logits = x3(2, 3, 4);
    let e = expect_err("5 targets for 6 positions", || {
        cross_entropy_seq(&logits, &[Some(0); 5])
    });
    assert!(matches!(
        e,
        ShapeError::RuntimeDim {
            left: 5,
            right: 6,
            ..
        }
    ));
    let mut t = vec![None; 6];
    t[4] = Some(4);
    let e = expect_err("target 4 of 4 classes", || cross_entropy_seq(&logits, &t));
    assert_eq!(
        e,
        ShapeError::ClassIndex {
            position: 4,
            index: 4,
            classes: 4
        }
    );
}

/// With every position ignored there is nothing to average: the loss is NaN (as PyTorch's)
/// and the gradient 0, never a panic.
#[test]
fn cross_entropy_seq_with_every_position_ignored() {
    let logits = Tensor::<D3>::full((Dyn(2), Dyn(3), Dyn(4)), 0.5);
    let mut grad = Tensor::full(logits.shape(), 7.0);
    let loss = cross_entropy_seq_into(&logits, &[None; 6], &mut grad).unwrap();
    assert!(loss.is_nan());
    assert!(grad.as_slice().iter().all(|&g| g == 0.0));
    // The empty batch likewise.
    let empty = Tensor::<D3>::zeros((Dyn(0), Dyn(3), Dyn(4)));
    let (loss, grad) = cross_entropy_seq(&empty, &[]).unwrap();
    assert!(loss.is_nan() && grad.numel() == 0);
}

// ---- allocation ------------------------------------------------------------------------

thread_local! {
    /// Whether this thread's allocations are being counted, and how many there were.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: a thread being torn down has no thread-locals left; it is not counted.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

/// The system allocator, counting the allocations of the thread that asked for it (so the
/// other tests of this binary, running on other threads, do not count).
struct CountingAllocator;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; counting
// touches only const-initialised thread-locals, which neither allocate nor unwind.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Allocations made by this thread while running `f`.
fn allocations(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    ALLOCATIONS.with(Cell::get)
}

/// One training step's worth of every primitive and layer of this file, at batch `b`, into
/// buffers that persist between calls.
struct Step {
    tokens: [Tokens<U11, U3>; 2],
    ids: [Vec<usize>; 2],
    targets: Vec<Option<usize>>,
    wte: Embedding<U3, U16>,
    wpe: PositionEmbedding<U11, U16>,
    ln: LayerNorm<U16>,
    ln_rows: LayerNorm<U16>,
    head: Linear<U16, U3>,
    w: Tensor<(U3, U16)>,
    b: Tensor<(U3,)>,
    table: Tensor<(U11, U16)>,
    embeddings: Tensor<(U3, U16)>,
    ln_weight: Tensor<(U16,)>,
    ln_bias: Tensor<(U16,)>,
    saved: LayerNormSaved<f32>,
    buffers: Vec<Tensor<(Dyn, U11, U16)>>,
    logits: Tensor<(Dyn, U11, U3)>,
    d_logits: Tensor<(Dyn, U11, U3)>,
    rows: [Tensor<(Dyn, U16)>; 3],
    dw: Tensor<(U3, U16)>,
    db: Tensor<(U3,)>,
    dln: [Tensor<(U16,)>; 2],
    dwte: Tensor<(U3, U16)>,
    dtable: Tensor<(U11, U16)>,
}

impl Step {
    fn new() -> Self {
        let mut r = nanotorch::seeded_rng(7);
        use nanotorch::Init;
        let ids = |b: usize| (0..b * 11).map(|k| (k * 7 + b) % 3).collect::<Vec<_>>();
        Self {
            tokens: Default::default(),
            ids: [ids(8), ids(5)],
            targets: (0..8 * 11)
                .map(|k| (k % 11 >= 5).then_some(k % 3))
                .collect(),
            wte: Embedding::init(&mut r),
            wpe: PositionEmbedding::init(&mut r),
            ln: LayerNorm::init(&mut r),
            ln_rows: LayerNorm::init(&mut r),
            head: Linear::init(&mut r),
            w: Tensor::full(Default::default(), 0.1),
            b: Tensor::full(Default::default(), 0.2),
            table: Tensor::full(Default::default(), 0.3),
            embeddings: Tensor::rand_uniform(Default::default(), -1.0, 1.0, &mut r),
            ln_weight: Tensor::full(Default::default(), 1.5),
            ln_bias: Tensor::full(Default::default(), -0.5),
            saved: LayerNormSaved::new(),
            buffers: (0..6).map(|_| Tensor::default()).collect(),
            logits: Tensor::default(),
            d_logits: Tensor::default(),
            rows: Default::default(),
            dw: Tensor::default(),
            db: Tensor::default(),
            dln: Default::default(),
            dwte: Tensor::default(),
            dtable: Tensor::default(),
        }
    }

    /// The step on batch `k` (0: 8 sequences, 1: 5).
    fn run(&mut self, k: usize) {
        let b = self.ids[k].len() / 11;
        self.tokens[k].assign_from_slice(b, &self.ids[k]).unwrap();
        let tokens = &self.tokens[k];
        let targets = &self.targets[..b * 11];
        let [e, p, h, dh, dp, de] = &mut self.buffers[..] else {
            unreachable!()
        };
        let (lw, lb) = (&self.ln_weight, &self.ln_bias);
        // The primitives.
        embedding_into(tokens, &self.embeddings, e);
        add_positions_into(e, &self.table, p).unwrap();
        layer_norm_into(p, lw, lb, 1e-5, h, &mut self.saved).unwrap();
        linear_seq_into(h, &self.w, Some(&self.b), &mut self.logits).unwrap();
        cross_entropy_seq_into(&self.logits, targets, &mut self.d_logits).unwrap();
        linear_seq_backward_params(h, &self.d_logits, &mut self.dw, Some(&mut self.db)).unwrap();
        linear_seq_backward_input_into(&self.w, &self.d_logits, dh);
        let [dw, db] = &mut self.dln;
        layer_norm_backward_into(&self.saved, lw, dh, dp, dw, db).unwrap();
        add_positions_backward(dp, &mut self.dtable).unwrap();
        embedding_backward(tokens, dp, &mut self.dwte).unwrap();
        // The layers.
        self.wte.forward_into(tokens, e);
        self.wpe.forward_into(e, p);
        self.ln.forward_into(p, h);
        self.head.forward_into(h, &mut self.logits);
        cross_entropy_seq_into(&self.logits, targets, &mut self.d_logits).unwrap();
        self.head.backward_into(&self.d_logits, dh);
        self.ln.backward_into(dh, dp);
        self.wpe.backward_into(dp, de);
        Layer::<Tokens<U11, U3>, f32>::backward_params(&mut self.wte, de);
        Layer::<Tensor<(Dyn, U11, U16)>, f32>::backward_params(&mut self.ln, dh);
        Layer::<Tensor<(Dyn, U11, U16)>, f32>::backward_params(&mut self.wpe, dp);
        Layer::<Tensor<(Dyn, U11, U16)>, f32>::backward_params(&mut self.head, &self.d_logits);
        // LayerNorm on rows [B·T, C].
        let [x, y, dx] = &mut self.rows;
        x.resize_to((Dyn(b * 11), U16::default()));
        x.as_slice_mut().copy_from_slice(p.as_slice());
        self.ln_rows.forward_into(x, y);
        self.ln_rows.backward_into(y, dx);
    }
}

/// After a warm-up at the full batch and at a smaller one, a step at either size allocates
/// nothing on this thread (one thread: the matrix products stay on it).
#[test]
fn steady_state_allocates_nothing() {
    nanotorch::set_num_threads(1);
    let mut step = Step::new();
    for k in [0, 1, 0] {
        step.run(k);
    }
    for k in [1, 0, 1, 0] {
        let n = allocations(|| step.run(k));
        assert_eq!(n, 0, "a step at batch {k} allocated {n} times");
    }
    // The counter works: an allocating forward is seen.
    let x = step.buffers[1].clone();
    let n = allocations(|| {
        let _ = step.ln.forward(&x);
    });
    assert!(n > 0, "the counting allocator counts");
}
