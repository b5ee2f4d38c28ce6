"""Sequential container and ``build_mlp``.

All parameters live in one contiguous 1-D buffer ``params`` and all gradients in ``grads``
(each Dense's W, b, dW, db, each BatchNorm1d's γ, β and their gradients are views), so
optimizers update the whole model with a few in-place vector operations, and norms/clipping are
single dot products. ``forward``/``backward`` train (dropout draws masks, batch normalisation
uses the batch's statistics); ``predict`` evaluates (dropout off, running statistics).

Input dtype policy: ``forward``/``predict`` accept any real-valued array of width ``n_inputs``
and cast it ONCE at the model boundary to the model dtype (a copy only when the dtype
differs); the parameters, activations, gradients and optimizer state never change dtype.
``fit`` casts the whole data set once before the loop, so batches are never cast.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Sequence
from numbers import Integral

import numpy as np

from ._checks import DTYPES, check_int, resolve_dtype
from .activations import ACTIVATIONS, Activation, Identity, make_activation
from .architecture import layer_config, layer_from_config, summary
from .layers import Dense, ParameterLayer

Layer = ParameterLayer | Activation


def _inplace_plan(layers: Sequence[Layer]) -> tuple[bool, ...]:
    """For each layer, whether its forward may overwrite its input array in place.

    Never the caller's X, and never an array that an earlier activation reads again in
    backward (``keeps_output``): in Dense, ReLU, Sigmoid, Dense the Sigmoid must not overwrite
    the ReLU's output. Identity passes its input through, so whoever made that array decides.
    In the usual Dense/activation MLP every activation works in place on the Dense output.
    """
    plan = []
    protected = True  # the array entering the next layer: the caller's X at first
    for layer in layers:
        plan.append(not protected)
        if isinstance(layer, ParameterLayer):
            # Dense and BatchNorm1d write their own output buffer and read only their input
            # (or their own cache) in backward
            protected = layer.keeps_output
        elif not isinstance(layer, Identity):
            protected = layer.keeps_output
    return tuple(plan)


class Sequential:
    """A stack of layers applied in order; parameters and gradients in flat buffers."""

    def __init__(self, layers: Sequence[Layer], dtype: str | np.dtype = "float32") -> None:
        self.dtype = resolve_dtype(dtype)
        layers = list(layers)
        if not layers:
            raise ValueError("layers must be a non-empty list of Dense/activation layers, got []")
        for i, layer in enumerate(layers):
            if not isinstance(layer, ParameterLayer | Activation):
                raise ValueError(
                    f"layers[{i}] must be a layer (a Dense, an activation, or a subclass of "
                    f"Activation or ParameterLayer), got {type(layer).__name__}"
                )
        layers = self._own(layers)
        dense = [layer for layer in layers if isinstance(layer, ParameterLayer)]
        if not any(isinstance(layer, Dense) for layer in dense):
            raise ValueError("layers must contain at least one Dense layer")
        for prev, nxt in zip(dense, dense[1:], strict=False):
            if prev.n_outputs != nxt.n_inputs:
                raise ValueError(
                    f"layers: widths do not chain, {prev!r} has {prev.n_outputs} outputs and "
                    f"feeds {nxt!r} with {nxt.n_inputs} inputs"
                )
        self.layers = layers
        self._dense = dense  # every layer with parameters, in order
        self.layer_names = parameter_layer_names(dense)
        self.n_inputs = dense[0].n_inputs
        self.n_outputs = dense[-1].n_outputs
        sizes = [d.n_params for d in dense]
        bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.params = np.empty(int(bounds[-1]), dtype=self.dtype)
        self.grads = np.zeros(int(bounds[-1]), dtype=self.dtype)
        self._slices: dict[str, slice] = {}
        for name, layer, lo, hi in zip(self.layer_names, dense, bounds, bounds[1:], strict=False):
            layer.bind(self.params[lo:hi], self.grads[lo:hi])
            self._slices[name] = slice(int(lo), int(hi))
        self._first_dense = next(i for i, layer in enumerate(layers)
                                 if isinstance(layer, ParameterLayer))
        self._inplace = _inplace_plan(layers)
        for layer in layers:  # claimed last: a refused model leaves its layers free
            layer._owner = weakref.ref(self)
        self._batch_size: int | None = None
        self.build_activation: str | None = None  # set by build_mlp, recorded by architecture()

    def _own(self, layers: list[Layer]) -> list[Layer]:
        """Claim every layer for this model: each position needs its own forward cache.

        A Dense used twice, or already in another live Sequential, is refused (its gradient
        would be overwritten, not accumulated, and the other model would lose its parameters).
        An activation object used again (as PyTorch code often does) gets a private copy for
        each further position: activations have no parameters, so the network is the same.
        """
        seen: dict[int, int] = {}
        owned: list[Layer] = []
        for i, layer in enumerate(layers):
            first = seen.setdefault(id(layer), i)
            other = layer._owner() if layer._owner is not None else None
            if first != i or (other is not None and other is not self):
                if isinstance(layer, ParameterLayer):
                    kind = type(layer).__name__
                    where = (f"the same object as layers[{first}]" if first != i
                             else "already part of another Sequential")
                    raise ValueError(
                        f"layers[{i}] ({layer!r}) is {where}; a {kind} layer can be used only "
                        f"once: create a new {kind} for each position (or model.copy())"
                    )
                layer = copy.deepcopy(layer)
            owned.append(layer)
        return owned

    # ------------------------------------------------------------------ computation
    def _check_input(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_inputs:
            raise ValueError(f"X must have shape (n_samples, {self.n_inputs}), got {X.shape}")
        if X.dtype != self.dtype:
            if X.dtype.kind not in "biuf":
                raise ValueError(f"X must hold real numbers, got dtype {X.dtype}")
            X = X.astype(self.dtype)
        return X

    def forward(self, X: np.ndarray) -> np.ndarray:
        """Outputs for a batch, caching what backward needs.

        The returned array is a buffer reused by the next forward of the same batch size:
        copy it if you keep it (``predict`` returns a fresh array).
        """
        X = self._check_input(X)
        x = X
        for layer, inplace in zip(self.layers, self._inplace, strict=True):
            x = layer.forward(x, inplace=inplace)
        self._batch_size = X.shape[0]
        return x

    def backward(self, grad_output: np.ndarray) -> None:
        """Fill ``grads`` with dL/dparams given G = dL/doutputs from the last forward.

        Gradients are overwritten, not accumulated. The gradient with respect to the network
        input is never computed (it is not needed to train).
        """
        if self._batch_size is None:
            raise ValueError("backward called before forward")
        grad = np.asarray(grad_output)
        expected = (self._batch_size, self.n_outputs)
        if grad.shape != expected:
            raise ValueError(f"grad_output must have shape {expected}, got {grad.shape}")
        if grad.dtype != self.dtype:
            grad = grad.astype(self.dtype)
        for i in range(len(self.layers) - 1, self._first_dense - 1, -1):
            layer = self.layers[i]
            if isinstance(layer, ParameterLayer):
                grad = layer.backward(grad, need_input_grad=i > self._first_dense)
            else:
                grad = layer.backward(grad, inplace=grad is not grad_output)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Raw outputs (logits/values) in a fresh array; caches nothing, any batch size."""
        x = self._check_input(X)
        for layer in self.layers:
            x = layer.predict(x)
        return x

    __call__ = predict

    # ------------------------------------------------------------------ introspection
    def named_parameters(self) -> dict[str, np.ndarray]:
        """{"layer1.weight": W1, "layer1.bias": b1, "bn1.weight": γ1, ...} as views into
        ``params``, in the order they lie there."""
        return {f"{name}.{key}": value for name, layer in zip(self.layer_names, self._dense,
                                                              strict=True)
                for key, value in layer.parameters().items()}

    def named_gradients(self) -> dict[str, np.ndarray]:
        """Same keys as ``named_parameters``; views into ``grads``."""
        return {f"{name}.{key}": value for name, layer in zip(self.layer_names, self._dense,
                                                              strict=True)
                for key, value in layer.gradients().items()}

    def named_state(self) -> dict[str, np.ndarray]:
        """State besides the parameters that evaluation reads ({"bn1.running_mean": ...}), live."""
        return {f"{name}.{key}": value for name, layer in zip(self.layer_names, self._dense,
                                                              strict=True)
                for key, value in layer.state().items()}

    def _norms(self, flat: np.ndarray) -> dict[str, float]:
        return {name: float(np.sqrt(np.dot(flat[s], flat[s]))) for name, s in self._slices.items()}

    def grad_norms(self) -> dict[str, float]:
        """L2 norm of each Dense layer's gradient (weight and bias together)."""
        return self._norms(self.grads)

    def weight_norms(self) -> dict[str, float]:
        """L2 norm of each Dense layer's parameters (weight and bias together)."""
        return self._norms(self.params)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the parameters and the state, keyed like ``named_parameters`` and
        ``named_state``."""
        return {k: v.copy() for k, v in {**self.named_parameters(), **self.named_state()}.items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy ``state`` into the parameters and state. Keys, shapes and dtypes must match."""
        own = {**self.named_parameters(), **self.named_state()}
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise ValueError(
                f"state_dict keys do not match the model: missing {missing}, "
                f"unexpected {unexpected}"
            )
        for key, target in own.items():
            value = np.asarray(state[key])
            if value.shape != target.shape:
                raise ValueError(
                    f"state_dict[{key!r}] has shape {value.shape}, the model expects {target.shape}"
                )
            if value.dtype != target.dtype:
                raise ValueError(
                    f"state_dict[{key!r}] has dtype {value.dtype}, the model expects "
                    f"{target.dtype} (convert explicitly; nothing is cast silently)"
                )
        for key, target in own.items():
            target[...] = state[key]

    def architecture(self) -> dict:
        """JSON-able description: ``build_mlp(**{k: arch[k] for k in BUILD_KEYS})`` rebuilds an
        MLP; ``Sequential.from_architecture(arch)`` rebuilds any Sequential from ``layers``."""
        acts = [layer for layer in self.layers if isinstance(layer, Activation)]
        names = {a.name for a in acts}
        is_mlp = self._is_mlp()
        activation = self.build_activation
        if activation is None and is_mlp:
            activation = acts[0].name if acts else "identity"
        slopes = [a.negative_slope for a in acts if a.name == "leaky_relu"]
        return {
            "n_inputs": self.n_inputs,
            "hidden": [d.n_outputs for d in self._dense[:-1] if isinstance(d, Dense)],
            "n_outputs": self.n_outputs,
            "activation": activation if is_mlp and len(names) <= 1 else None,
            "negative_slope": slopes[0] if slopes else 0.01,
            "dtype": self.dtype.name,
            "layers": [layer_config(layer) for layer in self.layers],
        }

    def _is_mlp(self) -> bool:
        """True for Dense, act, Dense, act, ..., Dense with one activation type throughout."""
        layers = self.layers
        if len(layers) % 2 == 0:
            return False
        for i, layer in enumerate(layers):
            if isinstance(layer, Dense) != (i % 2 == 0):
                return False
            if i % 2 and (not isinstance(layer, Activation) or layer.name not in ACTIVATIONS):
                return False
        return len({layer.name for layer in layers[1::2]}) <= 1

    @classmethod
    def from_architecture(cls, arch: dict) -> Sequential:
        """Rebuild (with zero weights) from ``architecture()["layers"]`` and ``["dtype"]``."""
        if not isinstance(arch, dict) or "layers" not in arch or "dtype" not in arch:
            raise ValueError("arch must be a dict from Sequential.architecture() with 'layers'")
        dtype = resolve_dtype(arch["dtype"])
        layers: list[Layer] = []
        for cfg in arch["layers"]:
            layers.append(layer_from_config(cfg, dtype))
        model = cls(layers, dtype=dtype)
        model.build_activation = arch.get("activation")
        return model

    def copy(self, dtype: str | np.dtype | None = None) -> Sequential:
        """Independent copy (optionally in another dtype — an explicit, visible cast)."""
        arch = self.architecture()
        arch["dtype"] = resolve_dtype(dtype).name if dtype is not None else self.dtype.name
        other = Sequential.from_architecture(arch)
        other.params[...] = self.params
        for key, value in other.named_state().items():
            value[...] = self.named_state()[key]
        return other

    @property
    def n_params(self) -> int:
        return int(self.params.size)

    def summary(self) -> str:
        """The network in one line: `64 -> dense 128 -> relu -> dense 10 (9,610 parameters)`."""
        return summary(self.layers, self.n_inputs, self.n_params)

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Sequential([{inner}], dtype={self.dtype.name})"


