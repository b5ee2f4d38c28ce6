"""The loop continued from a checkpoint trains exactly as if it had never stopped; `on_epoch`
can stop it at an epoch boundary."""

from pathlib import Path

import numpy as np
import pytest

from nnexp import engine
from nnexp.experiment import checkpoint
from nnexp.experiment.history import MetricHistory
from nnexp.experiment.loop import LoopSettings, LoopState, train_loop


class Stop(BaseException):
    pass


def _setup(init_seed: int, optimizer: str):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    model = engine.build_mlp(5, [8], 2, rng=np.random.default_rng(init_seed))
    opt = engine.make_optimizer(optimizer, model, lr=0.05)
    schedule = engine.make_schedule("cosine", 0.05, total_steps=48, warmup_steps=5)
    return model, engine.make_loss("cross_entropy"), opt, schedule, (X[:96], y[:96], X[96:],
                                                                      y[96:])


def _histories(history: MetricHistory) -> dict[str, bytes]:
    return {k: np.array(history.points(k)).tobytes() for k in history.keys()}


@pytest.mark.parametrize("optimizer", ["adam", "nesterov", "rmsprop"])
def test_continuing_from_a_saved_epoch_is_bit_identical(tmp_path: Path, optimizer: str):
    settings = LoopSettings(epochs=6, batch_size=16, patience=3, log_every_n_steps=2)
    model, loss, opt, schedule, data = _setup(0, optimizer)
    whole = MetricHistory()
    expected = train_loop(model, loss, opt, schedule, data, settings, np.random.default_rng(7),
                          whole, classify=True)
    expected_params = model.params.tobytes()
    # early stopping after the checkpoint, back to the best epoch's weights kept in it
    assert expected.stopped_early and expected.best_epoch <= 3 < expected.epochs_run

    model, loss, opt, schedule, data = _setup(0, optimizer)
    first, rng, state = MetricHistory(), np.random.default_rng(7), LoopState()
    saved = tmp_path / "epoch-3.npz"

    def save_then_die(epoch: int, step: int, values: dict) -> None:
        if epoch == 3:
            checkpoint.save(checkpoint.capture("id", model, opt, rng, state, first), saved)
        if epoch == 4:  # killed after more epochs than the checkpoint holds
            raise Stop

    with pytest.raises(Stop):
        train_loop(model, loss, opt, schedule, data, settings, rng, first, classify=True,
                   on_epoch=save_then_die, state=state)

    model, loss, opt, schedule, data = _setup(99, optimizer)  # other weights, fresh optimizer
    rng, history = np.random.default_rng(123), MetricHistory()
    restored = checkpoint.load(saved)
    state = checkpoint.restore(restored, "id", model, opt, rng)
    history.restore(restored.history)
    result = train_loop(model, loss, opt, schedule, data, settings, rng, history, classify=True,
                        state=state)
    assert model.params.tobytes() == expected_params
    assert _histories(history) == _histories(whole)
    assert (result.epochs_run, result.steps, result.best_epoch, result.best_val_loss,
            result.stopped_early, result.last) == (
        expected.epochs_run, expected.steps, expected.best_epoch, expected.best_val_loss,
        expected.stopped_early, expected.last)


def test_patience_spent_at_the_saved_epoch_stops_at_once():
    model, loss, opt, schedule, data = _setup(0, "adam")
    state = LoopState(epoch=4, step=24, best_epoch=2, best_val_loss=0.5,
                      epochs_without_improvement=2, last={"val/loss": 0.7})
    before = model.params.copy()
    result = train_loop(model, loss, opt, schedule, data,
                        LoopSettings(epochs=6, batch_size=16, patience=2),
                        np.random.default_rng(0), MetricHistory(), classify=True, state=state)
    assert result.stopped_early and result.epochs_run == 4 and result.steps == 24
    assert opt.t == 0 and np.array_equal(model.params, before)


def test_on_epoch_asking_to_stop_ends_training_after_that_epoch():
    model, loss, opt, schedule, data = _setup(0, "adam")
    seen = []

    def on_epoch(epoch: int, step: int, values: dict) -> bool:
        seen.append(epoch)
        return epoch == 2

    result = train_loop(model, loss, opt, schedule, data, LoopSettings(epochs=6, batch_size=16),
                        np.random.default_rng(0), MetricHistory(), classify=True,
                        on_epoch=on_epoch)
    assert seen == [1, 2]
    assert result.stop_requested and not result.stopped_early
    assert result.epochs_run == 2 and opt.t == 12
