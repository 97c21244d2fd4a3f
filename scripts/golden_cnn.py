#!/usr/bin/env python3
"""Generates the CNN parity files: tests/golden/torch_cnn_parity.safetensors (a PyTorch twin's
initial state dict, parameters and buffers) and tests/golden/cnn.json (what PyTorch computes
from it).

Setup (once, from the repository root):

    python3 -m venv .venv && .venv/bin/pip install torch numpy safetensors

Run (from the repository root; rewrites both committed files):

    .venv/bin/python scripts/golden_cnn.py

The model is the `Cnn` of tests/parity_cnn.rs written with torch.nn:

  conv1  nn.Conv2d(1, 4, 3, padding=1)   [B, 1, 12, 12] -> [B, 4, 12, 12]
  bn1    nn.BatchNorm2d(4)               then relu, F.max_pool2d(2) -> [B, 4, 6, 6]
  conv2  nn.Conv2d(4, 6, 3)              -> [B, 6, 4, 4]
  bn2    nn.BatchNorm2d(6)               then relu, flatten -> [B, 96]
  fc1    nn.Linear(96, 16)               then relu
  fc2    nn.Linear(16, 10)               logits [B, 10]

Its state dict (`conv1.weight`, …, `bn1.running_mean`, `bn1.running_var`,
`bn1.num_batches_tracked` (int64, shape []), …, `fc2.bias`) is saved with
`safetensors.torch.save_file(..., metadata={"format": "pt"})` — the metadata NanoTorch writes,
so tests/parity_cnn.rs can also check that NanoTorch, saving the loaded state back, writes the
very same bytes. The weights are torch's default initialisation under a fixed seed, except that
the BatchNorm layers are moved off their defaults (weight off 1, bias off 0, running_mean off
0, running_var off 1, num_batches_tracked 7 instead of 0), so a loader that skipped any of them
could not go unseen.

Recorded (float32 CPU, one thread; every part starts from the saved initial state):

  grad   train mode, one batch of B = 5 (`input`, fixed `labels`): the logits, the loss
         F.cross_entropy(logits, labels) (mean), and after loss.backward() the gradient of
         every parameter by state-dict name and the input's gradient (`input_grad`).
  train  3 SGD steps (torch.optim.SGD, lr 0.1, momentum 0.9, foreach=False) in train mode,
         each on its own fixed batch of 5: zero_grad, forward, loss, backward, step. Per step
         its batch and loss (before its update); after the 3 steps every parameter
         (`params`) and every buffer (`buffers`: running statistics as tensors, the
         num_batches_tracked counters as integers — 7 + 3 = 10).
  eval   after the 3 steps, model.eval() and a forward on a fixed batch of 4: `input`,
         `output` (running statistics normalise).

Also: `names`, the state dict's names in PyTorch's order, and `state_dict`, each name's
shape and dtype ("F32" or "I64", the safetensors dtype names).

Reverse check: tests/parity_cnn.rs saves NanoTorch's state after the 3 steps to
target/nanotorch_cnn_parity.safetensors. If that file exists, this script loads it with
safetensors.torch.load_file into a fresh torch twin with load_state_dict(strict=True) and
checks it against its own state after the steps (values within 1e-5·|x| + 1e-6, the counters
equal) — NanoTorch's file reads as a PyTorch state dict.

Format: a tensor is `{"shape": [sizes], "data": [row-major values]}` as in
tests/golden/primitives.json (tests/common/golden.rs reads it); every number is the shortest
decimal that reads back as the same float32. Labels are lists of integers.
"""

import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

SEED = 20240617
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT_JSON = os.path.join(ROOT, "tests", "golden", "cnn.json")
OUT_WEIGHTS = os.path.join(ROOT, "tests", "golden", "torch_cnn_parity.safetensors")
NANOTORCH_SAVED = os.path.join(ROOT, "target", "nanotorch_cnn_parity.safetensors")

BATCH, EVAL_BATCH, STEPS, CLASSES = 5, 4, 3, 10
SGD = {"lr": 0.1, "momentum": 0.9}
START_COUNT = 7
DTYPES = {torch.float32: "F32", torch.int64: "I64"}


