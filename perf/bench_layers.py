#!/usr/bin/env python3
"""Per-layer time and error of tsenor.sparsegpt and tsenor.alps against the same algorithms as PyTorch
programs (perf/layers_pytorch.py), on the same device, same layers, in one run.

  perf/bench_layers.py --out PREFIX [--shapes 4096x4096,14336x4096] [--patterns 2:4,8:16,16:32]
                       [--methods sparsegpt,alps] [--device cpu|cuda] [--samples 2048] [--repeat 1]

A layer: W ~ N(0, 1) (rows × cols), H = XᵀX of `samples` correlated Gaussian inputs (X = G·(I + R/√cols)),
the same for both sides. Times: the fastest of --repeat calls (tsenor's includes its host factorisation
and the error report; the PyTorch program's its factorisation). Errors: ‖(W − Ŵ)X‖²/‖WX‖² in float64 for
both. Writes PREFIX.json (every record) and PREFIX.md (a table); progress on stderr.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import layers_pytorch  # noqa: E402

import tsenor  # noqa: E402


# What the timings depend on beyond the command line, written before it in the report.
ENVIRONMENT = ("OMP_NUM_THREADS", "OMP_PROC_BIND", "OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "CUDA_VISIBLE_DEVICES")


def layer(rows, cols, samples, device, seed):
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.eye(cols, dtype=torch.float64) + torch.randn(cols, cols, generator=generator,
                                                                 dtype=torch.float64) / cols ** 0.5
    x = torch.randn(samples, cols, generator=generator, dtype=torch.float64) @ mixing
    w = torch.randn(rows, cols, generator=generator)
    return w.to(device), (x.T @ x).to(device)


def error(w, w_hat, h):
    d = (w - w_hat).double()
    wd = w.double()
    return (torch.einsum("ij,jk,ik->", d, h, d) / torch.einsum("ij,jk,ik->", wd, h, wd)).item()


def timed(function, repeat, device):
    best, result = float("inf"), None
    for _ in range(repeat):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = function()
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, result


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--shapes", default="4096x4096,14336x4096")
    p.add_argument("--patterns", default="2:4,8:16,16:32")
    p.add_argument("--methods", default="sparsegpt,alps")
    p.add_argument("--device", default="cpu")
    p.add_argument("--samples", type=int, default=2048)
    p.add_argument("--repeat", type=int, default=1)
    a = p.parse_args()
    records = []
    w, h = layer(16, 32, 64, a.device, 0)  # warm-up of both sides (kernels, threads, allocators)
    for function in (tsenor.sparsegpt, tsenor.alps, layers_pytorch.sparsegpt, layers_pytorch.alps):
        function(w, h, "2:4")
    for shape in a.shapes.split(","):
        rows, cols = (int(v) for v in shape.split("x"))
        w, h = layer(rows, cols, a.samples, a.device, rows + cols)
        for nm in a.patterns.split(","):
            for method in a.methods.split(","):
                ours = tsenor.sparsegpt if method == "sparsegpt" else tsenor.alps
                theirs = layers_pytorch.sparsegpt if method == "sparsegpt" else layers_pytorch.alps
                # The errors both ways below, outside the timings (the PyTorch programs compute none).
                ours_s, (w_ours, keep_ours, report) = timed(lambda: ours(w, h, nm, report_errors=False), a.repeat,
                                                            a.device)
                theirs_s, (w_theirs, keep_theirs) = timed(lambda: theirs(w, h, nm), a.repeat, a.device)
                record = {"shape": shape, "nm": nm, "method": method, "device": a.device,
                          "threads": torch.get_num_threads(), "tsenor_s": ours_s, "pytorch_s": theirs_s,
                          "speedup": theirs_s / ours_s, "tsenor_error": error(w, w_ours, h),
                          "pytorch_error": error(w, w_theirs.to(w.dtype), h),
                          "tsenor_valid": bool(tsenor.verify(keep_ours, nm)),
                          "pytorch_valid": bool(tsenor.verify(keep_theirs.to(torch.uint8), nm)),
                          "iterations": report.iterations, "masks_equal": bool(torch.equal(keep_ours.bool().cpu(),
                                                                                             keep_theirs.cpu()))}
                record["linear_algebra"] = report.linear_algebra
                if method == "alps":  # an iteration: one GEMM B·(H'+ρI)⁻¹ and one projection (exact solver on Z²)
                    z2 = torch.square(w.float())
                    keep = torch.empty(z2.shape, dtype=torch.uint8, device=z2.device)
                    inverse = torch.eye(cols, dtype=torch.float32, device=z2.device)
                    record["projection_s"], _ = timed(lambda: tsenor.mask(z2, nm, out=keep), 3, a.device)
                    record["gemm_s"], _ = timed(lambda: z2 @ inverse, 3, a.device)
                    record["projection_share"] = record["projection_s"] / (record["projection_s"] + record["gemm_s"])
                records.append(record)
                print(json.dumps(record), file=sys.stderr, flush=True)
    with open(a.out + ".json", "w") as f:
        json.dump(records, f, indent=1)
    lines = [f"# Layer-wise pruning: tsenor against the PyTorch programs ({a.device})", "",
             f"Command: `{' '.join([f'{k}={os.environ[k]}' for k in ENVIRONMENT if k in os.environ] + sys.argv)}`", "",
             f"torch {torch.__version__} ({torch.get_num_threads()} threads), tsenor {tsenor.__version__} "
             f"(backends {', '.join(tsenor.backends())}; linear algebra: "
             f"{', '.join(sorted({r['linear_algebra'] for r in records}))}); H from {a.samples} correlated inputs.",
             "ALPS: the projection's share of an iteration = one exact N:M solve of the whole Z² / (that + the"
             " iteration's float32 GEMM rows×cols×cols by torch), fastest of 3 each.", "",
             "| shape | N:M | method | tsenor | PyTorch program | speedup | error tsenor | error PyTorch | same masks |"
             " ALPS iterations | projection share |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        lines.append(f"| {r['shape']} | {r['nm']} | {r['method']} | {r['tsenor_s']:.2f} s | {r['pytorch_s']:.2f} s | "
                     f"{r['speedup']:.2f}× | {r['tsenor_error']:.5f} | {r['pytorch_error']:.5f} | "
                     f"{'yes' if r['masks_equal'] else 'no'} | " +
                     (f"{r['iterations']} | {100 * r['projection_share']:.1f}% ({1e3 * r['projection_s']:.1f} ms) |"
                      if r["method"] == "alps" else " | |"))
    with open(a.out + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
