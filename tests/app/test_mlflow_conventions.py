"""MLflow conventions a power user relies on (issue 25): a sweep's `mlflow.search_runs` returns
the params that change the numbers and the group choices under their own names, a run carries
the user's description and tags, `runs:/<run id>/model` loads its model, and runs recorded
before (all the config as params, the model named after the run) still predict and reproduce."""

from __future__ import annotations

import re

import mlflow
import numpy as np
import pandas as pd
import pytest
from helpers import client_for, logged_config, model_uri

import nnexp
from nnexp.config import BOOKKEEPING_SECTIONS
from nnexp.record.params import flatten
from nnexp.sweeps.job import run_job

FAST = ("data=iris", "train.epochs=1", "model.hidden=[8]", "tracking.plots=false")

NUMBERS_PARAMS = sorted([
    "seed", "lr",
    "model.hidden", "model.activation", "model.init", "model.negative_slope", "model.dtype",
    "model.n_parameters", "model.summary",
    "optimizer.name", "optimizer.momentum", "optimizer.beta1", "optimizer.beta2",
    "optimizer.alpha", "optimizer.eps", "optimizer.weight_decay", "optimizer.clip_norm",
    "schedule.name", "schedule.warmup_steps", "schedule.step_size", "schedule.gamma",
    "schedule.decay", "schedule.min_lr",
    "data.name", "data.standardize", "data.n_samples", "data.noise", "data.image_dir",
    "data.image_size", "data.image_mode", "data.path", "data.target", "data.features",
    "data.delimiter", "data.task", "data.categorical", "data.digest",
    "train.epochs", "train.batch_size", "train.val_fraction", "train.test_fraction",
    "train.patience", "train.loss", "train.loss_resolved",
    "dataset.name", "dataset.task", "dataset.n_features", "dataset.n_classes", "dataset.n_train",
    "dataset.n_val", "dataset.n_test", "dataset.dtype", "dataset.standardized",
    "dataset.image_shape", "dataset.digest", "dataset.source",
    "data", "model", "optimizer", "schedule",  # the group choices, as swept
])


def test_a_sweeps_search_runs_returns_what_changes_the_numbers_and_the_users_tags(
        mlflow_state):
    swept = nnexp.sweep("optimizer=sgd,adam", *FAST, "tracking.log_model=false",
                        "tracking.tags={team: vision, ticket: 42}",
                        "tracking.description=first look at adam", verbose=False)
    children = mlflow.search_runs(
        experiment_names=["nnexp"],
        filter_string=f"tags.mlflow.parentRunId = '{swept.parent_run_id}'")
    assert len(children) == 2
    params = sorted(c.removeprefix("params.") for c in children.columns
                    if c.startswith("params."))
    assert params == NUMBERS_PARAMS
    assert not [p for p in params if p.split(".")[0] in BOOKKEEPING_SECTIONS]
    found = mlflow.search_runs(experiment_names=["nnexp"],
                               filter_string="params.optimizer = 'adam'")
    assert list(found["run_id"]) == [swept.runs[1].run_id]
    assert list(found["params.optimizer.name"]) == ["adam"]

    assert list(children["tags.team"]) == ["vision"] * 2
    assert list(children["tags.ticket"]) == ["42"] * 2
    assert list(children["tags.mlflow.note.content"]) == ["first look at adam"] * 2
    parent = client_for(mlflow_state).get_run(swept.parent_run_id)
    assert (parent.data.tags["team"], parent.data.tags["ticket"]) == ("vision", "42")
    # the user's description first, then the ranked summary the sweep wrote below it
    note = parent.data.tags["mlflow.note.content"]
    assert note.startswith(
        "first look at adam\n\n<!-- nnexp: sweep summary -->\n**sweep optimizer x2")
    assert swept.runs[0].run_id in note and swept.runs[1].run_id in note
    # the whole config, bookkeeping included, is the config.yaml artifact
    config = logged_config(mlflow_state, swept.runs[1].run_id)
    assert (config["tracking.tags.team"], config["tracking.tags.ticket"]) == ("vision", "42")
    assert config["optimizer.name"] == "adam"


def test_a_run_from_the_command_line_records_hydras_group_choices_and_description(
        store_uri, tmp_path):
    from test_hydra_conventions import _call_main

    code, err = _call_main(["experiment=tutorial_line", "train.epochs=1", "tracking.plots=false",
                            "tracking.log_model=false", f"tracking.uri={store_uri}",
                            "tracking.description='y = ax + b, once'", "tracking.tags={who: me}"])
    assert code == 0, err
    experiment = client_for(store_uri).get_experiment_by_name("tutorial")
    (run,) = client_for(store_uri).search_runs([experiment.experiment_id])
    assert {k: run.data.params[k] for k in ("experiment", "data", "model", "optimizer",
                                            "schedule")} == {
        "experiment": "tutorial_line", "data": "line", "model": "mlp", "optimizer": "sgd",
        "schedule": "constant"}
    assert run.data.tags["mlflow.note.content"] == "y = ax + b, once"
    assert run.data.tags["who"] == "me"


