"""How a sweep's jobs find their place: the environment a launcher hands its jobs (parent run,
experiment, launcher pid, swept keys), a child's run name, and a job's error noted on the parent."""

from __future__ import annotations

import os
import re
import sys
from typing import Any

from nnexp.record import tags
from nnexp.record.redact import redact

PARENT_RUN_ENV = "NNEXP_PARENT_RUN_ID"
PARENT_EXPERIMENT_ENV = "NNEXP_PARENT_EXPERIMENT"
LAUNCHER_PID_ENV = "NNEXP_LAUNCHER_PID"  # a job in another process is a pool's worker
SWEPT_KEYS_ENV = "NNEXP_SWEPT_KEYS"
HANDOFF_ENV = ("MLFLOW_TRACKING_URI", PARENT_RUN_ENV, PARENT_EXPERIMENT_ENV, LAUNCHER_PID_ENV,
               SWEPT_KEYS_ENV)  # what a job needs from the process that launched the sweep


def child_run_name(overrides: list[str], swept: list[str] | None) -> str:
    """The run's name: its swept values in a sweep (`lr=0.1,model.hidden=[64]`), else overrides;
    never Hydra's own settings (`hydra.searchpath=[file://...]` says nothing of the run)."""
    keys = [tags.parse_override(o)[0] for o in overrides]
    chosen = [o for o, key in zip(overrides, keys, strict=True)
              if (swept is None or key in swept) and not key.startswith(("hydra.", "hydra/"))]
    return ",".join(chosen) or "defaults"


def swept_keys(task_overrides: list[str], sweeper_params: dict[str, Any] | None) -> list[str]:
    """Keys that take more than one value in this sweep (choice lists, ranges, intervals)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    keys = [o.get_key_element() for o in parser.parse_overrides(task_overrides)
            if o.is_sweep_override()]
    keys += [k for k in (sweeper_params or {}) if k not in keys]
    return [k.lstrip("+~") for k in keys]


def sweep_name(task_overrides: list[str], sweeper_params: dict[str, Any] | None) -> str:
    """The parent's name: what was swept over how many values (`sweep lr x3, model.hidden x2`;
    a sampled interval is `lr range`)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    arguments = [*task_overrides, *(f"{k}={v}" for k, v in (sweeper_params or {}).items())]
    parts: dict[str, str] = {}
    for override in parser.parse_overrides(arguments):
        if not override.is_sweep_override():
            continue
        key = override.get_key_element().lstrip("+~")
        try:
            parts[key] = f"{key} x{len(list(override.sweep_iterator()))}"
        except Exception:  # noqa: BLE001 - an interval is sampled, not enumerated
            parts[key] = f"{key} range"
    return "sweep " + (", ".join(parts.values()) or "defaults")


def distinct_name(name: str, run_id: str) -> str:
    """A sweep's name told apart from other sweeps of the same keys: its run id's start."""
    return f"{name} #{run_id[:6]}"


def record_job_error(parent_id: str, job_name: str, exc: BaseException,
                     uri: str | None = None) -> None:
    """Note on the parent run (in the store at `uri`, by default the sweep's) that a job raised,
    whether or not it had created its own run."""
    from nnexp.config.user_errors import describe_user_error
    from nnexp.tracking.mlflow_observer import LOCAL_PARENT_ENV
    from nnexp.tracking.store import open_client

    if os.environ.get(LOCAL_PARENT_ENV) == parent_id:
        return  # the parent is not in the store yet; the job's error is on the console
    message = describe_user_error(exc) or f"{type(exc).__name__}: {exc}"
    key = tags.SWEEP_JOB_ERROR_PREFIX + re.sub(r"[^A-Za-z0-9_.-]+", "_", job_name)[:200]
    try:
        open_client(uri or os.environ["MLFLOW_TRACKING_URI"]).set_tag(
            parent_id, key, redact(f"{job_name} (raised: {message})")[:tags.MAX_VALUE_CHARS])
    except Exception as failure:  # the job's own error matters more than this note
        print(redact(f"sweep: could not record the job's error on the parent: {failure}"),
              file=sys.stderr)
