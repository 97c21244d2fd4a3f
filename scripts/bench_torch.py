"""Times one full PyTorch training step for the nine models of NanoTorch's speed benchmarks
(src/bench_models.rs): zero_grad, forward, loss, backward, optimizer step, in f32 on the CPU.

    python scripts/bench_torch.py --threads 1 [--models tiny,digits] [--seconds 1.0]

Prints one line per model, `name median_ns_per_step samples`, in the format that
`examples/speed_compare.rs` reads, then `gemm_peak GFLOP/s`: the best rate of torch.mm on a
1024 × 1024 × 1024 product at these threads (speed_compare's FLOP limit is the better of this
and NanoTorch's own). The timing scheme is the same as its NanoTorch side:
warm up, then time samples of `n` back-to-back steps (n chosen so one sample takes about
2 ms) and report the median sample divided by n.
"""

import argparse
import math
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn


LABEL_SETS = 16


class LeNet(nn.Module):
    """The LeNet of examples/mnist_cnn.rs (src/bench_models.rs)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, padding=2)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 5)
        self.bn2 = nn.BatchNorm2d(32)
        self.fc1 = nn.Linear(800, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        h = F.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        h = F.max_pool2d(torch.relu(self.bn2(self.conv2(h))), 2)
        return self.fc2(torch.relu(self.fc1(h.flatten(1))))


class CausalSelfAttention(nn.Module):
    """minGPT's original layout: separate key/query/value/proj, no dropout."""

    def __init__(self, c, heads):
        super().__init__()
        self.key, self.query, self.value = nn.Linear(c, c), nn.Linear(c, c), nn.Linear(c, c)
        self.proj = nn.Linear(c, c)
        self.heads = heads

    def forward(self, x):
        b, t, c = x.shape
        h = self.heads
        k = self.key(x).view(b, t, h, c // h).transpose(1, 2)
        q = self.query(x).view(b, t, h, c // h).transpose(1, 2)
        v = self.value(x).view(b, t, h, c // h).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(c // h))
        mask = torch.ones(t, t, dtype=torch.bool).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
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


class Gpt(nn.Module):
    """The GPT of examples/sort.rs (src/bench_models.rs)."""

    def __init__(self, vocab=3, t=11, c=48, heads=4):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, c), nn.Embedding(t, c)
        self.h0, self.h1 = Block(c, heads), Block(c, heads)
        self.ln_f, self.head = nn.LayerNorm(c), nn.Linear(c, vocab)

    def forward(self, idx):
        pos = torch.arange(idx.shape[1])
        x = self.wte(idx) + self.wpe(pos)
        return self.head(self.ln_f(self.h1(self.h0(x))))


class CharGpt(nn.Module):
    """The GPT of examples/char_gpt.rs (src/bench_models.rs): 4 blocks, 4 heads, 128 wide,
    64 characters over 73."""

    def __init__(self, vocab=73, t=64, c=128, heads=4):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, c), nn.Embedding(t, c)
        self.h = nn.ModuleList([Block(c, heads) for _ in range(4)])
        self.ln_f, self.head = nn.LayerNorm(c), nn.Linear(c, vocab)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.h:
            x = block(x)
        return self.head(self.ln_f(x))


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(64, 32)
        self.block = nn.Linear(32, 32)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        h = torch.relu(self.inp(x))
        r = h + torch.relu(self.block(h))
        return self.head(r)


class CharLstm(nn.Module):
    """The `lstm` benchmark of src/bench_models.rs: embedding 73 → 64, nn.LSTM(64, 256) over
    64 steps from a zero state, 256 → 73 at every step."""

    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(73, 64)
        self.lstm = nn.LSTM(64, 256, batch_first=True)
        self.head = nn.Linear(256, 73)

    def forward(self, idx):
        hs, _ = self.lstm(self.wte(idx))
        return self.head(hs)


class CharLstm2(nn.Module):
    """The `char_lstm` benchmark of src/bench_models.rs (examples/char_lstm.rs's model):
    embedding 73 → 64, LSTM(64, 256), LSTM(256, 256), 256 → 73 at every step; each layer's
    final state is the next step's initial state, detached (truncated BPTT)."""

    def __init__(self, batch=32):
        super().__init__()
        self.wte = nn.Embedding(73, 64)
        self.lstm1 = nn.LSTM(64, 256, batch_first=True)
        self.lstm2 = nn.LSTM(256, 256, batch_first=True)
        self.head = nn.Linear(256, 73)
        self.state = tuple(torch.zeros(1, batch, 256) for _ in range(4))

    def forward(self, idx):
        h1, c1, h2, c2 = self.state
        hs1, (h1, c1) = self.lstm1(self.wte(idx), (h1, c1))
        hs2, (h2, c2) = self.lstm2(hs1, (h2, c2))
        self.state = tuple(t.detach() for t in (h1, c1, h2, c2))
        return self.head(hs2)


def make(name, gen):
    """The model, its optimizer, loss function, input batch and a list of target sets."""
    if name == "tiny":
        net = nn.Sequential(
            nn.Linear(3, 3), nn.Sigmoid(), nn.Linear(3, 5), nn.Sigmoid(), nn.Linear(5, 1)
        )
        x = torch.rand(50, 3, generator=gen) * 2 - 1
        y = x @ torch.tensor([[1.0], [2.0], [3.0]])
        return net, torch.optim.SGD(net.parameters(), lr=0.1), F.mse_loss, x, [y]
    if name == "digits":
        net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
        batch, width, opt = 32, 64, "sgd"
    elif name == "mnist":
        net = nn.Sequential(
            nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10)
        )
        batch, width, opt = 128, 784, "sgd"
    elif name == "residual":
        net = Residual()
        batch, width, opt = 64, 64, "adam"
    elif name == "gpt":
        net = Gpt()
        params = net.parameters()
        optim = torch.optim.AdamW(params, lr=5e-4, betas=(0.9, 0.95), weight_decay=0.1)
        # LABEL_SETS batches of 64 random 11-token sequences over 3 digits, targets on the last 6
        # positions (the sorting task's loss mask), as src/bench_models.rs.
        xs = [torch.randint(0, 3, (64, 11), generator=gen) for _ in range(LABEL_SETS)]
        ys = []
        for _ in range(LABEL_SETS):
            t = torch.randint(0, 3, (64, 11), generator=gen)
            t[:, :5] = -1
            ys.append(t)

        def loss(logits, target):
            return F.cross_entropy(logits.view(-1, 3), target.view(-1), ignore_index=-1)

        return net, optim, loss, xs, ys
    elif name == "char_gpt":
        net = CharGpt()
        decay = [p for p in net.parameters() if p.dim() >= 2]
        no_decay = [p for p in net.parameters() if p.dim() < 2]
        optim = torch.optim.AdamW(
            [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
            lr=1e-3, betas=(0.9, 0.99))
        # LABEL_SETS batches of 12 random 64-character windows over 73 ids, a target at every
        # position, as src/bench_models.rs.
        xs = [torch.randint(0, 73, (12, 64), generator=gen) for _ in range(LABEL_SETS)]
        ys = [torch.randint(0, 73, (12, 64), generator=gen) for _ in range(LABEL_SETS)]

        def loss(logits, target):
            return F.cross_entropy(logits.view(-1, 73), target.view(-1))

        return net, optim, loss, xs, ys
    elif name == "lstm":
        net = CharLstm()
        optim = torch.optim.Adam(net.parameters())
        # LABEL_SETS batches of 32 random 64-character windows over 73 ids, a target at every
        # position, from a zero state, as src/bench_models.rs.
        xs = [torch.randint(0, 73, (32, 64), generator=gen) for _ in range(LABEL_SETS)]
        ys = [torch.randint(0, 73, (32, 64), generator=gen) for _ in range(LABEL_SETS)]

        def loss(logits, target):
            return F.cross_entropy(logits.reshape(-1, 73), target.reshape(-1))

        return net, optim, loss, xs, ys
    elif name == "char_lstm":
        net = CharLstm2()
        optim = torch.optim.Adam(net.parameters(), lr=2e-3)
        # As "lstm", with the state carried from step to step and clipping at 1.
        xs = [torch.randint(0, 73, (32, 64), generator=gen) for _ in range(LABEL_SETS)]
        ys = [torch.randint(0, 73, (32, 64), generator=gen) for _ in range(LABEL_SETS)]

        def loss(logits, target):
            return F.cross_entropy(logits.reshape(-1, 73), target.reshape(-1))

        return net, optim, loss, xs, ys
    elif name == "lenet":
        net = LeNet()
        batch, width, opt = 64, (1, 28, 28), "momentum"
    else:
        raise SystemExit(f"unknown model {name}")
    shape = (batch, *width) if isinstance(width, tuple) else (batch, width)
    x = torch.rand(shape, generator=gen) * 2 - 1
    # LABEL_SETS labellings, cycled through as in src/bench_models.rs (a single fixed batch is
    # memorised and its gradients underflow into slow subnormals).
    y = [torch.randint(0, 10, (batch,), generator=gen) for _ in range(LABEL_SETS)]
    params = net.parameters()
    if opt == "sgd":
        optim = torch.optim.SGD(params, lr=0.1)
    elif opt == "momentum":
        optim = torch.optim.SGD(params, lr=0.05, momentum=0.9)
    else:
        optim = torch.optim.Adam(params)
    return net, optim, F.cross_entropy, x, y


def time_model(name, seconds):
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(0)
    net, opt, loss_fn, x, y = make(name, gen)

    next_y = [0]

    def step():
        k = next_y[0]
        next_y[0] = (k + 1) % len(y)
        opt.zero_grad()
        inputs = x[k] if isinstance(x, list) else x
        loss = loss_fn(net(inputs), y[k])
        loss.backward()
        if name in ("gpt", "char_gpt", "char_lstm"):
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()

    # Warm up (first calls allocate optimizer state and caches), and size the samples.
    start = time.perf_counter()
    warm = 0
    while time.perf_counter() - start < 0.2 or warm < 10:
        step()
        warm += 1
    per_step = (time.perf_counter() - start) / warm
    n = max(1, int(2e-3 / per_step))
    samples = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(samples) < 11:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            step()
        samples.append((time.perf_counter_ns() - t0) / n)
    return statistics.median(samples), len(samples)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--models", default="tiny,digits,mnist,residual,lenet,gpt,char_gpt,lstm,char_lstm")
    ap.add_argument("--seconds", type=float, default=1.0, help="timed seconds per model")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    for name in args.models.split(","):
        median, count = time_model(name, args.seconds)
        print(f"{name} {median:.1f} {count}", flush=True)
    print(f"gemm_peak {gemm_peak():.1f}", flush=True)


def gemm_peak(n=1024, samples=12):
    """The best GFLOP/s of torch.mm on an n × n × n product into a preallocated output."""
    gen = torch.Generator().manual_seed(0)
    a, b = torch.rand(n, n, generator=gen), torch.rand(n, n, generator=gen)
    c = torch.empty(n, n)
    for _ in range(3):
        torch.mm(a, b, out=c)
    best = math.inf
    for _ in range(samples):
        t = time.perf_counter()
        torch.mm(a, b, out=c)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


if __name__ == "__main__":
    main()
