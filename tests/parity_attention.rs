//! Parity with PyTorch for attention: the batched products `bmm`, `bmm_nt`, `bmm_tn` (rank 3
//! and 4), `causal_softmax`, `split_heads`, `merge_heads`, the fused `causal_attention`, and
//! the layer `CausalSelfAttention` against a PyTorch twin of minGPT's original layer
//! (separate key, query, value and proj `nn.Linear(C, C)`, `masked_fill` with `−inf`, softmax,
//! no dropout).
//!
//! `tests/golden/attention.json` is written by `scripts/golden_attention.py` from PyTorch's
//! float32 CPU kernels (format as `tests/golden/primitives.json`, see `tests/common/golden.rs`).
//! This test replays each case through NanoTorch's f32 functions and compares the output and
//! every gradient — for the layer, the input's and all eight parameters', by state-dict name
//! (the parameters are loaded by those names through `visit_named_params`, so the names are
//! checked too).
//!
//! **Tolerance:** `|nanotorch − torch| ≤ 1e-5·|torch| + 1e-6` for every element, as for the
//! other primitives (`golden::RTOL`, `golden::ATOL`); sizes must match exactly. The errors per
//! op are printed by `cargo test --release --test parity_attention -- --nocapture`.
//!
//! **Buffer reuse:** the `_into` variants (and the layer's `forward_into`/`backward_into`)
//! first run on a doubled batch of other values, then on other values of the case's size;
//! the result compared with PyTorch is the third call's. The allocating variants must give
//! bit-for-bit the same results.
//!
//! **Nothing is skipped:** a case whose op (or layer geometry) this test cannot run fails,
//! and so does a golden file that lacks one of the ops in [`OPS`].

#[path = "common/golden.rs"]
mod golden;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use golden::{Case, Errors, Outcome, compare_case, parse_cases, record};
use nanotorch::layers::CausalSelfAttention;
use nanotorch::ops::*;
use nanotorch::shape::{StaticDim, U8, U12, U48};
use nanotorch::{Dyn, Init, Layer, Module, Shape, Tensor, seeded_rng};

const GOLDEN: &str = include_str!("golden/attention.json");

/// The ops the golden file must cover.
const OPS: &[&str] = &[
    "bmm",
    "bmm_nt",
    "bmm_tn",
    "causal_softmax",
    "split_heads",
    "merge_heads",
    "causal_attention",
    "causal_self_attention",
];

type D3 = (Dyn, Dyn, Dyn);
type D4 = (Dyn, Dyn, Dyn, Dyn);

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

fn empty3() -> Tensor<D3> {
    Tensor::zeros((Dyn(0), Dyn(0), Dyn(0)))
}

fn empty4() -> Tensor<D4> {
    Tensor::zeros((Dyn(0), Dyn(0), Dyn(0), Dyn(0)))
}

// ---- batched products ------------------------------------------------------------------

/// `bmm` and its backward on stacks of shape `S` (rank 3 or 4 of `Dyn`s).
fn bmm_case<S>(c: &Case, empty: fn() -> Tensor<S>) -> Outcome
where
    S: BatchMatmul<S, Output = S>,
{
    let (a, b): (Tensor<S>, Tensor<S>) = (c.input("a"), c.input("b"));
    let dy: Tensor<S> = c.upstream();
    let (mut y, mut da, mut db) = (empty(), empty(), empty());
    let [sa, sb] = [stale_inputs(&a), stale_inputs(&b)];
    for ((sa, sb), sdy) in sa.iter().zip(&sb).zip(&stale_inputs(&dy)) {
        bmm_into(sa, sb, &mut y).unwrap();
        // Only the stale batch's leading axis changes, so the stale dy fits.
        bmm_backward_into(sa, sb, sdy, &mut da, &mut db).unwrap();
    }
    bmm_into(&a, &b, &mut y).unwrap();
    bmm_backward_into(&a, &b, &dy, &mut da, &mut db).unwrap();
    same("bmm", &y, &bmm(&a, &b).unwrap());
    let (da2, db2) = bmm_backward(&a, &b, &dy).unwrap();
    same("bmm da", &da, &da2);
    same("bmm db", &db, &db2);
    Outcome::new(&y).grad("a", &da).grad("b", &db)
}

