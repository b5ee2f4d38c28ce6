"""Helpers for tests: run the real command line (in a subprocess or in-process), read what the
MLflow store holds."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
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


def run_inprocess(args: list[str], cwd: Path, *,
                  env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`run_cli` without a new interpreter (~2.5 s of imports saved): the module's `main()` in
    this process, from `cwd`, with the same clean environment and argv; stdout and stderr
    captured, SystemExit as the return code. For tests where a process of its own is not the
    point (signals, kills, a fresh interpreter's imports, concurrency keep `run_cli`); joblib's
    workers are processes of their own, whose output this does not capture."""
    import importlib
    import io
    import logging
    import signal

    from mlflow.tracking import fluent

    module = importlib.import_module(args[0])
    saved_mlflow = (_tracking_utils()._tracking_uri, fluent._active_experiment_id)
    saved_env, saved_cwd, saved_argv = dict(os.environ), os.getcwd(), sys.argv
    saved_signals = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    saved_hook, root = sys.unraisablehook, logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    out, err, code = io.StringIO(), io.StringIO(), 0
    os.environ.clear()
    os.environ.update(clean_env(**(env or {})))
    os.chdir(cwd)
    sys.argv = list(args)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _at_exit():
            returned = module.main()  # nnexp.runs returns its code
        code = returned if isinstance(returned, int) else 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            err.write(f"{exc.code}\n")
    finally:
        _restore_process(saved_env, saved_cwd, saved_argv, saved_signals, saved_hook,
                         saved_mlflow)
        for handler in root.handlers:
            if handler not in saved_handlers:
                handler.close()
        root.handlers[:], root.level = saved_handlers, saved_level
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _at_exit() -> Iterator[None]:
    """What nnexp registers with atexit inside runs when the block ends, as the command's own
    process would run it when it exits (a sweep whose job raised ends its parent there)."""
    import atexit

    from nnexp.experiment.interrupts import received

    register, saved_received, ours = atexit.register, received[:], []

    def collect(func: Any, *args: Any, **kwargs: Any) -> Any:
        if not getattr(func, "__module__", "").startswith("nnexp"):
            return register(func, *args, **kwargs)
        ours.append((func, args, kwargs))
        return func

    atexit.register = collect
    try:
        yield
    finally:
        atexit.register = register
        for func, args, kwargs in reversed(ours):
            func(*args, **kwargs)
        received[:] = saved_received


def _tracking_utils() -> Any:
    import mlflow.tracking._tracking_service.utils as utils

    return utils


def _restore_process(env: dict[str, str], cwd: str, argv: list[str],
                     signals: dict[int, Any], hook: Any, mlflow_state: tuple[Any, Any]) -> None:
    """What a command run in-process may leave behind: environment, folder, argv, signal
    handlers, MLflow's active run and tracking URI, Hydra's global state."""
    import signal

    import mlflow
    from hydra.core.global_hydra import GlobalHydra
    from mlflow.tracking import fluent

    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.argv = argv
    for sig, handler in signals.items():
        signal.signal(sig, handler)
    sys.unraisablehook = hook
    while mlflow.active_run():
        mlflow.end_run()
    _tracking_utils()._tracking_uri, fluent._active_experiment_id = mlflow_state
    GlobalHydra.instance().clear()


def store_of(root: Path) -> str:
    """The tracking URI of the default store under the folder `root`."""
    return f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"


def seed_store(root: Path, template: Path) -> str:
    """The default store under `root`, created ahead as a copy of `template` (an empty store,
    conftest's `_migrated_store`), for a command in a subprocess whose test is not about the
    store's creation: it spares MLflow's migrations (~3 s of CPU). Its tracking URI."""
    import shutil

    (root / "mlruns").mkdir(parents=True)
    shutil.copy(template, root / "mlruns" / "mlflow.db")
    return store_of(root)


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
                        proxy_artifacts: bool = False, allowed_hosts: str | None = None,
                        schema: Path | None = None) -> subprocess.Popen[bytes]:
    """A real `mlflow server` on 127.0.0.1:`port` (SQLite in `root` unless `backend` is given),
    in its own process group; returns once /health answers. Artifacts land in root/artifacts:
    uploaded through the server (its artifact proxy) with `proxy_artifacts`, else written there
    by the clients themselves. Its output goes to root/server.log. A new SQLite database starts
    as a copy of `schema` (an empty store) when given: the server need not migrate one."""
    import shutil

    from nnexp.server import server_command, start_server

    if schema is not None and backend is None and not (root / "mlflow.db").exists():
        shutil.copy(schema, root / "mlflow.db")

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
