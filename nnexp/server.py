"""`python -m nnexp.server`: an MLflow tracking server on this machine, on SQLite or PostgreSQL,
to try what a cluster does (many jobs, one server, one database) before setting one up.

    python -m nnexp.server                            # SQLite in ./mlruns/server/, port 5000
    python -m nnexp.server --backend postgresql       # its own PostgreSQL in ./mlruns/server/
    python -m nnexp.server --backend-store-uri postgresql+psycopg://mlflow:pw@db-host/mlflow

It prints the `tracking.uri=` to give jobs and serves until Ctrl-C, then stops what it started.
Artifacts go through the server (MLflow's artifact proxy) into ./mlruns/server/artifacts, as
they would on a cluster whose nodes share no folder. The PostgreSQL it starts listens on
127.0.0.1 only and trusts every local user: it is for trying things, not for keeping them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from nnexp.cli import UserAbort, run_cli
from nnexp.record.redact import redact
from nnexp.tracking.local_server import (
    LOOPBACK,
    ServerNotReady,
    busy_port,
    free_port,
    server_env,
    stop_group,
    wait_ready,
)
from nnexp.tracking.server_guard import guarded

PROG = "nnexp.server"
SERVER_DIR = Path("mlruns") / "server"
PG_USER = PG_DATABASE = "mlflow"
PG_OWNER = "postgres"  # PostgreSQL refuses to run as root: root runs it as this user


class ServerError(RuntimeError):
    """The store or the server could not be started; one line, and the exit code it deserves."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class LocalPostgres:
    """A PostgreSQL cluster of its own in `folder` (created on first start), on 127.0.0.1.

    `durable=False` switches fsync off: for tests, whose database dies with them.
    """

    folder: Path
    port: int = 0
    durable: bool = True

    @property
    def uri(self) -> str:
        """The backend store URI for MLflow, naming the driver the `server` extra installs."""
        return f"postgresql+psycopg://{PG_USER}@{LOOPBACK}:{self.port}/{PG_DATABASE}"

    def start(self) -> LocalPostgres:
        """initdb (first time), start the server and wait for it, create the database."""
        self.folder.mkdir(parents=True, exist_ok=True)
        _hand_over(self.folder)
        data = self.folder / "data"
        if not (data / "PG_VERSION").is_file():
            _run_as_owner([postgres_bin("initdb"), "-D", str(data), "-A", "trust", "-U", PG_USER,
                           "-E", "UTF8", "--no-sync", "--no-instructions"], "initdb")
        self.port = self.port or free_port()
        options = [f"-h {LOOPBACK}", f"-p {self.port}", "-c unix_socket_directories=''"]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        _run_as_owner([postgres_bin("pg_ctl"), "-D", str(data), "-l",
                       str(self.folder / "postgres.log"), "-w", "-t", "60",
                       "-o", " ".join(options), "start"], "pg_ctl start")
        created = subprocess.run([postgres_bin("createdb"), "-h", LOOPBACK, "-p", str(self.port),
                                  "-U", PG_USER, PG_DATABASE], capture_output=True, text=True)
        if created.returncode != 0 and "already exists" not in created.stderr:
            self.stop()
            raise ServerError(f"createdb failed: {_last_line(created.stderr)}")
        return self

    def stop(self) -> None:
        """Stop the cluster (fast shutdown: open connections are closed, data is kept)."""
        data = self.folder / "data"
        if (data / "postmaster.pid").is_file():
            _run_as_owner([postgres_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w",
                           "stop"], "pg_ctl stop")


