//! PyTorch interop for a CNN with BatchNorm: the state dict PyTorch saved after 3 training
//! steps — parameters and buffers (`running_mean`, `running_var`, the int64
//! `num_batches_tracked`) — loads into a `network!` twin by state-dict name and reproduces
//! PyTorch's outputs in eval mode (running statistics) and in train mode (batch statistics);
//! NanoTorch's own save round-trips, buffers included; and training from that state (loss, every
//! parameter gradient, the input gradient, 3 SGD steps with momentum, the running statistics
//! after them) matches PyTorch.
//!
//! Golden files: `scripts/make_torch_cnn_checkpoint.py` (see its docstring; it also checks the
//! reverse direction, the file this test saves, loaded into torch with `strict=True`).

use nanotorch::checkpoint::{self, CheckpointError, Problem};
use nanotorch::prelude::*;
use nanotorch::{BufferMut, Module};

network! {
    /// The twin of the torch module in scripts/make_torch_cnn_checkpoint.py.
    pub struct Cnn {
        conv1: Conv2d<1, 4, 3, padding = 1>,
        bn1: BatchNorm2d<4>,
        pool: MaxPool2d<2>,
        conv2: Conv2d<4, 6, 3>,
        bn2: BatchNorm2d<6>,
        fc: Linear<24, 5>,
    }
    fn forward(x: [B, 1, 8, 8]) -> [B, 5] {
        let h = pool(relu(bn1(conv1(x))));
        fc(flatten(relu(bn2(conv2(h)))))
    }
}

fn golden(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn outputs() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(golden("torch_cnn_outputs.json")).unwrap())
        .unwrap()
}

fn input(json: &serde_json::Value) -> Tensor<(Dyn, U1, U8, U8)> {
    let dims: Vec<usize> = json["input_shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    Tensor::from_vec(&dims, floats(&json["input"])).unwrap()
}

fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 * w.abs().max(1.0),
            "{what}[{k}]: NanoTorch {g}, PyTorch {w}"
        );
    }
}

/// The model's buffers as `(name, values)`, the counter as one float.
fn buffers(net: &mut Cnn) -> Vec<(String, Vec<f64>)> {
    let mut out = Vec::new();
    net.visit_named_buffers("", &mut |name, _, b| {
        let values = match b {
            BufferMut::Values(v) => v.iter().map(|&x| f64::from(x)).collect(),
            BufferMut::Count(c) => vec![*c as f64],
        };
        out.push((name.to_string(), values));
    });
    out
}

#[test]
fn torch_cnn_state_dict_loads_with_its_buffers_and_reproduces_torch() {
    let json = outputs();
    let x = input(&json);
    let mut net = Cnn::<f32>::new(0);
    checkpoint::load(&mut net, golden("torch_cnn.safetensors")).unwrap();

    let counters: Vec<f64> = buffers(&mut net)
        .into_iter()
        .filter(|(n, _)| n.ends_with("num_batches_tracked"))
        .map(|(_, v)| v[0])
        .collect();
    assert_eq!(counters, [3.0, 3.0], "PyTorch trained 3 steps");

    net.eval();
    assert_close(
        "eval output",
        net.forward(&x).as_slice(),
        &floats(&json["eval_output"]),
    );
    assert_close(
        "predict",
        net.predict(&x).as_slice(),
        &floats(&json["eval_output"]),
    );
    net.train();
    assert_close(
        "train output",
        net.forward(&x).as_slice(),
        &floats(&json["train_output"]),
    );

    // NanoTorch's file of the loaded model (before the train-mode forward moved the running
    // statistics), for the script's reverse check.
    let mut fresh = Cnn::<f32>::new(1);
    checkpoint::load(&mut fresh, golden("torch_cnn.safetensors")).unwrap();
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&target).unwrap();
    checkpoint::save(&mut fresh, target.join("nanotorch_cnn.safetensors")).unwrap();
}

