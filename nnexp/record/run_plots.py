"""A run's own figures (loss curves, gradient norms, confusion matrix, first-layer weights), drawn
with Pillow: every run draws them, so they cost milliseconds (see `nnexp.record.chart`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from nnexp.record.chart import (
    AXIS,
    SCALE,
    TEXT,
    LineChart,
    font,
    save_png,
    spans_decades,
    text_size,
    vertical_text,
)

Series = tuple[np.ndarray, np.ndarray]  # (steps, values)
MAX_CURVE_POINTS = 400  # a 650-pixel-wide axis shows no more; each point stands for a bucket
BLUES = ("#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c",
         "#08306b")  # ColorBrewer's Blues, as matplotlib's "Blues"
RED_BLUE = ("#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7",
            "#f4a582", "#d6604d", "#b2182b", "#67001f")  # ColorBrewer's RdBu reversed


def loss_curves(per_epoch: dict[str, Series], path: Path, best_epoch: int | None = None) -> Path:
    """Train and validation loss per epoch, with the best validation epoch marked."""
    train = per_epoch.get("train/loss", (np.empty(0), np.empty(0)))[1]
    chart = LineChart("Loss per epoch", "epoch", "loss", log_y=spans_decades(train),
                      integer_x=True)
    for key, label in (("train/loss", "train"), ("val/loss", "validation")):
        epochs, values = per_epoch.get(key, (np.empty(0), np.empty(0)))
        if values.size:
            chart.line(epochs, values, label, markers=values.size <= 100)
    epochs, values = per_epoch.get("val/loss", (np.empty(0), np.empty(0)))
    if best_epoch is not None and best_epoch in epochs:
        best = float(values[np.flatnonzero(epochs == best_epoch)[0]])
        chart.vline(best_epoch)
        chart.star(best_epoch, best)
        chart.note(best_epoch, best, f"best epoch {best_epoch}\nval/loss {best:.4g}")
    return chart.save(path)


def buckets(steps: np.ndarray, values: np.ndarray, max_points: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(step, min, median, max) per bucket of consecutive points, at most `max_points` buckets.

    Min and max keep a single exploding or vanishing step visible after thinning.
    """
    values = np.maximum(np.asarray(values, np.float64), 1e-30)
    steps = np.asarray(steps, np.float64)
    if values.size <= max_points:
        return steps, values, values, values
    edges = np.linspace(0, values.size, max_points + 1).astype(int)
    width = int(np.diff(edges).max())
    padded = np.full((max_points, width), np.nan)
    for column in range(width):  # a bucket's points side by side; NaN pads the short ones
        index = edges[:-1] + column
        inside = index < edges[1:]
        padded[inside, column] = values[index[inside]]
    return (steps[edges[:-1]], np.nanmin(padded, axis=1), np.nanmedian(padded, axis=1),
            np.nanmax(padded, axis=1))


def gradient_norms(per_layer: dict[str, Series], path: Path) -> Path:
    """Per-layer gradient norm per logged step, log scale: vanishing or exploding at a glance."""
    chart = LineChart("Gradient norm per layer", "step", "gradient L2 norm", log_y=True,
                      integer_x=True)
    for key in sorted(per_layer, key=_layer_number):
        steps, values = per_layer[key]
        at, low, middle, high = buckets(steps, values, MAX_CURVE_POINTS)
        color = chart.line(at, middle, key.split("/", 1)[1], width=1.2)
        if at.size < steps.size:  # each point stands for several steps: show their range
            chart.band(at, low, high, color)
    return chart.save(path)


def _layer_number(key: str) -> int:
    digits = "".join(c for c in key if c.isdigit())
    return int(digits or 0)


