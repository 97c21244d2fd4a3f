#!/usr/bin/env python3
"""Generates tests/golden/attention.json: PyTorch reference values for NanoTorch's attention
primitives and its CausalSelfAttention layer.

Setup (once, from the repository root):

    python3 -m venv .venv && .venv/bin/pip install torch numpy

Run (from the repository root; rewrites the committed golden file):

    .venv/bin/python scripts/golden_attention.py

Every case runs in float32 on the CPU under a fixed seed, then calls `y.backward(upstream)`
with a random upstream gradient and records the gradient of every input. The Rust test
tests/parity_attention.rs replays each case through NanoTorch and compares output and
gradients. The format is that of tests/golden/primitives.json (see tests/common/golden.rs):
`{"generator", "tolerance", "cases": [...]}`, each case `{"op", "name", "params", "inputs",
"upstream", "output", "grads"}`, a tensor being `{"shape": [sizes], "data": [row-major
values]}`.

Ops and their params:

  bmm                     torch.matmul(a, b): a [N, M, K] or [A, N, M, K], b [.., K, P].
  bmm_nt                  a @ b.transpose(-2, -1): a [.., M, K], b [.., P, K].
  bmm_tn                  a.transpose(-2, -1) @ b: a [.., K, M], b [.., K, P].
  causal_softmax          x.masked_fill(tril(ones(T, T)) == 0, -inf).softmax(-1) over
                          x [N, T, T] or [B, H, T, T].
  split_heads             x.view(B, T, H, D).transpose(1, 2): x [B, T, C]; param heads.
  merge_heads             x.transpose(1, 2).contiguous().view(B, T, H·D): x [B, H, T, D].
  causal_attention        softmax(mask(q @ k.transpose(-2, -1) * (1/sqrt(D)))) @ v as minGPT
                          writes it, q, k, v [B, H, T, D]; the output only (the weights are
                          checked through causal_softmax and the layer).
  causal_self_attention   minGPT's original CausalSelfAttention (separate key, query, value,
                          proj nn.Linear(C, C), no dropout) on x [B, T, C]; param heads; the
                          inputs are x and the eight parameters by state-dict name
                          (key.weight, key.bias, query.weight, ... proj.bias), each with its
                          gradient. The parameters are nn.Linear's default initialisation.

The last layer case has the sort example's geometry (T = 11, C = 48, 4 heads of 12) with a
batch of 2; it dominates the file's size (about 0.4 MB). Numbers are written as the shortest
decimal that reads back as the same float32.
"""

import json
import math
import os

import numpy as np
import torch
import torch.nn as nn

SEED = 20240922
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "attention.json")
MAX_ELEMENTS = 2400

gen = torch.Generator().manual_seed(SEED)


def randn(*shape, std=1.0):
    return torch.randn(tuple(shape), generator=gen, dtype=torch.float32) * std


def shortest(v):
    """The shortest decimal of a float32 value, as a Python float that rounds back to it."""
    s = float(str(np.float32(v)))
    assert np.float32(s) == np.float32(v), f"{v} does not round-trip"
    return s


def encode(t):
    t = t.detach().to(torch.float32).contiguous()
    assert t.numel() <= MAX_ELEMENTS, f"tensor of {t.numel()} elements is too big for the golden file"
    data = t.reshape(-1).tolist()
    assert all(math.isfinite(v) for v in data), f"non-finite value in {data}"
    return {"shape": list(t.shape), "data": [shortest(v) for v in data]}


CASES = []


def record(op, name, params, inputs, upstream, y, grads):
    CASES.append(
        {
            "op": op,
            "name": name,
            "params": params,
            "inputs": {k: encode(v) for k, v in inputs.items()},
            "upstream": encode(upstream),
            "output": encode(y),
            "grads": {k: encode(v) for k, v in grads.items()},
        }
    )


def case(op, name, fn, inputs, params=None):
    """Runs `fn(**inputs)` with autograd, backpropagates a random upstream gradient, records
    the gradient of every input."""
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in inputs.items()}
    y = fn(**leaves)
    upstream = randn(*y.shape)
    y.backward(upstream)
    grads = {k: (v.grad if v.grad is not None else torch.zeros_like(v)) for k, v in leaves.items()}
    record(op, name, params or {}, inputs, upstream, y, grads)


def dims(shape):
    return "[" + ", ".join(str(d) for d in shape) + "]"


def mask_softmax(s):
    t = s.shape[-1]
    mask = torch.tril(torch.ones(t, t))
    return s.masked_fill(mask == 0, float("-inf")).softmax(dim=-1)


