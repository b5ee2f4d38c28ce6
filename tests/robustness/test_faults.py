"""Faults during a run, with real signals sent to real processes: nothing is lost or left open."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import all_runs, clean_env, client_for, run_inprocess

LONG = ["model.hidden=[128,128]", "train.epochs=5000", "train.batch_size=16",
        "tracking.metric_budget=5000"]  # never ends by itself; every epoch in the store


def _store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, *args], cwd=cwd, env=clean_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_epoch(proc: subprocess.Popen[str], epoch: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("epoch") and line.split()[1].startswith(f"{epoch}/"):
            return
        if not line and proc.poll() is not None:
            pytest.fail(f"process ended early: {proc.stderr.read() if proc.stderr else ''}")
    pytest.fail(f"epoch {epoch} not reached")


@pytest.mark.usefixtures("mlruns_store")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_ends_run_killed_with_metrics_and_weights(tmp_path, sig):
    proc = _start(["-m", "nnexp.train", *LONG], tmp_path)
    _wait_for_epoch(proc, 3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith(f"nnexp.train: error: interrupted by {sig.name}")
    assert "Traceback" not in err
    (run,) = all_runs(_store(tmp_path))
    assert run.info.status == "KILLED"
    last = int(run.data.tags["nnexp.last_completed_epoch"])
    assert last >= 3
    client = client_for(_store(tmp_path))
    epochs = [m.value for m in client.get_metric_history(run.info.run_id, "epoch")]
    assert epochs == list(range(1, last + 1))  # every epoch before the signal was flushed
    assert any(a.path == "weights.npz" for a in client.list_artifacts(run.info.run_id))


@pytest.mark.usefixtures("mlruns_store")
def test_second_ctrl_c_exits_at_once(tmp_path):
    proc = _start(["-m", "nnexp.train", *LONG], tmp_path)
    _wait_for_epoch(proc, 2)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    proc.communicate(timeout=30)
    assert time.monotonic() - started < 10
    assert proc.returncode in (130, -signal.SIGINT)


def test_divergence_fails_run_with_where_and_keeps_metrics(tmp_path):
    proc = run_inprocess(["nnexp.train", "optimizer=sgd", "lr=1e3", "train.epochs=5",
                          "tracking.log_every_n_steps=1"], tmp_path)
    assert proc.returncode == 1
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("nnexp.train")]
    assert line.startswith("nnexp.train: error: training diverged: non-finite")
    assert "Traceback" not in proc.stderr
    (run,) = all_runs(_store(tmp_path))
    assert run.info.status == "FAILED"
    tags = run.data.tags
    assert tags["nnexp.diverged"] == "true"
    step = int(tags["nnexp.diverged.step"])
    history = client_for(_store(tmp_path)).get_metric_history(run.info.run_id, "train/loss_step")
    assert [m.step for m in history] == list(range(step))  # kept up to the divergence
    assert "nnexp.error" in tags


CRASH = """
import sys
import nnexp.experiment.loop as loop
calls = []
real = loop.evaluate
def evaluate(*args, **kwargs):
    calls.append(1)
    if len(calls) == 2:
        raise RuntimeError("user data code exploded")
    return real(*args, **kwargs)
