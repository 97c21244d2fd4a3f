//! Parity with `torch.nn.RNN`, `torch.nn.LSTM` and `torch.nn.GRU` (one layer, batch first, a
//! given initial state): the cells written in `network!` from `Linear`, `sigmoid`, `tanh`, `*`
//! and scanned over the sequence compute what PyTorch's fused layers compute — the outputs, the
//! final states, and the gradient of every weight, of the input and of the initial states.
//!
//! `scripts/golden_recurrent.py` wrote `tests/golden/recurrent.json` in float64. PyTorch stacks
//! the gates' weights in one matrix per side (`weight_ih_l0` `[G·H, I]`, gates in the order
//! LSTM i, f, g, o; GRU r, z, n); here each gate is a `Linear` of its own, loaded from its
//! block of rows, and its gradient is compared with the same block of PyTorch's.
//!
//! **Tolerance:** `|nanotorch − torch| ≤ 1e-10·(1 + |torch|)` for every element (float64).

use nanotorch::prelude::*;
use serde_json::Value;

const B: usize = 2;

network! {
    /// `torch.nn.RNN`'s cell: `h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`.
    pub struct RnnCell {
        ih: Linear<3, 4>,
        hh: Linear<4, 4>,
    }
    fn forward(x: [B, 3], h: [B, 4]) -> [B, 4] {
        tanh(ih(x) + hh(h))
    }
}

network! {
    /// The RNN over 5 steps: the sequence of states and the last one.
    pub struct Rnn {
        cell: RnnCell,
    }
    fn forward(x: [B, 5, 3], h0: [B, 4]) -> ([B, 5, 4], [B, 4]) {
        let (y, h) = scan(cell, x, h0);
        (y, h)
    }
}

network! {
    /// `torch.nn.LSTM`'s cell, one `Linear` per gate and side (PyTorch's order i, f, g, o).
    pub struct LstmCell {
        xi: Linear<3, 4>,
        xf: Linear<3, 4>,
        xg: Linear<3, 4>,
        xo: Linear<3, 4>,
        hi: Linear<4, 4>,
        hf: Linear<4, 4>,
        hg: Linear<4, 4>,
        ho: Linear<4, 4>,
    }
    fn forward(x: [B, 3], h: [B, 4], c: [B, 4]) -> ([B, 4], [B, 4]) {
        let i = sigmoid(xi(x) + hi(h));
        let f = sigmoid(xf(x) + hf(h));
        let g = tanh(xg(x) + hg(h));
        let o = sigmoid(xo(x) + ho(h));
        let c2 = f * c + i * g;
        (o * tanh(c2), c2)
    }
}

network! {
    /// The LSTM over 5 steps: the sequence of `h` and the last `(h, c)`.
    pub struct Lstm {
        cell: LstmCell,
    }
    fn forward(x: [B, 5, 3], h0: [B, 4], c0: [B, 4]) -> ([B, 5, 4], [B, 4], [B, 4]) {
        let (y, h, c) = scan(cell, x, h0, c0);
        (y, h, c)
    }
}

network! {
    /// `torch.nn.GRU`'s cell (order r, z, n; the reset gate multiplies `W_hn h + b_hn`).
    pub struct GruCell {
        xr: Linear<3, 4>,
        xz: Linear<3, 4>,
        xn: Linear<3, 4>,
        hr: Linear<4, 4>,
        hz: Linear<4, 4>,
        hn: Linear<4, 4>,
    }
    fn forward(x: [B, 3], h: [B, 4]) -> [B, 4] {
        let r = sigmoid(xr(x) + hr(h));
        let z = sigmoid(xz(x) + hz(h));
        let n = tanh(xn(x) + r * hn(h));
        n - z * n + z * h
    }
}

