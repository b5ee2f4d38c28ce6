"""Replaying a run's outbox into the store: what `python -m nnexp.runs sync` and `cleanup` do.

The metrics are thinned exactly as the live run thinned them (same budget, same expected length),
so a replay sends the very points the run would have sent; the store ignores those it already has.
Then every operation not yet confirmed runs in its original order. A run whose process died before
ending it is ended (FAILED unless told otherwise) with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nnexp.experiment.observer import FAILED, RunPlan
from nnexp.record import tags
from nnexp.tracking.budget import SeriesBudget
from nnexp.tracking.outbox import Outbox
from nnexp.tracking.store import ensure_experiment
from nnexp.tracking.writer import apply_op, send_metrics


@dataclass
class Replayed:
    """What one replay sent."""

    run_id: str
    n_values: int
    n_ops: int
    ended: str | None  # the status it ended the run with, if the process had not


def replay(outbox: Outbox, client: Any, *, unended_reason: str,
           unended_status: str = FAILED) -> Replayed:
    """Send everything in `outbox` to the store behind `client`, then remove the outbox."""
    info = outbox.info
    run_id = store_run(outbox, client)
    plan = RunPlan(**info["plan"])
    points: list[tuple[str, float, int, int]] = []
    for key, series in outbox.metric_series().items():
        thinner = SeriesBudget(plan.expected_points(bool(series["per_step"])), info["budget"])
        for steps, times, values in (thinner.push(series["steps"], series["times"],
                                                  series["values"]), thinner.finish()):
            points.extend(zip([key] * len(steps), values.tolist(), times.tolist(),
                              steps.tolist(), strict=True))
    send_metrics(client, run_id, points)
    pending = outbox.pending_ops()
    for op in pending:
        apply_op(client, run_id, op, outbox)
        outbox.mark_done(op["seq"])
    ended = None
    if not any(op["op"] == "end" for op in outbox.all_ops()):
        client.set_tag(run_id, tags.STATUS_REASON, unended_reason)
        client.set_terminated(run_id, unended_status)
        ended = unended_status
    outbox.remove()
    return Replayed(run_id, len(points), len(pending), ended)


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
