//! Parity with PyTorch for a whole GPT: the `TinyGpt` of `tests/gradcheck_gpt.rs` (vocabulary
//! 3, 5 positions, 8 features, 2 heads, a stack of 2 pre-norm blocks, MLP 16) against a `torch.nn` twin
//! (`scripts/golden_gpt.py`: minGPT's original layout, as `scripts/bench_torch.py`).
//!
//! The twin's initial weights are `tests/golden/torch_gpt.safetensors`, its `state_dict` saved
//! by `safetensors.torch.save_file`; this test loads them with [`checkpoint::load`] — strict,
//! by state-dict name (`wte.weight`, `h.0.attn.key.weight`, …, `head.bias`, the blocks a stack
//! `h: [Block; 2]` here and an `nn.ModuleList` named `h` there) — so the names and
//! layouts of every layer are checked along the way. `tests/golden/gpt.json` holds what
//! PyTorch computed from those weights (float32, CPU, one thread):
//!
//! - **one forward and backward** on a batch of 3 sequences whose first 2 targets are ignored
//!   (`-1` in PyTorch, `None` here): the logits, the loss
//!   `F.cross_entropy(logits.view(-1, V), targets.view(-1), ignore_index=-1)` and the gradient
//!   of every parameter, by name;
//! - **three AdamW steps** (lr 1e-2, betas (0.9, 0.95), eps 1e-8, weight decay 0.1 on every
//!   parameter, one group — NanoTorch's `AdamW` decays every parameter too), each on its own
//!   batch: each step's loss and gradients, and every parameter after the three steps.
//!
//! **Tolerance:** `|nanotorch − torch| ≤ 1e-5·|torch| + 1e-6` for every element
//! (`golden::RTOL`, `golden::ATOL`), the bound of the primitive parity tests, for the logits,
//! the losses, every gradient and every parameter after the AdamW steps — with one exception,
//! the attention's key biases after the steps ([`KEY_BIAS`]): their gradient is exactly 0 in
//! exact arithmetic, so both frameworks feed Adam pure rounding noise, which Adam normalises
//! up to a step of order `lr·|g|/eps`. They are held to the bound that noise allows instead.
//! The errors are printed by
//! `cargo test --release --test parity_gpt -- --nocapture --test-threads=1`.

#[path = "common/golden.rs"]
mod golden;

use std::path::PathBuf;

use golden::{Errors, GoldenTensor, compare};
use nanotorch::checkpoint;
use nanotorch::prelude::*;
use serde_json::Value;

network! {
    /// A pre-norm transformer block, 8 wide, 2 heads.
    #[derive(Clone)]
    pub struct Block {
        ln1: LayerNorm<8>,
        attn: CausalSelfAttention<8, 2>,
        ln2: LayerNorm<8>,
        fc: Linear<8, 16>,
        proj: Linear<16, 8>,
    }
    fn forward(x: [B, 5, 8]) -> [B, 5, 8] {
        let h = x + attn(ln1(x));
        h + proj(gelu_tanh(fc(ln2(h))))
    }
}

network! {
    /// Two blocks between embeddings and a head: 5 tokens over a vocabulary of 3.
    #[derive(Clone)]
    pub struct TinyGpt {
        wte: Embedding<3, 8>,
        wpe: PositionEmbedding<5, 8>,
        h: [Block; 2],
        ln_f: LayerNorm<8>,
        head: Linear<8, 3>,
    }
    fn forward(idx: [B, 5] tokens<3>) -> [B, 5, 3] = wte -> wpe -> h -> ln_f -> head;
}

const GOLDEN: &str = include_str!("golden/gpt.json");

/// The parameters compared after the AdamW steps with the noise bound of [`key_bias_bound`]
/// instead of the usual tolerance: `q·b_k` is the same for every key of a query's row, and
/// the softmax ignores a constant added to a row, so `∂L/∂b_k = Σ_i q_i·Σ_j ds[i, j] = 0`.
const KEY_BIAS: &[&str] = &["h.0.attn.key.bias", "h.1.attn.key.bias"];

fn golden() -> Value {
    serde_json::from_str(GOLDEN).expect("golden file parses")
}

fn weights() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/torch_gpt.safetensors")
}

/// The twin's initial weights, loaded by state-dict name into a NanoTorch `TinyGpt`.
fn loaded() -> TinyGpt {
    let mut net = TinyGpt::new(0);
    checkpoint::load(&mut net, weights()).expect("the twin's state dict fits TinyGpt exactly");
    net
}

fn tokens(v: &Value) -> Tokens<U5, U3> {
    let ids: Vec<usize> = v["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|i| i.as_u64().expect("a token id") as usize)
        .collect();
    Tokens::from_vec(ids.len() / 5, ids).expect("ids below 3, 5 per sequence")
}

/// The targets: `None` where PyTorch's is −1 (ignored).
fn targets(v: &Value) -> Vec<Option<usize>> {
    v["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| {
            let t = t.as_i64().expect("an integer target");
            (t >= 0).then_some(t as usize)
        })
        .collect()
}

