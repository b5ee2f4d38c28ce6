"""The speed-motivated code paths give the plain-numpy results: the cached constant arrays,
ReLU against a zero array, bias gradients as a GEMV with ones, the cross-entropy row
max/sum, and fit's gather with mode="clip"."""

import numpy as np
import pytest

from nnexp.engine import Adam, Dense, build_mlp, fit, make_activation, make_loss
from nnexp.engine._checks import BufferCache


def test_constant_buffers_are_filled_cached_and_read_only():
    cache = BufferCache(max_entries=2)
    ones = cache.constant(1, (3,), np.dtype("float32"))
    assert ones.dtype == np.float32 and np.array_equal(ones, [1, 1, 1])
    assert cache.constant(1, (3,), np.dtype("float32")) is ones
    assert np.array_equal(cache.constant(0, (2, 2), np.dtype("float64")), np.zeros((2, 2)))
    with pytest.raises(ValueError):
        ones[0] = 5
    cache.get("scratch", (4,), np.dtype("float32"))  # evicts the oldest entry
    assert cache.constant(1, (3,), np.dtype("float32")) is not ones


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_relu_forward_matches_maximum(dtype):
    x = np.random.default_rng(0).standard_normal((7, 5)).astype(dtype)
    x[0, 0] = 0.0
    relu = make_activation("relu")
    for _ in range(2):  # second call reuses the cached zero array
        y = relu.forward(x.copy(), inplace=True)
        assert y.dtype == x.dtype and np.array_equal(y, np.maximum(x, 0))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dense_bias_gradient_is_the_column_sum(dtype):
    rng = np.random.default_rng(1)
    layer = Dense(4, 3, rng=rng, dtype=dtype)
    for n in (5, 1, 5):
        x = rng.standard_normal((n, 4)).astype(dtype)
        g = rng.standard_normal((n, 3)).astype(dtype)
        layer.forward(x)
        layer.backward(g, need_input_grad=False)
        np.testing.assert_allclose(layer.grad_bias, g.astype(np.float64).sum(axis=0), rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("k", [1, 2, 10, 37])
def test_cross_entropy_matches_the_reference(dtype, k):
    rng = np.random.default_rng(k)
    z = (rng.standard_normal((9, k)) * 30).astype(dtype)
    y = rng.integers(0, k, 9)
    loss, grad = make_loss("cross_entropy")(z, y)
    z64 = z.astype(np.float64)
    shifted = z64 - z64.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    expected_grad = np.exp(log_p)
    expected_grad[np.arange(9), y] -= 1
    rtol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(loss, -log_p[np.arange(9), y].mean(), rtol=rtol)
    np.testing.assert_allclose(grad, expected_grad / 9, rtol=rtol, atol=rtol / 9)


def test_fit_is_deterministic_with_a_partial_last_batch():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 6)).astype(np.float32)
    y = rng.integers(0, 3, 50)
    params = []
    for _ in range(2):
        model = build_mlp(6, [5], 3, rng=np.random.default_rng(3))
        fit(
            model,
            make_loss("cross_entropy"),
            Adam(model),
            X,
            y,
            epochs=2,
            batch_size=16,
            rng=np.random.default_rng(4),
        )
        params.append(model.params.copy())
    assert np.array_equal(params[0], params[1])
