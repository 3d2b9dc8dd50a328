#!/usr/bin/env python3
"""Three probes of ALPS's transposable projection (issue 11), printed, not timed by a test.

  overlap [--nm N:M] [--size S]   (torch CUDA): does tsenor's exact projection of one half of an S×S matrix's rows
      run beside a cuBLAS SGEMM of the other half on a second stream (ALPS's iteration split in two row halves)?
      Prints the GEMM and the projection alone, both halves one after another, and the two streams (ms, fastest
      of 20 after a warm-up).
  alps-rows [--nm N:M] [--size S] (CPU or CUDA torch): runs the PyTorch ALPS program of perf/layers_pytorch.py on an
      S×S layer of perf/bench_layers.py and prints, per projection, the share of tiles in which every row's N
      largest entries already make N per column (where a "row top-N is regular" shortcut would apply).
  guess-count [--nm N:M] (CPU torch): replays the exact method's dual start (exact.hpp: passes alternating columns
      and rows, each line's price the midpoint of its N-th and (N+1)-th best) on 2048 uniform and 2048 squared-
      Gaussian tiles and prints, per pass, the share of lines whose values above the line's price from two
      passes before number exactly N (where counting against that guess would settle the selection without the
      sorting network), and the share of GPU warps (32 lanes: 32/M tiles) in which every line does.
  scores --at K,K [--nm N:M] [--size S] [--out DIR] (CPU or CUDA torch): runs the PyTorch ALPS program as alps-rows
      does and writes the scores (Z²) of its projections number K (0: the first) as float32 .npy files in DIR
      (alps-z2-S-N-M-pK.npy; an existing file is an error, never overwritten): ALPS's own inputs for
      `bench_device --input` (perf/results/h200/README.md, session 18).
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import layers_pytorch  # noqa: E402
from bench_layers import layer  # noqa: E402

import tsenor  # noqa: E402


def overlap(nm, size):
    g = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(size, size, device="cuda", generator=g)
    inverse = torch.randn(size, size, device="cuda", generator=g) / size ** 0.5
    z2 = torch.randn(size, size, device="cuda", generator=g) ** 2
    out = torch.empty(size, size, device="cuda")
    keep = torch.empty(size, size, dtype=torch.uint8, device="cuda")
    half = size // 2
    halves = (slice(0, half), slice(half, size))
    streams = (torch.cuda.Stream(), torch.cuda.Stream())

    def timed(f, k=20):
        f()
        torch.cuda.synchronize()
        best = float("inf")
        for _ in range(k):
            torch.cuda.synchronize()
            t = time.perf_counter()
            f()
            torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t)
        return best * 1e3

    def one_after_another():
        for r in halves:
            torch.mm(x[r], inverse, out=out[r])
            tsenor.mask(z2[r], nm, out=keep[r])

    def two_streams():  # the first half's projection can run beside the second half's GEMM
        current = torch.cuda.current_stream()
        for s, r in zip(streams, halves):
            s.wait_stream(current)
            with torch.cuda.stream(s):
                torch.mm(x[r], inverse, out=out[r])
                tsenor.mask(z2[r], nm, out=keep[r])
        for s in streams:
            current.wait_stream(s)

    r = {"gemm": timed(lambda: torch.mm(x, inverse, out=out)), "mask": timed(lambda: tsenor.mask(z2, nm, out=keep)),
         "halves one after another": timed(one_after_another), "two streams": timed(two_streams)}
    print(f"overlap {nm} {size}x{size} (ms):", {k: round(v, 3) for k, v in r.items()})


def alps_rows(nm, size, device):
    n, m = tsenor.parse_nm(nm)
    shares = []
    solve = layers_pytorch._mask

    def counting(scores, pattern):
        keep = solve(scores, pattern)
        rows, cols = scores.shape
        tiles = scores.reshape(rows // m, m, cols // m, m).permute(0, 2, 1, 3)
        top = torch.zeros_like(tiles, dtype=torch.int32).scatter_(3, tiles.topk(n, dim=3).indices, 1)
        shares.append((top.sum(dim=2) == n).all(dim=2).float().mean().item())
        return keep

    layers_pytorch._mask = counting
    w, h = layer(size, size, 2048, device, 7)
    layers_pytorch.alps(w, h, nm)
    layers_pytorch._mask = solve
    print(f"alps-rows {nm} {size}x{size}: {len(shares)} projections; share of tiles whose row top-N is regular:")
    print(" ".join(f"{s:.2f}" for s in shares), f"(mean {sum(shares) / len(shares):.3f})")


def alps_scores(nm, size, device, at, out):
    import numpy as np
    n, m = tsenor.parse_nm(nm)
    solve, count, written = layers_pytorch._mask, [0], []

    def saving(scores, pattern):
        if count[0] in at:
            path = os.path.join(out, f"alps-z2-{size}-{n}-{m}-p{count[0]}.npy")
            with open(path, "xb") as f:  # (never over a file that is there)
                np.save(f, scores.float().cpu().numpy())
            written.append(path)
        count[0] += 1
        return solve(scores, pattern)

    layers_pytorch._mask = saving
    w, h = layer(size, size, 2048, device, 7)
    layers_pytorch.alps(w, h, nm)
    layers_pytorch._mask = solve
    print(f"scores {nm} {size}x{size}: {count[0]} projections; wrote {' '.join(written) or 'nothing'}")


def guess_count(nm, tiles=2048):
    n, m = tsenor.parse_nm(nm)
    passes = m.bit_length() - 1 + (6 if m <= 16 else 2)
    per_warp = max(1, 32 // m)
    g = torch.Generator().manual_seed(1)
    for family, a in (("uniform", torch.rand(tiles, m, m, generator=g, dtype=torch.float64)),
                      ("squared Gaussian", torch.randn(tiles, m, m, generator=g, dtype=torch.float64) ** 2)):
        pi = torch.zeros(tiles, m, dtype=torch.float64)  # rows: π_i = −θ_i
        q = torch.zeros(tiles, m, dtype=torch.float64)   # columns
        lines, warps = [], []
        for p in range(passes - 1, -1, -1):
            if p % 2 == 1:  # columns: values A_ij + π_i of column j
                values, guess = (a + pi[:, :, None]).transpose(1, 2), q
            else:  # rows: values A_ij − q_j of row i, against θ_i = −π_i
                values, guess = a - q[:, None, :], -pi
            top = values.sort(dim=2, descending=True).values
            settled = (values > guess[:, :, None]).sum(dim=2) == n
            lines.append(settled.double().mean().item())
            warps.append(settled.reshape(tiles // per_warp, -1).all(dim=1).double().mean().item())
            price = 0.5 * (top[:, :, n - 1] + top[:, :, n])
            if p % 2 == 1:
                q = price
            else:
                pi = -price
        print(f"guess-count {nm} {family}, {passes} passes (first to last): lines",
              " ".join(f"{v:.2f}" for v in lines), "| warps", " ".join(f"{v:.3f}" for v in warps))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("probe", choices=("overlap", "alps-rows", "guess-count", "scores"))
    p.add_argument("--nm", default="8:16")
    p.add_argument("--size", type=int, default=None, help="overlap: 4096, alps-rows and scores: 1024")
    p.add_argument("--device", default="cpu", help="alps-rows and scores: cpu or cuda")
    p.add_argument("--at", default="", help="scores: the projections to write, K,K (0: the first)")
    p.add_argument("--out", default=".", help="scores: the folder for the .npy files")
    a = p.parse_args()
    if a.probe == "overlap":
        overlap(a.nm, a.size or 4096)
    elif a.probe == "guess-count":
        guess_count(a.nm)
    elif a.probe == "scores":
        if not a.at:
            p.error("scores needs --at K,K")
        alps_scores(a.nm, a.size or 1024, a.device, {int(k) for k in a.at.split(",")}, a.out)
    else:
        alps_rows(a.nm, a.size or 1024, a.device)


if __name__ == "__main__":
    main()
