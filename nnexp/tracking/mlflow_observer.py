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
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from nnexp.config.metric_catalogue import LAST_EPOCH_SUFFIX
from nnexp.experiment.observer import MetricChunk, RunObserver, RunOutcome, RunPlan, RunStart
from nnexp.record import tags
from nnexp.record.redact import redact, redacted_copy
from nnexp.tracking.budget import DEFAULT_BUDGET, SeriesBudget
from nnexp.tracking.known_stores import remember
from nnexp.tracking.liveness import process_start_time
from nnexp.tracking.outbox import Outbox
from nnexp.tracking.store import (
    StoreError,
    StoreUnavailable,
    ensure_experiment,
    open_client,
    outbox_root,
    probe_server,
)
from nnexp.tracking.writer import MAX_BATCH, StoreWriter, is_permanent

T = TypeVar("T")
log = logging.getLogger(__name__)
SYNC_COMMAND = "python -m nnexp.runs sync"
SEND_EVERY_SECONDS = 5.0  # metrics go to the store in batches this far apart (or 1 000 points)
_experiments: dict[tuple[str, str], str] = {}  # (uri, name) -> id: looked up once a process


class MlflowObserver(RunObserver):
    """Records a run in the MLflow store at `uri`; see the module docstring."""

    records_files = True

    def __init__(self, uri: str, *, budget: int = DEFAULT_BUDGET, retry_seconds: float = 120.0,
                 heartbeat_seconds: float = 30.0, remember_store: bool = True,
                 system_metrics: bool = False, full_model: str = "best") -> None:
        self.uri = uri
        self.full_model = full_model  # best (a run without parent), always, never: else light
        self.system_metrics = system_metrics  # MLflow's monitor samples the machine
        self.remember_store = remember_store  # list the store in mlruns/stores.json
        self.budget = budget
        self.retry_seconds = retry_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self.complete = False  # the store holds the whole record
        self.status: str | None = None  # how the run ended
        self._plan: RunPlan | None = None
        self._outbox: Outbox | None = None
        self._writer: StoreWriter | None = None
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
        client = self._patiently(self._open, "reach the tracking store")
        self.experiment_id = self._patiently(
            lambda: _experiment(client, start.experiment, self.uri), "reach the store")
        name = redact(start.name)
        run_tags = {tags.MLFLOW_RUN_NAME: name, tags.PID: str(os.getpid()),
                    tags.PID_START: process_start_time(), tags.HOST: platform.node(),
                    tags.HEARTBEAT: str(int(time.time())),
                    **{k: redact(str(v)) for k, v in start.tags.items()}}
        if start.parent_run_id:
            run_tags[tags.MLFLOW_PARENT_RUN_ID] = start.parent_run_id
        run = self._patiently(lambda: client.create_run(self.experiment_id, run_name=name,
                                                        tags=run_tags), "create the run")
        self.run_id = run.info.run_id
        self._child = bool(start.parent_run_id)
        self._next_send = time.monotonic() + SEND_EVERY_SECONDS  # a short run: one batch
        _know_artifact_location(self.uri, run)
        if self.system_metrics:
            from nnexp.tracking.system_metrics import start_system_metrics

            self._system = start_system_metrics(self.uri, self.run_id)
        # a sweep's launcher remembers the store of its children
        if self.remember_store and not start.parent_run_id:
            remember(self.uri)
        self._plan = start.plan
        self._outbox = Outbox.create(outbox_root(self.uri), self.run_id, {
            "uri": redact(self.uri), "experiment_id": self.experiment_id, "pid": os.getpid(),
            "pid_start": run_tags[tags.PID_START], "host": platform.node(),
            "budget": self.budget, "plan": vars(start.plan)})
        self._writer = StoreWriter(client, self._outbox,
                                   heartbeat_seconds=self.heartbeat_seconds)
        self._params = {k: redact(str(v)) for k, v in start.params.items()}
        self._run_name = name
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
        self._writer.op({"op": "artifact", "path": kept, "dir": artifact_dir})

    def record_tags(self, values: dict[str, str]) -> None:
        """Tags learned while the run lasts (its pruning values), journaled and written in order
        with everything else."""
        assert self._writer is not None
        self._writer.op({"op": "tags", "tags": {k: redact(str(v)) for k, v in values.items()}})

    def model(self, weights: Path, meta: dict[str, Any], dataset: Any, step: int) -> None:
        from nnexp.tracking.model import input_example, model_params, split_of

        assert self._outbox is not None and self._writer is not None
        full = self.full_model == "always" or (self.full_model == "best" and not self._child)
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
        self._writer.op({"op": "end", "status": outcome.status})
        self.complete = self._writer.close(self.retry_seconds)
        if self.complete:
            self._outbox.remove()
        else:
            self.kept_locally = str(self._outbox.folder)
            problem = self._writer.problems[-1] if self._writer.problems else "no answer"
            log.warning(redact(
                f"warning: the tracking store did not take run {self.run_id} within "
                f"{self.retry_seconds:g} s ({problem}); everything is kept in "
                f"{self._outbox.folder}: upload it with `{SYNC_COMMAND}`"))

    def summary_line(self) -> str | None:
        if self.run_id is None:
            return None
        from nnexp.tracking.browse import how_to_open
        from nnexp.tracking.store import describe_store

        state = "recorded" if self.complete else "kept locally (store unavailable)"
        ended = f" ended {self.status}," if self.status not in (None, "FINISHED") else ""
        line = f"run {self.run_id}{ended} {state} in {redact(describe_store(self.uri))}"
        if not self.complete:
            return line
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
        path = self._outbox.path(f"files/{name}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(redact(text))
        folder, _, _ = name.rpartition("/")
        self._writer.op({"op": "artifact", "path": f"files/{name}", "dir": folder or None})

    def _open(self) -> Any:
        """A client on the store, once a server store answers (MLflow's own retries take minutes
        per request; a probe answers in seconds)."""
        if self.uri.startswith(("http://", "https://")):
            probe_server(self.uri)
        return open_client(self.uri)

    def _patiently(self, attempt: Callable[[], T], what: str) -> T:
        """`attempt()`, retried while the store is locked or down, for `retry_seconds` at most."""
        deadline = time.monotonic() + self.retry_seconds
        pause, told = 0.5, False
        while True:
            try:
                return attempt()
            except StoreUnavailable as exc:
                failure: BaseException = exc
            except StoreError:
                raise
            except Exception as exc:  # noqa: BLE001 - the store's errors have no common type
                if is_permanent(exc):
                    raise StoreError(f"tracking store {redact(self.uri)}: cannot {what}: "
                                     f"{redact(_first_line(exc))}") from None
                failure = exc
            if time.monotonic() + pause > deadline:
                raise StoreError(f"tracking store {redact(self.uri)}: cannot {what} after "
                                 f"{self.retry_seconds:g} s: {redact(_first_line(failure))}"
                                 ) from None
            if not told:
                log.warning(redact(f"note: waiting up to {self.retry_seconds:g} s for the "
                                   f"tracking store ({_first_line(failure)})"))
                told = True
            time.sleep(pause)
            pause = min(pause * 2, 10.0)


def _experiment(client: Any, name: str, uri: str) -> str:
    """The experiment's id, looked up (or created) once a process per store."""
    if (uri, name) not in _experiments:
        _experiments[(uri, name)] = ensure_experiment(client, name, uri)
    return _experiments[(uri, name)]


def _know_artifact_location(uri: str, run: Any) -> None:
    """Give MLflow's client the new run's artifact store, which it would otherwise read back
    with the whole run (a request) before the first upload."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
        from mlflow.tracking._tracking_service import utils

        utils._artifact_repos_cache[run.info.run_id] = get_artifact_repository(
            run.info.artifact_uri, tracking_uri=uri)
    except Exception:  # noqa: BLE001,S110 - a private cache: without it MLflow asks the store
        pass


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
