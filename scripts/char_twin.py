"""What the PyTorch twins of the character models (char_gpt_torch.py, char_lstm_torch.py)
share: the command line, the text and its vocabulary, and the learning-rate schedule."""

import argparse
import gzip
import math
import os

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SHAKESPEARE = os.path.join(ROOT, "nanotorch", "data", "shakespeare", "tragedies.txt.gz")


def setup(description, vocab):
    """Parses --threads, --steps, --seed and --text; pins the threads and seeds torch; reads
    the text (the shipped one by default) and returns (args, chars, data, split): the sorted
    distinct characters, the text as ids and the training part's length (the first 90 %)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--text", default=None, help="a UTF-8 text file (default: the shipped one)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)
    if args.text:
        with open(args.text, encoding="utf-8") as f:
            text = f.read()
    else:
        with gzip.open(SHAKESPEARE, "rt", encoding="utf-8") as f:
            text = f.read()
    chars = sorted(set(text))
    assert len(chars) <= vocab, f"{len(chars)} distinct characters, more than {vocab}"
    stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    return args, chars, data, len(data) * 9 // 10


def lr_at(step, steps, lr, min_lr, warmup):
    """nanoGPT's get_lr: linear warm-up, then a cosine from lr down to min_lr at the last step."""
    if step < warmup:
        return lr * (step + 1) / (warmup + 1)
    ratio = min(1.0, (step - warmup) / max(1, steps - warmup))
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)
