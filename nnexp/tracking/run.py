"""One MLflow run's lifecycle: start, record, and always end it with an honest status."""

from __future__ import annotations

import signal
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nnexp.tracking import tags
from nnexp.tracking.metrics import MetricBuffer
from nnexp.tracking.redact import redact, redacted_copy
from nnexp.tracking.store import ensure_experiment, open_client


class RunInterrupted(BaseException):
    """Raised inside training when SIGINT or SIGTERM arrives; the run ends KILLED."""

    def __init__(self, signame: str) -> None:
        super().__init__(f"interrupted by {signame}")
        self.signame = signame


class RunDiverged(RuntimeError):
    """A non-finite loss or gradient; the run ends FAILED with where it happened in its tags."""

    def __init__(self, message: str, where: dict[str, str]) -> None:
        super().__init__(message)
        self.tags = where


class Run:
    """A started MLflow run: params, tags, buffered metrics, artifacts; or nothing when disabled.

    Everything written through it has the credentials of any URI masked (`redact`).
    """

    def __init__(self, client: Any | None, run_id: str | None, experiment_id: str | None) -> None:
        self.client = client
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.metrics = MetricBuffer(client, run_id)
        self.last_completed_epoch = 0
        self.on_interrupt: Any = None  # a callable that saves what it can (weights) when killed
        self.interrupt = InterruptFlag()

    @property
    def enabled(self) -> bool:
        return self.client is not None

    def log_params(self, params: dict[str, str]) -> None:
        if self.enabled:
            from mlflow.entities import Param

            items = [Param(k, redact(str(v))) for k, v in params.items()]
            for start in range(0, len(items), 100):
                self.client.log_batch(self.run_id, params=items[start:start + 100])

    def set_tags(self, values: dict[str, Any]) -> None:
        if self.enabled:
            from mlflow.entities import RunTag

            self.client.log_batch(self.run_id,
                                  tags=[RunTag(k, redact(str(v))) for k, v in values.items()])

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        if self.enabled:
            with redacted_copy(Path(path)) as safe:
                self.client.log_artifact(self.run_id, str(safe), artifact_path)

    def log_artifacts(self, folder: str | Path, artifact_path: str | None = None) -> None:
        if self.enabled:
            with redacted_copy(Path(folder)) as safe:
                self.client.log_artifacts(self.run_id, str(safe), artifact_path)

    def log_text(self, text: str, artifact_file: str) -> None:
        if self.enabled:
            self.client.log_text(self.run_id, redact(text), artifact_file)


class InterruptFlag:
    """Turns the first SIGINT/SIGTERM into RunInterrupted at a safe point; a second one kills.

    While `deferred` is true (inside the training loop) the signal only sets `signame`, and the
    loop raises between steps, so the weights it saves are never half-updated.
    """

    def __init__(self) -> None:
        self.signame: str | None = None
        self.deferred = False

    def handle(self, signum: int, _frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        self.signame = signal.Signals(signum).name
        if not self.deferred:
            raise RunInterrupted(self.signame)

    def check(self) -> None:
        """Raise RunInterrupted if a signal arrived since the last check."""
        if self.signame is not None:
            raise RunInterrupted(self.signame)


@contextmanager
def signals_end_run() -> Iterator[InterruptFlag]:
    """Route SIGINT/SIGTERM to an InterruptFlag for the duration of a run (main thread only)."""
    flag = InterruptFlag()
    try:
        previous = {s: signal.signal(s, flag.handle) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread (some launchers): leave signals alone
        yield flag
        return
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def tracked_run(
    uri: str | None,
    experiment: str,
    run_name: str,
    *,
    run_tags: dict[str, str] | None = None,
    parent_run_id: str | None = None,
) -> Iterator[Run]:
    """Start a run and end it FINISHED, FAILED (error and traceback recorded) or KILLED.

    Metrics buffered before a failure or a signal are flushed first, so nothing is lost.
    With `uri=None` tracking is off and a Run that records nothing is yielded.
    """
    if uri is None:
        run = Run(None, None, None)
        with signals_end_run() as run.interrupt:
            yield run
        return
    client = open_client(uri)
    experiment_id = ensure_experiment(client, experiment, uri)
    run_name = redact(run_name)
    all_tags = {tags.MLFLOW_RUN_NAME: run_name,
                **{k: redact(str(v)) for k, v in (run_tags or {}).items()}}
    if parent_run_id:
        all_tags[tags.MLFLOW_PARENT_RUN_ID] = parent_run_id
    mlflow_run = client.create_run(experiment_id, run_name=run_name, tags=all_tags)
    run = Run(client, mlflow_run.info.run_id, experiment_id)
    status = "FAILED"
    try:
        with signals_end_run() as run.interrupt:
            yield run
        status = "FINISHED"
    except RunInterrupted as exc:
        status = "KILLED"
        _record_interruption(run, exc)
        raise
    except RunDiverged as exc:
        _record_failure(run, exc, exc.tags, with_traceback=False)
        raise
    except BaseException as exc:
        _record_failure(run, exc, {}, with_traceback=True)
        raise
    finally:
        try:
            run.metrics.flush()
        finally:
            client.set_terminated(run.run_id, status)


def _record_interruption(run: Run, exc: RunInterrupted) -> None:
    run.metrics.flush()
    run.set_tags({
        tags.STATUS_REASON: str(exc),
        tags.LAST_COMPLETED_EPOCH: run.last_completed_epoch,
    })
    if run.on_interrupt is not None:
        run.on_interrupt()


def _record_failure(run: Run, exc: BaseException, extra: dict[str, str], *,
                    with_traceback: bool) -> None:
    run.metrics.flush()
    message = (str(exc).splitlines() or [type(exc).__name__])[0]
    run.set_tags({tags.ERROR: f"{type(exc).__name__}: {message}"[:tags.MAX_VALUE_CHARS],
                  tags.LAST_COMPLETED_EPOCH: run.last_completed_epoch, **extra})
    if with_traceback:
        run.log_text("".join(traceback.format_exception(exc)), "error/traceback.txt")