/// `bmm_nt`, with the gradients of its documented backward: `da = dc·b`, `db = dcᵀ·a`.
fn bmm_nt_case<S>(c: &Case, empty: fn() -> Tensor<S>) -> Outcome
where
    S: BatchMatmul<S, Output = S> + BatchMatmulNt<S, Output = S> + BatchMatmulTn<S, Output = S>,
{
    let (a, b): (Tensor<S>, Tensor<S>) = (c.input("a"), c.input("b"));
    let dy: Tensor<S> = c.upstream();
    let mut y = empty();
    for (sa, sb) in stale_inputs(&a).iter().zip(&stale_inputs(&b)) {
        bmm_nt_into(sa, sb, &mut y).unwrap();
    }
    bmm_nt_into(&a, &b, &mut y).unwrap();
    same("bmm_nt", &y, &bmm_nt(&a, &b).unwrap());
    let da = bmm(&dy, &b).unwrap();
    let db = bmm_tn(&dy, &a).unwrap();
    Outcome::new(&y).grad("a", &da).grad("b", &db)
}

/// `bmm_tn`, with the gradients of its documented backward: `da = b·dcᵀ`, `db = a·dc`.
fn bmm_tn_case<S>(c: &Case, empty: fn() -> Tensor<S>) -> Outcome
where
    S: BatchMatmul<S, Output = S> + BatchMatmulNt<S, Output = S> + BatchMatmulTn<S, Output = S>,
{
    let (a, b): (Tensor<S>, Tensor<S>) = (c.input("a"), c.input("b"));
    let dy: Tensor<S> = c.upstream();
    let mut y = empty();
    for (sa, sb) in stale_inputs(&a).iter().zip(&stale_inputs(&b)) {
        bmm_tn_into(sa, sb, &mut y).unwrap();
    }
    bmm_tn_into(&a, &b, &mut y).unwrap();
    same("bmm_tn", &y, &bmm_tn(&a, &b).unwrap());
    let da = bmm_nt(&b, &dy).unwrap();
    let db = bmm(&a, &dy).unwrap();
    Outcome::new(&y).grad("a", &da).grad("b", &db)
}

// ---- softmax, heads, attention ---------------------------------------------------------

fn causal_softmax_case<S: Shape + nanotorch::shape::HasLastAxis>(
    c: &Case,
    empty: fn() -> Tensor<S>,
) -> Outcome {
    let x: Tensor<S> = c.input("x");
    let dy: Tensor<S> = c.upstream();
    let (mut y, mut dx) = (empty(), empty());
    for (sx, sdy) in stale_inputs(&x).iter().zip(&stale_inputs(&dy)) {
        causal_softmax_into(sx, &mut y).unwrap();
        causal_softmax_backward_into(&y, sdy, &mut dx).unwrap();
    }
    causal_softmax_into(&x, &mut y).unwrap();
    causal_softmax_backward_into(&y, &dy, &mut dx).unwrap();
    same("causal_softmax", &y, &causal_softmax(&x).unwrap());
    same(
        "causal_softmax dx",
        &dx,
        &causal_softmax_backward(&y, &dy).unwrap(),
    );
    Outcome::new(&y).grad("x", &dx)
}

fn split_heads_case(c: &Case) -> Outcome {
    let x: Tensor<D3> = c.input("x");
    let dy: Tensor<D4> = c.upstream();
    let heads = c.param_usize("heads");
    let (mut y, mut dx) = (empty4(), empty3());
    for (sx, sdy) in stale_inputs(&x).iter().zip(&stale_inputs(&dy)) {
        split_heads_into(sx, heads, &mut y).unwrap();
        merge_heads_into(sdy, &mut dx).unwrap();
    }
    split_heads_into(&x, heads, &mut y).unwrap();
    // The backward of split_heads is merge_heads.
    merge_heads_into(&dy, &mut dx).unwrap();
    same("split_heads", &y, &split_heads(&x, heads).unwrap());
    Outcome::new(&y).grad("x", &dx)
}

fn merge_heads_case(c: &Case) -> Outcome {
    let x: Tensor<D4> = c.input("x");
    let dy: Tensor<D3> = c.upstream();
    let heads = c.input_dims("x")[1];
    let (mut y, mut dx) = (empty3(), empty4());
    for (sx, sdy) in stale_inputs(&x).iter().zip(&stale_inputs(&dy)) {
        merge_heads_into(sx, &mut y).unwrap();
        split_heads_into(sdy, heads, &mut dx).unwrap();
    }
    merge_heads_into(&x, &mut y).unwrap();
    // The backward of merge_heads is split_heads.
    split_heads_into(&dy, heads, &mut dx).unwrap();
    same("merge_heads", &y, &merge_heads(&x).unwrap());
    Outcome::new(&y).grad("x", &dx)
}

