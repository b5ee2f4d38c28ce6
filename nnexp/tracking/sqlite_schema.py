"""The embedded SQLite store is created atomically, and an interrupted creation is repaired.

MLflow creates its schema in steps that are not one transaction (create the tables, then run the
migrations); a process killed in between leaves a file on which every later run fails with
`table ... already exists`. nnexp builds the schema in a private file beside the store and renames
it into place, so `mlflow.db` is either absent or complete. A file left incomplete by another
client (an old nnexp, `mlflow ui`) is moved aside, never deleted, when it holds no run.

The schema depends only on the installed MLflow: the first store built is kept as a template in
nnexp's cache (`schema_head.empty_store_template`) and later stores start as a checked copy of it.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import time
from contextlib import closing, suppress
from pathlib import Path

from nnexp.tracking.errors import StoreError
from nnexp.tracking.liveness import process_alive

BUILDING_SUFFIX = ".building-"  # mlflow.db.building-<pid>: a schema under construction


def prepare_sqlite_store(db: Path, template: Path | None = None) -> str | None:
    """Make sure `db` is absent-then-complete; a one-line note when an incomplete file was moved.
    `template`: where an empty store of the newest schema is kept (copied, or built and kept).

    Call it under the store lock: it decides alone whether the file must be built.
    """
    db.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_builds(db)
    if not db.exists():
        _build(db, template)
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
    _build(db, template)
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


def _build(db: Path, template: Path | None = None) -> None:
    """Create MLflow's full schema in a private file (a copy of `template` when it is sound,
    else by MLflow's migrations, then kept as `template`), then rename it to `db` in one step."""
    building = db.with_name(f"{db.name}{BUILDING_SUFFIX}{os.getpid()}")
    building.unlink(missing_ok=True)
    if template is None or not _copy_template(template, building):
        _migrate(building)
        if template is not None:
            _keep_template(building, template)
    os.replace(building, db)


def _migrate(building: Path) -> None:
    """MLflow's own creation of its schema: its tables, then all of its migrations."""
    from mlflow.store.db.utils import _initialize_tables, create_sqlalchemy_engine

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


def _copy_template(template: Path, building: Path) -> bool:
    """Copy `template` to `building` if it is an empty store at MLflow's newest revision that
    SQLite finds sound; a template that is not is deleted (the next build keeps a new one)."""
    from nnexp.tracking.schema_head import latest_revision

    try:
        shutil.copyfile(template, building)
    except OSError:
        building.unlink(missing_ok=True)
        return False
    try:
        with closing(sqlite3.connect(f"file:{building}?mode=ro", uri=True)) as conn:
            sound = (conn.execute("PRAGMA quick_check").fetchone() == ("ok",)
                     and conn.execute("SELECT version_num FROM alembic_version").fetchall()
                     == [(latest_revision(),)]
                     and conn.execute("SELECT COUNT(*) FROM experiments").fetchone() == (0,))
    except sqlite3.Error:
        sound = False
    if not sound:
        building.unlink(missing_ok=True)
        with suppress(OSError):  # a read-only cache: built again each time, never trusted
            template.unlink(missing_ok=True)
    return sound


def _keep_template(built: Path, template: Path) -> None:
    """Keep a copy of the store just built as `template` (atomically; a read-only cache is fine)."""
    partial = template.with_name(f"{template.name}.{os.getpid()}")
    try:
        template.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, partial)
        os.replace(partial, template)
    except OSError:
        with suppress(OSError):
            partial.unlink(missing_ok=True)


def _remove_abandoned_builds(db: Path) -> None:
    """Delete schema files whose builder died (a killed first run); they hold no data."""
    for path in db.parent.glob(f"{db.name}{BUILDING_SUFFIX}*"):
        pid = path.name[len(db.name) + len(BUILDING_SUFFIX):].split("-")[0]  # also its -journal
        if pid.isdigit() and not process_alive(int(pid)):
            path.unlink(missing_ok=True)
