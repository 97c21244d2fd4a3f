//! Parity with PyTorch for every primitive.
//!
//! `tests/golden/primitives.json` is written by `scripts/golden.py` from PyTorch's float32 CPU
//! kernels: for each case, the inputs, the forward output, the upstream gradient `dy` fed to
//! `y.backward(dy)`, and autograd's gradient for every input and parameter. This test replays
//! each case through NanoTorch's f32 forward and backward functions and compares.
//!
//! **Tolerance:** every element of the output and of every gradient must satisfy
//! `|nanotorch − torch| ≤ 1e-5·|torch| + 1e-6` — a relative tolerance of 1e-5 with an absolute
//! floor of 1e-6 for values near 0 (e.g. `σ(−20) ≈ 2e-9`). Sizes must match exactly.
//!
//! **Nothing is skipped:** a case whose op (or shape) this test cannot run fails the test, and
//! so does a golden file that lacks one of the ops in [`OPS`]. Dropout is absent on purpose:
//! its random mask cannot match PyTorch's (see the script's header).
//!
//! Per op, the test prints the number of cases and values compared, the max relative error
//! (over reference values with `|torch| ≥ 1e-6`) and the max absolute error:
//! `cargo test --test parity_primitives -- --nocapture`.

#[path = "common/golden.rs"]
mod golden;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use golden::{Case, Errors, Outcome, compare_case, parse_cases};
use nanotorch::prelude::*;
use nanotorch::shape::StaticDim;
use nanotorch::shape::U12;

const GOLDEN: &str = include_str!("golden/primitives.json");

/// The ops the golden file must cover (a regenerated file that drops one fails the test).
const OPS: &[&str] = &[
    "matmul",
    "linear",
    "add",
    "sub",
    "neg",
    "mul",
    "scale",
    "add_bias",
    "relu",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "gelu",
    "gelu_tanh",
    "exp",
    "log",
    "softmax",
    "log_softmax",
    "sum_all",
    "mean_all",
    "sum_axis",
    "mean_axis",
    "flatten",
    "reshape",
    "concat",
];

// ---- matrix products -------------------------------------------------------------------

fn matmul_case<K: StaticDim, N: StaticDim>(c: &Case) -> Outcome {
    let a: Tensor<(Dyn, K)> = c.input("a");
    let b: Tensor<(K, N)> = c.input("b");
    let dy: Tensor<(Dyn, N)> = c.upstream();
    let y = matmul(&a, &b).unwrap();
    let (da, db) = matmul_backward(&a, &b, &dy).unwrap();
    Outcome::new(&y).grad("a", &da).grad("b", &db)
}

fn linear_case<I: StaticDim, O: StaticDim>(c: &Case) -> Outcome {
    let x: Tensor<(Dyn, I)> = c.input("x");
    let w: Tensor<(O, I)> = c.input("weight");
    let b: Tensor<(O,)> = c.input("bias");
    let dy: Tensor<(Dyn, O)> = c.upstream();
    let y = linear(&x, &w, Some(&b)).unwrap();
    let dx = linear_backward_input(&w, &dy);
    let mut dw = Tensor::zeros(w.shape());
    let mut db = Tensor::zeros(b.shape());
    linear_backward_params(&x, &dy, &mut dw, Some(&mut db)).unwrap();
    Outcome::new(&y)
        .grad("x", &dx)
        .grad("weight", &dw)
        .grad("bias", &db)
}

// ---- elementwise arithmetic ------------------------------------------------------------

fn binary_case<S: Shape>(c: &Case) -> Result<Outcome, String> {
    let a: Tensor<S> = c.input("a");
    let b: Tensor<S> = c.input("b");
    let dy: Tensor<S> = c.upstream();
    Ok(match c.op.as_str() {
        // y = a + b: both gradients are dy itself.
        "add" => Outcome::new(&add(&a, &b).unwrap())
            .grad("a", &dy)
            .grad("b", &dy),
        // y = a − b: da = dy, db = −dy.
        "sub" => Outcome::new(&sub(&a, &b).unwrap())
            .grad("a", &dy)
            .grad("b", &neg(&dy)),
        "mul" => {
            let (da, db) = mul_backward(&a, &b, &dy).unwrap();
            Outcome::new(&mul(&a, &b).unwrap())
                .grad("a", &da)
                .grad("b", &db)
        }
        op => return Err(format!("binary op {op} is not handled")),
    })
}

fn neg_case<S: Shape>(c: &Case) -> Outcome {
    let x: Tensor<S> = c.input("x");
    let dy: Tensor<S> = c.upstream();
    // y = −x: dx = −dy.
    Outcome::new(&neg(&x)).grad("x", &neg(&dy))
}

