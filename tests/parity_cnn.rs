//! Parity with PyTorch for a whole convolutional network with BatchNorm, loaded from a
//! PyTorch-written checkpoint: the `Cnn` below against its `torch.nn` twin
//! (`scripts/golden_cnn.py`).
//!
//! The twin's initial state dict — parameters **and buffers** (`running_mean`, `running_var`,
//! the int64 `num_batches_tracked`, all moved off their defaults by the script) — is
//! `tests/golden/torch_cnn_parity.safetensors`, saved by `safetensors.torch.save_file`; this
//! test loads it with [`checkpoint::load`] (strict, by state-dict name). `tests/golden/cnn.json`
//! holds what PyTorch computed from that state (float32, CPU, one thread):
//!
//! - **one forward and backward** in train mode (batch statistics) on a batch of 5: the
//!   logits, the mean cross-entropy loss, every parameter's gradient by name and the input's;
//! - **three SGD steps** (lr 0.1, momentum 0.9) on their own batches: each step's loss, then
//!   every parameter and every buffer (running statistics; the counters, 7 + 3 = 10);
//! - **eval mode** after the steps: the outputs on a batch of 4 (running statistics).
//!
//! NanoTorch's checkpoint of the state after the steps goes to
//! `target/nanotorch_cnn_parity.safetensors`: its header must list exactly PyTorch's
//! state-dict names, shapes and dtypes, and `scripts/golden_cnn.py` (rerun after this test)
//! loads it into the torch twin with `load_state_dict(strict=True)` — the reverse direction.
//!
//! **Tolerance:** `|nanotorch − torch| ≤ 1e-5·|torch| + 1e-6` for every element
//! (`golden::RTOL`, `golden::ATOL`), for everything compared; the counters are compared
//! exactly. The errors are printed by
//! `cargo test --release --test parity_cnn -- --nocapture --test-threads=1`.

#[path = "common/golden.rs"]
mod golden;

use std::path::PathBuf;

use golden::{Errors, GoldenTensor, compare};
use nanotorch::checkpoint;
use nanotorch::prelude::*;
use nanotorch::{BufferMut, Module};
use serde_json::Value;

network! {
    /// The twin of the torch module in scripts/golden_cnn.py.
    #[derive(Clone)]
    pub struct Cnn {
        conv1: Conv2d<1, 4, 3, padding = 1>,
        bn1: BatchNorm2d<4>,
        pool: MaxPool2d<2>,
        conv2: Conv2d<4, 6, 3>,
        bn2: BatchNorm2d<6>,
        fc1: Linear<96, 16>,
        fc2: Linear<16, 10>,
    }
    fn forward(x: [B, 1, 12, 12]) -> [B, 10] {
        let h = pool(relu(bn1(conv1(x))));
        let h = flatten(relu(bn2(conv2(h))));
        fc2(relu(fc1(h)))
    }
}

type Input = Tensor<(Dyn, U1, U12, U12)>;

const GOLDEN: &str = include_str!("golden/cnn.json");

fn golden() -> Value {
    serde_json::from_str(GOLDEN).expect("golden file parses")
}

fn weights() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/torch_cnn_parity.safetensors")
}

/// Where this test leaves NanoTorch's checkpoint for the script's reverse check.
fn saved_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/nanotorch_cnn_parity.safetensors")
}

/// The twin's initial state, loaded by state-dict name into a NanoTorch `Cnn`.
fn loaded() -> Cnn {
    let mut net = Cnn::new(0);
    checkpoint::load(&mut net, weights()).expect("the twin's state dict fits Cnn exactly");
    net
}

fn input(v: &Value, what: &str) -> Input {
    GoldenTensor::parse(v, what)
        .expect("a tensor")
        .to_tensor(what)
}

