"""`hydra/launcher=ray` against a Ray head started on 127.0.0.1: the sweep's parent and its
children are complete in the store, the children nested under the parent although Ray's
workers do not inherit the launching process's environment.

Hydra's Ray launcher pins cloudpickle below 3, which this environment's joblib refuses, so it
lives in a virtual environment of its own (with --system-site-packages pip reports the
conflict and leaves it broken). The end-to-end test runs only where NNEXP_RAY_VENV names that
environment; it is created there on first use (about 1.5 minutes and 1.2 GB):

    NNEXP_RAY_VENV=/tmp/nnexp-ray python -m pytest tests/distributed/test_ray_launcher.py
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from helpers import REPO, all_runs, clean_env
from omegaconf import OmegaConf

from nnexp.sweeps.ray_handoff import (
    LOCAL_OBJECT_STORE_BYTES,
    RAY_LAUNCHER,
    ray_init_arguments,
    uses_ray,
)
from nnexp.ui import free_port

VENV_ENV = "NNEXP_RAY_VENV"


def _launcher(**init: object):
    return OmegaConf.create({"hydra": {"launcher": {"_target_": RAY_LAUNCHER,
                                                    "ray": {"init": init, "remote": {}}}}})


def test_the_hand_off_reaches_every_ray_worker_and_a_cluster_gets_no_local_settings(
        monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    handoff = {"NNEXP_PARENT_RUN_ID": "abc", "MLFLOW_TRACKING_URI": "http://mlflow:5000"}
    on_cluster = ray_init_arguments(_launcher(address="10.0.0.7:6379"), handoff)
    assert on_cluster == {"address": "10.0.0.7:6379", "runtime_env": {"env_vars": handoff}}
    local = ray_init_arguments(_launcher(address=None, runtime_env={"env_vars": {"A": "1"}}),
                               handoff)
    assert local["object_store_memory"] == LOCAL_OBJECT_STORE_BYTES
    assert local["runtime_env"] == {"env_vars": {"A": "1", **handoff}}
    with_password = ray_init_arguments(_launcher(address="10.0.0.7:6379"), {
        "MLFLOW_TRACKING_URI": "http://alice:s3cret@mlflow:5000"})
    assert with_password["runtime_env"]["env_vars"] == {"MLFLOW_TRACKING_URI": "http://mlflow:5000"}
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.7:6379")  # ray.init() connects to that cluster
    assert "object_store_memory" not in ray_init_arguments(_launcher(address=None), handoff)
    assert uses_ray(_launcher()) and not uses_ray(OmegaConf.create({"hydra": {"launcher": {
        "_target_": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"}}}))


def _ray_python() -> Path:
    """The Python of the environment with the `ray` extra; created on first use."""
    folder = os.environ.get(VENV_ENV)
    if not folder:
        pytest.skip(f"Hydra's Ray launcher needs an environment of its own (it pins cloudpickle<3, "
                    f"which joblib 1.6 refuses): set {VENV_ENV}=<folder> to create and use one")
    python = Path(folder) / "bin" / "python"
    if not python.is_file():
        subprocess.run([shutil.which("python3") or "python3", "-m", "venv", folder], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", f"{REPO}[ray]"],
                       check=True, timeout=1800)
    return python


def _start_head(python: Path, cwd: Path, temp: Path, port: int) -> subprocess.Popen[str]:
    """`ray start --head --block` on 127.0.0.1 in its own process group; returns once it runs."""
    head = subprocess.Popen(
        [str(python.parent / "ray"), "start", "--head", "--node-ip-address=127.0.0.1",
         f"--port={port}", "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
         "--object-store-memory=100000000", f"--temp-dir={temp}", "--block"],
        cwd=cwd, env=clean_env(PYTHONPATH=str(REPO), RAY_USAGE_STATS_ENABLED="0"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    assert head.stdout is not None
    for line in head.stdout:
        lines.append(line)
        if "Ray runtime started" in line:
            return head
    raise AssertionError("the Ray head did not start:\n" + "".join(lines[-20:]))


def _stop_head(head: subprocess.Popen[str]) -> None:
    """SIGTERM the head's process group (GCS, raylet, workers); SIGKILL what is left."""
    for sig, wait_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(head.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            head.poll()
            try:
                os.killpg(head.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def test_a_sweep_on_a_ray_head_records_a_parent_and_nested_children(tmp_path):
    python = _ray_python()
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # Ray's socket paths must be short
    port = free_port()
    head = _start_head(python, tmp_path, temp, port)
    try:
        sweep = subprocess.run(
            [str(python), "-m", "nnexp.train", "-m", "hydra/launcher=ray",
             f"hydra.launcher.ray.init.address=127.0.0.1:{port}", "lr=0.1,0.01",
             "train.epochs=2", "model.hidden=[8]"],
            cwd=tmp_path, env=clean_env(PYTHONPATH=str(REPO), RAY_USAGE_STATS_ENABLED="0"),
            capture_output=True, text=True, timeout=600)
    finally:
        _stop_head(head)
        shutil.rmtree(temp, ignore_errors=True)
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    runs = all_runs(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    (parent,) = [r for r in runs if r.data.tags.get("nnexp.sweep") == "parent"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == 3 and parent.info.status == "FINISHED"
    assert parent.data.tags["nnexp.sweep.launcher"] == RAY_LAUNCHER
    assert sorted(c.info.run_name for c in children) == ["lr=0.01", "lr=0.1"]
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.params["lr"] in ("0.1", "0.01")
        assert {"val/loss", "test/accuracy", "epoch"} <= set(child.data.metrics)
        assert child.data.tags["nnexp.pid"] != parent.data.tags["nnexp.pid"]  # a Ray worker
    best = min(children, key=lambda c: c.data.metrics["val/loss"])
    assert parent.data.tags["nnexp.best_run_id"] == best.info.run_id
