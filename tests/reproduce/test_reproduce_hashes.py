"""Reproduce stops at the first step whose weight hashes differ from the record, and names it."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import client_for

from nnexp.engine.optimizers import SGD
from nnexp.experiment.weight_hashes import HASHES_ARTIFACT, load_hashes
from nnexp.reproduce import reproduce
from nnexp.tracking.records import RecordError


def _reproduce(run_id: str, uri: str, capsys, *extra: str) -> tuple[int, list[str]]:
    code = reproduce([run_id, "--tracking-uri", uri, "--quiet", *extra])
    return code, capsys.readouterr().out.splitlines()


def _reproduction(uri: str, run_id: str):
    client = client_for(uri)
    run = client.get_run(run_id)
    found = client.search_runs([run.info.experiment_id],
                               f"tags.`nnexp.reproduced_from` = '{run_id}'",
                               order_by=["attributes.start_time DESC"], max_results=1)
    return found[0]


def test_an_update_that_differs_stops_the_reproduction_at_the_next_hash(
        train_run, store_uri, capsys, monkeypatch):
    run_id = train_run()  # 2 epochs of 34 steps, hashed every 10 steps
    real_step, calls = SGD.step, []

    def nudged_on_the_twentieth_update(self):
        real_step(self)
        calls.append(1)
        if len(calls) == 20:  # update 19: only layer2's last bias moves, by one float32 ulp
            self.params[-1] = np.nextafter(self.params[-1], np.float32(np.inf))

    monkeypatch.setattr(SGD, "step", nudged_on_the_twentieth_update)
    code, lines = _reproduce(run_id, store_uri, capsys)
    assert code == 1
    assert lines[0] == ("different: weights differ from the recorded run at step 20 of 68 in "
                        "layer2 (equal at step 10, so an update between steps 10 and 20 "
                        "differed); training stopped there")
    # the step metrics logged up to there are compared too (a one-ulp nudge may not show)
    assert any(x.startswith("metrics up to step 20: ") and " of 4 differ" in x for x in lines)
    new = _reproduction(store_uri, run_id)
    assert new.info.status == "KILLED"
    history = client_for(store_uri).get_metric_history(new.info.run_id, "train/loss_step")
    assert max(m.step for m in history) == 20  # it stopped there: 68 steps in the record
    assert len(calls) == 20


def test_a_tampered_hash_is_named_and_to_end_trains_on(train_run, store_uri, capsys, tmp_path):
    run_id = train_run()
    client = client_for(store_uri)
    path = client.download_artifacts(run_id, HASHES_ARTIFACT, str(tmp_path))
    recorded = load_hashes(path)
    hashes = recorded.hashes.copy()
    row = int(np.flatnonzero(recorded.steps == 30)[0])
    hashes[row, 0] ^= 1
    (tmp_path / "edited").mkdir()
    with open(tmp_path / "edited" / "weight_hashes.npz", "wb") as handle:
        np.savez(handle, steps=recorded.steps, hashes=hashes,
                 layers=np.array(recorded.layers), every=np.int64(recorded.every))
    client.log_artifact(run_id, str(tmp_path / "edited" / "weight_hashes.npz"), "metrics")

    code, lines = _reproduce(run_id, store_uri, capsys)
    assert code == 1
    assert lines[0].startswith("different: weights differ from the recorded run at step 30 of "
                               "68 in layer1 (equal at step 20,")
    assert lines[-1] == "metrics up to step 30: 0 of 4 differ"  # the per-step ones by then
    code, lines = _reproduce(run_id, store_uri, capsys, "--to-end")
    assert code == 1
    assert lines[-3:-1] == ["different: first difference: none in metrics",
                            "  weights first differ at step 30 in layer1 (equal at step 20)"]
    assert _reproduction(store_uri, run_id).info.status == "FINISHED"


def test_runs_without_hashes_reproduce_as_before_and_a_bad_hash_file_is_refused(
        train_run, store_uri, capsys, tmp_path):
    run_id = train_run("tracking.hash_every_n_steps=0")
    code, lines = _reproduce(run_id, store_uri, capsys)
    assert code == 0 and lines[-1].startswith("identical: 15 metrics, ")
    assert "hashed" not in lines[-1]
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "weight_hashes.npz").write_bytes(b"not a zip file")
    client_for(store_uri).log_artifact(run_id, str(tmp_path / "metrics" / "weight_hashes.npz"),
                                       "metrics")
    with pytest.raises(RecordError, match=rf"^run '{run_id}': {HASHES_ARTIFACT} is not a "
                                          "weight-hash file"):
        reproduce([run_id, "--tracking-uri", store_uri, "--quiet"])


def test_a_run_made_with_skip_finished_is_trained_again_not_reused(train_run, store_uri,
                                                                  capsys):
    run_id = train_run("sweep.skip_finished=true")
    code, lines = _reproduce(run_id, store_uri, capsys)
    assert code == 0 and lines[-1].startswith("identical: 15 metrics, ")
    new = _reproduction(store_uri, run_id)
    assert new.info.run_id != run_id and new.info.status == "FINISHED"
    assert float(new.data.tags["nnexp.train_seconds"]) > 0
