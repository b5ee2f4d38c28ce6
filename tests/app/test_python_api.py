"""nnexp from Python, as a notebook uses it: compose and run, sweep, MLflow's own state (the
tracking URI, the experiment, an active run) honoured, one-line exceptions, no exits, nothing in
the working folder but the store, a second Ctrl-C that leaves the interpreter alive."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from helpers import clean_env, client_for, logged_config

import nnexp
from nnexp.config import ConfigError
from nnexp.data import DataError
from nnexp.experiment.loop import Diverged

SMALL = ("train.epochs=2", "model.hidden=[8]", "tracking.plots=false")
FAST = (*SMALL, "tracking.log_model=false")  # where the logged model is not the point


def test_compose_edit_and_run_record_what_ran_where_mlflow_points(mlflow_state, tmp_path):
    cfg = nnexp.compose("data=iris", "lr=0.05", *SMALL)
    cfg.train.batch_size = 16  # an edit in Python is part of what ran
    result = nnexp.run(cfg, verbose=False)

    assert cfg.tracking.uri is None  # the caller's config is left as it was
    client = client_for(mlflow_state)
    run = client.get_run(result.run_id)
    assert (result.status, run.info.status) == ("FINISHED", "FINISHED")
    assert result.metrics == {k: run.data.metrics[k] for k in result.metrics}
    assert result.objective == run.data.metrics["val/loss"]
    assert result.model_uri == f"models:/{run.outputs.model_outputs[0].model_id}"
    assert (result.tracking_uri, result.experiment) == (mlflow_state, "nnexp")
    assert run.data.params["train.batch_size"] == "16"
    assert run.data.tags["nnexp.overrides"] == ("data=iris lr=0.05 train.epochs=2 "
                                                "model.hidden=[8] tracking.plots=false "
                                                "train.batch_size=16")
    assert run.info.run_name == run.data.tags["nnexp.overrides"].replace(" ", ",")
    assert logged_config(mlflow_state, run.info.run_id)["tracking.uri"] == mlflow_state
    assert sorted(os.listdir(tmp_path)) == ["store"]  # no outputs/, no ./mlruns: the store only
    assert mlflow.get_tracking_uri() == mlflow_state and mlflow.active_run() is None


def test_inside_an_active_run_the_run_and_a_sweep_are_its_children(mlflow_state):
    mlflow.set_experiment("notebook")
    with mlflow.start_run(run_name="study") as study:
        single = nnexp.run("data=iris", *FAST, verbose=False)
        swept = nnexp.sweep("lr=0.1,0.01", "data=iris", *FAST, verbose=False)
        mlflow.log_metric("still_mine", 1.0)  # the active run is untouched and still usable
    client = client_for(mlflow_state)
    assert client.get_run(study.info.run_id).data.metrics == {"still_mine": 1.0}
    notebook = client.get_experiment_by_name("notebook").experiment_id
    runs = {r.info.run_id: r for r in client.search_runs([notebook])}
    assert runs[single.run_id].data.tags["mlflow.parentRunId"] == study.info.run_id
    assert runs[swept.parent_run_id].data.tags["mlflow.parentRunId"] == study.info.run_id
    children = [r.run_id for r in swept.runs]
    assert all(runs[c].data.tags["mlflow.parentRunId"] == swept.parent_run_id for c in children)
    assert {single.experiment, *(r.experiment for r in swept.runs)} == {"notebook"}
    assert len(runs) == 5  # study, single, the sweep's parent and its two children
    assert client.get_experiment_by_name("nnexp") is None


def test_mlflow_set_experiment_is_honoured_and_explicit_settings_win(mlflow_state,
                                                                   monkeypatch):
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from_env")
    mlflow.set_experiment("chosen")  # as with MLflow's clients: set_experiment before the env
    assert nnexp.run("data=iris", *FAST, verbose=False).experiment == "chosen"
    assert nnexp.run("data=iris", "tracking.experiment=mine", *FAST,
                     verbose=False).experiment == "mine"
    with mlflow.start_run() as active:
        with pytest.raises(ConfigError) as refused:
            nnexp.run("data=iris", "tracking.experiment=mine", *FAST, verbose=False)
        assert str(refused.value) == (
            f"tracking.experiment: 'mine', but the active MLflow run {active.info.run_id} is in "
            "experiment 'chosen' and a child run shares its parent's experiment: leave "
            "tracking.experiment unset, or end the active run")
        other = f"sqlite:///{Path(mlflow_state[10:]).parent / 'other.db'}"
        with pytest.raises(ConfigError, match=r"^tracking.uri: the active MLflow run \w+ is not "
                                              r"in sqlite:///.*other.db, so"):
            nnexp.run("data=iris", f"tracking.uri={other}", *FAST, verbose=False)


def test_recording_leaves_mlflows_global_tracking_uri_alone(store_uri, monkeypatch):
    switched = []  # the model is logged in a background thread, beside the user's own MLflow use
    monkeypatch.setattr(mlflow, "set_tracking_uri", switched.append)
    result = nnexp.run("data=iris", *SMALL, f"tracking.uri={store_uri}", verbose=False)
    assert result.model_uri is not None and switched == []


def test_mistakes_are_one_line_exceptions_and_nothing_exits(store_uri):
    cases = [
        (("optimizer=nope",), ConfigError, "optimizer: unknown option 'nope'; allowed: adam, "),
        (("lr=0.1,0.01",), ConfigError, "lr: '0.1,0.01' is a sweep (several values); "),
        (("model.hidden=3",), ConfigError, "model.hidden: expected a list"),
        (("nokey=1",), ConfigError, "nokey: unknown config key"),
        (("data=images", "data.image_dir=missing"), DataError, "data.image_dir: "),
    ]
    for overrides, kind, start in cases:
        with pytest.raises(kind) as raised:
            nnexp.run(*overrides, f"tracking.uri={store_uri}", *FAST, verbose=False)
        message = str(raised.value)
        assert message.startswith(start) and "\n" not in message, message
    with pytest.raises(Diverged) as diverged:
        nnexp.run("optimizer=sgd", "lr=1e3", "train.epochs=5", "tracking.log_every_n_steps=1",
                  f"tracking.uri={store_uri}", verbose=False)
    assert client_for(store_uri).get_run(diverged.value.run_id).info.status == "FAILED"


def test_hydra_searchpath_applies_and_hydras_other_settings_are_refused(tmp_path):
    (tmp_path / "mine" / "optimizer").mkdir(parents=True)
    (tmp_path / "mine" / "optimizer" / "plain.yaml").write_text("name: sgd\n")
    cfg = nnexp.compose(f"hydra.searchpath=[file://{tmp_path / 'mine'}]", "optimizer=plain")
    assert cfg.optimizer.name == "sgd"
    for override in ("hydra.run.dir=elsewhere", "hydra/launcher=basic", "hydra.job.chdir=true"):
        with pytest.raises(ConfigError, match=r"^hydra[./]\S+: Hydra's own settings .* do not "
                                              "apply from Python; only hydra.searchpath does"):
            nnexp.sweep(override, "lr=0.1,0.01")
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "multirun").exists()


def test_sweep_from_python_is_a_parent_with_children_and_a_summary(store_uri):
    swept = nnexp.sweep("optimizer=sgd", "lr=0.1,1e3", "train.epochs=5",
                        "tracking.log_every_n_steps=1", "model.hidden=[8]",
                        f"tracking.uri={store_uri}", verbose=False)
    assert [r.status for r in swept.runs] == ["FINISHED", "FAILED"]  # lr=1e3 diverges
    assert swept.runs[1].error.startswith("training diverged")
    client = client_for(store_uri)
    parent = client.get_run(swept.parent_run_id)
    assert (swept.status, parent.info.status) == ("FAILED", "FAILED")  # a child failed
    assert parent.data.tags["nnexp.best_run_id"] == swept.best.run_id == swept.runs[0].run_id
    assert parent.data.tags["nnexp.sweep.params"] == "lr"
    assert parent.data.tags["nnexp.sweep.failed"] == "lr=1000.0 (diverged)"
    names = [client.get_run(r.run_id).info.run_name for r in swept.runs]
    assert names == ["lr=0.1", "lr=1000.0"]  # as Hydra's sweeper spells the job, as on the CLI
    child = client.get_run(swept.runs[0].run_id)
    for key in ("mlflow.user", "mlflow.source.name", "mlflow.source.git.commit", "nnexp.git.dirty",
                "nnexp.source.commit", "nnexp.platform"):  # the git ones: none outside a repo
        assert parent.data.tags.get(key) == child.data.tags.get(key), key  # like its children
    assert {a.path for a in client.list_artifacts(swept.parent_run_id, "summary")} >= {
        "summary/children.csv", "summary/children.md"}


TWO_INTERRUPTS = """
import logging, os, signal, sys
import nnexp

