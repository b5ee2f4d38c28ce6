"""Replaying a run's outbox into the store: what `python -m nnexp.runs sync` and `cleanup` do.

The metrics are thinned exactly as the live run thinned them (same budget, same expected length),
so a replay sends the very points the run would have sent; the store ignores those it already has.
A run killed before it wrote its full history (`metrics/history.npz`) gets it from the journal,
every value at full resolution. Then every operation not yet confirmed runs in its original
order (its checkpoints among them: the weights it has); one whose path leads outside the
journal's files/ is refused. A run whose process died before ending it is ended (FAILED unless
told otherwise) with the reason. The journal is removed only once the store, read back, shows
all of it; otherwise it stays for the next sync.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from nnexp.experiment.history import HISTORY_ARTIFACT, MetricHistory
from nnexp.experiment.observer import FAILED, RunPlan
from nnexp.record import tags
from nnexp.tracking.budget import SeriesBudget
from nnexp.tracking.outbox import FILES, JournalError, Outbox, UnsafePath, safe_artifact_dir
from nnexp.tracking.store import ensure_experiment
from nnexp.tracking.writer import apply_op, is_permanent, send_metrics

Points = list[tuple[str, float, int, int]]
log = logging.getLogger(__name__)


@dataclass
class Replayed:
    """What one replay sent."""

    run_id: str
    n_values: int
    n_ops: int
    ended: str | None  # the status it ended the run with, if the process had not
    refused: list[str] = field(default_factory=list)  # paths outside the journal: not sent
    history_values: int = 0  # values in the history artifact the replay wrote (0: none written)


def replay(outbox: Outbox, client: Any, *, unended_reason: str,
           unended_status: str = FAILED) -> Replayed:
    """Send everything in `outbox` to the store behind `client`; remove the outbox once the
    store shows all of it, and keep it when an operation was refused (JournalError when the
    journal is damaged or the store does not know its run: nothing is removed)."""
    plan, budget = _plan(outbox)
    series = outbox.metric_series()
    pending = outbox.pending_ops()
    run_id = store_run(outbox, client)
    _known_run(client, run_id)
    points = _budgeted_points(series, plan, budget)
    send_metrics(client, run_id, points)
    history_values = _keep_full_history(outbox, client, run_id, series)
    refused = _apply_pending(outbox, client, run_id, pending)
    ended = None
    if not any(op["op"] == "end" for op in outbox.all_ops()):
        client.set_tag(run_id, tags.STATUS_REASON, unended_reason)
        client.set_terminated(run_id, unended_status)
        ended = unended_status
    _confirm_stored(outbox, client, run_id, points, bool(history_values))
    if not refused:
        outbox.remove()
    return Replayed(run_id, len(points), len(pending), ended, refused, history_values)


def replay_if_kept(folder: Path, client: Any, *, unended_reason: str,
                   unended_status: str = FAILED) -> bool:
    """Replay the journal in `folder` if there is one that can be replayed; False when there is
    none, or it is damaged (it is then kept, with a warning, for `runs sync` to report)."""
    if not folder.is_dir():
        return False
    try:
        replay(Outbox(folder), client, unended_reason=unended_reason,
               unended_status=unended_status)
    except JournalError as exc:
        log.warning(f"warning: journal {folder} not replayed ({exc}); kept")
        return False
    return True


def _plan(outbox: Outbox) -> tuple[RunPlan, int]:
    """The run's plan and metric budget as run.json keeps them."""
    try:
        plan, budget = RunPlan(**outbox.info["plan"]), outbox.info["budget"]
    except (KeyError, TypeError):
        raise JournalError("run.json has no usable plan or budget") from None
    if not isinstance(budget, int) or budget < 1:
        raise JournalError(f"run.json has budget {budget!r}, not a positive integer")
    return plan, budget


def _known_run(client: Any, run_id: str) -> None:
    """JournalError unless the store has the run (a journal of another store, a deleted run)."""
    try:
        client.get_run(run_id)
    except Exception as exc:  # noqa: BLE001 - the store's errors have no common type
        if is_permanent(exc):
            raise JournalError(f"the store has no run {run_id}") from None
        raise


def _budgeted_points(series: dict[str, Any], plan: RunPlan, budget: int) -> Points:
    """The points the live run sent, or would have: each series thinned to the budget."""
    points: Points = []
    for key, values in series.items():
        thinner = SeriesBudget(plan.expected_points(bool(values["per_step"])), budget)
        for steps, times, kept in (thinner.push(values["steps"], values["times"],
                                                values["values"]), thinner.finish()):
            points.extend(zip([key] * len(steps), kept.tolist(), times.tolist(),
                              steps.tolist(), strict=True))
    return points