fn scale_case<S: Shape>(c: &Case) -> Outcome {
    let x: Tensor<S> = c.input("x");
    let dy: Tensor<S> = c.upstream();
    let k = c.param_f32("c");
    Outcome::new(&scale(&x, k)).grad("x", &scale_backward(&dy, k))
}

fn add_bias_case<N: StaticDim>(c: &Case) -> Outcome {
    let x: Tensor<(Dyn, N)> = c.input("x");
    let b: Tensor<(N,)> = c.input("bias");
    let dy: Tensor<(Dyn, N)> = c.upstream();
    // y = x + b (broadcast over rows): dx = dy, db = Σ over rows of dy.
    Outcome::new(&add_bias(&x, &b).unwrap())
        .grad("x", &dy)
        .grad("bias", &bias_grad(&dy))
}

// ---- activations -----------------------------------------------------------------------

fn unary_case<S: Shape>(c: &Case) -> Result<Outcome, String> {
    let x: Tensor<S> = c.input("x");
    let dy: Tensor<S> = c.upstream();
    Ok(match c.op.as_str() {
        "relu" => {
            let y = relu(&x);
            Outcome::new(&y).grad("x", &relu_backward(&y, &dy))
        }
        "leaky_relu" => {
            let slope = c.param_f32("slope");
            let y = leaky_relu(&x, slope);
            Outcome::new(&y).grad("x", &leaky_relu_backward(&x, &dy, slope))
        }
        "sigmoid" => {
            let y = sigmoid(&x);
            Outcome::new(&y).grad("x", &sigmoid_backward(&y, &dy))
        }
        "tanh" => {
            let y = tanh(&x);
            Outcome::new(&y).grad("x", &tanh_backward(&y, &dy))
        }
        "gelu" => Outcome::new(&gelu(&x)).grad("x", &gelu_backward(&x, &dy)),
        "gelu_tanh" => Outcome::new(&gelu_tanh(&x)).grad("x", &gelu_tanh_backward(&x, &dy)),
        "exp" => {
            let y = exp(&x);
            Outcome::new(&y).grad("x", &exp_backward(&y, &dy))
        }
        "log" => Outcome::new(&log(&x)).grad("x", &log_backward(&x, &dy)),
        op => return Err(format!("unary op {op} is not handled")),
    })
}

fn softmax_case<S: HasLastAxis>(c: &Case) -> Result<Outcome, String> {
    let x: Tensor<S> = c.input("x");
    let dy: Tensor<S> = c.upstream();
    Ok(match c.op.as_str() {
        "softmax" => {
            let y = softmax(&x);
            Outcome::new(&y).grad("x", &softmax_backward(&y, &dy))
        }
        "log_softmax" => {
            let y = log_softmax(&x);
            Outcome::new(&y).grad("x", &log_softmax_backward(&y, &dy))
        }
        op => return Err(format!("softmax op {op} is not handled")),
    })
}

// ---- reductions (over a [B, 3, 4] tensor) ----------------------------------------------

type R3 = (Dyn, U3, U4);

fn reduce_case(c: &Case) -> Result<Outcome, String> {
    let x: Tensor<R3> = c.input("x");
    let shape = x.shape();
    Ok(match (c.op.as_str(), c.params.contains_key("axis")) {
        ("sum_all", false) => {
            let dy: Tensor<()> = c.upstream();
            Outcome::new(&sum_all(&x)).grad("x", &sum_all_backward(shape, &dy))
        }
        ("mean_all", false) => {
            let dy: Tensor<()> = c.upstream();
            Outcome::new(&mean_all(&x)).grad("x", &mean_all_backward(shape, &dy))
        }
        ("sum_axis", true) => match c.param_usize("axis") {
            0 => {
                let dy: Tensor<(U3, U4)> = c.upstream();
                Outcome::new(&sum_axis::<0, _, _>(&x))
                    .grad("x", &sum_axis_backward::<0, _, _>(shape, &dy).unwrap())
            }
            1 => {
                let dy: Tensor<(Dyn, U4)> = c.upstream();
                Outcome::new(&sum_axis::<1, _, _>(&x))
                    .grad("x", &sum_axis_backward::<1, _, _>(shape, &dy).unwrap())
            }
            2 => {
                let dy: Tensor<(Dyn, U3)> = c.upstream();
                Outcome::new(&sum_axis::<2, _, _>(&x))
                    .grad("x", &sum_axis_backward::<2, _, _>(shape, &dy).unwrap())
            }
            ax => return Err(format!("{}: no axis {ax} in a rank-3 tensor", c.label())),
        },
        ("mean_axis", true) => match c.param_usize("axis") {
            0 => {
                let dy: Tensor<(U3, U4)> = c.upstream();
                Outcome::new(&mean_axis::<0, _, _>(&x))
                    .grad("x", &mean_axis_backward::<0, _, _>(shape, &dy).unwrap())
            }
            1 => {
                let dy: Tensor<(Dyn, U4)> = c.upstream();
                Outcome::new(&mean_axis::<1, _, _>(&x))
                    .grad("x", &mean_axis_backward::<1, _, _>(shape, &dy).unwrap())
            }
            2 => {
                let dy: Tensor<(Dyn, U3)> = c.upstream();
                Outcome::new(&mean_axis::<2, _, _>(&x))
                    .grad("x", &mean_axis_backward::<2, _, _>(shape, &dy).unwrap())
            }
            ax => return Err(format!("{}: no axis {ax} in a rank-3 tensor", c.label())),
        },
        _ => return Err(format!("{}: reduction not handled", c.label())),
    })
}

