"""The lr range test's edges: ranges float64 cannot train, a loss that never moves, a cached
test made with other settings, and a job whose lr lies outside what its test tried."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from helpers import all_runs, run_inprocess

from nnexp.config import ConfigError, validate
from nnexp.experiment.range_test import range_test
from nnexp.sweeps.job import run_job

QUICK = ("train.epochs=1", "model.hidden=[8]", "tracking.plots=false", "tracking.log_model=false",
         "sweep.skip_lr_above=auto", "lr_find.steps=20")


def test_a_range_float64_cannot_train_is_refused_in_one_line(make_cfg, tmp_path: Path):
    for override in ("lr_find.min_lr=1e-300", "lr_find.max_lr=1e300"):
        with pytest.raises(ConfigError, match=r"^lr_find\.(min|max)_lr: got 1e[-+]?300; allowed: "
                                              r"1e-16 to 1e\+16 \(what a float64"):
            validate(make_cfg(override))
    proc = run_inprocess(["nnexp.lr_find", "lr_find.min_lr=1e-300", "lr_find.max_lr=1e300"],
                         cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "nnexp.lr_find: error: lr_find.min_lr: got 1e-300; allowed: 1e-16 to 1e+16 (what a "
        "float64 network trains with)")
    assert all_runs(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}") == []


def test_a_loss_that_never_moves_suggests_no_rate(make_cfg):
    still = range_test(make_cfg("lr_find.min_lr=1e-12", "lr_find.max_lr=1e-9",
                                "lr_find.steps=60"))
    assert still.divergence_lr is None and still.suggested_lr is None
    assert still.undetermined.startswith("the smoothed loss never fell below its start")
    assert still.undetermined.endswith("up to lr 1e-09: raise lr_find.max_lr")
    assert still.tags()["nnexp.lr_find.suggested_lr"] == "undetermined"
    learning = range_test(make_cfg("optimizer=sgd", "lr_find.steps=60"))
    assert learning.undetermined is None and learning.suggested_lr == learning.min_loss_lr / 10


def test_skip_lr_above_auto_keys_its_test_by_lr_find_settings_and_warns_outside_it(
        make_cfg, store_uri, caplog):
    caplog.set_level(logging.INFO)
    narrow = ("lr=0.01", "lr_find.max_lr=1e-3")
    first = run_job(make_cfg(*QUICK, *narrow), run_name="a", overrides=list(narrow),
                    verbose=False)
    outside = ("lr=0.01 is above the lr range test's tested range (lr_find.max_lr=0.001): "
               "whether it diverges was not tested")
    assert f"warning: {outside}" in caplog.messages
    caplog.clear()
    second = run_job(make_cfg(*QUICK, "lr=0.01"), run_name="b", overrides=["lr=0.01"],
                     verbose=False)
    assert not any("tested range" in m for m in caplog.messages)
    runs = {r.info.run_id: r for r in all_runs(store_uri)}
    tests = [r for r in runs.values() if r.data.tags.get("nnexp.lr_find") == "range_test"]
    assert sorted(r.info.run_name for r in tests) == ["lr_find defaults",
                                                      "lr_find lr_find.max_lr=1e-3"]
    limits = [runs[r.run_id].data.tags["nnexp.sweep.lr_limit"] for r in (first, second)]
    assert limits[0].endswith(f"; {outside}") and "saw no divergence" in limits[0]
    (wide,) = [r for r in tests if r.info.run_name == "lr_find defaults"]
    assert f"(run {wide.info.run_id})" in limits[1]
