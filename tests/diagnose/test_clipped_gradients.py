"""With `optimizer.clip_norm`, the gradient norms before clipping are logged beside the clipped
ones, and the verdict reads them: clipping hides exploding gradients, it does not cure them."""

from __future__ import annotations

import numpy as np
from helpers import all_runs, client_for

from nnexp.config import run_metric_names
from nnexp.sweeps.job import run_job

QUICK = ("tracking.plots=false", "tracking.log_model=false")
IDENTITY_DEEP = "model.hidden=[" + ",".join(["32"] * 20) + "]"
EXPLODING = ("model.activation=identity", IDENTITY_DEEP, "model.init=he_normal",
             "optimizer=sgd", "lr=1e-6", "train.epochs=2")


def _series(client, run_id, key):
    return np.array([m.value for m in sorted(client.get_metric_history(run_id, key),
                                             key=lambda m: m.step)])


def test_exploding_gradients_are_diagnosed_through_clipping(make_cfg, store_uri):
    cfg = make_cfg(*QUICK, *EXPLODING, "optimizer.clip_norm=0.5", fast=False)
    run_job(cfg, run_name="clipped", verbose=False)
    (run,) = all_runs(store_uri)
    client = client_for(store_uri)
    layers = [k.split("/", 1)[1] for k in run.data.metrics if k.startswith("grad_norm/")]
    assert layers and all(f"grad_norm_unclipped/{name}" in run.data.metrics for name in layers)
    clipped = np.stack([_series(client, run.info.run_id, f"grad_norm/{n}") for n in layers])
    unclipped = np.stack([_series(client, run.info.run_id, f"grad_norm_unclipped/{n}")
                          for n in layers])
    assert np.all(np.sqrt((clipped ** 2).sum(axis=0)) <= 0.5 * (1 + 1e-5))  # clipped to 0.5
    assert np.all(unclipped >= clipped * (1 - 1e-6)) and np.all(unclipped.sum(0) > clipped.sum(0))
    assert run.data.tags["nnexp.verdict"] == "exploding_gradients", \
        run.data.tags["nnexp.verdict.evidence"]


def test_unclipped_norms_are_logged_only_when_clipping(make_cfg, store_uri):
    cfg = make_cfg(*QUICK, "train.epochs=1")
    assert not any(n.startswith("grad_norm_unclipped/") for n in run_metric_names(cfg))
    run_job(cfg, run_name="plain", verbose=False)
    (run,) = all_runs(store_uri)
    assert not any(k.startswith("grad_norm_unclipped/") for k in run.data.metrics)
    clipping = make_cfg(*QUICK, "optimizer.clip_norm=1.0")
    assert {"grad_norm_unclipped/layer1", "grad_norm_unclipped/layer2"} <= set(
        run_metric_names(clipping))
