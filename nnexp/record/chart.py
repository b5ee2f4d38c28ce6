"""Line charts drawn with Pillow: axes, ticks, grid, lines, bands, markers, legend, title.

Every recorded run draws its figures, so they must cost milliseconds: matplotlib took 0.25-0.3 s a
figure here (and 0.4 s to import), Pillow takes a few ms. Drawn at twice the size and halved, so
lines and text are smooth; saved as a 64-colour PNG.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SCALE = 2  # drawn at twice the size, then halved: anti-aliased lines and text
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")  # matplotlib's tab10, the colours users know
GRID, AXIS, TEXT = "#e3e3e3", "#444444", "#222222"


@functools.lru_cache(maxsize=16)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font at `size` pixels of the final image (its bitmap font without
    FreeType)."""
    try:
        return ImageFont.load_default(size * SCALE)
    except (ImportError, OSError):
        return ImageFont.load_default()


def text_size(draw: ImageDraw.ImageDraw, text: str, face) -> tuple[int, int]:
    left, top, right, bottom = draw.multiline_textbbox((0, 0), text, font=face)
    return int(right - left), int(bottom - top)


def vertical_text(image: Image.Image, text: str, face, center: tuple[float, float],
                  fill: str = TEXT) -> None:
    """`text` turned a quarter left (reading upwards), centred on `center`."""
    scratch = ImageDraw.Draw(image)
    width, height = text_size(scratch, text, face)
    label = Image.new("L", (width + 4, height + 8), 0)
    ImageDraw.Draw(label).text((2, 0), text, font=face, fill=255)
    label = label.rotate(90, expand=True)
    corner = (int(center[0] - label.width / 2), int(center[1] - label.height / 2))
    image.paste(Image.new("RGB", label.size, fill), corner, label)


def nice_ticks(low: float, high: float, count: int = 6, integer: bool = False) -> np.ndarray:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten apart) within [low, high]."""
    span = high - low
    if not span > 0:
        return np.array([low])
    raw = span / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if integer:
        step = max(1.0, math.ceil(step))
    first = math.ceil(low / step - 1e-9) * step
    return np.arange(first, high + step * 1e-6, step)


def log_ticks(low: float, high: float) -> np.ndarray:
    """Powers of ten within [low, high]; 1-2-5 steps when fewer than two powers fit."""
    decades = np.arange(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    ticks = 10.0 ** decades
    inside = ticks[(ticks >= low * (1 - 1e-9)) & (ticks <= high * (1 + 1e-9))]
    if inside.size >= 2:
        return inside
    finer = np.array([m * t for t in ticks for m in (1, 2, 5)])
    return finer[(finer >= low * (1 - 1e-9)) & (finer <= high * (1 + 1e-9))]


def spans_decades(values: np.ndarray) -> bool:
    """Whether positive values span over two decades (then a log axis shows them better)."""
    positive = values[np.isfinite(values) & (values > 0)]
    return positive.size > 1 and bool(positive.max() / positive.min() > 100)


def tick_label(value: float) -> str:
    """A tick's text: whole numbers in full (15000, not 1.5e+04), others in 4 digits."""
    if float(value).is_integer() and abs(value) < 1e9:
        return str(int(value))
    return f"{value:.4g}" if abs(value) >= 1e-4 else f"{value:.0e}"


def _snap(pixel: float) -> int:
    """The nearest multiple of SCALE: a SCALE-wide line there stays one sharp pixel when halved
    (between two, it would be two faint ones the palette may turn white)."""
    return int(round(pixel / SCALE) * SCALE)


@dataclass
class _Series:
    xs: np.ndarray
    ys: np.ndarray
    color: str
    label: str | None
    width: float
    markers: bool


