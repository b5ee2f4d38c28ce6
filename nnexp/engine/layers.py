"""Dense (fully connected) layer: the only layer with parameters.

    forward:   Z = X W + b                 X (n, fan_in), W (fan_in, fan_out), b (fan_out,)
    backward:  dL/dW = Xᵀ G,  dL/db = Σ_rows G,  dL/dX = G Wᵀ      with G = dL/dZ

Inside a ``Sequential`` the arrays W, b, dW, db are views into the model's flat ``params`` and
``grads`` buffers; outputs and input-gradients live in buffers reused per batch size.
"""

from __future__ import annotations

import weakref

import numpy as np

from ._checks import BufferCache, check_int, resolve_dtype
from .initialisers import initialise


class Dense:
    """Fully connected layer ``Z = X @ W + b`` with W of shape (n_inputs, n_outputs).

    W is drawn by ``init`` and b starts at zero. ``torch.nn.Linear`` differs on purpose: it
    stores Wᵀ, draws W from kaiming_uniform(a=√5) and b from U(±1/√fan_in); copy
    ``layer.weight.T`` and the bias over to compare the two.
    """

    _owner: weakref.ref | None = None  # the Sequential using this layer (set by Sequential)

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        init: str = "he_normal",
        rng: np.random.Generator | None = None,
        dtype: str | np.dtype = "float32",
        init_std: float = 0.01,
    ) -> None:
        self.n_inputs = check_int("n_inputs", n_inputs, 1)
        self.n_outputs = check_int("n_outputs", n_outputs, 1)
        dt = resolve_dtype(dtype)
        rng = np.random.default_rng() if rng is None else rng
        self.weight = initialise(init, (self.n_inputs, self.n_outputs), rng, dt, init_std)
        self.bias = np.zeros(self.n_outputs, dtype=dt)
        self.grad_weight = np.zeros_like(self.weight)
        self.grad_bias = np.zeros_like(self.bias)
        self._cache = BufferCache()
        self._x: np.ndarray | None = None

    @property
    def n_params(self) -> int:
        return self.n_inputs * self.n_outputs + self.n_outputs

    def bind(self, params: np.ndarray, grads: np.ndarray) -> None:
        """Copy the current values into the 1-D slices ``params``/``grads`` (length n_params)
        and make W, b, dW, db views into them."""
        n_w = self.n_inputs * self.n_outputs
        shape = (self.n_inputs, self.n_outputs)
        params[:n_w] = self.weight.ravel()
        params[n_w:] = self.bias
        self.weight = params[:n_w].reshape(shape)
        self.bias = params[n_w:]
        self.grad_weight = grads[:n_w].reshape(shape)
        self.grad_bias = grads[n_w:]
        self._cache.clear()

    def config(self) -> dict:
        return {"type": "dense", "n_inputs": self.n_inputs, "n_outputs": self.n_outputs}

    def forward(self, x: np.ndarray, inplace: bool = False) -> np.ndarray:
        """Z = X W + b into a reused buffer; keeps a reference to X for backward."""
        z = self._cache.get("z", (x.shape[0], self.n_outputs), self.weight.dtype)
        np.matmul(x, self.weight, out=z)
        z += self.bias
        self._x = x
        return z

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """Write dW = Xᵀ G and db = Σ_rows G; return dX = G Wᵀ only when asked."""
        np.matmul(self._x.T, grad, out=self.grad_weight)
        # column sums as a GEMV with a ones vector: ~3x faster than np.sum(axis=0) here
        ones = self._cache.constant(1, (grad.shape[0],), grad.dtype)
        np.matmul(ones, grad, out=self.grad_bias)
        if not need_input_grad:
            return None
        grad_x = self._cache.get("grad_x", (grad.shape[0], self.n_inputs), grad.dtype)
        np.matmul(grad, self.weight.T, out=grad_x)
        return grad_x

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Z = X W + b in a fresh array (no caching)."""
        return x @ self.weight + self.bias

    def __repr__(self) -> str:
        return f"Dense({self.n_inputs}, {self.n_outputs}, dtype={self.weight.dtype.name})"
