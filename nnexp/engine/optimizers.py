"""Optimizers updating ``model.params`` in place from ``model.grads``.

State (velocities, moments) lives in preallocated buffers of the model dtype, and every
update is a sequence of in-place ufuncs with ``out=`` into one or two scratch buffers, so a
step allocates no array. ``model.grads`` is left untouched (norms stay inspectable after a
step). ``lr`` is a plain attribute that schedules set before each step.

Notation: p parameters, g gradient, t step count (1 after the first step), λ weight_decay.
Coupled L2 weight decay (SGD/Momentum/Nesterov/Adam/RMSProp) uses g ← g + λ p.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np

from ._checks import check_choice, check_interval, check_non_negative, check_positive
from .network import Sequential


class Optimizer:
    """Base class: holds the model's flat buffers, ``lr``, ``weight_decay`` and step count."""

    name = "optimizer"
    state_buffers: tuple[str, ...] = ()  # attributes holding state carried from step to step
    scratch_buffers = 1  # parameter-sized work arrays besides the state (the memory check counts)
    hyperparameters: tuple[str, ...] = ("weight_decay",)

    def __init__(self, model: Sequential, lr: float, weight_decay: float = 0.0) -> None:
        if not isinstance(model, Sequential):
            raise ValueError(f"model must be a Sequential, got {type(model).__name__}")
        self.model = model
        self.lr = check_positive("lr", lr)
        self.weight_decay = check_non_negative("weight_decay", weight_decay)
        self.params = model.params
        self.grads = model.grads
        self.t = 0
        self._scratch = np.empty_like(self.params)

    def _buffer(self) -> np.ndarray:
        return np.zeros_like(self.params)

    def _effective_grad(self) -> np.ndarray:
        """g + λ p (coupled L2) in the scratch buffer, or g itself when λ = 0."""
        if self.weight_decay == 0.0:
            return self.grads
        np.multiply(self.params, self.weight_decay, out=self._scratch)
        self._scratch += self.grads
        return self._scratch

    def step(self) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Everything the next step depends on besides the model: the step count ``t``, ``lr``,
        the hyper-parameters and copies of the state buffers (velocities, moments), exact."""
        return {"name": self.name, "t": self.t, "lr": float(self.lr),
                "hyperparameters": {k: float(getattr(self, k)) for k in self.hyperparameters},
                "buffers": {k: getattr(self, k).copy() for k in self.state_buffers}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state_dict()``: the next step is the one the saved optimizer would
        have taken. A different optimizer, hyper-parameter, buffer size or dtype is refused."""
        if state.get("name") != self.name:
            raise ValueError(f"state_dict is for optimizer {state.get('name')!r}, "
                             f"not {self.name!r}")
        saved = state.get("hyperparameters", {})
        for key in self.hyperparameters:
            if saved.get(key) != float(getattr(self, key)):
                raise ValueError(f"state_dict has {key}={saved.get(key)!r}, this optimizer "
                                 f"{getattr(self, key)!r}")
        buffers = state.get("buffers", {})
        if sorted(buffers) != sorted(self.state_buffers):
            raise ValueError(f"state_dict buffers {sorted(buffers)} do not match "
                             f"{sorted(self.state_buffers)}")
        for key in self.state_buffers:
            target, value = getattr(self, key), np.asarray(buffers[key])
            if value.shape != target.shape or value.dtype != target.dtype:
                raise ValueError(f"state_dict buffer {key!r} is {value.dtype}{list(value.shape)},"
                                 f" this optimizer's {target.dtype}{list(target.shape)}")
        t = state.get("t")
        if not isinstance(t, int) or isinstance(t, bool) or t < 0:
            raise ValueError(f"state_dict step count t must be an int >= 0, got {t!r}")
        lr = check_non_negative("lr", state.get("lr"))  # a schedule may have reached 0
        for key in self.state_buffers:  # nothing changes before everything is checked
            np.copyto(getattr(self, key), buffers[key])  # in place: the buffers stay preallocated
        self.t, self.lr = t, lr

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr}, weight_decay={self.weight_decay})"


class SGD(Optimizer):
    """p ← p - lr · g."""

    name = "sgd"

    def step(self) -> None:
        self.t += 1
        g = self._effective_grad()
        np.multiply(g, float(self.lr), out=self._scratch)
        self.params -= self._scratch


class Momentum(Optimizer):
    """Heavy-ball momentum μ (PyTorch form):  v ← μ v + g;   p ← p - lr · v."""

    name = "momentum"
    state_buffers = ("velocity",)
    hyperparameters = ("momentum", "weight_decay")

    def __init__(
        self, model: Sequential, lr: float, momentum: float = 0.9, weight_decay: float = 0.0
    ) -> None:
        super().__init__(model, lr, weight_decay)
        self.momentum = check_interval("momentum", momentum, 0.0, 1.0, closed_high=False)
        self.velocity = self._buffer()

    def step(self) -> None:
        self.t += 1
        g = self._effective_grad()
        v = self.velocity
        v *= self.momentum
        v += g
        np.multiply(v, float(self.lr), out=self._scratch)
        self.params -= self._scratch


