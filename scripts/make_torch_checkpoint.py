"""Golden files for NanoTorch's checkpoint interop with PyTorch.

Run from the repository root with the project's Python (torch + safetensors):

    python scripts/make_torch_checkpoint.py

Writes
  tests/golden/torch_mlp.safetensors   the state_dict of a seeded two-layer MLP
                                       (fc1 = Linear(4, 8), fc2 = Linear(8, 3)), saved with
                                       safetensors.torch.save_file
  tests/golden/torch_mlp_outputs.json  a fixed input batch and the model's outputs
                                       fc2(relu(fc1(x))), computed by PyTorch in float32

The Rust test tests/checkpoint_torch.rs loads the file into two nanotorch::Linear layers and
checks the outputs. It also writes target/nanotorch_mlp.safetensors (the same model saved by
NanoTorch); if that file exists, this script loads it back into a fresh torch module with
load_state_dict(strict=True) and checks that the weights and outputs agree — the reverse
direction. The Rust tests never need Python.
"""

import json
import pathlib
import sys

import torch
from safetensors.torch import load_file, save_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
NANOTORCH_SAVED = ROOT / "target" / "nanotorch_mlp.safetensors"


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 8)
        self.fc2 = torch.nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def main():
    torch.manual_seed(1234)
    model = MLP()
    # A batch of 5 samples with values of both signs, so some ReLUs are off.
    x = torch.randn(5, 4, dtype=torch.float32) * 2.0
    with torch.no_grad():
        y = model(x)

    GOLDEN.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(GOLDEN / "torch_mlp.safetensors"))
    out = {
        "torch_version": torch.__version__,
        "seed": 1234,
        "forward": "fc2(relu(fc1(x)))",
        "input_shape": list(x.shape),
        "input": x.flatten().tolist(),
        "output_shape": list(y.shape),
        "output": y.flatten().tolist(),
        "state_dict": {k: list(v.shape) for k, v in state.items()},
    }
    (GOLDEN / "torch_mlp_outputs.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {GOLDEN / 'torch_mlp.safetensors'} and torch_mlp_outputs.json")

    if NANOTORCH_SAVED.exists():
        back = MLP()
        back.load_state_dict(load_file(str(NANOTORCH_SAVED)), strict=True)
        for name, p in model.state_dict().items():
            if not torch.equal(p, back.state_dict()[name]):
                sys.exit(f"reverse check FAILED: {name} differs after the NanoTorch round trip")
        with torch.no_grad():
            if not torch.equal(back(x), y):
                sys.exit("reverse check FAILED: outputs differ")
        print(f"reverse check ok: {NANOTORCH_SAVED} loads into torch with strict=True")
    else:
        print(f"(no {NANOTORCH_SAVED}; run `cargo test --test checkpoint_torch` for the reverse check)")


if __name__ == "__main__":
    main()
