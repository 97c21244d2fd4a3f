//! Parity of the built-in recurrent layers `Rnn`, `Lstm`, `Gru` and cells `RnnCell`,
//! `LstmCell`, `GruCell` with `torch.nn.RNN/LSTM/GRU` and `torch.nn.RNNCell/LSTMCell/GRUCell`:
//! parameters loaded by PyTorch's state-dict names and layouts; the outputs and final states;
//! the gradient of every parameter, of the input and of the initial state(s); three Adam steps;
//! and checkpoints both ways (PyTorch's file loads by name, NanoTorch's save of it is that file
//! byte for byte).
//!
//! `scripts/golden_recurrent.py` wrote `tests/golden/recurrent.json` and
//! `tests/golden/torch_{rnn,lstm,gru}.safetensors` in float64.
//!
//! **Tolerance:** `|nanotorch − torch| ≤ 1e-10·(1 + |torch|)` for every element (float64).

use nanotorch::optim::{Adam, Optimizer};
use nanotorch::prelude::*;
use serde_json::Value;

network! {
    /// `torch.nn.RNN(3, 4, batch_first=True)` as a field named as PyTorch's module is.
    pub struct RnnLayer { rnn: Rnn<3, 4> }
    fn forward(x: [B, 5, 3], h0: [B, 4]) -> ([B, 5, 4], [B, 4]) {
        let (y, h) = rnn(x, h0);
        (y, h)
    }
}

network! {
    /// `torch.nn.GRU(3, 4, batch_first=True)`.
    pub struct GruLayer { gru: Gru<3, 4> }
    fn forward(x: [B, 5, 3], h0: [B, 4]) -> ([B, 5, 4], [B, 4]) {
        let (y, h) = gru(x, h0);
        (y, h)
    }
}

network! {
    /// `torch.nn.LSTM(3, 4, batch_first=True)`.
    pub struct LstmLayer { lstm: Lstm<3, 4> }
    fn forward(x: [B, 5, 3], h0: [B, 4], c0: [B, 4]) -> ([B, 5, 4], [B, 4], [B, 4]) {
        let (y, h, c) = lstm(x, h0, c0);
        (y, h, c)
    }
}

network! {
    /// `torch.nn.RNNCell(3, 4)`: one step.
    pub struct RnnStep { rnn: RnnCell<3, 4> }
    fn forward(x: [B, 3], h: [B, 4]) -> [B, 4] {
        rnn(x, h)
    }
}

network! {
    /// `torch.nn.GRUCell(3, 4)`.
    pub struct GruStep { gru: GruCell<3, 4> }
    fn forward(x: [B, 3], h: [B, 4]) -> [B, 4] {
        gru(x, h)
    }
}

network! {
    /// `torch.nn.LSTMCell(3, 4)`.
    pub struct LstmStep { lstm: LstmCell<3, 4> }
    fn forward(x: [B, 3], h: [B, 4], c: [B, 4]) -> ([B, 4], [B, 4]) {
        let (h1, c1) = lstm(x, h, c);
        (h1, c1)
    }
}

fn golden() -> Value {
    serde_json::from_str(include_str!("golden/recurrent.json")).expect("the golden file parses")
}

fn data(v: &Value) -> Vec<f64> {
    v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect()
}

