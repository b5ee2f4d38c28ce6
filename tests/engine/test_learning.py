"""The engine learns: XOR, a linear regression, sklearn digits; reproducibility and dtypes."""

import time

import numpy as np
import pytest

from nnexp.engine import (
    Adam,
    Dense,
    Sequential,
    build_mlp,
    fit,
    make_loss,
    make_optimizer,
    make_schedule,
    train_epoch,
    train_step,
)


def test_xor_is_solved():
    rng = np.random.default_rng(0)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    y = np.array([0, 1, 1, 0])
    model = build_mlp(2, [8], 1, activation="tanh", init="xavier_normal", dtype="float64", rng=rng)
    loss = make_loss("bce")
    history = fit(model, loss, Adam(model, lr=0.05), X, y, epochs=500, batch_size=4, rng=rng)
    probs = loss.predict(model.predict(X))[:, 0]
    np.testing.assert_array_equal(probs > 0.5, y.astype(bool))
    assert history[-1] < 0.05 < history[0]


def test_linear_regression_recovers_slope_and_intercept():
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, size=(256, 1))
    y = 3.5 * x[:, 0] - 1.25 + rng.normal(scale=0.01, size=256)
    model = Sequential([Dense(1, 1, init="zeros")], dtype="float64")
    fit(
        model,
        make_loss("mse"),
        make_optimizer("sgd", model, lr=0.1),
        x,
        y,
        epochs=60,
        batch_size=32,
        rng=rng,
    )
    a, b = (
        model.named_parameters()["layer1.weight"][0, 0],
        model.named_parameters()["layer1.bias"][0],
    )
    assert a == pytest.approx(3.5, abs=0.01)
    assert b == pytest.approx(-1.25, abs=0.01)


def test_digits_accuracy_and_speed():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    rng = np.random.default_rng(0)
    model = build_mlp(64, [128, 64], 10, rng=rng)
    loss = make_loss("cross_entropy")
    epochs, batch = 40, 32
    steps = epochs * -(-len(X_tr) // batch)
    opt = Adam(model, lr=2e-3)
    schedule = make_schedule("cosine", 2e-3, total_steps=steps, warmup_steps=20)
    start = time.perf_counter()
    fit(model, loss, opt, X_tr, y_tr, epochs=epochs, batch_size=batch, rng=rng, schedule=schedule)
    elapsed = time.perf_counter() - start
    accuracy = float((loss.predict(model.predict(X_te)).argmax(axis=1) == y_te).mean())
    assert accuracy >= 0.97, accuracy
    assert elapsed < 10.0, elapsed


def _train(seed: int, dtype: str) -> tuple[Sequential, Adam, list[float]]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 5))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    model = build_mlp(5, [16, 8], 2, activation="leaky_relu", dtype=dtype, rng=rng)
    opt = Adam(model, lr=1e-2)
    history = fit(model, make_loss("cross_entropy"), opt, X, y, epochs=5, batch_size=32, rng=rng)
    return model, opt, history


def test_same_seed_gives_bit_identical_weights():
    m1, _, h1 = _train(7, "float32")
    m2, _, h2 = _train(7, "float32")
    assert m1.params.tobytes() == m2.params.tobytes()
    assert h1 == h2
    m3, _, _ = _train(8, "float32")
    assert m1.params.tobytes() != m3.params.tobytes()


def test_float32_stays_float32_end_to_end():
    model, opt, history = _train(3, "float32")
    assert model.dtype == np.float32
    assert model.params.dtype == np.float32 and model.grads.dtype == np.float32
    for name, arr in {**model.named_parameters(), **model.named_gradients()}.items():
        assert arr.dtype == np.float32, name
    for attr in ("m_scaled", "v_scaled"):
        assert getattr(opt, attr).dtype == np.float32
    X64 = np.random.default_rng(0).normal(size=(4, 5))  # float64 input: cast at the boundary
    assert model.forward(X64).dtype == np.float32
    assert model.predict(X64).dtype == np.float32
    loss, grad = make_loss("cross_entropy")(model.forward(X64), np.array([0, 1, 1, 0]))
    assert grad.dtype == np.float32 and isinstance(loss, float)
    model.backward(grad)
    assert model.grads.dtype == np.float32
    assert all(np.isfinite(h) for h in history)


def test_float64_model_stays_float64():
    model, opt, _ = _train(3, "float64")
    assert model.params.dtype == np.float64 and opt.m_scaled.dtype == np.float64
    assert model.predict(np.zeros((2, 5), np.float32)).dtype == np.float64