BUILD_KEYS = ("n_inputs", "hidden", "n_outputs", "activation", "dtype", "negative_slope")


def dense_layer_names(n_dense: int) -> list[str]:
    """The names of a network's Dense layers, first to last: layer1, layer2, ..."""
    return [f"layer{i + 1}" for i in range(n_dense)]


def parameter_layer_names(layers: Sequence[ParameterLayer]) -> list[str]:
    """Each layer's label numbered among the layers of that label: layer1, bn1, layer2, ...
    (an MLP's Dense layers keep the names ``dense_layer_names`` gives them)."""
    counts: dict[str, int] = {}
    names = []
    for layer in layers:
        counts[layer.label] = counts.get(layer.label, 0) + 1
        names.append(f"{layer.label}{counts[layer.label]}")
    return names


def build_mlp(
    n_inputs: int,
    hidden: list[int],
    n_outputs: int,
    activation: str = "relu",
    init: str = "he_normal",
    dtype: str | np.dtype = "float32",
    rng: np.random.Generator | None = None,
    negative_slope: float = 0.01,
    init_std: float = 0.01,
) -> Sequential:
    """Dense/activation pairs for each hidden width, then a last Dense without activation
    (outputs are logits or values). Biases start at zero (``torch.nn.Linear`` draws them from
    U(±1/√fan_in)); weights draw from ``rng`` only (a fresh unseeded Generator when None)."""
    check_int("n_inputs", n_inputs, 1)
    check_int("n_outputs", n_outputs, 1)
    if isinstance(hidden, int | str) or not all(
        isinstance(h, Integral) and not isinstance(h, bool) for h in hidden
    ):
        raise ValueError(f"hidden must be a list of integers >= 1, got {hidden!r}")
    hidden = [check_int("hidden width", h, 1) for h in hidden]
    make_activation(activation, negative_slope)  # validates the name and slope early
    dt = resolve_dtype(dtype)
    rng = np.random.default_rng() if rng is None else rng
    widths = [n_inputs, *hidden, n_outputs]
    layers: list[Layer] = []
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(Dense(fan_in, fan_out, init=init, rng=rng, dtype=dt, init_std=init_std))
        if i < len(widths) - 2:
            layers.append(make_activation(activation, negative_slope))
    model = Sequential(layers, dtype=dt)
    model.build_activation = activation
    return model


__all__ = ["BUILD_KEYS", "DTYPES", "Sequential", "build_mlp"]
