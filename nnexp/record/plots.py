"""matplotlib figures drawn once a sweep or a range test: a sweep's objective against each swept
parameter, the learning-rate range test. (A run's own figures: `nnexp.record.run_plots`.)"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nnexp.record.chart import spans_decades


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path, margins: str = "tight") -> Path:
    """Write a PNG and free the figure.

    ``margins``: "tight" lays out with ``tight_layout``, which costs a second drawing pass
    (35 ms of a 100 ms plot); "fixed" sets margins in inches, for plots whose tick labels are
    short numbers; "set" keeps what the caller set. zlib level 1 encodes 2-3x faster than PIL's
    default level 6, for about 20 % more bytes.
    """
    if margins == "fixed":
        width, height = fig.get_size_inches()
        fig.subplots_adjust(left=0.9 / width, right=1 - 0.2 / width,
                            bottom=0.6 / height, top=1 - 0.4 / height)
    elif margins == "tight":
        fig.tight_layout()
        # tight_layout leaves a placeholder layout engine, for which savefig draws the whole
        # figure an extra time; the layout is already applied, so drop the engine
        fig.set_layout_engine(None)
    fig.savefig(path, dpi=110, pil_kwargs={"compress_level": 1})
    _pyplot().close(fig)
    return path


def objective_vs_parameter(table: Sequence[dict], parameter: str, objective: str,
                           group_by: Sequence[str], path: Path, log_x: bool = False) -> Path:
    """A sweep's objective against one swept parameter, one line per value of the others.

    Runs sharing a point (other seeds, say) are averaged; error bars show their standard
    deviation. Children that diverged, failed or have no finite objective are marked at the top
    instead of stretching the axis; values spanning decades get a log axis.
    """
    return _save(objective_figure(table, parameter, objective, group_by, log_x), path)


def objective_figure(table: Sequence[dict], parameter: str, objective: str,
                     group_by: Sequence[str], log_x: bool = False):
    """The figure `objective_vs_parameter` saves (rows: `status`, `diverged`, the keys)."""
    plt = _pyplot()
    from matplotlib.ticker import FuncFormatter, NullFormatter

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    groups: dict[str, dict[str, list[float]]] = {}
    off_chart: list[tuple[str, str]] = []  # (x, why) of children with no value to plot
    for row in table:
        value = row.get(objective)
        finite = value is not None and np.isfinite(value)
        if row.get("status", "FINISHED") != "FINISHED" or not finite:
            why = "diverged" if row.get("diverged") else (
                "no value" if row.get("status", "FINISHED") == "FINISHED" else "failed")
            off_chart.append((str(row[parameter]), why))
            continue
        label = ", ".join(f"{k}={row[k]}" for k in group_by) or objective
        groups.setdefault(label, {}).setdefault(str(row[parameter]), []).append(float(value))
    xs_all = {x for points in groups.values() for x in points} | {x for x, _ in off_chart}
    numeric = all(_is_number(x) for x in xs_all)
    categories = sorted(xs_all, key=lambda x: float(x) if numeric else x)

    def position(x: str) -> float:
        return float(x) if numeric else categories.index(x)

    repeated = False
    values: list[float] = []
    for label, points in sorted(groups.items()):
        keys = sorted(points, key=categories.index)
        means = [float(np.mean(points[x])) for x in keys]
        stds = [float(np.std(points[x], ddof=1)) if len(points[x]) > 1 else 0.0 for x in keys]
        repeated |= any(len(points[x]) > 1 for x in keys)
        values += [v for x in keys for v in points[x]]
        ax.errorbar([position(x) for x in keys], means, yerr=stds, marker="o", capsize=3,
                    label=label)
    if spans_decades(np.asarray(values, dtype=np.float64)):
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    if off_chart:  # in a band above the values: they have no value to plot
        _mark_off_chart(ax, [position(x) for x, _ in off_chart],
                        ", ".join(sorted({why for _, why in off_chart})))
    if not numeric:
        ax.set_xticks(range(len(categories)), categories, rotation=20)
    else:
        if log_x:
            ax.set_xscale("log")
        if len(categories) <= 12:  # ticks at the values swept, written as typed: 0.3, 0.03
            ax.set_xticks([float(x) for x in categories], [f"{float(x):g}" for x in categories])
            ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(parameter)
    ax.set_ylabel(f"{objective} (mean ± std)" if repeated else objective)
    ax.set_title(f"{objective} vs {parameter}")
    ax.grid(alpha=0.3)
    if len(groups) > 1 or group_by or off_chart:
        ax.legend(fontsize=8)
    return fig


def _mark_off_chart(ax, xs: list[float], why: str) -> None:
    """Black crosses in a band above the plotted values, below a dotted line, labelled `why`."""
    low, high = ax.get_ylim()
    if ax.get_yscale() == "log":
        top, band = high * (high / low) ** 0.18, high * (high / low) ** 0.09
    else:
        top, band = high + 0.18 * (high - low), high + 0.09 * (high - low)
    ax.axhline(high, color="grey", linestyle=":", linewidth=1)
    ax.plot(xs, [band] * len(xs), linestyle="none", marker="x", markersize=9, mew=2,
            color="black", label=f"{why} (not plotted)")
    ax.set_ylim(low, top)


def _is_number(value: object) -> bool:
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def lr_range(lrs: np.ndarray, losses: np.ndarray, smoothed: np.ndarray, path: Path,
             marks: dict[str, float | None]) -> Path:
    """The learning-rate range test: loss against learning rate (log scale), raw and smoothed,
    with the points of `marks` (label -> learning rate; None: no line) drawn as vertical lines."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(lrs, losses, color="tab:blue", alpha=0.3, linewidth=1, label="loss")
    ax.plot(lrs, smoothed, color="tab:blue", linewidth=2, label="smoothed loss")
    for (label, lr), color in zip(marks.items(), ("tab:green", "tab:orange", "tab:red"),
                                  strict=False):
        if lr is None:
            continue
        ax.axvline(lr, color=color, linestyle="--", linewidth=1, label=f"{label} {lr:.3g}")
    top = float(np.percentile(smoothed, 95)) if smoothed.size else 1.0
    bottom = float(np.min(smoothed)) if smoothed.size else 0.0
    ax.set_ylim(bottom - 0.05 * (top - bottom), top + 0.1 * (top - bottom) + 1e-12)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.set_title("Learning-rate range test")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _save(fig, path, margins="fixed")
