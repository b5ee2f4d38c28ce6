"""Element-wise activations. Each works in place on a buffer it is allowed to overwrite and
computes its derivative from what it cached in forward, so a training step allocates nothing.

Interface: ``forward(x, inplace) -> y`` and ``backward(grad_y, inplace) -> grad_x``
(grad_x = grad_y * f'(x)); ``predict(x)`` returns a fresh array and caches nothing.
``keeps_output`` says whether backward reads the array forward returned: ``Sequential`` then
lets no later layer overwrite that array in place.
"""

from __future__ import annotations

import weakref

import numpy as np

from ._checks import BufferCache, check_choice, check_non_negative


class Activation:
    """Base class: parameter-free element-wise layer."""

    name = "activation"
    keeps_output = True  # the safe default for subclasses: nothing may overwrite the output
    _owner: weakref.ref | None = None  # the Sequential using this layer (set by Sequential)

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
    keeps_output = False  # backward reads the sign mask made in forward, not the output

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


def sigmoid(x: np.ndarray, out: np.ndarray, positive: np.ndarray, scratch: np.ndarray
            ) -> np.ndarray:
    """σ(x) = 1 / (1 + e^-x) into ``out`` (which may be ``x``), within a few ulp wherever the
    result is a normal number (float32 down to x = -87, float64 down to -708), then
    underflowing gradually to 0; never an overflow or a warning.

    With e = exp(-|x|), which never overflows: σ(x) = 1 / (1 + e) for x >= 0 and e / (1 + e)
    for x < 0, so σ keeps its relative precision in the negative tail (float32 σ(-17) =
    4.14e-8) where (1 + tanh(x/2)) / 2 gave 5.96e-8 and 0 below about -17.3.
    ``positive`` (bool) and ``scratch`` are work arrays of x's shape.
    """
    np.greater_equal(x, 0, out=positive)
    np.abs(x, out=out)
    np.negative(out, out=out)
    np.exp(out, out=out)  # e = exp(-|x|) in (0, 1]
    np.add(out, 1, out=scratch)
    # numerator: 1 where x >= 0 (e <= 1), e where x < 0; a masked divide is ~20x slower
    np.maximum(out, positive, out=out)
    np.divide(out, scratch, out=out)
    return out


class Sigmoid(Activation):
    """y = 1 / (1 + e^-x), evaluated without overflow and with full relative precision (see
    ``sigmoid``);  dy/dx = y (1 - y), as PyTorch computes it."""

    name = "sigmoid"

    def forward(self, x: np.ndarray, inplace: bool = False) -> np.ndarray:
        cache = self._cache
        positive = cache.get("positive", x.shape, np.dtype(bool))
        y = sigmoid(x, self._out("y", x, inplace), positive, cache.get("scratch", x.shape, x.dtype))
        self._y = y
        return y

    def predict(self, x: np.ndarray) -> np.ndarray:
        return sigmoid(x, np.empty_like(x), np.empty(x.shape, bool), np.empty_like(x))

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
    keeps_output = False  # returns its input itself: Sequential looks through it

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