@dataclass
class LineChart:
    """A chart of lines against a numeric x axis; `log_y` draws y on a log scale."""

    title: str
    xlabel: str
    ylabel: str
    log_y: bool = False
    integer_x: bool = False
    size: tuple[int, int] = (704, 462)
    series: list[_Series] = field(default_factory=list)
    bands: list[tuple[np.ndarray, np.ndarray, np.ndarray, str]] = field(default_factory=list)
    vlines: list[tuple[float, str]] = field(default_factory=list)
    stars: list[tuple[float, float, str]] = field(default_factory=list)
    notes: list[tuple[float, float, str]] = field(default_factory=list)

    def line(self, xs: Sequence[float], ys: Sequence[float], label: str | None = None,
             color: str | None = None, width: float = 1.5, markers: bool = False) -> str:
        """Add a line (non-finite points and, on a log axis, non-positive ones are gaps)."""
        color = color or PALETTE[len(self.series) % len(PALETTE)]
        self.series.append(_Series(np.asarray(xs, float), np.asarray(ys, float), color, label,
                                   width, markers))
        return color

    def band(self, xs: Sequence[float], low: Sequence[float], high: Sequence[float],
             color: str) -> None:
        """Shade between `low` and `high`: the range a thinned line stands for."""
        self.bands.append((np.asarray(xs, float), np.asarray(low, float),
                           np.asarray(high, float), color))

    def vline(self, x: float, color: str = "#808080") -> None:
        self.vlines.append((x, color))

    def star(self, x: float, y: float, color: str = PALETTE[3]) -> None:
        self.stars.append((x, y, color))

    def note(self, x: float, y: float, text: str) -> None:
        """Text beside the point (x, y), on the side with more room."""
        self.notes.append((x, y, text))

    def save(self, path: Path) -> Path:
        """Draw the chart and write it as a PNG."""
        return save_png(_draw(self), path)


def save_png(image: Image.Image, path: Path, colors: Sequence[Sequence[int]] = ()) -> Path:
    """Halve the drawing (smoothing it) and write it as a palette PNG, a third the bytes of a
    full-colour one: the palette holds the chart's colours, each blended with white as
    anti-aliasing blends them, and `colors` (a colour map's steps)."""
    small = image.reduce(SCALE)  # the mean of each SCALE x SCALE block
    small.quantize(palette=_palette(tuple(map(tuple, colors))), dither=Image.Dither.NONE).save(
        path, compress_level=6)
    return path


@functools.lru_cache(maxsize=8)
def _palette(colors: tuple[tuple[int, ...], ...]) -> Image.Image:
    entries = [(255, 255, 255)]
    for color in (*PALETTE, TEXT, AXIS, GRID, "#808080", "#cccccc", "#000000"):
        rgb = _rgba(color, 255)[:3]
        for weight in (1, 0.8, 0.6, 0.45, 0.3, 0.2, 0.12):
            entries.append(tuple(round(255 - (255 - v) * weight) for v in rgb))
    # no near-whites: the palette lookup is approximate, and white must stay white
    entries = [e for e in dict.fromkeys(entries) if e == (255, 255, 255) or min(e) < 236]
    entries += [tuple(int(v) for v in c) for c in colors]
    flat = [v for entry in entries[:256] for v in entry]
    palette = Image.new("P", (1, 1))
    palette.putpalette(flat + [0] * (768 - len(flat)))
    return palette


def _limits(values: np.ndarray, log: bool) -> tuple[float, float]:
    """The axis range: the data's, widened 5 % each side (in log space on a log axis)."""
    if values.size == 0:
        return (0.1, 10.0) if log else (0.0, 1.0)
    low, high = float(values.min()), float(values.max())
    if log:
        low, high = math.log10(low), math.log10(high)
    pad = (high - low) * 0.05 or (abs(high) * 0.05 or 0.5)
    low, high = low - pad, high + pad
    return (10.0 ** low, 10.0 ** high) if log else (low, high)


def _finite(values: np.ndarray, log: bool) -> np.ndarray:
    keep = np.isfinite(values) & ((values > 0) if log else True)
    return values[keep]


