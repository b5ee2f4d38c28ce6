"""The experiment without MLflow: what it tells its observer, in order, for each way a run ends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnexp.experiment.interrupts import RunInterrupted
from nnexp.experiment.loop import Diverged
from nnexp.experiment.observer import FAILED, FINISHED, KILLED, RunObserver
from nnexp.sweeps.job import run_job


class Recorder(RunObserver):
    """Keeps every event it hears."""

    def __init__(self, records_files: bool = False) -> None:
        self.records_files = records_files
        self.events: list[tuple] = []
        self.files: dict[str, bytes] = {}

    def started(self, start):
        self.events.append(("started", start))

    def metrics(self, chunk):
        self.events.append(("metrics", chunk))

    def epoch_ended(self, epoch, step, values):
        self.events.append(("epoch", epoch, step, dict(values)))

    def artifact(self, path, artifact_dir=None):
        files = sorted(p for p in Path(path).rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            self.files[f"{artifact_dir or ''}/{file.name}".lstrip("/")] = file.read_bytes()
        self.events.append(("artifact", artifact_dir))

    def model(self, weights, meta, dataset, step):
        self.events.append(("model", step, meta["task"]))

    def ended(self, outcome):
        self.events.append(("ended", outcome))

    def kinds(self) -> list[str]:
        return [e[0] for e in self.events]


def test_events_of_a_finished_run_in_order(make_cfg):
    observer = Recorder(records_files=True)
    result = run_job(make_cfg("train.epochs=3"), run_name="events", verbose=False,
                     observer=observer)
    kinds = observer.kinds()
    assert kinds[0] == "started" and kinds[-1] == "ended"
    assert kinds.count("epoch") == 3 and kinds.count("model") == 1
    start = observer.events[0][1]
    assert start.name == "events" and start.plan.epochs == 3
    assert start.params["model.hidden"] and start.tags["nnexp.seed"] == "0"
    assert "config.yaml" in start.texts
    outcome = observer.events[-1][1]
    assert outcome.status == FINISHED and outcome.metrics == result.metrics
    epochs = [e for e in observer.events if e[0] == "epoch"]
    steps = [e[2] for e in epochs]
    assert steps == [result.loop.steps // 3 * k for k in (1, 2, 3)]  # global steps
    # every value the loop measured reached the observer, and the objective is the last val/loss
    chunks = [e[1] for e in observer.events if e[0] == "metrics"]
    val = np.concatenate([c.values[:, c.keys.index("val/loss")] for c in chunks
                          if "val/loss" in c.keys])
    assert len(val) == 3 and result.objective == val[-1] == epochs[-1][3]["val/loss"]
    assert {"weights.npz", "metrics/history.npz", "plots/loss_curves.png"} <= set(observer.files)


def test_an_observer_that_keeps_no_files_gets_no_plots_weights_or_model(make_cfg):
    observer = Recorder(records_files=False)
    run_job(make_cfg(), run_name="quiet", verbose=False, observer=observer)
    assert "artifact" not in observer.kinds() and "model" not in observer.kinds()


def test_divergence_ends_the_run_failed_with_where_it_happened(make_cfg):
    observer = Recorder()
    with pytest.raises(Diverged):
        run_job(make_cfg("optimizer=sgd", "lr=1e6"), run_name="boom", verbose=False,
                observer=observer)
    outcome = observer.events[-1][1]
    assert outcome.status == FAILED
    assert outcome.tags["nnexp.diverged"] == "true" and "nnexp.diverged.step" in outcome.tags


def test_interruption_ends_the_run_killed_with_the_latest_weights(make_cfg, monkeypatch):
    import nnexp.experiment.interrupts as interrupts

    observer = Recorder(records_files=True)
    checks = []

    def check(self):
        checks.append(1)
        if len(checks) == 40:
            raise RunInterrupted("SIGINT")

    monkeypatch.setattr(interrupts.InterruptFlag, "check", check)
    with pytest.raises(RunInterrupted):
        run_job(make_cfg("train.epochs=5"), run_name="stop", verbose=False,
                observer=observer)
    outcome = observer.events[-1][1]
    assert outcome.status == KILLED
    assert outcome.tags["nnexp.status_reason"] == "interrupted by SIGINT"
    assert "weights.npz" in observer.files and "model" not in observer.kinds()


def test_experiment_runs_without_importing_mlflow(tmp_path):
    conf = str(Path(__file__).parents[2] / "conf")
    code = f"""
import sys
from hydra import compose, initialize_config_dir
from nnexp.config import register_configs
from nnexp.sweeps.job import run_job
register_configs()
with initialize_config_dir(config_dir={conf!r}, version_base="1.3"):
    cfg = compose("config", overrides=["train.epochs=1", "tracking.enabled=false"])
result = run_job(cfg, run_name="plain", verbose=False)
assert result.run_id is None and result.objective > 0
print(sorted(m for m in sys.modules if m.split('.')[0] == 'mlflow'))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
