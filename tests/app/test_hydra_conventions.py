"""Conventions a Hydra user relies on, through the real Hydra: glob() sweeps, -m anywhere,
hydra.job.chdir, one experiment per sweep, Optuna's direction, errors that say where Hydra
looked, train.log, MLFLOW_EXPERIMENT_NAME."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import all_runs, clean_env, logged_config, run_inprocess

from nnexp.config.paths import conf_dir
from nnexp.data import make_image_folder
from nnexp.sweeps.job import run_job

FAST = ["train.epochs=1", "model.hidden=[8]"]
needs_optuna = pytest.mark.skipif(
    importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is None,
    reason="the optuna extra is not installed (pip install -e '.[optuna]')")


def _store(root: Path, name: str = "mlruns/mlflow.db") -> str:
    return f"sqlite:///{root / name}"


def _sweep(uri: str, experiment: str = "nnexp") -> tuple[object, list]:
    runs = all_runs(uri, experiment)
    (parent,) = [r for r in runs if r.data.tags.get("nnexp.sweep") == "parent"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == len(runs) - 1  # no orphan
    return parent, children


def _last_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr.strip().splitlines()[-1]


def test_glob_sweep_with_the_multirun_flag_after_an_override(tmp_path):
    proc = run_inprocess(["nnexp.train", "optimizer=glob(*,exclude=[a*,m*,n*])", "-m", *FAST],
                         cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    parent, children = _sweep(_store(tmp_path))
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["nnexp.sweep.params"] == "optimizer"
    assert sorted(c.data.params["optimizer.name"] for c in children) == ["rmsprop", "sgd"]
    assert {c.info.status for c in children} == {"FINISHED"}


def test_chdir_sweep_keeps_the_one_store_and_each_job_logs_what_it_printed(tmp_path):
    proc = run_inprocess(["nnexp.train", "-m", "hydra.job.chdir=true", "lr=0.1,0.01", *FAST],
                         cwd=tmp_path, env={"MLFLOW_EXPERIMENT_NAME": "from_env"})
    assert proc.returncode == 0, proc.stderr
    parent, children = _sweep(_store(tmp_path), "from_env")
    assert parent.info.status == "FINISHED" and len(children) == 2
    assert {logged_config(_store(tmp_path), c.info.run_id)["tracking.experiment"]
            for c in children} == {"from_env"}
    assert list(tmp_path.rglob("*.db")) == [tmp_path / "mlruns" / "mlflow.db"]

    logs = [p.read_text() for p in tmp_path.glob("multirun/*/*/*/train.log")]
    assert len(logs) == 2
    for child in children:
        printed = [line for line in proc.stdout.splitlines()
                   if line.startswith(f"[{child.info.run_name}] val/loss ")]
        assert len(printed) == 1 and child.info.run_id in printed[0]  # plain line on the console
        assert sum(printed[0] in log for log in logs) == 1


def test_chdir_run_resolves_relative_paths_where_it_started_and_records_them(tmp_path):
    make_image_folder(tmp_path / "pics", per_class=6, size=(8, 8))
    proc = run_inprocess(["nnexp.train", "hydra.job.chdir=true", "data=images",
                          "data.image_dir=pics", "data.image_size=[8,8]",
                          "tracking.uri=sqlite:///rel/store.db", *FAST], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    uri = _store(tmp_path, "rel/store.db")
    (run,) = all_runs(uri)
    assert run.data.params["data.image_dir"] == str(tmp_path / "pics")
    assert logged_config(uri, run.info.run_id)["tracking.uri"] == uri
    assert list(tmp_path.rglob("*.db")) == [tmp_path / "rel" / "store.db"]

    (log,) = (tmp_path / "outputs").rglob("train.log")
    printed = proc.stdout.splitlines()
    assert printed[0].startswith("model: 64 -> dense 8 -> relu -> dense 2 ")
    assert printed[1].startswith("epoch 1/1  ") and printed[-3].startswith("done in ")
    assert printed[-2] == f"run {run.info.run_id} recorded in {tmp_path / 'rel' / 'store.db'}"
    assert printed[-1] == (f"open: python -m nnexp.ui --run {run.info.run_id} "
                           f"--tracking-uri {uri}")  # not the default store: named
    assert [line.split("] - ", 1)[1] for line in log.read_text().splitlines()] == printed


def test_sweep_across_experiments_is_refused_before_it_starts(tmp_path):
    make_image_folder(tmp_path / "pics", per_class=6, size=(8, 8))
    proc = run_inprocess(["nnexp.train", "-m", "experiment=tutorial_line,cat_classifier",
                          "data.image_dir=pics", *FAST], cwd=tmp_path)
    assert proc.returncode == 2
    assert _last_error(proc) == (
        "nnexp.train: error: tracking.experiment: this sweep's jobs record into 2 experiments "
        "(cat_classifier, tutorial); a sweep is one parent run in one experiment: run one sweep "
        "per experiment")
    assert not (tmp_path / "mlruns").exists()


OTHER_EXPERIMENT_SEARCH = """# @package _global_
defaults:
  - override /hydra/sweeper: optuna
hydra:
  sweeper:
    n_trials: 1
    params:
      tracking.experiment: choice(elsewhere)
