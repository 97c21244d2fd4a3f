#!/usr/bin/env python3
"""The PyTorch twin of examples/char_lstm.rs: the same two-layer character LSTM, data, split,
streams, truncated backpropagation through time, optimizer, schedule and evaluation, written as
a PyTorch user would, to compare the validation loss and the time per step.

Run from the repository root (PyTorch in .venv):

    .venv/bin/python scripts/char_lstm_torch.py --threads 1
    .venv/bin/python scripts/char_lstm_torch.py --threads 2

and compare with

    NANOTORCH_NUM_THREADS=1 cargo run --release --example char_lstm
    NANOTORCH_NUM_THREADS=2 cargo run --release --example char_lstm

What is the same as the Rust example:

  data      nanotorch/data/shakespeare/tragedies.txt.gz (or --text FILE), vocabulary
            sorted(set(text)), the first len·9//10 characters train, the rest validate
  streams   each part cut into 32 streams of L = (len − 1)//32 characters, one per batch row;
            window k of an epoch is characters k·64 .. k·64 + 64 of every stream, the targets
            the characters after them; L//64 windows per epoch (nanotorch's CharStreams)
  model     Embedding(73, 64); LSTM(64, 256) as lstm1; LSTM(256, 256) as lstm2 (batch first,
            two modules so the state-dict names are NanoTorch's: lstm1.weight_ih_l0, …);
            Linear(256, 73). PyTorch's default initialisation (NanoTorch's is the same
            distributions).
  training  2,000 steps; step s reads window s mod (L//64); the final (h, c) of each layer is
            the next step's initial state, detached (truncated BPTT); at window 0 (a new epoch)
            the state is zero. Cross-entropy at every position; Adam lr 2e-3, betas
            (0.9, 0.999), eps 1e-8; lr warm-up (s + 1)/101·2e-3 for 100 steps, then cosine to
            2e-4 at step 2,000; clip_grad_norm_ 1.0
  eval      every 250 steps, the mean loss of the first 16 windows of the validation part's 32
            streams (state carried from zero); at the end, of all its windows

What differs: only the initial weights (torch's generator): the data order is the same, no
random draw is involved. The time per step is the training loop only (evaluations excluded), as
the Rust example reports it.
"""

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

import char_twin

VOCAB, EMBED, HIDDEN, CONTEXT, BATCH = 73, 64, 256, 64, 32
LR, MIN_LR, WARMUP = 2e-3, 2e-4, 100
EVAL_EVERY, EVAL_WINDOWS = 250, 16


class CharLstm(nn.Module):
    """char-rnn's two-layer LSTM, as examples/char_lstm.rs declares it."""

    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(VOCAB, EMBED)
        self.lstm1 = nn.LSTM(EMBED, HIDDEN, batch_first=True)
        self.lstm2 = nn.LSTM(HIDDEN, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, VOCAB)

    def forward(self, idx, state):
        h1, c1, h2, c2 = state
        hs1, (h1, c1) = self.lstm1(self.wte(idx), (h1, c1))
        hs2, (h2, c2) = self.lstm2(hs1, (h2, c2))
        return self.head(hs2), (h1, c1, h2, c2)


def zero_state():
    return tuple(torch.zeros(1, BATCH, HIDDEN) for _ in range(4))


class Streams:
    """nanotorch::data::CharStreams: BATCH consecutive streams, window k of each."""

    def __init__(self, data):
        self.data = data
        self.stream_len = (len(data) - 1) // BATCH
        self.windows = self.stream_len // CONTEXT
        self.starts = torch.arange(BATCH)[:, None] * self.stream_len + torch.arange(CONTEXT)

    def window(self, k):
        ix = self.starts + k * CONTEXT
        return self.data[ix], self.data[ix + 1]


def lr_at(step, steps):
    return char_twin.lr_at(step, steps, LR, MIN_LR, WARMUP)


@torch.no_grad()
def loss_on(net, streams, windows):
    state, total = zero_state(), 0.0
    for k in range(windows):
        x, y = streams.window(k)
        logits, state = net(x, state)
        total += F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1)).item()
    return total / windows


def main():
    args, chars, data, split = char_twin.setup(__doc__.split("\n\n")[0], VOCAB)
    train, val = Streams(data[:split]), Streams(data[split:])
    print(f"char_lstm_torch: {len(data)} characters, {len(chars)} distinct; "
          f"train {split} / validation {len(data) - split}")

    net = CharLstm()
    opt = torch.optim.Adam(net.parameters(), lr=LR, betas=(0.9, 0.999), eps=1e-8)
    print(f"a {sum(p.numel() for p in net.parameters())}-parameter LSTM (2 layers, 256 wide), "
          f"batch {BATCH} streams of {train.stream_len} characters, windows of {CONTEXT}, "
          f"{train.windows} windows per epoch, Adam, {args.steps} steps, "
          f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")

    train_time, start = 0.0, time.perf_counter()
    state = zero_state()
    step = 0
    while step < args.steps:
        end = min(args.steps, (step // EVAL_EVERY + 1) * EVAL_EVERY)
        t0, losses = time.perf_counter(), []
        for s in range(step, end):
            window = s % train.windows
            if window == 0:
                state = zero_state()
            x, y = train.window(window)
            for g in opt.param_groups:
                g["lr"] = lr_at(s, args.steps)
            logits, state = net(x, state)
            # Truncated BPTT: the final state goes on as values, the gradient stops here.
            state = tuple(t.detach() for t in state)
            loss = F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
        elapsed = time.perf_counter() - t0
        train_time += elapsed
        taken = end - step
        step = end
        v = loss_on(net, val, min(EVAL_WINDOWS, val.windows))
        print(f"step {step:>4}  train loss {sum(losses) / len(losses):.4f}  val loss {v:.4f} nats"
              f" = {v / math.log(2):.4f} bits/char  lr {lr_at(step - 1, args.steps):.2e}  "
              f"{1e3 * elapsed / taken:.1f} ms/step", flush=True)
    v = loss_on(net, val, val.windows)
    print(f"validation loss {v:.4f} nats = {v / math.log(2):.4f} bits/char on all {val.windows} "
          f"windows of the validation part's {BATCH} streams "
          f"({val.windows * BATCH * CONTEXT} characters), after {args.steps} steps; "
          f"{args.steps} steps in {train_time:.1f} s of training = "
          f"{1e3 * train_time / args.steps:.1f} ms/step ({time.perf_counter() - start:.1f} s in all)")


if __name__ == "__main__":
    main()
