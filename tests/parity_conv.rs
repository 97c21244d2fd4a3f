//! Parity with PyTorch for the image primitives: `conv2d`, `max_pool2d`, `avg_pool2d`,
//! `global_avg_pool2d` and batch normalisation (training and evaluation mode, 1-d and 2-d).
//!
//! `tests/golden/conv.json` is written by `scripts/golden_conv.py` from PyTorch's float32 CPU
//! kernels (format as `tests/golden/primitives.json`, see `tests/common/golden.rs`). This test
//! replays each case through NanoTorch's f32 forward and backward functions and compares the
//! output, every gradient and, for batch norm in training mode, the running statistics after
//! each call.
//!
//! **Tolerance:** `|nanotorch − torch| ≤ 1e-5·|torch| + 1e-6` for every element, as for the
//! other primitives (`golden::RTOL`, `golden::ATOL`); sizes must match exactly. The
//! convolutions' sums (up to `C·K·K = 75` products per output, up to `B·OH·OW = 189` per weight
//! gradient) stay within it: measured, at most 43% of the tolerance is used (the worst element,
//! a weight-gradient entry −9.131e-3, is off by 4.7e-7), max abs error 3.8e-6, so no looser
//! tolerance is needed. The errors per op are printed by
//! `cargo test --release --test parity_conv -- --nocapture`.
//!
//! **Buffer reuse:** every case runs the `_into` variants into buffers (outputs, gradients,
//! im2col columns, arg-max indices, batch-norm saved values) that were first filled by a call
//! on a *larger* batch with other values, and then by a call of the case's size with other
//! values; the result compared with PyTorch is the third call's. The allocating variants must
//! give bit-for-bit the same results.
//!
//! **Nothing is skipped:** a case whose op this test cannot run fails, and so does a golden
//! file that lacks one of the ops in [`OPS`].

#[path = "common/golden.rs"]
mod golden;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use golden::{Case, Errors, GoldenTensor, Outcome, compare, compare_case, parse_cases};
use nanotorch::ops::*;
use nanotorch::shape::{U3, U5};
use nanotorch::{Dyn, Shape, ShapeError, Tensor};

const GOLDEN: &str = include_str!("golden/conv.json");

/// The ops the golden file must cover.
const OPS: &[&str] = &[
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "global_avg_pool2d",
    "batch_norm_train",
    "batch_norm_eval",
];

type D1 = (Dyn,);
type D2 = (Dyn, Dyn);
type D4 = (Dyn, Dyn, Dyn, Dyn);

