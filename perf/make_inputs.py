#!/usr/bin/env python3
"""Writes the benchmark score matrices: non-negative float32, size×size, fixed seeds.

  gaussian.npy      |N(0, 1)|
  heavy_tailed.npy  |Student-t(2)| × log-normal row scales × log-normal column scales (sigma 1): outlier
                    weights and outlier channels, as in LLM layers and Wanda scores |W_ij|·‖X_j‖
  lowrank_noise.npy |U Vᵀ + 0.1·noise| with rank 8: strongly correlated tiles, many near-ties between rows

Usage: make_inputs.py OUTDIR [--size 2048]   (e.g. --size 256 for CI smoke runs)
"""
import argparse
import os

import numpy as np


def gaussian(rng, size):
    return np.abs(rng.standard_normal((size, size)))


def heavy_tailed(rng, size):
    rows = rng.lognormal(0.0, 1.0, (size, 1))
    cols = rng.lognormal(0.0, 1.0, (1, size))
    return np.abs(rng.standard_t(2, (size, size))) * rows * cols


def lowrank_noise(rng, size, rank=8):
    # U Vᵀ has entries of variance 1 when U and V have entries of variance 1/sqrt(rank).
    u = rng.standard_normal((size, rank)) / rank ** 0.25
    v = rng.standard_normal((size, rank)) / rank ** 0.25
    return np.abs(u @ v.T + 0.1 * rng.standard_normal((size, size)))


GENERATORS = {"gaussian": (gaussian, 1), "heavy_tailed": (heavy_tailed, 2), "lowrank_noise": (lowrank_noise, 3)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir")
    parser.add_argument("--size", type=int, default=2048, help="rows and columns (default 2048)")
    args = parser.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    for name, (generate, seed) in GENERATORS.items():
        scores = generate(np.random.default_rng(seed), args.size).astype(np.float32)
        path = os.path.join(args.outdir, name + ".npy")
        np.save(path, scores)
        print(path)


if __name__ == "__main__":
    main()
