#!/usr/bin/env python3
"""The Python package on a GPU, in one device run: the CUDA checks of issue 10 and its speed figures;
with --cpu-only, the call overhead on the CPU alone (any machine).

  perf/python_package.py --cli BUILD/bin/tsenor --bench BUILD/perf/bench_device --out PREFIX [--size 8192]
                         [--patterns 2:4,8:16,16:32] [--repeat 10]
  perf/python_package.py --cpu-only --out PREFIX

Needs torch with CUDA (CuPy and JAX are checked when importable, and named in the log when not) and an
importable tsenor built against a CUDA Kokkos. Writes PREFIX.json (every record) and PREFIX.md (tables).

Checks (each an assertion; the run stops at the first failure with a traceback):
  - torch CUDA tensors float32/float64/float16/bfloat16, transposed and strided views, 3-D batches: the
    mask is a CUDA uint8 tensor on the input's device, equal byte for byte to the mask of the same scores
    on the CPU (same module, OpenMP/Serial backend) and to `tsenor mask --backend cuda` (the tool);
  - work on a non-default torch stream, with the input written on that stream just before the call;
    two Python threads calling at once; errors (NaN, bad N:M) as ValueError with the input unchanged;
  - CuPy and JAX arrays on the GPU give their own arrays back, with the same masks.
Speed (fastest of --repeat after a warm-up, same scores in the same run):
  - tsenor.mask on a torch CUDA float32 SIZE×SIZE tensor with a preallocated out, wall time of the call
    with a synchronisation after it, against `bench_device --input` (compute_mask on device memory with a
    workspace kept across calls, the library's own timer); and the cost of a call on a 64×64 CUDA tensor;
  - call overhead on a 64×64 CPU numpy input: wall time of the call minus the library's own time.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import torch

import tsenor


def log(record, records):
    records.append(record)
    print(json.dumps(record), flush=True)


def check_cuda(cli, records):
    dev = torch.device("cuda", torch.cuda.current_device())
    rng = np.random.default_rng(7)
    host = np.abs(rng.standard_normal((256, 384))).astype(np.float32)
    cases = {
        "float32": torch.from_numpy(host),
        "float64": torch.from_numpy(host.astype(np.float64)),
        "float16": torch.from_numpy(host.astype(np.float16)),
        "bfloat16": torch.from_numpy(host).to(torch.bfloat16),
        "transposed": torch.from_numpy(host).T,
        "strided": torch.from_numpy(host)[:, ::2],
        "batch": torch.from_numpy(host).reshape(4, 64, 384),
    }
    for name, cpu in cases.items():
        for nm in ("2:4", "8:16", "16:32"):
            gpu = cpu.to(dev) if name not in ("transposed", "strided") else \
                (torch.from_numpy(host).to(dev).T if name == "transposed" else torch.from_numpy(host).to(dev)[:, ::2])
            mask, summary = tsenor.mask(gpu, nm, return_summary=True)
            assert mask.device == dev and mask.dtype == torch.uint8, (name, mask.device, mask.dtype)
            assert summary.backend == "cuda", summary
            expected, cpu_summary = tsenor.mask(cpu, nm, return_summary=True)
            assert cpu_summary.backend != "cuda"
            assert torch.equal(mask.cpu(), expected), f"{name} {nm}: CUDA and CPU masks differ"
            assert tsenor.verify(mask, nm)
            assert summary.kept_score == cpu_summary.kept_score, (summary, cpu_summary)
    log({"check": "torch cuda dtypes, views, batch == cpu bits", "cases": len(cases) * 3}, records)

    # The tool on the GPU, on the same scores.
    with tempfile.TemporaryDirectory() as tmp:
        for nm in ("2:4", "8:16"):
            np.save(os.path.join(tmp, "w.npy"), host)
            subprocess.run([cli, "mask", "--input", os.path.join(tmp, "w.npy"), "--scores", "--nm", nm, "--backend",
                            "cuda", "--output", os.path.join(tmp, "m.npy"), "--quiet"], check=True)
            assert np.array_equal(np.load(os.path.join(tmp, "m.npy")),
                                  tsenor.mask(torch.from_numpy(host).to(dev), nm).cpu().numpy()), nm
    log({"check": "torch cuda == tsenor mask --backend cuda"}, records)

    # A side stream: the scores are written on it right before the call; the mask must see them.
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        x = torch.empty(2048, 2048, device=dev)
        for _ in range(3):
            x.normal_().abs_()
        mask = tsenor.mask(x, "8:16")
        y = x.clone()
    side.synchronize()
    assert torch.equal(mask.cpu(), tsenor.mask(y.cpu(), "8:16")), "side-stream mask differs"
    log({"check": "non-default torch stream"}, records)

    # Two threads at once.
    inputs = [torch.rand(1024, 1024, device=dev) for _ in range(4)]
    expected = [tsenor.mask(t, "4:8").cpu() for t in inputs]
    errors, results = [], {}

    def work(k):
        try:
            for _ in range(10):
                results[k] = tsenor.mask(inputs[k % 4], "4:8").cpu()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors and all(torch.equal(results[k], expected[k]) for k in range(4)), errors
    log({"check": "4 Python threads"}, records)

    bad = torch.rand(64, 64, device=dev)
    bad[3, 5] = float("nan")
    before = bad.clone()
    for call, text in ((lambda: tsenor.mask(bad, "2:4"), "NaN"), (lambda: tsenor.mask(before, "4:2"), "N:M = 4:2")):
        try:
            call()
            raise AssertionError("no error")
        except ValueError as e:
            assert text in str(e), e
    assert torch.equal(bad.isnan(), before.isnan()) and torch.equal(bad.nan_to_num(), before.nan_to_num())
    pruned = tsenor.prune(torch.randn(128, 128, device=dev, dtype=torch.bfloat16), "2:4")
    assert pruned.device == dev and tsenor.verify((pruned != 0).to(torch.uint8), "2:4")
    log({"check": "errors as ValueError; prune on cuda bf16"}, records)

    try:
        import cupy
        c = cupy.asarray(host)
        mc = tsenor.mask(c, "8:16")
        assert isinstance(mc, cupy.ndarray) and np.array_equal(cupy.asnumpy(mc), tsenor.mask(host, "8:16"))
        log({"check": "cupy", "version": cupy.__version__}, records)
    except ImportError as e:
        log({"check": "cupy", "skipped": str(e)}, records)
    try:
        import jax
        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        j = jax.device_put(host, gpus[0]) if gpus else jax.numpy.asarray(host)
        mj = tsenor.mask(j, "8:16")
        assert type(mj).__module__.startswith("jax") and np.array_equal(np.asarray(mj), tsenor.mask(host, "8:16"))
        log({"check": "jax", "version": jax.__version__, "device": str(list(mj.devices())[0])}, records)
    except ImportError as e:
        log({"check": "jax", "skipped": str(e)}, records)


def cpu_overhead(records):
    """Call overhead on a 64×64 numpy input: wall time of the call minus the library's own time."""
    rng = np.random.default_rng(2026)
    small = np.abs(rng.standard_normal((64, 64), dtype=np.float32))
    out_small = np.empty((64, 64), np.uint8)
    tsenor.mask(small, "2:4", out=out_small)
    calls, lib = [], []
    for _ in range(2000):
        t0 = time.perf_counter()
        _, s = tsenor.mask(small, "2:4", out=out_small, return_summary=True)
        calls.append(time.perf_counter() - t0)
        lib.append(s.seconds)
    calls.sort()
    lib.sort()
    log({"bench": "cpu-64x64-overhead", "backend": s.backend, "median_call_s": calls[1000],
         "median_library_s": lib[1000], "median_overhead_s": calls[1000] - lib[1000], "min_call_s": calls[0],
         "min_library_s": lib[0]}, records)


