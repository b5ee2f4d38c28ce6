"""Sends a run's record to the store from a background thread, waiting out a locked or down store.

Training never waits for the store: values and operations are journaled in the run's outbox, queued
here, and written in order by one thread that retries while the store is unavailable (a locked
SQLite file, a restarting server). `close` waits, for a bounded time, until everything is written;
what is still unwritten then stays in the outbox for `python -m nnexp.runs sync`. The same thread
refreshes the run's heartbeat tag, so liveness never has to be guessed from metrics.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from nnexp.tracking import tags
from nnexp.tracking.outbox import Outbox
from nnexp.tracking.redact import redact

MAX_BATCH = 1000  # MLflow's limit of metrics in one log_batch call
PERMANENT_ERRORS = ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "BAD_REQUEST",
                    "INVALID_STATE", "PERMISSION_DENIED", "UNAUTHENTICATED")
_STOP = object()
log = logging.getLogger(__name__)


def is_permanent(exc: BaseException) -> bool:
    """A store error that retrying cannot mend (a refused value, a deleted run)."""
    return getattr(exc, "error_code", None) in PERMANENT_ERRORS


def apply_op(client: Any, run_id: str, op: dict[str, Any], outbox: Outbox) -> None:
    """Carry out one journaled operation against the store (live, or replayed by `sync`)."""
    from mlflow.entities import Param, RunTag

    kind = op["op"]
    if kind == "params":
        items = [Param(k, v) for k, v in op["params"].items()]
        for start in range(0, len(items), 100):
            client.log_batch(run_id, params=items[start:start + 100])
    elif kind == "tags":
        client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in op["tags"].items()])
    elif kind == "artifact":
        path = outbox.path(op["path"])
        if path.is_dir():
            client.log_artifacts(run_id, str(path), op.get("dir"))
        else:
            client.log_artifact(run_id, str(path), op.get("dir"))
    elif kind == "inputs":
        from nnexp.tracking.dataset_input import log_dataset_inputs

        log_dataset_inputs(client, run_id, op["datasets"])
    elif kind == "model":
        from nnexp.tracking.model import log_network_model

        log_network_model(client.tracking_uri, run_id, outbox.path(op["weights"]), op["meta"],
                          op["example"], step=op["step"],
                          linked=[tuple(point) for point in op["linked"]],
                          experiment_id=outbox.info.get("experiment_id"),
                          params=op.get("params"), run_name=op.get("run_name"))
    elif kind == "end":
        client.set_terminated(run_id, op["status"])
    else:
        raise ValueError(f"unknown outbox operation {kind!r}")


def send_metrics(client: Any, run_id: str, points: list[tuple[str, float, int, int]]) -> None:
    """log_batch the (key, value, timestamp ms, step) points, 1 000 a call."""
    from mlflow.entities import Metric

    for start in range(0, len(points), MAX_BATCH):
        client.log_batch(run_id, metrics=[Metric(*p) for p in points[start:start + MAX_BATCH]])


class StoreWriter:
    """One background thread writing a run's metrics and operations, in order; see module doc."""

    def __init__(self, client: Any, outbox: Outbox, *, heartbeat_seconds: float = 30.0) -> None:
        self.client = client
        self.outbox = outbox
        self.run_id = outbox.run_id
        self.heartbeat_seconds = heartbeat_seconds
        self.problems: list[str] = []  # permanent failures and the last transient one
        self.waited_seconds = 0.0  # time spent waiting for an unavailable store
        self._queue: queue.Queue[Any] = queue.Queue()
        self._deadline: float | None = None  # set by close(): stop retrying after it
        self._gave_up = False
        self._next_beat = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="nnexp-store-writer", daemon=True)
        self._thread.start()

    def metrics(self, points: list[tuple[str, float, int, int]]) -> None:
        if points:
            self._queue.put(("metrics", points))

    def op(self, op: dict[str, Any]) -> None:
        """Journal `op`, then queue it."""
        seq = self.outbox.add_op(op)
        self._queue.put(("op", seq, op))

    def close(self, wait_seconds: float) -> bool:
        """Wait up to `wait_seconds` for everything queued to be written; True if it was."""
        self._deadline = time.monotonic() + wait_seconds
        self._queue.put(_STOP)
        self._thread.join(wait_seconds + 5)
        return not self._thread.is_alive() and self._queue.empty() and not self._gave_up

    def _run(self) -> None:
        while True:
            timeout = max(0.0, self._next_beat - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                self._beat()
                continue
            if item is _STOP:
                return
            if item[0] == "metrics":
                points = item[1]
                while len(points) < MAX_BATCH and self._next_is_metrics():
                    points = points + self._queue.get_nowait()[1]
                done = self._deliver(lambda p=points: send_metrics(self.client, self.run_id, p))
            else:
                _, seq, op = item
                done = self._deliver(lambda o=op: apply_op(self.client, self.run_id, o,
                                                           self.outbox))
                if done:
                    self.outbox.mark_done(seq)
            if not done and self._gave_up:
                return
            if time.monotonic() >= self._next_beat:
                self._beat()

    def _next_is_metrics(self) -> bool:
        with self._queue.mutex:
            return bool(self._queue.queue) and isinstance(self._queue.queue[0], tuple) \
                and self._queue.queue[0][0] == "metrics"

    def _deliver(self, write: Any) -> bool:
        """Write, retrying while the store is unavailable; False if it never became available
        before the deadline, or the store refused the write for good."""
        pause = 0.5
        while True:
            try:
                write()
                return True
            except Exception as exc:  # noqa: BLE001 - the store's errors have no common type
                message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                if is_permanent(exc):
                    self.problems.append(message)
                    log.warning(redact(f"warning: the store refused a write: {message}"))
                    return True  # retrying cannot help; the rest of the record still goes
                if self.problems[-1:] != [message]:
                    self.problems.append(message)
                if self._deadline is not None and time.monotonic() + pause > self._deadline:
                    self._gave_up = True
                    return False
                time.sleep(pause)
                self.waited_seconds += pause
                pause = min(pause * 2, 10.0)

    def _beat(self) -> None:
        """Refresh the heartbeat tag; a missed beat is harmless (the next one comes)."""
        self._next_beat = time.monotonic() + self.heartbeat_seconds
        try:
            self.client.set_tag(self.run_id, tags.HEARTBEAT, str(int(time.time())))
        except Exception:  # noqa: BLE001,S110 - liveness is best effort, the record is not
            pass
