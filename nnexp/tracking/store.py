"""Where runs are stored: the embedded SQLite store under ./mlruns, or any MLflow tracking URI."""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from nnexp.config import user_errors
from nnexp.config.paths import from_launch_dir, launch_dir
from nnexp.record.redact import redact
from nnexp.tracking.errors import StoreError, StoreFault, StoreUnavailable

DEFAULT_STORE_DIR = "mlruns"
CACHE_ENV = "NNEXP_CACHE_DIR"
KNOWN_SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "file", "databricks")


SQLITE_MAGIC = b"SQLite format 3\x00"
MAX_FOLDER_NAME = 120  # an experiment's artifact folder: far below NAME_MAX (255 bytes)


def default_tracking_uri(start_dir: str | os.PathLike[str] | None = None) -> str:
    """`sqlite:///<abs start dir>/mlruns/mlflow.db`: one store per project folder, for every job.

    The start dir defaults to where the command was launched, also in a job Hydra moved into
    its output folder (hydra.job.chdir=true).
    """
    root = Path(start_dir or launch_dir()).resolve() / DEFAULT_STORE_DIR
    return f"sqlite:///{root / 'mlflow.db'}"


def resolve_tracking_uri(configured: str | None, start_dir: str | os.PathLike[str] | None = None,
                         *, probe: bool = True) -> str:
    """tracking.uri wins, then MLFLOW_TRACKING_URI, then the embedded default store.

    A relative SQLite or file path is made absolute against the start dir, as above.
    """
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(start_dir)
    uri = absolute_store_uri(uri, start_dir)
    check_uri(uri, probe=probe)
    return uri


def absolute_store_uri(uri: str, start_dir: str | os.PathLike[str] | None = None) -> str:
    """`sqlite:///rel/mlflow.db` or a bare relative folder, made absolute against the launch
    folder (or `start_dir`); any other URI unchanged."""
    base = Path(start_dir) if start_dir else None
    if uri.startswith("sqlite:///") and sqlite_path(uri) not in ("", ":memory:"):
        return "sqlite:///" + from_launch_dir(sqlite_path(uri), base)
    if not uri.startswith("sqlite:") and len(urlparse(uri).scheme) <= 1:  # a path, not a URI
        return from_launch_dir(uri, base)
    return uri


def outbox_root(uri: str) -> Path:
    """Where runs keep what the store has not confirmed yet: with an SQLite store's own files,
    else in the project's default store folder."""
    if uri.startswith("sqlite:///"):
        return store_files_dir(uri) / "outbox"
    return Path(launch_dir()).resolve() / DEFAULT_STORE_DIR / "outbox"


def store_files_dir(uri: str) -> Path:
    """The folder for nnexp's own files about an SQLite store (journal, lock): the store's
    folder when it is an `mlruns/` one, else a folder of the user's cache named after the file.

    A database file a user named (`sqlite:///notebook.db`) often sits in their working folder,
    which must not fill with nnexp's bookkeeping; the path depends on the URI alone, so every
    process and `nnexp.runs` find the same folder.
    """
    db = Path(sqlite_path(uri)).resolve()
    if db.parent.name == DEFAULT_STORE_DIR:
        return db.parent
    digest = hashlib.sha256(str(db).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return cache_dir() / "stores" / f"{_safe_name(db.stem)}-{digest}"


def cache_dir() -> Path:
    """nnexp's per-user cache: NNEXP_CACHE_DIR, else $XDG_CACHE_HOME/nnexp (~/.cache/nnexp)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nnexp"


def describe_store(uri: str) -> str:
    """The store as a user would name it: the database file, or the server's address."""
    return sqlite_path(uri) if uri.startswith("sqlite:///") else uri


def check_uri(uri: str, *, probe: bool = True) -> None:
    """Refuse URIs MLflow cannot use, with a one-line reason, before any run is created."""
    scheme = urlparse(uri).scheme.split("+")[0]
    if scheme not in KNOWN_SCHEMES and not (len(scheme) <= 1):  # '' or a Windows drive: a path
        raise StoreError(
            f"tracking.uri: unknown scheme '{scheme}' in {redact(uri)!r}; allowed: "
            + ", ".join(KNOWN_SCHEMES)
        )
    if (scheme == "file" or len(scheme) <= 1) and not _file_store_allowed():
        from importlib.metadata import version

        raise StoreError(
            f"tracking.uri: {uri!r} is MLflow's file store, which MLflow {version('mlflow')} "
            f"refuses; leave tracking.uri unset for the SQLite default ({default_tracking_uri()})"
            " or give a sqlite:/// path (old runs: `mlflow migrate-filestore`)")
    if scheme == "sqlite":
        db = Path(sqlite_path(uri))
        folder = db.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"tracking.uri: cannot create store folder '{folder}': "
                             f"{exc.strerror}") from None
        if db.is_dir():
            raise StoreError(f"tracking.uri: '{db}' is a folder; the store must be an SQLite "
                             "database file (or a path where one can be created)")
        if not os.access(folder, os.W_OK) or (db.exists() and not os.access(db, os.W_OK)):
            raise StoreError(f"tracking.uri: store '{db}' is not writable")
        check_sqlite_file(db)
    elif scheme in ("http", "https") and probe:
        probe_server(uri)


