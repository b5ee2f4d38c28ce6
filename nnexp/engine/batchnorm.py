"""Batch normalisation over the features of a (batch, features) array, as ``torch.nn.BatchNorm1d``.

    training:    μ = mean_rows X,  σ² = mean_rows (X - μ)²,  X̂ = (X - μ) / √(σ² + ε)
                 Y = γ X̂ + β
                 running_mean ← (1 - m) running_mean + m μ
                 running_var  ← (1 - m) running_var + m σ² n / (n - 1)     (unbiased, as torch)
    evaluation:  Y = γ (X - running_mean) / √(running_var + ε) + β
    backward:    dγ = Σ_rows G X̂,  dβ = Σ_rows G,
                 dX = (1/n) / √(σ² + ε) · (n Ĝ - Σ_rows Ĝ - X̂ Σ_rows Ĝ X̂)   with Ĝ = G γ

γ (``weight``) and β (``bias``) are parameters in the model's flat buffers like a Dense layer's;
the running statistics are state: saved with the weights and in checkpoints, never trained.
A batch of one row (torch refuses it) normalises to β and updates the running variance with σ² = 0.
"""

from __future__ import annotations

import numpy as np

from ._checks import BufferCache, check_int, check_interval, check_positive, resolve_dtype
from .layers import ParameterLayer


class BatchNorm1d(ParameterLayer):
    """Normalise each feature by the batch's statistics while training, the running ones after."""

    kind = "batchnorm"
    label = "bn"
    param_names = ("weight", "bias")
    state_names = ("running_mean", "running_var")

    def __init__(self, n_features: int, momentum: float = 0.1, eps: float = 1e-5,
                 dtype: str | np.dtype = "float32") -> None:
        self.n_inputs = self.n_outputs = check_int("n_features", n_features, 1)
        self.momentum = check_interval("batchnorm momentum", momentum, 0.0, 1.0, closed_high=True)
        self.eps = check_positive("batchnorm eps", eps)
        dt = resolve_dtype(dtype)
        self.weight = np.ones(self.n_inputs, dtype=dt)
        self.bias = np.zeros(self.n_inputs, dtype=dt)
        self.grad_weight = np.zeros_like(self.weight)
        self.grad_bias = np.zeros_like(self.bias)
        self.running_mean = np.zeros(self.n_inputs, dtype=dt)
        self.running_var = np.ones(self.n_inputs, dtype=dt)
        self._cache = BufferCache()
        self._x_hat: np.ndarray | None = None
        self._inv_std: np.ndarray | None = None

    def config(self) -> dict:
        return {"type": self.kind, "n_features": self.n_inputs, "momentum": self.momentum,
                "eps": self.eps}

    def forward(self, x: np.ndarray, inplace: bool = False) -> np.ndarray:
        """Y = γ X̂ + β with the batch's statistics; updates the running statistics."""
        n = x.shape[0]
        mean = x.mean(axis=0)
        x_hat = self._cache.get("x_hat", x.shape, x.dtype)
        np.subtract(x, mean, out=x_hat)
        var = np.einsum("ij,ij->j", x_hat, x_hat) / n
        inv_std = 1 / np.sqrt(var + var.dtype.type(self.eps))
        x_hat *= inv_std
        y = self._cache.get("y", x.shape, x.dtype)
        np.multiply(x_hat, self.weight, out=y)
        y += self.bias
        m = self.running_mean.dtype.type(self.momentum)
        unbiased = var * (n / (n - 1)) if n > 1 else var
        self.running_mean[...] = m * mean + (1 - m) * self.running_mean
        self.running_var[...] = m * unbiased + (1 - m) * self.running_var
        self._x_hat, self._inv_std = x_hat, inv_std
        return y

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """dγ = Σ G X̂, dβ = Σ G; dX as in the module docstring, only when asked."""
        x_hat = self._x_hat
        np.einsum("ij,ij->j", grad, x_hat, out=self.grad_weight)
        np.sum(grad, axis=0, out=self.grad_bias)
        if not need_input_grad:
            return None
        n = grad.shape[0]
        g_hat = self._cache.get("grad_x", grad.shape, grad.dtype)
        np.multiply(grad, self.weight, out=g_hat)
        sum_g = g_hat.sum(axis=0)
        sum_gx = np.einsum("ij,ij->j", g_hat, x_hat)
        g_hat *= n
        g_hat -= sum_g
        g_hat -= x_hat * sum_gx
        g_hat *= self._inv_std / n
        return g_hat

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Y = γ (X - running_mean) / √(running_var + ε) + β in a fresh array."""
        inv_std = 1 / np.sqrt(self.running_var + self.running_var.dtype.type(self.eps))
        return (x - self.running_mean) * (inv_std * self.weight) + self.bias

    def __repr__(self) -> str:
        return f"BatchNorm1d({self.n_inputs}, dtype={self.weight.dtype.name})"
