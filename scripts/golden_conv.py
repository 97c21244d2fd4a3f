#!/usr/bin/env python3
"""Generates tests/golden/conv.json: PyTorch reference values for NanoTorch's image primitives
(convolution, pooling, batch normalisation).

Setup (once, from the repository root):

    python3 -m venv .venv && .venv/bin/pip install torch numpy safetensors

Run (from the repository root; rewrites the committed golden file):

    .venv/bin/python scripts/golden_conv.py

Every case runs one primitive in float32 on the CPU under a fixed seed, then calls
`y.backward(upstream)` with a random upstream gradient and records the gradient of every
differentiable input. The Rust test tests/parity_conv.rs replays each case through NanoTorch
and compares output and gradients. The file has the format of tests/golden/primitives.json
(written by scripts/golden.py): `{"generator", "tolerance", "cases": [...]}`, each case
`{"op", "name", "params", "inputs", "upstream", "output", "grads"}`, a tensor being
`{"shape": [sizes], "data": [row-major values]}`.

Ops and their params:

  conv2d              F.conv2d(x, weight, bias, stride, padding, dilation); params stride,
                      padding, dilation; inputs x [B, C, H, W], weight [O, C, K, K] and, when the
                      case has a bias, bias [O] (a case without one has no "bias" anywhere).
  max_pool2d          F.max_pool2d(x, kernel, stride, padding); params kernel, stride, padding.
  avg_pool2d          F.avg_pool2d(x, kernel, stride, padding) (count_include_pad=True,
                      ceil_mode=False); params as max_pool2d.
  global_avg_pool2d   F.adaptive_avg_pool2d(x, 1).flatten(1): [B, C, H, W] -> [B, C].
  batch_norm_train    F.batch_norm(x, running_mean, running_var, weight, bias, training=True,
                      momentum, eps) over [B, C] or [B, C, H, W]; params eps, momentum and the
                      running statistics after each call, running_mean_after and
                      running_var_after, tensors [calls, C] (row k: after call k + 1). A case
                      with several calls has an input x_warmup [calls - 1, ...x's shape]: the
                      inputs of the earlier calls, made with the same module; the output,
                      upstream and gradients belong to the last call (on x).
  batch_norm_eval     The same with training=False: the running statistics (inputs, not
                      changed) normalise; gradients of x, weight and bias.

Numbers are written as the shortest decimal that reads back as the same float32 (checked
below: the decimal read as a double and rounded to float32, as the Rust reader does, gives
the float32 back).

Sizes: every tensor has at most 600 elements, so the file stays small (about 0.2 MB). The
convolutions cover stride 1/2, padding 0/1/2, dilation 1/2, bias on/off, batch 1 and 3,
C_in 1–3, C_out 2–4, kernels 1, 3 and 5, non-square inputs (7×9, 9×7, 8×11) and strided
geometries that leave input rows and columns unread (their gradient is 0). Max pooling has
cases with deliberate ties (small integer values, a constant plane), where PyTorch routes the
gradient to the first maximum in the window's row-major order, and an all-negative input with
padding (padding is −∞, not 0).
"""

import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

SEED = 20240613
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "conv.json")
MAX_ELEMENTS = 600

gen = torch.Generator().manual_seed(SEED)


def randn(*shape, std=1.0):
    return torch.randn(tuple(shape), generator=gen, dtype=torch.float32) * std


def uniform(lo, hi, *shape):
    return torch.rand(tuple(shape), generator=gen, dtype=torch.float32) * (hi - lo) + lo


def randint(lo, hi, *shape):
    """Integer values in [lo, hi) as float32 (many exact ties)."""
    return torch.randint(lo, hi, tuple(shape), generator=gen).to(torch.float32)


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


