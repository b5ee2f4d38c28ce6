"""Where runs are stored: the embedded SQLite store under ./mlruns, or any MLflow tracking URI."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from nnexp.tracking.redact import redact, split_credentials

DEFAULT_STORE_DIR = "mlruns"
KNOWN_SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "file", "databricks")


class StoreError(RuntimeError):
    """The tracking store cannot be used; the message is one line for the user."""


def default_tracking_uri(start_dir: str | os.PathLike[str] | None = None) -> str:
    """`sqlite:///<abs start dir>/mlruns/mlflow.db`: one store per project folder, for every job."""
    root = Path(start_dir or os.getcwd()).resolve() / DEFAULT_STORE_DIR
    return f"sqlite:///{root / 'mlflow.db'}"


def resolve_tracking_uri(configured: str | None, start_dir: str | os.PathLike[str] | None = None
                         ) -> str:
    """tracking.uri wins, then MLFLOW_TRACKING_URI, then the embedded default store."""
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(start_dir)
    check_uri(uri)
    return uri


def check_uri(uri: str) -> None:
    """Refuse URIs MLflow cannot use, with a one-line reason, before any run is created."""
    scheme = urlparse(uri).scheme.split("+")[0]
    if scheme not in KNOWN_SCHEMES and not (len(scheme) <= 1):  # '' or a Windows drive: a path
        raise StoreError(
            f"tracking.uri: unknown scheme '{scheme}' in {redact(uri)!r}; allowed: "
            + ", ".join(KNOWN_SCHEMES)
        )
    if scheme == "sqlite":
        db = Path(sqlite_path(uri))
        folder = db.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"tracking.uri: cannot create store folder '{folder}': "
                             f"{exc.strerror}") from None
        if not os.access(folder, os.W_OK) or (db.exists() and not os.access(db, os.W_OK)):
            raise StoreError(f"tracking.uri: store '{db}' is not writable")
    elif scheme in ("http", "https"):
        _probe_server(uri)


def _probe_server(uri: str, timeout_s: float = 3.0) -> None:
    """Fail in seconds, not after MLflow's minutes of retries, when no server answers.

    A `user:password@` in the URI is sent as HTTP basic auth (as MLflow's client does), never
    as part of the host name, and never shown.
    """
    import urllib.error
    import urllib.request

    url, auth = split_credentials(uri)
    request = urllib.request.Request(url.rstrip("/") + "/health",
                                     headers={"Authorization": auth} if auth else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s):
            pass
    except urllib.error.HTTPError:
        return  # something answers; MLflow reports its own errors
    except (urllib.error.URLError, OSError) as exc:
        reason = redact(str(getattr(exc, "reason", exc)))
        raise StoreError(f"tracking.uri: no MLflow server answers at {redact(uri)} "
                         f"({reason})") from None


def sqlite_path(uri: str) -> str:
    """The database file behind a sqlite:/// URI."""
    return uri[len("sqlite:///"):]


def artifact_root(uri: str) -> str | None:
    """For the embedded store: `<store folder>/artifacts`; other stores choose their own."""
    if not uri.startswith("sqlite:///"):
        return None
    return str(Path(sqlite_path(uri)).resolve().parent / "artifacts")


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "experiment"


@contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Serialise first contact with an SQLite store across processes.

    MLflow creates and migrates the schema on first use; eight processes doing it at once on a
    new file fail with `duplicate column name`. A file lock beside the database prevents it.
    """
    lock_path = Path(sqlite_path(uri)).with_suffix(".lock")
    if not uri.startswith("sqlite:///") or not lock_path.parent.is_dir():
        yield
        return
    import fcntl

    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def open_client(uri: str) -> Any:
    """An MlflowClient on `uri`; creating it creates (and migrates) the store, so under the lock."""
    from mlflow.tracking import MlflowClient

    if redact(uri) != uri:  # MLflow prints run URLs, password included, when a run ends
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    with store_lock(uri):
        return MlflowClient(tracking_uri=uri)


def ensure_experiment(client: Any, name: str, uri: str) -> str:
    """The id of experiment `name`, created (artifacts under mlruns/artifacts/) if missing.

    Under the store lock, so concurrent jobs neither race to create the schema nor the
    experiment; on a server store the loser of a creation race reads the winner's experiment.
    """
    from mlflow.exceptions import MlflowException

    with store_lock(uri):
        found = client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        root = artifact_root(uri)
        location = str(Path(root) / _safe_name(name)) if root else None
        try:
            return client.create_experiment(name, artifact_location=location)
        except MlflowException:
            found = client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id