fn scalar(x: f32) -> GoldenTensor {
    GoldenTensor {
        shape: Vec::new(),
        data: vec![x],
    }
}

fn golden_scalar(v: &Value, what: &str) -> GoldenTensor {
    scalar(v.as_f64().unwrap_or_else(|| panic!("{what}: a number")) as f32)
}

/// Every parameter's value (`grad == false`) or gradient, by state-dict name, in visit order.
fn named(net: &mut TinyGpt, grad: bool) -> Vec<(String, GoldenTensor)> {
    let mut out = Vec::new();
    net.visit_named_params("", &mut |name, dims, p| {
        let data = if grad { &*p.grad } else { &*p.value };
        out.push((
            name.to_string(),
            GoldenTensor {
                shape: dims.to_vec(),
                data: data.to_vec(),
            },
        ));
    });
    out
}

/// Compares NanoTorch's named tensors with PyTorch's `{name: tensor}` map: the same names in
/// the same order, every element within the tolerance (names in `skip` are left out).
fn compare_named(
    what: &str,
    got: &[(String, GoldenTensor)],
    want: &Value,
    skip: &[&str],
) -> Errors {
    let want = want.as_object().expect("a map of named tensors");
    let mut errors = Errors::default();
    let got_names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    let want_names: Vec<&str> = want.keys().map(String::as_str).collect();
    let mut sorted = got_names.clone();
    sorted.sort_unstable();
    if sorted != want_names {
        errors.failures.push(format!(
            "{what}: NanoTorch's parameters {got_names:?}, PyTorch's {want_names:?}"
        ));
        return errors;
    }
    for (name, g) in got {
        if skip.contains(&name.as_str()) {
            continue;
        }
        let w = GoldenTensor::parse(&want[name], &format!("{what} {name}")).expect("a tensor");
        errors.merge(compare(&format!("{what} {name}"), g, &w));
    }
    errors
}

fn report(what: &str, e: &Errors) {
    println!(
        "{what:<32} {:>6} values  max rel {:>9.3e}  max abs {:>9.3e}  tol used {:>6.1}%  worst: {}",
        e.compared,
        e.max_rel,
        e.max_abs,
        100.0 * e.max_tol_used,
        e.worst
    );
}

fn assert_clean(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} parity failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn state_dict_names_are_the_twins() {
    let doc = golden();
    let mut net = TinyGpt::new(0);
    let before = named(&mut net, false);
    let names: Vec<String> = before.iter().map(|(n, _)| n.clone()).collect();
    let want: Vec<String> = serde_json::from_value(doc["names"].clone()).expect("names");
    assert_eq!(names, want, "NanoTorch's and PyTorch's parameter order");
    // The load replaced every tensor (each of the twin's differs from NanoTorch's seed-0 draw;
    // the LayerNorms were moved off 1 and 0 by the script).
    let after = named(&mut loaded(), false);
    for ((name, a), (_, b)) in before.iter().zip(&after) {
        assert_ne!(a.data, b.data, "{name} was not loaded");
    }
}

/// The other direction: NanoTorch's save of the loaded stack is the twin's file, byte for byte
/// (the same names, `h.0.…` and `h.1.…`, the same layouts, the same values), so
/// `torch.nn`'s `load_state_dict` reads it back into the `nn.ModuleList`.
#[test]
fn a_saved_stack_is_the_twins_file() {
    let bytes = checkpoint::to_bytes(&mut loaded()).expect("a model encodes");
    let file = std::fs::read(weights()).expect("the twin's file");
    assert!(
        bytes == file,
        "NanoTorch's save differs from PyTorch's file"
    );
}

#[test]
fn forward_loss_and_gradients_match_pytorch() {
    let doc = golden();
    let case = &doc["grad"];
    let (idx, targets) = (tokens(case), targets(case));
    let mut net = loaded();
    net.zero_grad();
    let logits = net.forward(&idx).clone();
    assert_eq!(
        net.predict(&idx),
        logits,
        "predict and forward compute the same thing"
    );
    let mut dy = Tensor::default();
    let loss = cross_entropy_seq_into(&logits, &targets, &mut dy).expect("targets fit");
    net.backward(&dy)
        .expect("the loss gradient has the logits' sizes");

    println!("TinyGpt vs PyTorch (tolerance |a-b| <= 1e-5*|b| + 1e-6):");
    let mut failures = Vec::new();
    let want_logits = GoldenTensor::parse(&case["logits"], "logits").expect("logits");
    let checks = [
        (
            "logits",
            compare("logits", &golden::record(&logits), &want_logits),
        ),
        (
            "loss",
            compare("loss", &scalar(loss), &golden_scalar(&case["loss"], "loss")),
        ),
        (
            "gradients (38 parameters)",
            compare_named("grad", &named(&mut net, true), &case["grads"], &[]),
        ),
    ];
    for (what, e) in &checks {
        report(what, e);
        failures.extend(e.failures.iter().cloned());
    }
    assert_clean(&failures);
}

