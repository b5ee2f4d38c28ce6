"""A second Ctrl-C cuts a run's ending short but never leaves it open: the run ends KILLED in
the store when the store answers, else its journal keeps the KILLED end for `runs sync`."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import all_runs, clean_env, run_inprocess

LONG = ["model.hidden=[64]", "train.epochs=5000", "train.batch_size=16"]  # never ends itself


def _store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"


def _start_and_wait_for_epoch_2(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "nnexp.train", *LONG, *extra], cwd=tmp_path,
                            env=clean_env(), text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None
    line = ""
    while not (line.startswith("epoch") and line.split()[1] == "2/5000"):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        line = proc.stdout.readline()
    return proc


@pytest.mark.usefixtures("mlruns_store")
def test_a_second_ctrl_c_still_ends_the_run_killed_in_the_store(tmp_path):
    proc = _start_and_wait_for_epoch_2(tmp_path)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)  # two signals at once are one: the second comes while the run ends
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    (run,) = all_runs(_store(tmp_path))
    assert run.info.status == "KILLED"  # not RUNNING until a sync
    assert run.data.tags["nnexp.status_reason"].startswith("interrupted by SIGINT")
    assert not list((tmp_path / "mlruns" / "outbox").iterdir())  # the store has it all


@pytest.mark.usefixtures("mlruns_store")
def test_a_second_ctrl_c_while_the_store_is_locked_journals_the_killed_end(tmp_path):
    proc = _start_and_wait_for_epoch_2(tmp_path)  # waits up to 120 s for a store at its end
    db = sqlite3.connect(tmp_path / "mlruns" / "mlflow.db", isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    proc.send_signal(signal.SIGINT)
    time.sleep(3)  # the run is ending: it waits for the locked store
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)  # well within the 120 s it would wait otherwise
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    db.execute("ROLLBACK")
    db.close()
    done = run_inprocess(["nnexp.runs", "sync"], tmp_path)
    assert done.returncode == 0, done.stderr
    (run,) = all_runs(_store(tmp_path))
    assert run.info.status == "KILLED", done.stdout
    assert "ended" not in done.stdout  # the journal had the end: sync did not guess one
