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
from pathlib import Path
from typing import Any

import numpy as np

from nnexp.experiment.observer import MetricChunk

RECORD = np.dtype([("key", "<u4"), ("per_step", "u1"), ("step", "<i8"), ("time", "<i8"),
                   ("value", "<f8")])
INFO, KEYS, METRICS, OPS, DONE, FILES = ("run.json", "keys.json", "metrics.bin", "ops.jsonl",
                                         "done.jsonl", "files")


class Outbox:
    """One run's folder of pending writes; see the module docstring."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.info: dict[str, Any] = json.loads((folder / INFO).read_text())
        keys_file = folder / KEYS
        self._keys: list[str] = json.loads(keys_file.read_text()) if keys_file.is_file() else []
        self._key_ids = {key: i for i, key in enumerate(self._keys)}
        self._seq = sum(1 for _ in self._lines(OPS))

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
        with open(self.folder / METRICS, "ab") as handle:
            handle.write(records.tobytes())

    def add_op(self, op: dict[str, Any]) -> int:
        """Journal one operation; returns its sequence number (to mark it done later)."""
        seq = self._seq
        self._seq += 1
        with open(self.folder / OPS, "a") as handle:
            handle.write(json.dumps({"seq": seq, **op}) + "\n")
        return seq

    def mark_done(self, seq: int) -> None:
        with open(self.folder / DONE, "a") as handle:
            handle.write(f"{seq}\n")

    def keep_file(self, path: Path, name: str | None = None) -> str:
        """Copy a file or folder into the outbox; returns its path relative to the outbox."""
        target = self.folder / FILES / (name or path.name)
        if path.is_dir():
            shutil.copytree(path, target, dirs_exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        return str(target.relative_to(self.folder))

    def path(self, relative: str) -> Path:
        return self.folder / relative

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
            _write_atomically(self.folder / KEYS, json.dumps(self._keys))
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
            rows = records[records["key"] == key_id]
            series[self._keys[int(key_id)]] = {
                "steps": rows["step"].copy(), "times": rows["time"].copy(),
                "values": rows["value"].copy(), "per_step": bool(rows["per_step"][0])}
        return series

    def all_ops(self) -> list[dict[str, Any]]:
        """Every operation journaled, in order (a last line cut short by a kill is ignored)."""
        ops = []
        for line in self._lines(OPS):
            try:
                ops.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return ops

    def pending_ops(self) -> list[dict[str, Any]]:
        """Operations journaled but not confirmed by the store, in their original order."""
        done = {int(line) for line in self._lines(DONE) if line.strip().isdigit()}
        return [op for op in self.all_ops() if op["seq"] not in done]

    def _lines(self, name: str) -> Iterator[str]:
        path = self.folder / name
        if path.is_file():
            yield from path.read_text().splitlines()


def outboxes(root: Path) -> list[Outbox]:
    """Every outbox under `root` (one folder per run), oldest first."""
    if not root.is_dir():
        return []
    found = [Outbox(p) for p in sorted(root.iterdir(), key=lambda p: p.stat().st_mtime)
             if (p / INFO).is_file()]
    return found


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(text)
    os.replace(temporary, path)