def _draw(chart: LineChart) -> Image.Image:
    width, height = chart.size[0] * SCALE, chart.size[1] * SCALE
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image, "RGBA")
    ticks_face, label_face, title_face = font(10), font(11), font(13)
    xs = np.concatenate([s.xs for s in chart.series] + [b[0] for b in chart.bands]
                        + [np.array([v[0] for v in chart.vlines + chart.stars])])
    ys = np.concatenate([s.ys for s in chart.series] + [b[1] for b in chart.bands]
                        + [b[2] for b in chart.bands] + [np.array([v[1] for v in chart.stars])])
    x_range = _limits(_finite(xs, False), False)
    y_range = _limits(_finite(ys, chart.log_y), chart.log_y)
    y_ticks = log_ticks(*y_range) if chart.log_y else nice_ticks(*y_range)
    x_ticks = nice_ticks(*x_range, integer=chart.integer_x)
    y_labels = [tick_label(v) for v in y_ticks]
    tick_w = max([text_size(draw, t, ticks_face)[0] for t in y_labels] or [0])
    tick_h = text_size(draw, "0123456789", ticks_face)[1]
    label_h = text_size(draw, "Ag", label_face)[1]
    title_h = text_size(draw, chart.title, title_face)[1]
    box = tuple(_snap(v) for v in (14 * SCALE + label_h + tick_w, 14 * SCALE + title_h,
                                   width - 18 * SCALE, height - 22 * SCALE - tick_h - label_h))
    to_x, to_y = _mapping(box, x_range, y_range, chart.log_y)
    for value, text in zip(y_ticks, y_labels, strict=True):
        y = _snap(to_y(value))
        draw.line([(box[0], y), (box[2], y)], fill=GRID, width=SCALE)
        draw.text((box[0] - 6 * SCALE, y), text, font=ticks_face, fill=TEXT, anchor="rm")
    for value in x_ticks:
        x = _snap(to_x(value))
        draw.line([(x, box[1]), (x, box[3])], fill=GRID, width=SCALE)
        draw.text((x, box[3] + 5 * SCALE), tick_label(value), font=ticks_face, fill=TEXT,
                  anchor="mt")
    _draw_data(draw, chart, box, to_x, to_y)
    draw.rectangle(box, outline=AXIS, width=SCALE)
    _legend(draw, chart, box, to_x, to_y, label_face)
    draw.text(((box[0] + box[2]) / 2, 8 * SCALE), chart.title, font=title_face, fill=TEXT,
              anchor="mt")
    draw.text(((box[0] + box[2]) / 2, height - 8 * SCALE), chart.xlabel, font=label_face,
              fill=TEXT, anchor="mb")
    vertical_text(image, chart.ylabel, label_face, (6 * SCALE + label_h / 2,
                                                   (box[1] + box[3]) / 2))
    return image


def _mapping(box: tuple[float, float, float, float], x_range: tuple[float, float],
             y_range: tuple[float, float], log_y: bool):
    """Data to pixel functions for the plot box (numpy arrays or numbers)."""
    def scale_y(y):
        return np.log10(y) if log_y else y

    (x0, x1), (y0, y1) = x_range, (scale_y(y_range[0]), scale_y(y_range[1]))

    def to_x(x):
        return box[0] + (np.asarray(x, float) - x0) / (x1 - x0) * (box[2] - box[0])

    def to_y(y):
        with np.errstate(divide="ignore", invalid="ignore"):
            return box[3] - (scale_y(np.asarray(y, float)) - y0) / (y1 - y0) * (box[3] - box[1])

    return to_x, to_y


def _segments(px: np.ndarray, py: np.ndarray) -> list[list[tuple[float, float]]]:
    """Runs of consecutive drawable points (a NaN, an infinity or a log of zero breaks a line)."""
    ok = np.isfinite(px) & np.isfinite(py)
    breaks = np.flatnonzero(np.diff(ok.astype(np.int8)) != 0) + 1
    runs = np.split(np.arange(px.size), breaks)
    return [list(zip(px[r].tolist(), py[r].tolist(), strict=True)) for r in runs
            if r.size and ok[r[0]]]


def _rgba(color: str, alpha: int) -> tuple[int, int, int, int]:
    return (int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16), alpha)


