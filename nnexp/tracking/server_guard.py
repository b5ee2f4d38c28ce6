"""`python -m nnexp.tracking.server_guard PARENT_PID COMMAND...`: runs a server command and stops
it, with everything it started, when PARENT_PID ends, however it ends (SIGKILL included).

A server (MLflow's UI: `mlflow ui` and its uvicorn) outlives a parent killed outright and keeps
its port. The guard leads the server's process group: on Linux the kernel sends it SIGTERM when
its parent dies (PR_SET_PDEATHSIG); elsewhere it notices within a second that its parent
changed. Either way it signals the whole group, then kills what is left.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import time
from typing import NoReturn

PR_SET_PDEATHSIG = 1  # linux/prctl.h
GRACE_SECONDS = 10.0
CHECK_SECONDS = 1.0


def die_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when its parent ends; elsewhere nothing."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # the parent check below still notices


def stop_group(child: subprocess.Popen[bytes] | None) -> NoReturn:
    """SIGTERM this process group (the server and its workers), SIGKILL what is left, exit."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    group = os.getpgrp()
    os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while child is not None and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    code = child.returncode if child is not None and child.returncode is not None else 143
    sys.stdout.flush()
    os.killpg(group, signal.SIGKILL)  # workers the server left, and this guard
    os._exit(code)  # not reached: SIGKILL above


def guard(parent: int, command: list[str]) -> int:
    """Run `command` until it exits (its exit code) or the parent `parent` is gone."""
    child: subprocess.Popen[bytes] | None = None
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop_group(child))
    signal.signal(signal.SIGHUP, lambda _signum, _frame: stop_group(child))
    die_with_parent()
    if os.getppid() != parent:  # it died before the kernel was asked to tell
        stop_group(None)
    child = subprocess.Popen(command)
    while True:
        try:
            return child.wait(timeout=CHECK_SECONDS)
        except subprocess.TimeoutExpired:
            if os.getppid() != parent:
                stop_group(child)


def guarded(command: list[str]) -> list[str]:
    """`command` under a guard that stops it, and what it starts, when this process ends. The
    caller starts it in a session of its own (start_new_session) so the guard leads the group."""
    return [sys.executable, "-m", "nnexp.tracking.server_guard", str(os.getpid()), *command]


if __name__ == "__main__":
    sys.exit(guard(int(sys.argv[1]), sys.argv[2:]))
