"""Reading a run's record back from any MLflow store: info, config, overrides, metric histories.

Every failure (no store, unknown run, missing artifact) is a RecordError with a one-line reason.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nnexp.record.history_comparison import MetricPoint
from nnexp.record.redact import redact
from nnexp.tracking.store import (
    StoreError,
    check_uri,
    default_tracking_uri,
    describe_store,
    sqlite_path,
)

CONFIG_ARTIFACT = "config.yaml"
OVERRIDES_ARTIFACT = "overrides.yaml"
MAX_YAML_BYTES = 1_000_000  # a logged config is a few KB; anything larger was not written by nnexp
MAX_YAML_DEPTH = 32  # configs nest 3 levels; deep nesting only serves to exhaust the parser


class RecordError(StoreError):
    """A run's record cannot be read (no store, unknown run id, missing artifact); one line."""


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


def open_run_store(given: str | None, run_id: str) -> tuple[str, Any]:
    """The store that holds `run_id`, and a client on it.

    With --tracking-uri (`given`) only that store is read. Without it, the store MLFLOW_TRACKING_URI
    or the folder's default names comes first, then the stores runs from this folder were
    recorded in (`known_stores`): a run id copied from a server's UI is found there, and a note
    says where. When no store has the run, the error names those searched.
    """
    from nnexp.tracking.known_stores import REGISTRY, remembered

    chosen = tracking_uri(given)
    others = [uri for uri in remembered() if uri != chosen]
    if given or not others:
        client = open_store(chosen)
        if not has_run(client, run_id):
            holder = next((uri for uri in others if _look_up(uri, run_id)[0]), None)
            hint = f"; it is in {redact(holder)}: pass --tracking-uri {redact(holder)}" \
                if holder else ""
            raise RecordError(f"unknown run id '{run_id}' in {redact(chosen)}{hint}")
        return chosen, client
    found, problem = _look_up(chosen, run_id)
    if found:
        return chosen, open_store(chosen)
    where = redact(describe_store(chosen)) + (f" ({problem})" if problem else "")
    for uri in others:
        if _look_up(uri, run_id)[0]:
            print(f"note: run {run_id} is not in {where}; reading it from {redact(uri)} (listed "
                  f"in mlruns/{REGISTRY})", file=sys.stderr)
            return uri, open_store(uri)
    raise RecordError(f"unknown run id '{run_id}' in {where} and in the {len(others)} other "
                      "store(s) runs from this folder used; pass --tracking-uri with the store "
                      "it was recorded in")


def has_run(client: Any, run_id: str) -> bool:
    """Whether the store has `run_id`; other failures (an unreadable store) are raised."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_run(run_id)
    except MlflowException as exc:
        if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(exc):
            return False
        raise
    return True


def _look_up(uri: str, run_id: str) -> tuple[bool, str | None]:
    """(whether the store at `uri` has `run_id`, why it could not be read, or None)."""
    if uri.startswith("sqlite:///") and not Path(sqlite_path(uri)).is_file():
        return False, "no store there"
    try:
        return has_run(open_store(uri), run_id), None
    except Exception as exc:  # noqa: BLE001 - gone, down or damaged: the run is not read there
        return False, redact(first_line(exc))


def load_run(client: Any, run_id: str) -> RunRecord:
    """The run's info, tags, params and latest metrics; RecordError if the store has no such run."""
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
        experiment = client.get_experiment(run.info.experiment_id)
    except MlflowException as exc:
        if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(exc):
            raise RecordError(f"unknown run id '{run_id}' in {redact(client.tracking_uri)}"
                              ) from None
        raise RecordError(f"cannot read run '{run_id}': {redact(first_line(exc))}") from None
    except Exception as exc:  # e.g. a file that is not an MLflow database
        raise RecordError(f"cannot read the store {redact(client.tracking_uri)}: "
                          f"{redact(first_line(exc))}") from None
    return RunRecord(
        run_id=run.info.run_id, name=run.info.run_name or "", experiment_id=run.info.experiment_id,
        experiment=experiment.name, status=run.info.status, start_time=run.info.start_time or 0,
        tags=dict(run.data.tags), params=dict(run.data.params), metrics=dict(run.data.metrics),
    )


def download_artifact(client: Any, run_id: str, name: str, dest: str | os.PathLike[str],
                      max_bytes: int) -> Path | None:
    """A run's artifact file downloaded into `dest`, or None when the run has no such file.

    Anything read from a store is untrusted: a file larger than `max_bytes` is refused (before
    downloading when the store lists its size) with a RecordError.
    """
    listed = _listed_size(client, run_id, name)
    if listed is not None and listed > max_bytes:
        raise RecordError(_too_large(run_id, name, listed, max_bytes))
    try:
        local = Path(client.download_artifacts(run_id, name, str(dest)))
    except Exception:  # MLflow raises different types per artifact store for a missing file
        return None
    if not local.is_file():
        return None
    if local.stat().st_size > max_bytes:
        raise RecordError(_too_large(run_id, name, local.stat().st_size, max_bytes))
    return local


