"""Gradient check: analytic gradients from backward against finite differences (in float64).

    c(h)      = (L(p + h e_i) - L(p - h e_i)) / (2h)                    central difference
    numeric_i = (4 c(ε/2) - c(ε)) / 3                                   Richardson: error ~ε⁴
    error(T)  = max over i in T of |analytic_i - numeric_i| / scale(T)    per parameter tensor T
    scale(T)  = max(largest |analytic_i| or |numeric_i| in T, 1e-3 · the same over all tensors)

Finite differences carry an absolute noise (rounding ~1e-16·|L|/ε), so an entry is judged
against the size of its tensor's gradient, not against its own size: judged alone, a correct
3e-5 entry beside a 1.2 one looked wrong. A wrong entry still shows: an entry of 3e-5 that is
100 % off beside 1.2 scores 2.5e-5. The floor (a thousandth of the model's largest gradient)
keeps a tensor whose whole gradient is ~0 from being judged on noise.

Kinks: where the loss has no derivative (a ReLU or LeakyReLU input, or an MAE residual, exactly
0 — typically a unit with zero bias whose inputs are all 0) the two one-sided derivatives
differ and the central difference is their average, which no backward pass returns. The
one-sided derivatives (extrapolated from steps ε and ε/2, error ~ε²) expose such entries: when
they differ by more than 1e-3 of the tensor's scale the entry is a kink, and backward must
return one of them (it returns the subgradient PyTorch does: ReLU'(0) = 0). ``kinks`` counts
them per tensor.

Precision ``"float64"`` (the default) checks backward on a float64 copy of the model;
``"float32"`` checks the float32 code path itself (forward, loss and backward in float32)
against float64 finite differences of the same float32-rounded parameters and inputs, so its
error is float32 rounding: about 1e-7 to 1e-5 where float64 gives about 1e-10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._checks import check_choice, check_positive
from .activations import Activation
from .dropout import Dropout
from .layers import ParameterLayer
from .losses import Loss
from .network import Sequential

PRECISIONS = ("float64", "float32")
SCALE_FLOOR = 1e-3  # of the model's largest gradient entry
KINK = 1e-3  # one-sided derivatives further apart than this fraction of the scale: a kink
TINY = 1e-300  # a model whose every gradient is 0 scores 0, not nan


@dataclass(frozen=True)
class WorstEntry:
    """The entry of one parameter tensor that disagrees most, and the scale it is judged by."""

    index: tuple[int, ...]
    analytic: float
    numeric: float  # at a kink: the one-sided derivative closest to analytic
    scale: float
    error: float
    kink: bool = False

    def __str__(self) -> str:
        where = "[" + ", ".join(map(str, self.index)) + "]"
        side = " (one-sided: a kink)" if self.kink else ""
        return (f"{where} analytic {self.analytic:.6e} numeric {self.numeric:.6e}{side} "
                f"scale {self.scale:.3e}")


class GradientCheck(dict[str, float]):
    """Error per named parameter ("layer1.weight" -> error, a plain dict as before), with
    ``worst[name]`` (the entry behind each error), ``kinks[name]`` (entries judged one-sided),
    ``precision``, ``eps`` and ``rows`` (the batch size checked)."""

    def __init__(self, errors: dict[str, float], worst: dict[str, WorstEntry],
                 kinks: dict[str, int], precision: str, eps: float, rows: int) -> None:
        super().__init__(errors)
        self.worst = worst
        self.kinks = kinks
        self.precision = precision
        self.eps = eps
        self.rows = rows

    def failed(self, tol: float) -> list[str]:
        """Names whose error is not below ``tol`` (nan fails)."""
        return [name for name, error in self.items() if not error < tol]


def gradient_check(
    model: Sequential,
    loss_fn: Loss,
    X: np.ndarray,
    y: np.ndarray,
    eps: float = 1e-5,
    precision: str = "float64",
) -> GradientCheck:
    """Scale-aware error between backward's gradients and central differences for each named
    parameter (see the module docstring); errors below 1e-6 (float64) or 1e-3 (float32) mean
    agreement. The model is copied: its parameters and gradients are left untouched.

    Rounding noise in the numeric derivative is about 1e-16·|L| / eps, truncation about
    eps² times the third derivative; the default eps=1e-5 balances the two (at 1e-6 rounding
    noise alone reached 3e-6 on a network whose gradients were 1/30 of its loss). The numeric
    side is float64 in both precisions, so eps need not grow for ``"float32"``.
    """
    eps = check_positive("eps", eps)
    check_choice("precision", precision, PRECISIONS)
    checked = model.copy(dtype=precision)  # the code path whose backward is checked
    reference = checked.copy(dtype="float64")  # the same (possibly float32-rounded) parameters
    X_checked = checked._check_input(X)
    _hold_dropout_masks(checked, reference, X_checked)
    y_checked = loss_fn.prepare_targets(y, checked.dtype)
    X64 = X_checked.astype(np.float64)
    y64 = loss_fn.prepare_targets(y_checked, np.dtype(np.float64))

    _, grad_out = loss_fn(checked.forward(X_checked), y_checked)
    checked.backward(grad_out)
    analytic = checked.grads.astype(np.float64)
    numeric, left, right = _finite_differences(reference, loss_fn, X64, y64, eps)

    magnitude = np.maximum(np.abs(analytic), np.abs(numeric))
    floor = SCALE_FLOOR * float(magnitude.max(initial=0.0))
    errors: dict[str, float] = {}
    worst: dict[str, WorstEntry] = {}
    kinks: dict[str, int] = {}
    offset = 0
    for name, param in reference.named_parameters().items():
        part = slice(offset, offset + param.size)
        offset += param.size
        a, c, lo, hi = analytic[part], numeric[part], left[part], right[part]
        scale = max(float(magnitude[part].max()), floor, TINY)
        kink = np.abs(hi - lo) > KINK * scale
        one_sided = np.where(np.abs(a - lo) <= np.abs(a - hi), lo, hi)
        reference_value = np.where(kink, one_sided, c)
        diff = np.abs(a - reference_value)
        i = int(np.argmax(diff)) if not np.isnan(diff).any() else int(np.argmax(np.isnan(diff)))
        error = float(diff[i]) / scale
        errors[name] = error
        kinks[name] = int(kink.sum())
        worst[name] = WorstEntry(
            index=tuple(int(k) for k in np.unravel_index(i, param.shape)),
            analytic=float(a[i]), numeric=float(reference_value[i]), scale=scale, error=error,
            kink=bool(kink[i]),
        )
    return GradientCheck(errors, worst, kinks, precision, eps, int(X64.shape[0]))


def _hold_dropout_masks(checked: Sequential, reference: Sequential, X: np.ndarray) -> None:
    """Dropout draws a new mask each forward; a derivative needs one function: draw the masks
    once and make every later forward of both copies reuse them."""
    pairs = [(a, b) for a, b in zip(checked.layers, reference.layers, strict=True)
             if isinstance(a, Dropout)]
    if not pairs:
        return
    checked.forward(X)
    for ours, theirs in pairs:
        ours.hold_mask = theirs.hold_mask = True
        if ours.mask is not None:
            theirs._mask = ours.mask.astype(np.float64)


def _finite_differences(net: Sequential, loss_fn: Loss, X: np.ndarray, y: np.ndarray,
                        eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every parameter: the Richardson-extrapolated central difference and the left and
    right one-sided derivatives (each extrapolated from steps eps and eps/2)."""
    p = net.params
    base, _ = loss_fn(net.forward(X), y)
    steps = (eps, -eps, eps / 2, -eps / 2)
    at = np.empty((len(steps), p.size))
    for i in range(p.size):
        original = p[i]
        for k, h in enumerate(steps):
            p[i] = original + h
            at[k, i], _ = loss_fn(net.forward(X), y)
        p[i] = original
    plus, minus, half_plus, half_minus = at
    central = (4 * (half_plus - half_minus) / eps - (plus - minus) / (2 * eps)) / 3
    right = 2 * (half_plus - base) / (eps / 2) - (plus - base) / eps
    left = 2 * (base - half_minus) / (eps / 2) - (base - minus) / eps
    return central, left, right