def speed(bench, size, patterns, repeat, records):
    dev = torch.device("cuda")
    rng = np.random.default_rng(2026)
    host = np.abs(rng.standard_normal((size, size), dtype=np.float32))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "scores.npy")
        np.save(path, host)
        out = subprocess.run([bench, "--input", path, "--patterns", ",".join(patterns), "--methods", "exact",
                              "--repeat", str(repeat)], check=True, capture_output=True, text=True).stdout
    device_resident = {}
    for line in out.splitlines():
        r = json.loads(line)
        device_resident[r["nm"]] = r["seconds"]
    x = torch.from_numpy(host).to(dev)
    out_mask = torch.empty(size, size, dtype=torch.uint8, device=dev)
    for nm in patterns:
        tsenor.mask(x, nm, out=out_mask)  # warm-up
        torch.cuda.synchronize()
        best, library = float("inf"), float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            _, s = tsenor.mask(x, nm, out=out_mask, return_summary=True)
            torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
            library = min(library, s.seconds)
        plain = float("inf")  # without the summary object, as most callers do
        for _ in range(repeat):
            t0 = time.perf_counter()
            tsenor.mask(x, nm, out=out_mask)
            torch.cuda.synchronize()
            plain = min(plain, time.perf_counter() - t0)
        log({"bench": "torch-cuda", "size": size, "nm": nm, "python_call_s": best, "python_call_plain_s": plain,
             "library_s": library, "bench_device_s": device_resident[nm],
             "ratio_vs_bench_device": plain / device_resident[nm]}, records)
    # What a call costs beyond the solve on the GPU: a 64×64 CUDA tensor, median of 2000 calls.
    tiny = torch.rand(64, 64, device=dev)
    tiny_out = torch.empty(64, 64, dtype=torch.uint8, device=dev)
    calls, lib = [], []
    for _ in range(2000):
        t0 = time.perf_counter()
        _, s = tsenor.mask(tiny, "2:4", out=tiny_out, return_summary=True)
        torch.cuda.synchronize()
        calls.append(time.perf_counter() - t0)
        lib.append(s.seconds)
    calls.sort()
    lib.sort()
    log({"bench": "cuda-64x64-overhead", "median_call_s": calls[1000], "median_library_s": lib[1000],
         "median_overhead_s": calls[1000] - lib[1000]}, records)


