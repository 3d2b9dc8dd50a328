#!/usr/bin/env python3
"""Quality and speed of tsenor's methods beside the baselines, on one machine, in one run.

For every input family and N:M pattern: LEMON's network simplex solves every tile exactly
(lemon_baseline: time and per-tile optima), each tsenor method runs through the tool, the paper's
algorithm runs as a PyTorch tensor program (paper_pytorch.py, when torch is importable), and every
mask is scored against the optima (quality.py). Writes one self-describing JSON file (machine,
Kokkos, git revision, command) and a Markdown table beside it.

  perf/benchmark.py --build build --out perf/results/cpu.json [--size 2048] [--threads 2]
"""
import argparse
import datetime
import json
import os
import sys
import tempfile

from common import HERE, git_revision, last_json, machine, run


def quality(mask, scores, nm, objectives):
    q = last_json(run([sys.executable, os.path.join(HERE, "quality.py"), mask, scores, "--nm", nm,
                       "--objectives", objectives]).stdout)
    return {"feasible_fraction": q["feasible_fraction"],
            "kept_error_mean": q["kept_relative_error"]["mean"], "kept_error_worst": q["kept_relative_error"]["worst"],
            "pruned_error_mean": q["pruned_relative_error"]["mean"],
            "pruned_error_worst": q["pruned_relative_error"]["worst"]}


def best_of(repeat, fn):
    """Runs fn() `repeat` times and keeps the fastest result (the machine may be shared)."""
    results = [fn() for _ in range(repeat)]
    return min(results, key=lambda r: r["seconds"])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", required=True, help="build directory (bin/tsenor, perf/lemon_baseline)")
    p.add_argument("--out", required=True, help="JSON file to write; a .md table is written beside it")
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--patterns", default="2:4,4:8,8:16,16:32")
    p.add_argument("--families", default="gaussian,heavy_tailed,lowrank_noise")
    p.add_argument("--methods", default="exact,tsenor,greedy")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--repeat", type=int, default=3, help="timed runs per solver; the fastest is kept")
    p.add_argument("--torch-tau", type=float, default=70.0, help="τ of the PyTorch program (its measured best)")
    p.add_argument("--tsenor-taus", default="", help="comma-separated τ values to run the tsenor method at "
                   "(default: the tool's default τ only); used to choose the default")
    p.add_argument("--no-torch", action="store_true")
    args = p.parse_args()

    tool = os.path.join(args.build, "bin", "tsenor")
    lemon = os.path.join(args.build, "perf", "lemon_baseline")
    try:
        import torch  # noqa: F401
        have_torch = not args.no_torch
    except ImportError:
        have_torch = False
    env = dict(os.environ, OMP_PROC_BIND="false", OMP_NUM_THREADS=str(args.threads))
    rows = []
    with tempfile.TemporaryDirectory() as work:
        run([sys.executable, os.path.join(HERE, "make_inputs.py"), work, "--size", str(args.size)])
        for family in args.families.split(","):
            scores = os.path.join(work, family + ".npy")
            for nm in args.patterns.split(","):
                objectives = os.path.join(work, "optima.bin")

                def lemon_run():
                    r = last_json(run([lemon, scores, "--nm", nm, "--threads", str(args.threads),
                                       "--objectives", objectives], env=env).stdout)
                    return {"seconds": r["seconds"], "tiles": r["tiles"]}

                base = {"family": family, "nm": nm, "rows": args.size, "cols": args.size, "threads": args.threads}
                r = best_of(args.repeat, lemon_run)
                rows.append({**base, "solver": "lemon-network-simplex", **r, "tiles_per_second": r["tiles"] / r["seconds"],
                             "feasible_fraction": 1.0, "kept_error_mean": 0.0, "kept_error_worst": 0.0,
                             "pruned_error_mean": 0.0, "pruned_error_worst": 0.0})
                runs = [(method, []) for method in args.methods.split(",")]
                if args.tsenor_taus:
                    runs = [(m, x) for m, x in runs if m != "tsenor"]
                    runs += [("tsenor", ["--tau", tau]) for tau in args.tsenor_taus.split(",")]
                for method, extra in runs:
                    mask = os.path.join(work, "mask.npy")
                    report = os.path.join(work, "report.json")

                    def tool_run():
                        run([tool, "mask", "--input", scores, "--scores", "--nm", nm, "--method", method,
                             "--threads", str(args.threads), "--output", mask, "--report", report, "--quiet"] + extra,
                            env=env)
                        with open(report) as f:
                            rep = json.load(f)
                        return {"seconds": rep["seconds_solve"], "tiles": rep["tiles"], "tau": rep["tau"],
                                "max_iterations": rep["max_iterations"]}

                    r = best_of(args.repeat, tool_run)
                    label = "tsenor-" + method + (f"(tau={extra[1]})" if extra else "")
                    rows.append({**base, "solver": label, **r, "tiles_per_second": r["tiles"] / r["seconds"],
                                 **quality(mask, scores, nm, objectives)})
                if have_torch:
                    mask = os.path.join(work, "torch_mask.npy")

                    def torch_run():
                        r = last_json(run([sys.executable, os.path.join(HERE, "paper_pytorch.py"), scores, "--nm", nm,
                                           "--tau", str(args.torch_tau), "--threads", str(args.threads),
                                           "--output", mask], env=env).stdout)
                        return {"seconds": r["seconds"], "tiles": r["tiles"], "tau": r["tau"],
                                "seconds_dykstra": r.get("seconds_dykstra")}

                    r = best_of(args.repeat, torch_run)
                    rows.append({**base, "solver": "paper-pytorch", **r, "tiles_per_second": r["tiles"] / r["seconds"],
                                 **quality(mask, scores, nm, objectives)})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)

    result = {"benchmark": "tsenor quality and speed", "date": datetime.datetime.now().isoformat(timespec="seconds"),
              "command": " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:]),
              "git_revision": git_revision(short=True), "tool_version": run([tool, "--version"]).stdout.strip(),
              "machine": machine(), "rows": rows}
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.splitext(args.out)[0] + ".md", "w") as f:
        f.write(markdown(result))


def markdown(result):
    lines = [f"# {result['benchmark']}", "",
             f"`{result['command']}` — {result['date']}, git {result['git_revision']}, {result['tool_version']}",
             f"on {result['machine']['cpu']} ({result['machine']['cores']} cores), "
             f"load average at start {result['machine']['load_average_at_start'][0]:.2f}", "",
             "| scores | N:M | solver | threads | seconds | tiles/s | feasible | kept err mean | kept err worst |"
             " pruned err mean | pruned err worst |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['family']} | {r['nm']} | {r['solver']} | {r['threads']} | {r['seconds']:.3f} | "
                     f"{r['tiles_per_second']:.0f} | {100 * r['feasible_fraction']:.1f}% | "
                     f"{100 * r['kept_error_mean']:.4f}% | {100 * r['kept_error_worst']:.3f}% | "
                     f"{100 * r['pruned_error_mean']:.4f}% | {100 * r['pruned_error_worst']:.3f}% |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
