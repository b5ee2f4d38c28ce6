"""The seam between an experiment and whatever records it (after Sacred's observers).

An experiment tells its observer what happens: the run started (with everything needed to repeat
it), metrics were measured, an epoch ended, a file or a model was produced, the run ended with a
status. `RunObserver` itself records nothing: it is the observer of `tracking.enabled=false` and
of tests; `nnexp.tracking.mlflow_observer` records into MLflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FINISHED, FAILED, KILLED = "FINISHED", "FAILED", "KILLED"


@dataclass(frozen=True)
class RunPlan:
    """How long the run will be, known before it starts: observers size their records by it."""

    total_steps: int
    epochs: int
    log_every_n_steps: int

    def expected_points(self, per_step: bool) -> int:
        """How many values a metric gets at full resolution (per step or per epoch)."""
        if per_step:
            return -(-self.total_steps // self.log_every_n_steps)
        return self.epochs


@dataclass
class RunStart:
    """Everything a record of the run needs before training: identity, inputs, provenance."""

    name: str
    experiment: str
    plan: RunPlan
    parent_run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)  # artifact path -> text
    folders: dict[str, Path] = field(default_factory=dict)  # artifact dir -> local folder
    dataset: Any = None


@dataclass(frozen=True)
class MetricChunk:
    """New rows of metrics that share their steps: `values[i, j]` is `keys[j]` at `steps[i]`."""

    keys: tuple[str, ...]
    steps: np.ndarray  # int64 (n,)
    timestamps: np.ndarray  # int64 milliseconds since the epoch (n,)
    values: np.ndarray  # float64 (n, len(keys))
    per_step: bool  # logged every few steps (True) or once an epoch or once a run (False)

    def __len__(self) -> int:
        return int(self.steps.shape[0])


@dataclass
class RunOutcome:
    """How the run ended, and what to record about it."""

    status: str  # FINISHED, FAILED or KILLED
    tags: dict[str, str] = field(default_factory=dict)
    traceback: str | None = None  # for a crash: recorded, never printed to the user
    metrics: dict[str, float] = field(default_factory=dict)  # the final values
    seconds: float = 0.0  # training time
    epochs_run: int = 0
    wait_seconds: float | None = None  # at most this long for a store (the user wants out)


class RunObserver:
    """Observes a run and records nothing; subclasses override the events they record."""

    run_id: str | None = None
    records_files = False  # whether plots and other artifacts are worth producing for it
    kept_locally: str | None = None  # where the record waits when the store did not take it

    def started(self, start: RunStart) -> None:
        """The run begins; everything needed to repeat it is in `start`."""

    def metrics(self, chunk: MetricChunk) -> None:
        """New metric values, in the order they were measured (at most about once a second)."""

    def epoch_ended(self, epoch: int, step: int, values: Mapping[str, float]) -> None:
        """An epoch ended at global step `step` with these epoch metrics."""

    def artifact(self, path: Path, artifact_dir: str | None = None) -> None:
        """A file (or a folder's files) the run produced, to keep under `artifact_dir`."""

    def record_tags(self, values: dict[str, str]) -> None:
        """Tags learned while the run lasts (a checkpoint's checksum), recorded in order."""

    def model(self, weights: Path, meta: dict[str, Any], dataset: Any, step: int) -> None:
        """The trained network (weights file and prediction metadata), loadable later."""

    def ended(self, outcome: RunOutcome) -> None:
        """The run is over; nothing follows."""

    def summary_line(self) -> str | None:
        """One line saying where the run was recorded and how to look at it, if anywhere."""
        return None


class Observers(RunObserver):
    """Several observers heard as one, in order (the console, then the store, say)."""

    def __init__(self, *observers: RunObserver) -> None:
        self.observers = observers
        self.records_files = any(o.records_files for o in observers)

    @property
    def run_id(self) -> str | None:  # type: ignore[override]
        return next((o.run_id for o in self.observers if o.run_id is not None), None)

    @property
    def kept_locally(self) -> str | None:  # type: ignore[override]
        return next((o.kept_locally for o in self.observers if o.kept_locally), None)

    def started(self, start: RunStart) -> None:
        for observer in self.observers:
            observer.started(start)

    def metrics(self, chunk: MetricChunk) -> None:
        for observer in self.observers:
            observer.metrics(chunk)

    def epoch_ended(self, epoch: int, step: int, values: Mapping[str, float]) -> None:
        for observer in self.observers:
            observer.epoch_ended(epoch, step, values)

    def artifact(self, path: Path, artifact_dir: str | None = None) -> None:
        for observer in self.observers:
            observer.artifact(path, artifact_dir)

    def record_tags(self, values: dict[str, str]) -> None:
        for observer in self.observers:
            observer.record_tags(values)

    def model(self, weights: Path, meta: dict[str, Any], dataset: Any, step: int) -> None:
        for observer in self.observers:
            observer.model(weights, meta, dataset, step)

    def ended(self, outcome: RunOutcome) -> None:
        for observer in self.observers:
            observer.ended(outcome)

    def summary_line(self) -> str | None:
        lines = [line for o in self.observers if (line := o.summary_line())]
        return "\n".join(lines) or None