def _file_store_allowed() -> bool:
    """MLflow's own opt-in to its deprecated file store."""
    return os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() in ("true", "1")


def check_sqlite_file(db: Path) -> None:
    """Refuse a database file that is not SQLite or is shorter than its header says (a copy or a
    download cut short), before a run is created in it. Reads the header and the schema table
    only: a full integrity check would read the whole store on every run."""
    if not db.is_file() or db.stat().st_size == 0:
        return  # MLflow creates the store
    with open(db, "rb") as handle:
        header = handle.read(100)
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        raise StoreFault(f"tracking.uri: '{db}' is not an SQLite database (damaged or another "
                         "kind of file); restore it from a backup or use a new path")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    counted = header[24:28] == header[92:96]  # the page count is valid only when these agree
    size = db.stat().st_size
    if counted and size < pages * page_size:
        raise StoreFault(f"tracking.uri: '{db}' is truncated ({size} bytes of "
                         f"{pages * page_size}); restore it from a backup or use a new path")
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0) as connection:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        return  # locked by a writer, or similar: MLflow waits and reports it
    except sqlite3.DatabaseError as exc:
        raise StoreFault(f"tracking.uri: '{db}' is damaged ({exc}); restore it from a backup "
                         "or use a new path") from None


def describe_store_fault(exc: BaseException) -> str | None:
    """One line when `exc` (or what it wraps) says the SQLite store is damaged, else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, StoreFault):
            return str(current).splitlines()[0]
        inner = getattr(current, "orig", None)  # SQLAlchemy keeps the driver's error here
        for candidate in (current, inner):
            if (isinstance(candidate, sqlite3.DatabaseError)
                    and not isinstance(candidate, sqlite3.OperationalError)):
                return (f"tracking store is damaged ({candidate}); restore its database from a "
                        "backup or point tracking.uri at a new file")
        current = current.__cause__ or current.__context__
    return None


def abort_for(exc: Exception, context: str) -> user_errors.UserAbort:
    """`exc` as a UserAbort: a damaged store's line (exit 1), else the user mistake's line
    (exit 2), or `context` and the error for a bug."""
    fault = describe_store_fault(exc)
    if fault is not None:
        return user_errors.UserAbort(fault, user_errors.EXIT_RUN_FAILED)
    return user_errors.abort_for(exc, context)


PROBE_ENDPOINT = "/api/2.0/mlflow/experiments/search"  # what a run asks first (a read)


def probe_server(uri: str, timeout_s: float = 10.0) -> None:
    """Fail in seconds, not after MLflow's minutes of retries, when the server cannot take runs.

    The probe is a real API request sent by MLflow's own client code, so it carries what every
    request of the run will carry: the Host header, credentials (`user:password@` in the URI,
    or MLFLOW_TRACKING_USERNAME/PASSWORD/TOKEN) and TLS settings. `/health` is not enough:
    MLflow 3 answers it for any Host, then refuses every API call whose Host header is not on
    its `--allowed-hosts` list. Nothing the server refuses for good is retried.
    """
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    try:
        response = http_request(get_default_host_creds(uri), PROBE_ENDPOINT, "GET",
                                max_retries=0, timeout=timeout_s, raise_on_status=False,
                                params={"max_results": 1})
    except Exception as exc:  # noqa: BLE001 - requests' and MLflow's errors share no type
        raise StoreUnavailable(f"tracking.uri: no MLflow server answers at {redact(uri)} "
                               f"({_connection_failure(exc)})") from None
    problem = describe_refusal(uri, response.status_code, response.text)
    if problem is None:
        return
    if response.status_code >= 500 or response.status_code == 429:
        raise StoreUnavailable(problem)  # a server restarting, or its database down
    raise StoreError(problem)


def describe_refusal(uri: str, status: int, body: str) -> str | None:
    """One line for an answer to the probe that no run could get past, else None."""
    where = f"the MLflow server at {redact(uri)}"
    said = redact(body.strip().splitlines()[0][:200]) if body.strip() else "no details"
    if status == 403 and "Invalid Host header" in body:
        host = host_header(uri)
        return (f"tracking.uri: {where} refuses the host name '{host}' (HTTP 403): start the "
                f"server with --allowed-hosts '{host}' (a comma-separated list that replaces "
                "MLflow's default of localhost and private addresses: list every name clients "
                "use), or use an address it allows")
    if status == 401:
        return (f"tracking.uri: {where} asks for credentials (HTTP 401): set "
                "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD")
    if status == 403:
        return f"tracking.uri: {where} refuses access (HTTP 403: {said})"
    if status == 404:
        return (f"tracking.uri: {redact(uri)} answers but has no MLflow tracking API "
                f"(HTTP 404 for {PROBE_ENDPOINT}); check the address and any path prefix")
    if status >= 500 or status == 429:
        return f"tracking.uri: {where} cannot serve requests now (HTTP {status}: {said})"
    return None


def host_header(uri: str) -> str:
    """The Host header a client sends for `uri`: host name, and the port when one is given."""
    parts = urlparse(uri)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    return f"{host}:{parts.port}" if parts.port else host


def _connection_failure(exc: BaseException) -> str:
    """Why a connection failed, in a few words (`[Errno 111] Connection refused`, `timed out`)."""
    text = str(exc)
    found = re.search(r"\[Errno -?\d+\] [^'\")\]]+", text)
    if found:
        return redact(found.group(0).strip())
    if "timed out" in text or "timeout" in text.lower():
        return "timed out"
    return redact(text.splitlines()[0][:200]) if text else type(exc).__name__


def sqlite_path(uri: str) -> str:
    """The database file behind a sqlite:/// URI."""
    return uri[len("sqlite:///"):]


