#!/usr/bin/env python3
"""Generates tests/golden/recurrent.json: what torch.nn.RNN, LSTM and GRU compute, for
tests/parity_recurrent.rs (the same cells written in `network!` and scanned, and the built-in
layers `Rnn`, `Lstm`, `Gru`), and what torch.nn.RNNCell, LSTMCell and GRUCell compute for one
step, for the built-in cells.

Setup (once, from the repository root):

    python3 -m venv .venv && .venv/bin/pip install torch numpy safetensors

Run (from the repository root; rewrites the committed files, this and
tests/golden/torch_{rnn,lstm,gru}.safetensors):

    .venv/bin/python scripts/golden_recurrent.py

Each layer is one layer, batch_first, input size 3, hidden size 4, over a batch of 2
sequences of 5 steps, with a given initial state (h0, and c0 for the LSTM), in float64. The
loss is L = Σ gy ⊙ output + Σ gh ⊙ h_n (+ Σ gc ⊙ c_n for the LSTM) with fixed random gy, gh,
gc, so every output, the final state(s) included, sends a gradient back. Recorded: the
parameters by state-dict name (weight_ih_l0 [G·H, I], weight_hh_l0 [G·H, H], bias_ih_l0,
bias_hh_l0; gates stacked in PyTorch's order: LSTM i, f, g, o; GRU r, z, n), the inputs,
gy/gh/gc, the outputs and final states, and the gradient of every parameter, of the input
and of the initial state(s).

"steps" (per layer): from the same parameters, three Adam steps (lr 0.01, PyTorch's other
defaults) on that loss, each step's loss and the parameters after the third.

"cells" (per cell): one step of batch 2 from a given state, loss Σ gh ⊙ h' (+ Σ gc ⊙ c'); the
parameters (names weight_ih, weight_hh, bias_ih, bias_hh), the new state(s), and the gradients
of every parameter, of x and of the state(s).
"""

import json
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "golden", "recurrent.json")
B, T, I, H = 2, 5, 3, 4


def tensor(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1).tolist()]}


def case(kind, seed):
    torch.manual_seed(seed)
    layer = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](
        I, H, batch_first=True
    ).double()
    x = torch.randn(B, T, I, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(1, B, H, dtype=torch.float64, requires_grad=True)
    gy = torch.randn(B, T, H, dtype=torch.float64)
    gh = torch.randn(1, B, H, dtype=torch.float64)
    inputs = {"x": tensor(x), "h0": tensor(h0[0]), "gy": tensor(gy), "gh": tensor(gh[0])}
    if kind == "lstm":
        c0 = torch.randn(1, B, H, dtype=torch.float64, requires_grad=True)
        gc = torch.randn(1, B, H, dtype=torch.float64)
        y, (hn, cn) = layer(x, (h0, c0))
        loss = (gy * y).sum() + (gh * hn).sum() + (gc * cn).sum()
        inputs.update({"c0": tensor(c0[0]), "gc": tensor(gc[0])})
        outputs = {"y": tensor(y), "hn": tensor(hn[0]), "cn": tensor(cn[0])}
    else:
        y, hn = layer(x, h0)
        loss = (gy * y).sum() + (gh * hn).sum()
        outputs = {"y": tensor(y), "hn": tensor(hn[0])}
    params = {name: tensor(p) for name, p in layer.named_parameters()}
    loss.backward()
    grads = {name: tensor(p.grad) for name, p in layer.named_parameters()}
    grads["x"] = tensor(x.grad)
    grads["h0"] = tensor(h0.grad[0])
    if kind == "lstm":
        grads["c0"] = tensor(c0.grad[0])
    return {"params": params, "inputs": inputs, "outputs": outputs, "loss": loss.item(), "grads": grads}


def forward_loss(kind, layer, x, h0, c0, gy, gh, gc):
    if kind == "lstm":
        y, (hn, cn) = layer(x, (h0, c0))
        return (gy * y).sum() + (gh * hn).sum() + (gc * cn).sum()
    y, hn = layer(x, h0)
    return (gy * y).sum() + (gh * hn).sum()


def steps(kind, seed):
    """Three Adam steps from the parameters of `case(kind, seed)`, on the same inputs."""
    torch.manual_seed(seed)
    layer = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](
        I, H, batch_first=True
    ).double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0 = torch.randn(1, B, H, dtype=torch.float64)
    gy = torch.randn(B, T, H, dtype=torch.float64)
    gh = torch.randn(1, B, H, dtype=torch.float64)
    c0 = gc = None
    if kind == "lstm":
        c0 = torch.randn(1, B, H, dtype=torch.float64)
        gc = torch.randn(1, B, H, dtype=torch.float64)
    opt = torch.optim.Adam(layer.parameters(), lr=0.01)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = forward_loss(kind, layer, x, h0, c0, gy, gh, gc)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return {"losses": losses, "params": {name: tensor(p) for name, p in layer.named_parameters()}}


def cell(kind, seed):
    torch.manual_seed(seed)
    module = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}[kind](I, H).double()
    x = torch.randn(B, I, dtype=torch.float64, requires_grad=True)
    h = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
    gh = torch.randn(B, H, dtype=torch.float64)
    inputs = {"x": tensor(x), "h": tensor(h), "gh": tensor(gh)}
    params = {name: tensor(p) for name, p in module.named_parameters()}
    if kind == "lstm":
        c = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
        gc = torch.randn(B, H, dtype=torch.float64)
        h1, c1 = module(x, (h, c))
        loss = (gh * h1).sum() + (gc * c1).sum()
        inputs.update({"c": tensor(c), "gc": tensor(gc)})
        outputs = {"h": tensor(h1), "c": tensor(c1)}
    else:
        h1 = module(x, h)
        loss = (gh * h1).sum()
        outputs = {"h": tensor(h1)}
    loss.backward()
    grads = {name: tensor(p.grad) for name, p in module.named_parameters()}
    grads["x"] = tensor(x.grad)
    grads["h"] = tensor(h.grad)
    if kind == "lstm":
        grads["c"] = tensor(c.grad)
    return {"params": params, "inputs": inputs, "outputs": outputs, "grads": grads}


def checkpoint(kind, seed):
    """tests/golden/torch_<kind>.safetensors: the state dict of a module holding the layer of
    the `kind` case under the name `kind` (so `lstm.weight_ih_l0`, …), as safetensors.torch
    writes it with the metadata NanoTorch writes; tests/parity_recurrent.rs loads it by name
    and checks that NanoTorch's save of it is this file byte for byte."""
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    holder = torch.nn.Module()
    layer = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    setattr(holder, kind, layer(I, H, batch_first=True).double())
    state = {k: v.detach().contiguous() for k, v in holder.state_dict().items()}
    path = os.path.join(HERE, "..", "tests", "golden", f"torch_{kind}.safetensors")
    save_file(state, path, metadata={"format": "pt"})


def main():
    seeds = {"rnn": 1, "lstm": 2, "gru": 3}
    for kind, seed in seeds.items():
        checkpoint(kind, seed)
    doc = {"torch": torch.__version__}
    doc.update({kind: case(kind, seed) for kind, seed in seeds.items()})
    doc["steps"] = {kind: steps(kind, seed) for kind, seed in seeds.items()}
    doc["cells"] = {kind: cell(kind, seed + 10) for kind, seed in seeds.items()}
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
