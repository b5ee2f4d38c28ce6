"""Helpers for tests: run the real command line, read what the MLflow store holds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without MLflow, nnexp or Hydra settings that would leak."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "NNEXP_", "HYDRA_"))}
    env.update(extra)
    return env


def run_cli(args: list[str], cwd: Path, *, env: dict[str, str] | None = None,
            timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run `python -m <args>` in a subprocess from `cwd`, as a user would type it."""
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=clean_env(**(env or {})),
                          capture_output=True, text=True, timeout=timeout)


def client_for(uri: str) -> Any:
    """An MlflowClient on `uri`."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def all_runs(uri: str, experiment: str = "nnexp") -> list[Any]:
    """Every run of `experiment` in the store at `uri`."""
    client = client_for(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    return client.search_runs([exp.experiment_id], max_results=1000)
