"""Every metric value of a run at full resolution, in memory, handed to the observer in chunks.

The training loop adds rows (a few values sharing one step); about once a second the new rows go
to the observer, which keeps them safe (a journal) and sends what the store should hold. At the end
the whole history is one compact artifact (`metrics/history.npz`) that plots and reproduce read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from nnexp.experiment.observer import MetricChunk, RunObserver

HISTORY_ARTIFACT = "metrics/history.npz"
STEPS_OF = "steps_of"  # `steps_of/<key>`: the key whose step and time arrays <key> shares


class _Block:
    """Rows of metrics that share their keys and their steps, appended to plain lists (the
    cheapest thing Python does in a training step); turned into arrays when handed on."""

    def __init__(self, keys: tuple[str, ...], per_step: bool, final: bool = False) -> None:
        self.keys = keys
        self.per_step = per_step
        self.final = final  # values measured once training is over (`add_final`)
        self.steps: list[int] = []
        self.times: list[int] = []
        self.rows: list[tuple[float, ...]] = []
        self.sent = 0

    def unsent(self) -> MetricChunk | None:
        n = len(self.steps)
        if self.sent == n:
            return None
        rows = slice(self.sent, n)
        self.sent = n
        return MetricChunk(self.keys, np.array(self.steps[rows], np.int64),
                           np.array(self.times[rows], np.int64),
                           np.array(self.rows[rows], np.float64).reshape(-1, len(self.keys)),
                           self.per_step)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(steps, times, values[row, key]) of every row so far."""
        return (np.array(self.steps, np.int64), np.array(self.times, np.int64),
                np.array(self.rows, np.float64).reshape(-1, len(self.keys)))

    def column(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        steps, _, values = self.arrays()
        return steps, values[:, self.keys.index(key)]


class MetricHistory:
    """Full-resolution metric history: the training loop's metric sink."""

    def __init__(self, observer: RunObserver | None = None, flush_seconds: float = 1.0) -> None:
        self.observer = observer or RunObserver()
        self.flush_seconds = flush_seconds
        self._blocks: dict[tuple[tuple[str, ...], bool, bool], _Block] = {}
        self._next_flush = time.monotonic() + flush_seconds

    def recorder(self, keys: tuple[str, ...], per_step: bool = True
                 ) -> Callable[[int, tuple[float, ...]], None]:
        """A function that records one row of `keys` at a step: the training step's fast path
        (no dict per step; about a microsecond)."""
        block = self._block(keys, per_step)
        steps, times, rows = block.steps.append, block.times.append, block.rows.append
        clock, wall = time.monotonic, time.time

        def record(step: int, row: tuple[float, ...]) -> None:
            steps(step)
            times(int(wall() * 1000))
            rows(row)
            if clock() >= self._next_flush:
                self.flush()

        return record

    def add_many(self, values: Mapping[str, float], step: int, per_step: bool = False) -> None:
        """Record `values` at `step`; per-step rows (every few steps) are kept apart from the
        epoch's and the run's, since the store may thin them differently."""
        self.recorder(tuple(values), per_step)(step, tuple(float(v) for v in values.values()))

    def add_final(self, values: Mapping[str, float], step: int) -> None:
        """Record values measured once training is over (the kept weights' loss of a run with
        patience) at `step`, timed after every earlier point of their keys: a store's latest
        value (highest step, then latest time) is then this one, even at the last epoch's step.
        `series` leaves them out (it is what training measured); `last` and `save` have them."""
        earlier = [block.times[-1] for block in self._blocks.values()
                   if block.times and set(block.keys) & set(values)]
        block = self._block(tuple(values), False, final=True)
        block.steps.append(step)
        block.times.append(max(int(time.time() * 1000), max(earlier, default=0) + 1))
        block.rows.append(tuple(float(v) for v in values.values()))

    def _block(self, keys: tuple[str, ...], per_step: bool, final: bool = False) -> _Block:
        block = self._blocks.get((keys, per_step, final))
        if block is None:
            block = self._blocks[(keys, per_step, final)] = _Block(keys, per_step, final)
        return block

    def flush(self) -> None:
        """Hand every row not yet seen to the observer, oldest block first."""
        for block in self._blocks.values():
            chunk = block.unsent()
            if chunk is not None:
                self.observer.metrics(chunk)
        self._next_flush = time.monotonic() + self.flush_seconds

    def blocks(self) -> list[tuple[tuple[str, ...], bool, np.ndarray, np.ndarray, np.ndarray]]:
        """(keys, per_step, steps, times, values) of every block, in the order they began: what
        a checkpoint keeps to continue this history exactly."""
        return [(block.keys, block.per_step, *block.arrays()) for block in self._blocks.values()]

    def restore(self, blocks: list[tuple[tuple[str, ...], bool, np.ndarray, np.ndarray,
                                         np.ndarray]]) -> None:
        """Add the rows `blocks()` returned (an earlier part of this run, from a checkpoint);
        they go to the observer like new rows, so the record is the uninterrupted run's."""
        for keys, per_step, steps, times, values in blocks:
            block = self._block(tuple(keys), per_step)
            block.steps.extend(steps.tolist())
            block.times.extend(times.tolist())
            block.rows.extend(tuple(row) for row in values.tolist())

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of one metric as training measured it (per step or per epoch; not
        the values `add_final` logged at the end); empty arrays if it was never recorded."""
        for block in self._blocks.values():
            if key in block.keys and not block.final:
                return block.column(key)
        return np.empty(0, np.int64), np.empty(0, np.float64)

    def _final_points(self, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(steps, times, values) of `key` logged by `add_final`, in the order they came."""
        found = [(steps, times, values[:, block.keys.index(key)])
                 for block in self._blocks.values() if block.final and key in block.keys
                 for steps, times, values in [block.arrays()]]
        if not found:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64)
        return tuple(np.concatenate(parts) for parts in zip(*found, strict=True))  # type: ignore

    def keys(self) -> list[str]:
        return list(dict.fromkeys(key for block in self._blocks.values() for key in block.keys))

    def last(self, key: str) -> float | None:
        """The latest value of `key` (one `add_final` logged, if any), or None."""
        _, _, final = self._final_points(key)
        if final.size:
            return float(final[-1])
        _, values = self.series(key)
        return float(values[-1]) if values.size else None

    def points(self, key: str) -> list[tuple[int, float]]:
        """[(step, value), ...] of one metric."""
        steps, values = self.series(key)
        return list(zip(steps.tolist(), values.tolist(), strict=True))

    def save(self, path: Path, extra: dict[str, np.ndarray] | None = None) -> Path:
        """Write every metric as `step/<key>`, `time/<key>`, `value/<key>` arrays in one
        compressed .npz (what the store was sent: a series, then any values `add_final` logged),
        each array in the smallest type that holds it exactly (`compact`). Metrics recorded
        together share their steps and times: those are written once, under the first key, and
        `steps_of/<key>` names that key. `extra` arrays are written as they are, under their
        names (none may start `step/`, `time/`, `value/` or `steps_of/`)."""
        arrays: dict[str, np.ndarray] = {}
        for block in self._blocks.values():
            if block.final:
                continue
            steps, times, values = block.arrays()
            for j, key in enumerate(block.keys):
                arrays[f"step/{key}"], arrays[f"time/{key}"] = steps, times
                arrays[f"value/{key}"] = values[:, j]
        for key in self.keys():  # the values logged at the end follow the key's series
            steps, times, values = self._final_points(key)
            if steps.size:
                for name, part in (("step", steps), ("time", times), ("value", values)):
                    earlier = arrays.get(f"{name}/{key}", part[:0])
                    arrays[f"{name}/{key}"] = np.concatenate([earlier, part])
        owners: dict[tuple[int, int], str] = {}
        for key in [name[len("value/"):] for name in list(arrays) if name.startswith("value/")]:
            owner = owners.setdefault((id(arrays[f"step/{key}"]), id(arrays[f"time/{key}"])), key)
            if owner != key:
                del arrays[f"step/{key}"], arrays[f"time/{key}"]
                arrays[f"{STEPS_OF}/{key}"] = np.array(owner)
        with open(path, "wb") as handle:  # a handle: numpy would otherwise append ".npz"
            np.savez_compressed(handle, **{name: compact(a) for name, a in arrays.items()},
                                **(extra or {}))
        return path


