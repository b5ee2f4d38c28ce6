"""A run with patience keeps its best epoch's weights; its final values, objective, test/* and
logged model all describe those weights, and the last epoch's values stay under `_last_epoch`."""

from __future__ import annotations

from helpers import all_runs, client_for

from nnexp import engine
from nnexp.experiment.build import targets_for
from nnexp.experiment.console import ConsoleObserver
from nnexp.experiment.history import MetricHistory
from nnexp.experiment.loop import evaluate
from nnexp.experiment.observer import FINISHED, RunOutcome, RunPlan, RunStart
from nnexp.experiment.run import prepared_data
from nnexp.sweeps.job import run_job

PATIENCE_RUN = ["optimizer=adam", "lr=0.01", "train.epochs=40", "train.patience=3"]


def _measured(cfg, weights_path):
    """Loss (and accuracy) of the saved weights on each split, computed here from scratch."""
    dataset, loss_name = prepared_data(cfg)
    model, loss_fn = engine.load_model(weights_path), engine.make_loss(loss_name)
    return {split: evaluate(model, loss_fn, getattr(dataset, f"X_{split}"),
                            targets_for(loss_name, getattr(dataset, f"y_{split}"),
                                        cfg.model.dtype), True)
            for split in ("train", "val", "test")}


def test_an_early_stopped_run_reports_the_weights_it_kept(make_cfg, store_uri, tmp_path):
    cfg = make_cfg(*PATIENCE_RUN)
    result = run_job(cfg, run_name="patience", overrides=PATIENCE_RUN, verbose=False)
    loop = result.loop
    assert loop.stopped_early and loop.best_epoch < loop.epochs_run

    (run,) = all_runs(store_uri)
    client = client_for(store_uri)
    metrics, tags = run.data.metrics, run.data.tags
    weights = client.download_artifacts(run.info.run_id, "weights.npz", str(tmp_path))
    measured = _measured(cfg, weights)

    # the store's latest values (the runs table, search_runs) are the kept weights'
    assert metrics["val/loss"] == measured["val"]["loss"]
    assert metrics["val/accuracy"] == measured["val"]["accuracy"]
    assert metrics["train/loss"] == measured["train"]["loss"]
    assert metrics["test/loss"] == measured["test"]["loss"]
    assert result.objective == metrics["val/loss"] == result.metrics["val/loss"]

    # the epochs keep their points; the last epoch's values are there under their own names
    history = sorted(client.get_metric_history(run.info.run_id, "val/loss"),
                     key=lambda m: (m.step, m.timestamp))
    epochs = history[:-1]
    assert len(epochs) == loop.epochs_run and history[-1].step == epochs[-1].step == loop.steps
    assert epochs[loop.best_epoch - 1].value == metrics["val/loss"] < epochs[-1].value
    assert metrics["val/loss_last_epoch"] == epochs[-1].value
    assert {"val/accuracy_last_epoch", "train/loss_last_epoch"} <= set(metrics)

    # the logged model's metrics are the same weights' (not the last epoch's)
    (output,) = client.get_run(run.info.run_id).outputs.model_outputs
    linked = {m.key: m.value for m in client.get_logged_model(output.model_id).metrics}
    assert linked["val/loss"] == metrics["val/loss"]
    assert linked["test/loss"] == metrics["test/loss"]
    assert not any(key.endswith("_last_epoch") for key in linked)

    assert loop.kept_epoch == loop.best_epoch
    assert tags["nnexp.kept_epoch"] == str(loop.best_epoch)
    assert tags["nnexp.stopped_early"] == "true"
    # the verdict reads the epochs, not the value logged at the end
    assert tags["nnexp.verdict"] in {"healthy", "overfitting", "plateau"}


def test_history_last_is_the_value_logged_at_the_end_and_series_the_epochs(tmp_path):
    history = MetricHistory()
    history.add_many({"val/loss": 0.5, "epoch": 1}, 10)
    history.add_many({"val/loss": 0.7, "epoch": 2}, 20)
    history.add_final({"val/loss": 0.5}, 20)
    assert history.last("val/loss") == 0.5
    assert history.series("val/loss")[1].tolist() == [0.5, 0.7]
    assert history.keys() == ["val/loss", "epoch"]
    from nnexp.experiment.history import load_history

    saved = load_history(history.save(tmp_path / "h.npz"))
    assert saved["val/loss"][0].tolist() == [10, 20, 20]
    assert saved["val/loss"][1].tolist() == [0.5, 0.7, 0.5]
    (final,) = [block for block in history._blocks.values() if block.final]
    epoch_block = next(block for block in history._blocks.values() if not block.final)
    assert final.times[-1] > epoch_block.times[-1]  # the store's latest, even at one step


def test_console_says_which_epoch_was_kept(caplog):
    console = ConsoleObserver()
    console.started(RunStart("r", "e", RunPlan(100, 12, 10), params={"train.patience": "4"}))
    with caplog.at_level("INFO", logger="nnexp.console"):
        console.ended(RunOutcome(FINISHED, {"nnexp.kept_epoch": "8",
                                            "nnexp.stopped_early": "true"},
                                 metrics={"val/loss": 0.2627, "val/loss_last_epoch": 0.2948,
                                          "test/loss": 0.3},
                                 seconds=1.0, epochs_run=12))
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "done in 1.00 s (12 epochs)  val/loss 0.2627  test/loss 0.3000"
    assert lines[1] == ("stopped early at epoch 12 (patience 4): kept epoch 8's weights "
                        "(val/loss 0.2627; epoch 12's 0.2948)")