loop.evaluate = evaluate
from nnexp.train import main
sys.argv = ["nnexp.train", "train.epochs=5"]
main()
"""


@pytest.mark.usefixtures("mlruns_store")
def test_crash_inside_run_fails_it_with_message_and_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-c", CRASH], cwd=tmp_path, env=clean_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    (run,) = all_runs(_store(tmp_path))
    assert run.info.status == "FAILED"
    assert run.data.tags["nnexp.error"] == "RuntimeError: user data code exploded"
    assert run.data.tags["nnexp.last_completed_epoch"] == "1"
    client = client_for(_store(tmp_path))
    path = client.download_artifacts(run.info.run_id, "error/traceback.txt", str(tmp_path))
    assert "user data code exploded" in Path(path).read_text()
    assert len(client.get_metric_history(run.info.run_id, "val/loss")) == 1


def test_eight_concurrent_processes_lose_nothing(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-m", "nnexp.train", f"seed={i}", "train.epochs=3",
                               "model.hidden=[16]", "tracking.log_every_n_steps=1",
                               f"hydra.run.dir=outputs/{i}"],
                              cwd=tmp_path, env=clean_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for i in range(8)]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
    runs = all_runs(_store(tmp_path))
    assert len(runs) == 8 and {r.info.status for r in runs} == {"FINISHED"}
    assert sorted(r.data.tags["nnexp.seed"] for r in runs) == [str(i) for i in range(8)]
    client = client_for(_store(tmp_path))
    for run in runs:
        n_train = int(run.data.params["dataset.n_train"])
        steps = -(-n_train // 32) * 3
        assert len(client.get_metric_history(run.info.run_id, "train/loss_step")) == steps
        assert len(client.get_metric_history(run.info.run_id, "grad_norm/layer2")) == steps
        assert len(client.get_metric_history(run.info.run_id, "val/loss")) == 3
    assert len({len(r.data.params) for r in runs}) == 1


@pytest.mark.usefixtures("mlruns_store")
def test_sigkill_leaves_running_and_cleanup_replays_and_marks_failed(tmp_path):
    proc = _start(["-m", "nnexp.train", *LONG], tmp_path)
    _wait_for_epoch(proc, 1)
    proc.kill()
    proc.communicate(timeout=30)
    uri = _store(tmp_path)
    (run,) = all_runs(uri)
    assert run.info.status == "RUNNING"
    dry = run_inprocess(["nnexp.runs", "cleanup", "--tracking-uri", uri, "--dry-run"], tmp_path)
    assert f"would end FAILED: {run.info.run_id}" in dry.stdout
    assert "1 stale run(s) would end" in dry.stdout
    assert all_runs(uri)[0].info.status == "RUNNING"
    done = run_inprocess(["nnexp.runs", "cleanup", "--tracking-uri", uri], tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"synced run {run.info.run_id}: " in done.stdout and "ended FAILED" in done.stdout
    (after,) = all_runs(uri)
    assert after.info.status == "FAILED"
    assert "ended without ending its run (killed)" in after.data.tags["nnexp.status_reason"]
    assert not list((tmp_path / "mlruns" / "outbox").iterdir())  # replayed, then removed


@pytest.mark.usefixtures("mlruns_store")
def test_sigkill_then_cleanup_stores_the_full_history_and_the_checkpoints(tmp_path):
    """A 5000-epoch run killed early: its journal's every value reaches the store's history
    artifact (the metrics themselves stay thinned to the planned length's budget), and its
    checkpoints (the weights it has) are stored before the journal goes."""
    from nnexp.experiment.history import HISTORY_ARTIFACT, load_history
    from nnexp.tracking.outbox import Outbox

    proc = _start(["-m", "nnexp.train", "train.epochs=5000", "model.hidden=[16]",
                   "sweep.checkpoint_every=4"], tmp_path)
    _wait_for_epoch(proc, 1, timeout=240)
    (journal,) = (tmp_path / "mlruns" / "outbox").iterdir()
    assert proc.stdout is not None
    while len(Outbox(journal).metric_series().get("val/loss", {}).get("values", ())) < 12:
        assert proc.stdout.readline(), "the run ended early"  # wait for an epoch to pass
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    trained = {k: s["values"] for k, s in Outbox(journal).metric_series().items()}
    last_checkpoint = max((journal / "files" / "checkpoints").iterdir()).name
    uri = _store(tmp_path)
    done = run_inprocess(["nnexp.runs", "cleanup", "--tracking-uri", uri], tmp_path)
    assert done.returncode == 0, done.stderr
    n_values = sum(len(v) for v in trained.values())
    assert f"full history of {n_values} values" in done.stdout
    (run,) = all_runs(uri)
    client = client_for(uri)
    history = load_history(Path(client.download_artifacts(run.info.run_id, HISTORY_ARTIFACT,
                                                          str(tmp_path))))
    assert set(history) == set(trained)
    for key, values in trained.items():
        np.testing.assert_array_equal(history[key][1], values)
    epochs = len(trained["val/loss"])
    assert 12 <= epochs and len(client.get_metric_history(run.info.run_id, "val/loss")) < epochs
    stored = [a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")]
    assert f"checkpoints/{last_checkpoint}" in stored
    assert not journal.exists()


@pytest.mark.usefixtures("mlruns_store")
def test_sigkill_while_the_store_is_locked_loses_at_most_the_last_second(tmp_path):
    """The store is locked (the writer cannot write) when the process is killed: the journal
    still holds every epoch reported more than a second before the kill."""
    proc = _start(["-m", "nnexp.train", *LONG], tmp_path)
    _wait_for_epoch(proc, 1)
    db = sqlite3.connect(tmp_path / "mlruns" / "mlflow.db", isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")  # nobody else can write now
    seen: list[tuple[float, int]] = []
    assert proc.stdout is not None
    while not seen or time.monotonic() - seen[0][0] < 3:
        line = proc.stdout.readline()
        if line.startswith("epoch"):
            seen.append((time.monotonic(), int(line.split()[1].split("/")[0])))
    proc.kill()
    killed_at = time.monotonic()
    proc.communicate(timeout=30)
    uri = _store(tmp_path)
    db.execute("ROLLBACK")
    db.close()
    done = run_inprocess(["nnexp.runs", "sync", "--tracking-uri", uri], tmp_path)
    assert done.returncode == 0, done.stderr
    (run,) = all_runs(uri)
    assert run.info.status == "FAILED"
    recorded = [m.value for m in client_for(uri).get_metric_history(run.info.run_id, "epoch")]
    safe = max(e for t, e in seen if t < killed_at - 1.2)  # reported over a second before
    assert recorded[:safe] == list(range(1, safe + 1))


@pytest.mark.usefixtures("mlruns_store")
def test_cleanup_leaves_live_runs_alone(tmp_path):
    proc = _start(["-m", "nnexp.train", *LONG], tmp_path)
    try:
        _wait_for_epoch(proc, 1)
        done = run_inprocess(["nnexp.runs", "cleanup", "--tracking-uri", _store(tmp_path),
                              "--stale-minutes", "0"], tmp_path)
        assert "0 stale run(s) ended" in done.stdout
    finally:
        proc.kill()
        proc.communicate(timeout=30)


@pytest.mark.usefixtures("mlruns_store")
def test_a_closed_pipe_does_not_fail_the_run(tmp_path):
    """`python -m nnexp.train | head -2`: the reader goes away, the run goes on and finishes."""
    proc = _start(["-m", "nnexp.train", "train.epochs=40", "model.hidden=[16]"], tmp_path)
    assert proc.stdout is not None
    head = [proc.stdout.readline() for _ in range(2)]
    assert head[0].startswith("model: ") and head[1].startswith("epoch  1/40")
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err and "Logging error" not in err
    (run,) = all_runs(_store(tmp_path))
    assert run.info.status == "FINISHED"
    assert run.data.tags["nnexp.epochs_run"] == "40"