#[test]
fn buffers_round_trip_and_are_checked() {
    let mut net = Cnn::<f32>::new(3);
    let x: Tensor<(Dyn, U1, U8, U8)> = Tensor::rand_uniform(
        (Dyn(5), U1::default(), U8::default(), U8::default()),
        -1.0,
        2.0,
        &mut seeded_rng(4),
    );
    for _ in 0..4 {
        net.forward(&x);
    }
    let bytes = checkpoint::to_bytes(&mut net).unwrap();
    let mut back = Cnn::<f32>::new(9);
    checkpoint::from_bytes(&mut back, &bytes, Default::default()).unwrap();
    assert_eq!(
        buffers(&mut back),
        buffers(&mut net),
        "running statistics and counters"
    );
    assert!(
        buffers(&mut back)
            .iter()
            .any(|(n, v)| n == "bn2.num_batches_tracked" && v[0] == 4.0)
    );
    back.eval();
    net.eval();
    assert_eq!(back.predict(&x), net.predict(&x));

    // A file without the buffers (e.g. parameters only) is a mismatch naming each one.
    let params_only = checkpoint::to_bytes(&mut Params(&mut net)).unwrap();
    let err = checkpoint::from_bytes(&mut back, &params_only, Default::default()).unwrap_err();
    let CheckpointError::Mismatch { problems, .. } = err else {
        panic!("expected a mismatch, got {err}");
    };
    let missing: Vec<&str> = problems
        .iter()
        .filter_map(|p| match p {
            Problem::Missing { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        missing,
        [
            "bn1.running_mean",
            "bn1.running_var",
            "bn1.num_batches_tracked",
            "bn2.running_mean",
            "bn2.running_var",
            "bn2.num_batches_tracked",
        ]
    );
}

/// A view of a model's parameters only (no buffers).
struct Params<'a>(&'a mut Cnn);

impl Module<f32> for Params<'_> {
    fn visit_params(&mut self, f: &mut dyn FnMut(nanotorch::ParamMut<'_, f32>)) {
        self.0.visit_params(f);
    }
    fn visit_named_params(
        &mut self,
        prefix: &str,
        f: &mut dyn FnMut(&str, &[usize], nanotorch::ParamMut<'_, f32>),
    ) {
        self.0.visit_named_params(prefix, f);
    }
    fn set_training(&mut self, training: bool) {
        self.0.set_training(training);
    }
}

/// Training parity from PyTorch's state: the loss, every parameter gradient (by state-dict
/// name), the input gradient, then 3 SGD steps with momentum, after which every parameter and
/// every running statistic (and the counters) must be PyTorch's.
#[test]
fn training_from_torch_state_matches_torch() {
    let json = outputs();
    let x = input(&json);
    let mut net = Cnn::<f32>::new(0);
    checkpoint::load(&mut net, golden("torch_cnn.safetensors")).unwrap();
    net.train();
    let labels: Vec<usize> = json["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_u64().unwrap() as usize)
        .collect();
    let mut d_logits = Tensor::default();
    let logits = net.forward(&x);
    let loss = cross_entropy_into(logits, &labels, Reduction::Mean, &mut d_logits).unwrap();
    assert_close("loss", &[loss], &[json["loss"].as_f64().unwrap() as f32]);
    net.zero_grad();
    let dx = net.backward_with_input(&d_logits).unwrap().clone();
    assert_close(
        "input gradient",
        dx.as_slice(),
        &floats(&json["input_grad"]),
    );
    let mut compared = 0;
    net.visit_named_params("", &mut |name, _, p| {
        assert_close(
            &format!("∂L/∂{name}"),
            p.grad,
            &floats(&json["grads"][name]),
        );
        compared += 1;
    });
    assert_eq!(compared, 10, "every parameter gradient");

    let mut opt = Sgd::new(0.05).momentum(0.9);
    for (k, step) in json["steps"].as_array().unwrap().iter().enumerate() {
        let xb =
            Tensor::<(Dyn, U1, U8, U8)>::from_vec(&[5, 1, 8, 8], floats(&step["input"])).unwrap();
        let yb: Vec<usize> = step["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_u64().unwrap() as usize)
            .collect();
        net.zero_grad();
        let logits = net.forward(&xb);
        let loss = cross_entropy_into(logits, &yb, Reduction::Mean, &mut d_logits).unwrap();
        assert_close(
            &format!("step {k} loss"),
            &[loss],
            &[step["loss"].as_f64().unwrap() as f32],
        );
        net.backward(&d_logits).unwrap();
        opt.step(&mut net);
    }
    let after = &json["after_steps"];
    let mut state = 0;
    net.visit_named_params("", &mut |name, _, p| {
        assert_close(
            &format!("{name} after 3 steps"),
            p.value,
            &floats(&after[name]),
        );
        state += 1;
    });
    for (name, values) in buffers(&mut net) {
        let want: Vec<f32> = floats(&after[name.as_str()]);
        let got: Vec<f32> = values.iter().map(|&v| v as f32).collect();
        assert_close(&format!("{name} after 3 steps"), &got, &want);
        state += 1;
    }
    assert_eq!(
        state, 16,
        "the whole state dict: 10 parameters and 6 buffers"
    );
}
