#!/usr/bin/env python3
"""The device benchmark of issue 3, in one command: tsenor on the GPU beside the paper's algorithm as a PyTorch
tensor program on the same GPU in the same run, and beside LEMON's exact network simplex on the host's cores.

  perf/gpu_benchmark.py --build DIR --out PREFIX [--shapes 8192x8192,4096x4096,...] [--patterns 2:4,...]
                        [--methods exact,tsenor,greedy] [--llama-methods ...] [--backend cuda|openmp]
                        [--torch-device cuda|cpu | --no-torch] [--torch-tau 70 | --torch-tau 2:4=50,8:16=70]
                        [--torch-tau-sweep 20,50,70,100] [--sample-tiles 16384] [--repeat 3] [--deadline S]
                        [--lemon PATH|auto|none]

DIR holds bin/tsenor and perf/bench_device (and perf/lemon_baseline, used when --lemon is auto or a path).
Writes PREFIX.json (every record, machine-readable) and PREFIX.md (tables); progress goes to stderr.

Per shape (the first shape is the main one, 8192×8192 by default; the others are the LLaMA-3-8B layer shapes,
run with --llama-methods): |N(0,1)| float32 scores from numpy with a fixed seed, saved as .npy in a temporary
folder. Then
  - host-to-host: `tsenor mask --backend B --report` per pattern and method; the time is the report's
    seconds_solve (host memory to host memory: copies in strips, launches, the solve; not the .npy read/write,
    recorded apart); one cold process per run, as a user runs the tool; beside it the host↔device copy rates
    (torch, page-locked and pageable) and host-to-host / (device-resident + the copies at the page-locked rates);
  - device-resident: `bench_device --input scores.npy` (the same scores, copied to the device before timing):
    scores in device memory to mask in device memory, the fastest of --repeat calls after a warm-up;
  - the paper's program: the functions of perf/paper_pytorch.py (fp32 exp(τÂ), 300 Dykstra iterations with the
    Q correction, greedy rounding, the paper's local search) called in this process on --torch-device:
    device-resident = its solve() on scores already on the device (the timing paper_pytorch.py prints), the
    fastest of --repeat after its warm-up; host-to-host = numpy scores → device → solve → uint8 mask in numpy;
  - quality: every mask is checked on ALL tiles for exact N-regularity (numpy, vectorised); errors against the
    exact method's mask (tsenor's exact solver; the test suite checks it against LEMON, and with --lemon this run
    checks it again on every tile of the main shape) on --sample-tiles tiles drawn with a fixed seed:
    kept relative error (f*−f)/f* and pruned relative error (f*−f)/(T−f*), mean and worst (docs/design.md §3);
  - LEMON on all the host's cores for the main shape (--lemon), or the docs/design.md §6 anchors, labelled as such;
  - the fraction of the GPU's peak fp32 rate that the tsenor method's Dykstra stage reaches (a lower bound: see
    DYKSTRA_FLOPS_PER_ENTRY and dykstra_peak_fraction).
"""
import argparse
import datetime
import json
import math
import os
import platform
import shlex
import sys
import tempfile
import time

import numpy as np

from common import HERE, cpu_model, error_stats, git_revision, json_lines, nm_of, regular_tiles, run, tile_view
DEFAULT_SHAPES = "8192x8192,4096x4096,1024x4096,14336x4096,4096x14336"
# docs/design.md §6: LEMON's network simplex on the H100 host's 16 cores, 8192×8192 Gaussian scores, every tile exact.
LEMON_ANCHORS = {"shape": "8192x8192", "threads": 16, "seconds": {"2:4": 1.03, "4:8": 0.95, "8:16": 1.10, "16:32": 1.30}}
# Issue 3's acceptance bar, at 8192×8192, 8:16 and 16:32: ≥ 50× the PyTorch program's speed in the same run, mean
# kept relative error ≤ the program's and ≤ 0.05%, every tile N-regular.
ACCEPT_SPEEDUP, ACCEPT_KEPT_ERROR, ACCEPT_PATTERNS = 50.0, 0.0005, ("8:16", "16:32")

# Floating-point operations per tile entry per Dykstra iteration, counted from the loop of dykstra_solve_tile in
# core/tsenor/dykstra.hpp (one iteration = the row pass, the column pass, the update):
#   row pass:    pairwise row sum of min(Y, 1)             (m−1)/m adds per entry
#                a = N / s, one per row                     1/m divisions per entry
#   column pass: row_scale[i] · min(Y, 1)                   1 multiply
#                pairwise column sum                        (m−1)/m adds;  b = N / s: 1/m divisions
#   update:      (Y · row_scale[i]) · col_scale[j]          2 multiplies
# = 2(m−1)/m + 2/m + 1 + 2 = 5 add/multiply/divide per entry, for every M. Not counted: the 4 min/compare
# selections per entry (min(Y,1) twice, the clamp to [FLT_MIN, 2^120]), the per-row/column compares and fp64
# products of the accumulated scalings, and the exp/log work where the iterate is formed (stage starts,
# absorptions). The code has no FMA (--fmad=false keeps results bit-identical), so even a perfect kernel of these
# operations would reach at most half the FMA-based peak below.
DYKSTRA_FLOPS_PER_ENTRY = 5
DYKSTRA_MINMAX_PER_ENTRY = 4
FP32_LANES_PER_SM = 128  # Hopper (and Ampere GA10x / Ada): 128 FP32 lanes per SM; an FMA counts as 2 flops


# ----------------------------------------------------------------------------------------------------------------
# small helpers

T0 = time.perf_counter()


def log(msg):
    print(f"[{time.perf_counter() - T0:7.1f} s] {msg}", file=sys.stderr, flush=True)


def parse_shapes(text):
    shapes = []
    for item in text.split(","):
        r, sep, c = item.strip().lower().partition("x")
        if not sep or not r.isdigit() or not c.isdigit() or int(r) <= 0 or int(c) <= 0:
            raise argparse.ArgumentTypeError(f"shape '{item}' is not of the form RxC")
        shapes.append((int(r), int(c)))
    return shapes


