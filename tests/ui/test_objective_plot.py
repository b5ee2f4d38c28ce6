"""The sweep's objective-vs-parameter plot: a log axis when values span decades, the swept values
as tick labels, and children without a value marked above the chart instead of flattening it."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt

from nnexp.record.plots import objective_figure


def _row(lr: str, hidden: str, loss: float, status: str = "FINISHED",
         diverged: bool = False) -> dict:
    return {"lr": lr, "model.hidden": hidden, "val/loss": loss, "status": status,
            "diverged": diverged}


def test_values_spanning_decades_get_a_log_axis_with_plain_ticks():
    rows = [_row("0.03", "[32]", 0.22), _row("0.1", "[32]", 12.4), _row("0.3", "[32]", 154.8),
            _row("0.03", "[64,32]", 0.61), _row("0.1", "[64,32]", 2.26),
            _row("0.3", "[64,32]", 2.31)]
    fig = objective_figure(rows, "lr", "val/loss", ["model.hidden"], log_x=True)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.03", "0.1", "0.3"]
    fig.canvas.draw()
    shown = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert "1" in shown and "10" in shown and "100" in shown  # not 10^0, 10^1, 10^2
    low, high = ax.get_ylim()
    assert low < 0.22 and high > 154.8
    plt.close(fig)


def test_close_values_keep_a_linear_axis():
    rows = [_row("0.03", "[32]", 0.24), _row("0.1", "[32]", 0.20), _row("0.3", "[32]", 0.26)]
    fig = objective_figure(rows, "lr", "val/loss", [], log_x=True)
    assert fig.axes[0].get_yscale() == "linear"
    plt.close(fig)


def test_a_diverged_child_is_marked_above_the_values_not_plotted():
    rows = [_row("0.03", "[32]", 0.24), _row("0.1", "[32]", 0.20), _row("0.3", "[32]", 0.26),
            _row("3", "[32]", 1.2e32, status="FAILED", diverged=True),
            _row("1", "[32]", math.nan)]
    fig = objective_figure(rows, "lr", "val/loss", [], log_x=True)
    ax = fig.axes[0]
    low, high = ax.get_ylim()
    assert high < 1.0  # the diverged child's 1e32 does not stretch the axis
    (crosses,) = [line for line in ax.get_lines() if line.get_marker() == "x"]
    assert list(crosses.get_xdata()) == [3.0, 1.0]
    assert all(0.26 < y < high for y in crosses.get_ydata())  # in the band above the values
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "diverged, no value (not plotted)" in labels
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.03", "0.1", "0.3", "1", "3"]
    plt.close(fig)