"""


@needs_optuna
def test_a_sweeper_choosing_another_experiment_fails_the_job_not_the_record(tmp_path):
    (tmp_path / "cfg" / "hparams_search").mkdir(parents=True)
    (tmp_path / "cfg" / "hparams_search" / "elsewhere.yaml").write_text(OTHER_EXPERIMENT_SEARCH)
    proc = run_inprocess(["nnexp.train", "-m", f"--config-dir={tmp_path / 'cfg'}",
                          "hparams_search=elsewhere", *FAST], cwd=tmp_path)
    assert proc.returncode == 2
    assert _last_error(proc) == (
        "nnexp.train: error: tracking.experiment: this job records into 'elsewhere' but its "
        "sweep's parent run is in 'nnexp'; a sweep uses one experiment")
    (parent,) = all_runs(_store(tmp_path))
    assert parent.info.status == "FAILED"
    assert all_runs(_store(tmp_path), "elsewhere") == []


@needs_optuna
def test_optuna_optimises_in_the_direction_of_sweep_direction(tmp_path):
    proc = run_inprocess(["nnexp.train", "-m", "hparams_search=lr_width",
                          "hydra.sweeper.n_trials=2", "sweep.direction=maximize",
                          "sweep.objective=val/accuracy", *FAST], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    parent, children = _sweep(_store(tmp_path))
    accuracy = {c.info.run_id: c.data.metrics["val/accuracy"] for c in children}
    assert len(set(accuracy.values())) == 2
    (results,) = tmp_path.glob("multirun/*/*/optimization_results.yaml")
    assert yaml.safe_load(results.read_text())["best_value"] == max(accuracy.values())
    assert parent.data.tags["nnexp.best_run_id"] == max(accuracy, key=accuracy.__getitem__)


@needs_optuna
def test_a_sweeper_direction_against_sweep_direction_is_refused(tmp_path):
    proc = run_inprocess(["nnexp.train", "-m", "hparams_search=lr_width",
                          "hydra.sweeper.n_trials=1", "hydra.sweeper.direction=maximize", *FAST],
                         cwd=tmp_path)
    assert proc.returncode == 2
    assert _last_error(proc) == (  # the preset links it to sweep.direction: one direction
        "nnexp.train: error: hydra.sweeper.direction: the config sets it to ${sweep.direction}, "
        "so it follows sweep.direction; a value here would part the two: set sweep.direction "
        "instead, or change the config file that links them")


def _call_main(args: list[str]) -> tuple[int, str]:
    from nnexp.train import main

    saved, sys.argv = sys.argv, ["nnexp.train", *args]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            main()
        return 0, err.getvalue()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1, err.getvalue()
    finally:
        sys.argv = saved


def test_command_line_errors_say_where_hydra_looked(tmp_path):
    conf = conf_dir()
    extra = tmp_path / "extra"
    (extra / "optimizer").mkdir(parents=True)
    (extra / "optimizer" / "mine.yaml").write_text("name: sgd\n")
    cases = [
        (["optimizer=nope"], "optimizer: unknown option 'nope'; allowed: adam, adamw, momentum, "
         f"nesterov, rmsprop, sgd (searched: {conf})"),
        ([f"--config-dir={extra}", "optimizer=nope"], "optimizer: unknown option 'nope'; allowed: "
         f"adam, adamw, mine, momentum, nesterov, rmsprop, sgd (searched: {conf}, {extra})"),
        (["experiment=nope"], "experiment: unknown option 'nope'; allowed: cat_classifier, "
         f"tutorial_line (searched: {conf})"),
        (["--config-name=nope"], f"primary config 'nope' not found (searched: {conf})"),
    ]
    for args, expected in cases:
        code, err = _call_main([*args, *FAST, f"tracking.uri={_store(tmp_path)}"])
        assert (code, err.strip().splitlines()[-1]) == (2, f"nnexp.train: error: {expected}")
    assert not (tmp_path / "mlruns").exists()


def test_mlflow_experiment_name_chooses_the_experiment_and_is_recorded(make_cfg, store_uri,
                                                                     monkeypatch):
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from_env")
    run_job(make_cfg(), run_name="env", verbose=False)
    (run,) = all_runs(store_uri, "from_env")
    assert logged_config(store_uri, run.info.run_id)["tracking.experiment"] == "from_env"
    assert make_cfg("tracking.experiment=chosen").tracking.experiment == "chosen"


def test_run_lines_print_once_with_or_without_logging_configured():
    script = ("import logging, sys, nnexp\n"
              "log = logging.getLogger('nnexp.experiment')\n"
              "log.info('epoch 1/1'); log.warning('note: converted')\n"
              "logging.basicConfig(stream=sys.stdout, format='configured: %(message)s')\n"
              "log.info('done in')\n")
    proc = subprocess.run([sys.executable, "-c", script], env=clean_env(), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["epoch 1/1", "configured: done in"]
    assert proc.stderr.splitlines() == ["note: converted"]


def test_an_option_from_hydra_searchpath_is_found(tmp_path):
    (tmp_path / "mine" / "optimizer").mkdir(parents=True)
    (tmp_path / "mine" / "optimizer" / "plain.yaml").write_text("name: sgd\n")
    code, err = _call_main([f"hydra.searchpath=[file://{tmp_path / 'mine'}]", "optimizer=plain",
                            *FAST, f"tracking.uri={_store(tmp_path)}"])
    assert code == 0, err
    (run,) = all_runs(_store(tmp_path))
    assert run.data.params["optimizer.name"] == "sgd"