class CausalSelfAttention(nn.Module):
    """minGPT's original layout: separate key/query/value/proj, no dropout."""

    def __init__(self, c, heads):
        super().__init__()
        assert c % heads == 0
        self.key = nn.Linear(c, c)
        self.query = nn.Linear(c, c)
        self.value = nn.Linear(c, c)
        self.proj = nn.Linear(c, c)
        self.heads = heads

    def forward(self, x):
        b, t, c = x.size()
        h = self.heads
        k = self.key(x).view(b, t, h, c // h).transpose(1, 2)
        q = self.query(x).view(b, t, h, c // h).transpose(1, 2)
        v = self.value(x).view(b, t, h, c // h).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = mask_softmax(att)
        y = att @ v
        y = y.transpose(1, 2).contiguous().view(b, t, c)
        return self.proj(y)


NAMES = [f"{m}.{p}" for m in ("key", "query", "value", "proj") for p in ("weight", "bias")]


def gen_bmm():
    for shape_a, shape_b in [
        ((3, 4, 5), (3, 5, 2)),
        ((2, 1, 7), (2, 7, 3)),
        ((2, 11, 12), (2, 12, 11)),
        ((2, 3, 4, 5), (2, 3, 5, 6)),
        ((1, 2, 11, 11), (1, 2, 11, 12)),
    ]:
        case("bmm", f"a {dims(shape_a)}, b {dims(shape_b)}", lambda a, b: torch.matmul(a, b), {"a": randn(*shape_a), "b": randn(*shape_b)})
    for shape_a, shape_b in [((3, 4, 5), (3, 6, 5)), ((1, 2, 11, 12), (1, 2, 11, 12))]:
        case("bmm_nt", f"a {dims(shape_a)}, b {dims(shape_b)}", lambda a, b: a @ b.transpose(-2, -1), {"a": randn(*shape_a), "b": randn(*shape_b)})
    for shape_a, shape_b in [((3, 5, 4), (3, 5, 6)), ((1, 2, 11, 11), (1, 2, 11, 12))]:
        case("bmm_tn", f"a {dims(shape_a)}, b {dims(shape_b)}", lambda a, b: a.transpose(-2, -1) @ b, {"a": randn(*shape_a), "b": randn(*shape_b)})


def gen_softmax():
    for shape, std in [((3, 5, 5), 1.0), ((2, 3, 7, 7), 2.0), ((1, 2, 11, 11), 1.0), ((2, 4, 4), 30.0), ((1, 1, 1, 1), 1.0)]:
        label = f"x {dims(shape)}" + (f", std {std}" if std != 1.0 else "")
        case("causal_softmax", label, lambda x: mask_softmax(x), {"x": randn(*shape, std=std)})


def gen_heads():
    for b, t, h, d in [(2, 5, 2, 4), (1, 3, 3, 2), (2, 3, 4, 3)]:
        case(
            "split_heads",
            f"x {dims((b, t, h * d))}, {h} heads",
            lambda x, b=b, t=t, h=h, d=d: x.view(b, t, h, d).transpose(1, 2),
            {"x": randn(b, t, h * d)},
            {"heads": h},
        )
        case(
            "merge_heads",
            f"x {dims((b, h, t, d))}",
            lambda x, b=b, t=t, h=h, d=d: x.transpose(1, 2).contiguous().view(b, t, h * d),
            {"x": randn(b, h, t, d)},
        )


def gen_attention():
    for b, h, t, d in [(2, 2, 5, 4), (1, 3, 6, 2), (1, 2, 11, 12)]:
        case(
            "causal_attention",
            f"q, k, v {dims((b, h, t, d))}",
            lambda q, k, v: mask_softmax((q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))) @ v,
            {"q": randn(b, h, t, d), "k": randn(b, h, t, d), "v": randn(b, h, t, d)},
        )


def gen_layer():
    for b, t, c, h in [(2, 5, 8, 2), (2, 5, 8, 1), (3, 4, 12, 3), (2, 11, 48, 4)]:
        torch.manual_seed(SEED + b * 1000 + t * 100 + c + h)
        layer = CausalSelfAttention(c, h)
        x = randn(b, t, c).requires_grad_(True)
        y = layer(x)
        upstream = randn(*y.shape)
        y.backward(upstream)
        state = dict(layer.named_parameters())
        assert list(state) == NAMES, list(state)
        inputs = {"x": x.detach()}
        inputs.update({n: p.detach() for n, p in state.items()})
        grads = {"x": x.grad}
        grads.update({n: p.grad for n, p in state.items()})
        record("causal_self_attention", f"x {dims((b, t, c))}, {h} heads", {"heads": h}, inputs, upstream, y, grads)


def main():
    torch.set_num_threads(1)
    gen_bmm()
    gen_softmax()
    gen_heads()
    gen_attention()
    gen_layer()
    doc = {
        "generator": f"scripts/golden_attention.py, torch {torch.__version__}, numpy {np.__version__}, seed {SEED}, float32 CPU",
        "tolerance": "|nanotorch - torch| <= 1e-5 * |torch| + 1e-6",
        "cases": CASES,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    # One case per line: small diffs when a case changes, and still valid JSON.
    head = json.dumps({k: v for k, v in doc.items() if k != "cases"}, ensure_ascii=False)[:-1]
    lines = [json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in CASES]
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(head + ', "cases": [\n' + ",\n".join(lines) + "\n]}\n")
    with open(OUT, encoding="utf-8") as f:
        assert json.load(f) == json.loads(json.dumps(doc)), "written file does not read back"
    counts = {}
    for c in CASES:
        counts[c["op"]] = counts.get(c["op"], 0) + 1
    summary = ", ".join(f"{op} {n}" for op, n in counts.items())
    print(f"wrote {len(CASES)} cases ({os.path.getsize(OUT)} bytes): {summary}")


if __name__ == "__main__":
    main()