def layer_gradient_check(layer: Activation | ParameterLayer, X: np.ndarray,
                         rng: np.random.Generator, eps: float = 1e-6) -> dict[str, float]:
    """One layer's backward against central differences of L = Σ W · forward(X) for a random
    W (float64): the error of dL/dX under "input" and of each parameter under its name, each
    judged as in ``gradient_check`` (against the size of its tensor's gradient). A layer with
    parameters gets flat buffers of its own (``bind``), as a Sequential gives it."""
    X = np.array(X, dtype=np.float64)
    if isinstance(layer, ParameterLayer):
        params, grads = np.empty(layer.n_params), np.zeros(layer.n_params)
        layer.bind(params, grads)
    else:
        params = grads = np.empty(0)
    W = rng.normal(size=np.shape(layer.forward(X.copy())))

    def loss(x: np.ndarray) -> float:
        return float(np.sum(W * layer.forward(x.copy())))

    loss(X)
    if isinstance(layer, ParameterLayer):
        analytic_x = layer.backward(W.copy(), need_input_grad=True)
    else:
        analytic_x = layer.backward(W.copy())
    analytic = {"input": np.array(analytic_x, dtype=np.float64).ravel(), "": grads.copy()}
    numeric_x, numeric_p = np.empty(X.size), np.empty(params.size)
    flat_x = X.reshape(-1)
    for flat, out in ((flat_x, numeric_x), (params, numeric_p)):
        for i in range(flat.size):
            original = flat[i]
            flat[i] = original + eps
            plus = loss(X)
            flat[i] = original - eps
            minus = loss(X)
            flat[i] = original
            out[i] = (plus - minus) / (2 * eps)
    pairs = {"input": (analytic["input"], numeric_x)}
    offset = 0
    for name in getattr(layer, "param_names", ()):
        size = int(np.size(getattr(layer, name)))
        part = slice(offset, offset + size)
        pairs[name] = (analytic[""][part], numeric_p[part])
        offset += size
    return _judged(pairs)


def _judged(pairs: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """max |analytic - numeric| over each tensor's scale (floored as in ``gradient_check``);
    a shape mismatch or a non-finite value counts as an infinite error."""
    largest = max((float(np.nanmax(np.abs(n))) for _, n in pairs.values() if n.size),
                  default=0.0)
    errors = {}
    for name, (a, n) in pairs.items():
        if a.shape != n.shape or not np.isfinite(a).all():
            errors[name] = math.inf
            continue
        if not n.size:
            continue
        scale = max(float(np.abs(a).max()), float(np.abs(n).max()), SCALE_FLOOR * largest, TINY)
        errors[name] = float(np.abs(a - n).max()) / scale
    return errors
