"""A sweep's parent run while its launcher lives: heartbeat, signals, and an honest end.

The parent carries the launcher's pid, host and a heartbeat refreshed every ~30 s, so a cleanup on
any machine can tell a live sweep from a dead one. SIGTERM or SIGINT to the launcher stops every
worker process below it (their runs end KILLED), writes the summary of the children so far and
ends the parent KILLED. A launcher killed outright (SIGKILL) leaves its parent to
`python -m nnexp.runs cleanup`, which rebuilds the summary from the children in the store.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any

from nnexp.observer import FAILED, KILLED
from nnexp.tracking import tags
from nnexp.tracking.liveness import descendants, process_alive
from nnexp.tracking.redact import redact

WORKER_GRACE_SECONDS = 20.0  # for workers to end their runs KILLED before they are killed


class SweepParent:
    """The open parent run of one sweep; `finish` writes its summary and ends it, once."""

    def __init__(self, client: Any, run_id: str, keys: list[str], objective: str,
                 direction: str, heartbeat_seconds: float = 30.0) -> None:
        self.client = client
        self.run_id = run_id
        self.keys = keys
        self.objective = objective
        self.direction = direction
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._finished = False
        self._beat = threading.Thread(target=self._heartbeat, args=(heartbeat_seconds,),
                                      name="nnexp-sweep-heartbeat", daemon=True)
        self._beat.start()
        self._previous: dict[int, Any] = {}
        try:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._on_signal)
        except ValueError:  # not the main thread: the launcher's owner handles signals
            pass

    def finish(self, *, job_raised: bool = False, interrupted: str | None = None) -> str:
        """Write the summary and end the parent: KILLED if interrupted, FAILED if a job raised
        or a child failed, else FINISHED. Returns the status; later calls do nothing."""
        from nnexp.tracking.sweep_summary import write_summary

        with self._lock:
            if self._finished:
                return ""
            self._finished = True
        self._done.set()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        status = FAILED
        try:
            status = write_summary(self.client, self.run_id, self.keys, self.objective,
                                   self.direction)
            reason = None
            if interrupted:
                status, reason = KILLED, f"the sweep was interrupted by {interrupted}"
            elif job_raised:
                status, reason = FAILED, "the sweep stopped early: a job raised"
            if reason:
                self.client.set_tag(self.run_id, tags.SWEEP_ERROR, reason)
        except Exception as exc:  # the summary must never leave the parent RUNNING
            print(redact(f"sweep: summary failed: {exc}"), file=sys.stderr)
            self.client.set_tag(self.run_id, tags.ERROR,
                                redact(f"summary failed: {exc}")[:tags.MAX_VALUE_CHARS])
        finally:
            self.client.set_terminated(self.run_id, status)
        return status

    def _heartbeat(self, every: float) -> None:
        while not self._done.wait(every):
            try:
                self.client.set_tag(self.run_id, tags.HEARTBEAT, str(int(time.time())))
            except Exception:  # noqa: BLE001,S110 - a missed beat is harmless; the next comes
                pass

    def _on_signal(self, signum: int, _frame: Any) -> None:
        """Stop the workers, summarise what ran, end the parent KILLED, exit 128 + signal."""
        name = signal.Signals(signum).name
        print(f"sweep: {name}: stopping the jobs and ending the sweep KILLED", file=sys.stderr,
              flush=True)
        stop_descendants(signum)
        self.finish(interrupted=name)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + signum)


def stop_descendants(signum: int, grace_seconds: float = WORKER_GRACE_SECONDS) -> None:
    """Send `signum` to every process below this one, wait for them, SIGKILL what remains."""
    workers = descendants(os.getpid())
    for pid in workers:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and any(process_alive(p) and not _zombie(p)
                                              for p in workers):
        time.sleep(0.1)
    for pid in workers:
        if process_alive(pid) and not _zombie(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _zombie(pid: int) -> bool:
    """An ended child not yet reaped by its parent still 'exists' for kill(0)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