/// How far apart Adam can carry a parameter whose gradient is rounding noise: per step and
/// element the update is `lr·m̂/(√v̂ + eps)` with `|m̂| ≤ max |g|` and `√v̂ ≥ 0`, so each side
/// moves at most `lr·G/eps` per step (`G` the largest |gradient| either side fed it so far),
/// and the two sides differ by at most twice the sum over the steps. The decay is the same
/// on both sides (`θ·(1 − lr·λ)` per step) and is checked through the tolerance added on top.
fn key_bias_bound(lr: f64, eps: f64, max_grads: &[f64]) -> f64 {
    let mut g = 0.0f64;
    max_grads
        .iter()
        .map(|&m| {
            g = g.max(m);
            2.0 * lr * g / eps
        })
        .sum()
}

fn max_abs(t: &GoldenTensor) -> f64 {
    t.data
        .iter()
        .map(|v| f64::from(v.abs()))
        .fold(0.0, f64::max)
}

#[test]
fn three_adamw_steps_match_pytorch() {
    let doc = golden();
    let adamw = &doc["config"]["adamw"];
    let lr = adamw["lr"].as_f64().expect("lr");
    let eps = adamw["eps"].as_f64().expect("eps");
    let betas = (
        adamw["betas"][0].as_f64().expect("beta1"),
        adamw["betas"][1].as_f64().expect("beta2"),
    );
    let mut opt = AdamW::new()
        .with_lr(lr)
        .betas(betas.0, betas.1)
        .eps(eps)
        .weight_decay(adamw["weight_decay"].as_f64().expect("weight decay"));
    let mut net = loaded();
    let mut dy = Tensor::default();
    let mut failures = Vec::new();
    // Per key bias, the largest |gradient| of each step, either side.
    let mut key_grads: Vec<Vec<f64>> = vec![Vec::new(); KEY_BIAS.len()];

    println!("TinyGpt, 3 AdamW steps vs PyTorch (tolerance |a-b| <= 1e-5*|b| + 1e-6):");
    let steps = doc["train"]["steps"].as_array().expect("steps");
    for (k, step) in steps.iter().enumerate() {
        let (idx, targets) = (tokens(step), targets(step));
        net.zero_grad();
        let logits = net.forward(&idx);
        let loss = cross_entropy_seq_into(logits, &targets, &mut dy).expect("targets fit");
        net.backward(&dy)
            .expect("the loss gradient has the logits' sizes");
        let e = compare(
            &format!("step {k} loss"),
            &scalar(loss),
            &golden_scalar(&step["loss"], "loss"),
        );
        report(&format!("step {k} loss"), &e);
        failures.extend(e.failures);
        let grads = named(&mut net, true);
        let e = compare_named(&format!("step {k} grad"), &grads, &step["grads"], &[]);
        report(&format!("step {k} gradients"), &e);
        failures.extend(e.failures);
        for (i, name) in KEY_BIAS.iter().enumerate() {
            let ours = max_abs(&grads.iter().find(|(n, _)| n == name).expect("a key bias").1);
            let theirs = max_abs(&GoldenTensor::parse(&step["grads"][name], name).expect("grad"));
            // The premise of the bound: both sides' gradients are rounding noise.
            assert!(
                ours.max(theirs) < 1e-7,
                "step {k}: {name}'s gradient is not ≈ 0 (NanoTorch {ours:e}, PyTorch {theirs:e})"
            );
            key_grads[i].push(ours.max(theirs));
        }
        opt.step(&mut net);
    }

    let params = named(&mut net, false);
    let want = &doc["train"]["params"];
    let e = compare_named("after 3 steps", &params, want, KEY_BIAS);
    report("parameters after 3 steps", &e);
    failures.extend(e.failures);
    for (i, name) in KEY_BIAS.iter().enumerate() {
        let got = &params
            .iter()
            .find(|(n, _)| n == name)
            .expect("a key bias")
            .1;
        let want = GoldenTensor::parse(&want[name], name).expect("a tensor");
        let bound = key_bias_bound(lr, eps, &key_grads[i]);
        let worst = got
            .data
            .iter()
            .zip(&want.data)
            .map(|(a, b)| (f64::from(*a) - f64::from(*b)).abs())
            .fold(0.0, f64::max);
        println!(
            "{name} after 3 steps: max |diff| {worst:.3e}, noise bound {bound:.3e} \
             (largest |gradient| per step {:?})",
            key_grads[i]
                .iter()
                .map(|g| format!("{g:.1e}"))
                .collect::<Vec<_>>()
        );
        for (j, (&a, &b)) in got.data.iter().zip(&want.data).enumerate() {
            let diff = (f64::from(a) - f64::from(b)).abs();
            if diff > bound + golden::RTOL * f64::from(b).abs() + golden::ATOL {
                failures.push(format!(
                    "{name}[{j}] after 3 steps: nanotorch {a:e}, torch {b:e} (|diff| {diff:.3e} \
                     above the noise bound {bound:.3e})"
                ));
            }
        }
    }
    assert_clean(&failures);
}
