"""Training: ``train_epoch`` owns the minibatch step and the epoch; ``fit`` loops over it.

A step is: forward, loss, backward, optional gradient clipping (a ``before_clip`` hook sees the
gradients ahead of it), ``on_step`` hook, optimizer update. The hook sees this step's gradients
before they are applied, which is where a caller logs gradient norms, checks for divergence or
stops between steps; ``nnexp.loop`` trains through the same function, so what the benchmark
times is what a run executes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._checks import check_int
from .losses import Loss
from .network import Sequential
from .optimizers import Optimizer, clip_grad_norm

StepHook = Callable[[int, float, float], None]


def prepare_data(
    model: Sequential, loss_fn: Loss, X: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """X cast once to the model dtype and y converted once by ``loss_fn.prepare_targets``, both
    C-contiguous (no copy when they already are): pass the result to ``train_epoch`` every
    epoch so the data set is never cast again."""
    X = np.ascontiguousarray(model._check_input(X))
    y = np.ascontiguousarray(loss_fn.prepare_targets(y, model.dtype))
    n = X.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"y must have {n} rows like X, got {y.shape[0]}")
    if n == 0:
        raise ValueError("X must have at least one row, got 0")
    return X, y


def _gradients(
    model: Sequential,
    loss_fn: Loss,
    xb: np.ndarray,
    yb: np.ndarray,
    clip_norm: float | None,
) -> float:
    """Forward, loss, backward and optional clipping; returns the batch loss."""
    loss, grad = loss_fn(model.forward(xb), yb)
    model.backward(grad)
    if clip_norm is not None:
        clip_grad_norm(model, clip_norm)
    return loss


def train_step(
    model: Sequential,
    loss_fn: Loss,
    optimizer: Optimizer,
    xb: np.ndarray,
    yb: np.ndarray,
    clip_norm: float | None = None,
) -> float:
    """One optimisation step on a batch; returns the batch loss (before the update)."""
    loss = _gradients(model, loss_fn, xb, yb, clip_norm)
    optimizer.step()
    return loss


def train_epoch(
    model: Sequential,
    loss_fn: Loss,
    optimizer: Optimizer,
    X: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    rng: np.random.Generator,
    schedule: Callable[[int], float] | None = None,
    clip_norm: float | None = None,
    step0: int = 0,
    on_step: StepHook | None = None,
    before_clip: StepHook | None = None,
) -> float:
    """One pass over (X, y) in the order of one ``rng.permutation``; returns the mean loss.

    Steps are numbered step0, step0 + 1, ... (ceil(n / batch_size) of them; the last batch
    may be short). ``schedule(step)`` sets ``optimizer.lr`` before each step.
    ``on_step(step, loss, lr)`` runs after backward and clipping and before the update: it may
    read ``model.grads`` and may raise to stop training, leaving that step's update unapplied.
    ``before_clip(step, loss, lr)`` runs, when ``clip_norm`` is given, after backward and before
    clipping: it may read the gradients as backward left them.
    Batches are gathered into one buffer per epoch; pass data through ``prepare_data`` once
    so that nothing is cast per epoch.
    """
    batch_size = check_int("batch_size", batch_size, 1)
    X, y = prepare_data(model, loss_fn, X, y)
    n = X.shape[0]
    order = rng.permutation(n)
    rows = min(batch_size, n)
    x_buffer = np.empty((rows, *X.shape[1:]), X.dtype)
    y_buffer = np.empty((rows, *y.shape[1:]), y.dtype)
    total = 0.0
    step = step0
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        size = idx.shape[0]
        xb, yb = (x_buffer, y_buffer) if size == rows else (x_buffer[:size], y_buffer[:size])
        # mode="clip": with the default "raise" numpy gathers into a temporary and copies it to
        # out; idx comes from a permutation, so it is always in range
        np.take(X, idx, axis=0, out=xb, mode="clip")
        np.take(y, idx, axis=0, out=yb, mode="clip")
        if schedule is not None:
            optimizer.lr = schedule(step)
        if before_clip is None or clip_norm is None:
            loss = _gradients(model, loss_fn, xb, yb, clip_norm)
        else:
            loss = _gradients(model, loss_fn, xb, yb, None)
            before_clip(step, loss, optimizer.lr)
            clip_grad_norm(model, clip_norm)
        if on_step is not None:
            on_step(step, loss, optimizer.lr)
        optimizer.step()
        total += loss * size
        step += 1
    return total / n


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
    on_step: StepHook | None = None,
) -> list[float]:
    """Mini-batch training for ``epochs`` calls of ``train_epoch``; returns each epoch's mean
    training loss. X and y are prepared once (``prepare_data``); steps are numbered across
    epochs, so ``schedule(t)`` sees the global step t."""
    epochs = check_int("epochs", epochs, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    X, y = prepare_data(model, loss_fn, X, y)
    steps_per_epoch = -(-X.shape[0] // batch_size)
    return [
        train_epoch(model, loss_fn, optimizer, X, y, batch_size=batch_size, rng=rng,
                    schedule=schedule, clip_norm=clip_norm, step0=epoch * steps_per_epoch,
                    on_step=on_step)
        for epoch in range(epochs)
    ]