def test_train_step_returns_loss_and_updates_params_and_norms():
    rng = np.random.default_rng(5)
    model = build_mlp(3, [4], 2, rng=rng)
    before = model.params.copy()
    X, y = rng.normal(size=(8, 3)), rng.integers(0, 2, 8)
    loss_fn = make_loss("cross_entropy")
    expected = loss_fn(model.predict(X), y)[0]
    value = train_step(model, loss_fn, Adam(model, lr=0.01), X, y, clip_norm=1e-3)
    assert value == pytest.approx(expected, rel=1e-6)
    assert not np.array_equal(before, model.params)
    norms = model.grad_norms()
    assert list(norms) == ["layer1", "layer2"] == model.layer_names
    assert np.sqrt(sum(v**2 for v in norms.values())) == pytest.approx(1e-3, rel=1e-4)
    w = model.named_parameters()
    assert model.weight_norms()["layer2"] == pytest.approx(
        float(np.sqrt((w["layer2.weight"] ** 2).sum() + (w["layer2.bias"] ** 2).sum())), rel=1e-5
    )


def test_predict_matches_forward_and_does_not_disturb_backward():
    rng = np.random.default_rng(6)
    model = build_mlp(4, [5, 5], 3, activation="sigmoid", dtype="float64", rng=rng)
    X = rng.normal(size=(6, 4))
    y = rng.integers(0, 3, 6)
    loss_fn = make_loss("cross_entropy")
    out = model.forward(X).copy()
    _, grad = loss_fn(out, y)
    model.backward(grad)
    reference = model.grads.copy()
    model.forward(X)
    model.predict(rng.normal(size=(9, 4)))  # other batch, no caching
    model.backward(grad)
    np.testing.assert_array_equal(model.grads, reference)
    np.testing.assert_allclose(model.predict(X), out, rtol=1e-12)


def _problem(seed: int = 0, n: int = 50):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = build_mlp(4, [6], 2, rng=rng)
    return model, make_loss("cross_entropy"), X, y


def test_on_step_sees_this_steps_gradients_before_the_update():
    model, loss_fn, X, y = _problem()
    opt = Adam(model, lr=0.01)
    schedule = make_schedule("cosine", 0.01, total_steps=20, warmup_steps=2)
    replay = model.copy()  # replays each step by hand from the parameters the hook saw
    seen = []

    def on_step(step, loss, lr):
        replay.params[...] = model.params  # not yet updated by this step
        idx = order[(step - 3) * 16:(step - 3) * 16 + 16]
        expected_loss, grad = loss_fn(replay.forward(X[idx]), y[idx])
        replay.backward(grad)
        np.testing.assert_array_equal(model.grads, replay.grads)
        assert loss == expected_loss and lr == schedule(step) == opt.lr
        seen.append(step)

    order = np.random.default_rng(1).permutation(50)
    mean = train_epoch(model, loss_fn, opt, X, y, batch_size=16, rng=np.random.default_rng(1),
                       schedule=schedule, step0=3, on_step=on_step)
    assert seen == [3, 4, 5, 6]  # ceil(50 / 16) steps, numbered from step0
    assert opt.t == 4 and np.isfinite(mean)


def test_raising_in_on_step_stops_before_that_steps_update():
    model, loss_fn, X, y = _problem()
    opt = Adam(model, lr=0.01)

    class Stop(Exception):
        pass

    def stop_at_two(step, loss, lr):
        if step == 2:
            raise Stop

    with pytest.raises(Stop):
        train_epoch(model, loss_fn, opt, X, y, batch_size=16, rng=np.random.default_rng(2),
                    on_step=stop_at_two)
    assert opt.t == 2
    reference, _, _, _ = _problem()
    reference_opt = Adam(reference, lr=0.01)
    perm = np.random.default_rng(2).permutation(50)
    for step in range(2):  # exactly two updates were applied
        idx = perm[step * 16:(step + 1) * 16]
        train_step(reference, loss_fn, reference_opt, X[idx], y[idx])
    assert model.params.tobytes() == reference.params.tobytes()


def test_fit_is_train_epoch_in_a_loop_with_global_steps():
    schedule = make_schedule("step", 0.05, step_size=3, gamma=0.5)
    model_a, loss_fn, X, y = _problem(4)
    model_b = model_a.copy()
    lrs_a, lrs_b = [], []
    history = fit(model_a, loss_fn, Adam(model_a), X, y, epochs=3, batch_size=16,
                  rng=np.random.default_rng(5), schedule=schedule,
                  on_step=lambda step, loss, lr: lrs_a.append((step, lr)))
    opt_b, rng_b = Adam(model_b), np.random.default_rng(5)
    manual = [train_epoch(model_b, loss_fn, opt_b, X, y, batch_size=16, rng=rng_b,
                          schedule=schedule, step0=4 * epoch,
                          on_step=lambda step, loss, lr: lrs_b.append((step, lr)))
              for epoch in range(3)]
    assert history == manual
    assert model_a.params.tobytes() == model_b.params.tobytes()
    assert lrs_a == lrs_b == [(t, schedule(t)) for t in range(12)]
