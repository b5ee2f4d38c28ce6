"""`sweep.resume`: find the stopped run of the same config and the checkpoint to continue it from.

A run's identity is its config hash (`nnexp.config_hash`, as for `sweep.skip_finished`). The newest
run of that identity that did not finish (KILLED, FAILED, or RUNNING with its process gone) and
was not continued already is continued from its newest readable checkpoint, as a new run: MLflow
cannot delete the metric values the stopped run logged after that checkpoint, so the new run
starts from the checkpoint's full history and the stopped run is tagged `nnexp.continued_by`.
A pruned run is a decision, kept when the resuming sweep prunes too; a diverged run is a result
(its config diverges at the same step every time), kept.

A continuation is exact only with the same code and the same checkpoint: the run is refused in
one line when the code that trained it (CODE_TAGS) differs from the code now, or when its
checkpoint's sha256 is not the one recorded when it was logged; `sweep.resume_force=true`
continues anyway and the new run records what differed (`nnexp.resume.forced`). Of several
resumers at once, one continues the run (a lease in the store: sweeps/resume_lease.py).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnexp.config import ConfigError
from nnexp.experiment.checkpoint import (
    CHECKPOINT_DIR,
    Checkpoint,
    CheckpointError,
    epoch_of,
    file_sha256,
    load,
)
from nnexp.experiment.console import say
from nnexp.experiment.observer import FAILED
from nnexp.record import tags
from nnexp.record.redact import redact
from nnexp.sweeps.resume_lease import take_lease
from nnexp.sweeps.reuse import runs_of_config
from nnexp.tracking.liveness import on_this_machine, stale_reason
from nnexp.tracking.records import download_artifact
from nnexp.tracking.store import open_client, outbox_root

log = logging.getLogger(__name__)
STALE_SECONDS = 600.0  # heartbeat silence after which a run on another host is taken for dead
MAX_CHECKPOINT_BYTES = 4 << 30
UNFINISHED = "attributes.status != 'FINISHED'"
# the code that trains a run: nnexp's own (version, commit, dirty) and the user's project's
CODE_TAGS = (tags.VERSION_PREFIX + "nnexp", tags.NNEXP_SOURCE_COMMIT, tags.NNEXP_SOURCE_DIRTY,
             tags.MLFLOW_GIT_COMMIT, tags.GIT_DIRTY, tags.GIT_DIFF_SHA)


class ResumeRefused(ConfigError):
    """The stopped run cannot be continued exactly: other code, or an altered checkpoint."""


@dataclass
class ResumePoint:
    """The run to continue (`checkpoint` set), or a run whose outcome stands ("pruned" when the
    resuming sweep prunes too, "diverged": training again would diverge at the same step)."""

    run: Any  # the MLflow run
    checkpoint: Checkpoint | None
    outcome: str = ""
    forced: str = ""  # what differed, continued anyway (sweep.resume_force)

    @property
    def run_id(self) -> str:
        return str(self.run.info.run_id)


def current_code(command: list[str] | None) -> dict[str, str]:
    """The CODE_TAGS of the code that runs now, as a run started now would record them."""
    from nnexp.record.provenance import provenance_tags

    found, _ = provenance_tags(command)
    return {key: found[key] for key in CODE_TAGS if key in found}


def find_resume_point(uri: str, experiment: str, identity: str, *, keep_pruned: bool,
                      code: dict[str, str], force: bool = False) -> ResumePoint | None:
    """The newest unfinished, not yet continued run of `identity` with a usable checkpoint (a
    stale RUNNING one is ended FAILED first, its journal replayed), or whose outcome stands (a
    diverged one; a pruned one with `keep_pruned`), newest first. None: train from the start.
    ResumeRefused when that run's code is not `code` or its checkpoint is altered (unless
    `force`); a run another resumer holds (its lease) is passed over."""
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
            run = client.get_run(run.info.run_id)  # with what its journal held (checksums)
            run_tags = run.data.tags
        checkpoint, altered = latest_checkpoint(client, run.info.run_id, identity, run_tags)
        if checkpoint is None:
            continue
        differences = code_differences(run_tags, code) + altered
        if differences and not force:
            raise ResumeRefused(f"sweep.resume: run {run.info.run_id} cannot be continued "
                                f"exactly: {'; '.join(differences)}; sweep.resume_force=true "
                                "continues it anyway (recorded on the new run)")
        won, lease = take_lease(client, run.info.run_id)
        if not won:
            until = "" if lease is None else time.strftime(
                " (its lease ends %H:%M:%S UTC)", time.gmtime(lease.until))
            say(f"note: run {run.info.run_id} is being continued by another process{until}; "
                "not continuing it here", error=True)
            continue
        return ResumePoint(run, checkpoint, forced="; ".join(differences))
    return None


def code_differences(run_tags: dict[str, str], code: dict[str, str]) -> list[str]:
    """How the code that trained the run (its CODE_TAGS) differs from `code`, one text each."""
    return [f"{key} was {run_tags.get(key, 'absent')}, now {code.get(key, 'absent')}"
            for key in CODE_TAGS if run_tags.get(key) != code.get(key)]


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


def latest_checkpoint(client: Any, run_id: str, identity: str, run_tags: dict[str, str]
                      ) -> tuple[Checkpoint | None, list[str]]:
    """The run's newest checkpoint that reads back and belongs to `identity`, and how it differs
    from the checksum recorded when it was logged (nothing: it is the file logged)."""
    try:
        entries = client.list_artifacts(run_id, CHECKPOINT_DIR)
    except Exception:  # noqa: BLE001 - no artifacts, or none reachable: nothing to continue
        return None, []
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
                return checkpoint, _checksum_differs(path, run_tags)
    return None, []


def _checksum_differs(path: Path, run_tags: dict[str, str]) -> list[str]:
    """How the downloaded checkpoint differs from the sha256 recorded when it was logged."""
    recorded = run_tags.get(tags.CHECKPOINT_SHA256_PREFIX + path.name)
    if recorded is None:
        return [f"checkpoint {path.name} has no sha256 in the record"]
    actual = file_sha256(path)
    if actual != recorded:
        return [f"checkpoint {path.name} has sha256 {actual[:16]}..., the record says "
                f"{recorded[:16]}... (altered since it was logged)"]
    return []


def note_continuation(uri: str, stopped_run_id: str, continuation_id: str) -> None:
    """Tag the stopped run with the run that continues it (the summary reads it)."""
    open_client(uri).set_tag(stopped_run_id, tags.CONTINUED_BY, continuation_id)
