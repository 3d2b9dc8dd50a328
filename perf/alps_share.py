#!/usr/bin/env python3
"""ALPS's projection as a share of an iteration, from perf/alps_probe.py outputs run under the kernel timer
(KOKKOS_PROFILE_LIBRARY=build/perf/libtsenor_kernel_timer.so, --tsenor-only; perf/results/h200/README.md,
sessions 15 and 16):

  perf/alps_share.py PROBE_OUTPUT...

Per file, per ALPS iteration: the projection = tsenor::solve_tiles over its calls (iterations + 2: the
first projection, one an iteration, the final support's), the GEMM = the seconds before tsenor::admm_z, the element kernels =
admm_rhs + admm_z + admm_dual, the ρ step = the seconds before admm_rhs (mostly the GEMM that forms
(H' + ρI)⁻¹ every third iteration); the share = projection / (projection + GEMM + element kernels), and with
the ρ step added to the iteration. The timer's totals cover the warm-up call too (a 64² layer: negligible)."""
import re
import sys


def seconds(text, name, before=False):
    m = re.search(r"([0-9.]+) s\s+\d+ calls\s+[0-9.]+%\s+" + (r"\(before\) " if before else "") + re.escape(name) + r"\n",
                  text)
    if not m:
        raise SystemExit(f"no kernel timer line for {'(before) ' if before else ''}{name}")
    return float(m.group(1))


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return
    for path in sys.argv[1:]:
        text = open(path).read()
        found = re.search(r"PROBE tsenor alps n=\d+ iterations=(\d+)", text)
        if not found:
            raise SystemExit(f"{path}: no 'PROBE tsenor alps' line")
        iterations = int(found.group(1))
        projection = seconds(text, "tsenor::solve_tiles") / (iterations + 2)
        gemm = seconds(text, "tsenor::admm_z", before=True) / iterations
        elements = sum(seconds(text, k) for k in ("tsenor::admm_rhs", "tsenor::admm_z", "tsenor::admm_dual")) / iterations
        rho = seconds(text, "tsenor::admm_rhs", before=True) / iterations
        iteration = projection + gemm + elements
        print(f"{path}: {iterations} iterations; projection {projection * 1e3:.1f} ms, GEMM {gemm * 1e3:.1f} ms, "
              f"element kernels {elements * 1e3:.1f} ms, rho step {rho * 1e3:.1f} ms: "
              f"{100 * projection / iteration:.1f}% of an iteration, {100 * projection / (iteration + rho):.1f}% with the rho step")


if __name__ == "__main__":
    main()
