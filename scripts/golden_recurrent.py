#!/usr/bin/env python3
"""Generates tests/golden/recurrent.json: what torch.nn.RNN, LSTM and GRU compute, for
tests/parity_recurrent.rs, which runs the same cells written in `network!` and scanned.

Setup (once, from the repository root):

    python3 -m venv .venv && .venv/bin/pip install torch numpy safetensors

Run (from the repository root; rewrites the committed files, this and
tests/golden/torch_lstm.safetensors):

    .venv/bin/python scripts/golden_recurrent.py

Each layer is one layer, batch_first, input size 3, hidden size 4, over a batch of 2
sequences of 5 steps, with a given initial state (h0, and c0 for the LSTM), in float64. The
loss is L = Σ gy ⊙ output + Σ gh ⊙ h_n (+ Σ gc ⊙ c_n for the LSTM) with fixed random gy, gh,
gc, so every output, the final state(s) included, sends a gradient back. Recorded: the
parameters by state-dict name (weight_ih_l0 [G·H, I], weight_hh_l0 [G·H, H], bias_ih_l0,
bias_hh_l0; gates stacked in PyTorch's order: LSTM i, f, g, o; GRU r, z, n), the inputs,
gy/gh/gc, the outputs and final states, and the gradient of every parameter, of the input
and of the initial state(s).
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


def lstm_checkpoint():
    """tests/golden/torch_lstm.safetensors: the state dict of a module holding the LSTM of the
    "lstm" case under the name `lstm` (so `lstm.weight_ih_l0`, …), as safetensors.torch writes
    it with the metadata NanoTorch writes; tests/parity_recurrent.rs loads it by name and
    checks that NanoTorch's save of it is this file byte for byte."""
    from safetensors.torch import save_file

    torch.manual_seed(2)
    holder = torch.nn.Module()
    holder.lstm = torch.nn.LSTM(I, H, batch_first=True).double()
    state = {k: v.detach().contiguous() for k, v in holder.state_dict().items()}
    save_file(state, os.path.join(HERE, "..", "tests", "golden", "torch_lstm.safetensors"), metadata={"format": "pt"})


def main():
    lstm_checkpoint()
    doc = {"torch": torch.__version__, "rnn": case("rnn", 1), "lstm": case("lstm", 2), "gru": case("gru", 3)}
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
