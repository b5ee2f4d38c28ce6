"""A local MLflow server process (the UI's, or `nnexp.server`'s): a free loopback port, waiting
until it answers while it shows signs of coming up, and stopping its whole process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

LOOPBACK = "127.0.0.1"
# MLflow's job runner (huey consumers that execute GenAI jobs: about ten processes) serves no
# page a person browses nor any call nnexp makes; `mlflow server` reads this switch at start.
JOB_EXECUTION_SWITCH = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"
QUIET_SECONDS = 120.0  # no answer and no sign of progress for this long: the server is stuck
CEILING_SECONDS = 900.0  # even a server that keeps working gets no answer past this


class ServerNotReady(RuntimeError):
    """A server that exited, or stopped making progress, before it answered; one line."""


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_refused(host: str, port: int) -> str | None:
    """Why a server could not listen on `host`:`port` (in use, an address this machine does not
    have), or None when it could; binding as uvicorn does (SO_REUSEADDR) is the only honest test."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def busy_port(host: str, port: int, base: str) -> str | None:
    """One line for `--port` when nothing new can listen there, saying who answers if a server
    does (its store cannot be asked: reusing it is the user's call); None when the port is free."""
    reason = port_refused(host, port)
    if reason is None:
        return None
    served = (f"; a server already answers {base} (if it serves the store you mean, use it: "
              f"tracking.uri={base})" if answers(base) else "")
    return (f"--port: cannot listen on {host}:{port} ({reason}){served}; choose another --port, "
            "or --port 0 for a free one")


def server_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's) for `mlflow server`/`ui`: the job runner off, unless the
    user switched it on explicitly."""
    env = dict(os.environ if env is None else env)
    env.setdefault(JOB_EXECUTION_SWITCH, "false")
    return env


def answers(base: str) -> bool:
    """Whether the server at `base` answers `/health` with 200 right now."""
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def group_cpu_ticks(pgid: int) -> int:
    """CPU time (clock ticks) used so far by the live processes of group `pgid`; 0 where /proc
    is not available (then only the log counts as progress)."""
    total = 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:  # state ppid pgrp ... utime (11) stime (12)
            total += int(fields[11]) + int(fields[12])
    return total


def _signs(process: subprocess.Popen | None, log: Path | None) -> tuple[int, int]:
    size = log.stat().st_size if log is not None and log.is_file() else 0
    return size, group_cpu_ticks(process.pid) if process is not None else 0


def wait_ready(base: str, process: subprocess.Popen | None = None, *, log: Path | None = None,
               what: str = "the MLflow server", quiet_s: float = QUIET_SECONDS,
               ceiling_s: float = CEILING_SECONDS, poll_s: float = 0.25) -> None:
    """Poll `base`/health until it answers; ServerNotReady if `process` exits, or shows no
    progress (new output in `log`, CPU time in its process group) for `quiet_s` seconds.

    A busy machine slows a server's start tenfold, not its progress to zero: a fixed timer
    would kill it just as it comes up, so only silence (or the ceiling) ends the wait.
    """
    start = last_progress = time.monotonic()
    last = _signs(process, log)
    while not answers(base):
        now = time.monotonic()
        if process is not None and process.poll() is not None:
            raise ServerNotReady(f"{what} exited (code {process.returncode}) before it answered "
                                 f"{base}/health{_output(log)}")
        signs = _signs(process, log)
        if signs != last:
            last, last_progress = signs, now
        if now - last_progress > quiet_s or now - start > ceiling_s:
            raise ServerNotReady(
                f"{what} did not answer {base}/health after {now - start:.0f} s, the last "
                f"{now - last_progress:.0f} s without progress{_output(log)}; try again when "
                "the machine is less busy, or with --verbose to watch it start")
        time.sleep(poll_s)


def _output(log: Path | None) -> str:
    return f" (its output: {log})" if log is not None else ""


def wait_healthy(base: str, process: subprocess.Popen | None = None, timeout_s: float = 60.0
                 ) -> bool:
    """`wait_ready` as a yes/no, giving up after `timeout_s` seconds without progress."""
    try:
        wait_ready(base, process, quiet_s=timeout_s)
    except ServerNotReady:
        return False
    return True


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the server's whole process group; SIGKILL whatever is left after 10 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            process.poll()  # reap the leader, or it stays in the group as a zombie
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