class Cnn(nn.Module):
    """The Cnn of tests/parity_cnn.rs."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.conv2, self.bn2 = nn.Conv2d(4, 6, 3), nn.BatchNorm2d(6)
        self.fc1, self.fc2 = nn.Linear(96, 16), nn.Linear(16, CLASSES)

    def forward(self, x):
        h = F.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        h = torch.relu(self.bn2(self.conv2(h)))
        return self.fc2(torch.relu(self.fc1(h.flatten(1))))


def shortest(v):
    """The shortest decimal of a float32 value, as a Python float that rounds back to it."""
    s = float(str(np.float32(v)))
    assert np.float32(s) == np.float32(v), f"{v} does not round-trip"
    return s


def encode(t):
    t = t.detach().to(torch.float32).contiguous()
    data = t.reshape(-1).tolist()
    assert all(math.isfinite(v) for v in data), f"non-finite value in {data}"
    return {"shape": list(t.shape), "data": [shortest(v) for v in data]}


def batch(gen, b):
    """An input [b, 1, 12, 12] (mean 0.3, std 1.2) and b labels below CLASSES."""
    x = torch.randn((b, 1, 12, 12), generator=gen) * 1.2 + 0.3
    y = torch.randint(0, CLASSES, (b,), generator=gen)
    return x, y


def layout(v, indent=""):
    """JSON with one tensor (or scalar, or list of integers) per line: small diffs when a value
    changes."""
    flat = json.dumps(v, separators=(",", ":"))
    is_tensor = isinstance(v, dict) and "shape" in v
    if not isinstance(v, (dict, list)) or is_tensor:
        return flat
    values = v.values() if isinstance(v, dict) else v
    if all(not isinstance(x, (dict, list)) for x in values):
        return flat
    inner = indent + "  "
    if isinstance(v, list):
        return "[\n" + ",\n".join(inner + layout(x, inner) for x in v) + "\n" + indent + "]"
    items = (f"{inner}{json.dumps(k)}:{layout(x, inner)}" for k, x in v.items())
    return "{\n" + ",\n".join(items) + "\n" + indent + "}"


def buffers(model):
    """Every buffer by state-dict name: tensors encoded, counters as integers."""
    out = {}
    for name, b in model.named_buffers():
        out[name] = int(b.item()) if b.dtype == torch.int64 else encode(b)
    return out


def reverse_check(after):
    """Loads NanoTorch's saved state into a torch twin (strict) and compares it with `after`."""
    if not os.path.exists(NANOTORCH_SAVED):
        print(f"(no {os.path.normpath(NANOTORCH_SAVED)}; run `cargo test --release --test parity_cnn` for the reverse check)")
        return
    back = Cnn()
    back.load_state_dict(load_file(NANOTORCH_SAVED), strict=True)
    worst = 0.0
    for name, want in after.items():
        got = back.state_dict()[name]
        if got.dtype != want.dtype or got.shape != want.shape:
            sys.exit(f"reverse check FAILED: {name} is {got.dtype} {list(got.shape)}, torch's {want.dtype} {list(want.shape)}")
        if want.dtype == torch.int64:
            if not torch.equal(got, want):
                sys.exit(f"reverse check FAILED: {name} = {got.item()}, torch's {want.item()}")
            continue
        err = ((got - want).abs() / (1e-5 * want.abs() + 1e-6)).max().item()
        worst = max(worst, err)
        if err > 1:
            sys.exit(f"reverse check FAILED: {name} outside 1e-5·|x| + 1e-6 (share {err:.2f})")
    print(f"reverse check ok: {os.path.normpath(NANOTORCH_SAVED)} loads into torch with strict=True (tolerance used {100 * worst:.1f}%)")


def main():
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED + 1)
    model = Cnn()
    with torch.no_grad():
        for bn in (model.bn1, model.bn2):
            c = bn.num_features
            bn.weight.add_(0.2 * torch.randn(c, generator=gen))
            bn.bias.add_(0.2 * torch.randn(c, generator=gen))
            bn.running_mean.copy_(0.3 * torch.randn(c, generator=gen))
            bn.running_var.copy_(0.5 + torch.rand(c, generator=gen))
            bn.num_batches_tracked.fill_(START_COUNT)
    initial = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    names = list(initial.keys())
    os.makedirs(os.path.dirname(OUT_JSON), exist_ok=True)
    save_file(initial, OUT_WEIGHTS, metadata={"format": "pt"})

    # One forward and backward in train mode.
    model.train()
    x, labels = batch(gen, BATCH)
    x.requires_grad_(True)
    model.zero_grad()
    logits = model(x)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    grad = {
        "input": encode(x),
        "labels": labels.tolist(),
        "logits": encode(logits),
        "loss": shortest(loss.item()),
        "grads": {n: encode(p.grad) for n, p in model.named_parameters()},
        "input_grad": encode(x.grad),
    }

    # Three SGD steps with momentum from the initial state (the forward above moved the
    # running statistics: put them back).
    model.load_state_dict(initial)
    model.zero_grad()
    opt = torch.optim.SGD(model.parameters(), foreach=False, **SGD)
    steps = []
    for _ in range(STEPS):
        xb, yb = batch(gen, BATCH)
        opt.zero_grad()
        step_loss = F.cross_entropy(model(xb), yb)
        step_loss.backward()
        opt.step()
        steps.append({"input": encode(xb), "labels": yb.tolist(), "loss": shortest(step_loss.item())})
    after = {k: v.detach().clone() for k, v in model.state_dict().items()}
    train = {
        "steps": steps,
        "params": {n: encode(p) for n, p in model.named_parameters()},
        "buffers": buffers(model),
    }

    # Eval mode after the steps.
    model.eval()
    xe, _ = batch(gen, EVAL_BATCH)
    with torch.no_grad():
        ye = model(xe)
    evaluation = {"input": encode(xe), "output": encode(ye)}

    doc = {
        "generator": f"scripts/golden_cnn.py, torch {torch.__version__}, numpy {np.__version__}, seed {SEED}, float32 CPU",
        "config": {
            "batch": BATCH,
            "eval_batch": EVAL_BATCH,
            "classes": CLASSES,
            "sgd": SGD,
            "start_count": START_COUNT,
            "bn_momentum": model.bn1.momentum,
            "bn_eps": model.bn1.eps,
        },
        "names": names,
        "state_dict": {k: {"shape": list(v.shape), "dtype": DTYPES[v.dtype]} for k, v in initial.items()},
        "grad": grad,
        "train": train,
        "eval": evaluation,
    }
    text = layout(doc) + "\n"
    with open(OUT_JSON, "w", encoding="utf-8") as f:
        f.write(text)
    with open(OUT_JSON, encoding="utf-8") as f:
        assert json.load(f) == json.loads(json.dumps(doc)), "written file does not read back"
    print(
        f"wrote {os.path.normpath(OUT_JSON)} ({os.path.getsize(OUT_JSON)} bytes) and "
        f"{os.path.normpath(OUT_WEIGHTS)} ({len(names)} tensors); loss {grad['loss']}, "
        f"step losses {[s['loss'] for s in steps]}"
    )
    reverse_check(after)


if __name__ == "__main__":
    main()
