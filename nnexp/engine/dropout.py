"""Inverted dropout: in training each unit is kept with probability 1 - p and scaled by 1/(1 - p),
so evaluation (``predict``) is the identity and needs no rescaling, as in ``torch.nn.Dropout``.

    forward:   keep ~ Bernoulli(1 - p) per entry,  Y = X · keep / (1 - p)
    backward:  dL/dX = G · keep / (1 - p)

The mask is drawn from the numpy Generator given (the run's), so a run with dropout stays
bit-for-bit repeatable and a checkpoint's generator state continues the same masks.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_interval
from .activations import Activation


class Dropout(Activation):
    """Zero each entry with probability ``p`` while training; the identity in ``predict``."""

    name = "dropout"
    keeps_output = False  # backward reads its mask, not its output

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        self.p = check_interval("dropout p", p, 0.0, 1.0, closed_high=False)
        self.rng = np.random.default_rng() if rng is None else rng
        self.hold_mask = False  # reuse the last mask (a gradient check needs a fixed function)
        self._mask: np.ndarray | None = None

    def config(self) -> dict:
        return {"type": self.name, "p": self.p}

    @property
    def mask(self) -> np.ndarray | None:
        """keep / (1 - p) of the last forward (None before it, or with p = 0)."""
        return self._mask

    def _draw(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """keep / (1 - p) for a batch: u ~ U[0, 1) from the generator, kept where u >= p."""
        mask = self._cache.get("mask", shape, dtype)
        keep = self._cache.get("keep", shape, np.dtype(bool))
        self.rng.random(dtype=mask.dtype, out=mask)
        np.greater_equal(mask, mask.dtype.type(self.p), out=keep)
        np.multiply(keep, mask.dtype.type(1 / (1 - self.p)), out=mask)
        return mask

    def forward(self, x: np.ndarray, inplace: bool = False) -> np.ndarray:
        if self.p == 0:
            self._mask = None
            return x
        held = self._mask
        if not (self.hold_mask and held is not None and held.shape == x.shape):
            self._mask = self._draw(x.shape, x.dtype)
        y = self._out("y", x, inplace)
        np.multiply(x, self._mask, out=y)
        return y

    def backward(self, grad: np.ndarray, inplace: bool = False) -> np.ndarray:
        if self._mask is None:
            return grad
        out = self._out("grad", grad, inplace)
        np.multiply(grad, self._mask, out=out)
        return out

    def predict(self, x: np.ndarray) -> np.ndarray:
        return x.copy()

    def __deepcopy__(self, memo: dict) -> Dropout:
        """A copy for another position draws from the same generator (the run's)."""
        return Dropout(self.p, self.rng)

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"
