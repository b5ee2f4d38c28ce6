"""A run's local copy of everything the store has not confirmed yet (a write-ahead journal).

Every metric value is appended to `metrics.bin` about once a second, as it is produced; every other
write (params, tags, files, the model, the final status) is an operation appended to `ops.jsonl`
before it is sent, and marked in `done.jsonl` once the store has it. Files wait in `files/`. When
the store holds everything the folder is removed. If the process dies, or the store stays locked
or down, `python -m nnexp.runs sync` replays the folder into the store; MLflow ignores a metric
value it already has (same key, step, time and value), so replaying twice records nothing twice.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from nnexp.experiment.observer import MetricChunk
from nnexp.tracking.errors import NO_ROOM_ERRNOS

RECORD = np.dtype([("key", "<u4"), ("per_step", "u1"), ("step", "<i8"), ("time", "<i8"),
                   ("value", "<f8")])
INFO, KEYS, METRICS, OPS, DONE, FILES = ("run.json", "keys.json", "metrics.bin", "ops.jsonl",
                                         "done.jsonl", "files")
HEARTBEAT = "heartbeat"  # touched every ~30 s while the writing process lives


class JournalError(ValueError):
    """A journal that cannot be replayed as it stands (damaged, or its run unknown to the store):
    it is kept, and said in one line."""


class UnsafePath(ValueError):
    """A journaled path that leads outside the journal's files/ folder: never uploaded."""


