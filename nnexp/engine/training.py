"""The training loop: ``train_step`` (forward, loss, backward, clip, step) and ``fit``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._checks import check_int
from .losses import Loss
from .network import Sequential
from .optimizers import Optimizer, clip_grad_norm


def train_step(
    model: Sequential,
    loss_fn: Loss,
    optimizer: Optimizer,
    xb: np.ndarray,
    yb: np.ndarray,
    clip_norm: float | None = None,
) -> float:
    """One optimisation step on a batch; returns the batch loss (before the update)."""
    loss, grad = loss_fn(model.forward(xb), yb)
    model.backward(grad)
    if clip_norm is not None:
        clip_grad_norm(model, clip_norm)
    optimizer.step()
    return loss


def fit(
    model: Sequential,
    loss_fn: Loss,
    optimizer: Optimizer,
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    rng: np.random.Generator,
    schedule: Callable[[int], float] | None = None,
    clip_norm: float | None = None,
) -> list[float]:
    """Mini-batch training; returns the mean training loss of each epoch.

    X is cast once to the model dtype and y converted once by ``loss_fn.prepare_targets``;
    each epoch draws one permutation from ``rng`` and gathers batches into preallocated arrays.
    ``schedule(t)`` (if given) sets ``optimizer.lr`` before global step t.
    """
    epochs = check_int("epochs", epochs, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    X = np.ascontiguousarray(model._check_input(X))
    y = np.ascontiguousarray(loss_fn.prepare_targets(y, model.dtype))
    n = X.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"y must have {n} rows like X, got {y.shape[0]}")
    if n == 0:
        raise ValueError("X must have at least one row, got 0")
    buffers: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    history: list[float] = []
    t = 0
    for _ in range(epochs):
        order = rng.permutation(n)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            size = idx.shape[0]
            if size not in buffers:
                buffers[size] = (
                    np.empty((size, *X.shape[1:]), X.dtype),
                    np.empty((size, *y.shape[1:]), y.dtype),
                )
            xb, yb = buffers[size]
            # mode="clip": with the default "raise" numpy gathers into a temporary and copies
            # it to out; idx comes from a permutation, so it is always in range
            np.take(X, idx, axis=0, out=xb, mode="clip")
            np.take(y, idx, axis=0, out=yb, mode="clip")
            if schedule is not None:
                optimizer.lr = schedule(t)
            total += train_step(model, loss_fn, optimizer, xb, yb, clip_norm) * size
            t += 1
        history.append(total / n)
    return history
