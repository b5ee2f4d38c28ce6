"""What a process asks the store once per run or once at all: the experiment's id, and where a new
run or logged model keeps its artifacts (each a request to a tracking server)."""

from __future__ import annotations

from typing import Any

from nnexp.tracking.store import ensure_experiment

_experiments: dict[tuple[str, str], str] = {}  # (uri, name) -> id: looked up once a process


def experiment_id_once(client: Any, name: str, uri: str) -> str:
    """The experiment's id, looked up (or created) once a process per store."""
    if (uri, name) not in _experiments:
        _experiments[(uri, name)] = ensure_experiment(client, name, uri)
    return _experiments[(uri, name)]


def know_artifact_location(uri: str, run: Any) -> None:
    """Give MLflow's client the new run's artifact store, which it would otherwise read back
    with the whole run (a request) before the first upload."""
    _remember_location(uri, run.info.run_id, run.info.artifact_uri)


def know_model_location(uri: str, model: Any) -> None:
    """Give MLflow's client a new logged model's artifact store, which it would otherwise read
    back (a request) before uploading the model's files."""
    _remember_location(uri, model.model_id, model.artifact_location)


def _remember_location(uri: str, key: str, location: str) -> None:
    if not uri.startswith(("http://", "https://")):
        return
    try:
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
        from mlflow.tracking._tracking_service import utils

        utils._artifact_repos_cache[key] = get_artifact_repository(location, tracking_uri=uri)
    except Exception:  # noqa: BLE001,S110 - a private cache: without it MLflow asks the store
        pass
