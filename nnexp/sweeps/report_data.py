"""A sweep read back from the store for its report: ranked children, seed statistics, the winner
test, what mattered, learning curves and gradient norms, and how to reproduce the best child.

Everything comes from the functions the parent's summary uses (`summary.read_rows`,
`seed_statistics`, `winner_test`, `console_table`'s ranking), so the report and the summary never
disagree; a sweep still running gives a partial report.
"""

from __future__ import annotations

import math
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnexp.experiment.history import HISTORY_ARTIFACT, load_history
from nnexp.record import tags
from nnexp.sweeps.configurations import SEED_KEY
from nnexp.sweeps.importance import Importance
from nnexp.sweeps.mattered import what_mattered
from nnexp.sweeps.summary import (
    SweepSummary,
    child_runs,
    read_rows,
    seed_groups,
    seed_statistics,
)
from nnexp.sweeps.winner import rank_configurations, winner_test

MAX_POINTS = 60  # per curve in the report: min and max of each bucket kept when thinned
CURVE_BUDGET = 30_000  # points of all children's curves together: many children, fewer each
MAX_HISTORY_BYTES = 50_000_000
CURVES = ("train/loss", "val/loss")


@dataclass
class SweepReport:
    """What the report shows, read once from the store."""

    parent_id: str
    parent_name: str
    parent_status: str
    keys: list[str]  # the swept keys
    objective: str
    direction: str
    rows: list[dict[str, Any]]  # ranked: best first, then unfinished
    differing: list[str]  # swept keys whose value differs between children
    seed_stats: list[dict[str, Any]] | None
    winner: str | None
    importance: Importance | None
    curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    grad_norms: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    running: int = 0

    @property
    def partial(self) -> bool:
        return self.parent_status == "RUNNING" or self.running > 0

    @property
    def best(self) -> dict[str, Any] | None:
        return self.rows[0] if self.rows and _usable(self.rows[0], self.objective) else None

    @property
    def worst(self) -> dict[str, Any] | None:
        usable = [r for r in self.rows if _usable(r, self.objective)]
        return usable[-1] if len(usable) > 1 else None


def _usable(row: dict[str, Any], objective: str) -> bool:
    value = row.get(objective, math.nan)
    return row["status"] == "FINISHED" and isinstance(value, float) and math.isfinite(value)


def thin(steps: np.ndarray, values: np.ndarray, limit: int = MAX_POINTS
         ) -> tuple[np.ndarray, np.ndarray]:
    """At most `limit` points: each of limit/2 buckets keeps its min and its max, in order."""
    if steps.size <= limit:
        return steps, values
    keep: list[int] = []
    for bucket in np.array_split(np.arange(steps.size), limit // 2):
        part = values[bucket]
        finite = np.isfinite(part)
        if not finite.any():
            keep.append(int(bucket[0]))
            continue
        ends = bucket[[int(np.nanargmin(part)), int(np.nanargmax(part))]]
        keep.extend(sorted({int(i) for i in ends}))
    return steps[keep], values[keep]


def per_epoch(history: dict[str, tuple[np.ndarray, np.ndarray]], key: str
              ) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values) of an epoch metric: its first point at each epoch's step."""
    if key not in history or "epoch" not in history:
        return np.zeros(0), np.zeros(0)
    epoch_of = dict(zip(*(a.tolist() for a in history["epoch"]), strict=True))
    seen: dict[float, float] = {}
    for step, value in zip(*(a.tolist() for a in history[key]), strict=True):
        if step in epoch_of and epoch_of[step] not in seen:
            seen[epoch_of[step]] = value
    return np.array(list(seen), np.float64), np.array(list(seen.values()), np.float64)


