#!/usr/bin/env python3
"""Generates tests/golden/primitives.json: PyTorch reference values for NanoTorch's primitives.

Setup (once, from the repository root):

    python3 -m venv .venv && .venv/bin/pip install torch numpy safetensors

Run (from the repository root; rewrites the committed golden file):

    .venv/bin/python scripts/golden.py

Every case runs one primitive in float32 on the CPU under a fixed seed, then calls
`y.backward(upstream)` with a random upstream gradient and records the gradient of every input
and parameter. The Rust test tests/parity_primitives.rs replays each case through NanoTorch and
compares output and gradients.

Numbers are written as the shortest decimal that reads back as the same float32 (the `repr` of
the float32 converted to a Python float), so no precision is lost on either side.

Shapes: the Rust test has to name each shape as a type, so feature sizes come from a small fixed
set (1 to 5, 12) while the batch (the first axis, a runtime `Dyn` dim in Rust) varies and always
includes 1. Every tensor has at most 60 elements.

Not covered: dropout. Its mask comes from a random generator, and PyTorch's and NanoTorch's
generators draw different masks from the same seed, so there is nothing to compare; its
gradient (mask ⊙ dy / (1 − p)) is covered by the finite-difference checks instead.
"""

import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

SEED = 20240611
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "primitives.json")
MAX_ELEMENTS = 60

gen = torch.Generator().manual_seed(SEED)


def f32(v):
    """A Python number rounded to float32, returned as a float (exactly representable)."""
    return float(np.float32(v))


def randn(*shape, std=1.0):
    return torch.randn(tuple(shape), generator=gen, dtype=torch.float32) * std


def uniform(lo, hi, *shape):
    return torch.rand(tuple(shape), generator=gen, dtype=torch.float32) * (hi - lo) + lo


def encode(t):
    t = t.detach().to(torch.float32).contiguous()
    assert t.numel() <= MAX_ELEMENTS, f"tensor of {t.numel()} elements is too big for the golden file"
    data = t.reshape(-1).tolist()
    assert all(math.isfinite(v) for v in data), f"non-finite value in {data}"
    # .tolist() of a float32 tensor gives the exact float32 values as Python floats; repr of those
    # is the shortest round-tripping decimal.
    return {"shape": list(t.shape), "data": [f32(v) for v in data]}


CASES = []


def case(op, name, fn, inputs, params=None):
    """Runs `fn(*inputs)` (in order) with autograd, backpropagates a random upstream gradient, records all."""
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in inputs.items()}
    y = fn(*leaves.values())
    upstream = randn(*y.shape)
    y.backward(upstream)
    grads = {}
    for k, v in leaves.items():
        g = v.grad if v.grad is not None else torch.zeros_like(v)
        grads[k] = encode(g)
    CASES.append(
        {
            "op": op,
            "name": name,
            "params": params or {},
            "inputs": {k: encode(v) for k, v in inputs.items()},
            "upstream": encode(upstream),
            "output": encode(y),
            "grads": grads,
        }
    )


def shape_name(shape):
    return "[" + ", ".join(str(d) for d in shape) + "]"


# Shapes elementwise ops run over: rank 2 with batch 1 and 7, rank 3 with batch 2.
ELEMENTWISE_SHAPES = [(1, 4), (7, 4), (2, 3, 4)]


def gen_matmul():
    for m, k, n in [(1, 4, 3), (2, 4, 3), (7, 4, 3), (3, 5, 2)]:
        case("matmul", f"[{m}, {k}]·[{k}, {n}]", lambda a, b: a @ b, {"a": randn(m, k), "b": randn(k, n)})


def gen_linear():
    for b, i, o in [(1, 5, 3), (2, 5, 3), (7, 5, 3), (3, 4, 2)]:
        case(
            "linear",
            f"x [{b}, {i}], weight [{o}, {i}], bias [{o}]",
            lambda x, weight, bias: F.linear(x, weight, bias),
            {"x": randn(b, i), "weight": randn(o, i), "bias": randn(o)},
        )


def gen_binary():
    for shape in ELEMENTWISE_SHAPES:
        for op, fn in [("add", torch.add), ("sub", torch.sub), ("mul", torch.mul)]:
            case(op, shape_name(shape), lambda a, b, fn=fn: fn(a, b), {"a": randn(*shape), "b": randn(*shape)})
    case("neg", "[2, 4]", lambda x: -x, {"x": randn(2, 4)})


def gen_scale():
    # c is rounded to float32 first, so PyTorch and NanoTorch multiply by the same number.
    for shape, c_text in [((1, 4), "0.5"), ((7, 4), "-1.25"), ((2, 3, 4), "0.3")]:
        c = f32(c_text)
        case("scale", f"{shape_name(shape)} times {c_text}", lambda x, c=c: x * c, {"x": randn(*shape)}, {"c": c})


def gen_bias():
    for b, n in [(1, 4), (2, 4), (7, 4), (3, 5)]:
        case("add_bias", f"x [{b}, {n}] + bias [{n}]", lambda x, bias: x + bias, {"x": randn(b, n), "bias": randn(n)})


