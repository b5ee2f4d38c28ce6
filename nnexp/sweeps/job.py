"""One job, from a composed config to its record: the sweep policy decided first, then the run
told to its observers (the MLflow run and the console), and what a job in a sweep returns to
its sweeper. `python -m nnexp.train`, the Python API and the Hydra jobs all come through here."""

from __future__ import annotations

import atexit
import gc
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import NoReturn

from omegaconf import DictConfig

from nnexp.config import ConfigError, config_hash, diverged_objective, to_container, validate
from nnexp.config.paths import from_launch_dir
from nnexp.experiment.data_source import stamp_data_digest
from nnexp.experiment.history import MetricHistory
from nnexp.experiment.interrupts import RunInterrupted
from nnexp.experiment.loop import Diverged
from nnexp.experiment.observer import RunObserver
from nnexp.experiment.pruner import Pruner
from nnexp.experiment.run import ExperimentResult, RunOptions, run_experiment
from nnexp.experiment.weight_hashes import RecordedHashes
from nnexp.record.redact import redact
from nnexp.sweeps.naming import LAUNCHER_PID_ENV, PARENT_EXPERIMENT_ENV, record_job_error
from nnexp.sweeps.policy import decide
from nnexp.tracking.observers import make_observer, mlflow_observer_of
from nnexp.tracking.store import absolute_store_uri, resolve_tracking_uri

log = logging.getLogger("nnexp.train")  # the name a job's lines had before the package had rooms


def run_job(
    cfg: DictConfig,
    *,
    run_name: str,
    overrides: list[str] | None = None,
    parent_run_id: str | None = None,
    hydra_dir: Path | None = None,
    extra_tags: dict[str, str] | None = None,
    verbose: bool = True,
    command: list[str] | None = None,
    observer: RunObserver | None = None,
    second_interrupt_kills: bool = True,
    pruner: Pruner | None = None,
    check_weights: RecordedHashes | None = None,
) -> ExperimentResult:
    """Decide the job's sweep policy, then run the experiment told to `observer` (by default the
    MLflow run and the console the config asks for); return the objective and metrics.

    Every user mistake (config, data, store) is raised before the run is created. `pruner`
    replaces the one `sweep.prune` asks for; `check_weights` stops training at the first step
    whose weights differ from another run's (reproduce).
    """
    validate(cfg)
    stamp_data_digest(cfg)  # the data's content is part of the job's identity
    identity = config_hash(to_container(cfg))
    uri = resolve_tracking_uri(cfg.tracking.uri, probe=False) if cfg.tracking.enabled else None
    overrides = list(overrides or [])
    policy = decide(cfg, identity, uri, parent_run_id=parent_run_id, run_name=run_name,
                    verbose=verbose, overrides=overrides, command=command)
    if policy.answer is not None:
        return policy.answer
    observer = observer or make_observer(cfg, uri, verbose, sweep_child=parent_run_id is not None)
    options = RunOptions(
        objective=cfg.sweep.objective, checkpoint_every=cfg.sweep.checkpoint_every,
        continuation=policy.continuation, pruner=pruner, check_weights=check_weights,
        extra_tags={**(extra_tags or {}), **policy.extra_tags})
    if policy.continuation is not None and uri is not None:
        options.on_started = lambda run_id: _note_continuation(uri, policy.continuation, run_id)
    if pruner is None and cfg.sweep.prune is not None and parent_run_id is not None:
        options.pruner_for = _store_pruner(cfg, observer, parent_run_id)
    return run_experiment(cfg, observer, run_name=run_name, options=options,
                          dataset=policy.dataset, overrides=overrides,
                          parent_run_id=parent_run_id, hydra_dir=hydra_dir, verbose=verbose,
                          command=command, second_interrupt_kills=second_interrupt_kills)


def _note_continuation(uri: str, continuation: object, run_id: str | None) -> None:
    """Tag the stopped run with the run that continues it (the sweep summary reads it)."""
    from nnexp.sweeps.resume import note_continuation

    if run_id is not None:
        note_continuation(uri, continuation.run_id, run_id)  # type: ignore[attr-defined]


def _store_pruner(cfg: DictConfig, observer: RunObserver, parent_run_id: str):
    """The pruner `sweep.prune` asks for, made once the run exists: its siblings meet in the
    store of the job's MLflow run (none when the job records nowhere)."""
    from nnexp.sweeps.pruning_rules import prune_settings
    from nnexp.sweeps.store_pruner import StorePruner
    from nnexp.tracking.store import open_client

    s = cfg.sweep
    settings = prune_settings(s)

    def make(history: MetricHistory) -> Pruner | None:
        store = mlflow_observer_of(observer)
        if store is None or store.experiment_id is None:
            return None
        return StorePruner(settings, open_client(store.uri), store.experiment_id,
                           parent_run_id, lambda: store.run_id, store.record_tags,
                           earlier=history.series(s.objective)[1].tolist())

    return make


