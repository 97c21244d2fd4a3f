#!/usr/bin/env python3
"""Generates tests/golden/networks.json: PyTorch reference values for whole networks.

Setup (once, from the repository root; needs torch and numpy):

    python3 -m venv .venv && .venv/bin/pip install torch numpy

Run (from the repository root; rewrites the committed golden file):

    .venv/bin/python scripts/golden_network.py

Three small networks are built with torch.nn in float32 on the CPU, from a fixed seed:

  mlp        fc1: Linear(64, 32); fc2: Linear(32, 10)
             logits = fc2(relu(fc1(x)));  cross-entropy (mean) against 5 integer labels
  residual   inp: Linear(12, 8); block: Linear(8, 8); head: Linear(8, 3)
             h = relu(inp(x)); r = h + relu(block(h)); out = head(r);  MSE (mean)
  regressor  fc1: Linear(3, 3); fc2: Linear(3, 5); fc3: Linear(5, 1)   (the README model)
             h = sigmoid(fc1(x)); out = fc3(sigmoid(fc2(h)));  MSE (mean) against x·[1, 2, 3]

For each network the file records: the state_dict (PyTorch names such as `fc1.weight`, weights
`[out, in]`, row-major), the input, the targets, the network's output, the loss, and after
`loss.backward()` the gradient of every parameter (by state_dict name) and of the input.
tests/parity_network.rs declares the same networks with `network!`, loads the weights by name
and compares; it never runs Python.

A tensor is `{"shape": [sizes], "data": [row-major values]}`; every number is the shortest
decimal that reads back as the same float32, so nothing is lost in the file.
"""

import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 20240612
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "networks.json")


def f32_list(t):
    return [float(str(np.float32(v))) for v in t.detach().to(torch.float32).reshape(-1).tolist()]


def encode(t):
    return {"shape": list(t.shape), "data": f32_list(t)}


def f32_scalar(t):
    return float(str(np.float32(t.item())))


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(12, 8)
        self.block = nn.Linear(8, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        h = F.relu(self.inp(x))
        r = h + F.relu(self.block(h))
        return self.head(r)


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 3)
        self.fc2 = nn.Linear(3, 5)
        self.fc3 = nn.Linear(5, 1)

    def forward(self, x):
        h = torch.sigmoid(self.fc1(x))
        return self.fc3(torch.sigmoid(self.fc2(h)))


def record(name, model, x, loss_name, target):
    """Runs forward, the loss and backward; returns the JSON entry of one network."""
    x = x.clone().requires_grad_(True)
    out = model(x)
    if loss_name == "cross_entropy":
        loss = F.cross_entropy(out, target, reduction="mean")
    else:
        loss = F.mse_loss(out, target, reduction="mean")
    model.zero_grad()
    loss.backward()
    entry = {
        "name": name,
        "loss": loss_name,
        "reduction": "mean",
        "state_dict": {k: encode(v) for k, v in model.state_dict().items()},
        "input": encode(x),
        "output": encode(out),
        "loss_value": f32_scalar(loss),
        "grads": {k: encode(p.grad) for k, p in model.named_parameters()},
        "input_grad": encode(x.grad),
    }
    if target.dtype == torch.int64:
        entry["targets"] = target.tolist()
    else:
        entry["target"] = encode(target)
    return entry


def main():
    torch.manual_seed(SEED)
    nets = []

    mlp = Mlp()
    x = torch.randn(5, 64)
    labels = torch.randint(0, 10, (5,))
    nets.append(record("mlp", mlp, x, "cross_entropy", labels))

    res = Residual()
    x = torch.randn(4, 12)
    target = torch.randn(4, 3)
    nets.append(record("residual", res, x, "mse", target))

    reg = Regressor()
    x = torch.rand(6, 3) * 2.0 - 1.0
    target = x @ torch.tensor([[1.0], [2.0], [3.0]])
    nets.append(record("regressor", reg, x, "mse", target))

    doc = {
        "generator": "scripts/golden_network.py",
        "torch": torch.__version__,
        "seed": SEED,
        "networks": nets,
    }
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
