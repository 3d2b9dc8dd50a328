#!/usr/bin/env python3
"""One tsenor.alps call on a random layer, for probing where ALPS's time goes (perf/results/h200/README.md,
session 6). Load perf/kernel_timer.cpp's library for the per-kernel split.

  perf/alps_probe.py SIZE ITERATIONS                 numpy inputs, CPU (no torch in the process)
  perf/alps_probe.py SIZE ITERATIONS --torch DEVICE  torch inputs (perf/bench_layers.py's layer) on DEVICE,
                                                     then the PyTorch program, torch.linalg.eigh and a GEMM
      [--nm N:M] [--profile K]                       (--profile: both ALPS calls under torch.profiler, the K
                                                     costliest GPU operations of each)
      [--tsenor-only]                                with --torch: the layer only, none of the torch runs
                                                     (so that kernel_timer.cpp's totals are tsenor's ALPS)
Prints one line per measurement, "PROBE …"."""
import argparse
import os
import sys
import time

import numpy as np

import tsenor


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("size", type=int)
    p.add_argument("iterations", type=int, help="ALPS's max_iterations")
    p.add_argument("--torch", metavar="DEVICE", help="torch inputs on DEVICE, and the PyTorch program beside")
    p.add_argument("--profile", type=int, default=0, metavar="K",
                   help="with --torch cuda: each ALPS call again under torch.profiler (CUDA activity of every "
                        "library in the process), its K costliest GPU operations")
    p.add_argument("--nm", default="2:4")
    p.add_argument("--tsenor-only", action="store_true",
                   help="with --torch: run tsenor's ALPS on the layer and nothing else in torch")
    a = p.parse_args()
    n, nm = a.size, a.nm
    if a.torch:
        import torch
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import bench_layers
        import layers_pytorch
        w, h = bench_layers.layer(n, n, 4096, a.torch, 1)
        sync = torch.cuda.synchronize if a.torch.startswith("cuda") else (lambda: None)
    else:
        rng = np.random.default_rng(1)
        x = rng.standard_normal((4096, n), dtype=np.float32).astype(np.float64)
        w, h = rng.standard_normal((n, n), dtype=np.float32), x.T @ x
        sync = lambda: None  # noqa: E731
    tsenor.alps(w[:64, :64].copy() if not a.torch else w[:64, :64].contiguous(),
                h[:64, :64].copy() if not a.torch else h[:64, :64].contiguous(), nm)  # warm-up
    sync()
    start = time.perf_counter()
    _, _, report = tsenor.alps(w, h, nm, max_iterations=a.iterations, report_errors=False)
    sync()
    print(f"PROBE tsenor alps n={n} iterations={report.iterations} {time.perf_counter() - start:.3f} s "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} ({report.linear_algebra})", flush=True)
    if a.torch and not a.tsenor_only:
        sync()
        start = time.perf_counter()
        layers_pytorch.alps(w, h, nm, max_iterations=a.iterations)
        sync()
        print(f"PROBE pytorch alps n={n} {time.perf_counter() - start:.3f} s", flush=True)
        if a.profile:
            from torch.profiler import ProfilerActivity, profile
            for label, call in (("tsenor", lambda: tsenor.alps(w, h, nm, max_iterations=a.iterations,
                                                                 report_errors=False)),
                                ("pytorch", lambda: layers_pytorch.alps(w, h, nm, max_iterations=a.iterations))):
                with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                    call()
                    sync()
                print(f"PROFILE {label} alps n={n} {nm}")
                try:  # torch ≥ 2.4 names it device time
                    table = prof.key_averages().table(sort_by="self_device_time_total", row_limit=a.profile,
                                                      max_name_column_width=60)
                except (AttributeError, KeyError):
                    table = prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=a.profile,
                                                      max_name_column_width=60)
                print(table)
                # The projection's share of the GPU time: the tile solver's kernel (Kokkos names it after its
                # functor, SolveTiles) over every GPU operation of the call.
                device_us = lambda e: getattr(e, "self_device_time_total", None) or e.self_cuda_time_total  # noqa: E731
                events = [e for e in prof.key_averages() if str(e.device_type).endswith("CUDA")]  # kernels, copies
                solve = sum(device_us(e) for e in events if "SolveTiles" in e.key)
                total = sum(device_us(e) for e in events)
                if label == "tsenor" and total > 0:
                    print(f"PROBE projection share of the GPU time {nm} n={n}: {100 * solve / total:.1f}% "
                          f"({solve / 1e3:.1f} ms of {total / 1e3:.1f} ms)", flush=True)
        hd = h.double()
        sync()
        start = time.perf_counter()
        torch.linalg.eigh(hd)
        sync()
        print(f"PROBE torch.linalg.eigh float64 {time.perf_counter() - start:.3f} s", flush=True)
    z = np.asarray(w if not a.torch else w.cpu(), dtype=np.float32)
    z @ z
    start = time.perf_counter()
    z @ z
    print(f"PROBE numpy gemm {n}^3 float32 {time.perf_counter() - start:.4f} s", flush=True)


if __name__ == "__main__":
    main()
