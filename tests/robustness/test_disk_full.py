"""A disk that takes no more writes (ENOSPC, EFBIG, a quota) while a run records: one line, no
traceback, no wait, no run left RUNNING where the store can still be written.

The fault is real: the run's process gets a file size limit (RLIMIT_FSIZE), so a write past it
fails with EFBIG as a full disk fails with ENOSPC (SIGXFSZ ignored, as a shell's `ulimit -f`
leaves it otherwise: the process would be killed instead).
"""

from __future__ import annotations

import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from helpers import all_runs, clean_env, client_for, run_inprocess

from nnexp.record import tags

SMALL = ["train.epochs=3", "model.hidden=[8]"]


def _limited(tmp_path: Path, limit: int, *overrides: str) -> subprocess.CompletedProcess[str]:
    """`python -m nnexp.train` whose every file can grow to `limit` bytes only."""
    def limit_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([sys.executable, "-m", "nnexp.train", *SMALL, *overrides],
                          cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
                          timeout=240, preexec_fn=limit_files)


def _existing_store(tmp_path: Path, template: Path) -> str:
    """The default store (./mlruns/mlflow.db), already created: its schema is ~950 kB."""
    db = tmp_path / "mlruns" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(template, db)
    return f"sqlite:///{db}"


def test_a_disk_full_before_the_run_exists_is_one_line_and_exit_1_at_once(tmp_path):
    # the schema of a new store (~950 kB) does not fit under 900 kB: nothing can be recorded
    done = _limited(tmp_path, 900_000)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "nnexp.train: error: tracking store" in line and "disk takes no more" in line
    assert "waiting up to" not in done.stderr  # not retried as a lock would be
    assert not any((tmp_path / "mlruns" / "outbox").glob("*/run.json"))


def test_a_store_that_cannot_grow_ends_the_run_failed_and_the_journal_keeps_it(
        tmp_path, _migrated_store):
    uri = _existing_store(tmp_path, _migrated_store)
    # the run is created, then the store's write-ahead log cannot grow past 150 kB
    done = _limited(tmp_path, 150_000, "train.epochs=5")
    assert done.returncode == 0, done.stderr  # it trained: the record is what suffered
    assert "Traceback" not in done.stderr
    assert "done in" in done.stdout
    (line,) = [t for t in done.stderr.splitlines() if t.strip()]
    assert "the tracking store's disk took no more of run" in line
    assert "the run is FAILED in the store" in line and "python -m nnexp.runs sync" in line
    (run,) = all_runs(uri)
    assert run.info.status == "FAILED"
    assert "disk took no more" in run.data.tags[tags.STATUS_REASON]
    assert (tmp_path / "mlruns" / "outbox" / run.info.run_id / "ops.jsonl").is_file()
    # space freed: sync writes the rest from the journal and the run ends as it did
    synced = run_inprocess(["nnexp.runs", "sync"], tmp_path)
    assert synced.returncode == 0, synced.stderr
    (run,) = all_runs(uri)
    assert run.info.status == "FINISHED"
    history = client_for(uri).get_metric_history(run.info.run_id, "epoch")
    assert [m.value for m in history] == [1, 2, 3, 4, 5]


def test_a_journal_that_cannot_grow_stops_cleanly_while_the_store_takes_the_run(
        tmp_path, _migrated_store):
    uri = _existing_store(tmp_path, _migrated_store)
    # every step's values journaled: metrics.bin passes 600 kB; the store (few points) does not
    done = _limited(tmp_path, 600_000, "train.epochs=6", "train.batch_size=1",
                    "tracking.log_every_n_steps=1", "tracking.metric_budget=20")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = [t for t in done.stderr.splitlines() if t.strip()]
    assert "journal stopped (File too large" in line and "nothing is lost" in line
    (run,) = all_runs(uri)
    assert run.info.status == "FINISHED"
    assert tags.STATUS_REASON not in run.data.tags
    history = client_for(uri).get_metric_history(run.info.run_id, "epoch")
    assert [m.value for m in history] == [1, 2, 3, 4, 5, 6]
    assert not any((tmp_path / "mlruns" / "outbox").iterdir())


def test_a_file_of_the_run_that_cannot_be_written_is_one_line_not_a_traceback(
        tmp_path, _migrated_store):
    uri = _existing_store(tmp_path, _migrated_store)
    # the store's disk fills during training (a step at a time: many values), and this run's
    # weights.npz is over 150 kB (64x1024 and 1024x10 float32): its own files fail too, after
    done = _limited(tmp_path, 150_000, "train.epochs=5", "train.batch_size=1",
                    "model.hidden=[1024]")
    assert done.returncode == 1, done.stderr  # the run's files (its deliverables) are lost
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "nnexp.train: error: stopped: the disk takes no more (File too large); a run in "
        "progress ended FAILED with what it had")
    (run,) = all_runs(uri)
    assert run.info.status == "FAILED"
