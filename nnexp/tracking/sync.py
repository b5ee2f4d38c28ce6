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
    plan = RunPlan(**info["plan"])
    points: list[tuple[str, float, int, int]] = []
    for key, series in outbox.metric_series().items():
        thinner = SeriesBudget(plan.expected_points(bool(series["per_step"])), info["budget"])
        for steps, times, values in (thinner.push(series["steps"], series["times"],
                                                  series["values"]), thinner.finish()):
            points.extend(zip([key] * len(steps), values.tolist(), times.tolist(),
                              steps.tolist(), strict=True))
    send_metrics(client, outbox.run_id, points)
    pending = outbox.pending_ops()
    for op in pending:
        apply_op(client, outbox.run_id, op, outbox)
        outbox.mark_done(op["seq"])
    ended = None
    if not any(op["op"] == "end" for op in outbox.all_ops()):
        client.set_tag(outbox.run_id, tags.STATUS_REASON, unended_reason)
        client.set_terminated(outbox.run_id, unended_status)
        ended = unended_status
    outbox.remove()
    return Replayed(outbox.run_id, len(points), len(pending), ended)