/// What a replayed case produced: the output and gradients, and further tensors to compare
/// with tensor-valued params of the case (the running statistics).
struct Replay {
    outcome: Outcome,
    extras: Vec<(&'static str, GoldenTensor)>,
}

impl From<Outcome> for Replay {
    fn from(outcome: Outcome) -> Self {
        Self {
            outcome,
            extras: Vec::new(),
        }
    }
}

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

fn empty4() -> Tensor<D4> {
    Tensor::zeros((Dyn(0), Dyn(0), Dyn(0), Dyn(0)))
}

/// Panics (failing the case) unless the `_into` result equals the allocating one bit for bit.
fn same<S: Shape>(what: &str, into: &Tensor<S, f32>, alloc: &Tensor<S, f32>) {
    assert!(
        into.dims() == alloc.dims() && into.as_slice() == alloc.as_slice(),
        "{what}: the _into variant (reused buffers) differs from the allocating one"
    );
}

// ---- convolution -----------------------------------------------------------------------

fn conv_spec(c: &Case) -> Conv2dSpec {
    Conv2dSpec::new(
        c.param_usize("stride"),
        c.param_usize("padding"),
        c.param_usize("dilation"),
    )
}

fn conv2d_case(c: &Case) -> Replay {
    let x: Tensor<D4> = c.input("x");
    let w: Tensor<D4> = c.input("weight");
    let b: Option<Tensor<D1>> = c.inputs.contains_key("bias").then(|| c.input("bias"));
    let dy: Tensor<D4> = c.upstream();
    let spec = conv_spec(c);

    let (mut y, mut dx, mut cols) = (empty4(), empty4(), Vec::new());
    let (mut dw, mut db) = (Tensor::zeros(w.shape()), b.as_ref().map(Tensor::zeros_like));
    let stale_dy = stale_inputs(&dy);
    for (sx, sdy) in stale_inputs(&x).iter().zip(&stale_dy) {
        conv2d_into(sx, &w, b.as_ref(), spec, &mut y, &mut cols).unwrap();
        conv2d_backward_params(sx, sdy, spec, &mut dw, db.as_mut(), &mut cols).unwrap();
        conv2d_backward_input_into(&w, sdy, spec, sx.shape(), &mut dx, &mut cols).unwrap();
    }
    conv2d_into(&x, &w, b.as_ref(), spec, &mut y, &mut cols).unwrap();
    // The parameter gradients accumulate: start them from 0.
    dw.fill(0.0);
    if let Some(db) = &mut db {
        db.fill(0.0);
    }
    conv2d_backward_params(&x, &dy, spec, &mut dw, db.as_mut(), &mut cols).unwrap();
    conv2d_backward_input_into(&w, &dy, spec, x.shape(), &mut dx, &mut cols).unwrap();

    same("conv2d", &y, &conv2d(&x, &w, b.as_ref(), spec).unwrap());
    let (dx_alloc, dw_alloc, db_alloc) = conv2d_backward(&x, &w, &dy, spec).unwrap();
    same("conv2d dx", &dx, &dx_alloc);
    same("conv2d dweight", &dw, &dw_alloc);
    let outcome = Outcome::new(&y).grad("x", &dx).grad("weight", &dw);
    match &db {
        Some(db) => {
            same("conv2d dbias", db, &db_alloc);
            outcome.grad("bias", db)
        }
        None => outcome,
    }
    .into()
}

// ---- pooling ---------------------------------------------------------------------------

fn pool_spec(c: &Case) -> Pool2dSpec {
    Pool2dSpec::new(
        c.param_usize("kernel"),
        c.param_usize("stride"),
        c.param_usize("padding"),
    )
}

fn max_pool2d_case(c: &Case) -> Replay {
    let x: Tensor<D4> = c.input("x");
    let dy: Tensor<D4> = c.upstream();
    let spec = pool_spec(c);
    let (mut y, mut dx, mut argmax) = (empty4(), empty4(), Vec::new());
    let stale_dy = stale_inputs(&dy);
    for (sx, sdy) in stale_inputs(&x).iter().zip(&stale_dy) {
        max_pool2d_into(sx, spec, &mut y, &mut argmax).unwrap();
        max_pool2d_backward_into(&argmax, sdy, sx.shape(), &mut dx).unwrap();
    }
    max_pool2d_into(&x, spec, &mut y, &mut argmax).unwrap();
    max_pool2d_backward_into(&argmax, &dy, x.shape(), &mut dx).unwrap();
    same("max_pool2d", &y, &max_pool2d(&x, spec).unwrap());
    same(
        "max_pool2d dx",
        &dx,
        &max_pool2d_backward(&x, &dy, spec).unwrap(),
    );
    Outcome::new(&y).grad("x", &dx).into()
}

fn avg_pool2d_case(c: &Case) -> Replay {
    let x: Tensor<D4> = c.input("x");
    let dy: Tensor<D4> = c.upstream();
    let spec = pool_spec(c);
    let (mut y, mut dx) = (empty4(), empty4());
    let stale_dy = stale_inputs(&dy);
    for (sx, sdy) in stale_inputs(&x).iter().zip(&stale_dy) {
        avg_pool2d_into(sx, spec, &mut y).unwrap();
        avg_pool2d_backward_into(sdy, spec, sx.shape(), &mut dx).unwrap();
    }
    avg_pool2d_into(&x, spec, &mut y).unwrap();
    avg_pool2d_backward_into(&dy, spec, x.shape(), &mut dx).unwrap();
    same("avg_pool2d", &y, &avg_pool2d(&x, spec).unwrap());
    same(
        "avg_pool2d dx",
        &dx,
        &avg_pool2d_backward(&dy, spec, x.shape()).unwrap(),
    );
    Outcome::new(&y).grad("x", &dx).into()
}

fn global_avg_pool2d_case(c: &Case) -> Replay {
    let x: Tensor<D4> = c.input("x");
    let dy: Tensor<D2> = c.upstream();
    let (mut y, mut dx) = (Tensor::zeros((Dyn(0), Dyn(0))), empty4());
    let stale_dy = stale_inputs(&dy);
    for (sx, sdy) in stale_inputs(&x).iter().zip(&stale_dy) {
        global_avg_pool2d_into(sx, &mut y);
        global_avg_pool2d_backward_into(sdy, sx.shape(), &mut dx).unwrap();
    }
    global_avg_pool2d_into(&x, &mut y);
    global_avg_pool2d_backward_into(&dy, x.shape(), &mut dx).unwrap();
    same("global_avg_pool2d", &y, &global_avg_pool2d(&x));
    same(
        "global_avg_pool2d dx",
        &dx,
        &global_avg_pool2d_backward(&dy, x.shape()).unwrap(),
    );
    Outcome::new(&y).grad("x", &dx).into()
}

// ---- batch normalisation ---------------------------------------------------------------

fn bn_spec(c: &Case) -> BatchNormSpec {
    let num = |name: &str| {
        c.params[name]
            .as_f64()
            .unwrap_or_else(|| panic!("{}: missing numeric param {name}", c.label()))
    };
    BatchNormSpec {
        eps: num("eps"),
        momentum: num("momentum"),
    }
}

/// The inputs of the earlier calls of a multi-call case (`x_warmup`, `[calls − 1, ...x]`).
fn warmup<S: Shape>(c: &Case, x: &Tensor<S, f32>) -> Vec<Tensor<S, f32>> {
    c.inputs.get("x_warmup").map_or_else(Vec::new, |t| {
        assert_eq!(&t.shape[1..], x.dims(), "{}: x_warmup", c.label());
        t.data
            .chunks(x.numel())
            .map(|d| Tensor::from_vec(x.dims(), d.to_vec()).unwrap())
            .collect()
    })
}

fn rows(rows: &[Tensor<D1, f32>]) -> GoldenTensor {
    GoldenTensor {
        shape: vec![rows.len(), rows.first().map_or(0, |r| r.numel())],
        data: rows.iter().flat_map(|r| r.to_vec()).collect(),
    }
}

fn bn_train_case<S: BatchChannels<Channels = Dyn>>(c: &Case) -> Replay {
    let x: Tensor<S> = c.input("x");
    let (w, b): (Tensor<D1>, Tensor<D1>) = (c.input("weight"), c.input("bias"));
    let mut running_mean: Tensor<D1> = c.input("running_mean");
    let mut running_var: Tensor<D1> = c.input("running_var");
    let dy: Tensor<S> = c.upstream();
    let spec = bn_spec(c);

    let (mut y, mut dx) = (Tensor::zeros(x.shape()), Tensor::zeros(x.shape()));
    let mut saved = BatchNormSaved::new(x.shape());
    let (mut dw, mut db) = (Tensor::zeros(w.shape()), Tensor::zeros(b.shape()));
    // Stale calls, on copies of the running statistics.
    let (mut rm, mut rv) = (running_mean.clone(), running_var.clone());
    let stale_dy = stale_inputs(&dy);
    for (sx, sdy) in stale_inputs(&x).iter().zip(&stale_dy) {
        batch_norm_train_into(sx, &w, &b, spec, &mut rm, &mut rv, &mut y, &mut saved).unwrap();
        batch_norm_backward_into(&saved, &w, sdy, &mut dx, &mut dw, &mut db).unwrap();
    }
    let (mut means, mut vars) = (Vec::new(), Vec::new());
    for xi in warmup(c, &x).iter().chain([&x]) {
        batch_norm_train_into(
            xi,
            &w,
            &b,
            spec,
            &mut running_mean,
            &mut running_var,
            &mut y,
            &mut saved,
        )
        .unwrap();
        means.push(running_mean.clone());
        vars.push(running_var.clone());
    }
    // The parameter gradients accumulate: start them from 0.
    dw.fill(0.0);
    db.fill(0.0);
    batch_norm_backward_into(&saved, &w, &dy, &mut dx, &mut dw, &mut db).unwrap();
    Replay {
        outcome: Outcome::new(&y)
            .grad("x", &dx)
            .grad("weight", &dw)
            .grad("bias", &db),
        extras: vec![
            ("running_mean_after", rows(&means)),
            ("running_var_after", rows(&vars)),
        ],
    }
}

fn bn_eval_case<S: BatchChannels<Channels = Dyn>>(c: &Case) -> Replay {
    let x: Tensor<S> = c.input("x");
    let (w, b): (Tensor<D1>, Tensor<D1>) = (c.input("weight"), c.input("bias"));
    let rm: Tensor<D1> = c.input("running_mean");
    let rv: Tensor<D1> = c.input("running_var");
    let dy: Tensor<S> = c.upstream();
    let spec = bn_spec(c);

    let (mut y, mut dx) = (Tensor::zeros(x.shape()), Tensor::zeros(x.shape()));
    let mut saved = BatchNormSaved::new(x.shape());
    let (mut dw, mut db) = (Tensor::zeros(w.shape()), Tensor::zeros(b.shape()));
    let stale_dy = stale_inputs(&dy);
    for (sx, sdy) in stale_inputs(&x).iter().zip(&stale_dy) {
        batch_norm_eval_into(sx, &w, &b, spec, &rm, &rv, &mut y, &mut saved).unwrap();
        batch_norm_eval_backward_into(&saved, &w, sdy, &mut dx, &mut dw, &mut db).unwrap();
    }
    batch_norm_eval_into(&x, &w, &b, spec, &rm, &rv, &mut y, &mut saved).unwrap();
    dw.fill(0.0);
    db.fill(0.0);
    batch_norm_eval_backward_into(&saved, &w, &dy, &mut dx, &mut dw, &mut db).unwrap();
    Outcome::new(&y)
        .grad("x", &dx)
        .grad("weight", &dw)
        .grad("bias", &db)
        .into()
}

// ---- dispatch --------------------------------------------------------------------------

fn run(c: &Case) -> Result<Replay, String> {
    let rank = c.input_dims("x").len();
    Ok(match (c.op.as_str(), rank) {
        ("conv2d", 4) => conv2d_case(c),
        ("max_pool2d", 4) => max_pool2d_case(c),
        ("avg_pool2d", 4) => avg_pool2d_case(c),
        ("global_avg_pool2d", 4) => global_avg_pool2d_case(c),
        ("batch_norm_train", 2) => bn_train_case::<D2>(c),
        ("batch_norm_train", 4) => bn_train_case::<D4>(c),
        ("batch_norm_eval", 2) => bn_eval_case::<D2>(c),
        ("batch_norm_eval", 4) => bn_eval_case::<D4>(c),
        (op, rank) => {
            return Err(format!(
                "{}: op {op} on rank {rank} is not handled",
                c.label()
            ));
        }
    })
}

/// Runs a case, turning a panic (an unwrapped error, an `_into` mismatch) into a failure.
fn run_caught(c: &Case) -> Result<Replay, String> {
    catch_unwind(AssertUnwindSafe(|| run(c))).unwrap_or_else(|panic| {
        let msg = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(format!("{}: panicked: {msg}", c.label()))
    })
}

/// Compares a replay with its case: output, gradients, and each extra with the tensor-valued
/// param of the same name (which must exist).
fn compare_replay(c: &Case, got: &Replay) -> Errors {
    let mut errors = compare_case(c, &got.outcome);
    for (name, tensor) in &got.extras {
        let what = format!("{} {name}", c.label());
        match c.params.get(*name).map(|v| GoldenTensor::parse(v, &what)) {
            Some(Ok(want)) => errors.merge(compare(&what, tensor, &want)),
            Some(Err(e)) => errors.failures.push(e),
            None => errors
                .failures
                .push(format!("{what}: no PyTorch reference")),
        }
    }
    errors
}

#[test]
fn conv_ops_match_pytorch() {
    let cases = parse_cases(GOLDEN).expect("golden file parses");
    let mut per_op: BTreeMap<&str, (usize, Errors)> = BTreeMap::new();
    let mut failures = Vec::new();
    for c in &cases {
        let entry = per_op.entry(c.op.as_str()).or_default();
        entry.0 += 1;
        match run_caught(c) {
            Ok(replay) => {
                let errors = compare_replay(c, &replay);
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
    assert!(
        failures.is_empty(),
        "{} parity failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The replay can fail: a wrong running statistic, a missing gradient and an op or rank the
/// test has no code for are all failures, never silent passes.
#[test]
fn wrong_results_and_unknown_cases_fail() {
    let cases = parse_cases(GOLDEN).expect("golden file parses");
    let c = cases
        .iter()
        .find(|c| c.op == "batch_norm_train" && c.inputs.contains_key("x_warmup"))
        .expect("a multi-call batch-norm case");
    let mut replay = run_caught(c).unwrap();
    assert!(compare_replay(c, &replay).failures.is_empty());
    replay.extras[1].1.data[0] *= 1.0 + 1e-4;
    assert_eq!(compare_replay(c, &replay).failures.len(), 1);
    replay.extras.clear();
    replay.outcome.grads.remove("weight");
    assert!(!compare_replay(c, &replay).failures.is_empty());

    let conv = cases.iter().find(|c| c.op == "conv2d").unwrap();
    let mut unknown = conv.clone();
    unknown.op = "conv3d".to_string();
    assert!(run_caught(&unknown).is_err());
    let mut flat = conv.clone();
    flat.inputs.get_mut("x").unwrap().shape = vec![conv.inputs["x"].data.len(), 1];
    assert!(run_caught(&flat).is_err());
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

/// `conv2d_backward_params` and the batch-norm backwards add into the parameter gradients:
/// two calls give twice one call (up to rounding: a kernel may add its terms one by one onto
/// the gradient, so the second call's sum is rounded differently from `2a`).
#[test]
fn parameter_gradients_accumulate() {
    let cases = parse_cases(GOLDEN).expect("golden file parses");
    let c = cases
        .iter()
        .find(|c| c.op == "conv2d" && c.inputs.contains_key("bias"))
        .unwrap();
    let x: Tensor<D4> = c.input("x");
    let w: Tensor<D4> = c.input("weight");
    let dy: Tensor<D4> = c.upstream();
    let spec = conv_spec(c);
    let (mut dw, mut db) = (Tensor::zeros(w.shape()), Tensor::zeros((Dyn(w.dims()[0]),)));
    let mut cols = Vec::new();
    conv2d_backward_params(&x, &dy, spec, &mut dw, Some(&mut db), &mut cols).unwrap();
    let (once_w, once_b) = (dw.to_vec(), db.to_vec());
    conv2d_backward_params(&x, &dy, spec, &mut dw, Some(&mut db), &mut cols).unwrap();
    assert_twice("conv2d dweight", &dw, &once_w);
    assert_twice("conv2d dbias", &db, &once_b);

    for op in ["batch_norm_train", "batch_norm_eval"] {
        let c = cases
            .iter()
            .find(|c| c.op == op && c.input_dims("x").len() == 4)
            .unwrap();
        let x: Tensor<D4> = c.input("x");
        let (w, b): (Tensor<D1>, Tensor<D1>) = (c.input("weight"), c.input("bias"));
        let (mut rm, mut rv): (Tensor<D1>, Tensor<D1>) =
            (c.input("running_mean"), c.input("running_var"));
        let dy: Tensor<D4> = c.upstream();
        let spec = bn_spec(c);
        let (mut y, mut dx) = (Tensor::zeros(x.shape()), Tensor::zeros(x.shape()));
        let mut saved = BatchNormSaved::new(x.shape());
        let (mut dw, mut db) = (Tensor::zeros(w.shape()), Tensor::zeros(b.shape()));
        let mut backward =
            |saved: &BatchNormSaved<D4, f32>, dw: &mut Tensor<D1>, db: &mut Tensor<D1>| {
                if op == "batch_norm_train" {
                    batch_norm_backward_into(saved, &w, &dy, &mut dx, dw, db).unwrap();
                } else {
                    batch_norm_eval_backward_into(saved, &w, &dy, &mut dx, dw, db).unwrap();
                }
            };
        if op == "batch_norm_train" {
            batch_norm_train_into(&x, &w, &b, spec, &mut rm, &mut rv, &mut y, &mut saved).unwrap();
        } else {
            batch_norm_eval_into(&x, &w, &b, spec, &rm, &rv, &mut y, &mut saved).unwrap();
        }
        backward(&saved, &mut dw, &mut db);
        let (once_w, once_b) = (dw.to_vec(), db.to_vec());
        backward(&saved, &mut dw, &mut db);
        assert_twice(&format!("{op} dweight"), &dw, &once_w);
        assert_twice(&format!("{op} dbias"), &db, &once_b);
    }
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

fn zeros4(b: usize, c: usize, h: usize, w: usize) -> Tensor<D4> {
    Tensor::full((Dyn(b), Dyn(c), Dyn(h), Dyn(w)), 0.5)
}

fn zeros1(n: usize) -> Tensor<D1> {
    Tensor::zeros((Dyn(n),))
}

#[test]
fn conv_bad_sizes_are_shape_errors() {
    let x = zeros4(2, 3, 6, 5);
    let spec = Conv2dSpec::default();
    let conv = |w: &Tensor<D4>, b: Option<&Tensor<D1>>, spec: Conv2dSpec| {
        conv2d::<_, _, _, _, _, _, Dyn, Dyn, f32>(&x, w, b, spec)
    };
    // Weight with C_in 2 against x's 3 channels (all dims Dyn, so only the run time sees it).
    let e = expect_err("conv2d C_in mismatch", || {
        conv(&zeros4(4, 2, 3, 3), None, spec)
    });
    assert_eq!(
        e,
        ShapeError::RuntimeDim {
            what: "conv2d input channels of x and weight",
            left: 3,
            right: 2
        }
    );
    // Kernels (plain or dilated) larger than the (padded) input.
    let big = zeros4(4, 3, 7, 7);
    assert!(matches!(
        expect_err("kernel 7 over 6×5", || conv(&big, None, spec)),
        ShapeError::Invalid { .. }
    ));
    expect_err("kernel 7 over 6×5 padded by 0", || {
        conv(&big, None, Conv2dSpec::new(2, 0, 1))
    });
    // Padding 1 makes the input 8×7: the 7×7 kernel fits, with a 2×1 output.
    let fits = conv(&big, None, Conv2dSpec::new(1, 1, 1)).unwrap();
    assert_eq!(fits.dims(), [2, 4, 2, 1]);
    let k3 = zeros4(4, 3, 3, 3);
    expect_err("dilated span 7 over width 5", || {
        conv(&k3, None, Conv2dSpec::new(1, 0, 3))
    });
    expect_err("stride 0", || conv(&k3, None, Conv2dSpec::new(0, 0, 1)));
    expect_err("dilation 0", || conv(&k3, None, Conv2dSpec::new(1, 0, 0)));
    expect_err("non-square kernel", || {
        conv(&zeros4(4, 3, 3, 2), None, spec)
    });
    expect_err("bias of 3 for 4 outputs", || {
        conv(&k3, Some(&zeros1(3)), spec)
    });
    // A static output size that disagrees with the computed one (4×3 here).
    let e = expect_err("static output size", || {
        conv2d::<_, _, _, _, _, _, U5, U3, f32>(&x, &k3, None, spec)
    });
    assert!(matches!(e, ShapeError::Shape { .. }), "{e:?}");

    // Backwards: dy of another size, gradients of another size.
    let mut cols = Vec::new();
    let dy = zeros4(2, 4, 4, 3);
    let mut dw = zeros4(4, 3, 3, 3);
    conv2d_backward_params(&x, &dy, spec, &mut dw, None, &mut cols).unwrap();
    let bad_dy = zeros4(2, 4, 3, 3);
    expect_err("backward_params dy size", || {
        conv2d_backward_params(&x, &bad_dy, spec, &mut dw, None, &mut cols)
    });
    expect_err("backward_params dweight C_in", || {
        conv2d_backward_params(&x, &dy, spec, &mut zeros4(4, 2, 3, 3), None, &mut cols)
    });
    expect_err("backward_params dbias length", || {
        conv2d_backward_params(&x, &dy, spec, &mut dw, Some(&mut zeros1(5)), &mut cols)
    });
    let mut dx = zeros4(1, 1, 1, 1);
    expect_err("backward_input dy size", || {
        conv2d_backward_input_into(&k3, &bad_dy, spec, x.shape(), &mut dx, &mut cols)
    });
    expect_err("backward_input C_in", || {
        conv2d_backward_input_into(
            &zeros4(4, 2, 3, 3),
            &dy,
            spec,
            x.shape(),
            &mut dx,
            &mut cols,
        )
    });
    expect_err("conv2d_backward dy size", || {
        conv2d_backward(&x, &k3, &bad_dy, spec)
    });
}

#[test]
fn pool_bad_sizes_are_shape_errors() {
    let x = zeros4(2, 3, 2, 2);
    let pool = |spec: Pool2dSpec| max_pool2d::<_, _, _, _, Dyn, Dyn, f32>(&x, spec);
    expect_err("max window 3 over 2×2", || pool(Pool2dSpec::new(3, 1, 0)));
    expect_err("padding over half the kernel", || {
        pool(Pool2dSpec::new(2, 1, 2))
    });
    expect_err("stride 0", || pool(Pool2dSpec::new(2, 0, 0)));
    expect_err("avg window 3 over 2×2", || {
        avg_pool2d::<_, _, _, _, Dyn, Dyn, f32>(&x, Pool2dSpec::new(3, 3, 0))
    });
    // Window 3 with padding 1 over 2×2 fits: 2×2 output at stride 1.
    assert_eq!(pool(Pool2dSpec::new(3, 1, 1)).unwrap().dims(), [2, 3, 2, 2]);

    let spec = Pool2dSpec::new(2, 2, 0);
    let x = zeros4(2, 3, 4, 4);
    let bad_dy = zeros4(2, 3, 3, 2);
    expect_err("max backward dy size", || {
        max_pool2d_backward(&x, &bad_dy, spec)
    });
    let mut dx = zeros4(1, 1, 1, 1);
    let dy = zeros4(2, 3, 2, 2);
    expect_err("max backward short argmax", || {
        max_pool2d_backward_into(&[0; 5], &dy, x.shape(), &mut dx)
    });
    expect_err("max backward argmax outside the input", || {
        max_pool2d_backward_into(&[96; 24], &dy, x.shape(), &mut dx)
    });
    expect_err("avg backward dy size", || {
        avg_pool2d_backward(&bad_dy, spec, x.shape())
    });
    expect_err("global backward dy size", || {
        global_avg_pool2d_backward(&Tensor::<D2>::zeros((Dyn(2), Dyn(4))), x.shape())
    });
}

#[test]
fn batch_norm_bad_sizes_are_shape_errors() {
    let spec = BatchNormSpec::default();
    let x = zeros4(2, 3, 2, 2);
    let (w, b) = (zeros1(3), zeros1(3));
    let (mut rm, mut rv) = (zeros1(3), Tensor::ones((Dyn(3),)));
    let mut y = zeros4(1, 1, 1, 1);
    let mut saved = BatchNormSaved::new(x.shape());
    expect_err("weight of 4 for 3 channels", || {
        batch_norm_train_into(
            &x,
            &zeros1(4),
            &b,
            spec,
            &mut rm,
            &mut rv,
            &mut y,
            &mut saved,
        )
    });
    expect_err("running_var of 2 for 3 channels", || {
        batch_norm_train_into(
            &x,
            &w,
            &b,
            spec,
            &mut rm,
            &mut zeros1(2),
            &mut y,
            &mut saved,
        )
    });
    expect_err("eval bias of 2 for 3 channels", || {
        batch_norm_eval_into(&x, &w, &zeros1(2), spec, &rm, &rv, &mut y, &mut saved)
    });
    // One value per channel has no variance in training mode (PyTorch refuses it too); eval
    // mode takes it.
    let one: Tensor<D2> = Tensor::zeros((Dyn(1), Dyn(3)));
    let (mut y1, mut saved1) = (one.clone(), BatchNormSaved::new(one.shape()));
    expect_err("training on a batch of 1", || {
        batch_norm_train_into(&one, &w, &b, spec, &mut rm, &mut rv, &mut y1, &mut saved1)
    });
    batch_norm_eval_into(&one, &w, &b, spec, &rm, &rv, &mut y1, &mut saved1).unwrap();

    batch_norm_train_into(&x, &w, &b, spec, &mut rm, &mut rv, &mut y, &mut saved).unwrap();
    let (mut dx, mut dw, mut db) = (zeros4(1, 1, 1, 1), zeros1(3), zeros1(3));
    expect_err("backward dy of another batch", || {
        batch_norm_backward_into(&saved, &w, &zeros4(3, 3, 2, 2), &mut dx, &mut dw, &mut db)
    });
    expect_err("backward dweight of 2", || {
        batch_norm_backward_into(&saved, &w, &x, &mut dx, &mut zeros1(2), &mut db)
    });
    expect_err("eval backward weight of 4", || {
        batch_norm_eval_backward_into(&saved, &zeros1(4), &x, &mut dx, &mut dw, &mut db)
    });
}