def compact(array: np.ndarray) -> np.ndarray:
    """`array` in the smallest type that holds every value exactly: float32 for the values of
    a float32 run (float64 where any value needs it), the smallest integer type for steps and
    times. Readers widen them back (`load_history`), so no value changes."""
    if array.dtype.kind == "f":
        narrow = array.astype(np.float32)
        same = np.array_equal(narrow.astype(array.dtype), array, equal_nan=True)
        return narrow if same else array
    if array.dtype.kind in "iu" and array.size:
        low, high = int(array.min()), int(array.max())
        for kind in (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32):
            info = np.iinfo(kind)
            if info.min <= low and high <= info.max:
                return array.astype(kind)
    return array


def load_history(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{key: (steps as int64, values as float64)} from a `metrics/history.npz` artifact (no
    pickles), written compact and compressed or, by older runs, plain (a step array a key)."""
    with np.load(path, allow_pickle=False) as data:
        keys = [name[len("value/"):] for name in data.files if name.startswith("value/")]
        owner = {key: str(data[f"{STEPS_OF}/{key}"]) if f"{STEPS_OF}/{key}" in data.files
                 else key for key in keys}
        steps = {key: data[f"step/{key}"].astype(np.int64) for key in set(owner.values())}
        return {key: (steps[owner[key]], data[f"value/{key}"].astype(np.float64))
                for key in keys}