class Outbox:
    """One run's folder of pending writes; see the module docstring."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.info: dict[str, Any] = _read_json(folder / INFO, dict)
        if not isinstance(self.info.get("run_id"), str) or not self.info["run_id"]:
            raise JournalError(f"{INFO} names no run_id")
        keys_file = folder / KEYS
        self._keys: list[str] = _read_json(keys_file, list) if keys_file.is_file() else []
        self._key_ids = {key: i for i, key in enumerate(self._keys)}
        self._seq = sum(1 for _ in self._lines(OPS))
        self.lost: str | None = None  # why the journal stopped taking writes (its disk is full)

    @classmethod
    def create(cls, root: Path, run_id: str, info: dict[str, Any]) -> Outbox:
        """A new, empty outbox for `run_id` under `root`; `info` says how to replay it."""
        folder = root / run_id
        (folder / FILES).mkdir(parents=True, exist_ok=True)
        _write_atomically(folder / INFO, json.dumps({"run_id": run_id, **info}, indent=1))
        return cls(folder)

    @property
    def run_id(self) -> str:
        return str(self.info["run_id"])

    # ---- writing ---------------------------------------------------------------------------
    def append_metrics(self, chunk: MetricChunk) -> None:
        """Journal a chunk of metric values (one record per value), before anything is sent."""
        ids = [self._key_id(key) for key in chunk.keys]
        n, k = chunk.values.shape
        records = np.empty((n, k), RECORD)
        records["key"] = ids
        records["per_step"] = chunk.per_step
        records["step"] = chunk.steps[:, None]
        records["time"] = chunk.timestamps[:, None]
        records["value"] = chunk.values
        self._append(METRICS, records.tobytes())

    def add_op(self, op: dict[str, Any]) -> int:
        """Journal one operation; returns its sequence number (to mark it done later)."""
        seq = self._seq
        self._seq += 1
        self._append(OPS, (json.dumps({"seq": seq, **op}) + "\n").encode())
        return seq

    def mark_done(self, seq: int) -> None:
        self._append(DONE, f"{seq}\n".encode())

    def keep_text(self, text: str, name: str) -> str | None:
        """Write `text` as a file in the outbox; as `keep_file`."""
        return self._keep(self.folder / FILES / name, lambda target: target.write_text(text))

    def keep_file(self, path: Path, name: str | None = None) -> str | None:
        """Copy a file or folder into the outbox; its path relative to the outbox, or None when
        the journal's disk is full (no partial copy is left to be uploaded)."""
        def copy(target: Path) -> None:
            if path.is_dir():
                shutil.copytree(path, target, dirs_exist_ok=True)
            else:
                shutil.copyfile(path, target)
        return self._keep(self.folder / FILES / (name or path.name), copy)

    def _keep(self, target: Path, write: Any) -> str | None:
        if self.lost is not None:
            return None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            write(target)
        except OSError as exc:
            if exc.errno not in NO_ROOM_ERRNOS:
                raise
            self._lose(exc)
            if target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            else:
                target.unlink(missing_ok=True)
            return None
        return str(target.relative_to(self.folder))

    def _append(self, name: str, data: bytes) -> None:
        """Append to one of the journal's files; once its disk is full, nothing more (a record
        cut short is ignored by the reader; one written after it would be misread)."""
        if self.lost is not None:
            return
        try:
            with open(self.folder / name, "ab") as handle:
                handle.write(data)
        except OSError as exc:
            if exc.errno not in NO_ROOM_ERRNOS:
                raise
            self._lose(exc)

    def _lose(self, exc: OSError) -> None:
        self.lost = f"{exc.strerror or exc} writing {self.folder}"

    def path(self, relative: str) -> Path:
        """A journaled file; UnsafePath unless it lies inside files/ once links are followed (a
        damaged or forged journal must not upload `../../SECRET` or `/etc/hostname`)."""
        files = (self.folder / FILES).resolve()
        found = (self.folder / relative).resolve()
        if found != files and not found.is_relative_to(files):
            raise UnsafePath(relative)
        if found.is_dir():
            for inner in found.rglob("*"):
                if not inner.resolve().is_relative_to(files):
                    raise UnsafePath(str(Path(relative) / inner.relative_to(found)))
        return self.folder / relative

    def beat(self) -> None:
        """Say the writing process lives (a journal in a shared folder is seen by other hosts);
        never recreates a journal that was removed."""
        try:
            (self.folder / HEARTBEAT).touch()
        except OSError:
            pass

    def last_beat(self) -> float:
        """When the writing process last showed life (unix seconds): the heartbeat, else (a
        journal written before heartbeats) its latest write."""
        times = [0.0]
        for name in (HEARTBEAT, METRICS, OPS, DONE, INFO):
            try:
                times.append((self.folder / name).stat().st_mtime)
            except OSError:
                continue
        return max(times)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    @contextmanager
    def exclusive(self) -> Iterator[bool]:
        """Whether this process alone may replay the outbox now (two `sync`s never both do)."""
        import fcntl

        with open(self.folder / INFO) as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield (self.folder / INFO).is_file()  # not replayed meanwhile by the holder
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _key_id(self, key: str) -> int:
        found = self._key_ids.get(key)
        if found is None:
            found = self._key_ids[key] = len(self._keys)
            self._keys.append(key)
            if self.lost is None:
                try:
                    _write_atomically(self.folder / KEYS, json.dumps(self._keys))
                except OSError as exc:
                    if exc.errno not in NO_ROOM_ERRNOS:
                        raise
                    self._lose(exc)
        return found

    # ---- reading back ----------------------------------------------------------------------
    def metric_series(self) -> dict[str, dict[str, np.ndarray | bool]]:
        """{key: {"steps", "times", "values", "per_step"}} of every journaled value, in order.

        A record cut short by a kill (a partial write at the end) is ignored.
        """
        path = self.folder / METRICS
        if not path.is_file():
            return {}
        raw = path.read_bytes()
        records = np.frombuffer(raw[:len(raw) - len(raw) % RECORD.itemsize], RECORD)
        series = {}
        for key_id in np.unique(records["key"]):
            if key_id >= len(self._keys):
                raise JournalError(f"{METRICS} has values of key id {key_id}, which {KEYS} "
                                   "does not name")
            rows = records[records["key"] == key_id]
            series[self._keys[int(key_id)]] = {
                "steps": rows["step"].copy(), "times": rows["time"].copy(),
                "values": rows["value"].copy(), "per_step": bool(rows["per_step"][0])}
        return series

    def all_ops(self) -> list[dict[str, Any]]:
        """Every operation journaled, in order (a last line cut short by a kill is ignored);
        JournalError for an operation without its sequence number or its kind."""
        ops = []
        for number, line in enumerate(self._lines(OPS), 1):
            try:
                op = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not (isinstance(op, dict) and isinstance(op.get("seq"), int)
                    and isinstance(op.get("op"), str)):
                raise JournalError(f"{OPS} line {number} has no seq or no op")
            ops.append(op)
        return ops

    def pending_ops(self) -> list[dict[str, Any]]:
        """Operations journaled but not confirmed by the store, in their original order."""
        done = {int(line) for line in self._lines(DONE) if line.strip().isdigit()}
        return [op for op in self.all_ops() if op["seq"] not in done]

    def _lines(self, name: str) -> Iterator[str]:
        path = self.folder / name
        if path.is_file():
            yield from path.read_text().splitlines()


def journal_folders(root: Path) -> list[Path]:
    """Every run's journal folder under `root`, oldest first (opening one may fail: damaged)."""
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if (p / INFO).is_file()),
                  key=lambda p: p.stat().st_mtime)


def safe_artifact_dir(value: Any) -> str | None:
    """An operation's artifact folder in the store, if relative and going nowhere up."""
    if value is None:
        return None
    parts = PurePosixPath(str(value)).parts
    if not isinstance(value, str) or value.startswith(("/", "\\")) or ".." in parts:
        raise UnsafePath(str(value))
    return value


def _read_json(path: Path, kind: type) -> Any:
    """A journal's JSON file, or JournalError saying what is wrong with it."""
    try:
        found = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JournalError(f"{path.name} cannot be read ({type(exc).__name__})") from None
    if not isinstance(found, kind):
        raise JournalError(f"{path.name} holds no JSON {kind.__name__}")
    return found


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(text)
    os.replace(temporary, path)
