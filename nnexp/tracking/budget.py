"""How many points of a metric the store gets: at most a budget, whatever the run's length.

A long run logging every step would send hundreds of thousands of values, each costing the store
tens of microseconds and making its charts no clearer. A series expected to be longer than the
budget is cut into equal buckets of consecutive values, and each bucket sends its minimum and its
maximum, so a single spike still shows; the series' last value is always sent, so the store's
"latest" value is the true final one. The full series stays in the run's history artifact.
"""

from __future__ import annotations

import math

import numpy as np

DEFAULT_BUDGET = 1000


class SeriesBudget:
    """Thins one metric's series, fed in order in pieces, to at most `budget` points."""

    def __init__(self, expected: int, budget: int = DEFAULT_BUDGET) -> None:
        buckets = max(1, (budget - 1) // 2)  # two points a bucket, and one for the last value
        self.bucket = 1 if expected <= budget else math.ceil(expected / buckets)
        self._steps = np.empty(0, np.int64)  # values of the bucket still being filled
        self._times = np.empty(0, np.int64)
        self._values = np.empty(0, np.float64)
        self._unsent_last: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def push(self, steps: np.ndarray, times: np.ndarray, values: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The points of these new values that go to the store now (steps, times, values)."""
        if self.bucket == 1 or len(values) == 0:
            return steps, times, values
        steps = np.concatenate([self._steps, steps])
        times = np.concatenate([self._times, times])
        values = np.concatenate([self._values, values])
        full = (len(values) // self.bucket) * self.bucket
        chosen = _extremes(values[:full], self.bucket)
        if full and chosen[-1] != full - 1:
            self._unsent_last = steps[full - 1:full], times[full - 1:full], values[full - 1:full]
        elif full:
            self._unsent_last = None
        self._steps, self._times, self._values = steps[full:], times[full:], values[full:]
        return steps[chosen], times[chosen], values[chosen]

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What is left at the end: the last, partial bucket's extremes and the last value."""
        steps, times, values = self._steps, self._times, self._values
        self._steps = self._times = np.empty(0, np.int64)
        self._values = np.empty(0, np.float64)
        if len(values):
            chosen = _extremes(values, len(values))
            if chosen[-1] != len(values) - 1:
                chosen = np.append(chosen, len(values) - 1)
            return steps[chosen], times[chosen], values[chosen]
        last, self._unsent_last = self._unsent_last, None
        return last if last is not None else (steps, times, values)


def _extremes(values: np.ndarray, bucket: int) -> np.ndarray:
    """Sorted indices of each bucket's minimum and maximum; a NaN counts as a minimum."""
    if len(values) == 0:
        return np.empty(0, np.int64)
    blocks = values.reshape(-1, bucket)
    offsets = np.arange(blocks.shape[0]) * bucket
    nan = np.isnan(blocks)
    low = np.argmin(np.where(nan, -np.inf, blocks), axis=1)
    high = np.argmax(np.where(nan, -np.inf, blocks), axis=1)
    return np.unique(np.concatenate([offsets + low, offsets + high]))
