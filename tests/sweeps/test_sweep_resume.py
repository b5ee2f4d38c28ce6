"""Exact resume: a sweep killed outright (SIGKILL) mid-child is continued by `sweep.resume=true`
from the child's last checkpoint, and the continued run equals an uninterrupted one bit for bit."""

from __future__ import annotations

import csv
import glob
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import all_runs, clean_env, client_for, run_inprocess

SWEEP = ["lr=0.02,0.01", "train.epochs=30", "train.batch_size=16", "model.hidden=[16]",
         "optimizer=adam", "schedule=cosine", "train.patience=25", "sweep.checkpoint_every=2",
         "tracking.metric_budget=41", "tracking.log_every_n_steps=3", "tracking.plots=false"]


def _kill_second_child_after_a_checkpoint(tmp_path: Path) -> None:
    """Start the sweep; SIGKILL it once its second job has handed over a checkpoint."""
    process = subprocess.Popen([sys.executable, "-m", "nnexp.train", "-m", *SWEEP],
                               cwd=tmp_path, env=clean_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 200
    try:
        while time.monotonic() < deadline and process.poll() is None:
            second_job = glob.glob(str(tmp_path / "multirun" / "*" / "*" / "1"))
            # the first job's outbox is gone once it finished: any checkpoint is the second's
            saved = glob.glob(str(tmp_path / "mlruns" / "outbox" / "*" / "files" / "checkpoints"
                                  / "epoch-00000[6-8].npz"))
            if second_job and saved:
                os.kill(process.pid, signal.SIGKILL)
                break
            time.sleep(0.005)
    finally:
        if process.poll() is None:
            process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the sweep ended before it could be killed"


def _arrays(client, run_id: str, name: str, dest: Path) -> dict[str, np.ndarray]:
    dest.mkdir(parents=True)
    with np.load(client.download_artifacts(run_id, name, str(dest))) as data:
        return {key: data[key] for key in data.files}


@pytest.mark.usefixtures("mlruns_store")
def test_killed_child_resumes_from_its_checkpoint_bit_for_bit(tmp_path: Path):
    _kill_second_child_after_a_checkpoint(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    (tmp_path / "summary").mkdir()
    finished = [r for r in all_runs(uri) if r.info.status == "FINISHED"]
    assert [r.info.run_name for r in finished] == ["lr=0.02"]

    again = run_inprocess(["nnexp.train", "-m", *SWEEP, "sweep.resume=true"], cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    runs = {r.info.run_id: r for r in all_runs(uri)}
    killed = next(r for r in runs.values() if r.info.run_name == "lr=0.01"
                  and "nnexp.resumed_from" not in r.data.tags)
    continued = runs[killed.data.tags["nnexp.continued_by"]]
    assert killed.info.status == "FAILED"  # its process was gone: ended from its journal
    assert killed.data.tags["nnexp.status_reason"].startswith("resume: process ")
    assert continued.info.status == "FINISHED"
    assert continued.data.tags["nnexp.resumed_from"] == killed.info.run_id
    epoch = int(continued.data.tags["nnexp.resumed_at_epoch"])
    assert epoch % 2 == 0 and 2 <= epoch <= 8
    assert continued.data.tags["nnexp.config_hash"] == killed.data.tags["nnexp.config_hash"]
    assert f"continues {killed.info.run_id} as run {continued.info.run_id}" in again.stdout
    parents = sorted((r for r in runs.values() if r.data.tags.get("nnexp.sweep") == "parent"),
                     key=lambda r: r.info.start_time)
    new_parent = parents[-1]
    assert continued.data.tags["mlflow.parentRunId"] == new_parent.info.run_id
    assert new_parent.info.status == "FINISHED"  # the finished child reused, nothing failed
    assert [k.rsplit(".", 1)[1] for k in new_parent.data.tags
            if k.startswith("nnexp.sweep.reused.")] == [finished[0].info.run_id]

    from nnexp.runs import main as runs_main  # the killed sweep's parent, summarised later

    assert runs_main(["summarize", parents[0].info.run_id, "--tracking-uri", uri]) == 0
    path = client_for(uri).download_artifacts(parents[0].info.run_id, "summary/children.csv",
                                              str(tmp_path / "summary"))
    with open(path) as handle:
        rows = {r["lr"]: r for r in csv.DictReader(handle)}
    assert rows["0.01"]["run_name"] == "lr=0.01 (continued)"
    assert (rows["0.01"]["run_id"], rows["0.01"]["status"]) == (continued.info.run_id,
                                                                "FINISHED")

    check = run_inprocess(["nnexp.reproduce", continued.info.run_id, "--quiet"], cwd=tmp_path,
                          env={"MLFLOW_TRACKING_URI": uri})
    assert check.returncode == 0, check.stdout + check.stderr
    assert "identical: " in check.stdout
    client = client_for(uri)
    twin = client.search_runs([continued.info.experiment_id],
                              f"tags.`nnexp.reproduced_from` = '{continued.info.run_id}'")[0]
    for name in ("weights.npz", "metrics/history.npz"):
        ours = _arrays(client, continued.info.run_id, name, tmp_path / "a" / name)
        uninterrupted = _arrays(client, twin.info.run_id, name, tmp_path / "b" / name)
        # times say when, not what; a sweep child keeps its weight hashes in its history file,
        # its single-run twin in weight_hashes.npz (reproduce compared them above: identical)
        skip = ("time/", "weight_hashes/")
        keys = [k for k in ours if not k.startswith(skip)]
        assert keys == [k for k in uninterrupted if not k.startswith(skip)]
        for key in keys:
            assert ours[key].tobytes() == uninterrupted[key].tobytes(), (name, key)
