"""Every verdict on a run deliberately set to cause it, read back from a temporary store; the
thresholds on synthetic histories."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from helpers import all_runs

from nnexp.experiment.loop import Diverged
from nnexp.experiment.verdict import DEAD_FRACTION, OVERFIT_RISE, diagnose
from nnexp.sweeps.job import run_job

QUICK = ("tracking.plots=false", "tracking.log_model=false")
SIGMOID_DEEP = "model.hidden=[32,32,32,32,32,32,32,32]"
IDENTITY_DEEP = "model.hidden=[" + ",".join(["32"] * 20) + "]"

CASES = {
    "healthy": ("train.epochs=10",),  # the default experiment, shortened
    "diverged": ("optimizer=sgd", "lr=5", "train.epochs=3"),
    "lr_too_high": ("optimizer=adam", "lr=0.5", "train.epochs=5"),
    "lr_too_low": ("lr=1e-6", "train.epochs=5"),
    "plateau": ("data=xor", "model.hidden=[]", "train.epochs=20"),  # a line cannot split xor
    "overfitting": ("optimizer=adam", "data=moons", "data.n_samples=40", "data.noise=0.4",
                    "model.hidden=[256]", "lr=0.01", "train.epochs=150",
                    "tracking.log_every_n_steps=50"),
    "dead_units": ("optimizer=adam", "model.hidden=[64,64,64]", "lr=0.3", "train.epochs=5"),
    "vanishing_gradients": ("model.activation=sigmoid", SIGMOID_DEEP,
                            "model.init=xavier_normal", "train.epochs=3"),
    "exploding_gradients": ("model.activation=identity", IDENTITY_DEEP, "model.init=he_normal",
                            "optimizer=sgd", "lr=1e-6", "train.epochs=2"),
}


@pytest.mark.parametrize("expected", list(CASES))
def test_run_set_to_cause_a_verdict_gets_it_as_a_tag_with_evidence(expected, make_cfg,
                                                                   store_uri, caplog):
    caplog.set_level(logging.INFO, logger="nnexp")
    cfg = make_cfg(*QUICK, *CASES[expected], fast=False)
    try:
        run_job(cfg, run_name=expected, verbose=True)
    except Diverged:
        assert expected == "diverged"
    (run,) = all_runs(store_uri)
    tags = run.data.tags
    assert tags["nnexp.verdict"] == expected, tags["nnexp.verdict.evidence"]
    evidence = tags["nnexp.verdict.evidence"]
    assert evidence and any(ch.isdigit() for ch in evidence)  # numbers, not a label
    printed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("verdict: ")]
    assert printed == [f"verdict: {expected}: {evidence}"]


def test_verdict_evidence_names_what_was_seen():
    def run(**series):
        return {k: (np.arange(len(v)), np.asarray(v, float)) for k, v in series.items()}

    epochs = {"train/loss_step": [2.0], "val/loss": [1.0, 0.8, 0.7, 0.6]}
    dead = run(**epochs, **{"train/loss": [1.5, 1.0, 0.8, 0.6],
                            "update_ratio/layer1": [0.05] * 4,
                            "dead_units/layer1": [0.0, 0.2, 0.4, DEAD_FRACTION]})
    verdict = diagnose(dead)
    assert verdict.name == "dead_units"
    assert verdict.evidence == "50% of layer1's units never fire on the validation set (at the " \
                               "last epoch)"
    dead["dead_units/layer1"][1][-1] = DEAD_FRACTION - 0.01
    assert diagnose(dead).name == "healthy"

    rising = 0.6 * OVERFIT_RISE
    overfit = run(**{"train/loss_step": [3.0], "train/loss": [1.5, 1.0, 0.8, 0.5],
                     "val/loss": [1.0, 0.6, 0.7, rising], "update_ratio/layer1": [0.05] * 4})
    assert diagnose(overfit).name == "overfitting"
    assert diagnose(overfit).evidence.startswith("val/loss rose 1.1x after its best at epoch 2")
    overfit["train/loss"][1][-1] = 1.2  # the training loss rose too: not overfitting
    assert diagnose(overfit).name == "healthy"
    assert diagnose({}).name == "undetermined"
    diverged = diagnose(run(**{"train/loss_step": [2.0, 40.0]}),
                        {"what": "non-finite loss", "epoch": "1", "step": "7"})
    assert (diverged.name, diverged.evidence) == (
        "diverged", "non-finite loss (epoch 1, step 7); train/loss_step went from 2 to 40 "
                    "before it")
