"""Every metric value of a run at full resolution, in memory, handed to the observer in chunks.

The training loop adds rows (a few values sharing one step); about once a second the new rows go
to the observer, which keeps them safe (a journal) and sends what the store should hold. At the end
the whole history is one compact artifact (`metrics/history.npz`) that plots and reproduce read.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from nnexp.observer import MetricChunk, RunObserver

HISTORY_ARTIFACT = "metrics/history.npz"


class _Block:
    """Rows of metrics that share their keys and their steps, in growable arrays."""

    def __init__(self, keys: tuple[str, ...], per_step: bool, capacity: int) -> None:
        self.keys = keys
        self.per_step = per_step
        self.steps = np.empty(capacity, np.int64)
        self.times = np.empty(capacity, np.int64)
        self.values = np.empty((capacity, len(keys)), np.float64)
        self.n = 0
        self.sent = 0

    def add(self, step: int, row: list[float]) -> None:
        if self.n == self.steps.shape[0]:
            self._grow()
        i = self.n
        self.steps[i] = step
        self.times[i] = int(time.time() * 1000)
        self.values[i] = row
        self.n = i + 1

    def _grow(self) -> None:
        size = max(16, 2 * self.steps.shape[0])
        self.steps = np.resize(self.steps, size)
        self.times = np.resize(self.times, size)
        self.values = np.resize(self.values, (size, len(self.keys)))

    def unsent(self) -> MetricChunk | None:
        if self.sent == self.n:
            return None
        rows = slice(self.sent, self.n)
        self.sent = self.n
        return MetricChunk(self.keys, self.steps[rows].copy(), self.times[rows].copy(),
                           self.values[rows].copy(), self.per_step)


class MetricHistory:
    """Full-resolution metric history; `add_many` is the training loop's metric sink."""

    def __init__(self, observer: RunObserver | None = None, flush_seconds: float = 1.0,
                 expected_rows: int = 1024) -> None:
        self.observer = observer or RunObserver()
        self.flush_seconds = flush_seconds
        self._expected_rows = expected_rows
        self._blocks: dict[tuple[tuple[str, ...], bool], _Block] = {}
        self._next_flush = time.monotonic() + flush_seconds

    def add_many(self, values: Mapping[str, float], step: int, per_step: bool = False) -> None:
        """Record `values` at `step`; per-step rows (every few steps) are kept apart from the
        epoch's and the run's, since the store may thin them differently."""
        keys = tuple(values)
        block = self._blocks.get((keys, per_step))
        if block is None:
            capacity = self._expected_rows if per_step else 64
            block = self._blocks[(keys, per_step)] = _Block(keys, per_step, capacity)
        block.add(step, [float(v) for v in values.values()])
        if time.monotonic() >= self._next_flush:
            self.flush()

    def flush(self) -> None:
        """Hand every row not yet seen to the observer, oldest block first."""
        for block in self._blocks.values():
            chunk = block.unsent()
            if chunk is not None:
                self.observer.metrics(chunk)
        self._next_flush = time.monotonic() + self.flush_seconds

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of one metric; empty arrays if it was never recorded."""
        for block in self._blocks.values():
            if key in block.keys:
                return block.steps[:block.n].copy(), block.values[:block.n, block.keys.index(key)]
        return np.empty(0, np.int64), np.empty(0, np.float64)

    def keys(self) -> list[str]:
        return [key for block in self._blocks.values() for key in block.keys]

    def last(self, key: str) -> float | None:
        """The latest value of `key`, or None."""
        _, values = self.series(key)
        return float(values[-1]) if values.size else None

    def points(self, key: str) -> list[tuple[int, float]]:
        """[(step, value), ...] of one metric."""
        steps, values = self.series(key)
        return list(zip(steps.tolist(), values.tolist(), strict=True))

    def save(self, path: Path) -> Path:
        """Write every metric as `step/<key>`, `time/<key>`, `value/<key>` arrays in one .npz."""
        arrays: dict[str, np.ndarray] = {}
        for block in self._blocks.values():
            for j, key in enumerate(block.keys):
                arrays[f"step/{key}"] = block.steps[:block.n]
                arrays[f"time/{key}"] = block.times[:block.n]
                arrays[f"value/{key}"] = block.values[:block.n, j]
        with open(path, "wb") as handle:  # a handle: numpy would otherwise append ".npz"
            np.savez(handle, **arrays)
        return path


def load_history(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{key: (steps, values)} from a `metrics/history.npz` artifact (no pickles)."""
    with np.load(path, allow_pickle=False) as data:
        keys = [name[len("value/"):] for name in data.files if name.startswith("value/")]
        return {key: (data[f"step/{key}"], data[f"value/{key}"]) for key in keys}
