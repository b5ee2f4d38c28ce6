"""`sweep.resume`: find the stopped run of the same config and the checkpoint to continue it from.

A run's identity is its config hash (`nnexp.config_hash`, as for `sweep.skip_finished`). The newest
run of that identity that did not finish (KILLED, FAILED, or RUNNING with its process gone) and
was not continued already is continued from its newest readable checkpoint, as a new run: MLflow
cannot delete the metric values the stopped run logged after that checkpoint, so the new run
starts from the checkpoint's full history and the stopped run is tagged `nnexp.continued_by`.
A pruned run is a decision, kept when the resuming sweep prunes too; a diverged run is a result
(its config diverges at the same step every time), kept.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnexp.experiment.checkpoint import CHECKPOINT_DIR, Checkpoint, CheckpointError, epoch_of, load
from nnexp.experiment.observer import FAILED
from nnexp.record import tags
from nnexp.record.redact import redact
from nnexp.sweeps.reuse import runs_of_config
from nnexp.tracking.liveness import on_this_machine, stale_reason
from nnexp.tracking.records import download_artifact
from nnexp.tracking.store import open_client, outbox_root

log = logging.getLogger(__name__)
STALE_SECONDS = 600.0  # heartbeat silence after which a run on another host is taken for dead
MAX_CHECKPOINT_BYTES = 4 << 30
UNFINISHED = "attributes.status != 'FINISHED'"


@dataclass
class ResumePoint:
    """The run to continue (`checkpoint` set), or a run whose outcome stands ("pruned" when the
    resuming sweep prunes too, "diverged": training again would diverge at the same step)."""

    run: Any  # the MLflow run
    checkpoint: Checkpoint | None
    outcome: str = ""

    @property
    def run_id(self) -> str:
        return str(self.run.info.run_id)


def find_resume_point(uri: str, experiment: str, identity: str, *, keep_pruned: bool
                      ) -> ResumePoint | None:
    """The newest unfinished, not yet continued run of `identity` with a usable checkpoint (a
    stale RUNNING one is ended FAILED first, its journal replayed), or whose outcome stands (a
    diverged one; a pruned one with `keep_pruned`), newest first. None: train from the start."""
    client = open_client(uri)
    for run in runs_of_config(client, experiment, identity, UNFINISHED, limit=200):
        run_tags = run.data.tags
        if tags.CONTINUED_BY in run_tags:
            continue
        if tags.PRUNED in run_tags and keep_pruned:
            return ResumePoint(run, None, "pruned")
        if run_tags.get(tags.DIVERGED) == "true":
            return ResumePoint(run, None, "diverged")
        if run.info.status == "RUNNING":
            reason = stale_reason(run_tags, run.info.start_time or 0, time.time(), STALE_SECONDS)
            if reason is None:
                continue  # its process lives: someone else's run, not ours to continue
            end_stale_run(client, uri, run, reason)
        checkpoint = latest_checkpoint(client, run.info.run_id, identity)
        if checkpoint is not None:
            return ResumePoint(run, checkpoint)
    return None


def end_stale_run(client: Any, uri: str, run: Any, reason: str) -> None:
    """End a RUNNING run whose process is gone: replay what its journal kept on this host (its
    last checkpoints may be there), else just end it FAILED with the reason."""
    from nnexp.tracking.sync import replay_if_kept

    run_id = run.info.run_id
    why = f"resume: {reason}"
    if not (on_this_machine(run.data.tags) and replay_if_kept(
            outbox_root(uri) / run_id, client, unended_reason=why, unended_status=FAILED)):
        client.set_tag(run_id, tags.STATUS_REASON, why)
        client.set_terminated(run_id, FAILED)


def latest_checkpoint(client: Any, run_id: str, identity: str) -> Checkpoint | None:
    """The run's newest checkpoint that reads back and belongs to `identity`."""
    try:
        entries = client.list_artifacts(run_id, CHECKPOINT_DIR)
    except Exception:  # noqa: BLE001 - no artifacts, or none reachable: nothing to continue
        return None
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    named = sorted(((epoch, e.path) for e in entries
                    if not e.is_dir and (epoch := epoch_of(e.path)) is not None), reverse=True)
    with tempfile.TemporaryDirectory(prefix="nnexp-resume-") as tmp:
        for epoch, name in named:
            dest = Path(tmp) / str(epoch)
            dest.mkdir()
            path = download_artifact(client, run_id, name, dest, MAX_CHECKPOINT_BYTES)
            if path is None:
                continue
            try:
                checkpoint = load(path)
            except CheckpointError as exc:
                log.warning(redact(f"warning: run {run_id}: {exc}; trying an older one"))
                continue
            if checkpoint.identity == identity:
                return checkpoint
    return None


def note_continuation(uri: str, stopped_run_id: str, continuation_id: str) -> None:
    """Tag the stopped run with the run that continues it (the summary reads it)."""
    open_client(uri).set_tag(stopped_run_id, tags.CONTINUED_BY, continuation_id)
