"""A locked or unreachable store never costs a trained run its record: the run waits (bounded),
or keeps everything locally until `nnexp.runs sync`."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import all_runs, clean_env, client_for, run_inprocess

RUN = ["-m", "nnexp.train", "train.epochs=60", "model.hidden=[16]"]


def _store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"


def _start_and_lock(tmp_path: Path, *extra: str
                    ) -> tuple[subprocess.Popen[str], sqlite3.Connection]:
    """Start a run; once its first epoch is reported, hold an exclusive lock on its store."""
    proc = subprocess.Popen([sys.executable, *RUN, *extra], cwd=tmp_path, env=clean_env(),
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    while not proc.stdout.readline().startswith("epoch"):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    db = sqlite3.connect(tmp_path / "mlruns" / "mlflow.db", isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    return proc, db


def _complete(uri: str) -> object:
    (run,) = all_runs(uri)
    assert run.info.status == "FINISHED"
    client = client_for(uri)
    assert [m.value for m in client.get_metric_history(run.info.run_id, "epoch")] == list(
        range(1, 61))
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"weights.npz", "config.yaml", "plots", "metrics"} <= names
    (model,) = client.search_logged_models([run.info.experiment_id])
    assert model.source_run_id == run.info.run_id
    return run


@pytest.mark.usefixtures("mlruns_store")
def test_a_store_locked_past_sqlites_timeout_is_waited_for(tmp_path):
    proc, db = _start_and_lock(tmp_path, "tracking.retry_seconds=120")
    time.sleep(25)  # longer than MLflow's 20 s SQLite busy timeout: writes fail, then retry
    assert proc.poll() is None  # trained, and waiting for the store
    db.execute("ROLLBACK")
    db.close()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    run = _complete(_store(tmp_path))
    assert out.splitlines()[-2] == (f"run {run.info.run_id} recorded in "
                                    f"{tmp_path / 'mlruns' / 'mlflow.db'}")


@pytest.mark.usefixtures("mlruns_store")
def test_a_store_locked_past_the_wait_keeps_the_record_until_sync(tmp_path):
    proc, db = _start_and_lock(tmp_path, "tracking.retry_seconds=1")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err  # trained; the record waits in its journal
    assert "Traceback" not in err
    (warning,) = [line for line in err.splitlines() if line.startswith("warning:")]
    assert "everything is kept in" in warning and "python -m nnexp.runs sync" in warning
    kept = Path(warning.split("everything is kept in ")[1].split(":")[0])
    assert (kept / "files" / "weights.npz").is_file()
    db.execute("ROLLBACK")
    db.close()
    done = run_inprocess(["nnexp.runs", "sync"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1 run(s) synced" in done.stdout
    _complete(_store(tmp_path))
    assert not kept.exists()