network! {
    /// The GRU over 5 steps.
    pub struct Gru {
        cell: GruCell,
    }
    fn forward(x: [B, 5, 3], h0: [B, 4]) -> ([B, 5, 4], [B, 4]) {
        let (y, h) = scan(cell, x, h0);
        (y, h)
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

fn tensor<S: Shape>(v: &Value) -> Tensor<S, f64> {
    let dims: Vec<usize> = v["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().expect("a size") as usize)
        .collect();
    Tensor::from_vec(&dims, data(v)).expect("the golden tensor has the declared shape")
}

/// The field of gate `k` on one side (`"ih"` for the input, `"hh"` for the state) in a cell
/// whose gates are named by `letters` (`["i", "f", "g", "o"]`; one unnamed gate for the RNN).
fn field(letters: &[&str], side: &str, k: usize) -> String {
    match letters {
        [""] => side.to_string(),
        _ => format!("{}{}", &side[..1].replace('i', "x"), letters[k]),
    }
}

/// Loads PyTorch's stacked parameters into the per-gate `Linear`s of `net`'s cell.
fn load<M: Module<f64>>(net: &mut M, params: &Value, letters: &[&str]) {
    let gates = letters.len();
    let mut loaded = 0;
    net.visit_named_params("", &mut |name, _, p| {
        for side in ["ih", "hh"] {
            for k in 0..gates {
                let f = field(letters, side, k);
                for (part, torch) in [("weight", "weight"), ("bias", "bias")] {
                    if name == format!("cell.{f}.{part}") {
                        let all = data(&params[format!("{torch}_{side}_l0")]);
                        let n = all.len() / gates;
                        p.value.copy_from_slice(&all[k * n..(k + 1) * n]);
                        loaded += 1;
                    }
                }
            }
        }
    });
    assert_eq!(
        loaded,
        4 * gates,
        "every gate's weight and bias, on both sides"
    );
}

/// The gradient of each of PyTorch's stacked parameters, assembled from the per-gate `Linear`s.
fn stacked_grads<M: Module<f64>>(net: &mut M, letters: &[&str]) -> Vec<(String, Vec<f64>)> {
    let mut by_name = std::collections::HashMap::new();
    net.visit_named_params("", &mut |name, _, p| {
        by_name.insert(name.to_string(), p.grad.to_vec());
    });
    let mut out = Vec::new();
    for side in ["ih", "hh"] {
        for part in ["weight", "bias"] {
            let mut all = Vec::new();
            for k in 0..letters.len() {
                all.extend(&by_name[&format!("cell.{}.{part}", field(letters, side, k))]);
            }
            out.push((format!("{part}_{side}_l0"), all));
        }
    }
    out
}

/// The errors above the tolerance, as lines.
fn compare(what: &str, got: &[f64], want: &[f64], failures: &mut Vec<String>) {
    assert_eq!(got.len(), want.len(), "{what}: sizes");
    let worst = got
        .iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs() / (1.0 + w.abs()))
        .fold(0.0f64, f64::max);
    println!("{what:<24} max relative error {worst:.2e}");
    if worst > 1e-10 {
        failures.push(format!("{what}: max relative error {worst:.2e}"));
    }
}

/// Compares the assembled parameter gradients and the named input gradients with PyTorch's.
fn compare_grads<M: Module<f64>>(
    kind: &str,
    net: &mut M,
    letters: &[&str],
    inputs: &[(&str, &[f64])],
    doc: &Value,
    failures: &mut Vec<String>,
) {
    for (name, grad) in stacked_grads(net, letters) {
        compare(
            &format!("{kind} ∂L/∂{name}"),
            &grad,
            &data(&doc["grads"][&name]),
            failures,
        );
    }
    for (name, grad) in inputs {
        compare(
            &format!("{kind} ∂L/∂{name}"),
            grad,
            &data(&doc["grads"][*name]),
            failures,
        );
    }
}

fn assert_clean(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "differences from PyTorch:\n{}",
        failures.join("\n")
    );
}

type Seq = Tensor<(Dyn, U5, U3), f64>;
type State = Tensor<(Dyn, U4), f64>;
type Out = Tensor<(Dyn, U5, U4), f64>;

#[test]
fn rnn_matches_torch_nn_rnn() {
    let doc = &golden()["rnn"];
    let letters = [""];
    let mut net = Rnn::<f64>::new(0);
    load(&mut net, &doc["params"], &letters);
    let (x, h0): (Seq, State) = (tensor(&doc["inputs"]["x"]), tensor(&doc["inputs"]["h0"]));
    let (gy, gh): (Out, State) = (tensor(&doc["inputs"]["gy"]), tensor(&doc["inputs"]["gh"]));
    let mut failures = Vec::new();
    let (y, h) = net.forward(&x, &h0).unwrap();
    compare(
        "rnn output",
        y.as_slice(),
        &data(&doc["outputs"]["y"]),
        &mut failures,
    );
    compare(
        "rnn h_n",
        h.as_slice(),
        &data(&doc["outputs"]["hn"]),
        &mut failures,
    );
    let (dx, dh0) = net.backward_with_input(&gy, &gh).unwrap();
    let (dx, dh0) = (dx.clone(), dh0.clone());
    compare_grads(
        "rnn",
        &mut net,
        &letters,
        &[("x", dx.as_slice()), ("h0", dh0.as_slice())],
        doc,
        &mut failures,
    );
    assert_eq!(x.dims(), [B, 5, 3]);
    assert_clean(&failures);
}

#[test]
fn lstm_matches_torch_nn_lstm() {
    let doc = &golden()["lstm"];
    let letters = ["i", "f", "g", "o"];
    let mut net = Lstm::<f64>::new(0);
    load(&mut net, &doc["params"], &letters);
    let x: Seq = tensor(&doc["inputs"]["x"]);
    let (h0, c0): (State, State) = (tensor(&doc["inputs"]["h0"]), tensor(&doc["inputs"]["c0"]));
    let gy: Out = tensor(&doc["inputs"]["gy"]);
    let (gh, gc): (State, State) = (tensor(&doc["inputs"]["gh"]), tensor(&doc["inputs"]["gc"]));
    let mut failures = Vec::new();
    let (y, h, c) = net.forward(&x, &h0, &c0).unwrap();
    compare(
        "lstm output",
        y.as_slice(),
        &data(&doc["outputs"]["y"]),
        &mut failures,
    );
    compare(
        "lstm h_n",
        h.as_slice(),
        &data(&doc["outputs"]["hn"]),
        &mut failures,
    );
    compare(
        "lstm c_n",
        c.as_slice(),
        &data(&doc["outputs"]["cn"]),
        &mut failures,
    );
    let (dx, dh0, dc0) = net.backward_with_input(&gy, &gh, &gc).unwrap();
    let (dx, dh0, dc0) = (dx.clone(), dh0.clone(), dc0.clone());
    let inputs = [
        ("x", dx.as_slice()),
        ("h0", dh0.as_slice()),
        ("c0", dc0.as_slice()),
    ];
    compare_grads("lstm", &mut net, &letters, &inputs, doc, &mut failures);
    assert_clean(&failures);
}

#[test]
fn gru_matches_torch_nn_gru() {
    let doc = &golden()["gru"];
    let letters = ["r", "z", "n"];
    let mut net = Gru::<f64>::new(0);
    load(&mut net, &doc["params"], &letters);
    let (x, h0): (Seq, State) = (tensor(&doc["inputs"]["x"]), tensor(&doc["inputs"]["h0"]));
    let (gy, gh): (Out, State) = (tensor(&doc["inputs"]["gy"]), tensor(&doc["inputs"]["gh"]));
    let mut failures = Vec::new();
    let (y, h) = net.forward(&x, &h0).unwrap();
    compare(
        "gru output",
        y.as_slice(),
        &data(&doc["outputs"]["y"]),
        &mut failures,
    );
    compare(
        "gru h_n",
        h.as_slice(),
        &data(&doc["outputs"]["hn"]),
        &mut failures,
    );
    let (dx, dh0) = net.backward_with_input(&gy, &gh).unwrap();
    let (dx, dh0) = (dx.clone(), dh0.clone());
    compare_grads(
        "gru",
        &mut net,
        &letters,
        &[("x", dx.as_slice()), ("h0", dh0.as_slice())],
        doc,
        &mut failures,
    );
    assert_clean(&failures);
}
