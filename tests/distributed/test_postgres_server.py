"""The cluster setup on one machine: a joblib sweep against a real `mlflow server` backed by
PostgreSQL, artifacts through the server's proxy, the server restarted while the jobs train;
then the records are read back whole, a child reproduced bit for bit and the sweep resumed.

PostgreSQL comes from the OS packages (`.ci/run` installs them) and runs in a temporary folder on
127.0.0.1, as the `postgres` user when the tests run as root.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import clean_env, client_for, require_postgres, run_cli, stop_process_group

from nnexp.ui import free_port

EPOCHS = 300
JOB = ["model.hidden=[16]", f"train.epochs={EPOCHS}", "tracking.experiment=pg",
       "tracking.retry_seconds=180"]
LRS = "lr=0.01,0.003"
# MLflow's client retries a refused connection for minutes with growing pauses (up to 2 min):
# without them, nnexp's own retries (every few seconds, journaled) carry the jobs through.
NNEXP_RETRIES_ONLY = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}


class LocalServer:
    """`python -m nnexp.server --backend postgresql`, as a user starts it: PostgreSQL in a folder
    under /tmp (which the `postgres` user can reach when tests run as root), the MLflow server,
    its artifacts and log under `root`; it accepts the Host 127.0.0.1:<port> only."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pg_dir = Path(tempfile.mkdtemp(prefix="nnexp-pg-"))
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nnexp.server", "--backend", "postgresql", "--dir",
             str(self.root), "--pg-dir", str(self.pg_dir), "--port", str(self.port),
             "--allowed-hosts", "127.0.0.1:*", "--workers", "1"],
            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        lines = []
        for line in self.process.stdout:
            lines.append(line)
            if line.startswith("ready: "):
                assert f"tracking.uri={self.uri}" in line
                return
        raise AssertionError("python -m nnexp.server did not start:\n" + "".join(lines))

    def stop(self) -> None:
        """Ctrl-C's path: the command stops the MLflow server, then PostgreSQL (data kept)."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            assert self.process.wait(timeout=60) == 0
        finally:
            stop_process_group(self.process, signal.SIGKILL)  # anything it could not stop
            self.process = None


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory):
    require_postgres()
    server = LocalServer(tmp_path_factory.mktemp("server"))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.pg_dir, ignore_errors=True)


def _children(client, experiment_id: str, parent_id: str) -> list:
    return client.search_runs([experiment_id], f"tags.`mlflow.parentRunId` = '{parent_id}'")


def _wait_until_training(client, sweep: subprocess.Popen, timeout_s: float = 300) -> list:
    """The sweep's two children once both exist, run and have logged their first epoch."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert sweep.poll() is None, sweep.communicate()
        experiment = client.get_experiment_by_name("pg")
        parents = [] if experiment is None else client.search_runs(
            [experiment.experiment_id], "tags.`nnexp.sweep` = 'parent'")
        if parents:
            children = _children(client, experiment.experiment_id, parents[0].info.run_id)
            if len(children) == 2 and all(c.info.status == "RUNNING" and "epoch" in c.data.metrics
                                          for c in children):
                return children
        time.sleep(0.2)
    raise AssertionError("the sweep's jobs did not start training")


