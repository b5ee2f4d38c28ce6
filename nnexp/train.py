"""`python -m nnexp.train`: compose a config with Hydra, train it, record it in MLflow.

    python -m nnexp.train                       # one run with the defaults (digits MLP)
    python -m nnexp.train lr=0.1,0.01 -m        # a sweep: one child run per job
    nnexp-train ...                             # the same, as an installed command
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from contextlib import nullcontext
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from nnexp.cli import EXIT_RUN_FAILED, errors_exit, main_entry, run_cli
from nnexp.config import ConfigError, diverged_objective, register_configs
from nnexp.run.experiment import run_experiment
from nnexp.run.interrupts import RunInterrupted
from nnexp.run.loop import Diverged
from nnexp.config.paths import conf_dir, from_launch_dir
from nnexp.record.redact import redact
from nnexp.tracking.store import absolute_store_uri
from nnexp.sweep.callback import (
    LAUNCHER_PID_ENV,
    PARENT_EXPERIMENT_ENV,
    PARENT_RUN_ENV,
    SWEPT_KEYS_ENV,
    child_run_name,
    record_job_error,
)

register_configs()
PROG = "nnexp.train"
MULTIRUN_FLAGS = ("-m", "--multirun")
log = logging.getLogger("nnexp.train")  # also when run as __main__


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")
def train(cfg: DictConfig) -> float:
    """Hydra's task function: one job = one MLflow run; returns the objective for sweepers."""
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    overrides = list(hc.overrides.task)
    swept = os.environ.get(SWEPT_KEYS_ENV, "").split(",") if multirun else None
    name = redact(cfg.tracking.run_name or child_run_name(overrides, swept))  # it is printed
    hydra_dir = Path(hc.runtime.output_dir) / (hc.output_subdir or ".hydra")
    parent = os.environ.get(PARENT_RUN_ENV) if multirun else None
    # A single run exits here with one line (Hydra would print its own banner first); in a
    # sweep the error goes back to Hydra so the other jobs still run.
    with nullcontext() if multirun else errors_exit(PROG):
        anchor_paths(cfg, Path(hc.runtime.cwd))
        return _run_job(cfg, name, overrides, parent, hydra_dir, multirun)


def anchor_paths(cfg: DictConfig, launch: Path) -> None:
    """Relative paths a user gave (data.image_dir, a SQLite tracking.uri) made absolute against
    the folder the command started in, which a job with hydra.job.chdir=true has left; the run
    then records the absolute path it used."""
    if cfg.data.image_dir:
        cfg.data.image_dir = from_launch_dir(cfg.data.image_dir, launch)
    if cfg.tracking.uri:
        cfg.tracking.uri = absolute_store_uri(cfg.tracking.uri, launch)


def _check_sweep_experiment(cfg: DictConfig) -> None:
    """A job records into its sweep parent's experiment or not at all (MLflow nests runs only
    within one experiment); the sweep refuses mixed experiments upfront, this catches sweepers
    that choose values as they go."""
    expected = os.environ.get(PARENT_EXPERIMENT_ENV)
    if expected is not None and cfg.tracking.experiment != expected:
        raise ConfigError(f"tracking.experiment: this job records into "
                          f"'{cfg.tracking.experiment}' but its sweep's parent run is in "
                          f"'{expected}'; a sweep uses one experiment")


def _run_job(cfg: DictConfig, name: str, overrides: list[str], parent: str | None,
             hydra_dir: Path, multirun: bool) -> float:
    try:
        if parent:
            _check_sweep_experiment(cfg)
        result = run_experiment(cfg, run_name=name, overrides=overrides, parent_run_id=parent,
                                hydra_dir=hydra_dir, verbose=not multirun,
                                command=["python", "-m", "nnexp.train", *sys.argv[1:]])
    except Diverged as exc:
        if not multirun:
            raise
        # In a sweep a diverged job is a result, not a crash: the run is FAILED, the study goes on.
        log.warning(redact(f"[{name}] {exc}"))
        return diverged_objective(cfg)
    except RunInterrupted as exc:
        if os.environ.get(LAUNCHER_PID_ENV, str(os.getpid())) != str(os.getpid()):
            # a pool's worker: its run ended KILLED; it must not take the sweep's next job
            logging.shutdown()
            os._exit(128 + signal.Signals[exc.signame].value)
        raise
    except Exception as exc:
        if parent:  # the job may have failed before its run existed: tell the sweep's parent
            record_job_error(parent, name, exc)
        raise
    if multirun and result.skipped:
        log.info(f"[{name}] skipped: {result.skipped}")
    elif multirun:
        what = "reused" if result.reused else "run"
        if result.pruned is not None:
            what = f"pruned at epoch {result.pruned.epoch}, run"
        elif result.resumed_from is not None:
            what = f"continues {result.resumed_from} as run"
        log.info(f"[{name}] {cfg.sweep.objective} {result.objective:.4f}  {what} {result.run_id}")
    elif result.kept_locally:  # trained, but the record is not in the store yet: not a success
        raise SystemExit(EXIT_RUN_FAILED)
    return result.objective


def multirun_first(args: list[str]) -> list[str]:
    """`lr=0.1,0.01 -m train.epochs=2` -> `-m lr=0.1,0.01 train.epochs=2`: Hydra's parser takes
    flags only before the overrides; users put -m/--multirun anywhere."""
    flags = [a for a in args if a in MULTIRUN_FLAGS]
    return [*flags, *(a for a in args if a not in MULTIRUN_FLAGS)]


def main() -> None:
    """The command, in-process (tests): errors exit with one line and a code."""
    sys.argv[1:] = multirun_first(sys.argv[1:])
    run_cli(train, PROG)


def console_main() -> None:
    """`python -m nnexp.train` and the `nnexp-train` command: `main`, then a fast exit."""
    sys.argv[1:] = multirun_first(sys.argv[1:])
    main_entry(train, PROG)


if __name__ == "__main__":
    console_main()
