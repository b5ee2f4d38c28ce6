"""Params hold the YAML text of each value (`true`, `null`, `[16, 8]`), so MLflow filters written
as a YAML user thinks work, and `diff`/`reproduce` show values the same way."""

from __future__ import annotations

import json

from helpers import client_for

from nnexp.diff import diff_main
from nnexp.reproduce import reproduce


def _found(store_uri: str, run_id: str, condition: str) -> bool:
    client = client_for(store_uri)
    experiment = client.get_run(run_id).info.experiment_id
    return run_id in {r.info.run_id for r in client.search_runs([experiment], condition)}


def test_search_runs_filters_on_yaml_text(train_run, store_uri):
    run_id = train_run("model.hidden=[16,8]", "lr=0.05")
    for condition in ("params.`data.standardize` = 'true'",
                      "params.`optimizer.clip_norm` = 'null'",
                      "params.`dataset.standardized` = 'true'",
                      "params.optimizer = 'sgd'",
                      "params.`model.hidden` = '[16, 8]'",
                      "params.lr = '0.05'"):
        assert _found(store_uri, run_id, condition), condition
    params = client_for(store_uri).get_run(run_id).data.params
    assert "True" not in params.values() and "None" not in params.values()


def test_diff_and_reproduce_show_the_same_text(train_run, store_uri, capsys):
    a = train_run("data.standardize=true")
    b = train_run("data.standardize=false", "optimizer.clip_norm=1.5")
    assert diff_main([a, b, "--tracking-uri", store_uri, "--json"]) == 0
    config = json.loads(capsys.readouterr().out)["config"]
    assert config == {"data.standardize": ["true", "false"],
                      "optimizer.clip_norm": ["null", "1.5"]}

    assert reproduce([a, "--tracking-uri", store_uri, "--quiet",
                      "--overrides", "data.standardize=false"]) == 0
    out = capsys.readouterr().out
    assert "  config data.standardize: true -> false" in out, out