fn dims(v: &Value) -> Vec<usize> {
    v["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().expect("a size") as usize)
        .collect()
}

fn tensor<S: Shape>(v: &Value) -> Tensor<S, f64> {
    Tensor::from_vec(&dims(v), data(v)).expect("the golden tensor has the declared shape")
}

/// Differences above the tolerance, collected so one run reports all of them.
#[derive(Default)]
struct Report(Vec<String>);

impl Report {
    fn compare(&mut self, what: &str, got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{what}: sizes");
        let worst = got
            .iter()
            .zip(want)
            .map(|(g, w)| (g - w).abs() / (1.0 + w.abs()))
            .fold(0.0f64, f64::max);
        println!("{what:<32} max relative error {worst:.2e}");
        if worst > 1e-10 {
            self.0
                .push(format!("{what}: max relative error {worst:.2e}"));
        }
    }

    fn assert_clean(self) {
        assert!(
            self.0.is_empty(),
            "differences from PyTorch:\n{}",
            self.0.join("\n")
        );
    }
}

/// Loads PyTorch's parameters into `net` by state-dict name (after the field's `prefix`),
/// checking PyTorch's names, order and layouts.
fn load<M: Module<f64>>(net: &mut M, prefix: &str, params: &Value, names: [&str; 4]) {
    let mut seen = Vec::new();
    net.visit_named_params("", &mut |name, shape, p| {
        let torch = name.strip_prefix(prefix).expect("the layer's parameters");
        assert_eq!(shape, dims(&params[torch]), "{name}: PyTorch's layout");
        p.value.copy_from_slice(&data(&params[torch]));
        seen.push(torch.to_string());
    });
    assert_eq!(seen, names, "PyTorch's names, in PyTorch's order");
}

/// Compares every parameter's gradient with PyTorch's, by name.
fn compare_param_grads<M: Module<f64>>(
    report: &mut Report,
    what: &str,
    net: &mut M,
    prefix: &str,
    doc: &Value,
) {
    net.visit_named_params("", &mut |name, _, p| {
        let torch = name.strip_prefix(prefix).unwrap();
        let want = data(&doc["grads"][torch]);
        report.compare(&format!("{what} ∂L/∂{torch}"), p.grad, &want);
    });
}

const LAYER: [&str; 4] = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"];
const CELL: [&str; 4] = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"];

type Seq = Tensor<(Dyn, U5, U3), f64>;
type Out = Tensor<(Dyn, U5, U4), f64>;
type State = Tensor<(Dyn, U4), f64>;
type Step = Tensor<(Dyn, U3), f64>;

fn dot<S: Shape>(a: &Tensor<S, f64>, b: &Tensor<S, f64>) -> f64 {
    a.as_slice()
        .iter()
        .zip(b.as_slice())
        .map(|(x, y)| x * y)
        .sum()
}

/// One layer's parity: values, gradients, three Adam steps. `run(net, doc)` does a forward
/// and a backward with the input gradients, and returns the named
/// outputs and input gradients (`d…`), and the loss `Σ gy ⊙ y + Σ gh ⊙ h_n (+ Σ gc ⊙ c_n)`.
fn layer_parity<M: Module<f64>>(
    kind: &str,
    new: impl Fn() -> M,
    run: impl Fn(&mut M, &Value) -> (Vec<(&'static str, Vec<f64>)>, f64),
) {
    let (doc, steps) = (&golden()[kind], &golden()["steps"][kind]);
    let prefix = format!("{kind}.");
    let mut report = Report::default();
    let mut net = new();
    load(&mut net, &prefix, &doc["params"], LAYER);
    let (values, _) = run(&mut net, doc);
    for (name, got) in &values {
        let want = match name.strip_prefix('d') {
            Some(input) => &doc["grads"][input],
            None => &doc["outputs"][*name],
        };
        report.compare(&format!("{kind} {name}"), got, &data(want));
    }
    compare_param_grads(&mut report, kind, &mut net, &prefix, doc);
    // Three Adam steps from the same parameters: each step's loss, then the parameters.
    let mut net = new();
    load(&mut net, &prefix, &doc["params"], LAYER);
    let mut opt = Adam::new().with_lr(0.01);
    let mut losses = Vec::new();
    for _ in 0..3 {
        net.zero_grad();
        losses.push(run(&mut net, doc).1);
        opt.step(&mut net);
    }
    let want: Vec<f64> = steps["losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    report.compare(&format!("{kind} Adam losses"), &losses, &want);
    net.visit_named_params("", &mut |name, _, p| {
        let torch = name.strip_prefix(&prefix).unwrap();
        let want = data(&steps["params"][torch]);
        report.compare(&format!("{kind} after 3 steps {torch}"), p.value, &want);
    });
    report.assert_clean();
}

/// The run of a one-state layer network (`RnnLayer`, `GruLayer`) for [`layer_parity`].
macro_rules! one_state_run {
    () => {
        |n, doc| {
            let i = &doc["inputs"];
            let (x, h0): (Seq, State) = (tensor(&i["x"]), tensor(&i["h0"]));
            let (gy, gh): (Out, State) = (tensor(&i["gy"]), tensor(&i["gh"]));
            let (y, h) = n.forward(&x, &h0).unwrap();
            let (y, h) = (y.clone(), h.clone());
            assert_eq!(
                n.predict(&x, &h0).unwrap(),
                (y.clone(), h.clone()),
                "predict is forward"
            );
            let loss = dot(&gy, &y) + dot(&gh, &h);
            let (dx, dh0) = n.backward_with_input(&gy, &gh).unwrap();
            let named = vec![
                ("y", y.as_slice().to_vec()),
                ("hn", h.as_slice().to_vec()),
                ("dx", dx.as_slice().to_vec()),
                ("dh0", dh0.as_slice().to_vec()),
            ];
            (named, loss)
        }
    };
}

#[test]
fn rnn_matches_torch_nn_rnn() {
    layer_parity("rnn", || RnnLayer::<f64>::new(0), one_state_run!());
}

#[test]
fn gru_matches_torch_nn_gru() {
    layer_parity("gru", || GruLayer::<f64>::new(0), one_state_run!());
}

#[test]
fn lstm_matches_torch_nn_lstm() {
    layer_parity(
        "lstm",
        || LstmLayer::<f64>::new(0),
        |n, doc| {
            let i = &doc["inputs"];
            let (x, h0, c0): (Seq, State, State) =
                (tensor(&i["x"]), tensor(&i["h0"]), tensor(&i["c0"]));
            let (gy, gh, gc): (Out, State, State) =
                (tensor(&i["gy"]), tensor(&i["gh"]), tensor(&i["gc"]));
            let (y, h, c) = n.forward(&x, &h0, &c0).unwrap();
            let (y, h, c) = (y.clone(), h.clone(), c.clone());
            let predicted = n.predict(&x, &h0, &c0).unwrap();
            assert_eq!(
                predicted,
                (y.clone(), h.clone(), c.clone()),
                "predict is forward"
            );
            let loss = dot(&gy, &y) + dot(&gh, &h) + dot(&gc, &c);
            let (dx, dh0, dc0) = n.backward_with_input(&gy, &gh, &gc).unwrap();
            let named = vec![
                ("y", y.as_slice().to_vec()),
                ("hn", h.as_slice().to_vec()),
                ("cn", c.as_slice().to_vec()),
                ("dx", dx.as_slice().to_vec()),
                ("dh0", dh0.as_slice().to_vec()),
                ("dc0", dc0.as_slice().to_vec()),
            ];
            (named, loss)
        },
    );
}

/// One cell's parity: one step's new state(s), and every gradient.
fn cell_parity<M: Module<f64>>(
    kind: &str,
    mut net: M,
    run: impl Fn(&mut M, &Value) -> Vec<(&'static str, Vec<f64>)>,
) {
    let doc = &golden()["cells"][kind];
    let prefix = format!("{kind}.");
    let mut report = Report::default();
    load(&mut net, &prefix, &doc["params"], CELL);
    for (name, got) in run(&mut net, &doc["inputs"]) {
        let want = match name.strip_prefix('d') {
            Some(input) => &doc["grads"][input],
            None => &doc["outputs"][name],
        };
        report.compare(&format!("{kind} cell {name}"), &got, &data(want));
    }
    compare_param_grads(&mut report, &format!("{kind} cell"), &mut net, &prefix, doc);
    report.assert_clean();
}

#[test]
fn cells_match_torch_cells() {
    let one_state = |n: &mut dyn FnMut(&Step, &State, &State) -> (Vec<f64>, Vec<f64>, Vec<f64>),
                     i: &Value| {
        let (x, h, gh): (Step, State, State) = (tensor(&i["x"]), tensor(&i["h"]), tensor(&i["gh"]));
        let (h1, dx, dh) = n(&x, &h, &gh);
        vec![("h", h1), ("dx", dx), ("dh", dh)]
    };
    cell_parity("rnn", RnnStep::<f64>::new(0), |n, i| {
        one_state(
            &mut |x, h, gh| {
                let h1 = n.forward(x, h).unwrap().clone();
                let (dx, dh) = n.backward_with_input(gh).unwrap();
                (
                    h1.as_slice().to_vec(),
                    dx.as_slice().to_vec(),
                    dh.as_slice().to_vec(),
                )
            },
            i,
        )
    });
    cell_parity("gru", GruStep::<f64>::new(0), |n, i| {
        one_state(
            &mut |x, h, gh| {
                let h1 = n.forward(x, h).unwrap().clone();
                let (dx, dh) = n.backward_with_input(gh).unwrap();
                (
                    h1.as_slice().to_vec(),
                    dx.as_slice().to_vec(),
                    dh.as_slice().to_vec(),
                )
            },
            i,
        )
    });
    cell_parity("lstm", LstmStep::<f64>::new(0), |n, i| {
        let (x, h, c): (Step, State, State) = (tensor(&i["x"]), tensor(&i["h"]), tensor(&i["c"]));
        let (gh, gc): (State, State) = (tensor(&i["gh"]), tensor(&i["gc"]));
        let (h1, c1) = n.forward(&x, &h, &c).unwrap();
        let (h1, c1) = (h1.as_slice().to_vec(), c1.as_slice().to_vec());
        let (dx, dh, dc) = n.backward_with_input(&gh, &gc).unwrap();
        vec![
            ("h", h1),
            ("c", c1),
            ("dx", dx.as_slice().to_vec()),
            ("dh", dh.as_slice().to_vec()),
            ("dc", dc.as_slice().to_vec()),
        ]
    });
}

/// Checkpoints both ways, for each layer: PyTorch's file of a module holding the layer under
/// its kind's name loads into the network by state-dict name (then computes PyTorch's
/// outputs), and NanoTorch's save of it is that file byte for byte.
#[test]
fn checkpoints_both_ways() {
    fn both_ways<M: Module<f64>>(kind: &str, net: &mut M, first_output: impl Fn(&M) -> Vec<f64>) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/golden/torch_{kind}.safetensors"));
        nanotorch::checkpoint::load(net, &path).expect("PyTorch's state dict fits exactly");
        let mut report = Report::default();
        let want = data(&golden()[kind]["outputs"]["y"]);
        report.compare(&format!("loaded {kind} output"), &first_output(net), &want);
        report.assert_clean();
        let saved = nanotorch::checkpoint::to_bytes(net).expect("a model encodes");
        assert!(
            saved == std::fs::read(&path).unwrap(),
            "{kind}: NanoTorch's save differs from PyTorch's file"
        );
    }
    let i = &golden()["lstm"]["inputs"];
    let (x, h0, c0): (Seq, State, State) = (tensor(&i["x"]), tensor(&i["h0"]), tensor(&i["c0"]));
    both_ways("lstm", &mut LstmLayer::<f64>::new(0), |n| {
        n.predict(&x, &h0, &c0).unwrap().0.as_slice().to_vec()
    });
    for kind in ["rnn", "gru"] {
        let i = &golden()[kind]["inputs"];
        let (x, h0): (Seq, State) = (tensor(&i["x"]), tensor(&i["h0"]));
        if kind == "rnn" {
            both_ways(kind, &mut RnnLayer::<f64>::new(0), |n| {
                n.predict(&x, &h0).unwrap().0.as_slice().to_vec()
            });
        } else {
            both_ways(kind, &mut GruLayer::<f64>::new(0), |n| {
                n.predict(&x, &h0).unwrap().0.as_slice().to_vec()
            });
        }
    }
}
