"""`python -m nnexp.train`: compose a config with Hydra, train it, record it in MLflow.

    python -m nnexp.train                       # one run with the defaults (digits MLP)
    python -m nnexp.train lr=0.1,0.01 -m        # a sweep: one child run per job
"""

from __future__ import annotations

import os
import sys
from contextlib import nullcontext
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from nnexp.cli import CONF_DIR, errors_exit, main_entry, run_cli
from nnexp.config import diverged_objective, register_configs
from nnexp.experiment import run_experiment
from nnexp.tracking.run import RunDiverged
from nnexp.tracking.sweep import (
    PARENT_RUN_ENV,
    SWEPT_KEYS_ENV,
    child_run_name,
    record_job_error,
)

register_configs()
PROG = "nnexp.train"


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def train(cfg: DictConfig) -> float:
    """Hydra's task function: one job = one MLflow run; returns the objective for sweepers."""
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    overrides = list(hc.overrides.task)
    swept = os.environ.get(SWEPT_KEYS_ENV, "").split(",") if multirun else None
    name = cfg.tracking.run_name or child_run_name(overrides, swept)
    hydra_dir = Path(hc.runtime.output_dir) / (hc.output_subdir or ".hydra")
    parent = os.environ.get(PARENT_RUN_ENV) if multirun else None
    # A single run exits here with one line (Hydra would print its own banner first); in a
    # sweep the error goes back to Hydra so the other jobs still run.
    with nullcontext() if multirun else errors_exit(PROG):
        return _run_job(cfg, name, overrides, parent, hydra_dir, multirun)


def _run_job(cfg: DictConfig, name: str, overrides: list[str], parent: str | None,
             hydra_dir: Path, multirun: bool) -> float:
    try:
        result = run_experiment(cfg, run_name=name, overrides=overrides, parent_run_id=parent,
                                hydra_dir=hydra_dir, verbose=not multirun,
                                command=["python", "-m", "nnexp.train", *sys.argv[1:]])
    except RunDiverged as exc:
        if not multirun:
            raise
        # In a sweep a diverged job is a result, not a crash: the run is FAILED, the study goes on.
        print(f"[{name}] {exc}", file=sys.stderr)
        return diverged_objective(cfg)
    except Exception as exc:
        if parent:  # the job may have failed before its run existed: tell the sweep's parent
            record_job_error(parent, name, exc)
        raise
    if multirun:
        what = "reused" if result.reused else "run"
        print(f"[{name}] {cfg.sweep.objective} {result.objective:.4f}  {what} {result.run_id}")
    return result.objective


def main() -> None:
    run_cli(train, PROG)


def _main_process() -> None:
    main_entry(train, PROG)


if __name__ == "__main__":
    _main_process()