class TwoInterrupts(logging.Handler):
    def emit(self, record):
        if record.getMessage().startswith("epoch 2/"):
            os.kill(os.getpid(), signal.SIGINT)  # stop at the next step, please
            os.kill(os.getpid(), signal.SIGINT)  # no: now

logging.getLogger("nnexp").addHandler(TwoInterrupts())
before = signal.getsignal(signal.SIGINT)
try:
    nnexp.run("train.epochs=9", "model.hidden=[8]", "tracking.plots=false",
              f"tracking.uri={sys.argv[1]}", verbose=True)
except KeyboardInterrupt:
    print("KeyboardInterrupt; handler restored:", signal.getsignal(signal.SIGINT) is before)
"""


def test_a_second_ctrl_c_raises_keyboard_interrupt_and_the_interpreter_lives(store_uri):
    done = subprocess.run([sys.executable, "-c", TWO_INTERRUPTS, store_uri], env=clean_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]  # not killed by the signal (-2)
    assert done.stdout.splitlines()[-1] == "KeyboardInterrupt; handler restored: True"
    (run,) = client_for(store_uri).search_runs(["1"])
    assert run.info.status == "KILLED"


def test_import_nnexp_loads_neither_hydra_nor_mlflow():
    script = ("import sys, nnexp\n"
              "heavy = [m for m in ('hydra', 'omegaconf', 'mlflow', 'numpy') if m in sys.modules]\n"
              "assert not heavy, heavy\n"
              "assert callable(nnexp.run) and 'hydra' in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", script], env=clean_env(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
