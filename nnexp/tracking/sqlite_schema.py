"""The embedded SQLite store is created atomically, and an interrupted creation is repaired.

MLflow creates its schema in steps that are not one transaction (create the tables, then run the
migrations); a process killed in between leaves a file on which every later run fails with
`table ... already exists`. nnexp builds the schema in a private file beside the store and renames
it into place, so `mlflow.db` is either absent or complete. A file left incomplete by another
client (an old nnexp, `mlflow ui`) is moved aside, never deleted, when it holds no run.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from nnexp.tracking.errors import StoreError
from nnexp.tracking.liveness import process_alive

BUILDING_SUFFIX = ".building-"  # mlflow.db.building-<pid>: a schema under construction


def prepare_sqlite_store(db: Path) -> str | None:
    """Make sure `db` is absent-then-complete; a one-line note when an incomplete file was moved.

    Call it under the store lock: it decides alone whether the file must be built.
    """
    db.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_builds(db)
    if not db.exists():
        _build(db)
        return None
    if _schema_complete(db):
        return None
    runs = _count_runs(db)
    if runs:
        raise StoreError(f"tracking store {db} has {runs} run(s) but an incomplete schema "
                         f"(no alembic_version); back it up, then run `mlflow db upgrade "
                         f"sqlite:///{db}`")
    aside = db.with_name(f"{db.name}.incomplete-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(db, aside)
    _build(db)
    return (f"note: {db} had an incomplete schema and no runs (a creation was interrupted); "
            f"moved it to {aside.name} and created the store again")


def _schema_complete(db: Path) -> bool:
    """True when MLflow finished creating the schema: its migration table has a version."""
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return False
        raise
    except sqlite3.DatabaseError:
        return True  # not a schema problem (a corrupt file): MLflow reports it, in one line
    return row is not None


def _count_runs(db: Path) -> int:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
        except sqlite3.OperationalError:  # no runs table yet
            return 0


def _build(db: Path) -> None:
    """Create MLflow's full schema in a private file, then rename it to `db` in one step."""
    from mlflow.store.db.utils import _initialize_tables, create_sqlalchemy_engine

    building = db.with_name(f"{db.name}{BUILDING_SUFFIX}{os.getpid()}")
    building.unlink(missing_ok=True)
    quiet = [logging.getLogger(n) for n in ("mlflow.store.db.utils", "alembic")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.WARNING)
    engine = create_sqlalchemy_engine(f"sqlite:///{building}")
    try:
        _initialize_tables(engine)
    finally:
        engine.dispose()
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)
    os.replace(building, db)


def _remove_abandoned_builds(db: Path) -> None:
    """Delete schema files whose builder died (a killed first run); they hold no data."""
    for path in db.parent.glob(f"{db.name}{BUILDING_SUFFIX}*"):
        pid = path.name[len(db.name) + len(BUILDING_SUFFIX):].split("-")[0]  # also its -journal
        if pid.isdigit() and not process_alive(int(pid)):
            path.unlink(missing_ok=True)
