"""Pruning through the store in real sweeps: hopeless children stop, say why, and the summary
lists them; the store is the only thing the children share."""

from __future__ import annotations

import csv
import importlib.util
import statistics
from pathlib import Path

import pytest
from helpers import all_runs, client_for, run_cli, run_inprocess

FAST = ["optimizer=sgd", "model.hidden=[8]", "tracking.log_every_n_steps=5", "tracking.plots=false",
        "tracking.log_model=false"]


def _sweep(tmp_path: Path) -> tuple[str, object, dict[str, object]]:
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    runs = all_runs(uri)
    parent = next(r for r in runs if r.data.tags.get("nnexp.sweep") == "parent")
    children = {r.data.params["lr"]: r for r in runs
                if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    return uri, parent, children


def _value_at_epoch(client, run, key: str, epoch: int) -> float:
    """A child's metric at the end of `epoch`, read from its own history in the store."""
    steps = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "epoch")}
    step = next(s for s, e in steps.items() if e == epoch)
    return next(m.value for m in client.get_metric_history(run.info.run_id, key) if m.step == step)


def test_median_pruning_stops_hopeless_learning_rates_and_says_why(tmp_path):
    # sequential: the two good rates finish first, the hopeless ones meet their median
    proc = run_inprocess(["nnexp.train", "-m", "lr=0.3,0.1,1e-5,1e-6", "train.epochs=4", *FAST,
                          "sweep.prune=median", "sweep.prune_warmup_epochs=1",
                          "sweep.prune_startup_runs=2"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "pruned at epoch 2, run" in proc.stdout
    assert proc.stdout.splitlines()[1] == ("pruning: 4 children, median: a child may stop after "
                                           "epoch 1 once 2 of its siblings have finished")
    uri, parent, children = _sweep(tmp_path)
    client = client_for(uri)
    good = [children["0.3"], children["0.1"]]
    for child in good:
        assert child.info.status == "FINISHED" and "nnexp.pruned" not in child.data.tags
        assert child.data.tags["nnexp.prune.cost"].startswith("3 checks, ")
    median = statistics.median(_value_at_epoch(client, c, "val/loss", 2) for c in good)
    for lr in ("1e-05", "1e-06"):
        child = children[lr]
        run_tags = child.data.tags
        assert child.info.status == "KILLED"
        assert run_tags["nnexp.pruned.epoch"] == "2" and run_tags["nnexp.epochs_run"] == "2"
        best = min(_value_at_epoch(client, child, "val/loss", e) for e in (1, 2))
        assert run_tags["nnexp.pruned"] == (f"epoch 2: val/loss {best!r} worse than the median "
                                            f"{median!r} of 2 siblings (median)")
        assert run_tags["nnexp.prune.value.2"] == repr(
            _value_at_epoch(client, child, "val/loss", 2))
        assert run_tags["nnexp.status_reason"].startswith("pruned at epoch 2: ")
        assert "test/loss" not in child.data.metrics  # stopped: no test split, no model
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"weights.npz", "metrics"} <= artifacts
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["nnexp.sweep.n_pruned"] == "2"
    assert parent.data.tags["nnexp.sweep.n_failed"] == "0"
    assert parent.data.tags["nnexp.best_run_id"] in {c.info.run_id for c in good}
    path = client.download_artifacts(parent.info.run_id, "summary/children.csv", str(tmp_path))
    with open(path) as handle:
        rows = {r["lr"]: r for r in csv.DictReader(handle)}
    assert {lr: (r["status"], r["pruned"]) for lr, r in rows.items()} == {
        "0.3": ("FINISHED", ""), "0.1": ("FINISHED", ""), "1e-05": ("KILLED", "2"),
        "1e-06": ("KILLED", "2")}


def test_a_sweep_that_cannot_prune_says_so_when_it_starts(tmp_path):
    """Five children and median's default five finished siblings: no child can ever be pruned,
    and the first lines say so instead of leaving the user to wonder."""
    proc = run_inprocess(["nnexp.train", "-m", "lr=0.3,0.1,0.03,0.01,0.003", "train.epochs=1",
                          *FAST, "sweep.prune=median", "sweep.prune_warmup_epochs=0"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1] == (
        "pruning: 5 children, sweep.prune_startup_runs=5: no child can be pruned (median waits "
        "for 5 finished siblings; lower sweep.prune_startup_runs or launch more children)")
    assert "pruned at epoch" not in proc.stdout


@pytest.mark.usefixtures("mlruns_store")
@pytest.mark.parametrize("launcher", ["joblib"])
def test_asha_prunes_across_parallel_workers(tmp_path, launcher):
    # two workers: the hopeless rates start once a good one has finished, and meet it at rung 1
    proc = run_cli(["nnexp.train", "-m", f"hydra/launcher={launcher}", "hydra.launcher.n_jobs=2",
                    "lr=0.3,0.2,1e-5,1e-6", "train.epochs=3", *FAST, "sweep.prune=asha",
                    "sweep.prune_reduction_factor=2"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    _, parent, children = _sweep(tmp_path)
    for lr in ("1e-05", "1e-06"):
        run_tags = children[lr].data.tags
        assert children[lr].info.status == "KILLED"
        assert run_tags["nnexp.pruned.epoch"] == "1"
        assert run_tags["nnexp.pruned"].endswith("(asha)")
        assert "worse than the last value kept at this rung by" in run_tags["nnexp.pruned"]
    assert any(c.info.status == "FINISHED" for c in children.values())
    assert parent.info.status == "FINISHED"
    assert int(parent.data.tags["nnexp.sweep.n_pruned"]) >= 2


@pytest.mark.skipif(importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is None,
                    reason="the optuna extra is not installed (pip install -e '.[optuna]')")
def test_optuna_trials_are_pruned_through_the_store_and_the_study_gets_their_last_value(
        tmp_path):
    proc = run_inprocess(["nnexp.train", "-m", "hparams_search=lr_width",
                          "hydra.sweeper.n_trials=5", "train.epochs=3", "sweep.prune=median",
                          "sweep.prune_startup_runs=1", "sweep.prune_warmup_epochs=0",
                          "tracking.plots=false", "tracking.log_model=false"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    uri, parent, children = _sweep(tmp_path)
    pruned = [c for c in children.values() if "nnexp.pruned" in c.data.tags]
    finished = [c for c in children.values() if c.info.status == "FINISHED"]
    assert pruned and finished and len(pruned) + len(finished) == 5
    for child in pruned:
        assert child.info.status == "KILLED"
        epoch = int(child.data.tags["nnexp.pruned.epoch"])
        last = _value_at_epoch(client_for(uri), child, "val/loss", epoch)
        assert child.data.metrics["val/loss"] == last  # what the trial returned to the study:
        assert (f"[{child.info.run_name}] val/loss {last:.4f}  pruned at epoch {epoch}, "
                f"run {child.info.run_id}") in proc.stdout
    results = next((tmp_path / "multirun").glob("*/*/optimization_results.yaml")).read_text()
    best = min(finished, key=lambda c: c.data.metrics["val/loss"])
    assert f"best_value: {best.data.metrics['val/loss']!r}" in results
    assert parent.data.tags["nnexp.best_run_id"] == best.info.run_id
