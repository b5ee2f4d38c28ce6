"""`python -m nnexp.train`: compose a config with Hydra, train it, record it in MLflow.

    python -m nnexp.train                       # one run with the defaults (digits MLP)
    python -m nnexp.train lr=0.1,0.01 -m        # a sweep: one child run per job
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from nnexp.cli import run_cli
from nnexp.config import register_configs
from nnexp.experiment import run_experiment
from nnexp.tracking.run import RunDiverged
from nnexp.tracking.sweep import PARENT_RUN_ENV, SWEPT_KEYS_ENV, child_run_name

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def train(cfg: DictConfig) -> float:
    """Hydra's task function: one job = one MLflow run; returns the objective for sweepers."""
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    overrides = list(hc.overrides.task)
    swept = os.environ.get(SWEPT_KEYS_ENV, "").split(",") if multirun else None
    name = cfg.tracking.run_name or child_run_name(overrides, swept)
    hydra_dir = Path(hc.runtime.output_dir) / (hc.output_subdir or ".hydra")
    parent = os.environ.get(PARENT_RUN_ENV) if multirun else None
    try:
        result = run_experiment(cfg, run_name=name, overrides=overrides, parent_run_id=parent,
                                hydra_dir=hydra_dir, verbose=not multirun,
                                command=["python", "-m", "nnexp.train", *sys.argv[1:]])
    except RunDiverged as exc:
        if not multirun:
            raise
        # In a sweep a diverged job is a result, not a crash: the run is FAILED, the study goes on.
        print(f"[{name}] {exc}", file=sys.stderr)
        return float(cfg.sweep.diverged_objective)
    if multirun:
        print(f"[{name}] {cfg.sweep.objective} {result.objective:.4f}  run {result.run_id}")
    return result.objective


def main() -> None:
    run_cli(train, "nnexp.train")


if __name__ == "__main__":
    main()
