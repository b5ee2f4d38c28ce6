"""MLflow's newest SQL schema revision, remembered per MLflow install instead of found again by
every process.

The first client on an SQL store checks that the database is at MLflow's newest migration; to
know which that is, MLflow loads all of its ~70 migration scripts (0.3 s a process, a tenth of
a default run besides imports). The answer depends only on the installed MLflow, so it is kept in
nnexp's cache folder under a key of MLflow's version and the names of its migration files.
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
