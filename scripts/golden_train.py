#!/usr/bin/env python3
"""Golden values from PyTorch for NanoTorch's losses and optimizers.

Writes (float32 throughout, numbers in their shortest round-trip form):
  tests/golden/losses.json  loss value and gradient of each loss and reduction on fixed inputs
  tests/golden/optim.json   20-step optimizer trajectories, learning-rate schedules and
                            gradient clipping

Setup and run (from the repository root; needs torch and numpy):
  python3 -m venv .venv && .venv/bin/pip install torch numpy
  .venv/bin/python scripts/golden_train.py

The Rust tests (tests/parity_losses.rs, tests/parity_optim.rs) read the JSON files only; they
never run Python.

Optimizer trajectories record, at every step, the gradient torch fed the optimizer and the
parameters after the step. The Rust test writes the same gradients into its parameters and
steps its own optimizer, so it compares the update rule alone: the loss and its gradient play
no part there, and a small difference cannot feed back through the gradient.
"""

import json
import os

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "golden")
STEPS = 20


def f32(t):
    """A tensor's elements, flattened row-major, as the shortest decimals that round-trip f32."""
    return [float(str(np.float32(v))) for v in t.detach().to(torch.float32).reshape(-1).tolist()]


def f32_scalar(t):
    return f32(t.reshape(1))[0]


# ---------------------------------------------------------------- losses

def loss_cases():
    g = torch.Generator().manual_seed(1234)
    cases = []

    def add(name, loss, reduction, x, target, fn, **extra):
        x = x.clone().to(torch.float32).requires_grad_(True)
        value = fn(x, target, reduction=reduction)
        value.backward()
        case = {
            "name": f"{name}_{reduction}",
            "loss": loss,
            "reduction": reduction,
            "input_shape": list(x.shape),
            "input": f32(x),
        }
        if target.dtype == torch.int64:
            case["targets"] = target.tolist()
        else:
            case["target"] = f32(target)
        case["loss_value"] = f32_scalar(value)
        case["grad"] = f32(x.grad)
        case.update(extra)
        cases.append(case)

    pred = torch.randn(3, 4, generator=g)
    target = torch.randn(3, 4, generator=g)
    logits = 2.0 * torch.randn(4, 5, generator=g)
    classes = torch.tensor([1, 0, 4, 2])
    large = torch.tensor([[1e4, -1e4, 0.0, 5.0],
                          [-1e4, -1e4, 1e4, 1e4],
                          [3.0, -1e4, 2.0, 1e4]])
    large_classes = torch.tensor([1, 3, 0])
    log_probs = F.log_softmax(torch.randn(4, 5, generator=g), dim=1)
    bce_logits = 3.0 * torch.randn(3, 4, generator=g)
    bce_logits[0, 0], bce_logits[1, 1], bce_logits[2, 2] = 40.0, -40.0, 1e4
    bce_target = torch.rand(3, 4, generator=g)
    bce_target[0, :2] = torch.tensor([0.0, 1.0])
    bce_target[1, :2] = torch.tensor([1.0, 0.0])

    for reduction in ("mean", "sum"):
        add("mse", "mse", reduction, pred, target, F.mse_loss)
        add("cross_entropy", "cross_entropy", reduction, logits, classes, F.cross_entropy)
        add("cross_entropy_large", "cross_entropy", reduction, large, large_classes,
            F.cross_entropy)
        add("nll", "nll", reduction, log_probs, classes, F.nll_loss)
        add("bce_with_logits", "bce_with_logits", reduction, bce_logits, bce_target,
            F.binary_cross_entropy_with_logits)
    return cases


# ---------------------------------------------------------------- optimizers

