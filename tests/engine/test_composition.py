"""Every Sequential a user can build backpropagates correctly: chained activations, identity
between layers, activations before the first or after the last Dense, a reused activation
object; a reused Dense is refused; the usual MLP keeps its allocation-free step."""

import gc
import itertools
import tracemalloc

import numpy as np
import pytest

from nnexp.engine import (
    ACTIVATIONS,
    Adam,
    Dense,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
    build_mlp,
    gradient_check,
    make_activation,
    make_loss,
    train_step,
)

TOL = 1e-6


def _dense(rng, n_in, n_out):
    layer = Dense(n_in, n_out, rng=rng, init="xavier_normal", dtype="float64")
    layer.bias[:] = rng.normal(scale=0.3, size=n_out)  # no ReLU input exactly at its kink
    return layer


def _worst(model, rng, n_in=3, n_out=2, precision="float64"):
    X = rng.normal(size=(5, n_in))
    y = rng.integers(0, n_out, 5)
    check = gradient_check(model, make_loss("cross_entropy"), X, y, precision=precision)
    return max(check.values())


@pytest.mark.parametrize("first,second", list(itertools.product(ACTIVATIONS, repeat=2)))
def test_two_activations_in_a_row(first, second):
    rng = np.random.default_rng(ACTIVATIONS.index(first) * 10 + ACTIVATIONS.index(second))
    model = Sequential([_dense(rng, 3, 4), make_activation(first), make_activation(second),
                        _dense(rng, 4, 2)], dtype="float64")
    assert _worst(model, rng) < TOL


@pytest.mark.parametrize("layers", [
    ["relu", "sigmoid", "tanh"],
    ["tanh", "identity", "tanh", "relu"],
    ["sigmoid", "identity", "identity", "sigmoid"],
    ["leaky_relu", "relu", "identity", "sigmoid"],
])
def test_longer_chains_and_identity_between(layers):
    rng = np.random.default_rng(len(layers))
    model = Sequential([_dense(rng, 3, 4), *map(make_activation, layers), _dense(rng, 4, 4),
                        *map(make_activation, reversed(layers)), _dense(rng, 4, 2)],
                       dtype="float64")
    assert _worst(model, rng) < TOL
    assert _worst(model, rng, precision="float32") < 1e-3


def test_activations_before_the_first_and_after_the_last_dense():
    rng = np.random.default_rng(11)
    model = Sequential([Tanh(), ReLU(), _dense(rng, 3, 4), Sigmoid(), _dense(rng, 4, 2),
                        Tanh(), Sigmoid()], dtype="float64")
    X = rng.normal(size=(5, 3))
    before = X.copy()
    assert _worst(model, rng) < TOL
    model.forward(X)
    np.testing.assert_array_equal(X, before)  # the caller's array is never overwritten


def test_a_reused_activation_object_works_like_separate_ones():
    rng = np.random.default_rng(12)
    layers = [_dense(rng, 3, 4), _dense(rng, 4, 4), _dense(rng, 4, 2)]
    shared = Tanh()
    reused = Sequential([layers[0], shared, layers[1], shared, layers[2]], dtype="float64")
    separate = reused.copy()  # rebuilt from the architecture: a fresh Tanh per position
    X, y = rng.normal(size=(6, 3)), rng.integers(0, 2, 6)
    loss_fn = make_loss("cross_entropy")
    for model in (reused, separate):
        model.backward(loss_fn(model.forward(X), y)[1])
    np.testing.assert_array_equal(reused.grads, separate.grads)
    assert reused.layers[1] is shared and reused.layers[3] is not shared
    assert _worst(reused, rng) < TOL


def test_an_activation_from_another_model_gets_its_own_copy():
    rng = np.random.default_rng(13)
    relu = ReLU()
    first = Sequential([_dense(rng, 3, 4), relu, _dense(rng, 4, 2)], dtype="float64")
    second = Sequential([_dense(rng, 3, 4), relu, _dense(rng, 4, 2)], dtype="float64")
    assert first.layers[1] is relu and second.layers[1] is not relu
    X, y = rng.normal(size=(5, 3)), rng.integers(0, 2, 5)
    loss_fn = make_loss("cross_entropy")
    first.forward(X)
    second.forward(rng.normal(size=(5, 3)))  # must not disturb what first's backward reads
    first.backward(loss_fn(first.predict(X), y)[1])
    reference = first.copy()
    reference.backward(loss_fn(reference.forward(X), y)[1])
    np.testing.assert_array_equal(first.grads, reference.grads)


def test_a_dense_used_twice_is_refused_with_one_line():
    dense = Dense(3, 3)
    with pytest.raises(ValueError) as info:
        Sequential([dense, ReLU(), dense])
    message = str(info.value)
    assert message.startswith("layers[2] (Dense(3, 3, dtype=float32)) is the same object as "
                              "layers[0]; a Dense layer can be used only once")
    assert "\n" not in message


def test_a_dense_of_another_live_model_is_refused_and_freed_when_that_model_goes():
    layers = [Dense(3, 4), ReLU(), Dense(4, 2)]
    first = Sequential(layers)
    with pytest.raises(ValueError, match=r"^layers\[0\] .* is already part of another "
                                         r"Sequential; a Dense layer can be used only once"):
        Sequential(layers)
    np.testing.assert_array_equal(first.layers[0].weight, first.named_parameters()
                                  ["layer1.weight"])  # first still owns its parameters
    del first
    gc.collect()
    Sequential(layers)  # nobody else uses them now


def test_a_refused_model_leaves_its_layers_free():
    layers = [Dense(3, 4), ReLU(), Dense(5, 2)]
    with pytest.raises(ValueError, match="widths do not chain"):
        Sequential(layers)
    Sequential([layers[0], layers[1], Dense(4, 2)])


def _peak_bytes_of_a_step(model, loss_fn, opt, X, y):
    for _ in range(3):  # warm the buffer caches
        train_step(model, loss_fn, opt, X, y)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for _ in range(3):
            train_step(model, loss_fn, opt, X, y)
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("build", [
    lambda rng: build_mlp(64, [256, 256], 10, activation="relu", rng=rng),
    lambda rng: build_mlp(64, [256, 256], 10, activation="sigmoid", dtype="float64", rng=rng),
    lambda rng: build_mlp(64, [256, 256], 10, activation="leaky_relu", rng=rng),
    lambda rng: Sequential([Dense(64, 256, rng=rng), ReLU(), Sigmoid(), Dense(256, 256, rng=rng),
                            Tanh(), Tanh(), Dense(256, 10, rng=rng)]),
], ids=["relu-mlp", "sigmoid-mlp-float64", "leaky-relu-mlp", "chained"])
def test_a_steady_state_step_allocates_no_batch_sized_array(build):
    """Fresh arrays of 128 KiB and more come from mmap and are page-faulted on every step
    (PERFORMANCE.md). A (128, 256) float32 buffer is 128 KiB, so any fresh one would show;
    what remains is numpy's cast buffer (at most 8192 elements) for bool masks."""
    rng = np.random.default_rng(0)
    model = build(rng)
    X = rng.normal(size=(128, 64)).astype(model.dtype)
    y = rng.integers(0, 10, 128)
    peak = _peak_bytes_of_a_step(model, make_loss("cross_entropy"), Adam(model), X, y)
    assert peak < 100 * 1024, peak
