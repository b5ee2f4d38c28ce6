"""Analytic gradients agree with central finite differences (float64, rel error < 1e-6)."""

import numpy as np
import pytest

from nnexp.engine import (
    ACTIVATIONS,
    LOSSES,
    Dense,
    LeakyReLU,
    Sequential,
    Tanh,
    build_mlp,
    gradient_check,
    make_loss,
)

TOL = 1e-6
# Central differences in float64: truncation error ~ eps², rounding noise ~ 1e-16 / eps.
# eps = 1e-5 balances the two; with 1e-6 entries whose gradient is ~1e-4 sit near 1e-6 noise.
EPS = 1e-5


def _targets(loss: str, n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    if loss == "cross_entropy":
        return rng.integers(0, k, n)
    if loss == "bce":
        return rng.integers(0, 2, n).astype(float)
    return rng.normal(size=(n, k))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation(activation):
    rng = np.random.default_rng(1)
    model = build_mlp(
        4, [6, 5], 3, activation=activation, init="xavier_normal", dtype="float64", rng=rng
    )
    X = rng.normal(size=(5, 4))
    errors = gradient_check(model, make_loss("cross_entropy"), X, rng.integers(0, 3, 5), eps=EPS)
    assert set(errors) == {f"layer{i}.{p}" for i in (1, 2, 3) for p in ("weight", "bias")}
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss(loss):
    rng = np.random.default_rng(2)
    k = 1 if loss == "bce" else 3
    model = build_mlp(3, [5], k, activation="tanh", init="xavier_normal", dtype="float64", rng=rng)
    X = rng.normal(size=(6, 3))
    errors = gradient_check(model, make_loss(loss), X, _targets(loss, 6, k, rng), eps=EPS)
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("seed", range(4))
def test_random_architectures(seed):
    rng = np.random.default_rng(100 + seed)
    depth = int(rng.integers(0, 4))
    hidden = [int(h) for h in rng.integers(2, 7, depth)]
    n_in, n_out = int(rng.integers(1, 5)), int(rng.integers(2, 4))
    activation = str(rng.choice(["relu", "tanh", "sigmoid", "leaky_relu"]))
    loss = str(rng.choice(["mse", "cross_entropy"]))
    model = build_mlp(
        n_in, hidden, n_out, activation=activation, init="xavier_uniform", dtype="float64", rng=rng
    )
    X = rng.normal(size=(5, n_in))
    errors = gradient_check(model, make_loss(loss), X, _targets(loss, 5, n_out, rng), eps=EPS)
    assert max(errors.values()) < TOL, (hidden, activation, loss, errors)


def test_hand_built_sequential_and_float32_model():
    """A Sequential with mixed activations; a float32 model is checked on a float64 copy."""
    rng = np.random.default_rng(3)
    model = Sequential(
        [
            Dense(3, 4, rng=rng, init="xavier_normal"),
            LeakyReLU(0.2),
            Dense(4, 4, rng=rng, init="xavier_normal"),
            Tanh(),
            Dense(4, 2, rng=rng),
        ],
        dtype="float32",
    )
    before = model.params.copy()
    errors = gradient_check(
        model, make_loss("mse"), rng.normal(size=(4, 3)), rng.normal(size=(4, 2)), eps=EPS
    )
    assert max(errors.values()) < TOL, errors
    assert model.params.dtype == np.float32
    np.testing.assert_array_equal(model.params, before)  # the check worked on a copy


def test_gradient_check_detects_a_wrong_gradient():
    """A loss whose gradient is off by 1% must be flagged."""

    class WrongMSE(type(make_loss("mse"))):
        def __call__(self, outputs, targets):
            value, grad = super().__call__(outputs, targets)
            return value, grad * 1.01

    rng = np.random.default_rng(4)
    model = build_mlp(2, [3], 1, dtype="float64", rng=rng)
    errors = gradient_check(model, WrongMSE(), rng.normal(size=(4, 2)), rng.normal(size=4))
    assert min(errors.values()) > 1e-3
