"""The MLflow observer: one MLflow run per experiment, written without ever losing a value.

The run is created when the experiment starts (waiting, for a bounded time, for a store that is
locked or down); from then on every event is journaled in the run's outbox first and written by a
background thread (`writer.StoreWriter`), so training never waits for the store and a killed
process or an unavailable store loses nothing. Metrics reach the store thinned to a budget of
points per metric (`budget.SeriesBudget`); the full history is an artifact.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from nnexp.config.metric_catalogue import LAST_EPOCH_SUFFIX
from nnexp.experiment.interrupts import LAST_WAIT_SECONDS, RunStopped
from nnexp.experiment.observer import MetricChunk, RunObserver, RunOutcome, RunPlan, RunStart
from nnexp.record import tags
from nnexp.record.redact import redact, redacted_copy
from nnexp.tracking.budget import DEFAULT_BUDGET, SeriesBudget
from nnexp.tracking.disk_full import said_disk_full, store_full
from nnexp.tracking.errors import no_room
from nnexp.tracking.known_stores import remember
from nnexp.tracking.liveness import liveness_tags
from nnexp.tracking.outbox import Outbox
from nnexp.tracking.run_lookups import experiment_id_once, know_artifact_location
from nnexp.tracking.sqlite_concurrency import describe_store_problem, fold_wal
from nnexp.tracking.store import (
    StoreError,
    StoreUnavailable,
    open_client,
    outbox_root,
    probe_server,
)
from nnexp.tracking.writer import MAX_BATCH, JournalWriter, StoreWriter, is_permanent

T = TypeVar("T")
log = logging.getLogger(__name__)
SYNC_COMMAND = "python -m nnexp.runs sync"
SEND_EVERY_SECONDS = 5.0  # metrics go to the store in batches this far apart (or 1 000 points)
LOCAL_PARENT_ENV = "NNEXP_LOCAL_PARENT"  # a sweep's parent run id while it is recorded locally


def sync_command(uri: str) -> str:
    """The command that uploads a run journaled for `uri`, as it can be typed."""
    import shlex

    from nnexp.tracking.store import default_tracking_uri

    if uri == default_tracking_uri():
        return SYNC_COMMAND
    return f"{SYNC_COMMAND} --tracking-uri {shlex.quote(redact(uri))}"


def server_silent(uri: str, wait_seconds: float) -> str | None:
    """Why the server store at `uri` did not answer within `wait_seconds` (one line), or None
    once it does; None at once for other stores (a locked SQLite file is waited for)."""
    if not uri.startswith(("http://", "https://")):
        return None
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            probe_server(uri, timeout_s=max(1.0, min(10.0, wait_seconds)))
            return None
        except StoreUnavailable as exc:
            if time.monotonic() + 0.5 > deadline:
                return _first_line(exc)
        time.sleep(0.5)


def local_run_id() -> str:
    """An id for a run no store answered at its start: 32 hex digits, as MLflow's."""
    import uuid

    return uuid.uuid4().hex


