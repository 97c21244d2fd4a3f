#!/usr/bin/env python3
"""The PyTorch twin of examples/char_gpt.rs: the same character-level GPT, data, split, batch,
optimizer, schedule and evaluation, written as a PyTorch user would, to compare the validation
loss and the time per step.

Run from the repository root (PyTorch in .venv):

    .venv/bin/python scripts/char_gpt_torch.py --threads 1
    .venv/bin/python scripts/char_gpt_torch.py --threads 2

and compare with

    NANOTORCH_NUM_THREADS=1 cargo run --release --example char_gpt
    NANOTORCH_NUM_THREADS=2 cargo run --release --example char_gpt

What is the same as the Rust example:

  data      nanotorch/data/shakespeare/tragedies.txt.gz (or --text FILE), vocabulary
            sorted(set(text)), the first len·9//10 characters train, the rest validate
  model     wte Embedding(73, 128) + wpe Embedding(64, 128); 4 pre-norm blocks (LayerNorm,
            causal self-attention with separate key/query/value/proj Linear(128, 128), 4 heads;
            LayerNorm, Linear(128, 512), GELU (tanh), Linear(512, 128)); LayerNorm; Linear(128,
            73). PyTorch's default initialisation (NanoTorch's is the same distributions).
  training  2,000 steps of 12 random windows of 64 characters; AdamW lr 1e-3, betas
            (0.9, 0.99), eps 1e-8, weight decay 0.1 on the parameters of 2 or more dimensions
            only (nanoGPT's two groups); lr warm-up (it + 1)/(101)·1e-3 for 100 steps, then
            cosine to 1e-4 at step 2,000 (nanoGPT's get_lr); clip_grad_norm_ 1.0
  eval      every 250 steps, the mean loss on 240 windows at evenly spaced starts
            k·(len − 65)//239 of the validation part; at the end on every non-overlapping
            window (starts 0, 64, 128, ...). Every position counts.

What differs: the random windows (torch's generator, not NanoTorch's ChaCha8) and the initial
weights (torch's generator), so the two runs are two seeds of the same experiment. The time per
step is the training loop only (evaluations excluded), as the Rust example reports it.
"""

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

import char_twin

VOCAB, CONTEXT, WIDTH, HEADS, LAYERS = 73, 64, 128, 4, 4
BATCH, LR, MIN_LR, WARMUP = 12, 1e-3, 1e-4, 100
EVAL_EVERY, EVAL_BATCHES = 250, 20


class CausalSelfAttention(nn.Module):
    """minGPT's original layout: separate key/query/value/proj, no dropout."""

    def __init__(self, c, heads):
        super().__init__()
        self.key, self.query, self.value = nn.Linear(c, c), nn.Linear(c, c), nn.Linear(c, c)
        self.proj = nn.Linear(c, c)
        self.heads = heads
        self.register_buffer("mask", torch.ones(CONTEXT, CONTEXT, dtype=torch.bool).tril())

    def forward(self, x):
        b, t, c = x.shape
        h = self.heads
        k = self.key(x).view(b, t, h, c // h).transpose(1, 2)
        q = self.query(x).view(b, t, h, c // h).transpose(1, 2)
        v = self.value(x).view(b, t, h, c // h).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(c // h))
        att = att.masked_fill(~self.mask[:t, :t], float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, c)
        return self.proj(y)


class Block(nn.Module):
    def __init__(self, c, heads):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(c), CausalSelfAttention(c, heads)
        self.ln2, self.fc, self.proj = nn.LayerNorm(c), nn.Linear(c, 4 * c), nn.Linear(4 * c, c)

    def forward(self, x):
        h = x + self.attn(self.ln1(x))
        return h + self.proj(F.gelu(self.fc(self.ln2(h)), approximate="tanh"))


class CharGpt(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(VOCAB, WIDTH), nn.Embedding(CONTEXT, WIDTH)
        self.h = nn.ModuleList([Block(WIDTH, HEADS) for _ in range(4)])
        self.ln_f, self.head = nn.LayerNorm(WIDTH), nn.Linear(WIDTH, VOCAB)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.h:
            x = block(x)
        return self.head(self.ln_f(x))


def lr_at(step, steps):
    return char_twin.lr_at(step, steps, LR, MIN_LR, WARMUP)


@torch.no_grad()
def loss_on(net, data, starts):
    total, count = 0.0, 0
    for i in range(0, len(starts), BATCH):
        chunk = torch.tensor(starts[i : i + BATCH])
        offsets = torch.arange(CONTEXT)
        x = data[chunk[:, None] + offsets]
        y = data[chunk[:, None] + offsets + 1]
        logits = net(x)
        loss = F.cross_entropy(logits.view(-1, VOCAB), y.view(-1))
        total += loss.item() * y.numel()
        count += y.numel()
    return total / count


def main():
    args, chars, data, split = char_twin.setup(__doc__.split("\n\n")[0], VOCAB)
    train, val = data[:split], data[split:]
    print(f"char_gpt_torch: {len(data)} characters, {len(chars)} distinct; "
          f"train {len(train)} / validation {len(val)}")

    net = CharGpt()
    decay = [p for p in net.parameters() if p.dim() >= 2]
    no_decay = [p for p in net.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=LR, betas=(0.9, 0.99), eps=1e-8)
    print(f"a {sum(p.numel() for p in net.parameters())}-parameter GPT (4 layers, 4 heads, "
          f"128 wide, context {CONTEXT}), batch {BATCH}, {args.steps} AdamW steps, "
          f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")

    windows = EVAL_BATCHES * BATCH
    last = len(val) - CONTEXT - 1
    starts = [k * last // (windows - 1) for k in range(windows)]
    gen = torch.Generator().manual_seed(args.seed)
    offsets = torch.arange(CONTEXT)
    train_time, start = 0.0, time.perf_counter()
    step = 0
    while step < args.steps:
        end = min(args.steps, (step // EVAL_EVERY + 1) * EVAL_EVERY)
        t0, losses = time.perf_counter(), []
        for s in range(step, end):
            ix = torch.randint(len(train) - CONTEXT, (BATCH,), generator=gen)
            x, y = train[ix[:, None] + offsets], train[ix[:, None] + offsets + 1]
            for g in opt.param_groups:
                g["lr"] = lr_at(s, args.steps)
            logits = net(x)
            loss = F.cross_entropy(logits.view(-1, VOCAB), y.view(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
        elapsed = time.perf_counter() - t0
        train_time += elapsed
        taken = end - step
        step = end
        v = loss_on(net, val, starts)
        print(f"step {step:>4}  train loss {sum(losses) / len(losses):.4f}  val loss {v:.4f} nats"
              f" = {v / math.log(2):.4f} bits/char  lr {lr_at(step - 1, args.steps):.2e}  "
              f"{1e3 * elapsed / taken:.1f} ms/step", flush=True)
    full = list(range(0, ((len(val) - 1) // CONTEXT) * CONTEXT, CONTEXT))
    v = loss_on(net, val, full)
    print(f"validation loss {v:.4f} nats = {v / math.log(2):.4f} bits/char on all {len(full)} "
          f"non-overlapping windows of the validation part, after {args.steps} steps; "
          f"{args.steps} steps in {train_time:.1f} s of training = "
          f"{1e3 * train_time / args.steps:.1f} ms/step ({time.perf_counter() - start:.1f} s in all)")


if __name__ == "__main__":
    main()
