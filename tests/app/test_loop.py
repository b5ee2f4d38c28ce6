"""The product's training loop trains through the engine's step: same numbers as `engine.fit`,
step metrics taken from the step's own gradients, interrupts only between whole updates."""

import math

import numpy as np
import pytest

from nnexp import engine
from nnexp.experiment.history import MetricHistory
from nnexp.experiment.loop import Diverged, LoopSettings, train_loop


def _setup(seed: int = 0, activation: str = "tanh"):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(90, 5)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    model = engine.build_mlp(5, [8, 6], 2, activation=activation, rng=rng)
    optimizer = engine.make_optimizer("momentum", model, lr=0.05)
    schedule = engine.make_schedule("cosine", 0.05, total_steps=30, warmup_steps=3)
    return model, engine.make_loss("cross_entropy"), optimizer, schedule, X, y


def test_train_loop_trains_exactly_like_fit():
    model, loss_fn, opt, schedule, X, y = _setup()
    metrics = MetricHistory()
    settings = LoopSettings(epochs=3, batch_size=16, clip_norm=0.5)
    result = train_loop(model, loss_fn, opt, schedule, (X[:64], y[:64], X[64:], y[64:]),
                        settings, np.random.default_rng(1), metrics, classify=True)
    twin, loss_twin, opt_twin, _, _, _ = _setup()
    history = engine.fit(twin, loss_twin, opt_twin, X[:64], y[:64], epochs=3, batch_size=16,
                         rng=np.random.default_rng(1), schedule=schedule, clip_norm=0.5)
    assert model.params.tobytes() == twin.params.tobytes()
    assert [v for _, v in metrics.points("train/loss")] == history
    assert result.steps == 12 and result.epochs_run == 3


def test_step_metrics_are_the_steps_own_gradients_every_n_steps():
    model, loss_fn, opt, schedule, X, y = _setup(2)
    twin = model.copy()
    metrics = MetricHistory()
    train_loop(model, loss_fn, opt, schedule, (X[:64], y[:64], X[64:], y[64:]),
               LoopSettings(epochs=2, batch_size=16, log_every_n_steps=3),
               np.random.default_rng(3), metrics, classify=True)
    assert [s for s, _ in metrics.points("grad_norm/layer1")] == [0, 3, 6]
    assert [s for s, _ in metrics.points("lr")] == [0, 3, 6]
    assert [v for _, v in metrics.points("lr")] == [schedule(0), schedule(3), schedule(6)]
    idx = np.random.default_rng(3).permutation(64)[:16]  # the first batch, before any update
    loss, grad = loss_fn(twin.forward(X[idx]), y[idx])
    twin.backward(grad)
    assert metrics.points("train/loss_step")[0] == (0, loss)
    for name, norm in twin.grad_norms().items():
        assert metrics.points(f"grad_norm/{name}")[0] == (0, norm)


def test_an_interrupt_between_steps_leaves_whole_updates_only():
    model, loss_fn, opt, schedule, X, y = _setup(4)
    twin, _, opt_twin, _, _, _ = _setup(4)
    calls = []

    class Interrupted(BaseException):
        pass

    def between_steps():
        calls.append(1)
        if len(calls) == 6:
            raise Interrupted

    with pytest.raises(Interrupted):
        train_loop(model, loss_fn, opt, schedule, (X[:64], y[:64], X[64:], y[64:]),
                   LoopSettings(epochs=3, batch_size=16), np.random.default_rng(5),
                   MetricHistory(), classify=True, between_steps=between_steps)
    assert opt.t == 5  # the sixth check came before the sixth update
    stop = 5

    def stop_after_five(step, loss, lr):
        if step == stop:
            raise Interrupted

    rng = np.random.default_rng(5)
    engine.train_epoch(twin, loss_fn, opt_twin, X[:64], y[:64], batch_size=16, rng=rng,
                       schedule=schedule)
    with pytest.raises(Interrupted):
        engine.train_epoch(twin, loss_fn, opt_twin, X[:64], y[:64], batch_size=16, rng=rng,
                           schedule=schedule, step0=4, on_step=stop_after_five)
    assert model.params.tobytes() == twin.params.tobytes()


def test_a_non_finite_loss_stops_at_its_step_with_earlier_steps_logged():
    model, loss_fn, _, _, X, y = _setup(6, activation="relu")
    opt = engine.make_optimizer("sgd", model, lr=1e30)
    metrics = MetricHistory()
    with pytest.raises(Diverged) as info:
        train_loop(model, loss_fn, opt, lambda t: 1e30, (X[:64], y[:64], X[64:], y[64:]),
                   LoopSettings(epochs=3, batch_size=16, log_every_n_steps=1),
                   np.random.default_rng(7), metrics, classify=True)
    assert info.value.what == "non-finite loss"
    assert info.value.where == {"epoch": "1", "step": "1"}
    assert [s for s, _ in metrics.points("train/loss_step")] == [0]
    assert all(math.isfinite(v) for _, v in metrics.points("train/loss_step"))


def test_a_non_finite_gradient_names_the_layer_and_is_not_applied():
    model, loss_fn, opt, schedule, X, y = _setup(8)

    class InfiniteGradientOnSixthCall(type(loss_fn)):
        calls = 0

        def __call__(self, outputs, targets):
            value, grad = super().__call__(outputs, targets)
            InfiniteGradientOnSixthCall.calls += 1
            if self.calls == 6:  # 4 steps, epoch 1's validation, then step 4
                grad[0, 0] = np.inf
            return value, grad

    metrics = MetricHistory()
    with np.errstate(invalid="ignore"), pytest.raises(Diverged) as info:
        train_loop(model, InfiniteGradientOnSixthCall(), opt, schedule,
                   (X[:64], y[:64], X[64:], y[64:]), LoopSettings(epochs=3, batch_size=16),
                   np.random.default_rng(9), metrics, classify=True)
    assert info.value.what == "non-finite gradient"
    assert info.value.where["step"] == "4" and info.value.where["epoch"] == "2"
    assert info.value.where["layer"] in {"layer1", "layer2", "layer3"}
    assert opt.t == 4 and np.isfinite(model.params).all()