fn causal_attention_case(c: &Case) -> Outcome {
    let (q, k, v): (Tensor<D4>, Tensor<D4>, Tensor<D4>) =
        (c.input("q"), c.input("k"), c.input("v"));
    let dy: Tensor<D4> = c.upstream();
    let (mut y, mut att) = (empty4(), empty4());
    let (mut dq, mut dk, mut dv) = (empty4(), empty4(), empty4());
    let mut ws = Vec::new();
    let [sq, sk, sv] = [stale_inputs(&q), stale_inputs(&k), stale_inputs(&v)];
    for (((sq, sk), sv), sdy) in sq.iter().zip(&sk).zip(&sv).zip(&stale_inputs(&dy)) {
        causal_attention_into(sq, sk, sv, &mut y, &mut att, &mut ws).unwrap();
        let grads = (&mut dq, &mut dk, &mut dv);
        causal_attention_backward_into(sq, sk, sv, &att, sdy, grads, &mut ws).unwrap();
    }
    causal_attention_into(&q, &k, &v, &mut y, &mut att, &mut ws).unwrap();
    let grads = (&mut dq, &mut dk, &mut dv);
    causal_attention_backward_into(&q, &k, &v, &att, &dy, grads, &mut ws).unwrap();
    let (y2, att2) = causal_attention(&q, &k, &v).unwrap();
    same("causal_attention", &y, &y2);
    same("causal_attention att", &att, &att2);
    let (dq2, dk2, dv2) = causal_attention_backward(&q, &k, &v, &att, &dy).unwrap();
    same("causal_attention dq", &dq, &dq2);
    same("causal_attention dk", &dk, &dk2);
    same("causal_attention dv", &dv, &dv2);
    Outcome::new(&y)
        .grad("q", &dq)
        .grad("k", &dk)
        .grad("v", &dv)
}

// ---- the layer -------------------------------------------------------------------------

/// Copies the case's parameters into the layer by state-dict name (every name the layer
/// visits must be in the case, with the same sizes).
fn load<C: StaticDim, const H: usize>(c: &Case, layer: &mut CausalSelfAttention<C, H>) {
    layer.visit_named_params("", &mut |name, dims, p| {
        let t = c
            .inputs
            .get(name)
            .unwrap_or_else(|| panic!("{}: no parameter named {name}", c.label()));
        assert_eq!(t.shape, dims, "{}: sizes of {name}", c.label());
        p.value.copy_from_slice(&t.data);
    });
}

fn layer_case<C: StaticDim, const H: usize>(c: &Case) -> Outcome {
    let x: Tensor<(Dyn, Dyn, C)> = c.input("x");
    let dy: Tensor<(Dyn, Dyn, C)> = c.upstream();
    // The layer is built with other values, then loaded.
    let mut layer = CausalSelfAttention::<C, H>::init(&mut seeded_rng(7));
    load(c, &mut layer);
    let (mut y, mut dx) = (Tensor::zeros(x.shape()), Tensor::zeros(x.shape()));
    for (sx, sdy) in stale_inputs(&x).iter().zip(&stale_inputs(&dy)) {
        layer.forward_into(sx, &mut y);
        layer.backward_into(sdy, &mut dx);
    }
    layer.zero_grad();
    layer.forward_into(&x, &mut y);
    layer.backward_into(&dy, &mut dx);

    same("layer predict", &y, &layer.predict(&x));
    let mut fresh = CausalSelfAttention::<C, H>::init(&mut seeded_rng(8));
    load(c, &mut fresh);
    same("layer forward", &y, &fresh.forward(&x));
    same("layer backward", &dx, &fresh.backward(&dy));
    // backward_params gives the same parameter gradients as backward.
    let mut params_only = CausalSelfAttention::<C, H>::init(&mut seeded_rng(9));
    load(c, &mut params_only);
    params_only.forward(&x);
    Layer::<Tensor<(Dyn, Dyn, C)>, f32>::backward_params(&mut params_only, &dy);
    let mut a = Vec::new();
    layer.visit_params(&mut |p| a.extend_from_slice(p.grad));
    let mut b = Vec::new();
    params_only.visit_params(&mut |p| b.extend_from_slice(p.grad));
    assert_eq!(a, b, "backward_params and backward agree");

    let mut outcome = Outcome::new(&y).grad("x", &dx);
    layer.visit_named_params("", &mut |name, dims, p| {
        let g: Tensor<(Dyn,)> = Tensor::from_slice(&[p.grad.len()], p.grad).unwrap();
        let mut rec = record(&g);
        rec.shape = dims.to_vec();
        outcome.grads.insert(name.to_string(), rec);
    });
    outcome
}

fn layer_dispatch(c: &Case) -> Result<Outcome, String> {
    let width = *c.input_dims("x").last().unwrap_or(&0);
    Ok(match (width, c.param_usize("heads")) {
        (8, 1) => layer_case::<U8, 1>(c),
        (8, 2) => layer_case::<U8, 2>(c),
        (12, 3) => layer_case::<U12, 3>(c),
        (48, 4) => layer_case::<U48, 4>(c),
        (w, h) => {
            return Err(format!(
                "{}: no layer instance for {w} features and {h} heads",
                c.label()
            ));
        }
    })
}

