"""`nnexp.train` in-process on composed configs: what lands in the MLflow store."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import all_runs, client_for

from nnexp.engine import load_model
from nnexp.sweeps.job import run_job


def test_default_run_records_params_metrics_artifacts(make_cfg, store_uri, tmp_path):
    cfg = make_cfg("train.epochs=3", "tracking.log_every_n_steps=5")
    result = run_job(cfg, run_name="defaults", overrides=["train.epochs=3"], verbose=False)

    (run,) = all_runs(store_uri)
    assert run.info.run_id == result.run_id
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "defaults"
    params = run.data.params
    assert params["model.hidden"] == "[16]"
    assert params["lr"] == "0.1" and "optimizer.lr" not in params  # one key, one value
    assert params["optimizer.name"] == "sgd"  # plain gradient descent
    assert params["data.name"] == "digits"

    client = client_for(store_uri)
    steps_per_epoch = int(np.ceil(int(params["dataset.n_train"]) / 32))
    history = {k: client.get_metric_history(run.info.run_id, k) for k in run.data.metrics}
    epoch_ends = [steps_per_epoch, 2 * steps_per_epoch, 3 * steps_per_epoch]  # global steps
    for key in ("train/loss", "val/loss", "val/accuracy", "weight_norm/layer1",
                "weight_norm/layer2", "update_ratio/layer1", "update_ratio/layer2",
                "dead_units/layer1", "epoch"):
        assert [m.step for m in history[key]] == epoch_ends, key
    assert [m.value for m in history["epoch"]] == [1, 2, 3]
    logged_steps = list(range(0, 3 * steps_per_epoch, 5))
    for key in ("train/loss_step", "lr", "grad_norm/layer1", "grad_norm/layer2"):
        assert [m.step for m in history[key]] == logged_steps, key
    assert len(history["test/accuracy"]) == 1
    assert run.data.metrics["test/accuracy"] > 0.5

    tags = run.data.tags
    assert tags["nnexp.seed"] == "0"
    assert tags["nnexp.version.numpy"] == np.__version__
    assert "nnexp.git.dirty" in tags and "nnexp.version.python" in tags

    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "overrides.yaml", "weights.npz", "plots"} <= names
    assert {a.path for a in client.list_artifacts(run.info.run_id, "metrics")} == {
        "metrics/history.npz", "metrics/weight_hashes.npz"}
    assert tags["nnexp.verdict"] == "healthy"
    assert tags["nnexp.verdict.evidence"].startswith("train/loss ")
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert plots == {"plots/loss_curves.png", "plots/gradient_norms.png",
                     "plots/confusion_matrix.png"}
    weights = client.download_artifacts(run.info.run_id, "weights.npz", str(tmp_path))
    model = load_model(weights)
    assert model.layer_names == ["layer1", "layer2"]


def test_regression_on_line_learns_a_and_b(make_cfg, store_uri):
    cfg = make_cfg("data=line", "model.hidden=[]", "optimizer=sgd", "lr=0.1",
                   "train.epochs=60", fast=False)
    result = run_job(cfg, run_name="line", verbose=False)
    (run,) = all_runs(store_uri)
    assert "val/accuracy" not in run.data.metrics
    assert result.metrics["test/loss"] < 0.05  # noise 0.1 -> irreducible mse 0.01
    assert run.data.params["train.loss_resolved"] == "mse"


def test_tracking_off_creates_no_store(make_cfg, tmp_path):
    cfg = make_cfg("tracking.enabled=false")
    result = run_job(cfg, run_name="off", verbose=False)
    assert result.run_id is None and np.isfinite(result.objective)
    assert not (tmp_path / "mlruns").exists()


def test_same_seed_gives_identical_metrics(make_cfg, store_uri):
    first = run_job(make_cfg("seed=3"), run_name="a", verbose=False)
    second = run_job(make_cfg("seed=3"), run_name="b", verbose=False)
    other = run_job(make_cfg("seed=4"), run_name="c", verbose=False)
    assert first.metrics == second.metrics
    assert first.metrics != other.metrics


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop"])
def test_every_optimizer_learns_digits(make_cfg, optimizer):
    cfg = make_cfg(f"optimizer={optimizer}", "train.epochs=10", "tracking.enabled=false")
    result = run_job(cfg, run_name=optimizer, verbose=False)
    assert result.metrics["val/accuracy"] > 0.7, result.metrics  # chance is 0.1
