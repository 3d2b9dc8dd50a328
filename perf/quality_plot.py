"""The plot of perf/model_quality.py as a self-contained SVG file (no plotting library): a metric against
the N:M pattern, one line per pruning method and mask, the dense model as a grey dashed line."""
import math
from xml.sax.saxutils import escape

COLOURS = {"magnitude": "#7f7f7f", "wanda": "#1f77b4", "sparsegpt": "#2ca02c", "alps": "#d62728"}
DASHES = {"rows": "", "exact": "8 4", "entropic": "2 3"}
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 860, 440, 70, 300, 40, 50


def write_svg(path, result, metric, log, names):
    """metric: the cell key on the y axis (log scale when log); names: mask key -> legend name."""
    cells = [c for c in result["cells"] if c["method"] != "dense"]
    dense = next((c[metric] for c in result["cells"] if c["method"] == "dense"), None)
    patterns = list(dict.fromkeys(c["nm"] for c in cells))
    values = [c[metric] for c in cells] + ([dense] if dense is not None else [])
    scale = math.log10 if log else (lambda v: v)
    low, high = min(map(scale, values)), max(map(scale, values))
    high = high if high > low else low + 1
    low, high = low - 0.04 * (high - low), high + 0.04 * (high - low)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(nm):
        return LEFT + plot_w * (patterns.index(nm) + 0.5) / len(patterns)

    def y(v):
        return TOP + plot_h * (high - scale(v)) / (high - low)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" '
           f'font-size="12">', f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
           f'<text x="{LEFT}" y="22" font-size="14">{escape(result["model"]["name"])}: {escape(metric)} '
           f'against the pattern{" (log scale)" if log else ""}</text>',
           f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="black"/>']
    for i in range(5):  # y ticks
        v = low + (high - low) * i / 4
        label = 10 ** v if log else v
        ty = TOP + plot_h * (1 - i / 4)
        out.append(f'<line x1="{LEFT - 4}" y1="{ty:.1f}" x2="{LEFT}" y2="{ty:.1f}" stroke="black"/>'
                   f'<text x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end">{label:.4g}</text>')
    for nm in patterns:
        out.append(f'<text x="{x(nm):.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">{nm}</text>')
    out.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 10}" text-anchor="middle">N:M (N kept of M)</text>')
    if dense is not None:
        out.append(f'<line x1="{LEFT}" y1="{y(dense):.1f}" x2="{LEFT + plot_w}" y2="{y(dense):.1f}" stroke="#bbbbbb" '
                   f'stroke-dasharray="4 4"/>')
    legend_y = TOP
    lines = list(dict.fromkeys((c["method"], c["mask"]) for c in cells))
    for method, mask in lines:
        points = [(x(c["nm"]), y(c[metric])) for c in cells if (c["method"], c["mask"]) == (method, mask)]
        style = f'stroke="{COLOURS.get(method, "black")}" stroke-width="2" fill="none"' + \
            (f' stroke-dasharray="{DASHES[mask]}"' if DASHES.get(mask) else "")
        out.append(f'<polyline {style} points="{" ".join(f"{px:.1f},{py:.1f}" for px, py in points)}"/>')
        out.extend(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{COLOURS.get(method, "black")}"/>'
                   for px, py in points)
        lx = LEFT + plot_w + 12
        out.append(f'<line x1="{lx}" y1="{legend_y + 6}" x2="{lx + 28}" y2="{legend_y + 6}" {style}/>'
                   f'<text x="{lx + 34}" y="{legend_y + 10}">{escape(method)}, {escape(names.get(mask, mask))}'
                   f'</text>')
        legend_y += 18
    if dense is not None:
        lx = LEFT + plot_w + 12
        out.append(f'<line x1="{lx}" y1="{legend_y + 6}" x2="{lx + 28}" y2="{legend_y + 6}" stroke="#bbbbbb" '
                   f'stroke-dasharray="4 4"/><text x="{lx + 34}" y="{legend_y + 10}">dense</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
