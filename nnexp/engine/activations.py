"""Element-wise activations. Each works in place on a buffer it is allowed to overwrite and
computes its derivative from what it cached in forward, so a training step allocates nothing.

Interface: ``forward(x, inplace) -> y`` and ``backward(grad_y, inplace) -> grad_x``
(grad_x = grad_y * f'(x)); ``predict(x)`` returns a fresh array and caches nothing.
"""

from __future__ import annotations

import numpy as np

from ._checks import BufferCache, check_choice, check_non_negative


class Activation:
    """Base class: parameter-free element-wise layer."""

    name = "activation"

    def __init__(self) -> None:
        self._cache = BufferCache()
        self._y: np.ndarray | None = None

    def _out(self, tag: str, x: np.ndarray, inplace: bool) -> np.ndarray:
        return x if inplace else self._cache.get(tag, x.shape, x.dtype)

    def config(self) -> dict:
        """JSON-able description used by ``Sequential.architecture``."""
        return {"type": self.name}

    def predict(self, x: np.ndarray) -> np.ndarray:
        """f(x) in a fresh array, leaving the training cache alone."""
        raise NotImplementedError

    def forward(self, x: np.ndarray, inplace: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: np.ndarray, inplace: bool = False) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ReLU(Activation):
    """y = max(x, 0);  dy/dx = 1 where y > 0, else 0."""

    name = "relu"

    def forward(self, x: np.ndarray, inplace: bool = False) -> np.ndarray:
        y = self._out("y", x, inplace)
        # max against a zero array of x's shape, not the scalar 0: numpy's loop for two
        # contiguous arrays is SIMD, the scalar-broadcast one for maximum is ~4x slower
        np.maximum(x, self._cache.constant(0, x.shape, x.dtype), out=y)
        self._y = y
        return y

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x, 0)

    def backward(self, grad: np.ndarray, inplace: bool = False) -> np.ndarray:
        mask = self._cache.get("mask", grad.shape, np.dtype(bool))
        np.greater(self._y, 0, out=mask)
        out = self._out("grad", grad, inplace)
        np.multiply(grad, mask, out=out)
        return out


class LeakyReLU(Activation):
    """y = x if x > 0 else a·x  (a = negative_slope);  dy/dx = 1 if x > 0 else a."""

    name = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = check_non_negative("negative_slope", negative_slope)
        self._negative: np.ndarray | None = None

    def config(self) -> dict:
        return {"type": self.name, "negative_slope": self.negative_slope}

    def forward(self, x: np.ndarray, inplace: bool = False) -> np.ndarray:
        negative = self._cache.get("negative", x.shape, np.dtype(bool))
        np.less_equal(x, 0, out=negative)
        y = self._out("y", x, inplace)
        if y is not x:
            np.copyto(y, x)
        np.multiply(y, y.dtype.type(self.negative_slope), out=y, where=negative)
        self._negative = negative
        return y

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.where(x > 0, x, x * x.dtype.type(self.negative_slope))

    def backward(self, grad: np.ndarray, inplace: bool = False) -> np.ndarray:
        out = self._out("grad", grad, inplace)
        if out is not grad:
            np.copyto(out, grad)
        np.multiply(out, out.dtype.type(self.negative_slope), out=out, where=self._negative)
        return out

    def __repr__(self) -> str:
        return f"LeakyReLU(negative_slope={self.negative_slope})"


class Sigmoid(Activation):
    """y = 1 / (1 + e^-x), computed as (1 + tanh(x/2)) / 2 (no overflow);  dy/dx = y (1 - y)."""

    name = "sigmoid"

    def forward(self, x: np.ndarray, inplace: bool = False) -> np.ndarray:
        y = self._out("y", x, inplace)
        np.multiply(x, 0.5, out=y)
        np.tanh(y, out=y)
        y += 1
        y *= 0.5
        self._y = y
        return y

    def predict(self, x: np.ndarray) -> np.ndarray:
        return 0.5 * (1 + np.tanh(0.5 * x))

    def backward(self, grad: np.ndarray, inplace: bool = False) -> np.ndarray:
        one_minus_y = self._cache.get("scratch", grad.shape, grad.dtype)
        np.subtract(1, self._y, out=one_minus_y)
        out = self._out("grad", grad, inplace)
        np.multiply(grad, self._y, out=out)
        out *= one_minus_y
        return out


class Tanh(Activation):
    """y = tanh(x);  dy/dx = 1 - y²."""

    name = "tanh"

    def forward(self, x: np.ndarray, inplace: bool = False) -> np.ndarray:
        y = self._out("y", x, inplace)
        np.tanh(x, out=y)
        self._y = y
        return y

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x)

    def backward(self, grad: np.ndarray, inplace: bool = False) -> np.ndarray:
        derivative = self._cache.get("scratch", grad.shape, grad.dtype)
        np.multiply(self._y, self._y, out=derivative)
        np.subtract(1, derivative, out=derivative)
        out = self._out("grad", grad, inplace)
        np.multiply(grad, derivative, out=out)
        return out


class Identity(Activation):
    """y = x;  dy/dx = 1 (passes arrays through untouched)."""

    name = "identity"

    def forward(self, x: np.ndarray, inplace: bool = False) -> np.ndarray:
        return x

    def predict(self, x: np.ndarray) -> np.ndarray:
        return x.copy()

    def backward(self, grad: np.ndarray, inplace: bool = False) -> np.ndarray:
        return grad


_ACTIVATIONS: dict[str, type[Activation]] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "identity": Identity,
}
ACTIVATIONS: tuple[str, ...] = tuple(_ACTIVATIONS)


def make_activation(name: str, negative_slope: float = 0.01) -> Activation:
    """Activation layer by name (one of ``ACTIVATIONS``)."""
    check_choice("activation", name, ACTIVATIONS)
    if name == "leaky_relu":
        return LeakyReLU(negative_slope)
    return _ACTIVATIONS[name]()
