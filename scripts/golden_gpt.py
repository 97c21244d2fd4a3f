#!/usr/bin/env python3
"""Generates the whole-GPT parity files: tests/golden/torch_gpt.safetensors (a PyTorch twin's
initial weights) and tests/golden/gpt.json (what PyTorch computes with them).

Setup (once, from the repository root):

    python3 -m venv .venv && .venv/bin/pip install torch numpy safetensors

Run (from the repository root; rewrites both committed files):

    .venv/bin/python scripts/golden_gpt.py

The model is the `TinyGpt` of tests/gradcheck_gpt.rs written with torch.nn, as the GPT of
scripts/bench_torch.py (minGPT's original layer layout) but smaller: a vocabulary of 3, 5
positions, 8 features, 2 heads, 2 blocks, an MLP of 16.

  wte   nn.Embedding(3, 8)                 token embedding
  wpe   nn.Embedding(5, 8)                 position embedding, added: wte(idx) + wpe(arange(T))
  h     nn.ModuleList of 2 Blocks:  h = x + attn(ln1(x));  y = h + proj(gelu_tanh(fc(ln2(h))))
          ln1, ln2   nn.LayerNorm(8)       (eps 1e-5)
          attn       key, query, value, proj: nn.Linear(8, 8); causal mask (masked_fill −inf),
                     softmax over (q·kᵀ)/√4, no dropout
          fc, proj   nn.Linear(8, 16), nn.Linear(16, 8); F.gelu(approximate="tanh")
  ln_f  nn.LayerNorm(8)
  head  nn.Linear(8, 3)                    logits [B, 5, 3]

State-dict names are NanoTorch's (`wte.weight`, `wpe.weight`, `h.0.ln1.weight`,
`h.0.attn.key.weight`, …, `head.bias`; NanoTorch's stack `h: [Block; 2]` names its blocks
as this `nn.ModuleList` does), so tests/parity_gpt.rs loads the safetensors file with
`nanotorch::checkpoint::load` (strict: every name present, no other).

The weights are torch's default initialisation under a fixed seed, except that every LayerNorm's
weight and bias are moved off 1 and 0 (a loader that skipped them would otherwise go unseen).

Recorded (float32 CPU, one thread):

  grad      one batch of B = 3 sequences (`ids`, `targets`, the first 2 targets of each
            sequence −1 = ignored): the logits, the loss
            F.cross_entropy(logits.view(-1, V), targets.view(-1), ignore_index=-1), and after
            loss.backward() the gradient of every parameter by state-dict name.
  train     3 training steps from the initial weights, each on its own fixed batch of 3:
            zero_grad, forward, loss, backward, AdamW step — torch.optim.AdamW over all
            parameters in one group (lr 1e-2, betas (0.9, 0.95), eps 1e-8, weight_decay 0.1,
            applied to every parameter, biases, LayerNorms and embeddings included, as
            NanoTorch's AdamW does). Per step: its batch, its loss (before its update) and
            the gradient of every parameter the update used; then every parameter after the 3
            steps.

Format: a tensor is `{"shape": [sizes], "data": [row-major values]}` as in
tests/golden/primitives.json (tests/common/golden.rs reads it); every number is the shortest
decimal that reads back as the same float32. Token ids and targets are lists of integers,
row-major [B, T].
"""

import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

SEED = 20240616
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT_JSON = os.path.join(ROOT, "tests", "golden", "gpt.json")
OUT_WEIGHTS = os.path.join(ROOT, "tests", "golden", "torch_gpt.safetensors")

VOCAB, LEN, WIDTH, HEADS, HIDDEN = 3, 5, 8, 2, 16
BATCH, IGNORED, STEPS = 3, 2, 3
ADAMW = {"lr": 1e-2, "betas": (0.9, 0.95), "eps": 1e-8, "weight_decay": 0.1}