def with_specials(x, specials):
    """Writes `specials` into the first elements of `x` (row-major)."""
    flat = x.reshape(-1).clone()
    flat[: len(specials)] = torch.tensor(specials, dtype=torch.float32)
    return flat.reshape(x.shape)


def gen_activations():
    for shape in ELEMENTWISE_SHAPES:
        # An exact 0 checks the convention at the kink (PyTorch: derivative 0 for relu,
        # slope for leaky_relu, since both test x > 0).
        x = with_specials(randn(*shape, std=2.0), [0.0])
        case("relu", shape_name(shape), F.relu, {"x": x})
        for slope_text in ("0.01", "0.2"):
            slope = f32(slope_text)
            case(
                "leaky_relu",
                f"{shape_name(shape)} slope {slope_text}",
                lambda x, slope=slope: F.leaky_relu(x, slope),
                {"x": x},
                {"slope": slope},
            )
        xs = with_specials(randn(*shape, std=3.0), [20.0, -20.0, 100.0, -100.0])
        case("sigmoid", f"{shape_name(shape)} with ±20, ±100", torch.sigmoid, {"x": xs})
        xt = with_specials(randn(*shape, std=2.0), [10.0, -10.0])
        case("tanh", f"{shape_name(shape)} with ±10", torch.tanh, {"x": xt})
        xg = randn(*shape, std=1.5)
        case("gelu", shape_name(shape), lambda x: F.gelu(x, approximate="none"), {"x": xg})
        case("gelu_tanh", shape_name(shape), lambda x: F.gelu(x, approximate="tanh"), {"x": xg})
        case("exp", shape_name(shape), torch.exp, {"x": uniform(-3.0, 3.0, *shape)})
        case("log", f"{shape_name(shape)} positive", torch.log, {"x": uniform(0.05, 5.0, *shape)})


def gen_softmax():
    huge_row = [1e4, 9999.0, -1e4, 0.0, 2.0]
    inputs = [
        ("[1, 5]", randn(1, 5, std=2.0)),
        ("[3, 5] with a ±1e4 row", with_specials(randn(3, 5, std=2.0), huge_row)),
        ("[2, 3, 4]", randn(2, 3, 4, std=2.0)),
        ("[2, 3, 4] with a ±1e4 row", with_specials(randn(2, 3, 4, std=2.0), huge_row[1:])),
    ]
    for name, x in inputs:
        case("softmax", name, lambda x: torch.softmax(x, dim=-1), {"x": x})
        case("log_softmax", name, lambda x: torch.log_softmax(x, dim=-1), {"x": x})


def gen_reductions():
    for b in (1, 2, 4):
        shape = (b, 3, 4)
        x = randn(*shape)
        case("sum_all", shape_name(shape), lambda x: x.sum(), {"x": x})
        case("mean_all", shape_name(shape), lambda x: x.mean(), {"x": x})
        for axis in range(3):
            case(
                "sum_axis",
                f"{shape_name(shape)} axis {axis}",
                lambda x, axis=axis: x.sum(dim=axis),
                {"x": x},
                {"axis": axis},
            )
            case(
                "mean_axis",
                f"{shape_name(shape)} axis {axis}",
                lambda x, axis=axis: x.mean(dim=axis),
                {"x": x},
                {"axis": axis},
            )


def gen_shape_ops():
    for b in (1, 2, 4):
        for chw in [(2, 3, 2), (1, 2, 5)]:
            shape = (b, *chw)
            case("flatten", f"{shape_name(shape)} to [B, C·H·W]", lambda x: torch.flatten(x, 1), {"x": randn(*shape)})
    for src, dst in [((1, 12), (1, 3, 4)), ((2, 12), (2, 3, 4)), ((2, 3, 4), (2, 12)), ((4, 2, 3, 2), (4, 3, 4))]:
        case(
            "reshape",
            f"{shape_name(src)} to {shape_name(dst)}",
            lambda x, dst=dst: x.reshape(dst),
            {"x": randn(*src)},
            {"to": list(dst)},
        )
    for b, n_a, n_b in [(1, 3, 2), (4, 3, 2), (2, 4, 1)]:
        case(
            "concat",
            f"[{b}, {n_a}] ++ [{b}, {n_b}]",
            lambda a, b: torch.cat([a, b], dim=-1),
            {"a": randn(b, n_a), "b": randn(b, n_b)},
        )


def main():
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    gen_matmul()
    gen_linear()
    gen_binary()
    gen_scale()
    gen_bias()
    gen_activations()
    gen_softmax()
    gen_reductions()
    gen_shape_ops()
    doc = {
        "generator": f"scripts/golden.py, torch {torch.__version__}, numpy {np.__version__}, seed {SEED}, float32 CPU",
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
    ops = sorted({c["op"] for c in CASES})
    print(f"wrote {len(CASES)} cases over {len(ops)} ops ({os.path.getsize(OUT)} bytes): {', '.join(ops)}")


if __name__ == "__main__":
    main()
