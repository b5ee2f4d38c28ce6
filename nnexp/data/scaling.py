"""Feature standardisation fitted on training rows only, reusable at prediction time."""

from __future__ import annotations

import numpy as np


def fit_scaler(X_train: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Return float64 (mean, std, n_constant) of training columns; constant columns get std 1."""
    X64 = np.asarray(X_train, dtype=np.float64)
    mean = X64.mean(axis=0)
    std = X64.std(axis=0)
    constant = ~(std > 1e-12)
    std = np.where(constant, 1.0, std)
    return mean, std, int(constant.sum())


def apply_scaler(X: np.ndarray, mean: np.ndarray, std: np.ndarray, dtype: str) -> np.ndarray:
    """Standardise X with a fitted (mean, std) in float64, then cast to `dtype`."""
    return ((np.asarray(X, dtype=np.float64) - mean) / std).astype(dtype)
