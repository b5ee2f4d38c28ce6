"""Small inline SVG charts for the sweep report: lines, main effects, parallel coordinates,
shares with intervals. Plain strings, no library and nothing fetched: the page works offline."""

from __future__ import annotations

import math
from html import escape
from typing import Any

import numpy as np

from nnexp.sweeps.importance import level_order

W, H, PAD = 420, 260, 44
LEGEND = 6  # series named in a legend; more are named on hover
NAMED = 200  # lines named on hover, up to this many in one chart
VIRIDIS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))


def show(value: Any) -> str:
    """A swept value as typed: 0.1, [8,16], sgd."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "[" + ",".join(show(v) for v in value) + "]"
    return str(value)


def colour(t: float) -> str:
    """Viridis at t in [0, 1] (nan: grey)."""
    if not math.isfinite(t):
        return "#999"
    t = min(1.0, max(0.0, t)) * (len(VIRIDIS) - 1)
    i = min(int(t), len(VIRIDIS) - 2)
    a, b = VIRIDIS[i], VIRIDIS[i + 1]
    return "#" + "".join(f"{round(x + (y - x) * (t - i)):02x}" for x, y in zip(a, b, strict=True))


def _scale(lo: float, hi: float, a: float, b: float):  # noqa: ANN202 - a tiny closure
    span = hi - lo if hi > lo else 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def _frame(title: str, x_label: str, y_label: str, lo: float, hi: float, body: str,
           x_ticks: str = "") -> str:
    y = _scale(lo, hi, H - PAD, 12)
    ticks = "".join(f'<text x="{PAD - 4}" y="{y(v) + 3:.1f}" class="tick" text-anchor="end">'
                    f"{v:.3g}</text>" for v in np.linspace(lo, hi, 4))
    return (f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img">'
            f"<title>{escape(title)}</title>"
            f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 8}" y2="{H - PAD}" class="axis"/>'
            f'<line x1="{PAD}" y1="12" x2="{PAD}" y2="{H - PAD}" class="axis"/>{ticks}{x_ticks}'
            f'<text x="{(W + PAD) / 2}" y="{H - 8}" text-anchor="middle">{escape(x_label)}</text>'
            f'<text x="12" y="{H / 2}" transform="rotate(-90 12 {H / 2})" '
            f'text-anchor="middle">{escape(y_label)}</text>{body}</svg>')


def _bounds(arrays: list[np.ndarray]) -> tuple[float, float]:
    finite = [a[np.isfinite(a)] for a in arrays if a.size]
    finite = [a for a in finite if a.size]
    if not finite:
        return 0.0, 1.0
    return float(min(a.min() for a in finite)), float(max(a.max() for a in finite))


def lines_chart(title: str, series: list[tuple[str, np.ndarray, np.ndarray, str]],
                x_label: str, y_label: str) -> str:
    """Overlaid polylines (label, xs, ys, colour); non-finite points break nothing: dropped."""
    x_lo, x_hi = _bounds([s[1] for s in series])
    y_lo, y_hi = _bounds([s[2] for s in series])
    x, y = _scale(x_lo, x_hi, PAD, W - 8), _scale(y_lo, y_hi, H - PAD, 12)
    body = []
    named = len(series) <= NAMED  # a name to hover over; beyond, the page would only grow
    for label, xs, ys, stroke in series:
        ok = np.isfinite(xs) & np.isfinite(ys)
        if ok.sum() < 1:
            continue
        points = " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in zip(xs[ok], ys[ok], strict=True))
        title = f"<title>{escape(label)}</title>" if named else ""
        body.append(f'<polyline points="{points}" stroke="{stroke}" class="curve">{title}'
                    "</polyline>")
    ticks = "".join(f'<text x="{x(v):.1f}" y="{H - PAD + 12}" class="tick" '
                    f'text-anchor="middle">{v:.3g}</text>' for v in np.linspace(x_lo, x_hi, 4))
    if len(series) <= LEGEND:
        body += [f'<text x="{W - 10}" y="{20 + 12 * i}" text-anchor="end" fill="{stroke}">'
                 f"{escape(label)}</text>" for i, (label, _, _, stroke) in enumerate(series)]
    return _frame(title, x_label, y_label, y_lo, y_hi, "".join(body), ticks)


def effect_chart(key: str, objective: str, levels: list[str],
                 points: list[tuple[int, float]], means: list[float]) -> str:
    """Objective against a key's values: each child a dot, the level means joined by a line."""
    y_lo, y_hi = _bounds([np.array([p[1] for p in points]), np.array(means)])
    x = _scale(0, max(len(levels) - 1, 1), PAD + 20, W - 28)
    y = _scale(y_lo, y_hi, H - PAD, 12)
    dots = "".join(f'<circle cx="{x(i) + (j % 5 - 2) * 3:.1f}" cy="{y(v):.1f}" r="3" '
                   f'class="dot"/>' for j, (i, v) in enumerate(points) if math.isfinite(v))
    line = " ".join(f"{x(i):.1f},{y(m):.1f}" for i, m in enumerate(means) if math.isfinite(m))
    ticks = "".join(f'<text x="{x(i):.1f}" y="{H - PAD + 12}" class="tick" '
                    f'text-anchor="middle">{escape(lv)}</text>' for i, lv in enumerate(levels))
    body = f'{dots}<polyline points="{line}" class="mean"/>'
    return _frame(f"{objective} against {key}", key, objective, y_lo, y_hi, body, ticks)