def markdown(records, command):
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
    lines = ["# The Python package" + (" on the GPU" if torch.cuda.is_available() else ""), "",
             f"Command: `{command}`", "",
             f"Device: {device}, torch {torch.__version__}, Python {sys.version.split()[0]}, "
             f"tsenor {tsenor.__version__} (backends {', '.join(tsenor.backends())})"]
    checks = [f"- {r['check']}" + (f" — skipped: {r['skipped']}" if "skipped" in r else "")
              for r in records if "check" in r]
    if checks:
        lines += ["", "## Checks (all passed)", ""] + checks
    lines += ["", "## Speed", ""]
    if any(r.get("bench") == "torch-cuda" for r in records):
        lines += ["torch CUDA float32 scores → uint8 mask, exact method:", "",
                  "| N:M | tsenor.mask (call + sync) | with return_summary | library's own time | bench_device (same "
                  "scores) | ratio (call / bench_device) |", "|---|---|---|---|---|---|"]
    for r in records:
        if r.get("bench") == "torch-cuda":
            lines.append(f"| {r['nm']} | {r['python_call_plain_s'] * 1e3:.2f} ms | {r['python_call_s'] * 1e3:.2f} ms | "
                         f"{r['library_s'] * 1e3:.2f} ms | {r['bench_device_s'] * 1e3:.2f} ms | "
                         f"{r['ratio_vs_bench_device']:.3f} |")
    for r in records:
        if r.get("bench") == "cuda-64x64-overhead":
            lines += ["", f"64×64 torch CUDA input, 2:4 (median of 2000 calls, with a synchronisation): call "
                          f"{r['median_call_s'] * 1e6:.1f} µs, library {r['median_library_s'] * 1e6:.1f} µs, "
                          f"overhead {r['median_overhead_s'] * 1e6:.1f} µs."]
    for r in records:
        if r.get("bench") == "cpu-64x64-overhead":
            lines += ["", f"64×64 numpy input on the CPU ({r['backend']}), 2:4 (median of 2000 calls): call "
                          f"{r['median_call_s'] * 1e6:.1f} µs, "
                          f"library {r['median_library_s'] * 1e6:.1f} µs, overhead {r['median_overhead_s'] * 1e6:.1f} µs."]
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cli", help="the tsenor command of the GPU build")
    p.add_argument("--bench", help="bench_device of the GPU build")
    p.add_argument("--cpu-only", action="store_true", help="only the CPU call overhead")
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=8192)
    p.add_argument("--patterns", default="2:4,8:16,16:32")
    p.add_argument("--repeat", type=int, default=10)
    a = p.parse_args()
    records = []
    if not a.cpu_only:
        if not (a.cli and a.bench):
            p.error("--cli and --bench are needed unless --cpu-only")
        check_cuda(a.cli, records)
        speed(a.bench, a.size, a.patterns.split(","), a.repeat, records)
    cpu_overhead(records)
    with open(a.out + ".json", "w") as f:
        json.dump(records, f, indent=1)
    with open(a.out + ".md", "w") as f:
        f.write(markdown(records, " ".join(sys.argv)))


if __name__ == "__main__":
    main()
