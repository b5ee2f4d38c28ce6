"""Conventions a Hydra user relies on, through the real Hydra (see each test)."""

from __future__ import annotations

import subprocess
import sys

from helpers import all_runs, clean_env

from nnexp.experiment import run_experiment


def test_mlflow_experiment_name_chooses_the_experiment_and_is_recorded(make_cfg, store_uri,
                                                                     monkeypatch):
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from_env")
    run_experiment(make_cfg(), run_name="env", verbose=False)
    (run,) = all_runs(store_uri, "from_env")
    assert run.data.params["tracking.experiment"] == "from_env"
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