// ---- dispatch --------------------------------------------------------------------------

fn run(c: &Case) -> Result<Outcome, String> {
    let rank = c.inputs.values().next().map_or(0, |t| t.shape.len());
    Ok(match (c.op.as_str(), rank) {
        ("bmm", 3) => bmm_case::<D3>(c, empty3),
        ("bmm", 4) => bmm_case::<D4>(c, empty4),
        ("bmm_nt", 3) => bmm_nt_case::<D3>(c, empty3),
        ("bmm_nt", 4) => bmm_nt_case::<D4>(c, empty4),
        ("bmm_tn", 3) => bmm_tn_case::<D3>(c, empty3),
        ("bmm_tn", 4) => bmm_tn_case::<D4>(c, empty4),
        ("causal_softmax", 3) => causal_softmax_case::<D3>(c, empty3),
        ("causal_softmax", 4) => causal_softmax_case::<D4>(c, empty4),
        ("split_heads", 3) => split_heads_case(c),
        ("merge_heads", 4) => merge_heads_case(c),
        ("causal_attention", 4) => causal_attention_case(c),
        ("causal_self_attention", _) => return layer_dispatch(c),
        (op, rank) => {
            return Err(format!(
                "{}: op {op} on rank {rank} is not handled",
                c.label()
            ));
        }
    })
}

/// Runs a case, turning a panic (an unwrapped error, an `_into` mismatch) into a failure.
fn run_caught(c: &Case) -> Result<Outcome, String> {
    catch_unwind(AssertUnwindSafe(|| run(c))).unwrap_or_else(|panic| {
        let msg = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(format!("{}: panicked: {msg}", c.label()))
    })
}

#[test]
fn attention_matches_pytorch() {
    let cases = parse_cases(GOLDEN).expect("golden file parses");
    let mut per_op: BTreeMap<&str, (usize, Errors)> = BTreeMap::new();
    let mut failures = Vec::new();
    for c in &cases {
        let entry = per_op.entry(c.op.as_str()).or_default();
        entry.0 += 1;
        match run_caught(c) {
            Ok(outcome) => {
                let errors = compare_case(c, &outcome);
                failures.extend(errors.failures.iter().cloned());
                entry.1.merge(errors);
            }
            Err(msg) => failures.push(msg),
        }
    }
    for op in OPS {
        if !per_op.contains_key(op) {
            failures.push(format!("the golden file has no case for {op}"));
        }
    }

    println!(
        "PyTorch parity, {} cases (tolerance |a-b| <= 1e-5*|b| + 1e-6):",
        cases.len()
    );
    println!(
        "{:<22} {:>5} {:>7} {:>12} {:>12} {:>9}  worst element (largest share of the tolerance)",
        "op", "cases", "values", "max rel err", "max abs err", "tol used"
    );
    for (op, (n, e)) in &per_op {
        println!(
            "{op:<22} {n:>5} {:>7} {:>12.3e} {:>12.3e} {:>8.1}%  {}",
            e.compared,
            e.max_rel,
            e.max_abs,
            100.0 * e.max_tol_used,
            e.worst
        );
    }
    assert!(
        failures.is_empty(),
        "{} parity failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The replay can fail: a wrong gradient, a missing parameter gradient, and an op or layer
/// geometry the test has no code for are all failures, never silent passes.
#[test]
fn wrong_results_and_unknown_cases_fail() {
    let cases = parse_cases(GOLDEN).expect("golden file parses");
    let c = cases
        .iter()
        .find(|c| c.op == "causal_self_attention")
        .expect("a layer case");
    let mut outcome = run_caught(c).unwrap();
    assert!(compare_case(c, &outcome).failures.is_empty());
    outcome.grads.get_mut("value.bias").unwrap().data[0] *= 1.0 + 1e-4;
    assert_eq!(compare_case(c, &outcome).failures.len(), 1);
    outcome.grads.remove("proj.weight");
    assert!(!compare_case(c, &outcome).failures.is_empty());

    let mut unknown = c.clone();
    unknown
        .params
        .insert("heads".to_string(), serde_json::json!(5));
    assert!(run_caught(&unknown).is_err(), "no instance for 5 heads");
    let mut renamed = c.clone();
    let w = renamed.inputs.remove("key.weight").unwrap();
    renamed.inputs.insert("k.weight".to_string(), w);
    assert!(
        run_caught(&renamed).is_err(),
        "a parameter name the layer does not know"
    );
    let mut op = c.clone();
    op.op = "self_attention".to_string();
    assert!(run_caught(&op).is_err());
}
