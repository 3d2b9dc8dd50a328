#!/usr/bin/env python3
"""Quality of a transposable N:M mask against the per-tile optima written by lemon_baseline --objectives.

  quality.py mask.npy scores.npy --nm N:M --objectives optima.bin

Per tile (f = kept score of the mask, f* = optimum, T = tile's total score), the figures of docs/design.md §3:
kept relative error (f* − f)/f*, pruned relative error (f* − f)/(T − f*), and feasibility (exactly N kept in
every row and column). Errors are over all tiles, feasible or not; tiles whose denominator is zero are skipped
and counted. Prints one JSON object.
"""
import argparse
import json

import numpy as np

from common import error_stats, nm_of, regular_tiles, tiles


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mask", help="uint8 or bool .npy mask, 1 = kept")
    parser.add_argument("scores", help="the score .npy the mask was computed from")
    parser.add_argument("--nm", required=True, help="N:M, N = entries kept per row and column of a tile")
    parser.add_argument("--objectives", required=True, help="per-tile optima, raw little-endian float64")
    args = parser.parse_args()

    n, m = nm_of(args.nm)
    mask = np.load(args.mask)
    scores = np.load(args.scores).astype(np.float64)
    if mask.shape != scores.shape or scores.ndim != 2 or scores.shape[0] % m or scores.shape[1] % m:
        parser.error("mask and scores must be matrices of one shape, both sizes multiples of M")
    if not np.isin(mask, (0, 1)).all():
        parser.error("the mask holds values other than 0 and 1")
    keep = tiles(mask.astype(bool), m)
    a = tiles(scores, m)
    optimum = np.fromfile(args.objectives, dtype="<f8")
    if optimum.size != keep.shape[0]:
        parser.error(f"{args.objectives} holds {optimum.size} optima for {keep.shape[0]} tiles")

    f = np.where(keep, a, 0.0).sum(axis=(1, 2))
    total = a.sum(axis=(1, 2))
    feasible = regular_tiles(mask, n, m)
    print(json.dumps({
        "tiles": int(keep.shape[0]),
        "feasible_fraction": float(feasible.mean()),
        "kept_relative_error": error_stats(optimum - f, optimum),
        "pruned_relative_error": error_stats(optimum - f, total - optimum),
        "objective_total": float(f.sum()),
        "optimal_objective_total": float(optimum.sum()),
        "score_total": float(total.sum()),
    }))


if __name__ == "__main__":
    main()