def gen_conv2d():
    # (B, C, H, W, O, K, stride, padding, dilation, bias)
    configs = [
        (1, 1, 7, 9, 2, 3, 1, 0, 1, True),  # plain valid convolution, non-square
        (3, 3, 5, 7, 4, 3, 1, 1, 1, True),  # "same" padding, batch 3
        (3, 3, 5, 4, 2, 1, 1, 0, 1, False),  # 1×1 kernel (a per-pixel linear map), no bias
        (1, 3, 7, 9, 3, 5, 1, 2, 1, True),  # 5×5 kernel, padding 2
        (3, 1, 7, 9, 4, 3, 2, 1, 1, True),  # stride 2 over odd sizes
        (1, 3, 7, 9, 2, 3, 1, 2, 2, False),  # dilation 2, padding 2 ("same")
        (3, 3, 9, 7, 3, 3, 2, 1, 2, True),  # stride 2 + padding 1 + dilation 2
        (1, 2, 8, 11, 4, 5, 2, 0, 1, False),  # stride 2, last row and columns never read
        (3, 2, 7, 9, 2, 1, 2, 0, 1, True),  # 1×1 kernel, stride 2: skipped pixels get 0
        (1, 1, 5, 5, 2, 5, 1, 0, 1, True),  # kernel as large as the input: 1×1 output
    ]
    for b, c, h, w, o, k, s, p, d, has_bias in configs:
        inputs = {"x": randn(b, c, h, w), "weight": randn(o, c, k, k, std=1.0 / math.sqrt(c * k * k))}
        if has_bias:
            inputs["bias"] = randn(o)
        name = (
            f"x {dims((b, c, h, w))}, weight {dims((o, c, k, k))}, stride {s}, padding {p}, "
            f"dilation {d}, {'bias' if has_bias else 'no bias'}"
        )
        case(
            "conv2d",
            name,
            lambda x, weight, bias=None, s=s, p=p, d=d: F.conv2d(x, weight, bias, stride=s, padding=p, dilation=d),
            inputs,
            {"stride": s, "padding": p, "dilation": d},
        )


def gen_conv2d_direct():
    """Shapes that take conv2d's direct path (C·K·K <= 32 taps, stride 1, rows of 16 or more
    outputs; few rows, to stay within the file's tensor size): LeNet's first layer with a
    ragged block of output channels and rows whose last vector overlaps the one before, and
    rows of exactly one vector. Generated after every
    other case, so adding them left the others' values unchanged."""
    configs = [
        (1, 1, 2, 20, 9, 5, 1, 2, 1, True),  # 1 channel, 5×5, padding 2: 25 taps, 9 channels
        (2, 2, 4, 18, 3, 3, 1, 0, 1, False),  # 2 channels, 3×3: 18 taps, rows of 16
    ]
    for b, c, h, w, o, k, s, p, d, has_bias in configs:
        inputs = {"x": randn(b, c, h, w), "weight": randn(o, c, k, k, std=1.0 / math.sqrt(c * k * k))}
        if has_bias:
            inputs["bias"] = randn(o)
        name = (
            f"x {dims((b, c, h, w))}, weight {dims((o, c, k, k))}, stride {s}, padding {p}, "
            f"dilation {d}, {'bias' if has_bias else 'no bias'} (direct path)"
        )
        case(
            "conv2d",
            name,
            lambda x, weight, bias=None, s=s, p=p, d=d: F.conv2d(x, weight, bias, stride=s, padding=p, dilation=d),
            inputs,
            {"stride": s, "padding": p, "dilation": d},
        )


def pool_case(op, fn, name, x, k, s, p):
    case(
        op,
        f"{name}x {dims(x.shape)}, kernel {k}, stride {s}, padding {p}",
        lambda x: fn(x, k, s, p),
        {"x": x},
        {"kernel": k, "stride": s, "padding": p},
    )


def gen_max_pool2d():
    mp = F.max_pool2d
    pool_case("max_pool2d", mp, "", randn(1, 1, 4, 6), 2, 2, 0)
    pool_case("max_pool2d", mp, "", randn(3, 2, 7, 9), 2, 2, 0)  # last row and column dropped
    pool_case("max_pool2d", mp, "", randn(2, 3, 7, 9), 3, 2, 1)
    pool_case("max_pool2d", mp, "", randn(1, 2, 6, 5), 3, 2, 1)
    pool_case("max_pool2d", mp, "", randn(2, 2, 6, 7), 3, 1, 1)  # overlapping windows
    # Ties: integer values in 0..3, so most windows hold their maximum more than once; the
    # gradient goes to the first maximum in row-major window order. With overlapping windows
    # a pixel can win several windows and gets the sum of their gradients.
    pool_case("max_pool2d", mp, "ties: integers 0..3, ", randint(0, 3, 2, 2, 6, 6), 2, 2, 0)
    pool_case("max_pool2d", mp, "ties: integers 0..3, ", randint(0, 3, 2, 2, 7, 9), 3, 2, 1)
    pool_case("max_pool2d", mp, "ties: integers 0..2, ", randint(0, 2, 1, 2, 5, 6), 3, 1, 1)
    pool_case("max_pool2d", mp, "ties: a constant plane, ", torch.full((1, 1, 5, 5), 1.5), 3, 2, 1)
    # Every value negative: the padding must act as −∞, never as 0.
    pool_case("max_pool2d", mp, "all negative, ", -uniform(0.5, 3.0, 2, 1, 5, 7), 3, 2, 1)