def parse_patterns(text):
    out = []
    for item in text.split(","):
        n, sep, m = item.strip().partition(":")
        if not sep or not n.isdigit() or not m.isdigit() or not 0 < int(n) < int(m):
            raise argparse.ArgumentTypeError(f"pattern '{item}' is not of the form N:M with 0 < N < M")
        out.append(f"{int(n)}:{int(m)}")
    return out


def parse_taus(text, patterns):
    """'70' for every pattern, or '2:4=50,8:16=70' (patterns not named keep 70)."""
    taus = {p: 70.0 for p in patterns}
    if "=" not in text:
        return {p: float(text) for p in patterns}
    for item in text.split(","):
        p, _, t = item.partition("=")
        taus[p.strip()] = float(t)
    return taus


def shape_name(shape):
    return f"{shape[0]}x{shape[1]}"


# ----------------------------------------------------------------------------------------------------------------
# quality

def sampled_objectives(scores, mask, m, idx):
    """f = Σ A·S on the sampled tiles (float64)."""
    p, q = np.divmod(idx, scores.shape[1] // m)
    a = tile_view(scores, m)[p, :, q, :].astype(np.float64)
    s = tile_view(mask, m)[p, :, q, :]
    return (a * (s != 0)).sum(axis=(1, 2)), a.sum(axis=(1, 2))


class Reference:
    """The exact optimum on the sampled tiles of one shape and pattern, from the exact method's mask."""

    def __init__(self, scores, exact_mask, m, idx):
        self.idx, self.m = idx, m
        self.opt, self.total = sampled_objectives(scores, exact_mask, m, idx)

    def quality(self, scores, mask):
        f, _ = sampled_objectives(scores, mask, self.m, self.idx)
        kept = error_stats(self.opt - f, self.opt)
        pruned = error_stats(self.opt - f, self.total - self.opt)
        return {"kept_error_mean": kept["mean"], "kept_error_worst": kept["worst"],
                "pruned_error_mean": pruned["mean"], "pruned_error_worst": pruned["worst"],
                "quality_sample_tiles": int(self.idx.size),
                "quality_skipped_zero_denominator": kept["skipped_zero_denominator"] + pruned["skipped_zero_denominator"]}


def mask_checks(mask, n, m):
    ok = regular_tiles(mask, n, m)
    return {"tiles_checked": int(ok.size), "feasible_tiles": int(ok.sum()), "feasible_fraction": float(ok.mean())}


# ----------------------------------------------------------------------------------------------------------------
# machine

def device_info(args, torch):
    info = {"host_cpu": cpu_model(), "host_cores": os.cpu_count(), "system": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__, "backend": args.backend}
    smi = run(["nvidia-smi", "--query-gpu=name,clocks.max.sm,driver_version,memory.total",
               "--format=csv,noheader,nounits"], check=False) if args.backend == "cuda" else None
    if smi is not None and smi.returncode == 0 and smi.stdout.strip():
        name, clock, driver, memory = [x.strip() for x in smi.stdout.splitlines()[0].split(",")]
        info.update(nvidia_smi_name=name, max_sm_clock_mhz=float(clock), driver=driver, memory_mib=memory)
    elif args.backend == "cuda":
        info["nvidia_smi_error"] = (smi.stderr.strip() if smi is not None else "not run") or "no output"
    if torch is not None:
        info.update(torch=torch.__version__, torch_cuda=torch.version.cuda, torch_device=args.torch_device)
        if args.torch_device == "cuda" and torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            info.update(gpu=props.name, sm_count=props.multi_processor_count,
                        gpu_memory_gib=round(props.total_memory / 2**30, 1))
    info.setdefault("gpu", info.get("nvidia_smi_name"))
    if info.get("sm_count") and info.get("max_sm_clock_mhz"):
        info["fp32_lanes_per_sm"] = FP32_LANES_PER_SM
        info["peak_fp32_flops"] = info["sm_count"] * FP32_LANES_PER_SM * 2 * info["max_sm_clock_mhz"] * 1e6
    info["device"] = info["gpu"] if args.backend == "cuda" and info.get("gpu") else f"{info['host_cpu']} ({args.backend})"
    return info


# ----------------------------------------------------------------------------------------------------------------
# the runs

class Budget:
    """Skips what would end past --deadline, estimating each step from the last of its kind (seconds per entry)."""

    def __init__(self, deadline):
        self.deadline, self.rate, self.skipped = deadline, {}, []

    def allows(self, kind, entries, what):
        if self.deadline is None:
            return True
        estimate = self.rate.get(kind, 0.0) * entries
        elapsed = time.perf_counter() - T0
        if elapsed + estimate <= self.deadline:
            return True
        self.skipped.append({**what, "skipped": f"deadline {self.deadline:.0f} s: {elapsed:.0f} s elapsed, "
                                                f"about {estimate:.0f} s needed"})
        log(f"skip {what.get('shape', '')} {what.get('nm', '')} {what.get('solver', '')} (deadline)")
        return False

    def timeout(self):
        """Seconds a subprocess may still run: to the deadline, but at least 10."""
        if self.deadline is None:
            return None
        return max(10.0, self.deadline - (time.perf_counter() - T0))

    def record(self, kind, entries, seconds):
        self.rate[kind] = seconds / entries


def tool_run(args, scores_path, pattern, method, mask_path, report_path, env):
    cmd = [args.tool, "mask", "--input", scores_path, "--scores", "--nm", pattern, "--method", method,
           "--backend", args.backend, "--output", mask_path, "--report", report_path, "--quiet"]
    t = time.perf_counter()
    run(cmd, env=env, timeout=args.budget.timeout())
    wall = time.perf_counter() - t
    with open(report_path) as f:
        rep = json.load(f)
    return {"seconds_host_to_host": rep["seconds_solve"], "seconds_read": rep["seconds_read"],
            "seconds_write": rep["seconds_write"], "process_wall_seconds": wall, "tiles": rep["tiles"],
            "feasible_tiles_reported": rep["feasible_tiles"], "iterations": rep["iterations"],
            "max_tile_iterations": rep.get("max_tile_iterations"), "tau": rep.get("tau"),
            "objective_reported": rep["objective"], "tool_backend": rep["backend"]}


def torch_solve(args, torch, paper, host_scores, pattern, tau):
    """The paper's program on host_scores: device-resident and host-to-host timings, the mask in numpy."""
    n, m = nm_of(pattern)
    device = torch.device(args.torch_device)
    ls_steps = 2 * m
    scores = torch.from_numpy(host_scores).to(device)
    paper.solve(scores, n, m, tau, 2, ls_steps)  # warm-up, as paper_pytorch.py does
    best = None
    for _ in range(args.repeat):
        mask, timing = paper.solve(scores, n, m, tau, args.torch_iters, ls_steps)
        if best is None or timing["seconds"] < best[1]["seconds"]:
            best = (mask, timing)
    reported = paper.report(scores, best[0], n, m)
    del scores, mask
    # Host to host: numpy scores -> device -> solve -> uint8 mask in numpy.
    paper.sync(device)
    t = time.perf_counter()
    scores = torch.from_numpy(host_scores).to(device)
    mask, _ = paper.solve(scores, n, m, tau, args.torch_iters, ls_steps)
    host_mask = mask.to(torch.uint8).cpu().numpy()
    h2h = time.perf_counter() - t
    del scores, mask
    if device.type == "cuda":
        torch.cuda.empty_cache()
    timing = best[1]
    return host_mask, {"seconds_device_resident": timing["seconds"], "seconds_host_to_host": h2h,
                       "seconds_dykstra": timing["seconds_dykstra"], "seconds_rounding": timing["seconds_rounding"],
                       "local_search_steps": timing["local_search_steps"], "tau": tau, "iters": args.torch_iters,
                       "tiles": reported["tiles"], "feasible_fraction_reported": reported["feasible_fraction"],
                       "objective_reported": reported["objective"]}


def torch_tau_sweep(args, torch, paper, scores, patterns):
    """Best τ per pattern on the first --tau-sweep-rows rows of the main input (largest objective)."""
    taus = [float(x) for x in args.torch_tau_sweep.split(",")]
    rows = min(args.tau_sweep_rows, scores.shape[0])
    device = torch.device(args.torch_device)
    sweep = []
    for pattern in patterns:
        n, m = nm_of(pattern)
        r = rows // m * m
        if r == 0 or scores.shape[1] % m:
            continue
        part = torch.from_numpy(np.ascontiguousarray(scores[:r])).to(device)
        paper.solve(part, n, m, taus[0], 2, 2 * m)
        results = []
        for tau in taus:
            mask, timing = paper.solve(part, n, m, tau, args.torch_iters, 2 * m)
            rep = paper.report(part, mask, n, m)
            results.append({"tau": tau, "objective": rep["objective"], "feasible_fraction": rep["feasible_fraction"],
                            "seconds": timing["seconds"]})
        # An overflowed kernel (τ above ~88 in fp32) can give a NaN objective: it never wins.
        best = max(results, key=lambda x: x["objective"] if math.isfinite(x["objective"]) else -math.inf)
        args.taus[pattern] = best["tau"]
        sweep.append({"nm": pattern, "rows": r, "cols": scores.shape[1], "results": results, "best_tau": best["tau"]})
        tried = ", ".join("%g: %.6g" % (x["tau"], x["objective"]) for x in results)
        log(f"τ sweep {pattern} on {r}x{scores.shape[1]}: best τ {best['tau']:g} ({tried})")
        del part
    return sweep


def pcie_rates(nbytes):
    """Host↔device copy rates of `nbytes` (fastest of 10, torch, page-locked and pageable host memory): what the
    host-to-host runs are compared with. None when torch has no CUDA device."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    count = nbytes // 4
    device = torch.empty(count, dtype=torch.float32, device="cuda")

    def rate(src, dst):
        best = float("inf")
        for _ in range(10):
            torch.cuda.synchronize()
            t = time.perf_counter()
            dst.copy_(src)
            torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t)
        return nbytes / best

    rates = {"bytes": count * 4}
    for pinned in (True, False):
        host = torch.ones(count, dtype=torch.float32, pin_memory=pinned)
        kind = "pinned" if pinned else "pageable"
        rates[f"h2d_{kind}_bytes_per_s"] = rate(host, device)
        rates[f"d2h_{kind}_bytes_per_s"] = rate(device, host)
    try:
        rates.update(host_staging_rates(torch, count))
    except Exception as e:  # an older torch without cudart's register calls: the rates above still stand
        rates["host_staging_error"] = repr(e)
    return rates


def host_staging_rates(torch, count):
    """The two ways host-data calls can feed the DMA engine from pageable memory, on `count` floats: copying
    into page-locked buffers (torch's CPU copy on 1…16 threads, fastest of 5), or page-locking the caller's memory
    in place with cudaHostRegister (read-only flag 8, as for scores; whole, and in 8 MiB pieces; then unregistered;
    fastest of 5) and copying from it."""
    out = {}
    nbytes = count * 4
    src = torch.ones(count, dtype=torch.float32)
    dst = torch.empty(count, dtype=torch.float32, pin_memory=True)
    threads = torch.get_num_threads()
    for k in (1, 2, 4, 8, 16):
        if k > os.cpu_count():
            break
        torch.set_num_threads(k)
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            dst.copy_(src)
            best = min(best, time.perf_counter() - t)
        out[f"host_copy_to_pinned_threads_{k}_bytes_per_s"] = nbytes / best
    torch.set_num_threads(threads)
    cudart = torch.cuda.cudart()
    ptr = src.data_ptr()
    device = torch.empty(count, dtype=torch.float32, device="cuda")
    piece = 8 << 20
    for label, pieces in (("whole", [(0, nbytes)]),
                          ("8mib", [(o, min(piece, nbytes - o)) for o in range(0, nbytes, piece)])):
        best_reg = best_unreg = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            for o, n in pieces:
                err = cudart.cudaHostRegister(ptr + o, n, 8)
                if int(err) != 0:
                    out[f"register_{label}_error"] = int(err)
                    return out
            best_reg = min(best_reg, time.perf_counter() - t)
            if label == "whole":
                torch.cuda.synchronize()
                t = time.perf_counter()
                device.copy_(src)
                torch.cuda.synchronize()
                out["h2d_registered_bytes_per_s"] = max(out.get("h2d_registered_bytes_per_s", 0), nbytes / (time.perf_counter() - t))
            t = time.perf_counter()
            for o, _ in pieces:
                cudart.cudaHostUnregister(ptr + o)
            best_unreg = min(best_unreg, time.perf_counter() - t)
        out[f"register_{label}_bytes_per_s"] = nbytes / best_reg
        out[f"unregister_{label}_bytes_per_s"] = nbytes / best_unreg
    return out


def transfer_bound(records, pcie):
    """Per tsenor run with both timings: the copies' time at the page-locked rates (scores up, 1-byte mask down),
    and host-to-host / (device-resident + copies): issue 13 asks for at most 1.5."""
    for rec in records:
        if not rec.get("solver", "").startswith("tsenor-") or "seconds_device_resident" not in rec or \
                "seconds_host_to_host" not in rec:
            continue
        entries = rec["rows"] * rec["cols"]
        rec["seconds_copies_pinned"] = entries * 4 / pcie["h2d_pinned_bytes_per_s"] + \
            entries / pcie["d2h_pinned_bytes_per_s"]
        rec["host_to_host_over_resident_plus_copies"] = rec["seconds_host_to_host"] / (
            rec["seconds_device_resident"] + rec["seconds_copies_pinned"])


def dykstra_peak_fraction(rec, m, info):
    """Dykstra flops of a tsenor-method run over its device-resident seconds, over the GPU's peak fp32 rate."""
    if rec.get("iterations_device") is None or not rec.get("seconds_device_resident"):
        return
    flops = DYKSTRA_FLOPS_PER_ENTRY * m * m * rec["iterations_device"]
    rec["dykstra_flops"] = flops
    rec["dykstra_flops_per_second_lower_bound"] = flops / rec["seconds_device_resident"]
    if info.get("peak_fp32_flops"):
        rec["dykstra_peak_fp32_fraction_lower_bound"] = flops / rec["seconds_device_resident"] / info["peak_fp32_flops"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", required=True, help="holds bin/tsenor, perf/bench_device (perf/lemon_baseline)")
    p.add_argument("--out", required=True, help="writes OUT.json and OUT.md")
    p.add_argument("--shapes", type=parse_shapes, default=parse_shapes(DEFAULT_SHAPES),
                   help=f"RxC,... (default {DEFAULT_SHAPES}); the first is the main shape")
    p.add_argument("--patterns", type=parse_patterns, default=parse_patterns("2:4,4:8,8:16,16:32"))
    p.add_argument("--methods", default="exact,tsenor,greedy", help="tsenor methods on the main shape")
    p.add_argument("--llama-methods", help="tsenor methods on the other shapes (default: --methods); exact is "
                   "always run, as the quality reference")
    p.add_argument("--backend", default="cuda", help="the tool's --backend (openmp to test on a CPU)")
    p.add_argument("--torch-device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch program (e.g. torch not installed)")
    p.add_argument("--llama-torch", choices=["yes", "no"], default="yes",
                   help="run the PyTorch program on the other shapes too (default yes)")
    p.add_argument("--torch-tau", default="70", help="τ of the PyTorch program: one value, or 2:4=50,8:16=70,... "
                   "(default 70, its measured best on Gaussian scores: perf/results/cpu-2048, docs/design.md §6)")
    p.add_argument("--torch-tau-sweep", help="e.g. 20,50,70,100: first pick the best τ per pattern on the main "
                   "input's first --tau-sweep-rows rows, then run at that τ")
    p.add_argument("--tau-sweep-rows", type=int, default=1024)
    p.add_argument("--torch-iters", type=int, default=300, help="the program's Dykstra iterations (default 300)")
    p.add_argument("--sample-tiles", type=int, default=16384,
                   help="tiles (fixed seed) the errors are computed on; 0 = all tiles (feasibility: always all)")
    p.add_argument("--repeat", type=int, default=3, help="device-resident timings: fastest of R after a warm-up")
    p.add_argument("--lemon", default="auto", help="lemon_baseline path, 'auto' (BUILD/perf/lemon_baseline if "
                   "present) or 'none' (then only the docs/design.md anchors)")
    p.add_argument("--lemon-threads", type=int, default=os.cpu_count())
    p.add_argument("--deadline", type=float, help="seconds: steps that would end later are skipped and recorded")
    p.add_argument("--seed", type=int, default=2025)
    p.add_argument("--keep", help="keep inputs and masks in this folder (default: a temporary folder)")
    args = p.parse_args()
    if args.repeat < 1:
        p.error("--repeat must be ≥ 1")

    args.tool = os.path.join(args.build, "bin", "tsenor")
    args.bench = os.path.join(args.build, "perf", "bench_device")
    for exe in (args.tool, args.bench):
        if not os.access(exe, os.X_OK):
            p.error(f"{exe}: not an executable (--build must hold bin/tsenor and perf/bench_device)")
    lemon = None
    if args.lemon == "auto":
        candidate = os.path.join(args.build, "perf", "lemon_baseline")
        lemon = candidate if os.access(candidate, os.X_OK) else None
    elif args.lemon != "none":
        if not os.access(args.lemon, os.X_OK):
            p.error(f"--lemon {args.lemon}: not an executable")
        lemon = args.lemon
    main_methods = [x for x in args.methods.split(",") if x]
    llama_methods = [x for x in (args.llama_methods or args.methods).split(",") if x]
    for ms in (main_methods, llama_methods):
        if "exact" in ms:
            ms.remove("exact")
        ms.insert(0, "exact")  # the reference comes first
    try:
        args.taus = parse_taus(args.torch_tau, args.patterns)
    except ValueError:
        p.error(f"--torch-tau {args.torch_tau}: want a number or N:M=τ,N:M=τ")
    if args.torch_tau_sweep:
        try:
            [float(x) for x in args.torch_tau_sweep.split(",")]
        except ValueError:
            p.error(f"--torch-tau-sweep {args.torch_tau_sweep}: want comma-separated numbers")

    torch = paper = None
    if not args.no_torch:
        try:
            import torch  # noqa: F811
            sys.path.insert(0, HERE)
            import paper_pytorch as paper
        except ImportError as e:
            p.error(f"PyTorch is needed for the paper's program ({e}); pass --no-torch to skip it")
        if args.torch_device == "cuda" and not torch.cuda.is_available():
            p.error("--torch-device cuda: torch sees no CUDA device (use --torch-device cpu or --no-torch)")

    env = dict(os.environ, OMP_PROC_BIND="false")
    info = device_info(args, torch)
    log(f"device: {info['device']}; tool {args.tool}; backend {args.backend}; torch "
        f"{'off' if torch is None else info.get('torch') + ' on ' + args.torch_device}; lemon {lemon or 'anchors'}")
    budget = args.budget = Budget(args.deadline)
    records, sweep, lemon_checks = [], [], []
    tool_version = run([args.tool, "--version"]).stdout.strip()

    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or tmp
        os.makedirs(work, exist_ok=True)
        # Warm the driver up once (first CUDA context of a fresh machine), untimed.
        tiny = os.path.join(work, "warmup.npy")
        np.save(tiny, np.ones((64, 64), np.float32))
        run([args.tool, "mask", "--input", tiny, "--scores", "--nm", "2:4", "--backend", args.backend,
             "--output", os.path.join(work, "warmup_mask.npy"), "--quiet"], env=env)

        total_entries = sum(r * c for r, c in args.shapes)
        done_entries = 0
        for shape_index, shape in enumerate(args.shapes):
            rows, cols = shape
            sname = shape_name(shape)
            main_shape = shape_index == 0
            methods = main_methods if main_shape else llama_methods
            entries = rows * cols
            rng = np.random.default_rng([args.seed, rows, cols])
            scores = np.abs(rng.standard_normal((rows, cols), dtype=np.float32))
            scores_path = os.path.join(work, f"scores_{sname}.npy")
            np.save(scores_path, scores)
            log(f"{sname}: |N(0,1)| float32 scores written ({scores.nbytes / 2**20:.0f} MiB)")
            patterns = []
            for pattern in args.patterns:
                _, m = nm_of(pattern)
                if rows % m or cols % m:
                    budget.skipped.append({"shape": sname, "nm": pattern, "skipped": f"not a multiple of M = {m}"})
                else:
                    patterns.append(pattern)

            if main_shape and torch is not None and args.torch_tau_sweep:
                sweep = torch_tau_sweep(args, torch, paper, scores, patterns)

            # Device-resident: one bench_device process for every pattern and method of this shape.
            bench = {}
            what = {"shape": sname, "solver": "bench_device (all patterns and methods)"}
            if budget.allows("bench", entries * len(patterns) * len(methods), what):
                t = time.perf_counter()
                try:
                    out = run([args.bench, "--input", scores_path, "--patterns", ",".join(patterns),
                               "--methods", ",".join(methods), "--repeat", str(args.repeat)], env=env, check=False,
                              timeout=budget.timeout())
                    stdout, rc = out.stdout, out.returncode
                except RuntimeError as e:  # killed at the deadline: keep the runs it finished
                    log(f"error: {e}")
                    budget.skipped.append({**what, "skipped": str(e)})
                    stdout, rc = e.partial_stdout, 0
                    out = None
                wall = time.perf_counter() - t
                budget.record("bench", entries * len(patterns) * len(methods), wall)
                for line in json_lines(stdout):
                    bench[(line["nm"], line["method"])] = line
                    if "error" in line:
                        log(f"bench_device error: {line}")
                if rc not in (0, 1):
                    log(f"bench_device exited with {rc}: {out.stderr.strip()[-1000:]}")
                log(f"{sname}: device-resident runs done in {wall:.1f} s (" + ", ".join(
                    f"{k[0]} {k[1]} {v['seconds']:.4f} s" for k, v in bench.items() if "seconds" in v) + ")")

            for pattern in patterns:
                n, m = nm_of(pattern)
                tiles = entries // (m * m)
                sample = args.sample_tiles if 0 < args.sample_tiles < tiles else tiles
                idx = np.sort(np.random.default_rng([args.seed, rows, cols, m]).choice(tiles, sample, replace=False))
                base = {"shape": sname, "rows": rows, "cols": cols, "nm": pattern, "n_kept": n, "m": m,
                        "main_shape": main_shape}
                reference = None
                pattern_records = []
                for method in methods:
                    what = {**base, "solver": f"tsenor-{method}"}
                    if not budget.allows(f"tool-{method}-{m}", entries, what):
                        continue
                    mask_path = os.path.join(work, f"mask_{sname}_{n}-{m}_{method}.npy")
                    t = time.perf_counter()
                    try:
                        r = tool_run(args, scores_path, pattern, method, mask_path,
                                     os.path.join(work, f"report_{sname}_{n}-{m}_{method}.json"), env)
                    except RuntimeError as e:
                        log(f"error: {e}")
                        records.append({**what, "error": str(e)})
                        continue
                    budget.record(f"tool-{method}-{m}", entries, time.perf_counter() - t)
                    rec = {**what, "device": info["device"], "backend": args.backend, **r}
                    b = bench.get((pattern, method))
                    if b and "seconds" in b:
                        rec.update(seconds_device_resident=b["seconds"], device_exec=b["exec"],
                                   iterations_device=b["iterations"], device_repeat=b["repeat"],
                                   objective_device=b["objective"],
                                   device_objective_matches=b["objective"] == r["objective_reported"])
                    elif b:
                        rec["device_error"] = b.get("error")
                    mask = np.load(mask_path)
                    rec.update(mask_checks(mask, n, m))
                    if method == "exact":
                        reference = Reference(scores, mask, m, idx)
                    if reference is not None:
                        rec.update(reference.quality(scores, mask))
                    if method in ("entropic", "tsenor"):
                        dykstra_peak_fraction(rec, m, info)
                    del mask
                    os.remove(mask_path)
                    pattern_records.append(rec)
                    log(f"{sname} {pattern} tsenor-{method}: host-to-host {rec['seconds_host_to_host']:.4f} s, "
                        f"device-resident {rec.get('seconds_device_resident', float('nan')):.4f} s, "
                        f"feasible {100 * rec['feasible_fraction']:.2f}%, kept err mean "
                        f"{100 * (rec.get('kept_error_mean') or 0):.4f}%")

                torch_rec = None
                if torch is not None and (main_shape or args.llama_torch == "yes"):
                    what = {**base, "solver": "paper-pytorch"}
                    if budget.allows(f"torch-{m}", entries, what):
                        t = time.perf_counter()
                        try:
                            mask, r = torch_solve(args, torch, paper, scores, pattern, args.taus[pattern])
                            budget.record(f"torch-{m}", entries, time.perf_counter() - t)
                            torch_rec = {**what, "device": info["device"] if args.torch_device == "cuda"
                                         else f"{info['host_cpu']} (torch cpu)", "torch_device": args.torch_device,
                                         **r, **mask_checks(mask, n, m)}
                            if reference is not None:
                                torch_rec.update(reference.quality(scores, mask))
                            del mask
                            pattern_records.append(torch_rec)
                            log(f"{sname} {pattern} paper-pytorch (τ {r['tau']:g}): device-resident "
                                f"{r['seconds_device_resident']:.4f} s, host-to-host {r['seconds_host_to_host']:.4f} s, "
                                f"feasible {100 * torch_rec['feasible_fraction']:.2f}%, kept err mean "
                                f"{100 * (torch_rec.get('kept_error_mean') or 0):.4f}%")
                        except (RuntimeError, MemoryError) as e:  # e.g. CUDA out of memory
                            log(f"error: paper-pytorch {sname} {pattern}: {e}")
                            records.append({**what, "error": str(e)})
                            if args.torch_device == "cuda":
                                torch.cuda.empty_cache()
                if torch_rec is not None:
                    for rec in pattern_records:
                        if rec is torch_rec:
                            continue
                        if rec.get("seconds_device_resident"):
                            rec["speedup_vs_torch_device_resident"] = (
                                torch_rec["seconds_device_resident"] / rec["seconds_device_resident"])
                        rec["speedup_vs_torch_host_to_host"] = (
                            torch_rec["seconds_host_to_host"] / rec["seconds_host_to_host"])

                if main_shape and lemon is not None:
                    what = {**base, "solver": "lemon-network-simplex"}
                    if budget.allows(f"lemon-{m}", entries, what):
                        optima = os.path.join(work, "optima.bin")
                        t = time.perf_counter()
                        try:
                            r = json_lines(run([lemon, scores_path, "--nm", pattern, "--threads",
                                                str(args.lemon_threads), "--objectives", optima], env=env,
                                               timeout=budget.timeout()).stdout)[-1]
                            budget.record(f"lemon-{m}", entries, time.perf_counter() - t)
                            opt = np.fromfile(optima, dtype="<f8")
                            os.remove(optima)
                            rec = {**what, "device": f"{info['host_cpu']} ({r['threads']} threads)",
                                   "threads": r["threads"], "seconds_host_to_host": r["seconds"], "tiles": r["tiles"],
                                   "feasible_fraction": 1.0, "kept_error_mean": 0.0, "kept_error_worst": 0.0,
                                   "pruned_error_mean": 0.0, "pruned_error_worst": 0.0, "measured": True}
                            if reference is not None:
                                # The exact method's optimum against LEMON's on the sampled tiles.
                                diff = np.abs(reference.opt - opt[idx]) / np.maximum(np.abs(opt[idx]), 1e-300)
                                lemon_checks.append({"shape": sname, "nm": pattern, "tiles": int(idx.size),
                                                     "max_relative_difference": float(diff.max())})
                            records.append(rec)
                            log(f"{sname} {pattern} LEMON on {r['threads']} threads: {r['seconds']:.3f} s")
                        except (RuntimeError, IndexError) as e:
                            log(f"error: lemon {e}")
                            records.append({**what, "error": str(e)})
                records.extend(pattern_records)
            os.remove(scores_path)
            del scores
            done_entries += entries
            elapsed = time.perf_counter() - T0
            if done_entries < total_entries:
                log(f"{sname} done; about {elapsed * (total_entries / done_entries - 1):.0f} s more at this rate")

    # × LEMON, host to host: against LEMON measured in this run on the same shape, else (8192×8192 only) the anchor.
    lemon_reference = {}
    for rec in records:
        if rec.get("solver") == "lemon-network-simplex" and "seconds_host_to_host" in rec:
            lemon_reference[(rec["shape"], rec["nm"])] = (rec["seconds_host_to_host"],
                                                          f"measured in this run, {rec['threads']} threads")
    for pattern, seconds in LEMON_ANCHORS["seconds"].items():
        source = f"anchor: docs/design.md §6, H100 host, {LEMON_ANCHORS['threads']} cores"
        lemon_reference.setdefault((LEMON_ANCHORS["shape"], pattern), (seconds, source))
    for rec in records:
        key = (rec.get("shape"), rec.get("nm"))
        if rec.get("solver", "").startswith("tsenor-") and key in lemon_reference and "seconds_host_to_host" in rec:
            seconds, source = lemon_reference[key]
            rec["speedup_vs_lemon_host_to_host"] = seconds / rec["seconds_host_to_host"]
            rec["lemon_seconds"] = seconds
            rec["lemon_source"] = source

    pcie = pcie_rates(max(r * c for r, c in args.shapes) * 4) if args.backend == "cuda" else None
    if pcie:
        transfer_bound(records, pcie)
        log("PCIe: " + ", ".join(f"{k} {v / 1e9:.1f} GB/s" for k, v in pcie.items() if k.endswith("_per_s")))
    result = {
        "benchmark": "tsenor on the device (issue 3)", "pcie": pcie,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": shlex.join([sys.executable, os.path.relpath(sys.argv[0])] + sys.argv[1:]),
        "git_commit": git_revision(), "tool_version": tool_version, "machine": info,
        "settings": {"shapes": [shape_name(s) for s in args.shapes], "patterns": args.patterns,
                     "methods_main": main_methods, "methods_other_shapes": llama_methods,
                     "torch": torch is not None, "torch_taus": args.taus, "torch_iters": args.torch_iters,
                     "repeat": args.repeat, "sample_tiles": args.sample_tiles, "seed": args.seed,
                     "deadline": args.deadline, "lemon": lemon or "none"},
        "lemon_anchors": LEMON_ANCHORS,
        "dykstra_flop_count": {"flops_per_entry_per_iteration": DYKSTRA_FLOPS_PER_ENTRY,
                               "min_compare_per_entry_per_iteration_not_counted": DYKSTRA_MINMAX_PER_ENTRY,
                               "source": "core/tsenor/dykstra.hpp, dykstra_solve_tile: see perf/gpu_benchmark.py"},
        "torch_tau_sweep": sweep, "exact_vs_lemon": lemon_checks,
        "acceptance": acceptance(records, main),
        "records": records, "skipped": budget.skipped,
        "total_seconds": time.perf_counter() - T0,
    }
    with open(args.out + ".json", "w") as f:
        json.dump(finite(result), f, indent=1, allow_nan=False)
    with open(args.out + ".md", "w") as f:
        f.write(markdown(result))
    log(f"wrote {args.out}.json and {args.out}.md")


def finite(value):
    """JSON has no NaN or infinity: they are written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def acceptance(records, main):
    """Issue 3's bar at 8192×8192, 8:16 and 16:32, per tsenor method."""
    out = []
    if main != "8192x8192":
        return out
    for pattern in ACCEPT_PATTERNS:
        torch_rec = next((r for r in records if r.get("shape") == main and r.get("nm") == pattern
                          and r.get("solver") == "paper-pytorch" and "error" not in r), None)
        for rec in records:
            if rec.get("shape") != main or rec.get("nm") != pattern or not rec.get("solver", "").startswith("tsenor-") \
                    or "error" in rec:
                continue
            speedup = rec.get("speedup_vs_torch_device_resident")
            err = rec.get("kept_error_mean")
            torch_err = torch_rec.get("kept_error_mean") if torch_rec else None
            ok = (speedup is not None and speedup >= ACCEPT_SPEEDUP and err is not None and torch_err is not None
                  and err <= torch_err and err <= ACCEPT_KEPT_ERROR and rec.get("feasible_fraction") == 1.0)
            out.append({"nm": pattern, "solver": rec["solver"], "speedup_vs_torch_device_resident": speedup,
                        "kept_error_mean": err, "torch_kept_error_mean": torch_err,
                        "feasible_fraction": rec.get("feasible_fraction"), "passes": ok})
    return out


# ----------------------------------------------------------------------------------------------------------------
# markdown

def fmt(v, spec, scale=1.0, suffix=""):
    return "–" if v is None else f"{v * scale:{spec}}{suffix}"


def markdown(res):
    info = res["machine"]
    lines = [f"# {res['benchmark']}", "",
             f"`{res['command']}`", "",
             f"{res['date']}, git {res['git_commit']}, {res['tool_version']}, total {res['total_seconds']:.0f} s.",
             f"Device: **{info['device']}**"
             + (f" ({info['sm_count']} SMs, max SM clock {info['max_sm_clock_mhz']:.0f} MHz, peak fp32 "
                f"{info['peak_fp32_flops'] / 1e12:.1f} TFLOP/s = SMs × {info['fp32_lanes_per_sm']} lanes × 2 × clock)"
                if info.get("peak_fp32_flops") else "")
             + f"; host {info['host_cpu']} ({info['host_cores']} cores); torch {info.get('torch', '–')} "
               f"(CUDA {info.get('torch_cuda', '–')}), driver {info.get('driver', '–')}.", "",
             "Inputs: |N(0,1)| float32 from numpy, fixed seed per shape. Device-resident = scores in device memory to "
             "the mask in device memory (`bench_device --input`, the same scores, fastest of "
             f"{res['settings']['repeat']} after a warm-up; the PyTorch program's own timing, also fastest of "
             f"{res['settings']['repeat']}). Host-to-host = the tool's `seconds_solve` (one cold process; .npy read "
             "and write excluded, listed apart) and, for PyTorch, numpy → device → mask back in numpy. Speedups "
             "compare like with like: device-resident with device-resident, host-to-host with host-to-host. "
             "Feasible = tiles exactly N-regular, checked on every tile. Errors (docs/design.md §3) against the exact "
             f"method's mask on {res['settings']['sample_tiles'] or 'all'} tiles per run drawn with a fixed seed "
             "(all tiles when fewer).", ""]
    recs = [r for r in res["records"] if "error" not in r]
    lines += ["## Speed and quality", "",
              "| shape | N:M | solver | device-resident s | host-to-host s | read s | write s | × PyTorch (dev) "
              "| × PyTorch (h2h) | × LEMON (h2h) | feasible | kept err mean | kept err worst | pruned err mean "
              "| pruned err worst |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in recs:
        solver = r["solver"] + (f" (τ {r['tau']:g})" if r["solver"] == "paper-pytorch" else "")
        if r["solver"] == "lemon-network-simplex":
            solver += f", {r['threads']} CPU threads"
        lines.append(
            f"| {r['shape']} | {r['nm']} | {solver} | {fmt(r.get('seconds_device_resident'), '.4f')} | "
            f"{fmt(r.get('seconds_host_to_host'), '.4f')} | {fmt(r.get('seconds_read'), '.2f')} | "
            f"{fmt(r.get('seconds_write'), '.2f')} | {fmt(r.get('speedup_vs_torch_device_resident'), '.1f', 1, '×')} | "
            f"{fmt(r.get('speedup_vs_torch_host_to_host'), '.1f', 1, '×')} | "
            f"{fmt(r.get('speedup_vs_lemon_host_to_host'), '.1f', 1, '×')} | "
            f"{fmt(r.get('feasible_fraction'), '.2f', 100, '%')} | {fmt(r.get('kept_error_mean'), '.4f', 100, '%')} | "
            f"{fmt(r.get('kept_error_worst'), '.3f', 100, '%')} | {fmt(r.get('pruned_error_mean'), '.4f', 100, '%')} | "
            f"{fmt(r.get('pruned_error_worst'), '.3f', 100, '%')} |")
    errors = [r for r in res["records"] if "error" in r]
    if errors:
        lines += ["", "Errors:", ""] + [f"- {r['shape']} {r['nm']} {r['solver']}: {r['error']}" for r in errors]
    if res.get("pcie"):
        pc = res["pcie"]
        lines += ["", "## Host to host against the copies", "",
                  f"Host↔device copies of {pc['bytes'] / 2**20:.0f} MiB measured in this run with torch (fastest of 10): "
                  f"page-locked {pc['h2d_pinned_bytes_per_s'] / 1e9:.1f} GB/s up, {pc['d2h_pinned_bytes_per_s'] / 1e9:.1f} "
                  f"GB/s down; pageable {pc['h2d_pageable_bytes_per_s'] / 1e9:.1f} up, "
                  f"{pc['d2h_pageable_bytes_per_s'] / 1e9:.1f} down. Copies = the scores up and the 1-byte mask down at "
                  "the page-locked rates; the goal (issue 13) is host-to-host ≤ 1.5 × (device-resident + copies).", "",
                  "| shape | N:M | solver | device-resident s | copies s | host-to-host s | ratio |", "|---|---|---|---|---|---|---|"]
        for r in recs:
            if "host_to_host_over_resident_plus_copies" in r:
                lines.append(f"| {r['shape']} | {r['nm']} | {r['solver']} | {r['seconds_device_resident']:.4f} | "
                             f"{r['seconds_copies_pinned']:.4f} | {r['seconds_host_to_host']:.4f} | "
                             f"{r['host_to_host_over_resident_plus_copies']:.2f} |")
    lines += ["", "## LEMON (exact network simplex on the host CPU)", ""]
    measured = [r for r in recs if r["solver"] == "lemon-network-simplex"]
    if measured:
        lines.append("Measured in this run on this host's cores: the lemon-network-simplex rows above (every tile "
                     "solved exactly; the .npy read and conversion not timed).")
    lines.append("Anchors (docs/design.md §6, not measured in this run): LEMON on the H100 host's 16 cores, "
                 "8192×8192, " + ", ".join(f"{k} {v} s" for k, v in res["lemon_anchors"]["seconds"].items())
                 + ". The × LEMON column uses LEMON measured in this run on the same shape where there is one, else "
                   "(8192×8192 only) the anchor: `lemon_source` in the JSON says which.")
    for c in res["exact_vs_lemon"]:
        lines.append(f"- exact method vs LEMON optimum, {c['shape']} {c['nm']}: max relative difference "
                     f"{c['max_relative_difference']:.2e} on {c['tiles']} sampled tiles")
    gpu_exact = [r for r in recs if r["solver"] == "tsenor-exact" and "speedup_vs_lemon_host_to_host" in r]
    if gpu_exact:
        lines += ["", "A user with a GPU must never be better off solving exactly on the CPU: tsenor's exact method "
                  f"on {info['device']}, host to host, against LEMON on the host CPU: "
                  + ", ".join(f"{r['shape']} {r['nm']} {r['speedup_vs_lemon_host_to_host']:.1f}× "
                              f"({'measured' if r['lemon_source'].startswith('measured') else 'anchor'})"
                              for r in gpu_exact)
                  + (" — holds." if all(r["speedup_vs_lemon_host_to_host"] > 1 for r in gpu_exact)
                     else " — does NOT hold everywhere.")]
    dyk = [r for r in recs if "dykstra_flops" in r]
    if dyk:
        lines += ["", "## Dykstra stage against the peak fp32 rate (tsenor method)", "",
                  f"Flops = {res['dykstra_flop_count']['flops_per_entry_per_iteration']} add/mul/div per tile entry "
                  "per iteration (counted from `dykstra_solve_tile`; min/compare selections, fp64 bookkeeping and "
                  "the exp/log of stage starts not counted) × M² × the summed iterations of the device-resident "
                  "run. Divided by the whole device-resident time (rounding included), so the rate and the fraction "
                  "are lower bounds for the Dykstra stage. The code uses no FMA (bit-identical results), so these "
                  "operations can reach at most 50% of the FMA-based peak.", "",
                  "| shape | N:M | iterations (Σ tiles) | GFLOP | device-resident s | GFLOP/s (≥) | of peak fp32 (≥) |",
                  "|---|---|---|---|---|---|---|"]
        for r in dyk:
            lines.append(f"| {r['shape']} | {r['nm']} | {r['iterations_device']} | {r['dykstra_flops'] / 1e9:.3g} | "
                         f"{r['seconds_device_resident']:.4f} | {r['dykstra_flops_per_second_lower_bound'] / 1e9:.3g} | "
                         f"{fmt(r.get('dykstra_peak_fp32_fraction_lower_bound'), '.2f', 100, '%')} |")
    if res["acceptance"]:
        lines += ["", "## Issue 3 bar (8192×8192, 8:16 and 16:32)", "",
                  f"≥ {ACCEPT_SPEEDUP:.0f}× the PyTorch program device-resident, mean kept error ≤ the program's and "
                  f"≤ {100 * ACCEPT_KEPT_ERROR:.2f}%, 100% N-regular.", "",
                  "| N:M | solver | × PyTorch (dev) | kept err mean | PyTorch kept err mean | feasible | passes |",
                  "|---|---|---|---|---|---|---|"]
        for a in res["acceptance"]:
            lines.append(f"| {a['nm']} | {a['solver']} | {fmt(a['speedup_vs_torch_device_resident'], '.1f', 1, '×')} | "
                         f"{fmt(a['kept_error_mean'], '.4f', 100, '%')} | {fmt(a['torch_kept_error_mean'], '.4f', 100, '%')} "
                         f"| {fmt(a['feasible_fraction'], '.2f', 100, '%')} | {'yes' if a['passes'] else 'no'} |")
    if res["torch_tau_sweep"]:
        lines += ["", "## PyTorch program: τ sweep", ""]
        for s in res["torch_tau_sweep"]:
            lines.append(f"- {s['nm']} on {s['rows']}×{s['cols']}: best τ {s['best_tau']:g} ("
                         + ", ".join(f"τ {x['tau']:g}: objective {x['objective']:.6g}, feasible "
                                     f"{100 * x['feasible_fraction']:.2f}%" for x in s["results"]) + ")")
    if res["skipped"]:
        lines += ["", "## Skipped", ""] + [
            f"- {s.get('shape', '')} {s.get('nm', '')} {s.get('solver', '')}: {s['skipped']}" for s in res["skipped"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