def _old_way(monkeypatch) -> None:
    """Record as nnexp did before: every config key a param, the model named after the run."""
    from mlflow.tracking import MlflowClient

    monkeypatch.setattr("nnexp.experiment.run.run_params",
                        lambda config, choices, **_: flatten(config))
    create = MlflowClient.create_logged_model

    def named_after_the_run(self, experiment_id, name=None, source_run_id=None, **kwargs):
        run_name = self.get_run(source_run_id).info.run_name
        kwargs.pop("tags", None)
        return create(self, experiment_id, name=re.sub(r"[/:.%\"']", "_", run_name),
                      source_run_id=source_run_id, **kwargs)

    monkeypatch.setattr(MlflowClient, "create_logged_model", named_after_the_run)


def test_a_run_recorded_the_old_way_still_predicts_loads_and_reproduces(
        make_cfg, store_uri, tmp_path, monkeypatch, capsys):
    with monkeypatch.context() as patched:
        _old_way(patched)
        old = run_job(make_cfg(*FAST, "lr=0.1"), run_name="lr=0.1", overrides=["lr=0.1"],
                      verbose=False)
    client = client_for(store_uri)
    run = client.get_run(old.run_id)
    assert run.data.params["tracking.enabled"] == "true"  # recorded the old way
    (output,) = run.outputs.model_outputs
    assert client.get_logged_model(output.model_id).name == "lr=0_1"

    rows = pd.DataFrame([[5.1, 3.5, 1.4, 0.2]])
    rows.to_csv(tmp_path / "rows.csv", index=False, header=False)
    from nnexp.predict import predict

    assert predict([old.run_id, str(tmp_path / "rows.csv"), "--tracking-uri", store_uri]) == 0
    (printed,) = capsys.readouterr().out.splitlines()
    mlflow.set_tracking_uri(store_uri)
    try:  # by its id, from the run's outputs, as nnexp.run's model_uri gives it
        model = mlflow.pyfunc.load_model(model_uri(store_uri, old.run_id))
    finally:
        mlflow.set_tracking_uri(None)
    features = model.metadata.get_input_schema().input_names()
    (probabilities,) = model.predict(pd.DataFrame(rows.to_numpy(), columns=features))
    names = model.metadata.metadata["nnexp.class_names"]
    shown = dict(re.findall(r"(\S+) (\d\.\d{3})", printed.split("(", 1)[1]))
    assert shown == {name: f"{p:.3f}" for name, p in zip(names, probabilities, strict=True)}
    assert printed.startswith(f"{names[int(np.argmax(probabilities))]}  (")

    from nnexp.reproduce import reproduce

    assert reproduce([old.run_id, "--tracking-uri", store_uri, "--quiet"]) == 0
    assert "identical" in capsys.readouterr().out


def _system_samples(uri: str, run_id: str) -> dict[str, list[int]]:
    client = client_for(uri)
    keys = [k for k in client.get_run(run_id).data.metrics if k.startswith("system/")]
    return {k: [m.step for m in client.get_metric_history(run_id, k)] for k in keys}


def test_a_short_run_records_system_metrics_at_its_start_and_end(make_cfg, store_uri):
    result = run_job(make_cfg(*FAST, "tracking.log_model=false", "tracking.system_metrics=true"),
                     run_name="sampled", verbose=False)
    samples = _system_samples(store_uri, result.run_id)
    assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes",
            "system/disk_usage_percentage", "system/network_receive_megabytes"} <= set(samples)
    assert set(map(tuple, samples.values())) == {(0, 1)}  # well under MLflow's 10 s interval
    assert _system_samples(store_uri, run_job(make_cfg(*FAST, "tracking.log_model=false"),
                                              run_name="plain", verbose=False).run_id) == {}


def test_mlflows_own_switch_turns_system_metrics_on(mlflow_state, monkeypatch):
    monkeypatch.delenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", raising=False)  # put back after
    mlflow.enable_system_metrics_logging()
    try:
        result = nnexp.run(*FAST, "tracking.log_model=false", verbose=False)
    finally:
        mlflow.disable_system_metrics_logging()
    assert "system/cpu_utilization_percentage" in _system_samples(mlflow_state, result.run_id)


def test_system_metrics_that_cannot_reach_the_store_cost_the_run_nothing(make_cfg, store_uri,
                                                                         monkeypatch, caplog):
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    def down(self, metrics):
        raise ConnectionError("the store did not answer")

    monkeypatch.setattr(SystemMetricsMonitor, "publish_metrics", down)
    result = run_job(make_cfg(*FAST, "tracking.system_metrics=true"), run_name="down",
                     verbose=False)
    run = client_for(store_uri).get_run(result.run_id)
    assert run.info.status == "FINISHED" and run.outputs.model_outputs
    assert _system_samples(store_uri, result.run_id) == {}
    assert "note: system metrics stopped: the store did not answer" in caplog.messages


def test_system_metrics_without_psutil_is_one_line_naming_the_extra(monkeypatch):
    import importlib.util

    from nnexp.config import ConfigError

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "psutil" else find_spec(name, *a))
    with pytest.raises(ConfigError) as refused:
        nnexp.compose("tracking.system_metrics=true")
    assert str(refused.value) == ("tracking.system_metrics: needs psutil, which is not installed: "
                                  "pip install 'nnexp[system-metrics]' (or psutil)")
    monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true")
    with pytest.raises(ConfigError, match=r"^tracking.system_metrics \(turned on by MLflow's "
                                          r"MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING\): needs psutil"):
        nnexp.compose()
