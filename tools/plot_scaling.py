#!/usr/bin/env python3
"""SVG figures of `make scaling` (tools/scaling.py), written as plain SVG text: no matplotlib.

    python3 tools/plot_scaling.py build/scaling     # re-plot from upstream.csv / downstream.csv

Figures (log-log axes; light points are single seeds, lines are geometric means over seeds):
  t_scaling.svg    sin(theta) against T with n fixed, and at a fixed total nT, with a slope -1/2 guide
  n_scaling.svg    sin(theta) against n with T fixed, with a slope -1/2 guide
  h_scaling.svg    per-task Q error against H, and divided by H
  downstream.svg   a new task's Q error against n0: frozen, scratch, best-ridge scratch, oracle,
                   for the strong and the weak upstream
"""
import csv
import math
import os
import sys
from xml.sax.saxutils import escape

COLORS = ["#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b"]


def read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


def finite_positive(values):
    return [v for v in values if v == v and v > 0 and math.isfinite(v)]


def geometric_mean(values):
    values = finite_positive(values)
    return math.exp(sum(map(math.log, values)) / len(values)) if values else float("nan")


def log_ticks(low, high):
    """Tick values 1, 2, 5 x 10^j inside [low, high] (a few more decades when the range is small)."""
    ticks = []
    for exponent in range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1):
        for mantissa in (1, 2, 5):
            value = mantissa * 10 ** exponent
            if low <= value * (1 + 1e-9) and value <= high * (1 + 1e-9):
                ticks.append(value)
    if len(ticks) > 8:
        ticks = [t for t in ticks if str(t).lstrip("0.").startswith("1")] or ticks
    return ticks


def label(value):
    if value >= 1000 or value < 1e-3:
        return f"{value:.0e}".replace("e+0", "e").replace("e-0", "e-")
    return f"{value:g}"


class Panel:
    """One log-log plot area inside an SVG document."""

    def __init__(self, x, y, width, height, xs, ys, title, xlabel, ylabel):
        self.x, self.y, self.width, self.height = x, y, width, height
        xs, ys = finite_positive(xs), finite_positive(ys)
        self.xmin, self.xmax = min(xs) / 1.25, max(xs) * 1.25
        self.ymin, self.ymax = min(ys) / 1.5, max(ys) * 1.5
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel
        self.items = []
        self.legend = []
        self.legend_at_bottom = False

    def px(self, value):
        return self.x + self.width * (math.log(value) - math.log(self.xmin)) / (math.log(self.xmax) - math.log(self.xmin))

    def py(self, value):
        return self.y + self.height * (1 - (math.log(value) - math.log(self.ymin)) / (math.log(self.ymax) - math.log(self.ymin)))

    def inside(self, x, y):
        return x == x and y == y and x > 0 and y > 0 and self.xmin <= x <= self.xmax and self.ymin <= y <= self.ymax

    def points(self, xs, ys, color, radius=2.2, opacity=0.35):
        for x, y in zip(xs, ys):
            if self.inside(x, y):
                self.items.append(f'<circle cx="{self.px(x):.1f}" cy="{self.py(y):.1f}" r="{radius}" fill="{color}" fill-opacity="{opacity}"/>')

    def line(self, xs, ys, color, name=None, dash=None, markers=True):
        pairs = [(x, y) for x, y in zip(xs, ys) if self.inside(x, y)]
        if len(pairs) >= 2:
            path = " ".join(f"{self.px(x):.1f},{self.py(y):.1f}" for x, y in pairs)
            style = f' stroke-dasharray="{dash}"' if dash else ""
            self.items.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.8"{style}/>')
        if markers:
            for x, y in pairs:
                self.items.append(f'<circle cx="{self.px(x):.1f}" cy="{self.py(y):.1f}" r="3.2" fill="{color}"/>')
        if name:
            self.legend.append((name, color, dash))

    def guide(self, x0, y0, slope, name, color="#777"):
        """A reference line of the given log-log slope through (x0, y0)."""
        xs = [self.xmin * 1.05, self.xmax / 1.05]
        ys = [y0 * (x / x0) ** slope for x in xs]
        self.line(xs, ys, color, name, dash="5,4", markers=False)

    def render(self):
        out = [f'<rect x="{self.x}" y="{self.y}" width="{self.width}" height="{self.height}" fill="none" stroke="#333"/>']
        for tick in log_ticks(self.xmin, self.xmax):
            x = self.px(tick)
            out.append(f'<line x1="{x:.1f}" y1="{self.y}" x2="{x:.1f}" y2="{self.y + self.height}" stroke="#ddd"/>')
            out.append(f'<text x="{x:.1f}" y="{self.y + self.height + 15}" text-anchor="middle">{label(tick)}</text>')
        for tick in log_ticks(self.ymin, self.ymax):
            y = self.py(tick)
            out.append(f'<line x1="{self.x}" y1="{y:.1f}" x2="{self.x + self.width}" y2="{y:.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{self.x - 6}" y="{y + 4:.1f}" text-anchor="end">{label(tick)}</text>')
        out.append(f'<text x="{self.x + self.width / 2}" y="{self.y - 10}" text-anchor="middle" font-weight="bold">{escape(self.title)}</text>')
        out.append(f'<text x="{self.x + self.width / 2}" y="{self.y + self.height + 34}" text-anchor="middle">{escape(self.xlabel)}</text>')
        cx, cy = self.x - 52, self.y + self.height / 2
        out.append(f'<text x="{cx}" y="{cy}" text-anchor="middle" transform="rotate(-90 {cx} {cy})">{escape(self.ylabel)}</text>')
        out.extend(self.items)
        for index, (name, color, dash) in enumerate(self.legend):
            ly = self.y + 14 + 16 * index
            if self.legend_at_bottom:
                ly += self.height - 20 - 16 * len(self.legend)
            style = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(f'<line x1="{self.x + 10}" y1="{ly}" x2="{self.x + 34}" y2="{ly}" stroke="{color}" stroke-width="2"{style}/>')
            out.append(f'<text x="{self.x + 40}" y="{ly + 4}">{escape(name)}</text>')
        return "\n".join(out)


