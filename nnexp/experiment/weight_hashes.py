"""Short hashes of every layer's weights every few steps, so `nnexp.reproduce` can stop at the
first step whose weights differ from the recorded run and name the layer, instead of training
to the end.

A hash at step s is the CRC-32 of the layer's parameters (weight then bias, as stored) as they
are when step s begins, that is after s updates: step 0 is the initialisation. One more is taken
when training ends. CRC-32 is not cryptographic; it tells two runs apart (a chance difference
going unseen is 2**-32 per layer and step), and hashes ~6 GB/s, so it is cheap enough to take
during training. Hashes travel as a small artifact, at full resolution.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnexp.experiment.interrupts import RunStopped

HASHES_ARTIFACT = "metrics/weight_hashes.npz"
HASHES_IN_HISTORY = "weight_hashes/"  # a sweep child's, in `metrics/history.npz`


@dataclass(frozen=True)
class RecordedHashes:
    """The hashes one run logged: `hashes[i, j]` is layer `layers[j]` at `steps[i]`."""

    steps: np.ndarray  # int64 (n,)
    layers: tuple[str, ...]
    hashes: np.ndarray  # uint32 (n, len(layers))
    every: int

    def at(self, step: int) -> np.ndarray | None:
        """The layers' hashes at `step`, or None when the run logged none there."""
        found = np.flatnonzero(self.steps == step)
        return self.hashes[found[0]] if found.size else None

    def before(self, step: int) -> int | None:
        """The latest step with hashes before `step`."""
        earlier = self.steps[self.steps < step]
        return int(earlier.max()) if earlier.size else None


class WeightsDiffer(RunStopped):
    """The weights at a step differ from the recorded run's: where, and since when."""

    def __init__(self, step: int, layers: list[str], equal_at: int | None,
                 total_steps: int | None = None) -> None:
        since = (f"equal at step {equal_at}, so an update between steps {equal_at} and {step} "
                 "differed" if equal_at is not None else "the initial weights differ")
        of = f" of {total_steps}" if total_steps is not None else ""
        super().__init__(f"weights differ from the recorded run at step {step}{of} in "
                         f"{', '.join(layers)} ({since}); training stopped there")
        self.step = step
        self.layers = layers
        self.equal_at = equal_at


class WeightHashes:
    """Hashes a model's layers every `every` steps; with `expected`, stops training (raises
    WeightsDiffer) at the first step whose hashes differ from those."""

    def __init__(self, model: Any, every: int, expected: RecordedHashes | None = None,
                 total_steps: int | None = None) -> None:
        params = model.named_parameters()
        self.layers = tuple(model.layer_names)
        self._parts = [tuple(value for key, value in params.items()
                             if key.rpartition(".")[0] == name) for name in self.layers]
        self.every = every
        self.expected = expected
        self.total_steps = total_steps
        self.steps: list[int] = []
        self.rows: list[tuple[int, ...]] = []

    def due(self, step: int) -> bool:
        return step % self.every == 0

    def record(self, step: int) -> None:
        """Hash every layer now, as the weights are when step `step` begins."""
        row = tuple(_crc(parts) for parts in self._parts)
        self.steps.append(step)
        self.rows.append(row)
        if self.expected is not None:
            self._compare(step, row)

    def _compare(self, step: int, row: tuple[int, ...]) -> None:
        assert self.expected is not None
        recorded = self.expected.at(step)
        if recorded is None:
            return
        if self.expected.layers != self.layers:
            raise WeightsDiffer(step, [f"the layers ({', '.join(self.layers)} now, "
                                       f"{', '.join(self.expected.layers)} recorded)"],
                                None, self.total_steps)
        differ = _differing(self.layers, row, tuple(recorded.tolist()))
        if differ:
            raise WeightsDiffer(step, differ, self.expected.before(step), self.total_steps)

    def carry_on(self, earlier: RecordedHashes | None, step: int) -> bool:
        """Start from the hashes a stopped run took before `step` (its checkpoint's), so a
        continuation's hashes cover step 0 onward; false (and none taken) when they were taken
        of other layers or at another interval."""
        if earlier is None or earlier.layers != self.layers or earlier.every != self.every:
            return False
        kept = earlier.steps < step
        self.steps = [int(s) for s in earlier.steps[kept]] + self.steps
        self.rows = [tuple(int(h) for h in row) for row in earlier.hashes[kept]] + self.rows
        return True

    def recorded(self) -> RecordedHashes:
        return RecordedHashes(np.array(self.steps, np.int64), self.layers,
                              np.array(self.rows, np.uint32).reshape(-1, len(self.layers)),
                              self.every)

    def save(self, path: Path) -> Path:
        """Write the hashes as plain arrays (no pickles) to `path`."""
        with open(path, "wb") as handle:  # a handle: numpy would otherwise append ".npz"
            np.savez(handle, **self.arrays())
        return path

    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        """The hashes as the plain arrays `save` writes, each name led by `prefix` (a sweep's
        child keeps them in its history file under `HASHES_IN_HISTORY`: one upload fewer)."""
        kept = self.recorded()
        return {f"{prefix}steps": kept.steps, f"{prefix}hashes": kept.hashes,
                f"{prefix}layers": np.array(kept.layers, dtype=np.str_),
                f"{prefix}every": np.int64(kept.every)}