def parallel_chart(axes: list[str], columns: list[list[Any]], objective: list[float],
                   names: list[str], width: int = 860) -> str:
    """A polyline per child across one axis per key (values in order) and the objective,
    coloured by the objective (dark: low)."""
    n = len(axes)
    xs = [PAD + i * (width - 2 * PAD) / max(n - 1, 1) for i in range(n)]
    positions, labels = [], []
    for values in columns:
        if all(isinstance(v, float) for v in values):
            lo, hi = _bounds([np.array(values, np.float64)])
            positions.append([_scale(lo, hi, H - PAD, 20)(v) for v in values])
            labels.append((f"{lo:.3g}", f"{hi:.3g}"))
        else:
            order = sorted(set(values), key=level_order)
            at = _scale(0, max(len(order) - 1, 1), H - PAD, 20)
            positions.append([at(order.index(v)) for v in values])
            labels.append((show(order[0]), show(order[-1])))
    lo, hi = _bounds([np.array(objective, np.float64)])
    shade = [colour((v - lo) / (hi - lo) if hi > lo else 0.5) for v in objective]
    body = []
    for c in range(len(objective)):
        points = " ".join(f"{xs[i]:.1f},{positions[i][c]:.1f}" for i in range(n))
        title = f"<title>{escape(names[c])}</title>" if len(objective) <= NAMED else ""
        body.append(f'<polyline points="{points}" stroke="{shade[c]}" class="pc">{title}'
                    "</polyline>")
    for i, axis in enumerate(axes):
        body.append(f'<line x1="{xs[i]:.1f}" y1="20" x2="{xs[i]:.1f}" y2="{H - PAD}" '
                    f'class="axis"/><text x="{xs[i]:.1f}" y="12" text-anchor="middle">'
                    f'{escape(axis)}</text><text x="{xs[i] + 3:.1f}" y="{H - PAD + 12}" '
                    f'class="tick">{escape(labels[i][0])}</text><text x="{xs[i] + 3:.1f}" '
                    f'y="30" class="tick">{escape(labels[i][1])}</text>')
    return (f'<svg viewBox="0 0 {width} {H}" width="{width}" height="{H}" role="img">'
            f"<title>parallel coordinates</title>{''.join(body)}</svg>")


def shares_chart(rows: list[tuple[str, float, float, float]]) -> str:
    """Horizontal bars of shares (name, share, low, high) with their intervals, 0 marked."""
    height = 24 * len(rows) + 30
    lo = min([0.0, *(r[2] for r in rows if math.isfinite(r[2])), *(r[1] for r in rows)])
    hi = max([1.0, *(r[3] for r in rows if math.isfinite(r[3]))])
    x = _scale(lo, hi, 170, 640)
    body = [f'<line x1="{x(0):.1f}" y1="4" x2="{x(0):.1f}" y2="{height - 20}" class="axis"/>']
    for i, (name, share, low, high) in enumerate(rows):
        top = 8 + 24 * i
        left, right = sorted((x(0), x(share)))
        body.append(f'<text x="164" y="{top + 12}" text-anchor="end">{escape(name)}</text>'
                    f'<rect x="{left:.1f}" y="{top}" width="{right - left:.1f}" height="16" '
                    f'class="bar"/>')
        if math.isfinite(low):
            body.append(f'<line x1="{x(low):.1f}" y1="{top + 8}" x2="{x(high):.1f}" '
                        f'y2="{top + 8}" class="ci"/>')
    for v in (0.0, 0.5, 1.0):
        body.append(f'<text x="{x(v):.1f}" y="{height - 6}" class="tick" '
                    f'text-anchor="middle">{v:.0%}</text>')
    return (f'<svg viewBox="0 0 660 {height}" width="660" height="{height}" role="img">'
            f"<title>share of the variance</title>{''.join(body)}</svg>")
