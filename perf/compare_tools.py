#!/usr/bin/env python3
"""Is a change neutral? Two builds of the tool on the same inputs, in one sitting: are the masks byte-identical,
and how do the solve times compare?

Usage: compare_tools.py --before OLD/tsenor --after NEW/tsenor --out RESULT.json
                        [--size 2048] [--patterns 2:4,4:8,8:16,16:32] [--methods exact,tsenor,greedy]
                        [--repeat 5] [--threads 2]

Inputs are perf/make_inputs.py's (gaussian, heavy_tailed, lowrank_noise) at --size. For each input, pattern and
method both tools run `tsenor mask --input X --scores --nm N:M --method M --threads T --output O --report R`,
alternating before/after --repeat times; the masks of every run are compared byte for byte and the fastest
`seconds_solve` of each side is kept. Writes one JSON document (machine, revision, commands, per-case results)
and prints a markdown table.
"""
import argparse
import filecmp
import json
import math
import os
import sys
import tempfile

import common


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--before", required=True, help="the tool before the change")
    p.add_argument("--after", required=True, help="the tool after the change")
    p.add_argument("--out", required=True, help="result JSON")
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--patterns", default="2:4,4:8,8:16,16:32")
    p.add_argument("--methods", default="exact,tsenor,greedy")
    p.add_argument("--families", default="gaussian,heavy_tailed,lowrank_noise")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    tools = {"before": os.path.abspath(a.before), "after": os.path.abspath(a.after)}
    for side, tool in tools.items():
        if not os.access(tool, os.X_OK):
            sys.exit(f"compare_tools.py: --{side} {tool}: not an executable")
    cases, identical = [], 0
    with tempfile.TemporaryDirectory(prefix="tsenor-compare-") as work:
        common.run([sys.executable, os.path.join(common.HERE, "make_inputs.py"), work, "--size", str(a.size)])
        print("| input | N:M | method | masks | before s | after s | before/after |\n|---|---|---|---|---|---|---|")
        for family in a.families.split(","):
            for nm in a.patterns.split(","):
                for method in a.methods.split(","):
                    best, same = {"before": math.inf, "after": math.inf}, True
                    for _ in range(a.repeat):
                        for side, tool in tools.items():
                            mask, report = os.path.join(work, f"{side}.npy"), os.path.join(work, f"{side}.json")
                            common.run([tool, "mask", "--input", os.path.join(work, family + ".npy"), "--scores",
                                        "--nm", nm, "--method", method, "--threads", str(a.threads),
                                        "--output", mask, "--report", report, "--quiet"])
                            with open(report) as f:
                                best[side] = min(best[side], json.load(f)["seconds_solve"])
                        same = same and filecmp.cmp(os.path.join(work, "before.npy"),
                                                    os.path.join(work, "after.npy"), shallow=False)
                    identical += same
                    ratio = best["before"] / best["after"] if best["after"] > 0 else math.nan
                    cases.append({"family": family, "nm": nm, "method": method, "masks_identical": same,
                                  "seconds_before": best["before"], "seconds_after": best["after"], "ratio": ratio})
                    print(f"| {family} | {nm} | {method} | {'same' if same else 'DIFFERENT'} | "
                          f"{best['before']:.3f} | {best['after']:.3f} | {ratio:.3f} |", flush=True)
    ratios = [c["ratio"] for c in cases if c["ratio"] > 0]
    geomean = math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else math.nan
    print(f"\nmasks identical: {identical} of {len(cases)}; before/after geometric mean {geomean:.3f}")
    with open(a.out, "w") as f:
        json.dump({"driver": "perf/compare_tools.py", "argv": sys.argv[1:], "revision": common.git_revision(),
                   "machine": common.machine(), "tools": tools, "cases": cases,
                   "masks_identical": identical, "geomean_before_over_after": geomean}, f, indent=1)
    return 0 if identical == len(cases) else 1


if __name__ == "__main__":
    sys.exit(main())