// ---- shape ops -------------------------------------------------------------------------

fn flatten_case<C: StaticDim, H: StaticDim, W: StaticDim>(c: &Case) -> Outcome
where
    (Dyn, C, H, W): Flatten,
{
    let x: Tensor<(Dyn, C, H, W)> = c.input("x");
    let y = flatten(&x);
    let dy = c.upstream();
    Outcome::new(&y).grad("x", &flatten_backward(x.shape(), &dy))
}

fn reshape_case<S1: Shape, S2: Shape>(c: &Case) -> Outcome {
    let x: Tensor<S1> = c.input("x");
    let to = S2::from_dims(&c.param_dims("to")).unwrap();
    let dy: Tensor<S2> = c.upstream();
    let y = reshape(&x, to).unwrap();
    Outcome::new(&y).grad("x", &reshape_backward(x.shape(), &dy).unwrap())
}

fn concat_case<A, C>(c: &Case) -> Outcome
where
    A: StaticDim + DimAdd<C>,
    C: StaticDim,
{
    let a: Tensor<(Dyn, A)> = c.input("a");
    let b: Tensor<(Dyn, C)> = c.input("b");
    let dy: Tensor<(Dyn, Sum<A, C>)> = c.upstream();
    let y = concat(&a, &b).unwrap();
    let (da, db) = concat_backward::<Dyn, A, C, f32>(&dy);
    Outcome::new(&y).grad("a", &da).grad("b", &db)
}

// ---- dispatch --------------------------------------------------------------------------

/// Runs one case through NanoTorch; an op or shape the test has no code for is an error.
fn run(c: &Case) -> Result<Outcome, String> {
    let dims = |name: &str| -> Vec<usize> {
        c.inputs
            .get(name)
            .map(|t| t.shape.clone())
            .unwrap_or_default()
    };
    let no_type = |what: &str, dims: &[usize]| {
        Err(format!("{}: no static type for {what} {dims:?}", c.label()))
    };
    // Elementwise ops: a batch of rows of 4 features, or a batch of [3, 4] blocks.
    let elementwise =
        |body: &dyn Fn(bool) -> Result<Outcome, String>| match dims(first_input(c)).as_slice() {
            [_, 4] => body(false),
            [_, 3, 4] => body(true),
            other => no_type("input", other),
        };
    match c.op.as_str() {
        "matmul" => match dims("b").as_slice() {
            [4, 3] => Ok(matmul_case::<U4, U3>(c)),
            [5, 2] => Ok(matmul_case::<U5, U2>(c)),
            other => no_type("b", other),
        },
        "linear" => match dims("weight").as_slice() {
            [3, 5] => Ok(linear_case::<U5, U3>(c)),
            [2, 4] => Ok(linear_case::<U4, U2>(c)),
            other => no_type("weight", other),
        },
        "add" | "sub" | "mul" => elementwise(&|r3| {
            if r3 {
                binary_case::<R3>(c)
            } else {
                binary_case::<(Dyn, U4)>(c)
            }
        }),
        "neg" => elementwise(&|r3| {
            Ok(if r3 {
                neg_case::<R3>(c)
            } else {
                neg_case::<(Dyn, U4)>(c)
            })
        }),
        "scale" => elementwise(&|r3| {
            Ok(if r3 {
                scale_case::<R3>(c)
            } else {
                scale_case::<(Dyn, U4)>(c)
            })
        }),
        "add_bias" => match dims("bias").as_slice() {
            [4] => Ok(add_bias_case::<U4>(c)),
            [5] => Ok(add_bias_case::<U5>(c)),
            other => no_type("bias", other),
        },
        "relu" | "leaky_relu" | "sigmoid" | "tanh" | "gelu" | "gelu_tanh" | "exp" | "log" => {
            elementwise(&|r3| {
                if r3 {
                    unary_case::<R3>(c)
                } else {
                    unary_case::<(Dyn, U4)>(c)
                }
            })
        }
        "softmax" | "log_softmax" => match dims("x").as_slice() {
            [_, 5] => softmax_case::<(Dyn, U5)>(c),
            [_, 3, 4] => softmax_case::<R3>(c),
            other => no_type("x", other),
        },
        "sum_all" | "mean_all" | "sum_axis" | "mean_axis" => match dims("x").as_slice() {
            [_, 3, 4] => reduce_case(c),
            other => no_type("x", other),
        },
        "flatten" => match dims("x").as_slice() {
            [_, 2, 3, 2] => Ok(flatten_case::<U2, U3, U2>(c)),
            [_, 1, 2, 5] => Ok(flatten_case::<U1, U2, U5>(c)),
            other => no_type("x", other),
        },
        "reshape" => match (dims("x").as_slice(), c.param_dims("to").as_slice()) {
            ([_, 12], [_, 3, 4]) => Ok(reshape_case::<(Dyn, U12), R3>(c)),
            ([_, 3, 4], [_, 12]) => Ok(reshape_case::<R3, (Dyn, U12)>(c)),
            ([_, 2, 3, 2], [_, 3, 4]) => Ok(reshape_case::<(Dyn, U2, U3, U2), R3>(c)),
            (from, to) => Err(format!(
                "{}: no static types for reshape {from:?} -> {to:?}",
                c.label()
            )),
        },
        "concat" => match (dims("a").as_slice(), dims("b").as_slice()) {
            ([_, 3], [_, 2]) => Ok(concat_case::<U3, U2>(c)),
            ([_, 4], [_, 1]) => Ok(concat_case::<U4, U1>(c)),
            (a, b) => Err(format!(
                "{}: no static types for concat {a:?} ++ {b:?}",
                c.label()
            )),
        },
        _ => Err(format!("{}: op not handled by this test", c.label())),
    }
}

