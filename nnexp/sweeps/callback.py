"""A Hydra multirun as one MLflow parent run with a child run per job, and its summary.

The callback runs in the launching process with every launcher (basic, joblib, submitit, ray,
optuna): it validates the sweep, creates the parent run, hands its id to the jobs through the
environment, and when the sweep ends (or the process exits after a job raised) writes the
summary and ends the parent FINISHED, or FAILED if any child failed.
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from nnexp.record import tags
from nnexp.record.redact import redact, redact_logging
from nnexp.sweeps.local_parent import LocalSweepParent
from nnexp.sweeps.naming import (
    HANDOFF_ENV,
    LAUNCHER_PID_ENV,
    PARENT_EXPERIMENT_ENV,
    PARENT_RUN_ENV,
    SWEPT_KEYS_ENV,
    distinct_name,
    sweep_name,
    swept_keys,
)
from nnexp.sweeps.parent import SweepParent, create_parent_run
from nnexp.sweeps.pruning_rules import prune_settings, pruning_outlook
from nnexp.sweeps.ray_handoff import uses_ray
from nnexp.tracking.known_stores import remember

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
MAX_VALIDATED_JOBS = 500


def _sweeper_params(config: DictConfig) -> dict[str, Any]:
    """`hydra.sweeper.params` (search spaces of presets) as a plain dict."""
    params = config.hydra.sweeper.get("params")
    return dict(OmegaConf.to_container(params)) if params else {}


def _validate_jobs(config: DictConfig) -> tuple[set[str], int, int]:
    """Compose and range-check every job of a basic sweep before any run exists; the MLflow
    experiments the jobs record into, how many jobs there are and their most epochs."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from nnexp.config.preflight import validate_jobs

    params = _sweeper_params(config)
    task = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)  # as typed
    arguments = [f"{k}={v}" for k, v in params.items()] + [str(o) for o in task]
    # With Hydra's config loader, as the sweeper has: glob() needs it to list a group's options.
    parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
    jobs = BasicSweeper.split_arguments(parser.parse_overrides(arguments), None)[0]
    hydra_overrides = OmegaConf.to_container(config.hydra.overrides.hydra, resolve=False)
    configs = validate_jobs(config.hydra.job.config_name, [str(o) for o in hydra_overrides],
                            [list(job) for job in jobs[:MAX_VALIDATED_JOBS]])
    return ({cfg.tracking.experiment for cfg in configs}, len(jobs),
            max(cfg.train.epochs for cfg in configs))


def one_experiment(experiments: set[str]) -> None:
    """Refuse a sweep whose jobs record into several experiments: a parent run and its children
    share one experiment in MLflow, and a summary ranks one set of comparable runs."""
    from nnexp.config import ConfigError

    if len(experiments) > 1:
        raise ConfigError(
            f"tracking.experiment: this sweep's jobs record into {len(experiments)} experiments "
            f"({', '.join(sorted(experiments))}); a sweep is one parent run in one experiment: "
            "run one sweep per experiment")


def _check_direction(config: DictConfig) -> None:
    """A sweeper with its own direction (Optuna) must optimise what the summary ranks."""
    from nnexp.config import ConfigError

    direction = config.hydra.sweeper.get("direction")
    name = getattr(direction, "name", direction)
    if isinstance(name, str) and name != config.sweep.direction:
        raise ConfigError(f"hydra.sweeper.direction: '{name}' but sweep.direction is "
                          f"'{config.sweep.direction}'; set sweep.direction (hparams_search "
                          "presets follow it)")


def _sweep_tags(config: DictConfig, keys: list[str], sweep_dir: str) -> dict[str, str]:
    """What a sweep's parent run says about the sweep: where, what it varies, how it ranks."""
    return {
        tags.SWEEP_DIR: sweep_dir,
        tags.SWEEP_PARAMS: ",".join(keys),
        tags.SWEEP_OVERRIDES: redact(" ".join(config.hydra.overrides.task)),
        tags.SWEEP_SWEEPER: str(config.hydra.sweeper.get("_target_")),
        tags.SWEEP_LAUNCHER: str(config.hydra.launcher.get("_target_")),
        tags.SWEEP_OBJECTIVE: config.sweep.objective,
        tags.SWEEP_DIRECTION: config.sweep.direction,
        **tags.user_tags(config.tracking),
    }