def write_svg(path, panels, width, height):
    body = "\n".join(panel.render() for panel in panels)
    text = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">\n'
            f'<rect width="100%" height="100%" fill="white"/>\n{body}\n</svg>\n')
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def fit_slope(xs, ys):
    pairs = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x > 0 and y > 0 and y == y]
    if len(pairs) < 2:
        return float("nan")
    mx = sum(p[0] for p in pairs) / len(pairs)
    my = sum(p[1] for p in pairs) / len(pairs)
    return sum((p[0] - mx) * (p[1] - my) for p in pairs) / sum((p[0] - mx) ** 2 for p in pairs)


def series(rows, x_key, y_key):
    """Per-seed points and geometric means over seeds, by x."""
    xs_all = [number(r[x_key]) for r in rows]
    ys_all = [number(r[y_key]) for r in rows]
    xs = sorted(set(xs_all))
    means = [geometric_mean([y for x2, y in zip(xs_all, ys_all) if x2 == x]) for x in xs]
    return xs_all, ys_all, xs, means


def plot_all(out):
    upstream = read_csv(os.path.join(out, "upstream.csv"))
    downstream = read_csv(os.path.join(out, "downstream.csv"))
    written = []

    # T-scaling (n fixed; and nT fixed).
    t_rows = [r for r in upstream if r["sweep"] == "t"]
    nt_rows = [r for r in upstream if r["sweep"] == "nt"]
    if t_rows:
        px, py, xs, ys = series(t_rows, "T", "sin_theta")
        all_y = py + ([number(r["sin_theta"]) for r in nt_rows])
        panel = Panel(80, 40, 420, 300, px + [number(r["T"]) for r in nt_rows], all_y,
                      f"sin(theta) vs T (slope {fit_slope(xs, ys):.2f})", "T (tasks)",
                      "sin(theta): span(Psi B-hat) vs span(X B*)")
        panel.points(px, py, COLORS[0])
        panel.line(xs, ys, COLORS[0], f"n = {int(number(t_rows[0]['n']))} per task")
        if nt_rows:
            qx, qy, xs2, ys2 = series(nt_rows, "T", "sin_theta")
            total = int(number(nt_rows[0]["n"]) * number(nt_rows[0]["T"]))
            panel.points(qx, qy, COLORS[1])
            panel.line(xs2, ys2, COLORS[1], f"fixed nT = {total} (max/min {max(ys2) / min(ys2):.2f})")
        panel.guide(xs[len(xs) // 2], ys[len(ys) // 2], -0.5, "slope -1/2")
        path = os.path.join(out, "t_scaling.svg")
        write_svg(path, [panel], 540, 390)
        written.append(path)

    n_rows = [r for r in upstream if r["sweep"] == "n"]
    if n_rows:
        px, py, xs, ys = series(n_rows, "n", "sin_theta")
        panel = Panel(80, 40, 420, 300, px, py, f"sin(theta) vs n (slope {fit_slope(xs, ys):.2f})",
                      "n (transitions per task)", "sin(theta): span(Psi B-hat) vs span(X B*)")
        panel.points(px, py, COLORS[0])
        panel.line(xs, ys, COLORS[0], f"T = {int(number(n_rows[0]['T']))} tasks")
        panel.guide(xs[len(xs) // 2], ys[len(ys) // 2], -0.5, "slope -1/2")
        path = os.path.join(out, "n_scaling.svg")
        write_svg(path, [panel], 540, 390)
        written.append(path)

    h_rows = [r for r in upstream if r["sweep"] == "h"]
    if h_rows:
        px, py, xs, ys = series(h_rows, "H", "q_error_uniform")
        left = Panel(80, 40, 360, 300, px, py, f"per-task Q error vs H (slope {fit_slope(xs, ys):.2f})",
                     "H (horizon)", "RMS of Q - Q* (all s, a, steps)")
        left.points(px, py, COLORS[0])
        left.line(xs, ys, COLORS[0], "multitask")
        qx, qy, xs2, ys2 = series(h_rows, "H", "q_error_per_H")
        right = Panel(560, 40, 360, 300, qx, qy, f"Q error / H (slope {fit_slope(xs2, ys2):.2f})",
                      "H (horizon)", "RMS of Q - Q*, divided by H")
        right.points(qx, qy, COLORS[1])
        right.line(xs2, ys2, COLORS[1], "multitask / H")
        path = os.path.join(out, "h_scaling.svg")
        write_svg(path, [left, right], 960, 390)
        written.append(path)

    if downstream:
        panels = []
        for index, label_name in enumerate(["strong", "weak"]):
            rows = [r for r in downstream if r["label"] == label_name]
            if not rows:
                continue
            values = [number(r[key]) for r in rows for key in ("frozen", "scratch", "scratch_best", "oracle")]
            n0s = [number(r["n0"]) for r in rows]
            first = rows[0]
            panel = Panel(80 + 480 * index, 40, 360, 300, n0s, values,
                          f"{label_name} upstream (T = {first['T']}, n = {first['n']})", "n0 (new-task transitions)",
                          "RMS of Q - Q* (new task)")
            panel.legend_at_bottom = True
            for color, key, name in [(COLORS[0], "frozen", "frozen phi-hat"), (COLORS[1], "scratch", "scratch"),
                                     (COLORS[2], "scratch_best", "scratch, best ridge"), (COLORS[3], "oracle", "oracle phi*")]:
                px, py, xs, ys = series(rows, "n0", key)
                panel.points(px, py, color, radius=1.6, opacity=0.25)
                panel.line(xs, ys, color, name, dash="6,3" if key == "scratch_best" else None)
            panels.append(panel)
        if panels:
            path = os.path.join(out, "downstream.svg")
            write_svg(path, panels, 480 * len(panels), 390)
            written.append(path)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for figure in plot_all(sys.argv[1]):
        print(figure)
