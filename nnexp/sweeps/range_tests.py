"""The store's side of `sweep.skip_lr_above=auto`: find a recorded lr range test for a
configuration, and tell a sweep's parent which jobs were skipped and why."""

from __future__ import annotations

import re

from nnexp.record import tags
from nnexp.sweeps.reuse import finished_run
from nnexp.tracking.store import open_client


def recorded_range_test(uri: str, experiment: str, key: str) -> tuple[str, float | None] | None:
    """The newest FINISHED range test of `experiment` for the configuration `key`: its run id
    and divergence point (None when its loss never turned up); None when there is none."""
    run = finished_run(uri, experiment, key, tag=tags.LR_FIND_KEY)
    if run is None:
        return None
    divergence = run.data.tags.get(tags.LR_FIND_DIVERGENCE, "none")
    return run.info.run_id, None if divergence == "none" else float(divergence)


def note_skipped(uri: str, parent_run_id: str, job_name: str, reason: str) -> None:
    """Tell the sweep's parent that `job_name` made no run, and why."""
    key = tags.SWEEP_SKIPPED_PREFIX + re.sub(r"[^A-Za-z0-9_.-]+", "_", job_name)[:200]
    open_client(uri).set_tag(parent_run_id, key,
                             f"{job_name}: {reason}"[:tags.MAX_VALUE_CHARS])
