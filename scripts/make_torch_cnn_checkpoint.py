"""Golden files for loading a PyTorch CNN — with BatchNorm's running statistics — into NanoTorch.

Run from the repository root with the project's Python (torch + safetensors):

    python scripts/make_torch_cnn_checkpoint.py

Writes
  tests/golden/torch_cnn.safetensors   the state_dict of a seeded small CNN after 3 training
                                       steps (so BatchNorm's running_mean, running_var and
                                       num_batches_tracked = 3 are not their initial values),
                                       saved with safetensors.torch.save_file
  tests/golden/torch_cnn_outputs.json  a fixed batch, the model's outputs in eval mode (running
                                       statistics) and in train mode (batch statistics), in
                                       float32, and the state-dict names, shapes and dtypes;
                                       from the saved state: a cross-entropy loss, every
                                       parameter gradient and the input gradient, then 3 SGD
                                       momentum steps and the whole state dict after them
                                       (parameters and running statistics)

The network (the same one is declared with `network!` in tests/checkpoint_torch_cnn.rs):
conv1 = Conv2d(1, 4, 3, padding=1) → bn1 = BatchNorm2d(4) → relu → max_pool2d(2) →
conv2 = Conv2d(4, 6, 3) → bn2 = BatchNorm2d(6) → relu → flatten (6·2·2 = 24) →
fc = Linear(24, 5). The Rust test loads the file with nanotorch::checkpoint::load and compares
both outputs; it also saves the model back to target/nanotorch_cnn.safetensors, which this
script (if the file exists) loads into a fresh torch module with load_state_dict(strict=True)
and checks value by value, counter included — the reverse direction.
"""

import json
import pathlib
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
NANOTORCH_SAVED = ROOT / "target" / "nanotorch_cnn.safetensors"


class Cnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(4)
        self.conv2 = torch.nn.Conv2d(4, 6, 3)
        self.bn2 = torch.nn.BatchNorm2d(6)
        self.fc = torch.nn.Linear(24, 5)

    def forward(self, x):
        h = F.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        h = torch.relu(self.bn2(self.conv2(h)))
        return self.fc(h.flatten(1))


def main():
    torch.manual_seed(2024)
    model = Cnn()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train()
    for _ in range(3):
        xb = torch.randn(6, 1, 8, 8) * 1.5 + 0.3
        yb = torch.randint(0, 5, (6,))
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
    x = torch.randn(4, 1, 8, 8, dtype=torch.float32)
    with torch.no_grad():
        model.eval()
        y_eval = model(x)
        model.train()
        # A train-mode forward updates the running statistics: save the state before it.
        state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
        y_train = model(x)

    # Training parity from the saved state: the loss, every parameter's gradient and the
    # input's on one batch, then 3 SGD steps (lr 0.05, momentum 0.9) on fixed batches, after
    # which the parameters and the running statistics are recorded.
    model.load_state_dict(state)
    model.train()
    labels = torch.tensor([0, 3, 1, 4], dtype=torch.long)
    xg = x.clone().requires_grad_(True)
    loss = F.cross_entropy(model(xg), labels)
    model.zero_grad()
    loss.backward()
    grads = {n: p.grad.flatten().tolist() for n, p in model.named_parameters()}
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    steps = []
    for k in range(3):
        xb = torch.randn(5, 1, 8, 8) * 1.2 - 0.1
        yb = torch.randint(0, 5, (5,))
        opt.zero_grad()
        step_loss = F.cross_entropy(model(xb), yb)
        step_loss.backward()
        opt.step()
        steps.append({"input": xb.flatten().tolist(), "labels": yb.tolist(), "loss": step_loss.item()})
    after = {k: v.detach().flatten().tolist() for k, v in model.state_dict().items()}

    GOLDEN.mkdir(parents=True, exist_ok=True)
    save_file(state, str(GOLDEN / "torch_cnn.safetensors"))
    out = {
        "torch_version": torch.__version__,
        "seed": 2024,
        "input_shape": list(x.shape),
        "input": x.flatten().tolist(),
        "output_shape": list(y_eval.shape),
        "eval_output": y_eval.flatten().tolist(),
        "train_output": y_train.flatten().tolist(),
        "state_dict": {k: [list(v.shape), str(v.dtype)] for k, v in state.items()},
        "labels": labels.tolist(),
        "loss": loss.item(),
        "grads": grads,
        "input_grad": xg.grad.flatten().tolist(),
        "steps": steps,
        "after_steps": after,
    }
    (GOLDEN / "torch_cnn_outputs.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {GOLDEN / 'torch_cnn.safetensors'} and torch_cnn_outputs.json")

    if NANOTORCH_SAVED.exists():
        back = Cnn()
        back.load_state_dict(load_file(str(NANOTORCH_SAVED)), strict=True)
        for name, v in state.items():
            if not torch.equal(v, back.state_dict()[name]):
                sys.exit(f"reverse check FAILED: {name} differs after the NanoTorch round trip")
        back.eval()
        with torch.no_grad():
            if not torch.allclose(back(x), y_eval, rtol=0, atol=0):
                sys.exit("reverse check FAILED: eval outputs differ")
        print(f"reverse check ok: {NANOTORCH_SAVED} loads into torch with strict=True")
    else:
        print(f"(no {NANOTORCH_SAVED}; run `cargo test --test checkpoint_torch_cnn` for the reverse check)")


if __name__ == "__main__":
    main()
