"""The store-backed pruner reads its siblings with one search, publishes its own values, and
never stops a run because the store failed."""

from __future__ import annotations

import logging

import pytest
from helpers import client_for

from nnexp.config import ConfigError, validate
from nnexp.sweeps.pruning_rules import PruneSettings
from nnexp.sweeps.store_pruner import StorePruner, rung_values


def _family(uri: str, finished: list[dict[int, float]], running: list[dict[int, float]]):
    client = client_for(uri)
    experiment = client.create_experiment("e")
    parent = client.create_run(experiment).info.run_id
    for values, status in [*((v, "FINISHED") for v in finished),
                           *((v, "RUNNING") for v in running)]:
        run = client.create_run(experiment, tags={
            "mlflow.parentRunId": parent,
            **{f"nnexp.prune.value.{e}": repr(v) for e, v in values.items()}})
        if status == "FINISHED":
            client.set_terminated(run.info.run_id)
    own = client.create_run(experiment, tags={"mlflow.parentRunId": parent}).info.run_id
    return client, experiment, parent, own


def _pruner(client, experiment, parent, own, rule="median", refresh=60.0, earlier=(), **kw):
    published = {}
    settings = PruneSettings(rule, "val/loss", "minimize", **kw)
    pruner = StorePruner(settings, client, experiment, parent, lambda: own, published.update,
                         refresh_seconds=refresh, earlier=earlier)
    return pruner, published


def test_median_reads_finished_siblings_only_and_records_its_decision_epochs(store_uri):
    finished = [{2: 0.5, 3: 0.4}, {2: 0.7, 3: 0.6}]
    client, experiment, parent, own = _family(store_uri, finished, running=[{2: 0.01}])
    pruner, published = _pruner(client, experiment, parent, own, warmup_epochs=1,
                                startup_runs=2)
    assert pruner.should_stop(1, {"val/loss": 0.9}) is None  # warm-up: no query, no value
    assert (pruner.queries, published) == (0, {})
    assert pruner.should_stop(2, {"val/loss": 0.55}) is None  # best 0.55 < median 0.6
    pruned = pruner.should_stop(3, {"val/loss": 0.8})
    assert pruned is not None and (pruned.threshold, pruned.n_siblings) == (0.5, 2)
    assert published == {}  # median siblings read finished runs: values go with the record
    assert pruner.queries == 1 and pruner.checks == 2  # siblings read once within refresh
    record = pruner.outcome_tags()
    assert record.pop("nnexp.prune.cost").startswith("2 checks, 1 store queries, ")
    assert record == {"nnexp.prune.value.2": "0.55", "nnexp.prune.value.3": "0.8"}


def test_asha_competes_with_siblings_in_any_state(store_uri):
    client, experiment, parent, own = _family(store_uri, [{1: 0.2}], running=[{1: 0.3}])
    pruner, published = _pruner(client, experiment, parent, own, rule="asha", refresh=0.0,
                                reduction_factor=2)
    pruned = pruner.should_stop(1, {"val/loss": 0.35})  # 3 at the rung: keep 1
    assert pruned is not None and (pruned.threshold, pruned.n_siblings) == (0.2, 2)
    assert published == {"nnexp.prune.value.1": "0.35"}  # at once: running siblings read it


def test_a_continued_run_is_judged_on_its_whole_past(store_uri):
    finished = [{2: 0.5, 3: 0.4}, {2: 0.7, 3: 0.6}]
    client, experiment, parent, own = _family(store_uri, finished, running=[])
    pruner, _ = _pruner(client, experiment, parent, own, warmup_epochs=1, startup_runs=2,
                        earlier=[0.9, 0.45])  # epochs 1 and 2, before its checkpoint
    assert pruner.should_stop(3, {"val/loss": 0.8}) is None  # its best, 0.45, beats 0.5
    record = pruner.outcome_tags()
    assert record["nnexp.prune.value.2"] == "0.45" and record["nnexp.prune.value.3"] == "0.8"
    asha, published = _pruner(client, experiment, parent, own, rule="asha", refresh=0.0,
                              reduction_factor=2, earlier=[0.3])
    asha.should_stop(2, {"val/loss": 0.2})
    assert published == {"nnexp.prune.value.1": "0.3", "nnexp.prune.value.2": "0.2"}


def test_an_unreachable_store_skips_the_check_with_one_warning(store_uri, caplog):
    client, experiment, parent, own = _family(store_uri, [{1: 0.1}], [])

    class Down:
        def search_runs(self, *args, **kwargs):
            raise ConnectionError("store down")

    pruner, _ = _pruner(Down(), experiment, parent, own, refresh=0.0, warmup_epochs=0,
                        startup_runs=1)
    with caplog.at_level(logging.WARNING):
        assert pruner.should_stop(1, {"val/loss": 9.0}) is None
        assert pruner.should_stop(2, {"val/loss": 9.0}) is None
    warnings = [r.getMessage() for r in caplog.records if "pruning skipped" in r.getMessage()]
    assert warnings == ["warning: pruning skipped at epoch 1: the store did not answer "
                        "(ConnectionError: store down)"]


def test_sibling_tags_not_written_by_nnexp_are_ignored():
    assert rung_values({"nnexp.prune.value.3": "0.5", "nnexp.prune.value.x": "1",
                        "nnexp.prune.value.4": "oops", "other": "2"}) == {3: 0.5}


@pytest.mark.parametrize(("overrides", "message"), [
    (["sweep.prune=hyperband"], "sweep.prune: got 'hyperband'; allowed: median, asha"),
    (["sweep.prune=median", "sweep.objective=test/loss"],
     "sweep.prune: needs a sweep.objective measured every epoch, got 'test/loss'; allowed: "
     "train/loss, val/loss, val/accuracy, weight_norm/layer1, weight_norm/layer2, "
     "update_ratio/layer1, update_ratio/layer2, dead_units/layer1"),
    (["sweep.prune=asha", "sweep.prune_reduction_factor=1"],
     "sweep.prune_reduction_factor: must be >= 2, got 1"),
    (["sweep.checkpoint_every=-1"], "sweep.checkpoint_every: must be >= 0, got -1"),
    (["sweep.resume=true", "tracking.enabled=false"],
     "sweep.resume: needs the tracking store (siblings and checkpoints meet there); "
     "tracking.enabled is false"),
])
def test_pruning_and_resume_settings_are_checked(make_cfg, overrides, message):
    with pytest.raises(ConfigError) as caught:
        validate(make_cfg(*overrides))
    assert str(caught.value) == message
