"""MLflow's newest SQL schema, remembered per MLflow install instead of made again by every
process: its revision, and an empty store built to it.

The first client on an SQL store checks that the database is at MLflow's newest migration; to
know which that is, MLflow loads all of its ~70 migration scripts (0.3 s a process, a tenth of
a default run besides imports). A new SQLite store takes all of those migrations to build (about
2 s of CPU and more of waiting on the disk, a run's first in a folder). Both depend only on the
installed MLflow, so they are kept in nnexp's cache folder under a key of MLflow's version and
the names of its migration files.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

REVISION = re.compile(r"[0-9a-f]{8,40}")


def _key(utils: Any) -> str:
    import mlflow

    versions = Path(utils.__file__).resolve().parents[1] / "db_migrations" / "versions"
    names = sorted(p.name for p in versions.glob("*.py"))
    text = "\n".join([mlflow.__version__, str(versions), *names])
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def empty_store_template(cache: Path) -> Path:
    """Where an empty SQLite store at this MLflow's newest schema is kept in the folder `cache`
    (`sqlite_schema` copies it for a new store, and builds it when it is missing)."""
    from mlflow.store.db import utils

    return cache / f"mlflow-empty-store-{_key(utils)}.db"


def latest_revision() -> str:
    """MLflow's newest schema revision (remembered, once `remember_schema_head` ran)."""
    from mlflow.store.db import utils

    return str(utils._get_latest_schema_revision())


def remember_schema_head(cache_dir: Callable[[], Path]) -> None:
    """Make MLflow read its newest schema revision from the folder `cache_dir()` names (nnexp's
    cache, looked up at each use); installed once per process."""
    from mlflow.store.db import utils

    if getattr(utils._get_latest_schema_revision, "nnexp_cached", False):
        return
    original = utils._get_latest_schema_revision
    key = _key(utils)

    def latest_schema_revision() -> str:
        path = cache_dir() / f"mlflow-schema-head-{key}"
        try:
            kept = path.read_text(encoding="utf-8").strip()
            if REVISION.fullmatch(kept):
                return kept
        except OSError:
            pass
        head = original()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f"{path.name}.{os.getpid()}")
            partial.write_text(head, encoding="utf-8")
            os.replace(partial, path)
        except OSError:  # a read-only cache folder: found again next time
            pass
        return head

    latest_schema_revision.nnexp_cached = True  # type: ignore[attr-defined]
    utils._get_latest_schema_revision = latest_schema_revision