def gen_avg_pool2d():
    ap = F.avg_pool2d
    pool_case("avg_pool2d", ap, "", randn(1, 1, 4, 6), 2, 2, 0)
    pool_case("avg_pool2d", ap, "", randn(3, 2, 7, 9), 2, 2, 0)
    pool_case("avg_pool2d", ap, "", randn(2, 3, 5, 6), 3, 1, 1)  # padding counts as zeros
    pool_case("avg_pool2d", ap, "", randn(1, 2, 7, 9), 3, 2, 1)


def gen_global_avg_pool2d():
    for shape in [(1, 3, 5, 5), (3, 2, 7, 9), (2, 2, 1, 1), (2, 1, 3, 8)]:
        case(
            "global_avg_pool2d",
            f"x {dims(shape)}",
            lambda x: F.adaptive_avg_pool2d(x, 1).flatten(1),
            {"x": randn(*shape, std=2.0)},
        )


def gen_batch_norm():
    def bn_case(shape, calls, eps, momentum, label=""):
        c = shape[1]
        # Inputs with a per-channel offset and scale, so normalising does something.
        def sample():
            bshape = (1, c) + (1,) * (len(shape) - 2)
            return randn(*shape) * uniform(0.5, 3.0, *bshape) + randn(*bshape, std=2.0)

        xs = [sample() for _ in range(calls)]
        weight, bias = randn(c, std=1.0) + 1.0, randn(c, std=0.5)
        running_mean, running_var = randn(c), uniform(0.5, 2.0, c)
        rm, rv = running_mean.clone(), running_var.clone()
        means, vars_ = [], []
        for x in xs[:-1]:
            F.batch_norm(x, rm, rv, weight, bias, training=True, momentum=momentum, eps=eps)
            means.append(rm.clone())
            vars_.append(rv.clone())
        x = xs[-1].clone().requires_grad_(True)
        w = weight.clone().requires_grad_(True)
        b = bias.clone().requires_grad_(True)
        y = F.batch_norm(x, rm, rv, w, b, training=True, momentum=momentum, eps=eps)
        means.append(rm.clone())
        vars_.append(rv.clone())
        upstream = randn(*y.shape)
        y.backward(upstream)
        inputs = {"x": xs[-1], "weight": weight, "bias": bias, "running_mean": running_mean, "running_var": running_var}
        if calls > 1:
            inputs["x_warmup"] = torch.stack(xs[:-1])
        params = {
            "eps": eps,
            "momentum": momentum,
            "running_mean_after": encode(torch.stack(means)),
            "running_var_after": encode(torch.stack(vars_)),
        }
        name = f"{label}x {dims(shape)}" + (f", {calls} calls" if calls > 1 else "") + f", eps {eps}, momentum {momentum}"
        record("batch_norm_train", name, params, inputs, upstream, y, {"x": x.grad, "weight": w.grad, "bias": b.grad})

    bn_case((5, 3), 1, 1e-5, 0.1, "1-d ")
    bn_case((2, 3, 4, 5), 1, 1e-5, 0.1, "2-d ")
    bn_case((2, 3), 1, 1e-3, 0.3, "1-d, batch 2 (unbiased factor 2), ")
    bn_case((1, 3, 4, 5), 1, 1e-3, 0.25, "2-d, batch 1, ")
    bn_case((4, 3), 3, 1e-5, 0.1, "1-d ")
    bn_case((2, 3, 3, 3), 3, 1e-5, 0.2, "2-d ")

    for shape in [(5, 3), (1, 3), (2, 3, 4, 5), (1, 2, 3, 3)]:
        c = shape[1]
        bshape = (1, c) + (1,) * (len(shape) - 2)
        x = randn(*shape) * 1.5 + randn(*bshape)
        eps = 1e-5
        case(
            "batch_norm_eval",
            f"{'1-d' if len(shape) == 2 else '2-d'} x {dims(shape)}, eps {eps}",
            lambda x, weight, bias, running_mean, running_var: F.batch_norm(
                x, running_mean.detach(), running_var.detach(), weight, bias, training=False, eps=eps
            ),
            {
                "x": x,
                "weight": randn(c) + 1.0,
                "bias": randn(c, std=0.5),
                "running_mean": randn(c),
                "running_var": uniform(0.5, 2.0, c),
            },
            {"eps": eps, "momentum": 0.1},
        )
    # The running statistics are constants in eval mode: no gradients for them.
    for c in CASES:
        if c["op"] == "batch_norm_eval":
            del c["grads"]["running_mean"], c["grads"]["running_var"]


def main():
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    gen_conv2d()
    gen_max_pool2d()
    gen_avg_pool2d()
    gen_global_avg_pool2d()
    gen_batch_norm()
    gen_conv2d_direct()
    doc = {
        "generator": f"scripts/golden_conv.py, torch {torch.__version__}, numpy {np.__version__}, seed {SEED}, float32 CPU",
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
