"""`reproduce` on a sweep's parent reproduces every child with a verdict each; `diff` between a
run and its reproduction finds nothing that changes the numbers."""

from __future__ import annotations

import json

from helpers import client_for

from nnexp.diff import diff_main
from nnexp.record.tags import REPRODUCED_FROM
from nnexp.reproduce import reproduce
from nnexp.sweeps.job import run_job
from nnexp.tracking.store import ensure_experiment


def _sweep(train_run, uri: str) -> tuple[str, list[str]]:
    client = client_for(uri)
    exp_id = ensure_experiment(client, "nnexp", uri)
    parent = client.create_run(exp_id, run_name="sweep lr",
                               tags={"nnexp.sweep": "parent"}).info.run_id
    children = [train_run(f"lr={lr}", parent_run_id=parent, name=f"lr={lr}")
                for lr in ("0.1", "0.01")]
    client.set_terminated(parent, "FINISHED")
    return parent, children


def test_a_sweep_parent_is_reproduced_child_by_child(train_run, store_uri, capsys):
    parent, children = _sweep(train_run, store_uri)
    code = reproduce([parent, "--tracking-uri", store_uri])
    out = capsys.readouterr().out.splitlines()
    assert code == 0, out
    assert out[0] == (f"run {parent} is the parent of sweep 'sweep lr': reproducing its 2 "
                      "children one after another")
    assert f"[1/2] lr=0.1 (run {children[0]})" in out
    assert sum(line.startswith("identical: 15 metrics") for line in out) == 2
    assert out[-3:] == [f"sweep {parent}: 2 of 2 children identical",
                        f"  lr=0.1   {children[0]}  identical",
                        f"  lr=0.01  {children[1]}  identical"]
    assert not any(line.startswith("epoch ") for line in out)  # one verdict a child, no epochs

    assert reproduce([parent, "--tracking-uri", store_uri, "--check-only"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-3:] == [f"sweep {parent}: the provenance of 2 of 2 children matches",
                        f"  lr=0.1   {children[0]}  provenance matches",
                        f"  lr=0.01  {children[1]}  provenance matches"]


def test_a_sweep_with_a_changed_child_says_which(train_run, store_uri, capsys):
    parent, children = _sweep(train_run, store_uri)
    client = client_for(store_uri)
    last = client.get_metric_history(children[1], "val/loss")[-1]
    client.log_metric(children[1], "val/loss", 0.125, step=last.step)  # tampered
    code = reproduce([parent, "--tracking-uri", store_uri])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[-3:] == [f"sweep {parent}: 1 of 2 children identical",
                        f"  lr=0.1   {children[0]}  identical",
                        f"  lr=0.01  {children[1]}  different"]


def test_diff_of_a_run_and_its_reproduction_flags_nothing(make_cfg, store_uri, capsys,
                                                          monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_uri)
    cfg = make_cfg("tracking.plots=false")
    cfg.tracking.uri = None  # as on the command line: the record says null, the copy its store
    run_id = run_job(cfg, run_name="run", verbose=False).run_id
    assert reproduce([run_id, "--tracking-uri", store_uri, "--quiet"]) == 0
    capsys.readouterr()
    client = client_for(store_uri)
    (copy,) = client.search_runs([client.get_run(run_id).info.experiment_id],
                                 f"tags.`{REPRODUCED_FROM}` = '{run_id}'")
    assert diff_main([run_id, copy.info.run_id, "--tracking-uri", store_uri, "--json"]) == 0
    diff = json.loads(capsys.readouterr().out)
    assert diff["config"] == {}
    assert diff["settings"] == {"tracking.uri": ["null", store_uri]}
    assert diff_main([run_id, copy.info.run_id, "--tracking-uri", store_uri]) == 0
    text = capsys.readouterr().out
    assert "config (A  B): identical\n" in text
    assert "* tracking.uri" not in text
    assert "(also differ, without changing the numbers: tracking.uri)" in text
