"""A Hydra multirun as one MLflow parent run with a child run per job, and its summary.

The callback runs in the launching process with every launcher (basic, joblib, submitit, ray,
optuna): it validates the sweep, creates the parent run, hands its id to the jobs through the
environment, and when the sweep ends (or the process exits after a job raised) writes the
summary and ends the parent FINISHED, or FAILED if any child failed.
"""

from __future__ import annotations

import atexit
import os
import platform
import re
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from nnexp.tracking import tags

PARENT_RUN_ENV = "NNEXP_PARENT_RUN_ID"
SWEPT_KEYS_ENV = "NNEXP_SWEPT_KEYS"
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
MAX_VALIDATED_JOBS = 500


def parse_override(text: str) -> tuple[str, str]:
    """`lr=0.1` -> ("lr", "0.1"); a leading +, ++ or ~ is dropped from the key."""
    key, _, value = text.partition("=")
    return key.lstrip("+~"), value


def child_run_name(overrides: list[str], swept: list[str] | None) -> str:
    """The run's name: its swept values in a sweep (`lr=0.1,model.hidden=[64]`), else overrides."""
    chosen = [o for o in overrides if swept is None or parse_override(o)[0] in swept]
    return ",".join(chosen) or "defaults"


def swept_keys(task_overrides: list[str], sweeper_params: dict[str, Any] | None) -> list[str]:
    """Keys that take more than one value in this sweep (choice lists, ranges, intervals)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    keys = [o.get_key_element() for o in parser.parse_overrides(task_overrides)
            if o.is_sweep_override()]
    keys += [k for k in (sweeper_params or {}) if k not in keys]
    return [k.lstrip("+~") for k in keys]


def record_job_error(parent_id: str, job_name: str, exc: BaseException) -> None:
    """Note on the parent run that a job raised (whether or not it had created its own run)."""
    from nnexp.cli import describe_user_error
    from nnexp.tracking.store import open_client

    message = describe_user_error(exc) or f"{type(exc).__name__}: {exc}"
    key = tags.SWEEP_JOB_ERROR_PREFIX + re.sub(r"[^A-Za-z0-9_.-]+", "_", job_name)[:200]
    try:
        open_client(os.environ["MLFLOW_TRACKING_URI"]).set_tag(
            parent_id, key, f"{job_name} (raised: {message})"[:tags.MAX_VALUE_CHARS])
    except Exception as failure:  # the job's own error matters more than this note
        print(f"sweep: could not record the job's error on the parent: {failure}",
              file=sys.stderr)


def _sweeper_params(config: DictConfig) -> dict[str, Any]:
    """`hydra.sweeper.params` (search spaces of presets) as a plain dict."""
    params = config.hydra.sweeper.get("params")
    return dict(OmegaConf.to_container(params)) if params else {}


def _validate_jobs(config: DictConfig) -> None:
    """Compose and range-check every job of a basic sweep before any run exists."""
    from hydra import compose
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from nnexp.preflight import validate_composed

    params = _sweeper_params(config)
    task = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)  # as typed
    arguments = [f"{k}={v}" for k, v in params.items()] + [str(o) for o in task]
    overrides = OverridesParser.create().parse_overrides(arguments)
    jobs = BasicSweeper.split_arguments(overrides, None)[0]
    for job in jobs[:MAX_VALIDATED_JOBS]:
        validate_composed(compose(config_name=config.hydra.job.config_name,
                                  overrides=list(job), return_hydra_config=True))


class MlflowSweepCallback(Callback):
    """Creates the sweep's parent run and, at the end, its summary; see the module docstring."""

    def __init__(self) -> None:
        self.client: Any = None
        self.parent_id: str | None = None
        self.config: DictConfig | None = None
        self.keys: list[str] = []

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Hydra turns a callback's Exception into a warning; a bad sweep must stop instead.
        from nnexp.cli import abort_for

        try:
            self._start(config)
        except Exception as exc:
            raise abort_for(exc, "sweep could not start") from exc

    def _start(self, config: DictConfig) -> None:
        if config.hydra.sweeper.get("_target_") == BASIC_SWEEPER:
            _validate_jobs(config)
        if not config.tracking.enabled:
            return
        from nnexp.tracking.store import ensure_experiment, open_client, resolve_tracking_uri

        uri = resolve_tracking_uri(config.tracking.uri)
        os.environ["MLFLOW_TRACKING_URI"] = uri  # jobs in other processes use the same store
        self.client = open_client(uri)
        experiment_id = ensure_experiment(self.client, config.tracking.experiment, uri)
        self.keys = swept_keys(list(config.hydra.overrides.task), _sweeper_params(config))
        sweep_dir = str(Path(config.hydra.sweep.dir).resolve())
        name = "sweep " + (",".join(self.keys) or Path(sweep_dir).name)
        run = self.client.create_run(experiment_id, run_name=name, tags={
            tags.MLFLOW_RUN_NAME: name,
            tags.SWEEP: "parent",
            tags.PID: str(os.getpid()),
            tags.HOST: platform.node(),
            tags.SWEEP_DIR: sweep_dir,
            tags.SWEEP_PARAMS: ",".join(self.keys),
            tags.SWEEP_OVERRIDES: " ".join(config.hydra.overrides.task),
            tags.SWEEP_SWEEPER: str(config.hydra.sweeper.get("_target_")),
            tags.SWEEP_LAUNCHER: str(config.hydra.launcher.get("_target_")),
        })
        self.parent_id = run.info.run_id
        self.config = config
        os.environ[PARENT_RUN_ENV] = self.parent_id
        os.environ[SWEPT_KEYS_ENV] = ",".join(self.keys)
        atexit.register(self.finish)  # Hydra skips on_multirun_end when a job raised
        print(f"sweep: parent run {self.parent_id} ({name})", flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self.finish(ended_normally=True)

    def finish(self, ended_normally: bool = False) -> None:
        """Write the summary and end the parent run; safe to call twice.

        Called from atexit when a job raised (Hydra then skips on_multirun_end): the parent
        ends FAILED even if every child run that exists finished.
        """
        if self.parent_id is None:
            return
        parent_id, self.parent_id = self.parent_id, None
        os.environ.pop(PARENT_RUN_ENV, None)
        os.environ.pop(SWEPT_KEYS_ENV, None)
        status = "FAILED"
        try:
            from nnexp.tracking.sweep_summary import write_summary

            assert self.config is not None
            status = write_summary(self.client, parent_id, self.keys,
                                   self.config.sweep.objective, self.config.sweep.direction)
            if not ended_normally:
                status = "FAILED"
                self.client.set_tag(parent_id, tags.SWEEP_ERROR,
                                    "the sweep stopped early: a job raised or it was interrupted")
        except Exception as exc:  # the summary must never leave the parent RUNNING
            print(f"sweep: summary failed: {exc}", file=sys.stderr)
            self.client.set_tag(parent_id, tags.ERROR,
                                f"summary failed: {exc}"[:tags.MAX_VALUE_CHARS])
        finally:
            self.client.set_terminated(parent_id, status)
