"""Analytic gradients agree with central finite differences (float64, rel error < 1e-6)."""

import numpy as np
import pytest

from nnexp.engine import (
    ACTIVATIONS,
    LOSSES,
    Dense,
    LeakyReLU,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
    build_mlp,
    gradient_check,
    make_activation,
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


def _random_network(seed: int, max_chain: int = 2):
    """A random hand-built Sequential with up to ``max_chain`` activations in a row, a loss,
    inputs and targets."""
    rng = np.random.default_rng(seed)
    widths = [int(w) for w in rng.integers(1, 7, int(rng.integers(2, 5)))]
    loss = str(rng.choice(LOSSES))
    widths[-1] = 1 if loss == "bce" else max(widths[-1], 2)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        dense = Dense(n_in, n_out, rng=rng, init="xavier_normal", dtype="float64")
        dense.bias[:] = rng.normal(scale=0.3, size=n_out)  # keep ReLU inputs off their kink
        layers.append(dense)
        if i < len(widths) - 2:
            chain = rng.choice(ACTIVATIONS, rng.integers(1, max_chain + 1))
            layers += [make_activation(str(name)) for name in chain]
    model = Sequential(layers, dtype="float64")
    n = int(rng.integers(2, 8))
    X = rng.normal(size=(n, widths[0])) * rng.choice([0.3, 1.0, 3.0])
    return model, make_loss(loss), X, _targets(loss, n, widths[-1], rng)


def test_no_false_alarms_on_small_entries_beside_large_ones():
    """Judged entry by entry, about 1 in 10 of these correct networks failed at 1e-6: entries
    of 1e-5 carry the same absolute finite-difference noise as entries of 1."""
    for seed in range(40):
        errors = gradient_check(*_random_network(seed, max_chain=1), eps=EPS)
        assert max(errors.values()) < TOL, (seed, errors)


def test_the_worst_entry_is_reported_with_its_scale(monkeypatch):
    model = Sequential([Dense(3, 4, rng=np.random.default_rng(0), init="xavier_normal"), Tanh(),
                        Dense(4, 2, rng=np.random.default_rng(1), init="xavier_normal")],
                       dtype="float64")
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(6, 3)), rng.integers(0, 2, 6)
    loss_fn = make_loss("cross_entropy")
    model.backward(loss_fn(model.forward(X), y)[1])
    true_grad = model.named_gradients()["layer1.weight"].copy()
    real_backward = Dense.backward

    def one_wrong_entry(self, grad, need_input_grad=True):
        out = real_backward(self, grad, need_input_grad)
        if self.n_inputs == 3:
            self.grad_weight[1, 2] += 1e-3
        return out

    monkeypatch.setattr(Dense, "backward", one_wrong_entry)
    check = gradient_check(model, loss_fn, X, y, eps=EPS)
    worst = check.worst["layer1.weight"]
    assert worst.index == (1, 2)
    assert worst.numeric == pytest.approx(true_grad[1, 2], rel=1e-6)
    assert worst.analytic - worst.numeric == pytest.approx(1e-3, rel=1e-6)
    bumped = true_grad.copy()
    bumped[1, 2] += 1e-3
    assert worst.scale == pytest.approx(np.abs(bumped).max(), rel=1e-9)
    assert worst.error == check["layer1.weight"] == pytest.approx(1e-3 / worst.scale)
    assert check.failed(TOL) == ["layer1.weight"]
    assert str(worst).startswith("[1, 2] analytic ")
    assert check.precision == "float64" and check.eps == EPS


def test_float32_mode_runs_the_float32_code_path(monkeypatch):
    model, loss_fn, X, y = _random_network(3)
    in64 = gradient_check(model, loss_fn, X, y)
    in32 = gradient_check(model, loss_fn, X, y, precision="float32")
    assert in32.precision == "float32"
    assert max(in64.values()) < TOL
    assert 1e-9 < max(in32.values()) < 1e-3  # float32 rounding, not float64's
    real_backward = Tanh.backward

    def wrong_in_float32(self, grad, inplace=False):
        out = real_backward(self, grad, inplace)
        if out.dtype == np.float32:
            out *= np.float32(1.01)
        return out

    monkeypatch.setattr(Tanh, "backward", wrong_in_float32)
    model = build_mlp(3, [5], 2, activation="tanh", init="xavier_normal", dtype="float32",
                      rng=np.random.default_rng(4))
    X, y = np.random.default_rng(5).normal(size=(6, 3)), np.array([0, 1, 1, 0, 1, 0])
    loss_fn = make_loss("cross_entropy")
    assert max(gradient_check(model, loss_fn, X, y).values()) < TOL
    assert gradient_check(model, loss_fn, X, y, precision="float32")["layer1.weight"] > 1e-3


def _old_forward(self, X):
    """Sequential.forward before the fix: every activation overwrote its input in place."""
    X = self._check_input(X)
    x = X
    for layer in self.layers:
        x = layer.forward(x, inplace=x is not X)
    self._batch_size = X.shape[0]
    return x


@pytest.mark.parametrize("first,second", [(ReLU, Sigmoid), (Sigmoid, Tanh), (Tanh, Tanh)])
@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_catches_the_chained_activation_bug(monkeypatch, first, second, precision):
    rng = np.random.default_rng(9)
    model = Sequential([Dense(4, 5, rng=rng, init="xavier_normal"), first(), second(),
                        Dense(5, 3, rng=rng, init="xavier_normal")], dtype="float64")
    X, y = rng.normal(size=(6, 4)), rng.integers(0, 3, 6)
    loss_fn = make_loss("cross_entropy")
    tol = TOL if precision == "float64" else 1e-3
    assert gradient_check(model, loss_fn, X, y, precision=precision).failed(tol) == []
    monkeypatch.setattr(Sequential, "forward", _old_forward)
    check = gradient_check(model, loss_fn, X, y, precision=precision)
    assert check["layer1.weight"] > 1e-2, check
    assert "layer1.weight" in check.failed(tol)


def _network_with_kinks():
    """Zero biases and an all-zero input row: that row's ReLU inputs are exactly 0."""
    rng = np.random.default_rng(12)
    model = build_mlp(3, [4], 2, activation="relu", dtype="float64", rng=rng)
    X = rng.normal(size=(5, 3))
    X[2] = 0.0
    return model, make_loss("cross_entropy"), X, rng.integers(0, 2, 5)


def test_kinks_are_judged_by_one_sided_derivatives():
    """The central difference averages the two sides of a kink, which no backward returns:
    judged against it, correct bias gradients here were off by the half-jump."""
    check = gradient_check(*_network_with_kinks())
    assert check.kinks["layer1.bias"] == 4 and check.kinks["layer1.weight"] == 0
    assert max(check.values()) < TOL, check
    kink = check.worst["layer1.bias"]
    assert kink.kink and "(one-sided: a kink)" in str(kink)


def test_a_wrong_gradient_at_a_kink_is_still_caught(monkeypatch):
    real_backward = Dense.backward

    def off_at_the_kink(self, grad, need_input_grad=True):
        out = real_backward(self, grad, need_input_grad)
        if self.n_inputs == 3:
            self.grad_bias[1] += 1e-3
        return out

    monkeypatch.setattr(Dense, "backward", off_at_the_kink)
    check = gradient_check(*_network_with_kinks())
    assert check.failed(TOL) == ["layer1.bias"]
    assert check.worst["layer1.bias"].index == (1,) and check.worst["layer1.bias"].kink
