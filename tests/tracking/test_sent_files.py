"""The files a sweep's process sent, kept while its parent is open: read back as sent, newest
upload wins, bounded, forgotten when the last parent ends, never kept by a forked worker or
without an open parent; RunFiles reads them instead of the store, within its size limit."""

from __future__ import annotations

import pytest

from nnexp.tracking import sent_files
from nnexp.tracking.records import RecordError, RunFiles


@pytest.fixture
def keeping():
    sent_files.start_keeping()
    yield
    sent_files.stop_keeping()


def _file(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_files_are_kept_only_while_a_parent_is_open_in_this_process(tmp_path, monkeypatch):
    sent_files.remember("r1", "weights.npz", _file(tmp_path, "a", b"early"))
    assert sent_files.recall("r1", "weights.npz") is None  # no parent open
    sent_files.start_keeping()
    sent_files.start_keeping()  # two parents in one process
    sent_files.remember("r1", "weights.npz", _file(tmp_path, "b", b"first"))
    sent_files.remember("r1", "weights.npz", _file(tmp_path, "c", b"second"))
    assert sent_files.recall("r1", "weights.npz") == b"second"
    monkeypatch.setattr(sent_files.os, "getpid", lambda: -1)  # a forked worker
    sent_files.remember("r2", "weights.npz", _file(tmp_path, "d", b"worker"))
    monkeypatch.undo()
    assert sent_files.recall("r2", "weights.npz") is None
    sent_files.stop_keeping()
    assert sent_files.recall("r1", "weights.npz") == b"second"  # the other parent is open
    sent_files.stop_keeping()
    assert sent_files.recall("r1", "weights.npz") is None


def test_what_is_kept_is_bounded(tmp_path, monkeypatch, keeping):
    monkeypatch.setattr(sent_files, "MAX_FILE_BYTES", 10)
    monkeypatch.setattr(sent_files, "MAX_BYTES", 25)
    sent_files.remember("r", "big", _file(tmp_path, "big", b"x" * 11))
    for name in ("a", "b", "c"):
        sent_files.remember("r", name, _file(tmp_path, name, b"y" * 10))
    assert [sent_files.recall("r", n) for n in ("big", "a", "b", "c")] == [
        None, b"y" * 10, b"y" * 10, None]


def test_run_files_read_a_sent_file_without_the_store_within_the_limit(tmp_path, keeping):
    client = type("Client", (), {"tracking_uri": f"sqlite:///{tmp_path / 'none.db'}"})()
    files = RunFiles(client, "r", str(tmp_path / "no-such-artifacts"))
    sent_files.remember("r", "metrics/history.npz", _file(tmp_path, "h", b"h" * 40))
    found = files.download("metrics/history.npz", tmp_path / "out", 100)
    assert found == tmp_path / "out" / "metrics" / "history.npz" and found.read_bytes() == b"h" * 40
    with pytest.raises(RecordError, match="history.npz is 40 bytes, more than the 39 bytes"):
        files.download("metrics/history.npz", tmp_path / "out2", 39)
    assert files.download("weights.npz", tmp_path / "out", 100) is None  # not sent, not stored
