"""A run's Pillow figures show what they claim: pixels read back from the PNGs, not just files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nnexp.record import chart, run_plots


def _rgb(color: str) -> np.ndarray:
    return np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)])


def _pixels_of(path, color: str, tolerance: int = 30) -> np.ndarray:
    """(rows, columns) of the PNG's pixels within `tolerance` of `color`."""
    image = np.asarray(Image.open(path).convert("RGB"), dtype=np.int64)
    close = np.abs(image - _rgb(color)).sum(axis=2) <= tolerance
    return np.argwhere(close)


def _shades_of(path, color: str) -> np.ndarray:
    """(rows, columns) of `color` and its anti-aliased blends with the white background."""
    image = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
    away = 255.0 - image
    target = 255.0 - _rgb(color)
    length = np.linalg.norm(away, axis=2)
    cosine = (away @ target) / (np.maximum(length, 1e-9) * np.linalg.norm(target))
    return np.argwhere((length > 40) & (cosine > 0.995))


def _inside(points: np.ndarray) -> np.ndarray:
    """The points in the axes' left part: away from the title, tick labels and legend."""
    rows, columns = points[:, 0], points[:, 1]
    return points[(rows > 30) & (rows < 420) & (columns > 90) & (columns < 580)]


def _curve_height(points: np.ndarray) -> dict[int, float]:
    """Column -> mean row of a colour's pixels in that column."""
    rows: dict[int, list[int]] = {}
    for row, column in points:
        rows.setdefault(int(column), []).append(int(row))
    return {column: float(np.mean(r)) for column, r in rows.items()}


def test_loss_curve_pixels_follow_the_values(tmp_path):
    epochs = np.arange(1, 41)
    train = 2.0 - 0.04 * epochs  # falls the whole way
    val = 0.5 + 0.02 * np.abs(epochs - 20)  # falls, then rises
    path = run_plots.loss_curves({"train/loss": (epochs, train), "val/loss": (epochs, val)},
                                 tmp_path / "loss.png", best_epoch=20)
    blue = _curve_height(_inside(_shades_of(path, chart.PALETTE[0])))
    columns = sorted(c for c in blue if 120 < c < 560)  # inside the axes, away from the legend
    heights = [blue[c] for c in columns]
    assert len(columns) > 300
    assert np.corrcoef(columns, heights)[0, 1] > 0.99  # a falling line: rows grow rightwards
    orange = _curve_height(_inside(_shades_of(path, chart.PALETTE[1])))
    lowest = sorted(orange, key=orange.get)[-1]  # the lowest point drawn (largest row)
    dashes = _inside(_pixels_of(path, "#808080", 12))  # the best epoch's dashed line
    column = np.bincount(dashes[:, 1]).argmax()
    assert np.sum(dashes[:, 1] == column) > 150  # vertical and tall
    assert abs(lowest - column) < 10  # at epoch 20 (an epoch is 12 px; the star hides the point)
    assert len(_pixels_of(path, chart.PALETTE[3], 40)) > 20  # the red star of the best epoch


def test_loss_curves_switch_to_a_log_axis_across_decades(tmp_path):
    epochs = np.arange(1, 11)
    flat = run_plots.loss_curves({"train/loss": (epochs, 1.0 / epochs)}, tmp_path / "a.png")
    steep = run_plots.loss_curves({"train/loss": (epochs, 10.0 ** -epochs)}, tmp_path / "b.png")
    on_log = _curve_height(_inside(_shades_of(steep, chart.PALETTE[0])))
    columns = sorted(c for c in on_log if 120 < c < 560)
    slopes = np.diff([on_log[c] for c in columns])
    assert np.std(slopes[slopes > 0]) < 1.0  # 10**-x on a log axis is a straight line
    assert Image.open(flat).size == Image.open(steep).size == (704, 462)