def artifact_root(uri: str) -> str | None:
    """For the embedded store: `<store folder>/artifacts`; other stores choose their own."""
    if not uri.startswith("sqlite:///"):
        return None
    return str(Path(sqlite_path(uri)).resolve().parent / "artifacts")


def _safe_name(name: str) -> str:
    """A folder name for an experiment's artifacts; long names are cut and keep a hash."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "experiment"
    if len(safe) <= MAX_FOLDER_NAME:
        return safe
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"{safe[:MAX_FOLDER_NAME - 13]}-{digest}"


@contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Serialise first contact with an SQLite store across processes.

    MLflow creates and migrates the schema on first use; eight processes doing it at once on a
    new file fail with `duplicate column name`. A file lock (`store_files_dir`) prevents it.
    """
    if not uri.startswith("sqlite:///") or not Path(sqlite_path(uri)).parent.is_dir():
        yield
        return
    folder = store_files_dir(uri)
    lock_path = folder / f"{Path(sqlite_path(uri)).stem}.lock"
    import fcntl

    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path, "a")  # noqa: SIM115 - closed below
    except OSError:
        if not lock_path.is_file():  # a read-only folder: nobody can create a store there
            yield
            return
        handle = open(lock_path)  # noqa: SIM115 - flock needs no write access
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_PREPARED: set[str] = set()  # SQLite stores this process has seen complete


def open_client(uri: str) -> Any:
    """An MlflowClient on `uri`; a new SQLite store is created atomically first, under the lock.

    MLflow logs a traceback for every locked-database error; nnexp retries those itself and
    says so in one line, so that logger is silenced.
    """
    import logging

    from mlflow.tracking import MlflowClient

    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)

    # MLflow prints a run's URL (with any password in it) when a run ends on a server; nnexp
    # says itself, in one line, where the run was recorded
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    from nnexp.tracking.sqlite_concurrency import install_connection_setup, use_wal, writable

    install_connection_setup()
    with store_lock(uri):
        db = Path(sqlite_path(uri))
        if uri.startswith("sqlite:///") and uri not in _PREPARED and writable(db):
            from nnexp.tracking.schema_head import empty_store_template, remember_schema_head
            from nnexp.tracking.sqlite_schema import prepare_sqlite_store

            remember_schema_head(cache_dir)
            note = prepare_sqlite_store(db, empty_store_template(cache_dir()))
            if note:
                print(note, file=sys.stderr)
            if db.parent.name == DEFAULT_STORE_DIR:  # a file the user named keeps its mode
                use_wal(db)
            _PREPARED.add(uri)
        return MlflowClient(tracking_uri=uri)


def ensure_experiment(client: Any, name: str, uri: str) -> str:
    """The id of experiment `name`, created (artifacts under mlruns/artifacts/) if missing, and
    marked as model training (`mark_model_training`).

    Created under the store lock, so concurrent jobs do not race to create it (an existing one is
    read without the lock: sixteen jobs starting together need not queue); on a server store
    the loser of a creation race reads the winner's experiment.
    """
    from mlflow.exceptions import MlflowException

    from nnexp.record.tags import EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND

    found = client.get_experiment_by_name(name)  # the usual case needs no lock
    if found is not None:
        mark_model_training(client, found.experiment_id, found.tags)
        return found.experiment_id
    with store_lock(uri):
        found = client.get_experiment_by_name(name)
        if found is not None:
            mark_model_training(client, found.experiment_id, found.tags)
            return found.experiment_id
        root = artifact_root(uri)
        location = str(Path(root) / _safe_name(name)) if root else None
        try:
            return client.create_experiment(name, artifact_location=location,
                                            tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING_KIND})
        except MlflowException:
            found = client.get_experiment_by_name(name)
            if found is None:
                raise
            mark_model_training(client, found.experiment_id, found.tags)
            return found.experiment_id


def mark_model_training(client: Any, experiment_id: str,
                        experiment_tags: dict[str, str] | None = None) -> None:
    """Tag an experiment as model training (MLflow 3's `mlflow.experimentKind`), unless it says
    what it is already, so the UI does not take it for a GenAI app's."""
    from nnexp.record.tags import EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND

    if experiment_tags is None:
        experiment_tags = client.get_experiment(experiment_id).tags
    if EXPERIMENT_KIND_TAG not in experiment_tags:
        client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND)
