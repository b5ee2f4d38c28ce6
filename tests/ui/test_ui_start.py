"""The UI starts on a busy machine: waiting lasts while the server makes progress (not a fixed
timer), stops with one line when it goes quiet, and `mlflow ui` runs without its job runner."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers import clean_env

from nnexp.tracking.local_server import ServerNotReady, free_port, stop_group, wait_ready

# A stand-in server: prints a line every 0.2 s for `slow` seconds (its start-up), then answers
# /health; with `silent`, it prints nothing and never answers (a hung server).
FAKE_SERVER = textwrap.dedent("""
    import http.server, sys, time
    port, slow, silent = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "silent"
    if silent:
        time.sleep(3600)
    end = time.monotonic() + slow
    while time.monotonic() < end:
        print("loading ...", flush=True)
        time.sleep(0.2)
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers(); self.wfile.write(b"OK")
        def log_message(self, *args):
            pass
    http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
""")


def _fake(tmp_path: Path, slow: float, mode: str = "talks") -> tuple[subprocess.Popen, str, Path]:
    port, log = free_port(), tmp_path / "server.log"
    with open(log, "w") as output:
        process = subprocess.Popen([sys.executable, "-c", FAKE_SERVER, str(port), str(slow), mode],
                                   stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    return process, f"http://127.0.0.1:{port}", log


def test_a_server_making_progress_is_waited_for_past_the_quiet_limit(tmp_path):
    process, base, log = _fake(tmp_path, slow=4.0)
    try:
        started = time.monotonic()
        wait_ready(base, process, log=log, quiet_s=1.5)  # 4 s of start-up, 1.5 s of patience
        assert time.monotonic() - started >= 3.5
    finally:
        stop_group(process)


def test_a_silent_server_is_given_up_with_one_line_saying_what_was_waited_for(tmp_path):
    process, base, log = _fake(tmp_path, slow=0, mode="silent")
    try:
        started = time.monotonic()
        with pytest.raises(ServerNotReady) as caught:
            wait_ready(base, process, log=log, what="the MLflow UI", quiet_s=1.5)
        assert time.monotonic() - started < 10
    finally:
        stop_group(process)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"the MLflow UI did not answer {base}/health after ")
    assert f"without progress (its output: {log}); try again" in message
    assert "--verbose" in message


def test_a_server_that_exits_is_reported_at_once(tmp_path):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(ServerNotReady, match=r"exited \(code 3\) before it answered"):
        wait_ready(f"http://127.0.0.1:{port}", process, quiet_s=60)


def _descendants(pid: int) -> list[str]:
    """Command lines of every live process below `pid`."""
    table = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,args="], capture_output=True,
                           text=True, check=True).stdout
    children: dict[int, list[tuple[int, str]]] = {}
    for row in table.splitlines():
        child, parent, args = row.split(None, 2)
        children.setdefault(int(parent), []).append((int(child), args))
    found, todo = [], [pid]
    while todo:
        for child, args in children.get(todo.pop(), []):
            found.append(args)
            todo.append(child)
    return found


def test_ui_starts_under_a_cpu_hog_with_few_processes(tmp_path, store_uri):
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(4)]
    ui = None
    try:
        ui = subprocess.Popen([sys.executable, "-m", "nnexp.ui", "--tracking-uri", store_uri],
                              cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        printed = []  # until the `open:` line, or the end of its output (it gave up)
        while not (printed and printed[-1].startswith("open: ")):
            line = ui.stdout.readline()
            if not line:
                break
            printed.append(line)
        started = _descendants(ui.pid)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
        if ui is not None:
            ui.terminate()
            ui.wait(timeout=60)
    errors = ui.stderr.read()
    assert printed and printed[-1].startswith("open: http://127.0.0.1:"), (printed, errors)
    assert any("mlflow ui" in args for args in started), started
    assert not any("huey" in args for args in started), started
    assert len(started) <= 3, started  # `mlflow ui` and its uvicorn; no job runner


def _pids_below(pid: int) -> list[int]:
    import psutil

    return [child.pid for child in psutil.Process(pid).children(recursive=True)]


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP", "SIGKILL"])
def test_the_ui_killed_or_hung_up_leaves_no_server_behind(sig, tmp_path, store_uri):
    """Whatever ends nnexp.ui (kill, a closed terminal, kill -9), `mlflow ui` and its uvicorn
    end with it: no process left, nothing listening on the port."""
    import signal

    import psutil

    from nnexp.tracking.local_server import port_refused

    port = free_port()
    ui = subprocess.Popen([sys.executable, "-m", "nnexp.ui", "--tracking-uri", store_uri,
                           "--port", str(port)], cwd=tmp_path, env=clean_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        printed = []
        while not (printed and printed[-1].startswith("open: ")):
            line = ui.stdout.readline()
            assert line, (printed, ui.stderr.read())
            printed.append(line)
        below = _pids_below(ui.pid)
        assert len(below) >= 2 and port_refused("127.0.0.1", port)  # guard, mlflow, uvicorn
        ui.send_signal(getattr(signal, sig))
        ui.wait(timeout=60)
    finally:
        if ui.poll() is None:
            ui.kill()
            ui.wait()
    deadline = time.monotonic() + 60  # the guard's grace before SIGKILL is 10 s
    while time.monotonic() < deadline and (
            port_refused("127.0.0.1", port) or any(psutil.pid_exists(p) for p in below)):
        time.sleep(0.2)
    left = [p for p in below if psutil.pid_exists(p)
            and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert not left, [psutil.Process(p).cmdline() for p in left]
    assert port_refused("127.0.0.1", port) is None
