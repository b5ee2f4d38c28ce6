"""Reading a run's record back from any MLflow store: info, config, overrides, metric histories.

Every failure (no store, unknown run, missing artifact) is a RecordError with a one-line reason.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nnexp.tracking.store import StoreError, check_uri, default_tracking_uri, sqlite_path

CONFIG_ARTIFACT = "config.yaml"
OVERRIDES_ARTIFACT = "overrides.yaml"


class RecordError(StoreError):
    """A run's record cannot be read (no store, unknown run id, missing artifact); one line."""


@dataclass(frozen=True)
class MetricPoint:
    """One logged value; `offset_ms` is its time since the run started, to order differences."""

    step: int
    value: float
    offset_ms: int


@dataclass
class RunRecord:
    """What the store holds about one run, except artifacts and metric histories."""

    run_id: str
    name: str
    experiment_id: str
    experiment: str
    status: str
    start_time: int
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]  # the latest value of each metric


def tracking_uri(given: str | None) -> str:
    """--tracking-uri wins, then MLFLOW_TRACKING_URI, then ./mlruns/mlflow.db."""
    return given or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()


def open_store(uri: str) -> Any:
    """An MlflowClient on an existing store; never creates an empty SQLite database by accident."""
    for name in ("alembic", "mlflow"):  # keep the terminal for our one-line messages
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if uri.startswith("sqlite:///"):
        if not Path(sqlite_path(uri)).is_file():
            raise RecordError(f"no MLflow store at {sqlite_path(uri)} (give --tracking-uri or "
                              "set MLFLOW_TRACKING_URI)")
    else:
        check_uri(uri)
    from nnexp.tracking.store import open_client

    return open_client(uri)


def load_run(client: Any, run_id: str) -> RunRecord:
    """The run's info, tags, params and latest metrics; RecordError if the store has no such run."""
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
        experiment = client.get_experiment(run.info.experiment_id)
    except MlflowException as exc:
        if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(exc):
            raise RecordError(f"unknown run id '{run_id}' in {client.tracking_uri}") from None
        raise RecordError(f"cannot read run '{run_id}': {_first_line(exc)}") from None
    except Exception as exc:  # e.g. a file that is not an MLflow database
        raise RecordError(f"cannot read the store {client.tracking_uri}: "
                          f"{_first_line(exc)}") from None
    return RunRecord(
        run_id=run.info.run_id, name=run.info.run_name or "", experiment_id=run.info.experiment_id,
        experiment=experiment.name, status=run.info.status, start_time=run.info.start_time or 0,
        tags=dict(run.data.tags), params=dict(run.data.params), metrics=dict(run.data.metrics),
    )


def load_text_artifact(client: Any, run_id: str, name: str) -> str | None:
    """The text of a run's artifact, or None when the run has no such artifact."""
    with tempfile.TemporaryDirectory(prefix="nnexp-record-") as tmp:
        try:
            local = client.download_artifacts(run_id, name, tmp)
        except Exception:  # MLflow raises different types per artifact store for a missing file
            return None
        path = Path(local)
        return path.read_text() if path.is_file() else None


def load_config(client: Any, run_id: str) -> dict[str, Any]:
    """The run's resolved config (config.yaml) as plain data; RecordError if it was not logged."""
    text = load_text_artifact(client, run_id, CONFIG_ARTIFACT)
    if text is None:
        raise RecordError(f"run '{run_id}' has no {CONFIG_ARTIFACT} artifact: nothing to rebuild "
                          "its config from")
    data = _parse_config(text)
    if data is None:
        raise RecordError(f"run '{run_id}': {CONFIG_ARTIFACT} is not a YAML mapping")
    return data


def load_overrides(client: Any, run_id: str) -> list[str]:
    """The command-line overrides the run was composed with (empty if none were logged)."""
    text = load_text_artifact(client, run_id, OVERRIDES_ARTIFACT)
    data = yaml.safe_load(text) if text else None
    return [str(item) for item in data] if isinstance(data, list) else []


def metric_histories(client: Any, record: RunRecord) -> dict[str, list[MetricPoint]]:
    """Every logged value of every metric, in (step, time) order."""
    histories = {}
    for key in sorted(record.metrics):
        points = sorted(client.get_metric_history(record.run_id, key),
                        key=lambda m: (m.step, m.timestamp))
        histories[key] = [MetricPoint(m.step, float(m.value), m.timestamp - record.start_time)
                          for m in points]
    return histories


def flat_config(client: Any, record: RunRecord) -> dict[str, str]:
    """The run's config as flat dotted keys: from config.yaml, or from its params without it."""
    from nnexp.tracking.params import flatten

    text = load_text_artifact(client, record.run_id, CONFIG_ARTIFACT)
    data = _parse_config(text) if text else None
    return flatten(data) if data is not None else dict(record.params)


def _parse_config(text: str) -> dict[str, Any] | None:
    """config.yaml as plain data, read with OmegaConf's YAML rules (which wrote it)."""
    from omegaconf import OmegaConf

    try:
        data = OmegaConf.to_container(OmegaConf.create(text), resolve=False)
    except Exception:  # malformed YAML or a list: not a config
        return None
    return data if isinstance(data, dict) else None


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