class CausalSelfAttention(nn.Module):
    """minGPT's original layout: separate key/query/value/proj, no dropout (as bench_torch.py)."""

    def __init__(self, c, heads):
        super().__init__()
        self.key, self.query, self.value = nn.Linear(c, c), nn.Linear(c, c), nn.Linear(c, c)
        self.proj = nn.Linear(c, c)
        self.heads = heads

    def forward(self, x):
        b, t, c = x.shape
        h = self.heads
        k = self.key(x).view(b, t, h, c // h).transpose(1, 2)
        q = self.query(x).view(b, t, h, c // h).transpose(1, 2)
        v = self.value(x).view(b, t, h, c // h).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(c // h))
        mask = torch.ones(t, t, dtype=torch.bool).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, c)
        return self.proj(y)


class Block(nn.Module):
    def __init__(self, c, heads, hidden):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(c), CausalSelfAttention(c, heads)
        self.ln2, self.fc, self.proj = nn.LayerNorm(c), nn.Linear(c, hidden), nn.Linear(hidden, c)

    def forward(self, x):
        h = x + self.attn(self.ln1(x))
        return h + self.proj(F.gelu(self.fc(self.ln2(h)), approximate="tanh"))


class TinyGpt(nn.Module):
    """The TinyGpt of tests/gradcheck_gpt.rs."""

    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(VOCAB, WIDTH), nn.Embedding(LEN, WIDTH)
        self.h = nn.ModuleList([Block(WIDTH, HEADS, HIDDEN) for _ in range(2)])
        self.ln_f, self.head = nn.LayerNorm(WIDTH), nn.Linear(WIDTH, VOCAB)

    def forward(self, idx):
        pos = torch.arange(idx.shape[1])
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        return self.head(self.ln_f(x))


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


def batch(gen):
    """B sequences of T token ids and their targets, the first IGNORED of each −1."""
    ids = torch.randint(0, VOCAB, (BATCH, LEN), generator=gen)
    targets = torch.randint(0, VOCAB, (BATCH, LEN), generator=gen)
    targets[:, :IGNORED] = -1
    return ids, targets


def loss_of(model, ids, targets):
    logits = model(ids)
    loss = F.cross_entropy(logits.view(-1, VOCAB), targets.view(-1), ignore_index=-1)
    return logits, loss


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


def main():
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED + 1)
    model = TinyGpt()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".ln" in name or name.startswith("ln_f"):
                p.add_(0.2 * torch.randn(p.shape, generator=gen))
    names = [n for n, _ in model.named_parameters()]
    assert names == list(model.state_dict().keys()), "no buffers: the state dict is the parameters"
    os.makedirs(os.path.dirname(OUT_JSON), exist_ok=True)
    # The metadata NanoTorch writes, so its save of these weights is this file byte for byte.
    save_file(
        {k: v.detach().contiguous() for k, v in model.state_dict().items()},
        OUT_WEIGHTS,
        metadata={"format": "pt"},
    )

    # One forward and backward.
    ids, targets = batch(gen)
    model.zero_grad()
    logits, loss = loss_of(model, ids, targets)
    loss.backward()
    grad = {
        "ids": ids.reshape(-1).tolist(),
        "targets": targets.reshape(-1).tolist(),
        "logits": encode(logits),
        "loss": shortest(loss.item()),
        "grads": {n: encode(p.grad) for n, p in model.named_parameters()},
    }

    # Three AdamW steps from the initial weights (the backward above leaves them unchanged).
    opt = torch.optim.AdamW(model.parameters(), foreach=False, **ADAMW)
    steps = []
    for _ in range(STEPS):
        ids, targets = batch(gen)
        opt.zero_grad()
        _, loss = loss_of(model, ids, targets)
        loss.backward()
        steps.append(
            {
                "ids": ids.reshape(-1).tolist(),
                "targets": targets.reshape(-1).tolist(),
                "loss": shortest(loss.item()),
                "grads": {n: encode(p.grad) for n, p in model.named_parameters()},
            }
        )
        opt.step()
    train = {"steps": steps, "params": {n: encode(p) for n, p in model.named_parameters()}}

    doc = {
        "generator": f"scripts/golden_gpt.py, torch {torch.__version__}, numpy {np.__version__}, seed {SEED}, float32 CPU",
        "config": {
            "vocab": VOCAB,
            "length": LEN,
            "width": WIDTH,
            "heads": HEADS,
            "hidden": HIDDEN,
            "batch": BATCH,
            "ignored": IGNORED,
            "adamw": {k: list(v) if isinstance(v, tuple) else v for k, v in ADAMW.items()},
        },
        "names": names,
        "grad": grad,
        "train": train,
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


if __name__ == "__main__":
    main()
