#!/usr/bin/env python3
"""Where a CUDA kernel's instructions and stalls come from, by source line.

Nsight Compute's per-instruction table (`ncu -i REPORT --page source --csv --print-source sass`)
has no source lines when the sources are not where the binary was built. This joins it with the
line table of the binary itself (cuobjdump + nvdisasm, built with -lineinfo) and prints the
shares of executed instructions and of stall samples per file and per source line. Only the
innermost line of an inlined call counts (nvdisasm's line table).

  python3 perf/ncu_lines.py BINARY TABLE.csv[.gz] KERNEL_REGEX [--lines 45]

KERNEL_REGEX picks the kernel's mangled name in the binary (the first match, in the first of the
binary's cubins, in name order, that has one: build for one architecture), for instance
'SolveTilesILNS3_6MethodE3ELi16ENS0_14CudaTeamMemberENS_4ViewIPPfJNS_11LayoutRightENS_6DeviceINS_4CudaE'.
The table must hold that kernel first (ncu --kernel-name ... --launch-count 1, or its first one).
"""
import argparse
import collections
import csv
import gzip
import pathlib
import re
import subprocess
import sys
import tempfile


def line_table(binary, kernel):
    """{offset: (file name, line)} of the first kernel whose name matches `kernel`."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["cuobjdump", "-xelf", "all", str(pathlib.Path(binary).resolve())], cwd=tmp,
                       check=True, capture_output=True)
        for cubin in sorted(pathlib.Path(tmp).glob("*.cubin")):
            sass = subprocess.run(["nvdisasm", "-g", "-c", str(cubin)], capture_output=True, text=True,
                                  check=True).stdout
            table, inside, where = {}, False, ("?", 0)
            for text in sass.split("\n"):
                section = re.match(r"\s*\.section\s+\.text\.(\S+?),", text)
                if section:
                    if inside:
                        break
                    inside = re.search(kernel, section.group(1)) is not None
                    continue
                if not inside:
                    continue
                source = re.search(r'//## File "([^"]+)", line (\d+)', text)
                if source:
                    where = (source.group(1).rsplit("/", 1)[-1], int(source.group(2)))
                    continue
                offset = re.search(r"/\*([0-9a-f]{4,})\*/", text)
                if offset:
                    table[int(offset.group(1), 16)] = where
            if table:
                return table
    sys.exit(f"ncu_lines: no kernel matching {kernel!r} in {binary}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binary")
    parser.add_argument("table")
    parser.add_argument("kernel")
    parser.add_argument("--lines", type=int, default=45, help="source lines to print (most stalls first)")
    args = parser.parse_args()
    table = line_table(args.binary, args.kernel)
    opener = gzip.open if args.table.endswith(".gz") else open
    with opener(args.table, "rt") as f:
        rows = list(csv.reader(f))
    header = next(i for i, r in enumerate(rows) if "Address" in r)
    names = rows[header]
    address, executed = names.index("Address"), names.index("Instructions Executed")
    stalls = names.index("Warp Stall Sampling (All Samples)")
    per_line = collections.defaultdict(lambda: [0, 0, 0])
    base = None
    for r in rows[header + 1:]:
        if len(r) != len(names):
            break  # the next kernel's table
        base = int(r[address], 16) if base is None else base
        where = table.get(int(r[address], 16) - base, ("?", 0))
        entry = per_line[where]
        entry[0] += int(r[executed] or 0)
        entry[1] += int(r[stalls] or 0)
        entry[2] += 1
    total_executed = sum(v[0] for v in per_line.values()) or 1
    total_stalls = sum(v[1] for v in per_line.values()) or 1
    print(f"{total_executed} warp instructions executed, {total_stalls} stall samples")
    per_file = collections.defaultdict(lambda: [0, 0])
    for (name, _), v in per_line.items():
        per_file[name][0] += v[0]
        per_file[name][1] += v[1]
    print("instructions  stalls  file")
    for name, v in sorted(per_file.items(), key=lambda x: -x[1][1]):
        print(f"{100 * v[0] / total_executed:11.1f}% {100 * v[1] / total_stalls:6.1f}%  {name}")
    print("instructions  stalls  SASS  line")
    for (name, line), v in sorted(per_line.items(), key=lambda x: -x[1][1])[: args.lines]:
        print(f"{100 * v[0] / total_executed:11.1f}% {100 * v[1] / total_stalls:6.1f}% {v[2]:5d}  {name}:{line}")


if __name__ == "__main__":
    main()
