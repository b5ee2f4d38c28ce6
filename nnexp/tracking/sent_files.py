"""Files this process sent to the store as run artifacts, kept in memory while a sweep's parent
is open in it. When the sweep ends the parent reads its children's history files and its best
child's model files; those its own jobs sent (the basic launcher, `nnexp.sweep`: the jobs run in
the parent's process) are the bytes the store holds and are not fetched back (two requests a
file on a tracking server). Bounded: a file not kept here is fetched from the store."""

from __future__ import annotations

import os
import threading
from pathlib import Path

MAX_BYTES = 64 << 20  # all kept files together; a larger sweep fetches the rest
MAX_FILE_BYTES = 4 << 20

_lock = threading.Lock()
_kept: dict[tuple[str, str], bytes] = {}  # (run id, artifact path) -> the bytes sent
_open_parents = 0
_keeper = 0  # the process that opened them: a forked worker inherits the count, not the role


def start_keeping() -> None:
    """A sweep's parent opened in this process: keep the files its jobs send from now on."""
    global _open_parents, _keeper
    with _lock:
        _open_parents += 1
        _keeper = os.getpid()


def stop_keeping() -> None:
    """That parent ended: with no other open, every kept file is forgotten."""
    global _open_parents
    with _lock:
        _open_parents = max(0, _open_parents - 1)
        if not _open_parents:
            _kept.clear()


def remember(run_id: str, name: str, path: Path) -> None:
    """`path`, just sent to the store as run `run_id`'s artifact `name`, if a parent is open and
    there is room."""
    with _lock:
        if not _open_parents or _keeper != os.getpid():
            return
        _kept.pop((run_id, name), None)  # a file sent again: the store keeps the newest
        size = path.stat().st_size
        if size <= MAX_FILE_BYTES and sum(map(len, _kept.values())) + size <= MAX_BYTES:
            _kept[(run_id, name)] = path.read_bytes()


def recall(run_id: str, name: str) -> bytes | None:
    """The bytes this process sent as run `run_id`'s artifact `name`, or None if not kept."""
    with _lock:
        return _kept.get((run_id, name))
