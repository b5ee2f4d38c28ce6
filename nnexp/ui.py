"""`python -m nnexp.ui`: the MLflow UI on the project's store, on loopback; prints one address.

    python -m nnexp.ui                      # free port on 127.0.0.1, the latest run's experiment
    python -m nnexp.ui --run RUN_ID         # the page of one run (a sweep's parent: its summary)
    python -m nnexp.ui --port 5000 --experiment digits --verbose

The page opens in MLflow's model-training view (runs, metrics, models), not its GenAI one. The
server's own output (uvicorn, deprecation and registry notices) goes to `<store>.ui.log` unless
`--verbose`.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

from nnexp.cli import UserAbort, run_cli
from nnexp.tracking.local_server import (
    LOOPBACK,
    ServerNotReady,
    busy_port,
    free_port,
    server_env,
    stop_group,
    wait_healthy,  # noqa: F401 - scripts and tests import it from here
    wait_ready,
)
from nnexp.tracking.server_guard import guarded


def artifact_root_for(uri: str) -> str:
    """Where experiments created from the UI keep artifacts: `<store>/artifacts`, absolute."""
    from nnexp.tracking.store import artifact_root

    return artifact_root(uri) or str(Path.cwd().resolve() / "mlruns" / "artifacts")


def server_command(uri: str, host: str, port: int) -> list[str]:
    """`mlflow ui` on `uri`, artifacts stored locally (never proxied) so any client can log."""
    return [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
            "--host", host, "--port", str(port), "--workers", "1",
            "--no-serve-artifacts", "--default-artifact-root", artifact_root_for(uri)]


def page_to_open(client: Any, run_id: str | None, experiment: str | None
                 ) -> tuple[str | None, str | None]:
    """(experiment id, run id) to open: the run's, the named experiment's, else the experiment
    of the latest run in the store (None, None for an empty store)."""
    from mlflow.exceptions import MlflowException

    from nnexp.tracking.store import mark_model_training

    if run_id is not None:
        try:
            found = client.get_run(run_id)
        except MlflowException:
            raise UserAbort(f"--run: unknown run id '{run_id}' in this store") from None
        mark_model_training(client, found.info.experiment_id)
        return found.info.experiment_id, run_id
    if experiment is not None:
        named = client.get_experiment_by_name(experiment)
        if named is None:
            return None, None
        mark_model_training(client, named.experiment_id)
        return named.experiment_id, None
    latest = client.search_runs([e.experiment_id for e in client.search_experiments()],
                                order_by=["attributes.start_time DESC"], max_results=1)
    if not latest:
        return None, None
    mark_model_training(client, latest[0].info.experiment_id)
    return latest[0].info.experiment_id, None


def chromium_command(url: str, profile: Path, *, screenshot: Path | None = None,
                     window: tuple[int, int] = (1400, 800)) -> list[str]:
    """Headless Chromium that renders the UI's JavaScript: `--dump-dom`, or a PNG screenshot."""
    import shutil

    browser = shutil.which("chromium") or shutil.which("chromium-browser") or "chromium"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--virtual-time-budget=15000",
             "--hide-scrollbars", f"--window-size={window[0]},{window[1]}"]
    flags.append(f"--screenshot={screenshot}" if screenshot else "--dump-dom")
    return [browser, *flags, url]


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nnexp.ui", description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", help="store to browse (default: MLFLOW_TRACKING_URI, "
                                               "then ./mlruns/mlflow.db)")
    parser.add_argument("--run", metavar="RUN_ID", help="open this run's page")
    parser.add_argument("--experiment", default=os.environ.get("MLFLOW_EXPERIMENT_NAME"),
                        help="experiment whose runs to open (default: the latest run's)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--host", default=LOOPBACK,
                        help="interface to bind; anything but 127.0.0.1 exposes your runs")
    parser.add_argument("--verbose", action="store_true",
                        help="show the server's own output (uvicorn, warnings)")
    return parser.parse_args(argv)


def server_log(uri: str) -> Path:
    """Where the server's output goes when not --verbose: beside an SQLite store, else tmp."""
    from nnexp.tracking.browse import ui_state_path

    state = ui_state_path(uri)
    if state is not None:
        return state.with_suffix(".log")
    return Path(tempfile.gettempdir()) / f"nnexp-ui-{os.getpid()}.log"


def _store_to_browse(given: str | None) -> str:
    """The store's absolute URI (flag, MLFLOW_TRACKING_URI, ./mlruns); a server is refused."""
    from nnexp.record.redact import redact
    from nnexp.tracking.store import absolute_store_uri, check_uri, default_tracking_uri

    uri = absolute_store_uri(given or os.environ.get("MLFLOW_TRACKING_URI")
                             or default_tracking_uri())
    if uri.startswith(("http://", "https://")):
        raise UserAbort(f"{redact(uri)} is already a tracking server: open it in your browser")
    check_uri(uri)
    return uri


def serve(argv: list[str] | None = None) -> int:
    """Start the UI, print where to look, and serve until Ctrl-C; returns the exit code."""
    from nnexp.record.redact import redact
    from nnexp.tracking.browse import (
        experiment_url,
        remove_ui_state,
        run_url,
        saved_view,
        write_ui_state,
    )
    from nnexp.tracking.store import describe_store, open_client

    args = _arguments(argv)
    uri = _store_to_browse(args.tracking_uri)
    if args.host != LOOPBACK:
        print(f"warning: binding {args.host}: anyone who can reach this machine can read and "
              "delete your runs", file=sys.stderr)
    client = open_client(uri)
    exp_id, run_id = page_to_open(client, args.run, args.experiment)
    view = saved_view(client, exp_id, run_id) if exp_id and run_id else None
    port = args.port or free_port()
    base = f"http://{LOOPBACK if args.host in (LOOPBACK, '0.0.0.0') else args.host}:{port}"
    busy = busy_port(args.host, port, base) if args.port else None
    if busy:
        raise UserAbort(busy)
    page = run_url(base, exp_id, run_id, view) if exp_id and run_id else experiment_url(base,
                                                                                       exp_id)
    log_path = None if args.verbose else server_log(uri)
    output: IO[Any] | None = None if log_path is None else open(log_path, "w")  # noqa: SIM115
    for sig in (signal.SIGTERM, signal.SIGHUP):  # killed, or its terminal closed
        signal.signal(sig, _stop)
    process: subprocess.Popen[bytes] | None = None
    try:
        # Its own process group, led by a guard: `mlflow ui` starts uvicorn, and stopping us
        # (Ctrl-C, SIGTERM, SIGHUP, even SIGKILL) must stop all of it, not leave a server
        # holding the port. No job runner: see server_env.
        process = subprocess.Popen(guarded(server_command(uri, args.host, port)),
                                   start_new_session=True, env=server_env(), stdout=output,
                                   stderr=subprocess.STDOUT if output else None)
        print(f"starting the MLflow UI on {redact(describe_store(uri))} ...", flush=True)
        try:
            wait_ready(base, process, log=log_path, what="the MLflow UI")
        except ServerNotReady as exc:
            raise UserAbort(str(exc)) from None
        write_ui_state(uri, base)
        if exp_id is None:
            which = f"experiment '{args.experiment}'" if args.experiment else "run"
            print(f"no {which} in this store yet", flush=True)
        print(f"open: {page}   (Ctrl-C stops the UI)", flush=True)
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        remove_ui_state(uri)
        if process is not None:
            stop_group(process)
        if output is not None:
            output.close()


def _stop(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    run_cli(lambda: sys.exit(serve()), "nnexp.ui")


if __name__ == "__main__":
    main()
