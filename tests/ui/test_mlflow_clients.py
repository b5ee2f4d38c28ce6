"""What MLflow's own clients show of nnexp's records: `mlflow runs describe` of a sweep's child,
and a sweep's parent carrying the same provenance tags (user, source, git) as its children."""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import all_runs, client_for, store_of

PROVENANCE = ("mlflow.user", "mlflow.source.name", "mlflow.source.type",
              "mlflow.source.git.commit", "mlflow.source.git.branch", "nnexp.git.dirty",
              "nnexp.platform", "nnexp.version.nnexp", "nnexp.version.mlflow")


def _sweep(root):
    runs = all_runs(store_of(root))
    (parent,) = [r for r in runs if r.data.tags.get("nnexp.sweep") == "parent"]
    return parent, [r for r in runs if r is not parent]


def test_mlflow_runs_describe_shows_the_run_as_recorded(sweep_store):
    parent, children = _sweep(sweep_store)  # the best child: it has the full model
    child = next(r for r in children if r.info.run_id == parent.data.tags["nnexp.best_run_id"])
    lr = child.data.params["lr"]
    done = subprocess.run([sys.executable, "-m", "mlflow", "runs", "describe", "--run-id",
                           child.info.run_id], capture_output=True, text=True, timeout=90,
                          env={"MLFLOW_TRACKING_URI": store_of(sweep_store),
                               "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    described = json.loads(done.stdout)
    info, data = described["info"], described["data"]
    assert (info["run_name"], info["status"]) == (f"lr={lr}", "FINISHED")
    assert info["user_id"] == data["tags"]["mlflow.user"]
    assert {k: data["params"][k] for k in ("lr", "model.hidden", "optimizer")} == {
        "lr": lr, "model.hidden": "[16]", "optimizer": "sgd"}
    assert data["metrics"] == child.data.metrics  # the final values, test/* included
    assert {"val/loss", "val/accuracy", "test/loss", "test/accuracy", "epoch"} <= set(
        data["metrics"])
    assert data["tags"]["mlflow.parentRunId"] == child.data.tags["mlflow.parentRunId"]
    assert data["tags"]["mlflow.source.name"] == "nnexp.train"
    contexts = {i["tags"]["mlflow.data.context"] for i in described["inputs"]["dataset_inputs"]}
    assert contexts == {"source", "train", "val", "test"}  # the file or set, then its splits
    (output,) = described["outputs"]["model_outputs"]
    assert output["model_id"] == child.outputs.model_outputs[0].model_id
    epochs = client_for(store_of(sweep_store)).get_metric_history(child.info.run_id, "epoch")
    assert output["step"] == epochs[-1].step  # the model is the one of the last epoch


def test_sweep_parent_carries_the_provenance_of_its_children(sweep_store):
    parent, children = _sweep(sweep_store)
    for child in children:
        for key in PROVENANCE:
            if key in child.data.tags:
                assert parent.data.tags.get(key) == child.data.tags[key], key
    assert "mlflow.user" in parent.data.tags and parent.info.user_id == parent.data.tags[
        "mlflow.user"]
