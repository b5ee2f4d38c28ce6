"""Seeded toy sets made on the fly: moons, circles, xor (classification), line (regression)."""

from __future__ import annotations

import numpy as np

from .checks import validate_arrays
from .raw import RawData

SYNTHETIC_NAMES = ("moons", "circles", "xor", "line")


def make_moons(n_samples: int, noise: float, seed: int) -> tuple[np.ndarray, ...]:
    """Two interleaved half circles, bit for bit `sklearn.datasets.make_moons(n_samples, noise=,
    random_state=seed)`: written in numpy so a run does not import scikit-learn (1.2 s)."""
    n_out = n_samples // 2
    n_in = n_samples - n_out
    X = np.vstack([np.append(np.cos(np.linspace(0, np.pi, n_out)),
                             1 - np.cos(np.linspace(0, np.pi, n_in))),
                   np.append(np.sin(np.linspace(0, np.pi, n_out)),
                             1 - np.sin(np.linspace(0, np.pi, n_in)) - 0.5)]).T
    return _shuffled_with_noise(X, n_out, n_in, noise, seed)


def make_circles(n_samples: int, noise: float, seed: int,
                 factor: float = 0.5) -> tuple[np.ndarray, ...]:
    """A small circle inside a large one, bit for bit `sklearn.datasets.make_circles(n_samples,
    noise=, factor=, random_state=seed)`, in numpy like `make_moons`."""
    n_out = n_samples // 2
    n_in = n_samples - n_out
    outer = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    inner = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    X = np.vstack([np.append(np.cos(outer), np.cos(inner) * factor),
                   np.append(np.sin(outer), np.sin(inner) * factor)]).T
    return _shuffled_with_noise(X, n_out, n_in, noise, seed)


def _shuffled_with_noise(X: np.ndarray, n_out: int, n_in: int, noise: float,
                         seed: int) -> tuple[np.ndarray, ...]:
    """scikit-learn's shuffle then Gaussian noise, drawn from `RandomState(seed)` in its order."""
    y = np.hstack([np.zeros(n_out, dtype=np.intp), np.ones(n_in, dtype=np.intp)])
    generator = np.random.RandomState(seed)
    order = np.arange(X.shape[0])
    generator.shuffle(order)
    X, y = X[order], y[order]
    X += generator.normal(scale=noise, size=X.shape)
    return X, y


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
        X, y = make_moons(n_samples, noise, seed)
        classes = ["upper", "lower"]
    elif name == "circles":
        X, y = make_circles(n_samples, noise, seed)
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
