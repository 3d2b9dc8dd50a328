#!/usr/bin/env python3
"""The timeline of a 'tsenor prune' run as a self-contained SVG file (no plotting library): one row per
pipeline stage (read, solve, write), one bar per chunk from its start to its end (colour: the tensor's kind,
e.g. q_proj), and each stage's busy share of the run's wall clock in the margin.

  perf/timeline_plot.py REPORT.json OUT.svg [--title TEXT]

REPORT.json is the --report of 'tsenor prune' with masks from scores (its tensors carry "timeline").
"""
import argparse
import json
from xml.sax.saxutils import escape

STAGES = ("read", "solve", "write")
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]
WIDTH, LEFT, RIGHT, TOP, ROW, GAP, BOTTOM = 1000, 70, 220, 40, 46, 14, 46


def kind(name):
    """The tensor's kind: its name without layer numbers, e.g. 'self_attn.q_proj.weight'."""
    parts = [p for p in name.split(".") if not p.isdigit()]
    return ".".join(parts[-3:-1]) if len(parts) >= 3 else name


def busy(intervals):
    """Seconds covered by the union of the intervals."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def write_svg(report, path, title):
    chunks = [(t["name"], c) for t in report["tensors"] for c in t.get("timeline", [])]
    if not chunks:
        raise SystemExit("timeline_plot: the report has no timeline (masks from scores only)")
    wall = report["totals"]["seconds"]
    kinds = list(dict.fromkeys(kind(name) for name, _ in chunks))
    colour = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(kinds)}
    plot_w = WIDTH - LEFT - RIGHT
    height = TOP + len(STAGES) * (ROW + GAP) + BOTTOM + 16 * ((len(kinds) + 3) // 4)

    def x(t):
        return LEFT + plot_w * t / wall

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" '
           f'font-size="12">', f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
           f'<text x="{LEFT}" y="22" font-size="14">{escape(title)}</text>']
    for row, stage in enumerate(STAGES):
        y = TOP + row * (ROW + GAP)
        out.append(f'<text x="{LEFT - 8}" y="{y + ROW / 2 + 4}" text-anchor="end">{stage}</text>')
        out.append(f'<rect x="{LEFT}" y="{y}" width="{plot_w}" height="{ROW}" fill="#f4f4f4"/>')
        for name, c in chunks:
            a, b = c[stage]
            out.append(f'<rect x="{x(a):.2f}" y="{y + 3}" width="{max(x(b) - x(a), 0.6):.2f}" height="{ROW - 6}" '
                       f'fill="{colour[kind(name)]}" fill-opacity="0.8"><title>{escape(name)} rows '
                       f'{c["first_row"]}..{c["first_row"] + c["rows"] - 1}: {stage} {a:.3f}-{b:.3f} s</title></rect>')
        share = busy([tuple(c[stage]) for _, c in chunks]) / wall
        out.append(f'<text x="{WIDTH - RIGHT + 10}" y="{y + ROW / 2 + 4}">busy {100 * share:.0f}% of the run</text>')
    axis_y = TOP + len(STAGES) * (ROW + GAP) - GAP + 4
    step = max(1, round(wall / 10))
    t = 0
    while t <= wall:
        out.append(f'<line x1="{x(t):.1f}" y1="{axis_y}" x2="{x(t):.1f}" y2="{axis_y + 5}" stroke="black"/>')
        out.append(f'<text x="{x(t):.1f}" y="{axis_y + 18}" text-anchor="middle">{t:g}</text>')
        t += step
    out.append(f'<text x="{LEFT + plot_w / 2}" y="{axis_y + 34}" text-anchor="middle">seconds since the run '
               f'started (end to end {wall:.2f} s)</text>')
    for i, k in enumerate(kinds):
        lx, ly = LEFT + (i % 4) * 200, axis_y + 52 + 16 * (i // 4)
        out.append(f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" fill="{colour[k]}"/>')
        out.append(f'<text x="{lx + 18}" y="{ly}">{escape(k)}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("report")
    p.add_argument("out")
    p.add_argument("--title", default=None)
    a = p.parse_args()
    with open(a.report) as f:
        report = json.load(f)
    title = a.title or (f"tsenor prune {report['n_kept']}:{report['m']}, backend {report['backend']}: "
                        f"{report['totals']['bytes_read'] / 1e9:.2f} GB in {report['totals']['seconds']:.2f} s")
    write_svg(report, a.out, title)


if __name__ == "__main__":
    main()
