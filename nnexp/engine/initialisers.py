"""Weight initialisers for a weight matrix of shape (fan_in, fan_out).

Every draw comes from the one ``numpy.random.Generator`` passed in, in float64, and is cast
once to the model dtype, so float32 and float64 models built from the same seed start from
the same (rounded) weights. Biases are not drawn: they start at zero (see ``Dense``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ._checks import check_choice, check_positive, resolve_dtype

Shape = tuple[int, int]


def he_normal(shape: Shape, rng: np.random.Generator) -> np.ndarray:
    """N(0, std²) with std = sqrt(2 / fan_in): keeps ReLU activations' variance (He et al. 2015)."""
    return rng.normal(0.0, math.sqrt(2.0 / shape[0]), size=shape)


def he_uniform(shape: Shape, rng: np.random.Generator) -> np.ndarray:
    """U(-a, a) with a = sqrt(6 / fan_in): the uniform variant of He."""
    a = math.sqrt(6.0 / shape[0])
    return rng.uniform(-a, a, size=shape)


def xavier_normal(shape: Shape, rng: np.random.Generator) -> np.ndarray:
    """N(0, std²) with std = sqrt(2 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    return rng.normal(0.0, math.sqrt(2.0 / (shape[0] + shape[1])), size=shape)


def xavier_uniform(shape: Shape, rng: np.random.Generator) -> np.ndarray:
    """U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) (Glorot uniform)."""
    a = math.sqrt(6.0 / (shape[0] + shape[1]))
    return rng.uniform(-a, a, size=shape)


def normal(shape: Shape, rng: np.random.Generator, std: float = 0.01) -> np.ndarray:
    """N(0, std²) with a fixed std (``init_std``)."""
    return rng.normal(0.0, std, size=shape)


def zeros(shape: Shape, rng: np.random.Generator) -> np.ndarray:
    """All zeros (draws nothing): useful for linear models and tests."""
    return np.zeros(shape)


_INITIALISERS: dict[str, Callable[..., np.ndarray]] = {
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "xavier_normal": xavier_normal,
    "xavier_uniform": xavier_uniform,
    "normal": normal,
    "zeros": zeros,
}
INITIALISERS: tuple[str, ...] = tuple(_INITIALISERS)


def initialise(
    name: str,
    shape: Shape,
    rng: np.random.Generator,
    dtype: str | np.dtype = "float32",
    init_std: float = 0.01,
) -> np.ndarray:
    """Draw a (fan_in, fan_out) weight matrix with initialiser ``name`` and cast it to ``dtype``."""
    check_choice("init", name, INITIALISERS)
    dt = resolve_dtype(dtype)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if name == "normal":
        values = normal(shape, rng, check_positive("init_std", init_std))
    else:
        values = _INITIALISERS[name](shape, rng)
    return values.astype(dt, copy=False)
