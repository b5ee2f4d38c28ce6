"""The real command lines in subprocesses: `nnexp.train` and `nnexp.gradcheck`."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import all_runs, clean_env, client_for, run_cli, run_inprocess

from nnexp.tracking.store import default_tracking_uri, resolve_tracking_uri


@pytest.mark.usefixtures("mlruns_store")
def test_train_command_line_records_run_with_hydra_folder(tmp_path):
    proc = run_cli(["nnexp.train", "train.epochs=2", "model.hidden=[16]"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "model: 64 -> dense 16 -> relu -> dense 10 (1,210 parameters)"
    assert lines[1].startswith("epoch 1/2  train/loss ")
    assert lines[-3].startswith("done in ") and "test/accuracy" in lines[-3]
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    (run,) = all_runs(uri)
    assert lines[-2] == f"run {run.info.run_id} recorded in {tmp_path / 'mlruns' / 'mlflow.db'}"
    assert lines[-1] == f"open: python -m nnexp.ui --run {run.info.run_id}"
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "train.epochs=2,model.hidden=[16]"
    assert run.data.tags["nnexp.command"] == (
        "python -m nnexp.train train.epochs=2 model.hidden=[16]")
    hydra = {a.path for a in client_for(uri).list_artifacts(run.info.run_id, ".hydra")}
    assert {".hydra/config.yaml", ".hydra/overrides.yaml", ".hydra/hydra.yaml"} == hydra
    artifacts = tmp_path / "mlruns" / "artifacts" / "nnexp" / run.info.run_id / "artifacts"
    assert (artifacts / "weights.npz").is_file()


def test_tracking_uri_comes_from_config_then_environment_then_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_tracking_uri(None) == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    assert default_tracking_uri() == resolve_tracking_uri(None)
    env_uri = f"sqlite:///{tmp_path / 'env' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env_uri)
    assert resolve_tracking_uri(None) == env_uri
    cfg_uri = f"sqlite:///{tmp_path / 'cfg' / 'mlflow.db'}"
    assert resolve_tracking_uri(cfg_uri) == cfg_uri


def test_gradcheck_command_passes_and_fails_on_tolerance(tmp_path):
    ok = run_inprocess(["nnexp.gradcheck", "model.hidden=[6,4]", "model.activation=tanh"],
                       cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    rows = [line.split() for line in ok.stdout.splitlines()[1:-1]]
    assert [r[0] for r in rows] == ["layer1.weight", "layer1.bias", "layer2.weight",
                                    "layer2.bias", "layer3.weight", "layer3.bias"]
    assert all(float(r[1]) < 1e-6 and r[2] == "ok" for r in rows)
    assert ok.stdout.splitlines()[-1] == "gradient check passed"
    strict = run_inprocess(["nnexp.gradcheck", "model.hidden=[6,4]", "gradcheck.tol=1e-30"],
                           cwd=tmp_path)
    assert strict.returncode == 1
    assert "gradient check failed for layer1.weight" in strict.stderr
    assert not (tmp_path / "mlruns" / "mlflow.db").exists()  # nothing is tracked


def test_a_command_piped_into_head_ends_quietly():
    """`nnexp.diff A B | head`: the closed pipe ends the command with exit 0, no traceback."""
    code = ("from nnexp.cli import run_cli\n"
            "run_cli(lambda: [print('line', i) for i in range(200_000)], 'nnexp.diff')\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=clean_env())
    assert proc.stdout is not None and proc.stdout.readline() == "line 0\n"
    proc.stdout.close()  # as head does after its lines
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.wait(timeout=60) == 0
    assert err == ""