def _draw_data(draw: ImageDraw.ImageDraw, chart: LineChart, box, to_x, to_y) -> None:
    for xs, low, high, color in chart.bands:
        for lower, upper in zip(_segments(to_x(xs), to_y(low)), _segments(to_x(xs), to_y(high)),
                                strict=False):
            if len(lower) > 1:
                draw.polygon(upper + lower[::-1], fill=_rgba(color, 72))
    for x, color in chart.vlines:
        px = _snap(float(to_x(x)))
        for y in range(int(box[1]), int(box[3]), 10 * SCALE):
            draw.line([(px, y), (px, min(y + 6 * SCALE, box[3]))], fill=color, width=SCALE)
    for series in chart.series:
        px, py = to_x(series.xs), to_y(series.ys)
        for run in _segments(px, py):
            if len(run) > 1:
                draw.line(run, fill=series.color, width=round(series.width * SCALE),
                          joint="curve")
            if series.markers or len(run) == 1:
                radius = 2.5 * SCALE
                for x, y in run:
                    draw.ellipse((x - radius, y - radius, x + radius, y + radius),
                                 fill=series.color)
    for x, y, color in chart.stars:
        _star(draw, float(to_x(x)), float(to_y(y)), 7 * SCALE, color)
    for x, y, text in chart.notes:
        px, py = float(to_x(x)), float(to_y(y))
        right_half = px > (box[0] + box[2]) / 2
        where = (px + (-10 if right_half else 10) * SCALE, py - 10 * SCALE)
        style = {"font": font(9), "anchor": "rd" if right_half else "ld",
                 "align": "right" if right_half else "left"}
        left, top, right, bottom = draw.multiline_textbbox(where, text, **style)
        pad = 2 * SCALE  # a pale backing: the note stays legible over the lines
        draw.rectangle((left - pad, top - pad, right + pad, bottom + pad),
                       fill=(255, 255, 255, 210))
        draw.multiline_text(where, text, fill=TEXT, **style)


def _star(draw: ImageDraw.ImageDraw, x: float, y: float, radius: float, color: str) -> None:
    points = []
    for i in range(10):
        angle = math.pi / 2 + i * math.pi / 5
        r = radius if i % 2 == 0 else radius * 0.42
        points.append((x + r * math.cos(angle), y - r * math.sin(angle)))
    draw.polygon(points, fill=color)


def _legend(draw: ImageDraw.ImageDraw, chart: LineChart, box, to_x, to_y, face) -> None:
    """The labelled lines in a box, in the plot's corner that covers the fewest points."""
    entries = [(s.label, s.color) for s in chart.series if s.label]
    if not entries:
        return
    row = text_size(draw, "Ag", face)[1] + 6 * SCALE
    width = max(text_size(draw, label, face)[0] for label, _ in entries) + 36 * SCALE
    height = row * len(entries) + 6 * SCALE
    margin = 8 * SCALE
    corners = [(box[2] - margin - width, box[1] + margin), (box[0] + margin, box[1] + margin),
               (box[0] + margin, box[3] - margin - height),
               (box[2] - margin - width, box[3] - margin - height)]
    px = np.concatenate([to_x(s.xs) for s in chart.series])
    py = np.concatenate([to_y(s.ys) for s in chart.series])

    def covered(corner: tuple[float, float]) -> int:
        x, y = corner
        return int(np.sum((px >= x) & (px <= x + width) & (py >= y) & (py <= y + height)))

    x, y = min(corners, key=covered)
    draw.rectangle((x, y, x + width, y + height), fill=(255, 255, 255, 225), outline="#cccccc",
                   width=SCALE)
    for i, (label, color) in enumerate(entries):
        middle = y + 3 * SCALE + row * i + row / 2
        draw.line([(x + 6 * SCALE, middle), (x + 26 * SCALE, middle)], fill=color,
                  width=2 * SCALE)
        draw.text((x + 31 * SCALE, middle), label, font=face, fill=TEXT, anchor="lm")