def load_hashes(path: Path, prefix: str = "") -> RecordedHashes | None:
    """The hashes a run logged, read back from its artifact (or, `prefix` given, from the arrays
    so named in its history file: None when it has none); ValueError if they are malformed."""
    with np.load(path, allow_pickle=False) as data:
        if prefix and f"{prefix}steps" not in data.files:
            return None
        steps, hashes = data[f"{prefix}steps"].astype(np.int64), data[f"{prefix}hashes"]
        layers = tuple(str(name) for name in data[f"{prefix}layers"].tolist())
        every = int(data[f"{prefix}every"])
    if hashes.dtype != np.uint32 or hashes.shape != (steps.shape[0], len(layers)):
        raise ValueError(f"{HASHES_ARTIFACT}: hashes of shape {hashes.shape} and dtype "
                         f"{hashes.dtype} do not fit {steps.shape[0]} steps of {len(layers)} "
                         "layers")
    return RecordedHashes(steps, layers, hashes, every)


def _differing(layers: tuple[str, ...], a: tuple[int, ...], b: tuple[int, ...]) -> list[str]:
    return [name for name, x, y in zip(layers, a, b, strict=True) if x != y]


@dataclass(frozen=True)
class HashComparison:
    """Two runs' weight hashes at the steps both logged: equal up to where they first differ."""

    n_equal: int  # steps compared and equal, before the first difference
    step: int | None = None  # the first step whose hashes differ
    layers: tuple[str, ...] = ()
    equal_at: int | None = None  # the last step compared equal before it


def compare_hashes(recorded: RecordedHashes, reproduced: RecordedHashes) -> HashComparison:
    """Walk the steps both runs hashed, in order, to the first whose hashes differ."""
    if recorded.layers != reproduced.layers:
        return HashComparison(0, int(min(recorded.steps.min(initial=0),
                                         reproduced.steps.min(initial=0))),
                              ("the layers",))
    theirs = {int(step): tuple(row.tolist()) for step, row in zip(reproduced.steps,
                                                                  reproduced.hashes, strict=True)}
    n_equal, equal_at = 0, None
    for step, row in zip(recorded.steps.tolist(), recorded.hashes, strict=True):
        other = theirs.get(step)
        if other is None:
            continue
        differ = _differing(recorded.layers, tuple(row.tolist()), other)
        if differ:
            return HashComparison(n_equal, step, tuple(differ), equal_at)
        n_equal, equal_at = n_equal + 1, step
    return HashComparison(n_equal)


def _crc(arrays: tuple[np.ndarray, ...]) -> int:
    """CRC-32 of a layer's parameters in order (a Dense: its weight, then its bias)."""
    crc = 0
    for array in arrays:
        crc = zlib.crc32(array, crc)
    return crc
