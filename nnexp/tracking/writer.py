"""Sends a run's record to the store from a background thread, waiting out a locked or down store.

Training never waits for the store: values and operations are journaled in the run's outbox, queued
here, and written in order by one thread that retries while the store is unavailable (a locked
SQLite file, a restarting server). `close` waits, for a bounded time, until everything is written;
what is still unwritten then stays in the outbox for `python -m nnexp.runs sync`. The same thread
refreshes the run's heartbeat tag, so liveness never has to be guessed from metrics; a second,
tiny thread touches the journal's heartbeat file, which a request stuck on a down store cannot
hold up (a journal in a shared folder is then known to be live on another host).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from nnexp.record import tags
from nnexp.record.redact import redact
from nnexp.tracking.errors import no_room
from nnexp.tracking.outbox import Outbox, safe_artifact_dir
from nnexp.tracking.sent_files import remember
from nnexp.tracking.sql_metrics import insert_metrics, sql_store

MAX_BATCH = 1000  # MLflow's limit of metrics in one log_batch call
PERMANENT_ERRORS = ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "BAD_REQUEST",
                    "INVALID_STATE", "PERMISSION_DENIED", "UNAUTHENTICATED")
_STOP = object()


def _batchable(item: Any) -> bool:
    """Queued metrics, params or tags: what one `log_batch` request can carry together."""
    return item is not _STOP and (item[0] == "metrics" or item[2]["op"] in ("params", "tags"))

log = logging.getLogger(__name__)


def is_permanent(exc: BaseException) -> bool:
    """A store error that retrying cannot mend (a refused value, a deleted run)."""
    return getattr(exc, "error_code", None) in PERMANENT_ERRORS


def apply_op(client: Any, run_id: str, op: dict[str, Any], outbox: Outbox, *,
             first_attempt: bool = False) -> None:
    """Carry out one journaled operation against the store (live, or replayed by `sync`).
    `first_attempt`: no earlier try of this op can have reached the store (skips looking)."""
    kind = op["op"]
    if kind == "params":
        log_batch(client, run_id, [], op["params"], {})
    elif kind == "tags":
        log_batch(client, run_id, [], {}, op["tags"])
    elif kind == "artifact":
        path, folder = outbox.path(op["path"]), safe_artifact_dir(op.get("dir"))
        if path.is_dir():
            client.log_artifacts(run_id, str(path), folder)
        else:
            client.log_artifact(run_id, str(path), folder)
            remember(run_id, f"{folder}/{path.name}" if folder else path.name, path)
    elif kind == "inputs":
        from nnexp.tracking.dataset_input import log_dataset_inputs

        log_dataset_inputs(client, run_id, op["datasets"])
    elif kind == "model":
        from nnexp.tracking.model import log_network_model

        log_network_model(client.tracking_uri, run_id, outbox.path(op["weights"]), op["meta"],
                          op["example"], step=op["step"],
                          linked=[tuple(point) for point in op["linked"]],
                          experiment_id=outbox.info.get("experiment_id"),
                          params=op.get("params"), run_name=op.get("run_name"),
                          look_for_earlier=not first_attempt)
    elif kind == "end":  # when the run ended, not when the store heard of it (a later sync)
        client.set_terminated(run_id, op["status"], end_time=op.get("end_time"))
    else:
        raise ValueError(f"unknown outbox operation {kind!r}")


def send_metrics(client: Any, run_id: str, points: list[tuple[str, float, int, int]]) -> None:
    """log_batch the (key, value, timestamp ms, step) points, 1 000 a call."""
    log_batch(client, run_id, points, {}, {})


def log_batch(client: Any, run_id: str, points: list[tuple[str, float, int, int]],
              params: dict[str, str], run_tags: dict[str, str]) -> None:
    """Metrics, params and tags in as few `log_batch` calls as MLflow's limits allow (1 000
    metrics, 100 params, 100 tags a call); an SQL store takes the metrics first, 1 000 rows an
    INSERT (`sql_metrics`), those it cannot going the same way as params and tags."""
    from mlflow.entities import Metric, Param, RunTag

    store = sql_store(client) if points else None
    if store is not None:
        chunks = [points[i:i + MAX_BATCH] for i in range(0, len(points), MAX_BATCH)]
        points = [p for chunk in chunks if not insert_metrics(store, run_id, chunk)
                  for p in chunk]
    metrics = [Metric(*p) for p in points]
    param_items = [Param(k, v) for k, v in params.items()]
    tag_items = [RunTag(k, str(v)) for k, v in run_tags.items()]
    while metrics or param_items or tag_items:
        client.log_batch(run_id, metrics=metrics[:MAX_BATCH], params=param_items[:100],
                         tags=tag_items[:100])
        metrics, param_items, tag_items = (metrics[MAX_BATCH:], param_items[100:],
                                           tag_items[100:])


class StoreWriter:
    """One background thread writing a run's metrics and operations, in order; see module doc."""

    def __init__(self, client: Any, outbox: Outbox, *, heartbeat_seconds: float = 30.0) -> None:
        self.client = client
        self.outbox = outbox
        self.run_id = outbox.run_id
        self.heartbeat_seconds = heartbeat_seconds
        self.problems: list[str] = []  # permanent failures and the last transient one
        self.refused = 0  # writes the store refused for good
        self.waited_seconds = 0.0  # time spent waiting for an unavailable store
        self.no_room: str | None = None  # the store's disk took no more: why (never retried)
        self._queue: queue.Queue[Any] = queue.Queue()
        self._deadline: float | None = None  # set by close(): stop retrying after it
        self._patience = 0.0  # close()'s wait without progress
        self._gave_up = False
        self._stopping = False
        self._next_beat = time.monotonic() + heartbeat_seconds  # the run starts with a beat
        self._thread = threading.Thread(target=self._run, name="nnexp-store-writer", daemon=True)
        self._thread.start()
        self._closed = threading.Event()
        self._beats = threading.Thread(target=self._journal_beats, name="nnexp-journal-heartbeat",
                                       daemon=True)
        self._beats.start()

    def metrics(self, points: list[tuple[str, float, int, int]]) -> None:
        if points:
            self._queue.put(("metrics", points))

    def op(self, op: dict[str, Any]) -> None:
        """Journal `op`, then queue it."""
        self.queue(self.outbox.add_op(op), op)

    def queue(self, seq: int, op: dict[str, Any]) -> None:
        """Queue an operation journaled earlier (`outbox.add_op`): a caller may hold one back to
        send it with what follows (params with the first metrics: one request)."""
        self._queue.put(("op", seq, op))

    def close(self, wait_seconds: float) -> bool:
        """Wait until everything queued is written, giving up once `wait_seconds` pass without
        a write completing; True if everything was written.

        A store that is slow but answering (sixteen runs sharing an SQLite file on a busy
        machine) is waited for: only a store that stopped taking writes costs a sync.
        """
        self._patience = wait_seconds
        self._deadline = time.monotonic() + wait_seconds
        if not self._stopping:  # a second close (a second Ctrl-C) only waits again
            self._stopping = True
            self._queue.put(_STOP)
        while self._thread.is_alive() and time.monotonic() < self._deadline + 5:
            self._thread.join(min(1.0, max(0.01, self._deadline + 5 - time.monotonic())))
        self._closed.set()
        self._beats.join(5)  # no touch after this: the caller may remove the journal
        return not self._thread.is_alive() and self._queue.empty() and not self._gave_up

    def _journal_beats(self) -> None:
        """Touch the journal's heartbeat file until `close` returns."""
        self.outbox.beat()
        while not self._closed.wait(self.heartbeat_seconds):
            self.outbox.beat()

    def _progressed(self) -> None:
        """A write completed: a closing writer gets its full patience again."""
        if self._deadline is not None:
            self._deadline = time.monotonic() + self._patience

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
            if _batchable(item):
                done = self._send_batch([item, *self._more_batchable()])
            else:
                _, seq, op = item
                done = self._deliver(self._applier(op))
                if done:
                    self.outbox.mark_done(seq)
            if not done and self._gave_up:
                return
            if done:
                self._progressed()
            if time.monotonic() >= self._next_beat:
                self._beat()

    def _more_batchable(self) -> list[Any]:
        """Metrics, params and tags queued right behind: one request carries them all (on a
        tracking server each request costs tens of milliseconds)."""
        taken: list[Any] = []
        with self._queue.mutex:
            pending = self._queue.queue
            while pending and _batchable(pending[0]) and len(taken) < 50:
                taken.append(pending.popleft())
        return taken

    def _send_batch(self, items: list[Any]) -> bool:
        points = [p for item in items if item[0] == "metrics" for p in item[1]]
        params = {k: v for item in items if item[0] == "op" and item[2]["op"] == "params"
                  for k, v in item[2]["params"].items()}
        run_tags = {k: v for item in items if item[0] == "op" and item[2]["op"] == "tags"
                    for k, v in item[2]["tags"].items()}
        refused = self.refused
        done = self._deliver(lambda: log_batch(self.client, self.run_id, points, params,
                                               run_tags), quiet=len(items) > 1)
        if done and self.refused > refused and len(items) > 1:
            # refused for good: send each item alone, so one bad value costs only its own item
            self.refused = refused
            for item in items:
                done = self._send_batch([item]) and done
            return done
        if done:
            for item in items:
                if item[0] == "op":
                    self.outbox.mark_done(item[1])
        return done

    def _applier(self, op: dict[str, Any]) -> Any:
        """A function applying `op`, that tells apply_op whether this is its first try."""
        tries = 0

        def apply() -> None:
            nonlocal tries
            tries += 1
            apply_op(self.client, self.run_id, op, self.outbox, first_attempt=tries == 1)
        return apply

    def _deliver(self, write: Any, quiet: bool = False) -> bool:
        """Write, retrying while the store is unavailable; False if it never became available
        before the deadline, or the store refused the write for good."""
        pause = 0.5
        while True:
            try:
                write()
                return True
            except Exception as exc:  # noqa: BLE001 - the store's errors have no common type
                message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                if no_room(exc) is not None:  # a full disk stays full: the journal keeps the rest
                    self.no_room = no_room(exc)
                    self.problems.append(message)
                    self._gave_up = True
                    return False
                if is_permanent(exc):
                    self.refused += 1
                    if not quiet:  # a batch that is refused is tried again item by item
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


class JournalWriter:
    """StoreWriter's stand-in for a run no store answered at its start: every operation is
    journaled and nothing is sent; `python -m nnexp.runs sync` creates the run and replays it."""

    def __init__(self, outbox: Outbox, problem: str, *, heartbeat_seconds: float = 30.0) -> None:
        self.outbox = outbox
        self.problems = [problem]
        self.heartbeat_seconds = heartbeat_seconds
        self._closed = threading.Event()
        self._beats = threading.Thread(target=self._journal_beats, name="nnexp-journal-heartbeat",
                                       daemon=True)
        self._beats.start()

    _journal_beats = StoreWriter._journal_beats

    def metrics(self, points: list[tuple[str, float, int, int]]) -> None:
        """Nothing to send: every value is in the journal's metrics.bin already."""

    def op(self, op: dict[str, Any]) -> None:
        self.outbox.add_op(op)

    def queue(self, seq: int, op: dict[str, Any]) -> None:
        """Nothing to send: the operation is in the journal already."""

    def close(self, wait_seconds: float) -> bool:
        """False: the store holds nothing of this run yet."""
        self._closed.set()
        self._beats.join(5)  # no touch after this: sync may take the journal
        return False