# (case name, torch class, key in JSON, keyword arguments; unlisted ones are torch's defaults)
OPTIMIZERS = [
    ("sgd_plain", torch.optim.SGD, "sgd", {"lr": 0.1}),
    ("sgd_momentum_dampening", torch.optim.SGD, "sgd",
     {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
    ("sgd_nesterov_weight_decay", torch.optim.SGD, "sgd",
     {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.05}),
    ("adam_default", torch.optim.Adam, "adam", {}),
    ("adam", torch.optim.Adam, "adam", {"lr": 0.05}),
    ("adam_weight_decay", torch.optim.Adam, "adam", {"lr": 0.05, "weight_decay": 0.1}),
    ("adam_amsgrad", torch.optim.Adam, "adam",
     {"lr": 0.05, "betas": (0.8, 0.9), "eps": 1e-6, "amsgrad": True}),
    ("adamw_default", torch.optim.AdamW, "adamw", {}),
    ("adamw", torch.optim.AdamW, "adamw", {"lr": 0.05, "weight_decay": 0.2}),
    ("rmsprop_plain", torch.optim.RMSprop, "rmsprop", {}),
    ("rmsprop_centered_momentum", torch.optim.RMSprop, "rmsprop",
     {"lr": 0.01, "momentum": 0.9, "centered": True}),
    ("rmsprop_weight_decay", torch.optim.RMSprop, "rmsprop",
     {"lr": 0.02, "alpha": 0.9, "eps": 1e-6, "weight_decay": 0.1}),
]


def regression_problem():
    """A fixed linear regression y = x·W + b with W [3, 4], b [4]: the parameters and data."""
    g = torch.Generator().manual_seed(99)
    weight = torch.randn(3, 4, generator=g)
    bias = torch.randn(4, generator=g)
    x = torch.randn(8, 3, generator=g)
    y = torch.randn(8, 4, generator=g)
    return weight, bias, x, y


def trajectory(cls, kwargs, problem):
    weight0, bias0, x, y = problem
    weight = weight0.clone().requires_grad_(True)
    bias = bias0.clone().requires_grad_(True)
    opt = cls([weight, bias], **kwargs)
    steps = []
    for _ in range(STEPS):
        opt.zero_grad()
        # A squared error plus a quartic term, so the gradients do not shrink geometrically.
        residual = x @ weight + bias - y
        loss = (residual ** 2).mean() + 0.1 * (weight ** 4).sum()
        loss.backward()
        grads = [f32(weight.grad), f32(bias.grad)]
        opt.step()
        steps.append({"grads": grads, "params": [f32(weight), f32(bias)]})
    return steps


def schedules():
    cases = []
    specs = [
        ("step_lr", "step_lr", torch.optim.lr_scheduler.StepLR,
         {"step_size": 3, "gamma": 0.5}, {"step_size": 3, "gamma": 0.5}, 20),
        ("cosine_annealing", "cosine_annealing_lr", torch.optim.lr_scheduler.CosineAnnealingLR,
         {"T_max": 10, "eta_min": 0.001}, {"t_max": 10, "eta_min": 0.001}, 25),
        ("cosine_annealing_default_eta_min", "cosine_annealing_lr",
         torch.optim.lr_scheduler.CosineAnnealingLR, {"T_max": 7}, {"t_max": 7}, 20),
    ]
    for name, kind, cls, torch_kwargs, json_kwargs, epochs in specs:
        base_lr = 0.1
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr)
        sched = cls(opt, **torch_kwargs)
        lrs = []
        for _ in range(epochs):
            opt.step()
            sched.step()
            lrs.append(opt.param_groups[0]["lr"])
        cases.append({"name": name, "scheduler": kind, "base_lr": base_lr,
                      "kwargs": json_kwargs, "lrs": lrs})
    return cases


def clip_cases():
    g = torch.Generator().manual_seed(7)
    cases = []
    for name, max_norm, scale in [("clip_active", 1.0, 3.0), ("clip_inactive", 100.0, 3.0),
                                  ("clip_zero_grads", 1.0, 0.0)]:
        weight = torch.zeros(3, 4, requires_grad=True)
        bias = torch.zeros(4, requires_grad=True)
        weight.grad = scale * torch.randn(3, 4, generator=g)
        bias.grad = scale * torch.randn(4, generator=g)
        grads = [f32(weight.grad), f32(bias.grad)]
        norm = torch.nn.utils.clip_grad_norm_([weight, bias], max_norm)
        cases.append({"name": name, "max_norm": max_norm, "grads": grads,
                      "total_norm": f32_scalar(norm),
                      "clipped": [f32(weight.grad), f32(bias.grad)]})
    return cases


def main():
    torch.set_default_dtype(torch.float32)
    os.makedirs(OUT, exist_ok=True)
    header = {"generator": "scripts/golden_train.py", "torch": torch.__version__}

    losses = dict(header, cases=loss_cases())
    with open(os.path.join(OUT, "losses.json"), "w") as f:
        json.dump(losses, f, separators=(",", ":"))
        f.write("\n")

    problem = regression_problem()
    optim = dict(
        header,
        steps=STEPS,
        param_shapes=[[3, 4], [4]],
        params_init=[f32(problem[0]), f32(problem[1])],
        optimizers=[{"name": name, "optimizer": key,
                     "kwargs": {k: list(v) if isinstance(v, tuple) else v
                                for k, v in kwargs.items()},
                     "trajectory": trajectory(cls, kwargs, problem)}
                    for name, cls, key, kwargs in OPTIMIZERS],
        schedulers=schedules(),
        clip=clip_cases(),
    )
    with open(os.path.join(OUT, "optim.json"), "w") as f:
        json.dump(optim, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
