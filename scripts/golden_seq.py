#!/usr/bin/env python3
"""Generates tests/golden/seq.json: PyTorch reference values for NanoTorch's sequence
primitives (the parts of a GPT around attention): token embedding, position embedding, layer
normalisation, the linear map on the last axis of a sequence, and the sequence cross-entropy
with ignored positions.

Setup (once, from the repository root):

    python3 -m venv .venv && .venv/bin/pip install torch numpy safetensors

Run (from the repository root; rewrites the committed golden file):

    .venv/bin/python scripts/golden_seq.py

Every case runs one primitive in float32 on the CPU under a fixed seed, then calls
`y.backward(upstream)` with a random upstream gradient (the loss: upstream 1) and records the
gradient of every float input. The Rust test tests/parity_seq.rs replays each case through
NanoTorch and compares output and gradients. The file has the format of
tests/golden/primitives.json (see tests/common/golden.rs): `{"generator", "tolerance",
"cases": [...]}`, each case `{"op", "name", "params", "inputs", "upstream", "output",
"grads"}`, a tensor being `{"shape": [sizes], "data": [row-major values]}`.

Ops and their params:

  embedding          F.embedding(ids, weight); params batch, length and ids (the [B, T] token
                     ids, row-major, a list of integers); input weight [V, C]; grad weight
                     (tokens repeated in the batch collect the sum of their rows' gradients,
                     tokens absent get 0).
  add_positions      x + weight, weight [T, C] broadcast over the batch of x [B, T, C] (minGPT's
                     tok_emb + pos_emb); grads x and weight.
  layer_norm         nn.LayerNorm(C, eps) with its weight and bias set to the inputs, on x
                     [B, C] or [B, T, C]; param eps; grads x, weight, bias.
  linear_seq         F.linear(x, weight, bias) on x [B, T, I], weight [O, I], bias [O] (a case
                     without a bias has no "bias" anywhere); grads x, weight (, bias).
  cross_entropy_seq  F.cross_entropy(logits.view(-1, V), targets.view(-1), ignore_index=-1) on
                     logits [B, T, V]; param targets (B·T integers, -1 = ignored); the output is
                     the loss (shape []), the upstream 1, the grad that of logits.

Numbers are written as the shortest decimal that reads back as the same float32.
"""

import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

SEED = 20240614
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "seq.json")
MAX_ELEMENTS = 600

gen = torch.Generator().manual_seed(SEED)


def randn(*shape, std=1.0):
    return torch.randn(tuple(shape), generator=gen, dtype=torch.float32) * std


def randint(lo, hi, *shape):
    return torch.randint(lo, hi, tuple(shape), generator=gen)


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


def gen_embedding():
    # (B, T, V, C, label)
    configs = [
        (2, 5, 7, 4, "some tokens repeated, some absent"),
        (3, 4, 3, 8, "vocabulary of 3: every token repeated"),
        (1, 6, 10, 5, "one sequence"),
        (4, 11, 3, 12, "the sort task's sizes, narrowed"),
    ]
    for b, t, v, c, label in configs:
        ids = randint(0, v, b, t)
        if b * t >= 2:
            ids.view(-1)[1] = ids.view(-1)[0]  # at least one repeat
        case(
            "embedding",
            f"ids {dims((b, t))} over {v} tokens, weight {dims((v, c))}: {label}",
            lambda weight, ids=ids: F.embedding(ids, weight),
            {"weight": randn(v, c)},
            {"batch": b, "length": t, "ids": ids.reshape(-1).tolist()},
        )


def gen_add_positions():
    for b, t, c in [(2, 5, 4), (3, 4, 8), (1, 11, 6), (4, 3, 17)]:
        case(
            "add_positions",
            f"x {dims((b, t, c))}, table {dims((t, c))}",
            lambda x, weight: x + weight,
            {"x": randn(b, t, c), "weight": randn(t, c)},
        )


