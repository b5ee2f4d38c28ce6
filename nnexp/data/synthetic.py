"""Seeded toy sets made on the fly: moons, circles, xor (classification), line (regression)."""

from __future__ import annotations

import numpy as np

from .checks import validate_arrays
from .raw import RawData

SYNTHETIC_NAMES = ("moons", "circles", "xor", "line")


def make_xor(n_samples: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Points uniform in [-1, 1]^2; label 1 when x1 and x2 have opposite signs, then add noise."""
    X = rng.uniform(-1.0, 1.0, size=(n_samples, 2))
    y = ((X[:, 0] > 0) != (X[:, 1] > 0)).astype(np.int64)
    X = X + noise * rng.standard_normal(X.shape)
    return X, y


def make_line(
    n_samples: int, noise: float, a: float, b: float, rng: np.random.Generator
) -> tuple[np.ndarray, ...]:
    """x uniform in [-1, 1] (one feature); y = a*x + b + noise * N(0, 1), shape (n, 1)."""
    x = rng.uniform(-1.0, 1.0, size=(n_samples, 1))
    y = a * x + b + noise * rng.standard_normal((n_samples, 1))
    return x, y


def load_synthetic_set(
    name: str, *, n_samples: int, noise: float, line_a: float, line_b: float, seed: int
) -> RawData:
    """Generate one synthetic set from an integer seed (also used as sklearn's random_state)."""
    rng = np.random.default_rng(seed)
    desc = f"generated {name}: {n_samples} samples, noise={noise}"
    if name == "moons":
        from sklearn.datasets import make_moons

        X, y = make_moons(n_samples=n_samples, noise=noise, random_state=seed)
        classes = ["upper", "lower"]
    elif name == "circles":
        from sklearn.datasets import make_circles

        X, y = make_circles(n_samples=n_samples, noise=noise, factor=0.5, random_state=seed)
        classes = ["outer", "inner"]
    elif name == "xor":
        X, y = make_xor(n_samples, noise, rng)
        classes = ["same_sign", "opposite_sign"]
    elif name == "line":
        X, y = make_line(n_samples, noise, line_a, line_b, rng)
        X, y = validate_arrays(X, y, "regression")
        return RawData(X, y, "regression", [], [f"{desc}, y = {line_a}*x + {line_b} + noise"],
                       truth={"a": line_a, "b": line_b})
    else:  # pragma: no cover - guarded by load_dataset
        raise KeyError(name)
    X, y = validate_arrays(X, y, "classification")
    return RawData(X, y, "classification", classes, [desc])
