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


def store_of(root: Path) -> str:
    """The tracking URI of the default store under the folder `root`."""
    return f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"


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


def start_mlflow_server(root: Path, port: int, backend: str | None = None,
                        *extra: str) -> subprocess.Popen[bytes]:
    """A real `mlflow server` on 127.0.0.1:`port` (SQLite in `root` unless `backend` is given,
    local artifacts), in its own process group; returns once /health answers."""
    from nnexp.ui import wait_healthy

    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
         backend or f"sqlite:///{root / 'mlflow.db'}", "--host", "127.0.0.1", "--port",
         str(port), "--workers", "1", "--no-serve-artifacts", "--default-artifact-root",
         str(root / "artifacts"), *extra],
        cwd=root, env=clean_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    if not wait_healthy(f"http://127.0.0.1:{port}", process, timeout_s=120):
        stop_process_group(process)
        raise RuntimeError("mlflow server did not start")
    return process


def stop_process_group(process: subprocess.Popen[Any], sig: int = 15) -> None:
    """Stop a process started with start_new_session=True, and everything it started."""
    import signal

    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=20)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def model_uri(uri: str, run_id: str) -> str:
    """`models:/<id>` of the model the run logged (its outputs), as a user finds it."""
    (output,) = client_for(uri).get_run(run_id).outputs.model_outputs
    return f"models:/{output.model_id}"