def test_gradient_norm_thinning_keeps_a_spike_visible(tmp_path):
    steps = np.arange(20_000)
    norms = np.full(steps.size, 0.1)
    norms[12_345] = 1e4  # one exploding step among 20 000
    at, low, middle, high = run_plots.buckets(steps, norms, run_plots.MAX_CURVE_POINTS)
    assert at.size == run_plots.MAX_CURVE_POINTS and high.max() == 1e4 and low.min() == 0.1
    assert np.all(middle == 0.1)  # the median line stays where the norms are
    path = run_plots.gradient_norms({"grad_norm/layer1": (steps, norms)}, tmp_path / "g.png")
    blue = _inside(_shades_of(path, chart.PALETTE[0]))
    line = blue[blue[:, 0] > blue[:, 0].max() - 4]  # the bottom: the median line at 0.1
    band = blue[blue[:, 0] < blue[:, 0].max() - 4]
    assert np.ptp(line[:, 1]) > 450  # the median line runs the whole width, flat
    assert band[:, 0].min() < line[:, 0].min() - 200  # the band reaches far above it
    spike_column = 80 + (12_345 / 20_000) * (685 - 80)  # roughly: the axes span 80-685
    assert abs(np.median(band[:, 1]) - spike_column) < 20


def test_bad_values_leave_gaps_not_errors(tmp_path):
    steps = np.arange(50)
    values = np.linspace(1, 2, 50)
    values[10:15] = np.nan
    values[30] = np.inf
    path = run_plots.gradient_norms({"grad_norm/layer1": (steps, values),
                                     "grad_norm/layer2": (steps, np.zeros(50))}, tmp_path / "g.png")
    drawn = _inside(_shades_of(path, chart.PALETTE[0]))
    assert len(drawn) > 100 and len(np.unique(drawn[:, 1])) < 440  # gaps where values are bad
    nothing = run_plots.loss_curves({"train/loss": (steps, np.full(50, np.nan))},
                                    tmp_path / "n.png")
    assert Image.open(nothing).size == (704, 462)


def test_confusion_matrix_cells_darken_with_counts(tmp_path):
    y_true = np.array([0] * 30 + [1] * 30 + [2] * 30)
    y_pred = y_true.copy()
    y_pred[:10] = 2  # ten of class 0 taken for class 2
    path = run_plots.confusion_matrix(y_true, y_pred, ["cat", "dog", "a very long class name"],
                                      tmp_path / "cm.png")
    image = np.asarray(Image.open(path).convert("RGB"), dtype=np.int64)
    darkest = _pixels_of(path, run_plots.BLUES[-1], 40)  # the 30s on the diagonal
    mistakes = _pixels_of(path, "#8fc2de", 60)  # 10 of 30: a light blue
    assert len(darkest) > 1000 and len(mistakes) > 300
    # the mistakes' cell is in the first row (true 0), the last column (predicted 2)
    assert mistakes[:, 0].mean() < darkest[:, 0].mean()
    assert mistakes[:, 1].mean() > darkest[:, 1].mean()
    assert image.shape[0] > 300 and image.shape[1] > 300


@pytest.mark.parametrize(("low", "high"), [(0.0, 1.0), (-3.2, 7.9), (0.013, 0.0141), (5, 5000)])
def test_ticks_are_round_and_inside(low, high):
    ticks = chart.nice_ticks(low, high)
    assert 3 <= ticks.size <= 11
    assert ticks.min() >= low - 1e-12 and ticks.max() <= high + 1e-12
    steps = np.diff(ticks)
    assert np.allclose(steps, steps[0])
    mantissa = steps[0] / 10 ** np.floor(np.log10(steps[0]))
    assert any(np.isclose(mantissa, m) for m in (1, 2, 2.5, 5))


def test_log_ticks_are_decades_or_one_two_five():
    assert chart.log_ticks(0.003, 40.0).tolist() == pytest.approx([0.01, 0.1, 1.0, 10.0])
    assert chart.log_ticks(0.15, 0.9).tolist() == pytest.approx([0.2, 0.5])


def test_first_layer_weights_one_tile_per_unit(tmp_path):
    weights = np.zeros((4 * 4, 5))
    weights[0, :] = 1.0  # each unit likes the top-left pixel: a red corner per tile
    path = run_plots.first_layer_weights(weights, (4, 4), tmp_path / "w.png")
    red = _pixels_of(path, run_plots.RED_BLUE[-1], 40)
    tile = 28 * 28  # a 4x4 picture shown 112 pixels wide: a 28-pixel square per weight
    assert abs(len(red) / tile - 5) < 0.5