def _colormap(stops: Sequence[str], fractions: np.ndarray) -> np.ndarray:
    """RGB rows for fractions in [0, 1], interpolated between the colour `stops`."""
    rgb = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in stops], np.float64)
    where = np.clip(fractions, 0, 1) * (len(stops) - 1)
    low = np.minimum(where.astype(int), len(stops) - 2)
    part = (where - low)[..., None]
    return np.round(rgb[low] * (1 - part) + rgb[low + 1] * part).astype(np.uint8)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str],
                     path: Path, title: str = "Confusion matrix (test)") -> Path:
    """Counts of true vs predicted class, with class names on both axes."""
    k = len(class_names)
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    names = [str(c) for c in class_names]
    cell = max(14, round(min(max(36 * k, 280), 640) / max(k, 1))) * SCALE
    face, label_face = font(9 if k > 12 else 10), font(11)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    name_w = max(text_size(probe, n, face)[0] for n in names) if names else 0
    label_h = text_size(probe, "Ag", label_face)[1]
    upright = name_w <= cell * 0.9
    left = 16 * SCALE + label_h + name_w
    top = 56 * SCALE
    bottom = 22 * SCALE + label_h + (text_size(probe, "0", face)[1] if upright else name_w)
    image = Image.new("RGB", (left + cell * k + 24 * SCALE, top + cell * k + bottom), "white")
    shades = _colormap(BLUES, counts / max(int(counts.max()), 1))
    grid = Image.fromarray(shades).resize((cell * k, cell * k), Image.Resampling.NEAREST)
    image.paste(grid, (left, top))
    draw = ImageDraw.Draw(image)
    draw.rectangle((left, top, left + cell * k, top + cell * k), outline=AXIS, width=SCALE)
    threshold = counts.max() / 2 if counts.size else 0
    for i, name in enumerate(names):
        middle = top + cell * i + cell / 2
        draw.text((left - 5 * SCALE, middle), name, font=face, fill=TEXT, anchor="rm")
        x = left + cell * i + cell / 2
        if upright:
            draw.text((x, top + cell * k + 5 * SCALE), name, font=face, fill=TEXT, anchor="mt")
        else:
            vertical_text(image, name, face, (x, top + cell * k + 5 * SCALE + name_w / 2))
        for j in range(k) if k <= 20 else ():  # zeros left blank, so the mistakes stand out
            if counts[i, j]:
                draw.text((left + cell * j + cell / 2, middle), str(counts[i, j]), font=face,
                          anchor="mm", fill="white" if counts[i, j] > threshold else "black")
    accuracy = float(np.trace(counts) / max(counts.sum(), 1))
    draw.multiline_text((left + cell * k / 2, 8 * SCALE), f"{title}\naccuracy {accuracy:.3f}",
                        font=font(12), fill=TEXT, anchor="ma", align="center")
    draw.text((left + cell * k / 2, image.height - 8 * SCALE), "predicted", font=label_face,
              fill=TEXT, anchor="mb")
    vertical_text(image, "true", label_face, (6 * SCALE + label_h / 2, top + cell * k / 2))
    return save_png(image, path, _colormap(BLUES, np.linspace(0, 1, 64)))


def first_layer_weights(weights: np.ndarray, image_shape: Sequence[int], path: Path,
                        max_units: int = 64) -> Path:
    """Each first-layer unit's incoming weights drawn as an image: what the network looks for
    (red: the unit fires on bright pixels there, blue: on dark ones)."""
    units = min(weights.shape[1], max_units)
    cols = int(np.ceil(np.sqrt(units)))
    rows = int(np.ceil(units / cols))
    tile, gap, caption = 112 * SCALE, 14 * SCALE, 16 * SCALE
    top = 40 * SCALE
    image = Image.new("RGB", (cols * (tile + gap) + gap, top + rows * (tile + caption + gap)),
                      "white")
    draw = ImageDraw.Draw(image)
    for index in range(units):
        w = weights[:, index].reshape(image_shape).astype(np.float64)
        if w.ndim == 2:
            limit = float(np.abs(w).max()) or 1.0
            pixels = _colormap(RED_BLUE, (w / limit + 1) / 2)
        else:
            pixels = np.round((w - w.min()) / (np.ptp(w) or 1.0) * 255).astype(np.uint8)
        picture = Image.fromarray(pixels)
        ratio = tile / max(picture.size)
        picture = picture.resize((max(1, round(picture.width * ratio)),
                                  max(1, round(picture.height * ratio))),
                                 Image.Resampling.NEAREST)
        row, col = divmod(index, cols)
        x, y = gap + col * (tile + gap), top + row * (tile + caption + gap)
        draw.text((x + tile / 2, y), f"unit {index + 1}", font=font(8), fill=TEXT, anchor="mt")
        image.paste(picture, (x + (tile - picture.width) // 2, y + caption))
    draw.text((image.width / 2, 10 * SCALE), "First-layer weights per unit (red +, blue -)",
              font=font(12), fill=TEXT, anchor="mt")
    return save_png(image, path, _colormap(RED_BLUE, np.linspace(0, 1, 96)))

