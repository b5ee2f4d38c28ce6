"""Gradient check: analytic gradients from backward against central finite differences.

    numeric_i = (L(p + ε e_i) - L(p - ε e_i)) / (2ε)
    error     = max_i |analytic_i - numeric_i| / max(|analytic_i| + |numeric_i|, tiny)

Runs in float64 on a copy of the model (a float32 model is copied to float64), so the
original model's parameters and gradients are left untouched.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_positive
from .losses import Loss
from .network import Sequential

TINY = 1e-12


def gradient_check(
    model: Sequential, loss_fn: Loss, X: np.ndarray, y: np.ndarray, eps: float = 1e-6
) -> dict[str, float]:
    """Relative error between analytic and central-difference gradients for each named
    parameter ("layer1.weight", ...): the max over its entries. Values < 1e-6 mean agreement.

    Rounding noise in the numeric derivative is about 1e-16 / eps in absolute terms, so with
    the default eps=1e-6 entries whose gradient is below ~1e-4 can show errors near 1e-6;
    eps=1e-5 balances truncation (~eps²) against rounding and is the better step for tests.
    """
    eps = check_positive("eps", eps)
    net = model.copy(dtype="float64")
    X64 = np.asarray(X, dtype=np.float64)
    y64 = loss_fn.prepare_targets(y, np.dtype(np.float64))

    def loss_at() -> float:
        value, _ = loss_fn(net.forward(X64), y64)
        return value

    _, grad_out = loss_fn(net.forward(X64), y64)
    net.backward(grad_out)
    analytic = net.grads.copy()
    numeric = np.empty_like(analytic)
    p = net.params
    for i in range(p.size):
        original = p[i]
        p[i] = original + eps
        plus = loss_at()
        p[i] = original - eps
        minus = loss_at()
        p[i] = original
        numeric[i] = (plus - minus) / (2 * eps)
    errors = np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), TINY)
    result: dict[str, float] = {}
    offset = 0
    for name, param in net.named_parameters().items():
        result[name] = float(errors[offset : offset + param.size].max())
        offset += param.size
    return result
