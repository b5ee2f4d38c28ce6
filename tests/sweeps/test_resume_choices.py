"""What `sweep.resume` continues, reuses or trains afresh, in process and in a temporary store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from helpers import client_for

from nnexp.record.history_comparison import compare_histories
from nnexp.sweeps.job import run_job
from nnexp.tracking.records import load_run, metric_histories
from nnexp.tracking.store import ensure_experiment

QUICK = ("tracking.plots=false", "tracking.log_model=false", "train.epochs=4",
         "sweep.checkpoint_every=1")


def _train(make_cfg, *overrides, parent=None, name="run"):
    return run_job(make_cfg(*QUICK, *overrides), run_name=name, parent_run_id=parent,
                   verbose=False)


def _weights(client, run_id: str, dest: Path) -> dict[str, bytes]:
    dest.mkdir(parents=True)
    with np.load(client.download_artifacts(run_id, "weights.npz", str(dest))) as data:
        return {key: data[key].tobytes() for key in data.files}


def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(make_cfg, store_uri,
                                                                   tmp_path, caplog):
    first = _train(make_cfg, "optimizer=momentum", "schedule=step", "schedule.step_size=20")
    client = client_for(store_uri)
    client.set_terminated(first.run_id, "KILLED")  # as if killed after its last epoch
    newest = Path(client.download_artifacts(first.run_id, "checkpoints", str(tmp_path / "c")))
    assert sorted(p.name for p in newest.iterdir()) == [f"epoch-00000{e}.npz" for e in range(1, 5)]
    stored = Path(client.get_run(first.run_id).info.artifact_uri) / "checkpoints"
    (stored / "epoch-000004.npz").write_bytes(b"PK\x03\x04 cut short")

    again = _train(make_cfg, "optimizer=momentum", "schedule=step", "schedule.step_size=20",
                   "sweep.resume=true")
    assert "epoch-000004.npz: not a readable checkpoint" in caplog.text
    assert again.resumed_from == first.run_id and not again.reused
    continued = client.get_run(again.run_id)
    assert continued.data.tags["nnexp.resumed_at_epoch"] == "3"
    assert client.get_run(first.run_id).data.tags["nnexp.continued_by"] == again.run_id
    # the first run trained uninterrupted: the continuation must equal it exactly
    assert _weights(client, again.run_id, tmp_path / "a") == _weights(client, first.run_id,
                                                                       tmp_path / "b")
    recorded, resumed = (metric_histories(client, load_run(client, r))
                         for r in (first.run_id, again.run_id))
    assert compare_histories(recorded, resumed).differences == []
    assert len(recorded["train/loss"]) == 4


def test_pruned_runs_stand_when_the_resumed_sweep_prunes_and_continue_otherwise(make_cfg,
                                                                                 store_uri):
    client = client_for(store_uri)
    parent = client.create_run(ensure_experiment(client, "nnexp", store_uri)).info.run_id
    prune = ("optimizer=sgd", "sweep.prune=median", "sweep.prune_warmup_epochs=1",
             "sweep.prune_startup_runs=1")
    _train(make_cfg, *prune, "lr=0.3", parent=parent)
    pruned = _train(make_cfg, *prune, "lr=1e-6", parent=parent)
    assert pruned.pruned is not None and pruned.pruned.epoch == 2

    kept = _train(make_cfg, *prune, "lr=1e-6", "sweep.resume=true", parent=parent)
    assert kept.reused and kept.run_id == pruned.run_id
    assert kept.objective == pruned.objective  # its last value, as the sweeper got it

    full = _train(make_cfg, "optimizer=sgd", "lr=1e-6", "sweep.resume=true")
    assert full.resumed_from == pruned.run_id and full.pruned is None
    run = client.get_run(full.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["nnexp.resumed_at_epoch"] == "2"


def test_a_diverged_run_is_a_result_not_something_to_continue(make_cfg, store_uri):
    diverged = ("optimizer=sgd", "lr=1e9")
    try:
        _train(make_cfg, *diverged)
    except Exception as exc:  # noqa: BLE001 - Diverged, as a run of this config always does
        assert type(exc).__name__ == "Diverged"
    again = _train(make_cfg, *diverged, "sweep.resume=true", "sweep.diverged_objective=7.0")
    assert again.reused and again.objective == 7.0
    assert len(client_for(store_uri).search_runs(
        [client_for(store_uri).get_experiment_by_name("nnexp").experiment_id])) == 1


def test_nothing_to_continue_trains_from_the_start(make_cfg):
    result = _train(make_cfg, "sweep.resume=true")
    assert result.resumed_from is None and not result.reused and result.loop.epochs_run == 4