class Nesterov(Momentum):
    """Nesterov momentum (PyTorch form):  v ← μ v + g;   p ← p - lr · (g + μ v)."""

    name = "nesterov"
    scratch_buffers = 2  # and _update

    def __init__(
        self, model: Sequential, lr: float, momentum: float = 0.9, weight_decay: float = 0.0
    ) -> None:
        super().__init__(model, lr, momentum, weight_decay)
        self._update = np.empty_like(self.params)

    def step(self) -> None:
        self.t += 1
        g = self._effective_grad()
        v, u = self.velocity, self._update
        v *= self.momentum
        v += g
        np.multiply(v, self.momentum, out=u)
        u += g
        u *= float(self.lr)
        self.params -= u


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015):

        m ← β1 m + (1-β1) g,   v ← β2 v + (1-β2) g²
        p ← p - lr · m̂ / (sqrt(v̂) + ε)   with m̂ = m / (1-β1ᵗ), v̂ = v / (1-β2ᵗ)

    Implemented with rescaled moments M = m/(1-β1) and V = v/(1-β2), which need no
    multiply by (1-β): M ← β1 M + g, V ← β2 V + g². Then, exactly as above,
        p ← p - a · M / (sqrt(V) + ε / c)   with c = sqrt((1-β2)/(1-β2ᵗ)),
                                              a = lr (1-β1)/(1-β1ᵗ) / c.
    Ten passes over the parameters per step, no allocation.
    """

    name = "adam"
    scratch_buffers = 2  # and _square
    state_buffers = ("m_scaled", "v_scaled")
    hyperparameters = ("beta1", "beta2", "eps", "weight_decay")

    def __init__(
        self,
        model: Sequential,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(model, lr, weight_decay)
        self.beta1 = check_interval("beta1", beta1, 0.0, 1.0, closed_high=False)
        self.beta2 = check_interval("beta2", beta2, 0.0, 1.0, closed_high=False)
        self.eps = check_positive("eps", eps)
        self.m_scaled = self._buffer()  # m / (1 - beta1)
        self.v_scaled = self._buffer()  # v / (1 - beta2)
        self._square = np.empty_like(self.params)

    @property
    def m(self) -> np.ndarray:
        """First moment m (a fresh array; for inspection)."""
        return self.m_scaled * (1 - self.beta1)

    @property
    def v(self) -> np.ndarray:
        """Second moment v (a fresh array; for inspection)."""
        return self.v_scaled * (1 - self.beta2)

    def _decoupled_decay(self) -> None:
        """Hook for AdamW."""

    def step(self) -> None:
        self.t += 1
        self._decoupled_decay()
        g = self._effective_grad()
        m, v, s = self.m_scaled, self.v_scaled, self._square
        m *= self.beta1
        m += g
        np.multiply(g, g, out=s)
        v *= self.beta2
        v += s
        c = math.sqrt((1 - self.beta2) / (1 - self.beta2**self.t))
        a = float(self.lr) * (1 - self.beta1) / (1 - self.beta1**self.t) / c
        np.sqrt(v, out=s)
        s += self.eps / c
        np.divide(m, s, out=s)
        s *= a
        self.params -= s


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): before the Adam update
    p ← p · (1 - lr·λ); λ is not added to the gradient."""

    name = "adamw"

    def __init__(
        self,
        model: Sequential,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(model, lr, beta1, beta2, eps, weight_decay)

    def _effective_grad(self) -> np.ndarray:
        return self.grads

    def _decoupled_decay(self) -> None:
        if self.weight_decay:
            self.params *= 1 - float(self.lr) * self.weight_decay


class RMSProp(Optimizer):
    """RMSProp (PyTorch form):  v ← α v + (1-α) g²;   p ← p - lr · g / (sqrt(v) + ε)."""

    name = "rmsprop"
    scratch_buffers = 2  # and _denom
    state_buffers = ("square_avg",)
    hyperparameters = ("alpha", "eps", "weight_decay")

    def __init__(
        self,
        model: Sequential,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(model, lr, weight_decay)
        self.alpha = check_interval("alpha", alpha, 0.0, 1.0, closed_high=False)
        self.eps = check_positive("eps", eps)
        self.square_avg = self._buffer()
        self._denom = np.empty_like(self.params)

    def step(self) -> None:
        self.t += 1
        g = self._effective_grad()
        v, d = self.square_avg, self._denom
        np.multiply(g, g, out=d)
        d *= 1 - self.alpha
        v *= self.alpha
        v += d
        np.sqrt(v, out=d)
        d += self.eps
        np.divide(g, d, out=d)
        d *= float(self.lr)
        self.params -= d


_OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSProp,
}
OPTIMIZERS: tuple[str, ...] = tuple(_OPTIMIZERS)


def optimizer_buffers(name: str) -> int:
    """Parameter-sized arrays the named optimizer keeps besides parameters and gradients."""
    check_choice("optimizer", name, OPTIMIZERS)
    cls = _OPTIMIZERS[name]
    return len(cls.state_buffers) + cls.scratch_buffers


def make_optimizer(name: str, model: Sequential, lr: float, **kwargs: float) -> Optimizer:
    """Optimizer by name (one of ``OPTIMIZERS``); kwargs are that optimizer's hyper-parameters."""
    check_choice("optimizer", name, OPTIMIZERS)
    cls = _OPTIMIZERS[name]
    allowed = tuple(
        p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "model", "lr")
    )
    for key in kwargs:
        if key not in allowed:
            raise ValueError(f"{name} optimizer got unknown argument {key!r}; allowed: {allowed}")
    return cls(model, lr, **kwargs)


def clip_grad_norm(model: Sequential, max_norm: float) -> float:
    """Scale ``model.grads`` in place by max_norm / ‖g‖ when the global L2 norm ‖g‖ exceeds
    max_norm. Returns ‖g‖ before clipping.

    Differs from ``torch.nn.utils.clip_grad_norm_`` on purpose: torch scales by
    max_norm / (‖g‖ + 1e-6), so its clipped norm falls slightly short of max_norm (by 1e-6 /
    ‖g‖ relatively, which matters only for tiny max_norm); here the clipped norm is max_norm.
    """
    max_norm = check_positive("max_norm", max_norm)
    g = model.grads
    norm = float(np.sqrt(np.dot(g, g)))
    if norm > max_norm:
        g *= g.dtype.type(max_norm / norm)
    return norm
