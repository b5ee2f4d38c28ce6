"""A tracking server that is down when a job starts (told to wait for it with
tracking.start_wait_seconds), or goes down while it trains: the job waits, the journal keeps
every value, and the run ends complete once the server is back. Not told to wait, a job starts
locally at once: test_offline_start.py."""

from __future__ import annotations

import subprocess
import sys
import time

from helpers import clean_env, client_for, start_mlflow_server, stop_process_group

from nnexp.ui import free_port


def test_a_server_down_at_start_and_during_training_loses_nothing(tmp_path, _migrated_store):
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server_root = tmp_path / "server"
    server_root.mkdir()
    job = subprocess.Popen(
        [sys.executable, "-m", "nnexp.train", f"tracking.uri={uri}", "train.epochs=400",
         "model.hidden=[32]", "tracking.retry_seconds=300", "tracking.start_wait_seconds=300",
         "tracking.log_every_n_steps=1"],
        cwd=tmp_path, env=clean_env(), text=True, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    try:
        time.sleep(4)  # the job starts while no server answers: it must wait, not die
        assert job.poll() is None, job.communicate()[1]
        server = start_mlflow_server(server_root, port, schema=_migrated_store)
        assert job.stdout is not None
        while not job.stdout.readline().startswith("epoch"):  # the run exists and trains
            assert job.poll() is None, job.communicate()[1]
        stop_process_group(server)  # an outage while it trains
        time.sleep(8)
        server = start_mlflow_server(server_root, port)
        out, err = job.communicate(timeout=600)
    finally:
        if job.poll() is None:
            job.kill()
    try:
        assert job.returncode == 0, err
        assert "waiting up to 300 s for the tracking store" in err
        assert "Traceback" not in err
        client = client_for(uri)
        (run,) = client.search_runs([client.get_experiment_by_name("nnexp").experiment_id])
        assert run.info.status == "FINISHED"
        epochs = [m.value for m in client.get_metric_history(run.info.run_id, "epoch")]
        assert epochs == list(range(1, 401))
        steps = client.get_metric_history(run.info.run_id, "train/loss_step")
        assert 900 <= len(steps) <= 1000  # every step journaled, the store's budget sent
        assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {
            "weights.npz", "metrics", "plots"}
        assert out.splitlines()[-2:] == [  # a server shows its runs itself: its page
            f"run {run.info.run_id} recorded in {uri}",
            f"open: {uri}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
            "?workflowType=machine_learning"]
    finally:
        stop_process_group(server)
