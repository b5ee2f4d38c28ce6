"""Reproduce trains again whatever the sweep keys of the record say, and stops a pruned run
where its siblings stopped it."""

from __future__ import annotations

from helpers import client_for

from nnexp.record.tags import REPRODUCED_FROM
from nnexp.reproduce import reproduce
from nnexp.tracking.store import ensure_experiment


def _reproductions(uri: str, run_id: str) -> list:
    client = client_for(uri)
    exp = client.get_experiment_by_name("nnexp")
    return client.search_runs([exp.experiment_id], f"tags.`{REPRODUCED_FROM}` = '{run_id}'")


def test_a_pruned_child_is_reproduced_up_to_its_pruned_epoch(train_run, store_uri, capsys):
    client = client_for(store_uri)
    parent = client.create_run(ensure_experiment(client, "nnexp", store_uri)).info.run_id
    prune = ("optimizer=sgd", "train.epochs=4", "sweep.prune=median",
             "sweep.prune_warmup_epochs=1", "sweep.prune_startup_runs=2")
    for lr in ("0.3", "0.1"):
        train_run(*prune, f"lr={lr}", parent_run_id=parent, name=f"lr={lr}")
    pruned = train_run(*prune, "lr=1e-6", parent_run_id=parent, name="lr=1e-6")
    record = client.get_run(pruned)
    assert (record.info.status, record.data.tags["nnexp.pruned.epoch"]) == ("KILLED", "2")

    assert reproduce([pruned, "--tracking-uri", store_uri, "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("identical: ")
    (again,) = _reproductions(store_uri, pruned)
    assert again.info.status == "KILLED"
    assert again.data.tags["nnexp.pruned"] == f"epoch 2: stopped where run {pruned} was pruned"


def test_a_run_recorded_with_skip_finished_is_trained_again(train_run, store_uri, capsys):
    run_id = train_run("sweep.skip_finished=true", "sweep.resume=true")
    assert reproduce([run_id, "--tracking-uri", store_uri, "--quiet"]) == 0
    assert "identical: " in capsys.readouterr().out
    (again,) = _reproductions(store_uri, run_id)  # a new run, not the record answering itself
    assert again.info.run_id != run_id and again.info.status == "FINISHED"
