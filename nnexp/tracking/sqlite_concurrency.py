"""The embedded SQLite store, set up for many processes at once and for a read-only folder.

WAL journal mode (set once on the file; it persists): readers never wait for a writer and a commit
appends to the log instead of rewriting the file, so sixteen runs writing one store hold its write
lock for milliseconds each. Every connection MLflow's engine opens waits up to `BUSY_TIMEOUT_MS`
for that lock, as MLflow's own sessions do, also for the statements it runs outside them. Not on a
network filesystem, where WAL's shared memory is not shared between hosts.

A WAL database in a folder the reader cannot write, whose writers have all closed it, is opened
`immutable` (SQLite could not create its `-shm` file otherwise): `predict`, `diff` and the other
readers work on a read-only store.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

BUSY_TIMEOUT_MS = 20_000  # MLflow's own sessions set this; engine-level statements get it too
NETWORK_FILESYSTEMS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "fuse.sshfs", "afs",
                       "glusterfs", "lustre", "ceph", "beegfs", "gpfs")
LOCKED = "database is locked"  # SQLite's words when another connection holds the write lock
_installed = False


def use_wal(db: Path) -> None:
    """Switch `db` to WAL journal mode unless it is in it already (a header byte says so) or
    sits on a network filesystem. A store busy with a client that is not nnexp is left alone:
    the next run tries again."""
    if not db.is_file() or _wal_header(db) or on_network_filesystem(db):
        return
    try:
        with closing(sqlite3.connect(db, timeout=5, isolation_level=None)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error:
        pass  # locked or read-only now; nothing is lost by staying in rollback mode


def fold_wal(uri: str) -> None:
    """Copy what a WAL store's log holds into `mlflow.db` itself, without waiting for anyone: a
    user who copies or backs up only `mlflow.db` after a run then has the run (MLflow never
    closes its connections, so SQLite's own checkpoint at the last close does not come)."""
    db = Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None
    if db is None or not Path(f"{db}-wal").is_file():
        return
    try:
        with closing(sqlite3.connect(db, timeout=1, isolation_level=None)) as conn:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.Error:
        pass  # busy or read-only: the log keeps it, SQLite reads both


def _wal_header(db: Path) -> bool:
    """True when the file's header says WAL (read/write versions 2, bytes 18 and 19)."""
    with open(db, "rb") as handle:
        header = handle.read(20)
    return len(header) == 20 and header[18] == 2 and header[19] == 2


def on_network_filesystem(path: Path) -> bool:
    """True when `path` is on NFS, SMB and the like (Linux /proc/mounts; False elsewhere)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return False
    target = str(path.resolve())
    best, kind = "", ""
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, fields[2]
    return kind in NETWORK_FILESYSTEMS


def install_connection_setup() -> None:
    """Every SQLite connection SQLAlchemy opens in this process waits for a locked store
    (`BUSY_TIMEOUT_MS`) instead of the driver's 5 s, and reads a WAL store in a folder it
    cannot write as immutable."""
    global _installed
    if _installed:
        return
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def before_connect(dialect: Any, _record: Any, cargs: list[Any], cparams: dict) -> None:
        if dialect.name == "sqlite" and cargs and isinstance(cargs[0], str):
            opened = read_only_path(cargs[0])
            if opened is not None:
                cargs[0], cparams["uri"] = opened, True

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    event.listen(Engine, "do_connect", before_connect)
    event.listen(Engine, "connect", on_connect)
    _installed = True


def read_only_path(filename: str) -> str | None:
    """For a WAL database in a folder this process cannot write, and with no `-wal` file
    (its writers closed: the file holds everything), an SQLite URI opening it immutable (SQLite
    cannot create the `-shm` file it wants otherwise); else None. With a `-wal` file present,
    SQLite reads a read-only store by itself."""
    if filename.startswith("file:") or filename in ("", ":memory:"):
        return None
    db = Path(filename)
    if (os.access(db.parent, os.W_OK) or not db.is_file() or not _wal_header(db)
            or Path(f"{db}-wal").exists()):
        return None
    return f"file:{quote(str(db.resolve()))}?mode=ro&immutable=1"


def writable(db: Path) -> bool:
    """True unless `db`'s folder exists and this process cannot write in it (a read-only
    store: nothing to create or repair there, only to read)."""
    return not db.parent.is_dir() or os.access(db.parent, os.W_OK)


def describe_store_problem(problem: str | None, uri: str) -> str:
    """Why the store did not take a write, in words: SQLite contention named as such (also
    when the last write was still waiting inside SQLite for the lock)."""
    db = Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None
    locked = LOCKED in (problem or "") or (problem is None and db is not None
                                           and write_locked(db))
    if locked:
        return f"the SQLite store stayed locked by other processes writing to it ({LOCKED})"
    return problem or "a write to the store did not return in time (the store is slow or stuck)"


def write_locked(db: Path) -> bool:
    """True when another connection holds `db`'s write lock right now."""
    if not db.is_file():
        return False
    try:
        with closing(sqlite3.connect(db, timeout=0, isolation_level=None)) as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        return LOCKED in str(exc)
    return False
