"""Sigmoid keeps its relative precision over the whole range in float32 and float64, without
overflow or any floating-point warning, in the layer, its predict and the BCE loss."""

import warnings

import numpy as np
import pytest

from nnexp.engine import Sigmoid, make_loss

# smallest x whose sigmoid is still a normal number; below it results are subnormal
NORMAL_RANGE = {"float32": -87.0, "float64": -708.0}
ULPS = 4


def _reference(x: np.ndarray) -> np.ndarray:
    """σ(x) in extended precision, from the form that is exact for either sign."""
    x = x.astype(np.longdouble)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _grid(dtype: str) -> np.ndarray:
    low = NORMAL_RANGE[dtype]
    dense = np.linspace(low, 40, 20_001)
    return np.concatenate([dense, [-17.0, -1e-3, 0.0, 1e-3, 17.0]]).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_relative_error_is_a_few_ulp_everywhere(dtype):
    x = _grid(dtype)
    ulp = np.finfo(dtype).eps
    expected = _reference(x)
    layer = Sigmoid()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            outputs = {
                "forward": layer.forward(x.reshape(1, -1))[0].copy(),
                "forward in place": layer.forward(x.reshape(1, -1).copy(), inplace=True)[0],
                "predict": layer.predict(x),
                "bce predict": make_loss("bce").predict(x.reshape(-1, 1))[:, 0],
            }
    for name, y in outputs.items():
        assert y.dtype == np.dtype(dtype), name
        relative = np.abs(y.astype(np.longdouble) - expected) / expected
        assert float(relative.max()) < ULPS * ulp, (name, float(relative.max()))


def test_float32_tail_value_named_in_the_issue():
    y = Sigmoid().predict(np.array([-17.0, -17.5, -80.0], dtype=np.float32))
    np.testing.assert_allclose(y, [4.1399375e-08, 2.5109990e-08, 1.8048513e-35], rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_extremes_give_no_warning_and_stay_in_range(dtype):
    info = np.finfo(dtype)
    x = np.array([-np.inf, -1e30, info.min, -1e4, -800.0, 0.0, 800.0, 1e4, info.max, np.inf],
                 dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = Sigmoid().predict(x)
        probs = make_loss("bce").predict(x.reshape(-1, 1))[:, 0]
    np.testing.assert_array_equal(y, probs)
    assert np.all((y >= 0) & (y <= 1))
    assert y[0] == 0 and y[-1] == 1 and y[5] == 0.5
    assert np.all(y[:5] < info.tiny) and np.all(y[6:] == 1)  # below every normal number


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_gradient_keeps_precision_for_confident_negatives(dtype):
    """dL/dz = (σ(z) - y) / n: for y = 0 and z = -20 it is σ(-20) / n, not 0 or a rounded 1e-8."""
    z = np.array([[-20.0], [-30.0]], dtype=dtype)
    _, grad = make_loss("bce")(z, np.zeros(2))
    expected = _reference(z[:, 0]) / 2
    np.testing.assert_allclose(grad[:, 0].astype(np.longdouble), expected,
                               rtol=ULPS * np.finfo(dtype).eps)