class MlflowObserver(RunObserver):
    """Records a run in the MLflow store at `uri`; see the module docstring."""

    records_files = True

    def __init__(self, uri: str, *, budget: int = DEFAULT_BUDGET, retry_seconds: float = 120.0,
                 start_wait_seconds: float = 5.0, heartbeat_seconds: float = 30.0,
                 remember_store: bool = True, system_metrics: bool = False,
                 full_model: str = "best") -> None:
        self.uri = uri
        self.full_model = full_model  # best (a run without parent), always, never: else light
        self.system_metrics = system_metrics  # MLflow's monitor samples the machine
        self.remember_store = remember_store  # list the store in mlruns/stores.json
        self.budget = budget
        self.retry_seconds = retry_seconds
        self.start_wait_seconds = start_wait_seconds
        self.local_reason: str | None = None  # why no store recorded the run from its start
        self.heartbeat_seconds = heartbeat_seconds
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self.complete = False  # the store holds the whole record
        self.status: str | None = None  # how the run ended
        self._plan: RunPlan | None = None
        self._outbox: Outbox | None = None
        self._writer: StoreWriter | JournalWriter | None = None
        self._budgets: dict[str, SeriesBudget] = {}
        self._last_sent: dict[str, tuple[float, int, int]] = {}  # key -> (value, time, step)
        self._splits: dict[str, tuple[str, str]] = {}  # train/val/test -> dataset (name, digest)
        self._params: dict[str, str] = {}
        self._overrides: list[str] = []
        self._run_name = ""
        self._system: Any | None = None
        self._child = False  # a sweep's child: its model is light unless full_model=always
        self._unsent: list[tuple[str, float, int, int]] = []  # journaled, not yet queued
        self._held: list[tuple[int, dict[str, Any]]] = []  # journaled ops sent with them
        self._next_send = 0.0

    # ---- events ----------------------------------------------------------------------------
    def started(self, start: RunStart) -> None:
        name = redact(start.name)
        run_tags = {tags.MLFLOW_RUN_NAME: name, **liveness_tags(),
                    tags.HEARTBEAT: str(int(time.time())),
                    **{k: redact(str(v)) for k, v in start.tags.items()}}
        if start.parent_run_id:
            run_tags[tags.MLFLOW_PARENT_RUN_ID] = start.parent_run_id
        start_ms = int(time.time() * 1000)
        local: dict[str, Any] | None = None
        client: Any = None
        try:
            if start.parent_run_id and os.environ.get(LOCAL_PARENT_ENV) == start.parent_run_id:
                # its sweep's parent is not in the store: the children wait with it
                raise StoreUnavailable(f"the sweep's parent run {start.parent_run_id} is "
                                       "recorded locally")
            client = self._create_run(start.experiment, name, run_tags, start_ms)
            self._child = bool(start.parent_run_id)
        except StoreUnavailable as exc:
            self.run_id, self.local_reason = local_run_id(), _first_line(exc)
            local = {"experiment": start.experiment, "run_name": name, "start_time": start_ms,
                     "tags": {**run_tags, tags.LOCAL_RUN_ID: self.run_id}}
        if self.system_metrics and local is None:
            from nnexp.tracking.system_metrics import start_system_metrics

            self._system = start_system_metrics(self.uri, self.run_id)
        # a sweep's launcher remembers the store of its children
        if self.remember_store and not start.parent_run_id:
            remember(self.uri)
        self._open_outbox(start, run_tags, local, client)
        self._next_send = time.monotonic() + SEND_EVERY_SECONDS  # a short run: one batch
        self._params = {k: redact(str(v)) for k, v in start.params.items()}
        self._run_name = run_tags[tags.MLFLOW_RUN_NAME]
        self._overrides = run_tags.get(tags.OVERRIDES, "").split()
        params = {"op": "params", "params": self._params}  # sent with the first metrics
        self._held = [(self._outbox.add_op(params), params)]
        for name, text in start.texts.items():
            self._keep_text(text, name)
        for artifact_dir, folder in start.folders.items():
            if folder.is_dir():
                self.artifact(folder, artifact_dir)
        if start.dataset is not None:
            from nnexp.tracking.dataset_input import describe_dataset_inputs

            described = describe_dataset_inputs(start.dataset)
            self._splits = {d["context"]: (d["name"], d["digest"]) for d in described}
            self._writer.op({"op": "inputs", "datasets": described})

    def _create_run(self, experiment: str, name: str, run_tags: dict[str, str],
                    start_ms: int) -> Any:
        """The run created in the store, waiting for it at most `_start_wait()`; its client.
        StoreUnavailable when the store did not answer in that time."""
        deadline = time.monotonic() + self._start_wait()
        client = self._patiently(self._open, "reach the tracking store", deadline)
        self.experiment_id = self._patiently(
            lambda: experiment_id_once(client, experiment, self.uri), "reach the store", deadline)
        run = self._patiently(lambda: client.create_run(self.experiment_id, run_name=name,
                                                        tags=run_tags, start_time=start_ms),
                              "create the run", deadline)
        self.run_id = run.info.run_id
        know_artifact_location(self.uri, run)
        return client

    def _start_wait(self) -> float:
        """A server silent at start is not waited for past `start_wait_seconds`; a local SQLite
        file is (its lock is another run's write, over in moments)."""
        if self.uri.startswith("sqlite:"):
            return self.retry_seconds
        return min(self.start_wait_seconds, self.retry_seconds)

    def _open_outbox(self, start: RunStart, run_tags: dict[str, str],
                     local: dict[str, Any] | None, client: Any) -> None:
        """The run's journal, and what sends it: the store's writer, or (`local`: no store
        answered) the journal alone, with one line saying so."""
        assert self.run_id is not None
        self._plan = start.plan
        self._outbox = Outbox.create(outbox_root(self.uri), self.run_id, {
            "uri": redact(self.uri), "experiment_id": self.experiment_id, "pid": os.getpid(),
            "pid_start": run_tags[tags.PID_START], "host": run_tags[tags.HOST],
            "machine": run_tags[tags.MACHINE], "budget": self.budget, "plan": vars(start.plan),
            **({"local": local} if local is not None else {})})
        if local is None:
            self._writer = StoreWriter(client, self._outbox,
                                       heartbeat_seconds=self.heartbeat_seconds)
            return
        self._writer = JournalWriter(self._outbox, self.local_reason or "",
                                     heartbeat_seconds=self.heartbeat_seconds)
        log.warning(redact(f"note: {self.local_reason}; run {self.run_id} trains and is "
                           f"recorded locally in {self._outbox.folder} until "
                           f"`{sync_command(self.uri)}`"))

    def metrics(self, chunk: MetricChunk) -> None:
        assert self._outbox is not None and self._writer is not None and self._plan is not None
        self._outbox.append_metrics(chunk)
        points: list[tuple[str, float, int, int]] = []
        for j, key in enumerate(chunk.keys):
            budget = self._budgets.get(key)
            if budget is None:
                expected = self._plan.expected_points(chunk.per_step)
                budget = self._budgets[key] = SeriesBudget(expected, self.budget)
            self._send(key, budget.push(chunk.steps, chunk.timestamps, chunk.values[:, j]),
                       points)
        self._unsent += points  # the outbox has them: the store gets them a batch at a time
        if len(self._unsent) >= MAX_BATCH or time.monotonic() >= self._next_send:
            self._queue_unsent()

    def _queue_unsent(self) -> None:
        assert self._writer is not None
        for seq, op in self._held:
            self._writer.queue(seq, op)
        self._held = []
        self._writer.metrics(self._unsent)
        self._unsent = []
        self._next_send = time.monotonic() + SEND_EVERY_SECONDS

    def artifact(self, path: Path, artifact_dir: str | None = None) -> None:
        assert self._outbox is not None and self._writer is not None
        name = f"{artifact_dir}/{path.name}" if artifact_dir else path.name
        with redacted_copy(path) as safe:
            kept = self._outbox.keep_file(safe, name)
        if kept is not None:  # else the journal's disk is full: ended() says so
            self._writer.op({"op": "artifact", "path": kept, "dir": artifact_dir})

    def record_tags(self, values: dict[str, str]) -> None:
        """Tags learned while the run lasts (its pruning values), journaled and written in order
        with everything else."""
        assert self._writer is not None
        self._writer.op({"op": "tags", "tags": {k: redact(str(v)) for k, v in values.items()}})

    def model(self, weights: Path, meta: dict[str, Any], dataset: Any, step: int) -> None:
        from nnexp.tracking.model import input_example, model_params, split_of

        assert self._outbox is not None and self._writer is not None
        # a run recorded locally has no store id yet for a light model to name: it gets the full
        full = (self.full_model == "always" or self.local_reason is not None
                or (self.full_model == "best" and not self._child))
        # training is over: the store gets every last value before a full model links them (a
        # light one's go with the run's last tags, one request)
        self._finish_budgets(send=full)
        # the model's metrics are its weights': not the last epoch's of a run that kept another
        linked = [(key, value, time_ms, *self._splits.get(split_of(key) or "", ()))
                  for key, (value, time_ms, at) in self._last_sent.items()
                  if at == step and not key.endswith(LAST_EPOCH_SUFFIX)]
        op = {"op": "model", "meta": meta, "example": input_example(dataset).tolist(),
              "step": step, "linked": linked,
              "params": model_params(self._params, self._overrides), "run_name": self._run_name}
        if full:
            op["weights"] = self._outbox.keep_file(weights, "model/weights.npz")
            if op["weights"] is not None:
                self._writer.op(op)
            return
        from nnexp.tracking.light_model import LIGHT_DIR, write_light_model

        with tempfile.TemporaryDirectory(prefix="nnexp-light-") as tmp:
            assert self.run_id is not None
            text = (write_light_model(Path(tmp), self.run_id, op) / "MLmodel").read_text()
        self._keep_text(text, f"{LIGHT_DIR}/MLmodel")

    def ended(self, outcome: RunOutcome) -> None:
        if self._writer is None or self._outbox is None:
            return  # the run was never created
        self.status = outcome.status
        if self._system is not None:  # its last sample before the run ends
            self._system.stop()
        self._finish_budgets()
        if outcome.traceback:
            self._keep_text(outcome.traceback, "error/traceback.txt")
        if outcome.tags:
            self._writer.op({"op": "tags",
                             "tags": {k: redact(str(v)) for k, v in outcome.tags.items()}})
        self._writer.op({"op": "end", "status": outcome.status,
                         "end_time": int(time.time() * 1000)})
        wait = min(self.retry_seconds, outcome.wait_seconds or self.retry_seconds)
        try:
            self.complete = self._writer.close(wait)
        except (RunStopped, KeyboardInterrupt):  # a second Ctrl-C: one last short wait
            self.complete = self._writer.close(min(wait, LAST_WAIT_SECONDS))
            self._kept(min(wait, LAST_WAIT_SECONDS))
            raise
        self._kept(wait)

    def _kept(self, waited: float) -> None:
        """Remove the journal the store holds all of, else say where it waits."""
        assert self._outbox is not None and self._writer is not None
        disk_full = said_disk_full(self._writer, self._outbox, self.complete,
                                   sync_command(self.uri))
        if self.complete:
            self._outbox.remove()
            return fold_wal(self.uri)
        self.kept_locally = str(self._outbox.folder)
        if self.local_reason is None and not disk_full:  # summary_line: a run recorded locally
            problem = describe_store_problem(self._writer.problems[-1]
                                             if self._writer.problems else None, self.uri)
            log.warning(redact(
                f"warning: the tracking store took nothing of run {self.run_id} for "
                f"{waited:g} s ({problem}); everything is kept in "
                f"{self._outbox.folder}: upload it with `{sync_command(self.uri)}`"))

    def summary_line(self) -> str | None:
        if self.run_id is None:
            return None
        from nnexp.tracking.browse import how_to_open
        from nnexp.tracking.store import describe_store

        ended = f" ended {self.status}," if self.status not in (None, "FINISHED") else ""
        if self.local_reason is not None and self._outbox is not None:
            return redact(f"run {self.run_id}{ended} kept locally in {self._outbox.folder} "
                          f"(no store answered at its start): upload it with "
                          f"`{sync_command(self.uri)}`")
        if not self.complete:
            return (f"run {self.run_id}{ended} kept locally in {self.kept_locally}, not yet "
                    f"in {redact(describe_store(self.uri))}")
        line = f"run {self.run_id}{ended} recorded in {redact(describe_store(self.uri))}"
        return f"{line}\n{how_to_open(self.uri, self.experiment_id, self.run_id)}"

    # ---- helpers ---------------------------------------------------------------------------
    def _send(self, key: str, selected: tuple[Any, Any, Any],
              points: list[tuple[str, float, int, int]]) -> None:
        steps, times, values = selected
        if len(steps) == 0:
            return
        points.extend(zip([key] * len(steps), values.tolist(), times.tolist(), steps.tolist(),
                          strict=True))
        self._last_sent[key] = (float(values[-1]), int(times[-1]), int(steps[-1]))

    def _finish_budgets(self, send: bool = True) -> None:
        assert self._writer is not None
        points: list[tuple[str, float, int, int]] = []
        for key, budget in self._budgets.items():
            self._send(key, budget.finish(), points)
        self._unsent += points
        if send:
            self._queue_unsent()

    def _keep_text(self, text: str, name: str) -> None:
        assert self._outbox is not None and self._writer is not None
        self._outbox.path(f"files/{name}")  # inside the journal's files/
        kept, folder = self._outbox.keep_text(redact(text), name), name.rpartition("/")[0]
        if kept is not None:
            self._writer.op({"op": "artifact", "path": kept, "dir": folder or None})

    def _open(self) -> Any:
        """A client on the store, once a server store answers (MLflow's own retries take minutes
        per request; a probe answers in seconds)."""
        if self.uri.startswith(("http://", "https://")):
            probe_server(self.uri, timeout_s=max(1.0, min(10.0, self._start_wait())))
        return open_client(self.uri)

    def _patiently(self, attempt: Callable[[], T], what: str, deadline: float) -> T:
        """`attempt()`, retried while the store is locked or down, until `deadline` (monotonic);
        then StoreUnavailable."""
        pause, told = 0.5, False
        while True:
            try:
                return attempt()
            except StoreUnavailable as exc:
                failure: BaseException = exc
            except StoreError:
                raise
            except Exception as exc:  # noqa: BLE001 - the store's errors have no common type
                if no_room(exc) is not None:  # a full disk stays full: never waited for
                    raise store_full(self.uri, what, exc) from None
                if is_permanent(exc):
                    raise StoreError(f"tracking store {redact(self.uri)}: cannot {what}: "
                                     f"{redact(_first_line(exc))}") from None
                failure = exc
            if time.monotonic() + pause > deadline:
                if isinstance(failure, StoreUnavailable):
                    raise failure
                raise StoreUnavailable(f"tracking store {redact(self.uri)}: cannot {what}: "
                                       f"{redact(_first_line(failure))}") from None
            if not told and deadline - time.monotonic() > 5:
                log.warning(redact(f"note: waiting up to {self._start_wait():g} s "
                                   f"for the tracking store ({_first_line(failure)})"))
                told = True
            time.sleep(pause)
            pause = min(pause * 2, 10.0)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