def _listed_size(client: Any, run_id: str, name: str) -> int | None:
    folder = str(Path(name).parent) if "/" in name else None
    try:
        entries = client.list_artifacts(run_id, folder)
    except Exception:  # the download below reports a missing file or an unreachable store
        return None
    sizes = [e.file_size for e in entries if e.path == name and not e.is_dir]
    return int(sizes[0]) if sizes and sizes[0] is not None else None


class RunFiles:
    """A run's own artifact files, read from its artifact location (the caller read the run):
    each folder listed once, each file fetched alone. MLflow's `runs:/` path reads the run again
    and searches its logged models for every listing and download (6 requests a file on a
    tracking server, 2 here, none for a file this process sent: `sent_files`); a logged
    model's files are not found here."""

    def __init__(self, client: Any, run_id: str, artifact_uri: str) -> None:
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        self.run_id = run_id
        self.repo = get_artifact_repository(artifact_uri, tracking_uri=client.tracking_uri)
        self._listed: dict[str | None, dict[str, Any]] = {}

    def download(self, name: str, dest: str | os.PathLike[str], max_bytes: int) -> Path | None:
        """`name` downloaded into `dest`, or None when the run has no such file; a file larger
        than `max_bytes` is refused with a RecordError, as `download_artifact` does."""
        from nnexp.tracking.sent_files import recall

        sent = recall(self.run_id, name)
        if sent is not None:  # this process sent it: the bytes the store holds
            return self._write(sent, name, dest, max_bytes)
        folder = str(Path(name).parent) if "/" in name else None
        try:
            if folder not in self._listed:
                self._listed[folder] = {e.path: e for e in self.repo.list_artifacts(folder)}
        except Exception:  # noqa: BLE001 - unlisted: the download says whether the file is there
            return self._fetch(name, dest, max_bytes, listed=False)
        entry = self._listed[folder].get(name)
        if entry is None or entry.is_dir:
            return None
        if entry.file_size is not None and entry.file_size > max_bytes:
            raise RecordError(_too_large(self.run_id, name, int(entry.file_size), max_bytes))
        return self._fetch(name, dest, max_bytes, listed=True)

    def _write(self, data: bytes, name: str, dest: str | os.PathLike[str],
               max_bytes: int) -> Path:
        if len(data) > max_bytes:
            raise RecordError(_too_large(self.run_id, name, len(data), max_bytes))
        local = Path(dest) / name
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(data)
        return local

    def _fetch(self, name: str, dest: str | os.PathLike[str], max_bytes: int, *,
               listed: bool) -> Path | None:
        local = Path(dest) / name
        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            if listed:  # a listed file: the public download would list it again to tell
                self.repo._download_file(name, str(local))
            else:
                local = Path(self.repo.download_artifacts(name, str(dest)))
        except Exception:  # MLflow raises different types per artifact store for a missing file
            return None
        if not local.is_file():
            return None
        if local.stat().st_size > max_bytes:
            raise RecordError(_too_large(self.run_id, name, local.stat().st_size, max_bytes))
        return local


def _too_large(run_id: str, name: str, size: int, limit: int) -> str:
    return (f"run '{run_id}': {name} is {size} bytes, more than the {limit} bytes nnexp ever "
            "writes there; refused unread")


def load_text_artifact(client: Any, run_id: str, name: str,
                       max_bytes: int = MAX_YAML_BYTES) -> str | None:
    """The UTF-8 text of a run's artifact (at most `max_bytes`), or None when it has none."""
    with tempfile.TemporaryDirectory(prefix="nnexp-record-") as tmp:
        path = download_artifact(client, run_id, name, tmp, max_bytes)
        if path is None:
            return None
        try:
            return path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise RecordError(f"run '{run_id}': {name} is not UTF-8 text") from None


def load_config(client: Any, run_id: str, links: dict[str, str] | None = None) -> dict[str, Any]:
    """The run's resolved config (config.yaml) as plain data; RecordError if it was not logged.

    `links` are the schema's own interpolations (`{"optimizer.lr": "${lr}"}`), the only ones
    a logged config may hold; see `parse_config`.
    """
    text = load_text_artifact(client, run_id, CONFIG_ARTIFACT)
    if text is None:
        folder = missing_artifact_folder(client, run_id)
        if folder is not None:
            raise RecordError(f"run '{run_id}': its artifact folder {folder} cannot be reached "
                              "(missing): nothing to rebuild its config from")
        raise RecordError(f"run '{run_id}' has no {CONFIG_ARTIFACT} artifact: nothing to rebuild "
                          "its config from")
    return parse_config(text, f"run '{run_id}': {CONFIG_ARTIFACT}", links)


