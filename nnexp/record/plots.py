"""PNG plots of a run: loss curves, gradient norms, confusion matrix, first-layer weights."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

History = dict[str, list[tuple[int, float]]]


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


def loss_curves(history: History, path: Path, best_epoch: int | None = None) -> Path:
    """Train and validation loss per epoch, with the best validation epoch marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for key, label in (("train/loss", "train"), ("val/loss", "validation")):
        points = history.get(key, [])
        if points:
            steps, values = zip(*points, strict=True)
            ax.plot(steps, values, marker="o", markersize=3, label=label)
    if best_epoch is not None and history.get("val/loss"):
        best = dict(history["val/loss"])[best_epoch]
        epochs = [e for e, _ in history["val/loss"]]
        right_half = best_epoch > (min(epochs) + max(epochs)) / 2
        ax.axvline(best_epoch, color="grey", linestyle="--", linewidth=1)
        ax.plot([best_epoch], [best], marker="*", markersize=12, color="tab:red", zorder=3)
        ax.annotate(f"best epoch {best_epoch}\nval/loss {best:.4g}", (best_epoch, best),
                    textcoords="offset points", xytext=(-8 if right_half else 8, 12),
                    ha="right" if right_half else "left", fontsize=8)
    ax.xaxis.set_major_locator(_pyplot().MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("Loss per epoch")
    if _spans_decades([v for _, v in history.get("train/loss", [])]):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path, margins="fixed")


def _spans_decades(values: Sequence[float]) -> bool:
    positive = [v for v in values if v > 0]
    return len(positive) > 1 and max(positive) / min(positive) > 100


MAX_CURVE_POINTS = 400  # a 700-pixel-wide axis cannot show more; drawing more costs seconds


def _buckets(points: list[tuple[int, float]], max_points: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(step, min, median, max) per bucket of consecutive points, at most `max_points` buckets.

    Min and max keep a single exploding or vanishing step visible after thinning.
    """
    data = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    steps, values = data[:, 0], np.maximum(data[:, 1], 1e-30)
    if len(values) <= max_points:
        return steps, values, values, values
    edges = np.linspace(0, len(values), max_points + 1).astype(int)
    parts = [values[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return (np.array([steps[a] for a in edges[:-1]]), np.array([p.min() for p in parts]),
            np.array([np.median(p) for p in parts]), np.array([p.max() for p in parts]))


def gradient_norms(history: History, path: Path) -> Path:
    """Per-layer gradient norm per logged step, log scale: vanishing or exploding at a glance."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    keys = sorted((k for k in history if k.startswith("grad_norm/")),
                  key=lambda k: int(re.sub(r"\D", "", k) or 0))
    for key in keys:
        steps, low, middle, high = _buckets(history[key], MAX_CURVE_POINTS)
        line, = ax.plot(steps, middle, label=key.split("/", 1)[1], linewidth=1.2)
        if len(steps) < len(history[key]):  # each point stands for several steps: show range
            ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_yscale("log")
    ax.yaxis.set_minor_locator(_pyplot().NullLocator())  # decades suffice; minor ticks cost 20 %
    ax.set_xlabel("step")
    ax.set_ylabel("gradient L2 norm")
    ax.set_title("Gradient norm per layer")
    ax.grid(alpha=0.3, which="both")
    if keys:
        ax.legend()
    return _save(fig, path, margins="fixed")


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str],
                     path: Path, title: str = "Confusion matrix (test)") -> Path:
    """Counts of true vs predicted class, with class names on both axes."""
    plt = _pyplot()
    k = len(class_names)
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    side = min(2.5 + 0.45 * k, 11.0)  # inches of the square matrix
    label = 0.09 * max((len(str(c)) for c in class_names), default=1)  # inches of tick text
    left, bottom, top, right = 0.6 + label, 0.55 + 0.7 * label, 0.65, 0.25
    width, height = left + side + right, bottom + side + top
    fig, ax = plt.subplots(figsize=(width, height))
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height,
                        top=1 - top / height)
    ax.imshow(counts, cmap="Blues", aspect="auto")  # no colour bar: counts are in the cells
    slanted = label > 0.3  # long class names lean, short ones stand upright
    ax.set_xticks(range(k), [str(c) for c in class_names], rotation=45 if slanted else 0,
                  ha="right" if slanted else "center")
    ax.set_yticks(range(k), [str(c) for c in class_names])
    if k <= 20:  # counts in the cells; zeros left blank, so the mistakes stand out
        threshold = counts.max() / 2 if counts.size else 0
        for i, j in zip(*np.nonzero(counts), strict=True):
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if counts[i, j] > threshold else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = float(np.trace(counts) / max(counts.sum(), 1))
    ax.set_title(f"{title}\naccuracy {accuracy:.3f}", fontsize=10)
    return _save(fig, path, margins="set")


def first_layer_weights(weights: np.ndarray, image_shape: Sequence[int], path: Path,
                        max_units: int = 64) -> Path:
    """Each first-layer unit's incoming weights drawn as an image: what the network looks for."""
    plt = _pyplot()
    units = min(weights.shape[1], max_units)
    cols = int(np.ceil(np.sqrt(units)))
    rows = int(np.ceil(units / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols + 0.5, 1.3 * rows + 0.6),
                             squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index >= units:
            continue
        w = weights[:, index].reshape(image_shape).astype(np.float64)
        if w.ndim == 2:  # red: the unit fires on bright pixels there, blue: on dark ones
            limit = float(np.abs(w).max()) or 1.0
            ax.imshow(w, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        else:
            ax.imshow((w - w.min()) / (np.ptp(w) or 1.0), interpolation="nearest")
        ax.set_title(f"unit {index + 1}", fontsize=7)
    fig.suptitle("First-layer weights per unit (red +, blue −)")
    return _save(fig, path)


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
    if _spans_decades(values):
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
