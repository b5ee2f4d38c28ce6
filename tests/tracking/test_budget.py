"""The store's budget of points per metric: bounded, spikes and the last value kept, no matter
how the series arrives."""

from __future__ import annotations

import numpy as np
import pytest

from nnexp.tracking.budget import SeriesBudget


def _thin(values: np.ndarray, budget: int, piece: int) -> tuple[np.ndarray, np.ndarray]:
    steps = np.arange(len(values))
    thinner = SeriesBudget(len(values), budget)
    parts = [thinner.push(steps[i:i + piece], steps[i:i + piece] * 10, values[i:i + piece])
             for i in range(0, len(values), piece)]
    parts.append(thinner.finish())
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[2] for p in parts])


@pytest.mark.parametrize("n, budget", [(51_000, 1000), (10_000, 101), (2_001, 1000)])
def test_long_series_are_thinned_to_the_budget_keeping_spikes_and_the_last_value(n, budget):
    values = np.random.default_rng(0).normal(size=n)
    values[n // 3], values[n // 2] = 40.0, -40.0
    steps, kept = _thin(values, budget, piece=333)
    assert len(steps) <= budget
    assert np.all(np.diff(steps) > 0)  # in order, no point twice
    assert kept.max() == 40.0 and kept.min() == -40.0
    assert steps[-1] == n - 1 and kept[-1] == values[-1]
    assert np.array_equal(kept, values[steps])  # real values at real steps


def test_short_series_pass_untouched():
    values = np.arange(900.0)
    steps, kept = _thin(values, 1000, piece=50)
    assert np.array_equal(steps, np.arange(900)) and np.array_equal(kept, values)


def test_the_same_series_thins_the_same_whatever_the_pieces():
    values = np.random.default_rng(1).normal(size=20_000)
    first = _thin(values, 500, piece=7)
    second = _thin(values, 500, piece=4096)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])


def test_a_nan_survives_thinning():
    values = np.ones(10_000)
    values[5_000] = np.nan
    steps, _ = _thin(values, 100, piece=1000)
    assert 5_000 in steps
