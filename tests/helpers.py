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
    env = {k: v for k, v in os.environ.items()  # but the test session's cache (conftest)
           if not k.startswith(("MLFLOW_", "NNEXP_", "HYDRA_")) or k == "NNEXP_CACHE_DIR"}
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


def logged_config(uri: str, run_id: str) -> dict[str, Any]:
    """The run's config.yaml artifact as flat dotted keys and param texts (`tracking.uri`): the
    whole config, bookkeeping sections included, which the params leave out."""
    import tempfile

    import yaml

    from nnexp.record.params import flatten

    with tempfile.TemporaryDirectory() as tmp:
        path = client_for(uri).download_artifacts(run_id, "config.yaml", tmp)
        return flatten(yaml.safe_load(Path(path).read_text()))


def start_mlflow_server(root: Path, port: int, backend: str | None = None, *,
                        proxy_artifacts: bool = False,
                        allowed_hosts: str | None = None) -> subprocess.Popen[bytes]:
    """A real `mlflow server` on 127.0.0.1:`port` (SQLite in `root` unless `backend` is given),
    in its own process group; returns once /health answers. Artifacts land in root/artifacts:
    uploaded through the server (its artifact proxy) with `proxy_artifacts`, else written there
    by the clients themselves. Its output goes to root/server.log."""
    from nnexp.server import server_command, start_server

    command = server_command(backend or f"sqlite:///{root / 'mlflow.db'}", port,
                             root / "artifacts" if proxy_artifacts else None,
                             allowed_hosts=allowed_hosts)
    if not proxy_artifacts:
        command += ["--no-serve-artifacts", "--default-artifact-root", str(root / "artifacts")]
    return start_server(command, f"http://127.0.0.1:{port}", cwd=root, log=root / "server.log",
                        env=clean_env())


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


def require_postgres() -> None:
    """Skip the test, with the reason, where PostgreSQL's programs or its Python driver are not
    installed (`.ci/run` installs both)."""
    import importlib.util

    import pytest

    from nnexp.server import ServerError, postgres_bin

    if importlib.util.find_spec("psycopg") is None:
        pytest.skip("psycopg is not installed: pip install -e '.[server]'")
    try:
        postgres_bin("initdb")
    except ServerError as exc:
        pytest.skip(f"{exc} (.ci/run installs it)")
