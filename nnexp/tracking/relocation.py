"""A store copied or moved to another folder: its SQLite file still names the artifact folders
where it was made (MLflow records them as absolute paths).

`follow_moved_store` is called before a store is read for a command (reproduce, diff). When an
experiment's recorded folder is missing, or belongs to another store (the original beside its
own `mlflow.db`), and this store has the same folder of its own (`mlruns/artifacts/<name>`), the
store is made to record its own folders (one line says so): reads then come from this store's
files and new runs (a reproduction) write there, never into the original. Without such a folder
the store is refused in one line naming the folder that cannot be reached.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from nnexp.tracking.records import RecordError
from nnexp.tracking.store import sqlite_path, store_lock

# where MLflow's SQLite schema keeps artifact locations
PATH_COLUMNS = (("experiments", "artifact_location"), ("runs", "artifact_uri"),
                ("logged_models", "artifact_location"), ("model_versions", "storage_location"),
                ("model_versions", "source"))


def local_path(location: str | None) -> Path | None:
    """An artifact location as a local absolute path, or None for a remote one."""
    if not location:
        return None
    path = location[len("file://"):] if location.startswith("file://") else location
    return Path(path) if path.startswith("/") else None


def _store_folder(recorded: Path) -> Path | None:
    """The folder of the store that chose `recorded`: `<store>/artifacts/<experiment>` (nnexp)
    or `<store>/<experiment id>` (MLflow's default experiment); None for any other place."""
    if recorded.parent.name == "artifacts":
        return recorded.parent.parent
    return recorded.parent if recorded.name.isdigit() else None


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def follow_moved_store(uri: str, client: Any, experiment_id: str) -> str | None:
    """None when experiment `experiment_id`'s artifacts are where the store says (or not in a
    folder nnexp chose); a one-line note when the store was moved and now records its own
    folder; RecordError (one line, naming the unreachable folder) when it cannot be followed."""
    if not uri.startswith("sqlite:///"):
        return None
    db = Path(sqlite_path(uri)).resolve()
    here = db.parent
    experiment = client.get_experiment(experiment_id)
    recorded = local_path(experiment.artifact_location)
    if recorded is None or _within(recorded, here):
        return None
    old = _store_folder(recorded)
    if old is None:
        return None
    other = old / db.name
    if other.is_file() and not other.samefile(db):
        why = f"which belongs to the store {other}"
    elif not recorded.exists():
        why = "which is missing"
    else:
        return None  # a folder of no other store: where the user chose to keep them
    mine = here / recorded.relative_to(old)
    if not mine.is_dir():
        raise RecordError(f"the artifacts of experiment '{experiment.name}' are recorded in "
                          f"{recorded}, {why}, and this store has no {mine}: refused (copy the "
                          f"folder beside {db.name}, or pass --tracking-uri of the original)")
    if not os.access(here, os.W_OK) or not os.access(db, os.W_OK):
        raise RecordError(f"this store was moved or copied: it records its artifacts in {old}, "
                          f"{why}, and it is read-only here, so it cannot be made to record "
                          f"{here}: make {here} writable once, or pass --tracking-uri of the "
                          "original")
    with store_lock(uri):
        _rewrite(db, str(old), str(here))
    how = "copied" if other.is_file() else "moved"
    return (f"note: this store was {how}: it recorded its artifacts in {old}, {why}; they are "
            f"read and written in {here}, its own folder, from now on")


def _rewrite(db: Path, old: str, new: str) -> None:
    """Every artifact location under `old` made the same place under `new`, in one transaction."""
    with closing(sqlite3.connect(db, timeout=60)) as conn, conn:
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table, column in PATH_COLUMNS:
            if table not in tables:
                continue
            for scheme in ("", "file://"):
                prefix = f"{scheme}{old}/"
                conn.execute(f"UPDATE {table} SET {column} = ? || substr({column}, ?) "  # noqa: S608
                             f"WHERE substr({column}, 1, ?) = ?",
                             (f"{scheme}{new}", len(prefix), len(prefix), prefix))
