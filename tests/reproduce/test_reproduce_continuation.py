"""A continued run (sweep.resume) carries the weight hashes of the run it continues, so
reproducing it places a difference at the step it happened, not at the checkpoint."""

from __future__ import annotations

import numpy as np
from helpers import client_for

from nnexp.engine.optimizers import SGD
from nnexp.experiment.pruner import StopAtEpoch
from nnexp.experiment.weight_hashes import HASHES_ARTIFACT, load_hashes
from nnexp.reproduce import reproduce
from nnexp.sweeps.job import run_job

QUICK = ("tracking.plots=false", "tracking.log_model=false", "train.epochs=4",
         "sweep.checkpoint_every=1")


def _hashes(uri: str, run_id: str, dest):
    dest.mkdir()
    return load_hashes(client_for(uri).download_artifacts(run_id, HASHES_ARTIFACT, str(dest)))


def test_a_continuation_carries_the_hashes_and_reproduce_finds_an_early_change(
        make_cfg, store_uri, capsys, monkeypatch, tmp_path):
    # stopped after 2 of 4 epochs (34 steps each, hashed every 10), its checkpoint at step 68
    stopped = run_job(make_cfg(*QUICK), run_name="run", verbose=False,
                      pruner=StopAtEpoch(2, "stopped for the test"))
    continued = run_job(make_cfg(*QUICK, "sweep.resume=true"), run_name="run", verbose=False)
    assert continued.resumed_from == stopped.run_id
    before, after = (_hashes(store_uri, r, tmp_path / r) for r in (stopped.run_id,
                                                                    continued.run_id))
    assert after.steps.tolist() == list(range(0, 140, 10)) + [136]  # from step 0, not 70
    shared = before.steps[before.steps < 68]
    assert np.array_equal(after.hashes[:shared.size], before.hashes[:shared.size])

    real_step, calls = SGD.step, []

    def nudged_on_the_twentieth_update(self):
        real_step(self)
        calls.append(1)
        if len(calls) == 20:  # update 19: only layer2's last bias moves, by one float32 ulp
            self.params[-1] = np.nextafter(self.params[-1], np.float32(np.inf))

    monkeypatch.setattr(SGD, "step", nudged_on_the_twentieth_update)
    code = reproduce([continued.run_id, "--tracking-uri", store_uri, "--quiet"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert lines[0] == ("different: weights differ from the recorded run at step 20 of 136 in "
                        "layer2 (equal at step 10, so an update between steps 10 and 20 "
                        "differed); training stopped there")