def missing_artifact_folder(client: Any, run_id: str) -> str | None:
    """The run's local artifact folder when it cannot be there: the store folder it was
    recorded under is missing (a store moved without it). A run that logged no file has no
    folder of its own, in a store folder that exists."""
    location = client.get_run(run_id).info.artifact_uri or ""
    path = location[len("file://"):] if location.startswith("file://") else location
    if not path.startswith("/") or Path(path).is_dir():
        return None
    parts = Path(path).parents  # <store>/artifacts/<experiment>/<run id>/artifacts
    store_folder = parts[3] if len(parts) > 3 else parts[-1]
    return None if store_folder.is_dir() else path


def load_overrides(client: Any, run_id: str) -> list[str]:
    """The command-line overrides the run was composed with (empty if none were logged)."""
    text = load_text_artifact(client, run_id, OVERRIDES_ARTIFACT)
    if not text:
        return []
    data = read_yaml(text, f"run '{run_id}': {OVERRIDES_ARTIFACT}")
    if data is None:
        return []
    if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
        raise RecordError(f"run '{run_id}': {OVERRIDES_ARTIFACT} is not a list of overrides")
    return data


def metric_histories(client: Any, record: RunRecord) -> dict[str, list[MetricPoint]]:
    """Every logged value of every metric, in (step, time) order."""
    histories = {}
    for key in sorted(record.metrics):
        points = sorted(client.get_metric_history(record.run_id, key),
                        key=lambda m: (m.step, m.timestamp))
        histories[key] = [MetricPoint(m.step, float(m.value), m.timestamp - record.start_time)
                          for m in points]
    return histories


def flat_config(client: Any, record: RunRecord) -> tuple[dict[str, str], str | None]:
    """The run's config as flat dotted keys: from config.yaml, or from its params without it;
    where config.yaml disagrees with the params (edited after the run), the params are trusted
    and the second value says where they disagree (one line), else None."""
    from nnexp.record.params import describe_disagreements, disagreements, flatten

    text = load_text_artifact(client, record.run_id, CONFIG_ARTIFACT)
    if text is None:
        return dict(record.params), None
    flat = flatten(parse_config(text, f"run '{record.run_id}': {CONFIG_ARTIFACT}"))
    found = disagreements(flat, record.params)
    flat.update({key: param for key, _, param in found})
    return flat, describe_disagreements(found) if found else None


def read_yaml(text: str, what: str) -> Any:
    """Logged YAML as plain data, read as data: anchors and aliases (the "billion laughs" of a
    few bytes expanding to gigabytes) and nesting deeper than any config are refused first."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise RecordError(f"{what} uses YAML anchors or aliases (&/*), which nnexp never "
                                  "writes; refused unread")
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    raise RecordError(f"{what} is nested deeper than {MAX_YAML_DEPTH} levels; "
                                      "refused unread")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RecordError(f"{what} is not valid YAML ({first_line(exc)})") from None


def parse_config(text: str, what: str, links: dict[str, str] | None = None) -> dict[str, Any]:
    """A logged config.yaml as plain data, read with OmegaConf's YAML rules (which wrote it).

    A logged config holds resolved values, so an interpolation in it (`${oc.env:SECRET}`) was
    planted: it is refused, never evaluated, unless it is one of the schema's own `links`.
    """
    from omegaconf import OmegaConf

    if not isinstance(read_yaml(text, what), dict):
        raise RecordError(f"{what} is not a YAML mapping")
    data = OmegaConf.to_container(OmegaConf.create(text), resolve=False)
    assert isinstance(data, dict)
    for key, value in _strings(data):
        if "${" in value and (links or {}).get(key) != value:
            shown = value if len(value) <= 60 else value[:57] + "..."
            raise RecordError(f"{what}: {key}: {shown!r} is an interpolation; a logged config "
                              "holds resolved values, so it is refused (nothing was evaluated)")
    return data


def _strings(node: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Every string value in nested dicts and lists, with its dotted key."""
    if isinstance(node, dict):
        return [found for k, v in node.items() for found in _strings(v, f"{prefix}{k}.")]
    if isinstance(node, list):
        return [found for i, v in enumerate(node) for found in _strings(v, f"{prefix}{i}.")]
    return [(prefix[:-1], node)] if isinstance(node, str) else []


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (or its type), for one-line errors."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
