"""Feature standardisation fitted on training rows only, reusable at prediction time."""

from __future__ import annotations

import numpy as np

BLOCK_ROWS = 1 << 14
LARGE_BYTES = 1 << 27  # training rows above this are fitted in blocks, never copied whole


def fit_scaler(X_train: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Return float64 (mean, std, n_constant) of training columns; constant columns get std 1."""
    X64 = np.asarray(X_train, dtype=np.float64)
    mean = X64.mean(axis=0)
    std = X64.std(axis=0)
    return _constant_to_one(mean, std)


def fit_scaler_rows(X: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """`fit_scaler(X[rows])`; for large data computed a block of rows at a time (two passes:
    the mean, then the squared deviations), so neither the rows nor their deviations are held
    as a whole copy of the training split."""
    if rows.shape[0] * X.shape[1] * 8 <= LARGE_BYTES:
        return fit_scaler(X[rows])
    blocks = [rows[i:i + BLOCK_ROWS] for i in range(0, rows.shape[0], BLOCK_ROWS)]
    total = np.zeros(X.shape[1])
    for block in blocks:
        total += X[block].sum(axis=0, dtype=np.float64)
    mean = total / rows.shape[0]
    squares = np.zeros(X.shape[1])
    for block in blocks:
        squares += np.square(X[block] - mean).sum(axis=0)
    return _constant_to_one(mean, np.sqrt(squares / rows.shape[0]))


def _constant_to_one(mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    constant = ~(std > 1e-12)
    std = np.where(constant, 1.0, std)
    return mean, std, int(constant.sum())


def apply_scaler(X: np.ndarray, mean: np.ndarray, std: np.ndarray, dtype: str) -> np.ndarray:
    """Standardise X with a fitted (mean, std) in float64, then cast to `dtype`."""
    return ((np.asarray(X, dtype=np.float64) - mean) / std).astype(dtype)