/// The name of a case's first input (`x`, or `a` for binary ops).
fn first_input(c: &Case) -> &str {
    if c.inputs.contains_key("x") { "x" } else { "a" }
}

/// Runs a case, turning a panic (a primitive returning an error we unwrapped) into a failure.
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
fn primitives_match_pytorch() {
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
        "{:<12} {:>5} {:>7} {:>12} {:>12} {:>9}  worst element (largest share of the tolerance)",
        "op", "cases", "values", "max rel err", "max abs err", "tol used"
    );
    for (op, (n, e)) in &per_op {
        println!(
            "{op:<12} {n:>5} {:>7} {:>12.3e} {:>12.3e} {:>8.1}%  {}",
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

/// The comparison itself can fail: a result equal to PyTorch's passes, one nudged by 2e-5
/// relative (twice the tolerance) fails, and so does a missing gradient.
#[test]
fn comparison_rejects_wrong_results() {
    let cases = parse_cases(GOLDEN).expect("golden file parses");
    let c = cases
        .iter()
        .find(|c| c.op == "linear")
        .expect("a linear case");
    let exact = Outcome {
        output: c.output.clone(),
        grads: c.grads.clone(),
    };
    assert!(compare_case(c, &exact).failures.is_empty());

    let mut nudged = exact.clone();
    let (i, v) = nudged
        .output
        .data
        .iter_mut()
        .enumerate()
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .unwrap();
    *v *= 1.0 + 2e-5;
    let failures = compare_case(c, &nudged).failures;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].contains(&format!("output[{i}]")),
        "{failures:?}"
    );

    let mut missing = exact.clone();
    missing.grads.remove("bias");
    assert!(!compare_case(c, &missing).failures.is_empty());

    let mut wrong_shape = exact;
    wrong_shape.output.shape.reverse();
    assert!(!compare_case(c, &wrong_shape).failures.is_empty());
}

/// An op (or a shape) the test has no code for is an error, never a silent skip.
#[test]
fn unknown_ops_and_shapes_are_errors() {
    let cases = parse_cases(GOLDEN).expect("golden file parses");
    let mut unknown = cases[0].clone();
    unknown.op = "frobnicate".to_string();
    assert!(run_caught(&unknown).is_err());

    let mut odd_shape = cases
        .iter()
        .find(|c| c.op == "relu")
        .expect("a relu case")
        .clone();
    for t in odd_shape.inputs.values_mut() {
        t.shape = vec![t.data.len(), 1];
    }
    assert!(run_caught(&odd_shape).is_err());
}