def gen_layer_norm():
    # (shape, offset, scale, eps)
    configs = [
        ((5, 8), 0.0, 1.0, 1e-5),
        ((2, 6, 16), 0.5, 2.0, 1e-5),
        ((3, 4, 3), 0.0, 1.0, 1e-5),  # 3 features: no full 8-wide lane chunk
        ((1, 1, 7), -1.0, 0.5, 1e-5),
        ((2, 3, 33), 0.0, 1.0, 1e-5),  # 4 chunks of 8 and a remainder of 1
        # Rows off 0 (the mean must be removed accurately). Further off, float32 itself runs
        # out: at offset 10 and scale 0.5 PyTorch's own result is up to 2.2 tolerances from
        # the float64 one (tests/parity_seq.rs checks NanoTorch there against float64).
        ((2, 11, 24), 3.0, 1.0, 1e-5),
        ((4, 48), 0.0, 0.01, 1e-5),  # variance 1e-4: eps matters
    ]
    for shape, offset, scale, eps in configs:
        c = shape[-1]
        x = randn(*shape) * scale + offset + randn(*shape[:-1], 1) * scale

        def fn(x, weight, bias, c=c, eps=eps):
            ln = torch.nn.LayerNorm(c, eps=eps)
            # The module's own parameters are replaced by the case's leaves.
            del ln.weight, ln.bias
            ln.weight, ln.bias = weight, bias
            return ln(x)

        case(
            "layer_norm",
            f"x {dims(shape)} (offset {offset}, scale {scale}), eps {eps}",
            fn,
            {"x": x, "weight": randn(c, std=0.5) + 1.0, "bias": randn(c, std=0.5)},
            {"eps": eps},
        )


def gen_linear_seq():
    # (B, T, I, O, bias)
    configs = [
        (2, 5, 8, 3, True),
        (3, 4, 16, 12, True),
        (1, 11, 48, 3, True),  # the sort GPT's head on one sequence
        (2, 3, 7, 1, False),
        (4, 3, 5, 9, True),
    ]
    for b, t, i, o, has_bias in configs:
        inputs = {"x": randn(b, t, i), "weight": randn(o, i, std=1.0 / math.sqrt(i))}
        if has_bias:
            inputs["bias"] = randn(o)
        case(
            "linear_seq",
            f"x {dims((b, t, i))}, weight {dims((o, i))}, {'bias' if has_bias else 'no bias'}",
            lambda x, weight, bias=None: F.linear(x, weight, bias),
            inputs,
        )


def gen_cross_entropy_seq():
    def ce_case(b, t, v, std, ignored, label):
        logits = randn(b, t, v, std=std)
        targets = randint(0, v, b, t)
        for k in ignored:
            targets.view(-1)[k] = -1
        leaf = logits.clone().requires_grad_(True)
        loss = F.cross_entropy(leaf.view(-1, v), targets.view(-1), ignore_index=-1)
        upstream = torch.tensor(1.0)
        loss.backward(upstream)
        record(
            "cross_entropy_seq",
            f"logits {dims((b, t, v))} (std {std}), {len(ignored)} of {b * t} positions ignored: {label}",
            {"targets": targets.reshape(-1).tolist()},
            {"logits": logits},
            upstream,
            loss,
            {"logits": leaf.grad},
        )

    ce_case(2, 5, 3, 1.0, [0, 3, 7], "scattered")
    ce_case(3, 4, 7, 2.0, [], "none")
    # The sort task: in each sequence of 11 the first 5 targets are ignored.
    ce_case(4, 11, 3, 1.5, [s * 11 + k for s in range(4) for k in range(5)], "the first 5 of every sequence")
    ce_case(2, 3, 5, 30.0, [1], "large logits")
    ce_case(1, 4, 6, 1.0, [0, 1, 2], "one position counted")


def main():
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    gen_embedding()
    gen_add_positions()
    gen_layer_norm()
    gen_linear_seq()
    gen_cross_entropy_seq()
    doc = {
        "generator": f"scripts/golden_seq.py, torch {torch.__version__}, numpy {np.__version__}, seed {SEED}, float32 CPU",
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
