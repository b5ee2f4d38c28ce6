"""Seeded train/val/test splitting, stratified by class when every class is large enough."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import DataError

MIN_PER_CLASS_FOR_STRATIFY = 3


@dataclass(frozen=True)
class SplitIndices:
    """Row indices of each split plus a human-readable description of how they were made."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    note: str


def split_sizes(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """Return (n_train, n_val, n_test): fractions of n rounded half-up, each split at least 1."""
    if n < 3:
        raise DataError(f"data: too few samples ({n}) for train/val/test splits; need at least 3")
    n_val = max(1, int(np.floor(val_fraction * n + 0.5)))
    n_test = max(1, int(np.floor(test_fraction * n + 0.5)))
    n_train = n - n_val - n_test
    if n_train < 1:
        raise DataError(
            f"data: too few samples ({n}) for train/val/test splits with "
            f"val_fraction={val_fraction}, test_fraction={test_fraction} (no training data left)"
        )
    return n_train, n_val, n_test


def _largest_remainder(total: int, counts: np.ndarray) -> np.ndarray:
    """Share `total` among classes proportionally to `counts` (Hamilton method, ties by index)."""
    quotas = total * counts / counts.sum()
    base = np.floor(quotas).astype(np.int64)
    order = np.argsort(-(quotas - base), kind="stable")
    base[order[: total - int(base.sum())]] += 1
    return base


def _stratified_counts(counts: np.ndarray, n_val: int, n_test: int) -> tuple[np.ndarray, ...]:
    """Per-class (train, val, test) counts with exact totals and >= 1 train row per class."""
    test = _largest_remainder(n_test, counts)
    val = _largest_remainder(n_val, counts)
    train = counts - val - test
    while (train < 1).any():  # terminates: sum(train) >= n_classes is checked by the caller
        poor = int(np.argmin(train))
        rich = int(np.argmax(train))
        taker = val if val[poor] >= test[poor] else test
        taker[poor] -= 1
        taker[rich] += 1
        train = counts - val - test
    return train, val, test


def split_indices(
    y: np.ndarray | None,
    n: int,
    *,
    val_fraction: float,
    test_fraction: float,
    rng: np.random.Generator,
) -> SplitIndices:
    """Split range(n) into shuffled train/val/test indices; stratify on `y` labels when possible.

    Pass y=None (regression) for a plain shuffled split. Same rng state gives identical indices.
    """
    n_train, n_val, n_test = split_sizes(n, val_fraction, test_fraction)
    reason = "regression targets"
    if y is not None:
        classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
        if counts.min() < MIN_PER_CLASS_FOR_STRATIFY:
            reason = (
                f"class label {classes[int(np.argmin(counts))]} has only {int(counts.min())} "
                f"sample(s), need {MIN_PER_CLASS_FOR_STRATIFY}"
            )
        elif n_train < len(classes):
            reason = f"only {n_train} training rows for {len(classes)} classes"
        else:
            tr_c, va_c, te_c = _stratified_counts(counts, n_val, n_test)
            parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
            for k in range(len(classes)):
                members = rng.permutation(np.flatnonzero(inverse == k))
                parts["test"].append(members[: te_c[k]])
                parts["val"].append(members[te_c[k] : te_c[k] + va_c[k]])
                parts["train"].append(members[te_c[k] + va_c[k] :])
            out = {key: rng.permutation(np.concatenate(v)) for key, v in parts.items()}
            note = (
                f"split {n} samples into train {n_train} / val {n_val} / test {n_test} "
                "(stratified by class, seeded)"
            )
            return SplitIndices(out["train"], out["val"], out["test"], note)
    perm = rng.permutation(n)
    note = (
        f"split {n} samples into train {n_train} / val {n_val} / test {n_test} "
        f"(shuffled, not stratified: {reason}, seeded)"
    )
    return SplitIndices(perm[n_test + n_val :], perm[n_test : n_test + n_val], perm[:n_test], note)
