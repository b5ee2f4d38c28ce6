"""The learning-rate range test: its curve and suggestion read back from the store, and a sweep
that skips the learning rates above its divergence point."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import all_runs, client_for, run_inprocess

from nnexp.config import ConfigError, validate
from nnexp.experiment.range_test import range_test
from nnexp.sweeps.job import run_job


def test_lr_find_command_records_the_curve_and_prints_the_suggestion(tmp_path: Path):
    proc = run_inprocess(["nnexp.lr_find", "optimizer=sgd", "model.hidden=[16]"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    (run,) = all_runs(uri)
    tags = run.data.tags
    assert tags["nnexp.lr_find"] == "range_test" and run.info.status == "FINISHED"
    client = client_for(uri)
    lrs = [m.value for m in client.get_metric_history(run.info.run_id, "lr_find/lr")]
    smoothed = [m.value for m in sorted(
        client.get_metric_history(run.info.run_id, "lr_find/smoothed_loss"), key=lambda m: m.step)]
    assert lrs[0] == pytest.approx(1e-7) and 10 < len(lrs) <= 200
    ratios = np.diff(np.log(lrs))
    assert np.allclose(ratios, math.log(10 / 1e-7) / 199)  # exponential: 25 steps a decade
    lowest = lrs[int(np.argmin(smoothed))]
    assert float(tags["nnexp.lr_find.min_loss_lr"]) == lowest
    assert float(tags["nnexp.lr_find.suggested_lr"]) == lowest / 10
    assert tags["nnexp.lr_find.stopped"] == "the smoothed loss rose above 4x its best"
    assert float(tags["nnexp.lr_find.divergence_lr"]) == lrs[-1]  # it stopped where it diverged
    assert smoothed[-1] > 4 * min(smoothed)
    assert {a.path for a in client.list_artifacts(run.info.run_id, "lr_find")} == {
        "lr_find/lr_range.png"}
    lines = proc.stdout.splitlines()
    suggested = f"{lowest / 10:.2g}"
    assert lines[2].startswith(f"suggested lr: {suggested} (a tenth of the lr at the lowest")
    assert lines[3] == f"  python -m nnexp.train optimizer=sgd model.hidden=[16] lr={suggested}"
    assert lines[4] == f"run {run.info.run_id}: loss against lr in lr_find/lr_range.png"


def test_range_test_smooths_with_a_bias_corrected_average_and_repeats_exactly(make_cfg):
    cfg = make_cfg("lr_find.steps=40", "lr_find.max_lr=1e-2", "lr_find.smoothing=0.7")
    test = range_test(cfg)
    assert test.stopped == "reached lr_find.max_lr" and test.divergence_lr is None
    assert test.lrs.size == 40 and test.lrs[-1] == pytest.approx(1e-2)
    average, expected = 0.0, []
    for i, loss in enumerate(test.losses):
        average = 0.7 * average + (1 - 0.7) * loss
        expected.append(average / (1 - 0.7 ** (i + 1)))
    assert test.smoothed.tolist() == expected
    again = range_test(cfg)
    assert again.losses.tobytes() == test.losses.tobytes()


def test_bad_lr_find_and_skip_settings_are_refused_with_one_line(make_cfg):
    for override, message in [
        ("sweep.skip_lr_above=banana", "sweep.skip_lr_above: got 'banana'; allowed: null, auto "
                                       "(the lr range test's divergence point) or a learning "
                                       "rate > 0"),
        ("sweep.skip_lr_above=-1", "sweep.skip_lr_above: got -1; allowed: null, auto"),
        ("lr_find.max_lr=1e-8", "lr_find.max_lr: must be above lr_find.min_lr (1e-07), got 1e-08"),
        ("lr_find.steps=3", "lr_find.steps: must be >= 10, got 3"),
    ]:
        with pytest.raises(ConfigError, match="^" + re.escape(message)):
            validate(make_cfg(override))


def test_a_single_run_above_a_given_limit_is_skipped_without_a_run(make_cfg, store_uri):
    result = run_job(make_cfg("lr=0.5", "sweep.skip_lr_above=0.1"), run_name="x",
                     verbose=False)
    assert result.run_id is None and result.skipped == "lr=0.5 is above sweep.skip_lr_above=0.1"
    assert all_runs(store_uri) == []
    kept = run_job(make_cfg("lr=0.05", "sweep.skip_lr_above=0.1"), run_name="y",
                   verbose=False)
    (run,) = all_runs(store_uri)
    assert run.info.run_id == kept.run_id
    assert run.data.tags["nnexp.sweep.lr_limit"] == "sweep.skip_lr_above=0.1"


def test_sweep_skips_learning_rates_above_the_divergence_point(tmp_path: Path):
    proc = run_inprocess(["nnexp.train", "-m", "lr=0.01,100", "sweep.skip_lr_above=auto",
                          "train.epochs=1", "model.hidden=[8]", "tracking.plots=false",
                          "tracking.log_model=false"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    runs = all_runs(uri)
    (parent,) = [r for r in runs if r.data.tags.get("nnexp.sweep") == "parent"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    (test,) = [r for r in children if r.data.tags.get("nnexp.lr_find") == "range_test"]
    (job,) = [r for r in children if r is not test]  # lr=100 made no run
    divergence = float(test.data.tags["nnexp.lr_find.divergence_lr"])
    assert 0.01 < divergence < 100
    reason = (f"lr=100 is above {divergence:.4g}, where the lr range test (run "
              f"{test.info.run_id}) diverged")
    assert parent.data.tags["nnexp.sweep.skipped.lr_100"] == f"lr=100: {reason}"
    assert f"[lr=100] skipped: {reason}" in proc.stdout
    assert job.info.run_name == "lr=0.01" and job.info.status == "FINISHED"
    assert job.data.tags["nnexp.sweep.lr_limit"].startswith(f"{divergence:.4g}, where")
    path = client_for(uri).download_artifacts(parent.info.run_id, "summary/children.csv",
                                              str(tmp_path))
    with open(path) as handle:
        assert [row["run_name"] for row in csv.DictReader(handle)] == ["lr=0.01"]
    assert parent.data.tags["nnexp.sweep.n_children"] == "1"
