"""What a sweep's end asks of the store: the parent read once when it ends and once for its
report (its experiment looked up once, by the parent, not again by its jobs), its children with
one search (no child read again), no file its jobs sent from this process fetched back, its
summary tags and best objective in one log_batch; the record is what the children say."""

from __future__ import annotations

import math
from collections import Counter

from helpers import client_for

import nnexp
from nnexp.sweeps.parent import SweepParent
from nnexp.tracking import sent_files
from nnexp.tracking.records import RunFiles

COUNTED = ("get_run", "search_runs", "set_tag", "log_metric", "log_batch", "update_run",
           "list_artifacts", "download_artifacts")


def test_the_sweeps_end_reads_the_children_once_and_writes_its_tags_in_one_batch(
        store_uri, monkeypatch):
    from mlflow.tracking import MlflowClient

    calls: list[tuple[str, str]] = []
    ending = []

    def counted(name, always=False):
        method = getattr(MlflowClient, name)

        def call(self, *args, **kwargs):
            if ending or always:
                calls.append((name, str(args[0]) if args else ""))
            return method(self, *args, **kwargs)
        return call

    for name in COUNTED:
        monkeypatch.setattr(MlflowClient, name, counted(name))
    monkeypatch.setattr(MlflowClient, "get_experiment_by_name",
                        counted("get_experiment_by_name", always=True))
    fetch = RunFiles._fetch
    monkeypatch.setattr(RunFiles, "_fetch", lambda self, name, *a, **k: calls.append(
        ("fetch", name)) or fetch(self, name, *a, **k))
    finish = SweepParent.finish

    def counting_finish(self, **kwargs):
        ending.append(1)
        try:
            return finish(self, **kwargs)
        finally:
            ending.clear()

    monkeypatch.setattr(SweepParent, "finish", counting_finish)

    swept = nnexp.sweep("lr=0.05,0.01,0.001", "data=iris", "train.epochs=2", "model.hidden=[8]",
                        "tracking.plots=false", f"tracking.uri={store_uri}", verbose=False)
    parent_id = swept.parent_run_id
    children = {run.run_id for run in swept.runs}
    made = Counter(name for name, _ in calls)
    assert made["get_experiment_by_name"] == 2  # by the parent, missing, then under the lock
    assert made["search_runs"] == 1
    assert [run for name, run in calls if name == "get_run"] == [parent_id, parent_id]
    assert made["list_artifacts"] == made["download_artifacts"] == made["log_metric"] == 0
    assert made["update_run"] == 0 and made["fetch"] == 0  # the jobs ran in this process
    assert sent_files.recall(swept.best.run_id, "weights.npz") is None  # forgotten at the end
    assert [run for name, run in calls if name == "log_batch"] == [parent_id, swept.best.run_id]
    assert [run for name, run in calls if name == "set_tag"] == [parent_id]  # its description

    client = client_for(store_uri)
    parent = client.get_run(parent_id)
    ended = [client.get_run(run_id) for run_id in children]
    best = min(ended, key=lambda run: run.data.metrics["val/loss"])
    assert parent.data.tags["nnexp.best_run_id"] == best.info.run_id
    assert parent.data.tags["nnexp.sweep.n_children"] == "3"
    assert math.isclose(parent.data.metrics["best/val/loss"], best.data.metrics["val/loss"])
    assert float(parent.data.tags["nnexp.best_objective"]) == best.data.metrics["val/loss"]
    assert parent.data.tags["mlflow.note.content"].count("| FINISHED |") == 3
    assert len(client.get_run(best.info.run_id).outputs.model_outputs) == 1  # its full model
    summary = {a.path for a in client.list_artifacts(parent_id, "summary")}
    assert summary == {"summary/children.csv", "summary/children.md", "summary/report.html",
                       "summary/val_loss_vs_lr.png"}