class MlflowSweepCallback(Callback):
    """Creates the sweep's parent run and, at the end, its summary; see the module docstring."""

    def __init__(self) -> None:
        self.parent: SweepParent | LocalSweepParent | None = None
        self.keys: list[str] = []

    def __getstate__(self) -> dict[str, Any]:
        """Launchers ship callbacks to worker processes; the parent stays with its launcher."""
        return {**self.__dict__, "parent": None}

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Hydra turns a callback's Exception into a warning; a bad sweep must stop instead.
        from nnexp.tracking.store import abort_for

        redact_logging()  # the launcher logs each job's overrides, tracking.uri included
        try:
            self._start(config)
        except Exception as exc:
            raise abort_for(exc, "sweep could not start") from exc

    def _start(self, config: DictConfig) -> None:
        experiments = {config.tracking.experiment}
        children, epochs = config.hydra.sweeper.get("n_trials"), config.train.epochs
        if config.hydra.sweeper.get("_target_") == BASIC_SWEEPER:
            experiments, children, epochs = _validate_jobs(config)
        if not config.tracking.enabled:
            return
        one_experiment(experiments)
        _check_direction(config)
        experiment = next(iter(experiments), config.tracking.experiment)
        from nnexp.tracking.store import resolve_tracking_uri

        uri = resolve_tracking_uri(config.tracking.uri, probe=False)
        os.environ["MLFLOW_TRACKING_URI"] = uri  # jobs in other processes use the same store
        remember(uri)
        self.keys = swept_keys(list(config.hydra.overrides.task), _sweeper_params(config))
        sweep_dir = str(Path(config.hydra.sweep.dir).resolve())
        name = redact(sweep_name(list(config.hydra.overrides.task), _sweeper_params(config)))
        command = ["python", "-m", "nnexp.train", *sys.argv[1:]]
        self.parent = self._open_parent(config, uri, experiment, name,
                                        _sweep_tags(config, self.keys, sweep_dir), command)
        run_id = self.parent.run_id
        os.environ[PARENT_RUN_ENV] = run_id
        os.environ[SWEPT_KEYS_ENV] = ",".join(self.keys)
        os.environ[PARENT_EXPERIMENT_ENV] = experiment
        os.environ[LAUNCHER_PID_ENV] = str(os.getpid())
        atexit.register(self.finish)  # Hydra skips on_multirun_end when a job raised
        if uses_ray(config):  # Ray's workers do not inherit this environment: hand it over
            from nnexp.sweeps.ray_handoff import connect_ray

            connect_ray(config, {key: os.environ[key] for key in HANDOFF_ENV})
        if "joblib" in str(config.hydra.launcher.get("_target_")):
            from nnexp.sweeps.parent import quiet_pool_helpers

            quiet_pool_helpers(Path(sweep_dir) / "pool_helpers.log")
        print(f"sweep: parent run {run_id} ({distinct_name(name, run_id)})", flush=True)
        if config.sweep.prune is not None:
            print(pruning_outlook(prune_settings(config.sweep), children, epochs), flush=True)

    def _open_parent(self, config: DictConfig, uri: str, experiment: str, name: str,
                     sweep_tags: dict[str, str], command: list[str]
                     ) -> SweepParent | LocalSweepParent:
        """The parent run in the store, or kept locally when a server store does not answer
        within tracking.start_wait_seconds: the sweep trains all the same."""
        from nnexp.tracking.mlflow_observer import server_silent
        from nnexp.tracking.run_lookups import experiment_id_once
        from nnexp.tracking.store import open_client

        silent = server_silent(uri, min(config.tracking.start_wait_seconds,
                                        config.tracking.retry_seconds))
        if silent is not None:
            print(redact(f"note: {silent}; the sweep trains and is recorded locally"),
                  file=sys.stderr, flush=True)
            return LocalSweepParent(uri, experiment, name, sweep_tags, command)
        client = open_client(uri)
        experiment_id = experiment_id_once(client, experiment, uri)  # the jobs here ask no more
        run_id = create_parent_run(client, experiment_id, name, sweep_tags, command)
        return SweepParent(client, run_id, self.keys, config.sweep.objective,
                           config.sweep.direction,
                           full_best=config.tracking.full_model == "best")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self.finish(ended_normally=True)

    def finish(self, ended_normally: bool = False) -> None:
        """Write the summary and end the parent run; safe to call twice.

        Called from atexit when a job raised (Hydra then skips on_multirun_end): the parent
        ends FAILED, or KILLED when a signal stopped a job, even if every child run finished.
        """
        from nnexp.experiment.interrupts import received

        if self.parent is None:
            return
        parent, self.parent = self.parent, None
        os.environ.pop(PARENT_RUN_ENV, None)
        os.environ.pop(SWEPT_KEYS_ENV, None)
        os.environ.pop(PARENT_EXPERIMENT_ENV, None)
        os.environ.pop(LAUNCHER_PID_ENV, None)
        parent.finish(job_raised=not ended_normally,
                      interrupted=received[-1] if received else None)