def anchor_paths(cfg: DictConfig, launch: Path) -> None:
    """Relative paths a user gave (data.image_dir, data.path, a SQLite tracking.uri) made
    absolute against the folder the command started in, which a job with hydra.job.chdir=true
    has left; the run then records the absolute path it used."""
    if cfg.data.image_dir:
        cfg.data.image_dir = from_launch_dir(cfg.data.image_dir, launch)
    if cfg.data.path:
        cfg.data.path = from_launch_dir(cfg.data.path, launch)
    if cfg.tracking.uri:
        cfg.tracking.uri = absolute_store_uri(cfg.tracking.uri, launch)


def check_sweep_experiment(cfg: DictConfig) -> None:
    """A job records into its sweep parent's experiment or not at all (MLflow nests runs only
    within one experiment); the sweep refuses mixed experiments upfront, this catches sweepers
    that choose values as they go."""
    expected = os.environ.get(PARENT_EXPERIMENT_ENV)
    if expected is not None and cfg.tracking.experiment != expected:
        raise ConfigError(f"tracking.experiment: this job records into "
                          f"'{cfg.tracking.experiment}' but its sweep's parent run is in "
                          f"'{expected}'; a sweep uses one experiment")


def hydra_job(cfg: DictConfig, name: str, overrides: list[str], parent: str | None,
              hydra_dir: Path, multirun: bool, command: list[str]) -> float:
    """A Hydra job: one run; in a sweep a diverged run is a result (the objective the
    sweeper gets), and a pool's worker interrupted ends its process."""
    worker = _in_pool_worker()
    if worker:
        _PoolWorkerSignals.install()
        _end_without_collections()
    _PoolWorkerSignals.in_job = True
    try:
        if parent:
            check_sweep_experiment(cfg)
        result = run_job(cfg, run_name=name, overrides=overrides, parent_run_id=parent,
                         hydra_dir=hydra_dir, verbose=not multirun, command=command)
    except Diverged as exc:
        if not multirun:
            raise
        log.warning(redact(f"[{name}] {exc}"))
        return diverged_objective(cfg)
    except (RunInterrupted, KeyboardInterrupt) as exc:
        if worker:  # its run ended KILLED; it must not take the sweep's next job
            _exit_quietly(getattr(exc, "signame", "SIGINT"))
        raise
    except Exception as exc:
        if parent:  # the job may have failed before its run existed: tell the sweep's parent
            record_job_error(parent, name, exc)
        raise
    finally:
        _PoolWorkerSignals.in_job = False
    _report(cfg, name, result, multirun)
    return result.objective


def _in_pool_worker() -> bool:
    """A job in a process other than the launcher's: a worker of a pool (joblib's loky)."""
    return os.environ.get(LAUNCHER_PID_ENV, str(os.getpid())) != str(os.getpid())


def _end_without_collections() -> None:
    """A pool's worker ends when its sweep does, and its interpreter's teardown would then
    collect every object MLflow's import made (about a second a worker, the sweep waiting for
    it): frozen at exit, after the run's files and logs are closed, they are left to the
    operating system, as the launcher's own process leaves its objects (`cli.exit_now`)."""
    atexit.unregister(gc.freeze)  # once a process, however many jobs it runs
    atexit.register(gc.freeze)


def _exit_quietly(signame: str) -> NoReturn:
    logging.shutdown()
    os._exit(128 + signal.Signals[signame].value)


class _PoolWorkerSignals:
    """Ctrl-C reaches every process of the terminal's group, a pool's workers too, at any
    moment: inside a run the run's own handler ends it KILLED; in a job before its run exists
    the signal becomes RunInterrupted (the job ends it quietly); between jobs the worker exits
    at once. Python's default would raise KeyboardInterrupt inside the pool's code and print a
    traceback of joblib's worker loop."""

    in_job = False
    installed = False

    @classmethod
    def install(cls) -> None:
        if cls.installed:
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, cls.handle)
        sys.unraisablehook = cls._unraisable
        cls.installed = True

    @classmethod
    def handle(cls, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if not cls.in_job:
            _exit_quietly(name)
        raise RunInterrupted(name)

    @staticmethod
    def _unraisable(hook: sys.UnraisableHookArgs) -> None:
        """RunInterrupted raised where Python cannot raise (a weakref callback of the import
        machinery, a __del__) is printed and dropped: deliver the signal again, in a moment."""
        if isinstance(hook.exc_value, RunInterrupted):
            again = signal.Signals[hook.exc_value.signame]
            threading.Timer(0.05, os.kill, (os.getpid(), again)).start()
        else:
            sys.__unraisablehook__(hook)


def _report(cfg: DictConfig, name: str, result: ExperimentResult, multirun: bool) -> None:
    """A sweep job's one line. A single run whose record waits locally exits 0 all the same: it
    trained, and its summary line says where the record waits and the command that uploads it."""
    if multirun and result.skipped:
        log.info(f"[{name}] skipped: {result.skipped}")
    elif multirun:
        what = "reused" if result.reused else "run"
        if result.pruned is not None:
            what = f"pruned at epoch {result.pruned.epoch}, run"
        elif result.resumed_from is not None:
            what = f"continues {result.resumed_from} as run"
        where = " (kept locally)" if result.kept_locally else ""
        log.info(f"[{name}] {cfg.sweep.objective} {result.objective:.4f}  {what} "
                 f"{result.run_id}{where}")