def _keep_full_history(outbox: Outbox, client: Any, run_id: str, series: dict[str, Any]) -> int:
    """Upload `metrics/history.npz` built from the journal (as the live run builds it) when the
    run never journaled its own; the number of values it holds (0 when none was needed)."""
    own = f"{FILES}/{HISTORY_ARTIFACT}"
    if not series or any(op.get("path") == own for op in outbox.all_ops()):
        return 0
    history = MetricHistory()
    history.restore([((key, ), bool(s["per_step"]), s["steps"], s["times"],
                      s["values"].reshape(-1, 1)) for key, s in series.items()])
    path = outbox.folder / own
    path.parent.mkdir(parents=True, exist_ok=True)
    history.save(path)
    client.log_artifact(run_id, str(path), str(PurePosixPath(HISTORY_ARTIFACT).parent))
    return sum(len(s["values"]) for s in series.values())


def _apply_pending(outbox: Outbox, client: Any, run_id: str,
                   pending: list[dict[str, Any]]) -> list[str]:
    """Carry out the pending operations in order; the paths of those refused as unsafe."""
    refused = []
    for op in pending:
        try:
            apply_op(client, run_id, op, outbox)
        except UnsafePath as exc:
            refused.append(str(exc))
            continue
        outbox.mark_done(op["seq"])
    return refused


def _confirm_stored(outbox: Outbox, client: Any, run_id: str, points: Points,
                    history: bool) -> None:
    """JournalError unless the store, read back, holds every point and file sent and the run
    has ended: only then may the journal go."""
    sent: dict[str, set[tuple[int, int]]] = defaultdict(set)
    for key, _, time_ms, step in points:
        sent[key].add((step, time_ms))
    for key, expected in sent.items():
        stored = {(m.step, m.timestamp) for m in client.get_metric_history(run_id, key)}
        if not expected <= stored:
            raise JournalError(f"the store shows {len(expected & stored)} of the "
                               f"{len(expected)} points of {key} sent")
    wanted = _expected_artifacts(outbox)
    if history:
        wanted.add(HISTORY_ARTIFACT)
    by_folder: dict[str, set[str]] = defaultdict(set)
    for path in wanted:
        by_folder[str(PurePosixPath(path).parent)].add(path)
    for folder, paths in by_folder.items():
        listed = {a.path for a in client.list_artifacts(run_id, None if folder == "." else folder)}
        if not paths <= listed:
            raise JournalError(f"the store does not show {sorted(paths - listed)[0]}")
    if client.get_run(run_id).info.status == "RUNNING":
        raise JournalError("the store still shows the run RUNNING")


def _expected_artifacts(outbox: Outbox) -> set[str]:
    """Where the store keeps each file the journal's artifact operations carry."""
    wanted = set()
    for op in outbox.all_ops():
        if op["op"] != "artifact":
            continue
        try:
            folder, path = safe_artifact_dir(op.get("dir")), outbox.path(op["path"])
        except UnsafePath:
            continue  # refused: never sent
        if path.is_dir():
            wanted.update(str(PurePosixPath(folder or ".") / p.relative_to(path))
                          for p in path.rglob("*") if p.is_file())
        else:
            wanted.add(str(PurePosixPath(folder or ".") / path.name))
    return {w.removeprefix("./") for w in wanted}


def store_run(outbox: Outbox, client: Any) -> str:
    """The run's id in the store. A run no store answered at its start has a local id: it is
    created (in its experiment, created if missing) with its real start time, name and tags,
    the local id among them, by which a later sync finds it again instead of creating another."""
    local = outbox.info.get("local")
    if not local:
        return outbox.run_id
    experiment_id = ensure_experiment(client, local["experiment"], client.tracking_uri)
    outbox.info["experiment_id"] = experiment_id  # where its logged model goes
    found = find_local_run(client, experiment_id, outbox.run_id)
    if found is not None:
        return found
    run_tags = dict(local["tags"])
    parent = run_tags.get(tags.MLFLOW_PARENT_RUN_ID)
    parent_journal = outbox.folder.parent / str(parent)
    if parent and (parent_journal / "run.json").is_file():  # the parent was recorded locally
        run_tags[tags.MLFLOW_PARENT_RUN_ID] = store_run(Outbox(parent_journal), client)
    elif parent:  # recorded locally and synced already, or in the store from its start
        run_tags[tags.MLFLOW_PARENT_RUN_ID] = find_local_run(client, experiment_id,
                                                             parent) or parent
    return str(client.create_run(experiment_id, start_time=local["start_time"], tags=run_tags,
                                 run_name=local["run_name"]).info.run_id)


def find_local_run(client: Any, experiment_id: str, local_id: str) -> str | None:
    """The store's id of the run `sync` created for the local id `local_id`, if any."""
    from mlflow.entities import ViewType

    found = client.search_runs([experiment_id], max_results=1, run_view_type=ViewType.ALL,
                               filter_string=f"tags.`{tags.LOCAL_RUN_ID}` = '{local_id}'")
    return str(found[0].info.run_id) if found else None
