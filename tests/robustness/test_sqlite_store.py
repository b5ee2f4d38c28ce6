"""The embedded SQLite store under concurrency and read-only: many runs at once all end
FINISHED in the store, contention is named as such, a read-only store can still be read."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from helpers import all_runs, clean_env, run_cli, store_of

TINY = ["train.epochs=3", "model.hidden=[16]", "tracking.plots=false"]
# root writes through any mode bits: a read-only store is real only without these capabilities
DROP_ROOT_WRITE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def _train(folder: str, seed: int) -> None:
    """One run in a forked process (nnexp and MLflow already imported: no import cost each)."""
    os.chdir(folder)
    import nnexp

    result = nnexp.run(*TINY, f"seed={seed}", verbose=False)
    os._exit(0 if result.status == "FINISHED" and result.kept_locally is None else 3)


@pytest.mark.real_schema_build  # the sixteen build a new store's schema under its lock
def test_sixteen_concurrent_runs_on_one_sqlite_store_all_finish_without_sync(tmp_path):
    # 16 processes on one SQLite file with the default patience (tracking.retry_seconds): before
    # WAL and a patience counted from the last write that landed, runs on a busy machine gave
    # up ("no answer") and stayed RUNNING. Forked processes instead of `python -m nnexp.train`
    # spare 16 imports of MLflow; the contention on the file is the same
    import nnexp  # noqa: F401 - imported before the fork, as a user's pool would

    context = multiprocessing.get_context("fork")
    procs = [context.Process(target=_train, args=(str(tmp_path), seed)) for seed in range(16)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(800)
    assert [proc.exitcode for proc in procs] == [0] * 16
    runs = all_runs(store_of(tmp_path))
    assert len(runs) == 16 and {r.info.status for r in runs} == {"FINISHED"}
    assert not any((tmp_path / "mlruns" / "outbox").iterdir())  # nothing waits for a sync
    with open(tmp_path / "mlruns" / "mlflow.db", "rb") as handle:
        assert handle.read(20)[18:20] == b"\x02\x02"  # the file is in WAL mode


def _read_only(folder: Path) -> list[str]:
    """Make `folder` read-only for real; the command prefix a test's subprocess needs for it."""
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    prefix = DROP_ROOT_WRITE if os.geteuid() == 0 else []
    probe = subprocess.run([*prefix, sys.executable, "-c",
                            f"open({str(folder / 'probe')!r}, 'w')"], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("cannot make a folder read-only here (root without setpriv)")
    return prefix


@pytest.fixture(scope="module")
def read_only_store(tmp_path_factory, _migrated_store):
    """Two runs (a sweep's children) in the default store of a folder, then the store made
    read-only, its WAL file folded into the database (the last connection to close does it):
    the case SQLite cannot read without help (it would create a `-shm` file). Made once: the
    tests only read it (a copy is made read-only apart)."""
    tmp_path = tmp_path_factory.mktemp("read_only")
    db = tmp_path / "mlruns" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(_migrated_store, db)  # the sweep's process, not the store's creation, matters
    made = run_cli(["nnexp.train", "-m", *TINY, "data=iris", "seed=0,1"], tmp_path)
    assert made.returncode == 0, made.stderr
    with closing(sqlite3.connect(db)) as conn:
        ids = [row[0] for row in conn.execute(
            "SELECT run_uuid FROM tags WHERE key = 'mlflow.parentRunId' ORDER BY run_uuid")]
    assert len(ids) == 2 and not Path(f"{db}-wal").exists()
    np.savetxt(tmp_path / "rows.csv", np.array([[5.1, 3.5, 1.4, 0.2]]), delimiter=",")
    prefix = _read_only(tmp_path / "mlruns")
    yield tmp_path, ids, prefix
    for path in [tmp_path / "mlruns", *(tmp_path / "mlruns").rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def _cli(prefix: list[str], args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, sys.executable, "-m", *args], cwd=cwd, env=clean_env(),
                          capture_output=True, text=True, timeout=240)


def test_predict_and_diff_read_a_read_only_store(read_only_store):
    folder, (first, second), prefix = read_only_store
    predicted = _cli(prefix, ["nnexp.predict", first, "rows.csv"], folder)
    assert predicted.returncode == 0, predicted.stderr
    assert "Traceback" not in predicted.stderr and predicted.stdout.strip()
    compared = _cli(prefix, ["nnexp.diff", first, second], folder)
    assert compared.returncode == 0, compared.stderr
    assert "seed" in compared.stdout and "Traceback" not in compared.stderr


def test_a_copied_read_only_store_is_refused_in_one_line(read_only_store, tmp_path_factory):
    folder, (first, second), prefix = read_only_store
    copy = tmp_path_factory.mktemp("copy")
    shutil.copytree(folder / "mlruns", copy / "mlruns")  # its records name the original folder
    _read_only(copy / "mlruns")
    compared = _cli(prefix, ["nnexp.diff", first, second], copy)
    assert compared.returncode != 0 and "Traceback" not in compared.stderr
    (line,) = compared.stderr.strip().splitlines()
    assert "read-only" in line and str(folder / "mlruns") in line


@pytest.mark.usefixtures("mlruns_store")
def test_a_store_held_locked_is_named_as_sqlite_contention(tmp_path):
    # once the run trains, another process takes the store's write lock and keeps it: the
    # message names SQLite contention (not "no answer") and where the record waits (the
    # outbox, not mlflow.db), and the trained run exits 0
    proc = subprocess.Popen([sys.executable, "-m", "nnexp.train", "train.epochs=60",
                             "model.hidden=[16]", "tracking.retry_seconds=1"], cwd=tmp_path,
                            env=clean_env(), text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None
    while not proc.stdout.readline().startswith("epoch"):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    holder = sqlite3.connect(tmp_path / "mlruns" / "mlflow.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        out, err = proc.communicate(timeout=240)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    (warning,) = [line for line in err.splitlines() if line.startswith("warning:")]
    assert "SQLite store stayed locked by other processes" in warning
    assert "database is locked" in warning and "no answer" not in warning
    (kept,) = (tmp_path / "mlruns" / "outbox").iterdir()
    summary = [line for line in out.splitlines() if line.startswith("run ")][-1]
    assert f"kept locally in {kept}," in summary
