"""A new user's first commands: the default run learns, says where it went, and how to look;
the tutorial's line prints what it learned beside the truth."""

from __future__ import annotations

import logging

import pytest
from helpers import all_runs

from nnexp.config import run_metric_names
from nnexp.experiment.loop import Diverged
from nnexp.sweeps.job import run_job


def _console(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "nnexp.console"]


def test_headline_sweep_values_learn_with_the_defaults(make_cfg):
    """`python -m nnexp.train lr=0.1,0.01 -m`: both runs of the default config learn digits
    (with Adam at lr 0.1 the old default's validation loss exploded to 18)."""
    for lr in ("0.1", "0.01"):
        cfg = make_cfg(f"lr={lr}", "tracking.enabled=false", fast=False)
        assert cfg.optimizer.name == "sgd" and cfg.train.epochs == 30
        result = run_job(cfg, run_name=f"lr={lr}", verbose=False)
        assert result.metrics["test/accuracy"] >= 0.9, (lr, result.metrics)
        assert result.metrics["val/loss"] < 0.5, (lr, result.metrics)


def test_a_run_ends_with_its_store_id_and_how_to_open_it(make_cfg, store_uri, caplog):
    caplog.set_level(logging.INFO, logger="nnexp")
    run_job(make_cfg("train.epochs=1"), run_name="first", verbose=True)
    (run,) = all_runs(store_uri)
    db = store_uri.removeprefix("sqlite:///")
    assert _console(caplog)[-2:] == [
        f"run {run.info.run_id} recorded in {db}",
        f"open: python -m nnexp.ui --run {run.info.run_id} --tracking-uri {store_uri}"]


def test_a_diverged_run_also_says_where_it_went(make_cfg, store_uri, caplog):
    caplog.set_level(logging.INFO, logger="nnexp")
    with pytest.raises(Diverged):
        run_job(make_cfg("optimizer=sgd", "lr=5", "model.hidden=[64]", "train.epochs=3"),
                run_name="boom", verbose=True)
    (run,) = all_runs(store_uri)
    assert run.info.status == "FAILED"
    assert _console(caplog)[-2:] == [
        f"run {run.info.run_id} ended FAILED, recorded in {store_uri.removeprefix('sqlite:///')}",
        f"open: python -m nnexp.ui --run {run.info.run_id} --tracking-uri {store_uri}"]
    huge = [line for line in _console(caplog) if line.startswith("epoch 1/3")]
    assert huge and "e+" in huge[0]  # a diverging loss in scientific notation, not 40 digits


def test_tutorial_line_prints_and_records_the_learned_a_and_b(make_cfg, store_uri, caplog):
    caplog.set_level(logging.INFO, logger="nnexp")
    result = run_job(make_cfg("experiment=tutorial_line", fast=False), run_name="line",
                     verbose=True)
    a, b = result.metrics["learned/a"], result.metrics["learned/b"]
    assert a == pytest.approx(2.0, abs=0.1) and b == pytest.approx(-1.0, abs=0.1)
    (run,) = all_runs(store_uri, "tutorial")
    assert run.data.metrics["learned/a"] == pytest.approx(a)
    assert run.data.metrics["learned/b"] == pytest.approx(b)
    assert (run.data.params["dataset.true_a"], run.data.params["dataset.true_b"]) == (
        "2.0", "-1.0")
    assert f"y = a*x + b: learned a = {a:.4f}, b = {b:.4f}   true a = 2, b = -1" in (
        _console(caplog))


def test_no_line_is_read_off_a_nonlinear_network(make_cfg):
    relu = make_cfg("experiment=tutorial_line", "model.hidden=[4]", "tracking.enabled=false")
    result = run_job(relu, run_name="x", verbose=False)
    assert "learned/a" not in result.metrics  # a relu network has no single a and b
    assert "learned/a" not in run_metric_names(relu)  # nor may a sweep rank by it
    identity = make_cfg("experiment=tutorial_line", "model.hidden=[4]",
                        "model.activation=identity", "tracking.enabled=false")
    linear = run_job(identity, run_name="y", verbose=False)
    assert {"learned/a", "learned/b"} <= set(linear.metrics)  # deep but linear: still a line
    assert {"learned/a", "learned/b"} <= set(run_metric_names(identity))