def test_a_joblib_sweep_on_postgres_survives_a_server_restart_and_reproduces(pg_server,
                                                                             tmp_path):
    uri, port = pg_server.uri, pg_server.port
    client = client_for(uri)
    sweep = subprocess.Popen(
        [sys.executable, "-m", "nnexp.train", "-m", "hydra/launcher=joblib",
         "hydra.launcher.n_jobs=2", LRS, f"tracking.uri={uri}", *JOB],
        cwd=tmp_path, env=clean_env(**NNEXP_RETRIES_ONLY), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        # Meanwhile: the same server under a host name its --allowed-hosts does not list.
        (tmp_path / "refused").mkdir()
        refused = run_cli(["nnexp.train", f"tracking.uri=http://localhost:{port}", *JOB],
                          cwd=tmp_path / "refused")
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.strip().splitlines() == [
            f"nnexp.train: error: tracking.uri: the MLflow server at http://localhost:{port} "
            f"refuses the host name 'localhost:{port}' (HTTP 403): start the server with "
            f"--allowed-hosts 'localhost:{port}' (a comma-separated list that replaces MLflow's "
            "default of localhost and private addresses: list every name clients use), or use "
            "an address it allows"]

        running = _wait_until_training(client, sweep)
        pg_server.stop()  # MLflow and PostgreSQL: the jobs train on without a store
        pg_server.start()
        out, err = sweep.communicate(timeout=600)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert sweep.returncode == 0, err
    assert "Traceback" not in err

    # Every record is whole: the runs that were training through the outage above included.
    experiment_id = client.get_experiment_by_name("pg").experiment_id
    (parent,) = client.search_runs([experiment_id], "tags.`nnexp.sweep` = 'parent'")
    assert parent.info.status == "FINISHED"
    children = _children(client, experiment_id, parent.info.run_id)
    assert {c.info.run_id for c in children} == {c.info.run_id for c in running}
    assert sorted(c.data.params["lr"] for c in children) == ["0.003", "0.01"]
    for child in children:
        run_id = child.info.run_id
        assert child.info.status == "FINISHED"
        assert child.info.artifact_uri.startswith("mlflow-artifacts:")  # through the proxy
        epochs = [m.value for m in client.get_metric_history(run_id, "epoch")]
        assert epochs == list(range(1, EPOCHS + 1))
        assert len(client.get_metric_history(run_id, "val/loss")) == EPOCHS
        assert {a.path for a in client.list_artifacts(run_id)} >= {
            "config.yaml", "overrides.yaml", "weights.npz", "model_meta.json", "metrics",
            "plots", ".hydra"}
        # the server wrote the files it was sent into its --artifacts-destination
        stored = pg_server.root / "artifacts" / experiment_id / run_id / "artifacts"
        assert (stored / "weights.npz").is_file() and (stored / "config.yaml").is_file()
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "summary")} >= {
        "summary/children.csv", "summary/children.md"}
    # the sweep's best child has the full model (the other a light one, tracking.full_model)
    _check_model_loads(uri, client, parent.data.tags["nnexp.best_run_id"], tmp_path)

    # The same sweep again with skip_finished: a new parent reuses both children, trains none.
    resumed = run_cli(["nnexp.train", "-m", LRS, f"tracking.uri={uri}", *JOB,
                       "sweep.skip_finished=true"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    parents = client.search_runs([experiment_id], "tags.`nnexp.sweep` = 'parent'",
                                 order_by=["attributes.start_time DESC"])
    assert len(parents) == 2 and parents[0].info.status == "FINISHED"
    reused = sorted(k.rsplit(".", 1)[1] for k in parents[0].data.tags
                    if k.startswith("nnexp.sweep.reused."))
    assert reused == sorted(c.info.run_id for c in children)
    assert _children(client, experiment_id, parents[0].info.run_id) == []

    # A run id from the server's UI: reproduce finds its store (remembered by the sweep).
    child_id = children[0].info.run_id
    again = run_cli(["nnexp.reproduce", child_id, "--quiet"], cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1].startswith("identical: ")
    assert f"note: run {child_id} is not in {tmp_path / 'mlruns' / 'mlflow.db'} (no store " \
           f"there); reading it from {uri}" in again.stderr


def _check_model_loads(uri: str, client, run_id: str, tmp_path: Path) -> None:
    """The logged pyfunc model comes back through the server and predicts what the run's
    weights predict."""
    import mlflow
    from sklearn.datasets import load_digits

    from nnexp.tracking.logged_network import load_logged_network

    run = client.get_run(run_id)
    (logged,) = client.search_logged_models([run.info.experiment_id],
                                            filter_string=f"source_run_id = '{run_id}'")
    assert logged.artifact_location.startswith("mlflow-artifacts:")
    local = mlflow.artifacts.download_artifacts(logged.artifact_location, tracking_uri=uri,
                                                dst_path=str(tmp_path / "model"))
    model = mlflow.pyfunc.load_model(local)
    digits = load_digits(as_frame=True)
    table = digits.data[:5]  # a DataFrame with the data set's column names, as a user has it
    network = load_logged_network(client, run_id)
    expected = network.outputs(network.prepare(table.to_numpy(np.float64)))
    np.testing.assert_allclose(model.predict(table), expected, rtol=1e-5, atol=1e-6)