def _history(client: Any, run_id: str, artifact_uri: str | None
             ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The run's metric history file (`artifact_uri`: its artifact location, else read)."""
    from nnexp.tracking.records import RunFiles

    with tempfile.TemporaryDirectory(prefix="nnexp-report-") as tmp:
        try:
            location = artifact_uri or client.get_run(run_id).info.artifact_uri
            path = RunFiles(client, run_id, location).download(HISTORY_ARTIFACT, tmp,
                                                               MAX_HISTORY_BYTES)
            return load_history(path) if path is not None else {}
        except Exception:  # noqa: BLE001 - a child without a readable history has no curves
            return {}


def _add_epochs(row: dict[str, Any], history: dict[str, Any], objective: str,
                direction: str) -> None:
    """The objective's best epoch (value, epoch) and last epoch's value, into the row."""
    epochs, values = per_epoch(history, objective)
    finite = np.isfinite(values)
    if not finite.any():
        return
    pick = np.nanargmin if direction == "minimize" else np.nanargmax
    best = int(pick(np.where(finite, values, np.nan)))
    row["best_epoch"], row["best_value"] = int(epochs[best]), float(values[best])
    row["last_epoch"], row["last_value"] = int(epochs[-1]), float(values[-1])


def _ranked(rows: list[dict[str, Any]], keys: list[str], objective: str, direction: str
            ) -> list[dict[str, Any]]:
    from nnexp.sweeps.console_table import _ranked as console_ranked

    summary = SweepSummary("", keys, objective, direction, rows)
    return console_ranked(summary) + [r for r in rows if r["status"] == "RUNNING"]


def read_sweep(client: Any, parent_id: str, *, with_histories: bool = True,
               parent: Any | None = None, runs: list[Any] | None = None) -> SweepReport:
    """The sweep `parent_id` as its report shows it (see the module docstring); `parent` and
    `runs` (its `summary.child_runs`): as the caller read them, else read here."""
    parent = parent if parent is not None else client.get_run(parent_id)
    if runs is None:
        runs = child_runs(client, parent_id, parent.info.experiment_id)
    ptags = parent.data.tags
    keys = [k for k in ptags.get(tags.SWEEP_PARAMS, "").split(",") if k]
    objective = ptags.get(tags.SWEEP_OBJECTIVE, "val/loss")
    direction = ptags.get(tags.SWEEP_DIRECTION, "minimize")
    rows = read_rows(client, parent_id, keys, objective, parent=parent, runs=runs)
    histories: dict[str, dict[str, Any]] = {}
    if with_histories and rows:
        from nnexp.tracking.model import quiet_mlflow

        where = {run.info.run_id: run.info.artifact_uri for run in runs}
        with quiet_mlflow(), ThreadPoolExecutor(max_workers=4) as pool:
            found = pool.map(lambda r: _history(client, r["run_id"], where.get(r["run_id"])),
                             rows)
            histories = {r["run_id"]: h for r, h in zip(rows, found, strict=True)}
    for row in rows:
        _add_epochs(row, histories.get(row["run_id"], {}), objective, direction)
    differing = [k for k in keys if len({str(r.get(k, "")) for r in rows}) > 1]
    stats = winner = None
    if SEED_KEY in keys:
        stats = seed_statistics(rows, keys, objective, direction)
        test = winner_test(rank_configurations(seed_groups(rows, keys, objective), direction),
                           objective, direction)
        winner = f"{test.verdict}: {test.evidence}"
    ranked = _ranked(rows, keys, objective, direction)
    report = SweepReport(parent_id, parent.info.run_name or "", parent.info.status, keys,
                         objective, direction, ranked, differing, stats, winner,
                         what_mattered(rows, differing, objective),
                         running=sum(r["status"] == "RUNNING" for r in rows))
    limit = max(16, min(MAX_POINTS, CURVE_BUDGET // max(len(ranked), 1)))
    report.curves = {r["run_id"]: {k: thin(*per_epoch(histories.get(r["run_id"], {}), k),
                                           limit) for k in CURVES} for r in ranked}
    for label, row in (("best", report.best), ("worst", report.worst)):
        history = histories.get(row["run_id"], {}) if row else {}
        report.grad_norms[label] = {k.split("/", 1)[1]: thin(*history[k]) for k in sorted(history)
                                    if k.startswith("grad_norm/")}
    return report


def reproduce_commands(report: SweepReport) -> list[str]:
    """Commands that train the best child again and compare it with the runner-up child."""
    best = report.best
    if best is None:
        return []
    lines = [f"python -m nnexp.reproduce {best['run_id']}"]
    others = [r for r in report.rows[1:] if _usable(r, report.objective)]
    if others:
        lines.append(f"python -m nnexp.diff {best['run_id']} {others[0]['run_id']}")
    return lines


def save(path: Path, html: str) -> Path:
    """Write the report's text to `path` (its folder created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


def open_sweep(given_uri: str | None, parent_id: str) -> Any:
    """A client on the store holding `parent_id`; UserAbort when that run is no sweep's parent."""
    from nnexp.config.user_errors import UserAbort
    from nnexp.tracking.records import open_run_store

    _, client = open_run_store(given_uri, parent_id)
    if client.get_run(parent_id).data.tags.get(tags.SWEEP) != "parent":
        raise UserAbort(f"PARENT_RUN_ID: run '{parent_id}' is not a sweep's parent run (give the "
                        "id the sweep printed as `sweep: parent run ...`)")
    return client
