"""Times PyTorch's own matrix product, torch.mm into a preallocated output, on the products of
one training step, for `examples/gflops.rs`.

    python scripts/mm_torch.py --threads 1 128x784x256:nt 256x128x784:tn ...

Each argument is `MxKxN:LL`: `a` is [M, K] and `b` is [K, N]; L is `n` for an operand stored
row-major as written or `t` for one stored as its transpose (a layer's weight `W` is [out, in],
so the forward product x·Wᵀ is `nt`). Prints `MxKxN:LL seconds` per product: the best of
samples of about 2 ms each, after warm-up — the timing `examples/gflops.rs` uses on its side.
"""

import argparse
import time

import torch


def operand(rows, cols, layout, gen):
    if layout == "n":
        return torch.rand(rows, cols, generator=gen) * 2 - 1
    return (torch.rand(cols, rows, generator=gen) * 2 - 1).t()


def best_secs(f, seconds):
    start = time.perf_counter()
    warm = 0
    while time.perf_counter() - start < 0.2 or warm < 5:
        f()
        warm += 1
    per = (time.perf_counter() - start) / warm
    n = max(1, int(2e-3 / per))
    samples = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(samples) < 9:
        t = time.perf_counter_ns()
        for _ in range(n):
            f()
        samples.append((time.perf_counter_ns() - t) / n / 1e9)
    return min(samples)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=0.5)
    ap.add_argument("products", nargs="+")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    for spec in args.products:
        sizes, layout = spec.split(":")
        m, k, n = (int(s) for s in sizes.split("x"))
        a = operand(m, k, layout[0], gen)
        b = operand(k, n, layout[1], gen)
        c = torch.empty(m, n)
        secs = best_secs(lambda: torch.mm(a, b, out=c), args.seconds)
        print(f"{spec} {secs:.9f}", flush=True)


if __name__ == "__main__":
    main()