def postgres_bin(name: str) -> str:
    """A PostgreSQL server program: on PATH, else in Debian's /usr/lib/postgresql/<v>/bin."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                      key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if not versions:
        raise ServerError(f"PostgreSQL's {name} is not installed (Debian/Ubuntu: "
                          "apt-get install postgresql), or give --backend-store-uri", 2)
    return str(versions[-1])


def _runs_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _hand_over(folder: Path) -> None:
    """As root, give `folder` to the PostgreSQL user, who must be able to reach it."""
    if not _runs_as_root():
        return
    import pwd

    try:
        owner = pwd.getpwnam(PG_OWNER)
    except KeyError:
        raise ServerError(f"PostgreSQL refuses to run as root and there is no '{PG_OWNER}' "
                          "user to run it as: run this as a normal user", 2) from None
    os.chown(folder, owner.pw_uid, owner.pw_gid)
    reachable = subprocess.run(["runuser", "-u", PG_OWNER, "--", "test", "-w", str(folder)])
    if reachable.returncode != 0:
        raise ServerError(f"PostgreSQL refuses to run as root, and user '{PG_OWNER}' cannot "
                          f"write to {folder}: give --pg-dir in a folder it can reach (such as "
                          "/tmp/nnexp-postgres), or run this as a normal user", 2)


def _run_as_owner(command: list[str], what: str) -> None:
    prefix = ["runuser", "-u", PG_OWNER, "--"] if _runs_as_root() else []
    done = subprocess.run([*prefix, *command], capture_output=True, text=True, cwd="/")
    if done.returncode != 0:
        raise ServerError(f"{what} failed: {_last_line(done.stderr or done.stdout)}")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def check_driver(backend_uri: str) -> None:
    """Refuse a database URI whose Python driver is missing, before the server dies of it."""
    if not backend_uri.startswith(("postgresql", "mysql", "mssql")):
        return
    from sqlalchemy.engine import make_url

    try:
        dialect = make_url(backend_uri).get_dialect()
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy's errors for a bad URI vary
        raise ServerError(f"--backend-store-uri: {redact(backend_uri)} is not a database URI "
                          f"SQLAlchemy knows ({exc})", 2) from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        scheme = backend_uri.split("://", 1)[0]
        raise ServerError(f"--backend-store-uri: {scheme}:// needs the Python driver "
                          f"'{exc.name or dialect.driver}', which is not installed: pip install "
                          "-e '.[server]' installs psycopg, for postgresql+psycopg://", 2) from None


def server_command(backend_uri: str, port: int, artifacts: Path | None, *,
                   host: str = LOOPBACK, allowed_hosts: str | None = None,
                   workers: int = 1) -> list[str]:
    """`mlflow server` on `backend_uri`; with `artifacts`, uploads go through the server into
    that folder (its artifact proxy), else clients write to the default artifact root."""
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_uri,
               "--host", host, "--port", str(port), "--workers", str(workers)]
    if artifacts is not None:
        command += ["--serve-artifacts", "--artifacts-destination", str(artifacts)]
    if allowed_hosts:
        command += ["--allowed-hosts", allowed_hosts]
    return command


def start_server(command: list[str], url: str, *, cwd: Path, log: Path | None = None,
                 env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start `command` in its own process group, under a guard that stops it when this process
    ends however it ends, and return once `url`/health answers."""
    env = server_env(env)
    output = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - the child keeps it
    try:
        process = subprocess.Popen(guarded(command), cwd=cwd, env=env, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        if log:
            output.close()
    try:
        wait_ready(url, process, log=log)
    except ServerNotReady as exc:
        stop_group(process)
        raise ServerError(str(exc)) from None
    return process


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Stop the server and every worker it started."""
    stop_group(process)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite",
                        help="store to start locally (default: sqlite)")
    parser.add_argument("--backend-store-uri",
                        help="an existing database instead (postgresql+psycopg://user:pw@host/db)")
    parser.add_argument("--dir", type=Path, default=SERVER_DIR,
                        help="folder for the SQLite file, artifacts, logs (default: mlruns/server)")
    parser.add_argument("--pg-dir", type=Path, help="PostgreSQL's folder (default: <dir>/postgres)")
    parser.add_argument("--host", default=LOOPBACK,
                        help="interface to bind; anything but 127.0.0.1 exposes your runs")
    parser.add_argument("--port", type=int, default=5000, help="port (0: a free one)")
    parser.add_argument("--allowed-hosts",
                        help="Host headers to accept (MLflow's default: localhost and private "
                             "addresses); needed when jobs use a host name")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    return parser.parse_args(argv)


def serve(argv: list[str] | None = None) -> int:
    """Start the store and the server, print how to use them, serve until Ctrl-C."""
    args = _arguments(argv)
    folder = args.dir.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    postgres: LocalPostgres | None = None
    process: subprocess.Popen[bytes] | None = None
    for sig in (signal.SIGTERM, signal.SIGHUP):  # killed, or its terminal closed
        signal.signal(sig, _stop)
    try:
        port = args.port or free_port()
        shown = LOOPBACK if args.host in (LOOPBACK, "0.0.0.0") else args.host
        url = f"http://{shown}:{port}"
        busy = busy_port(args.host, port, url)
        if busy:  # before anything starts: a second server would find the first one "ready"
            raise ServerError(busy, 2)
        if args.backend_store_uri:
            backend = args.backend_store_uri
        elif args.backend == "postgresql":
            postgres = LocalPostgres((args.pg_dir or folder / "postgres").resolve())
            backend = postgres.start().uri
            print(f"PostgreSQL on {LOOPBACK}:{postgres.port}, data in {postgres.folder}",
                  flush=True)
        else:
            backend = f"sqlite:///{folder / 'mlflow.db'}"
        check_driver(backend)
        print(f"MLflow server starting on {url} (store {redact(backend)}, artifacts in "
              f"{folder / 'artifacts'}) ...", flush=True)
        process = start_server(
            server_command(backend, port, folder / "artifacts", host=args.host,
                           allowed_hosts=args.allowed_hosts, workers=args.workers),
            url, cwd=folder, log=folder / "server.log")
        print(f"ready: point jobs at it with tracking.uri={url} (or MLFLOW_TRACKING_URI={url})",
              flush=True)
        print(f"  python -m nnexp.train -m hydra/launcher=joblib lr=0.1,0.01 tracking.uri={url}",
              flush=True)
        print("press Ctrl-C to stop", flush=True)
        return process.wait()
    except KeyboardInterrupt:
        return 0
    except ServerError as exc:
        raise UserAbort(str(exc), exc.code) from None
    finally:
        if process is not None:
            stop_server(process)
        if postgres is not None:
            postgres.stop()


def _stop(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    run_cli(lambda: sys.exit(serve()), PROG)


if __name__ == "__main__":
    main()
