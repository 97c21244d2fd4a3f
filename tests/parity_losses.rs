//! Parity of the fused losses with PyTorch: loss values and input gradients for every loss
//! and reduction, on the fixed inputs of `tests/golden/losses.json` (written by
//! `scripts/golden_train.py`, float32).
//!
//! Tolerance, per value: `|ours − torch| ≤ 1e-5·|torch| + 1e-6` — a few dozen f32 ulps
//! relative, plus an absolute floor for values near zero; the two libraries sum and round in
//! different orders, so bit equality is not expected. A case whose loss or reduction this test
//! does not know fails the test.

mod train_support;

use nanotorch::loss::{Reduction, bce_with_logits, cross_entropy, mse_loss, nll_loss};
use nanotorch::{Dyn, Tensor};
use serde_json::Value;
use train_support::{Agreement, f32s, golden, num};

type Matrix = Tensor<(Dyn, Dyn), f32>;

fn matrix(shape: &Value, data: &Value) -> Matrix {
    let dims: Vec<usize> = shape
        .as_array()
        .expect("input_shape is an array")
        .iter()
        .map(|d| d.as_u64().expect("a size") as usize)
        .collect();
    Tensor::from_vec(&dims, f32s(data)).expect("golden data fits its shape")
}

fn classes(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("targets is an array")
        .iter()
        .map(|y| y.as_u64().expect("a class index") as usize)
        .collect()
}

#[test]
fn losses_match_pytorch() {
    let doc = golden("losses.json");
    let cases = doc["cases"].as_array().expect("cases");
    assert!(!cases.is_empty(), "no golden loss cases");
    let mut failed = Vec::new();
    let mut kinds = std::collections::BTreeSet::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let reduction = match case["reduction"].as_str() {
            Some("mean") => Reduction::Mean,
            Some("sum") => Reduction::Sum,
            other => panic!("{name}: unknown reduction {other:?}"),
        };
        let input = matrix(&case["input_shape"], &case["input"]);
        let kind = case["loss"].as_str().expect("loss");
        let (loss, grad) = match kind {
            "mse" => {
                let target = matrix(&case["input_shape"], &case["target"]);
                mse_loss(&input, &target, reduction)
            }
            "bce_with_logits" => {
                let target = matrix(&case["input_shape"], &case["target"]);
                bce_with_logits(&input, &target, reduction)
            }
            "cross_entropy" => cross_entropy(&input, &classes(&case["targets"]), reduction),
            "nll" => nll_loss(&input, &classes(&case["targets"]), reduction),
            other => panic!("{name}: unknown loss {other:?}"),
        }
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        kinds.insert(kind);
        let mut agree = Agreement::f32();
        agree.check(f64::from(loss), num(&case["loss_value"]));
        agree.check_all(grad.as_slice(), &f32s(&case["grad"]));
        if !agree.report(name) {
            failed.push(name);
        }
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["bce_with_logits", "cross_entropy", "mse", "nll"],
        "every loss must have golden cases"
    );
    assert!(failed.is_empty(), "cases outside tolerance: {failed:?}");
}
