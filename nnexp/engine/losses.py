"""Losses: ``loss(outputs, targets) -> (value, dL/doutputs)``, averaged over the batch.

The gradient array is a buffer reused by the next call with the same shape and dtype.
``predict(outputs)`` maps raw network outputs to what a user wants (probabilities/values).
``prepare_targets(y, dtype)`` validates and converts a whole target array once (used by fit).
"""

from __future__ import annotations

import numpy as np

from ._checks import BufferCache, check_choice
from .activations import sigmoid


class Loss:
    """Base class for losses on raw network outputs."""

    name = "loss"

    def __init__(self) -> None:
        self._cache = BufferCache()

    def prepare_targets(self, targets: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """Real-valued targets cast once to the model dtype."""
        y = np.asarray(targets)
        if y.dtype.kind not in "biuf":
            raise ValueError(f"targets must hold real numbers, got dtype {y.dtype}")
        return y.astype(dtype, copy=False)

    def _targets_like(self, outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Targets as an array of the outputs' shape; (n,) is accepted when outputs are (n, 1)."""
        outputs = np.asarray(outputs)
        y = np.asarray(targets)
        if outputs.ndim != 2:
            raise ValueError(f"outputs must have shape (n_samples, n_outputs), got {outputs.shape}")
        if y.ndim == 1 and outputs.shape[1] == 1:
            y = y.reshape(-1, 1)
        if y.shape != outputs.shape:
            raise ValueError(
                f"targets must have shape {outputs.shape} (or ({outputs.shape[0]},) for one "
                f"output), got {np.shape(targets)}"
            )
        return y

    def __call__(self, outputs: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def predict(self, outputs: np.ndarray) -> np.ndarray:
        return np.array(outputs, copy=True)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MSELoss(Loss):
    """L = mean over all entries of (o - y)²;  dL/do = 2 (o - y) / (n·k)."""

    name = "mse"

    def __call__(self, outputs: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
        y = self._targets_like(outputs, targets)
        diff = self._cache.get("grad", outputs.shape, outputs.dtype)
        np.subtract(outputs, y, out=diff)
        flat = diff.reshape(-1)
        loss = float(np.dot(flat, flat)) / diff.size
        diff *= diff.dtype.type(2.0 / diff.size)
        return loss, diff


class MAELoss(Loss):
    """L = mean over all entries of |o - y|;  dL/do = sign(o - y) / (n·k)."""

    name = "mae"

    def __call__(self, outputs: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
        y = self._targets_like(outputs, targets)
        diff = self._cache.get("grad", outputs.shape, outputs.dtype)
        np.subtract(outputs, y, out=diff)
        np.abs(diff, out=diff)
        loss = float(diff.sum(dtype=np.float64)) / diff.size
        np.subtract(outputs, y, out=diff)
        np.sign(diff, out=diff)
        diff *= diff.dtype.type(1.0 / diff.size)
        return loss, diff


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) in a fresh array: no overflow, full relative precision for negative z."""
    if z.dtype.kind != "f":
        z = z.astype(np.float64)
    return sigmoid(z, np.empty_like(z), np.empty(z.shape, bool), np.empty_like(z))


class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy on logits z with 0/1 targets y, written stably:

    L = mean( max(z, 0) - z·y + log(1 + e^-|z|) );   dL/dz = (σ(z) - y) / n
    """

    name = "bce"

    def __call__(self, outputs: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
        z = np.asarray(outputs)
        y = self._targets_like(z, targets)
        per_entry = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
        loss = float(per_entry.sum(dtype=np.float64)) / z.size
        grad = self._cache.get("grad", z.shape, z.dtype)
        np.subtract(_sigmoid(z), y, out=grad)
        grad *= grad.dtype.type(1.0 / z.size)
        return loss, grad

    def predict(self, outputs: np.ndarray) -> np.ndarray:
        """Probabilities σ(z)."""
        return _sigmoid(np.asarray(outputs))


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row max for stability."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


class SoftmaxCrossEntropyLoss(Loss):
    """Softmax followed by cross-entropy, fused for stability and speed. With integer labels c:

    p = softmax(z),  L = mean( logsumexp(z) - z_c );   dL/dz = (p - onehot(c)) / n
    """

    name = "cross_entropy"

    def prepare_targets(self, targets: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """Integer class labels, shape (n,), kept as integers."""
        y = np.asarray(targets)
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise ValueError(
                f"targets must be integer class labels of shape (n_samples,), "
                f"got dtype {y.dtype} shape {y.shape}"
            )
        return y

    def __call__(self, outputs: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
        z = np.asarray(outputs)
        y = np.asarray(targets)
        if z.ndim != 2:
            raise ValueError(f"outputs must have shape (n_samples, n_classes), got {z.shape}")
        n, k = z.shape
        if y.shape != (n,) or y.dtype.kind not in "iu":
            raise ValueError(
                f"targets must be integer labels of shape ({n},), got dtype {y.dtype} "
                f"shape {y.shape}"
            )
        if n and (y.min() < 0 or y.max() >= k):
            raise ValueError(f"targets must be labels in [0, {k - 1}], got {y.min()}..{y.max()}")
        cache = self._cache
        rows = cache.arange(n)
        # row maxima as a reduction down the columns of zᵀ: numpy vectorises a reduction over
        # the leading axis, while max(axis=1) over 10-wide rows runs one short loop per row
        z_t = cache.get("z_t", (k, n), z.dtype)
        np.copyto(z_t, z.T)
        row_max = cache.get("row_max", (n,), z.dtype)
        np.maximum.reduce(z_t, axis=0, out=row_max)
        grad = cache.get("grad", z.shape, z.dtype)
        np.subtract(z, row_max[:, None], out=grad)  # shifted logits
        picked = grad[rows, y]
        np.exp(grad, out=grad)
        sums = cache.get("sums", (n,), z.dtype)
        np.matmul(grad, cache.constant(1, (k,), z.dtype), out=sums)  # row sums as a GEMV
        loss = float(np.log(sums).sum(dtype=np.float64) - picked.sum(dtype=np.float64)) / n
        grad /= sums[:, None]  # softmax probabilities
        grad[rows, y] -= 1
        grad *= grad.dtype.type(1.0 / n)
        return loss, grad

    def predict(self, outputs: np.ndarray) -> np.ndarray:
        """Class probabilities softmax(z)."""
        return softmax(np.asarray(outputs))


_LOSSES: dict[str, type[Loss]] = {
    "mse": MSELoss,
    "mae": MAELoss,
    "bce": BCEWithLogitsLoss,
    "cross_entropy": SoftmaxCrossEntropyLoss,
}
LOSSES: tuple[str, ...] = tuple(_LOSSES)


def make_loss(name: str) -> Loss:
    """Loss object by name (one of ``LOSSES``)."""
    check_choice("loss", name, LOSSES)
    return _LOSSES[name]()