fn labels(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("labels")
        .iter()
        .map(|l| l.as_u64().expect("a class index") as usize)
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
fn named(net: &mut Cnn, grad: bool) -> Vec<(String, GoldenTensor)> {
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

/// A buffer as the test sees it: float values, or a counter.
#[derive(Clone, Debug, PartialEq)]
enum Buffer {
    Values(GoldenTensor),
    Count(i64),
}

/// Every buffer by state-dict name, in visit order.
fn buffers(net: &mut Cnn) -> Vec<(String, Buffer)> {
    let mut out = Vec::new();
    net.visit_named_buffers("", &mut |name, dims, b| {
        let b = match b {
            BufferMut::Values(v) => Buffer::Values(GoldenTensor {
                shape: dims.to_vec(),
                data: v.to_vec(),
            }),
            BufferMut::Count(c) => {
                assert!(dims.is_empty(), "{name}: a counter is a scalar");
                Buffer::Count(*c)
            }
        };
        out.push((name.to_string(), b));
    });
    out
}

/// Compares NanoTorch's named tensors with PyTorch's `{name: tensor}` map: the same names,
/// every element within the tolerance.
fn compare_named(what: &str, got: &[(String, GoldenTensor)], want: &Value) -> Errors {
    let want = want.as_object().expect("a map of named tensors");
    let mut errors = Errors::default();
    let mut got_names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    got_names.sort_unstable();
    let mut want_names: Vec<&str> = want.keys().map(String::as_str).collect();
    want_names.sort_unstable();
    if got_names != want_names {
        errors.failures.push(format!(
            "{what}: NanoTorch's names {got_names:?}, PyTorch's {want_names:?}"
        ));
        return errors;
    }
    for (name, g) in got {
        let w = GoldenTensor::parse(&want[name], &format!("{what} {name}")).expect("a tensor");
        errors.merge(compare(&format!("{what} {name}"), g, &w));
    }
    errors
}

/// Compares the buffers with PyTorch's `{name: tensor | integer}` map: the same names, the
/// running statistics within the tolerance, the counters equal.
fn compare_buffers(what: &str, got: &[(String, Buffer)], want: &Value) -> Errors {
    let want = want.as_object().expect("a map of named buffers");
    let mut errors = Errors::default();
    let mut got_names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    got_names.sort_unstable();
    let mut want_names: Vec<&str> = want.keys().map(String::as_str).collect();
    want_names.sort_unstable();
    if got_names != want_names {
        errors.failures.push(format!(
            "{what}: NanoTorch's buffers {got_names:?}, PyTorch's {want_names:?}"
        ));
        return errors;
    }
    for (name, b) in got {
        match b {
            Buffer::Values(g) => {
                let w =
                    GoldenTensor::parse(&want[name], &format!("{what} {name}")).expect("a tensor");
                errors.merge(compare(&format!("{what} {name}"), g, &w));
            }
            Buffer::Count(c) => {
                let w = want[name].as_i64().expect("a counter");
                if *c != w {
                    errors
                        .failures
                        .push(format!("{what} {name}: NanoTorch {c}, PyTorch {w}"));
                }
            }
        }
    }
    errors
}

fn report(what: &str, e: &Errors) {
    println!(
        "{what:<34} {:>6} values  max rel {:>9.3e}  max abs {:>9.3e}  tol used {:>6.1}%  worst: {}",
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

/// The safetensors header of a checkpoint's bytes (read by hand: the 8-byte little-endian
/// length, then that much JSON), checking that the data offsets tile the rest of the file.
fn header(bytes: &[u8]) -> serde_json::Map<String, Value> {
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).expect("a JSON header");
    let mut header = header.as_object().expect("a JSON object").clone();
    assert_eq!(
        header.remove("__metadata__"),
        Some(serde_json::json!({"format": "pt"}))
    );
    let mut spans: Vec<(u64, u64)> = header
        .values()
        .map(|t| {
            let o = &t["data_offsets"];
            (o[0].as_u64().expect("start"), o[1].as_u64().expect("end"))
        })
        .collect();
    spans.sort_unstable();
    let mut end = 0;
    for (s, e) in spans {
        assert_eq!(s, end, "the tensors' data is contiguous");
        end = e;
    }
    assert_eq!(end as usize, bytes.len() - 8 - n, "the data fills the file");
    header
}

/// Checks a checkpoint's names, shapes and dtypes against PyTorch's state dict.
fn assert_state_dict_layout(what: &str, bytes: &[u8], doc: &Value) {
    let header = header(bytes);
    let mut got: Vec<&str> = header.keys().map(String::as_str).collect();
    got.sort_unstable();
    let mut want: Vec<&str> = doc["names"]
        .as_array()
        .expect("names")
        .iter()
        .map(|n| n.as_str().expect("a name"))
        .collect();
    want.sort_unstable();
    assert_eq!(got, want, "{what}: the state dict's names");
    for (name, t) in &header {
        let spec = &doc["state_dict"][name];
        assert_eq!(t["dtype"], spec["dtype"], "{what}: dtype of {name}");
        assert_eq!(t["shape"], spec["shape"], "{what}: shape of {name}");
    }
}

/// The loaded state replaced every one of NanoTorch's own tensors and counters, and saving it
/// back gives PyTorch's file byte for byte (same names, dtypes, shapes, values and metadata).
#[test]
fn pytorch_cnn_checkpoint_loads_every_parameter_and_buffer() {
    let doc = golden();
    let mut fresh = Cnn::new(0);
    let mut net = loaded();

    // Parameters in PyTorch's `named_parameters()` order; buffers by name.
    let names: Vec<String> = named(&mut net, false).into_iter().map(|(n, _)| n).collect();
    // PyTorch's state-dict order, without the buffers (those have no gradient).
    let grads = doc["grad"]["grads"].as_object().expect("grads");
    let torch_params: Vec<String> = doc["names"]
        .as_array()
        .expect("names")
        .iter()
        .map(|n| n.as_str().expect("a name").to_string())
        .filter(|n| grads.contains_key(n))
        .collect();
    assert_eq!(
        names, torch_params,
        "NanoTorch's and PyTorch's parameter order"
    );

    for ((name, a), (_, b)) in named(&mut fresh, false).iter().zip(&named(&mut net, false)) {
        assert_ne!(a.data, b.data, "{name} was not loaded");
    }
    for ((name, a), (_, b)) in buffers(&mut fresh).iter().zip(&buffers(&mut net)) {
        assert_ne!(a, b, "{name} was not loaded");
    }
    let start = doc["config"]["start_count"].as_i64().expect("start count");
    for (name, b) in buffers(&mut net) {
        if name.ends_with("num_batches_tracked") {
            assert_eq!(b, Buffer::Count(start), "{name}");
        }
    }

    let file = std::fs::read(weights()).expect("the golden checkpoint");
    let ours = checkpoint::to_bytes(&mut net).expect("a valid state dict");
    assert_state_dict_layout("NanoTorch's save of the loaded state", &ours, &doc);
    assert!(
        ours == file,
        "NanoTorch's save of PyTorch's state differs from PyTorch's file ({} vs {} bytes)",
        ours.len(),
        file.len()
    );
}

/// A PyTorch-written CNN checkpoint loads and reproduces torch's outputs in train mode: the
/// logits, the loss, every parameter gradient and the input gradient.
#[test]
fn a_pytorch_written_cnn_checkpoint_loads_and_reproduces_torchs_outputs() {
    let doc = golden();
    let case = &doc["grad"];
    let x = input(&case["input"], "input");
    let y = labels(&case["labels"]);
    let mut net = loaded();
    net.train();
    net.zero_grad();
    let logits = net.forward(&x).clone();
    let mut dy = Tensor::default();
    let loss = cross_entropy_into(&logits, &y, Reduction::Mean, &mut dy).expect("labels fit");
    let dx = net
        .backward_with_input(&dy)
        .expect("the loss gradient has the logits' sizes")
        .clone();

    println!("Cnn vs PyTorch, train mode (tolerance |a-b| <= 1e-5*|b| + 1e-6):");
    let mut failures = Vec::new();
    let want_logits = GoldenTensor::parse(&case["logits"], "logits").expect("logits");
    let want_dx = GoldenTensor::parse(&case["input_grad"], "input_grad").expect("input grad");
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
            "gradients (12 parameters)",
            compare_named("grad", &named(&mut net, true), &case["grads"]),
        ),
        (
            "input gradient",
            compare("input grad", &golden::record(&dx), &want_dx),
        ),
    ];
    for (what, e) in &checks {
        report(what, e);
        failures.extend(e.failures.iter().cloned());
    }
    // The train-mode forward moved the running statistics once.
    let start = doc["config"]["start_count"].as_i64().expect("start count");
    for (name, b) in buffers(&mut net) {
        if name.ends_with("num_batches_tracked") {
            assert_eq!(b, Buffer::Count(start + 1), "{name}");
        }
    }
    assert_clean(&failures);
}

/// The loaded network after the golden file's 3 SGD momentum steps, with the errors of each
/// step's loss appended to `failures`.
fn trained(doc: &Value, failures: &mut Vec<String>) -> Cnn {
    let sgd = &doc["config"]["sgd"];
    let mut opt = Sgd::new(sgd["lr"].as_f64().expect("lr"))
        .momentum(sgd["momentum"].as_f64().expect("momentum"));
    let mut net = loaded();
    net.train();
    let mut dy = Tensor::default();
    for (k, step) in doc["train"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .enumerate()
    {
        let x = input(&step["input"], "step input");
        let y = labels(&step["labels"]);
        net.zero_grad();
        let logits = net.forward(&x);
        let loss = cross_entropy_into(logits, &y, Reduction::Mean, &mut dy).expect("labels fit");
        net.backward(&dy)
            .expect("the loss gradient has the logits' sizes");
        opt.step(&mut net);
        let e = compare(
            &format!("step {k} loss"),
            &scalar(loss),
            &golden_scalar(&step["loss"], "loss"),
        );
        report(&format!("step {k} loss"), &e);
        failures.extend(e.failures);
    }
    net
}

/// Three SGD steps with momentum: each loss, then every parameter and every running
/// statistic (and the counters) must be PyTorch's; NanoTorch's checkpoint of that state has
/// PyTorch's state-dict names, shapes and dtypes and loads back exactly.
#[test]
fn three_sgd_momentum_steps_match_pytorch_parameters_and_running_statistics() {
    let doc = golden();
    let mut failures = Vec::new();
    println!("Cnn, 3 SGD momentum steps vs PyTorch (tolerance |a-b| <= 1e-5*|b| + 1e-6):");
    let mut net = trained(&doc, &mut failures);
    let e = compare_named(
        "after 3 steps",
        &named(&mut net, false),
        &doc["train"]["params"],
    );
    report("parameters after 3 steps", &e);
    failures.extend(e.failures);
    let e = compare_buffers(
        "after 3 steps",
        &buffers(&mut net),
        &doc["train"]["buffers"],
    );
    report("running statistics after 3 steps", &e);
    failures.extend(e.failures);
    assert_clean(&failures);

    // NanoTorch's checkpoint of this state: PyTorch's state dict, read back exactly.
    let path = saved_path();
    std::fs::create_dir_all(path.parent().expect("a directory")).expect("target/");
    checkpoint::save(&mut net, &path).expect("saved");
    let bytes = std::fs::read(&path).expect("read back");
    assert_state_dict_layout("NanoTorch's checkpoint after 3 steps", &bytes, &doc);
    let mut back = Cnn::new(1);
    checkpoint::load(&mut back, &path).expect("NanoTorch's own checkpoint loads");
    assert_eq!(named(&mut back, false), named(&mut net, false));
    assert_eq!(buffers(&mut back), buffers(&mut net));
}

/// After the steps, eval mode normalises with the running statistics: the outputs are
/// PyTorch's, and `predict` (running statistics in any mode, nothing updated) gives the
/// eval-mode forward exactly.
#[test]
fn eval_mode_after_the_steps_matches_pytorch_and_predict() {
    let doc = golden();
    let mut failures = Vec::new();
    let mut net = trained(&doc, &mut failures);
    let x = input(&doc["eval"]["input"], "eval input");
    // Still in train mode: predict uses the running statistics and leaves them alone.
    let state = buffers(&mut net);
    let predicted = net.predict(&x);
    assert_eq!(
        buffers(&mut net),
        state,
        "predict moved the running statistics"
    );

    net.eval();
    let y = net.forward(&x).clone();
    assert_eq!(
        buffers(&mut net),
        state,
        "an eval forward moved the running statistics"
    );
    let want = GoldenTensor::parse(&doc["eval"]["output"], "eval output").expect("output");
    let e = compare("eval output", &golden::record(&y), &want);
    report("eval output after 3 steps", &e);
    failures.extend(e.failures);
    assert_clean(&failures);
    assert_eq!(
        predicted, y,
        "predict (train mode) and the eval-mode forward"
    );
    assert_eq!(
        net.predict(&x),
        y,
        "predict (eval mode) and the eval-mode forward"
    );
}
