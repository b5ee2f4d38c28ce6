"""The embedded store survives an interrupted creation: the next run works, nothing is lost."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from helpers import all_runs, clean_env, run_cli, run_inprocess

TINY = ["train.epochs=1", "model.hidden=[4]"]


def _store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"


def test_sigkill_while_the_first_run_creates_the_schema(tmp_path):
    # a cache of its own: no empty store kept from another test, so MLflow's migrations run
    proc = subprocess.Popen([sys.executable, "-m", "nnexp.train", *TINY], cwd=tmp_path,
                            env=clean_env(NNEXP_CACHE_DIR=str(tmp_path / "cache")),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = tmp_path / "mlruns"
    deadline = time.monotonic() + 60
    while not list(store.glob("mlflow.db.building-*")):  # the schema is being built
        assert time.monotonic() < deadline and proc.poll() is None, "no schema was built"
        time.sleep(0.002)
    time.sleep(0.2)  # into MLflow's migrations
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (store / "mlflow.db").exists()  # the store is absent or complete, never half-made

    result = run_cli(["nnexp.train", *TINY], tmp_path)
    assert result.returncode == 0, result.stderr
    (run,) = all_runs(_store(tmp_path))
    assert run.info.status == "FINISHED"
    # litter removed; WAL's own log and index beside the store are SQLite's, not litter
    assert sorted(p.name for p in store.glob("mlflow.db*")
                  if not p.name.endswith(("-wal", "-shm"))) == ["mlflow.db"]


def _half_made_store(db: Path) -> None:
    """What a creation killed between MLflow's create_all and its migrations leaves."""
    from mlflow.store.db.utils import create_sqlalchemy_engine
    from mlflow.store.tracking.dbmodels.initial_models import Base

    db.parent.mkdir(parents=True)
    engine = create_sqlalchemy_engine(f"sqlite:///{db}")
    Base.metadata.create_all(engine)
    engine.dispose()


def test_incomplete_store_without_runs_is_moved_aside_and_created_again(tmp_path):
    db = tmp_path / "mlruns" / "mlflow.db"
    _half_made_store(db)
    result = run_cli(["nnexp.train", *TINY], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "incomplete schema and no runs" in result.stderr
    (aside,) = db.parent.glob("mlflow.db.incomplete-*")  # kept, not deleted
    assert all_runs(_store(tmp_path))[0].info.status == "FINISHED"
    assert aside.stat().st_size > 0


def test_incomplete_store_with_runs_is_refused_not_touched(tmp_path):
    db = tmp_path / "mlruns" / "mlflow.db"
    _half_made_store(db)
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO experiments (experiment_id, name, lifecycle_stage) "
                     "VALUES (1, 'old', 'active')")
        conn.execute("INSERT INTO runs (run_uuid, experiment_id, lifecycle_stage, status) "
                     "VALUES ('abc', 1, 'active', 'FINISHED')")
    before = db.read_bytes()
    result = run_inprocess(["nnexp.train", *TINY], tmp_path)  # refused before any build
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "has 1 run(s) but an incomplete schema" in line and "mlflow db upgrade" in line
    assert db.read_bytes() == before

