"""A layer as JSON-able data and back: what ``Sequential.architecture`` records and
``Sequential.from_architecture`` rebuilds. A user's own layer class is recorded by its import
path and constructor arguments (never pickled) and imported again by that path."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from .activations import ACTIVATIONS, Activation, make_activation
from .batchnorm import BatchNorm1d
from .dropout import Dropout
from .layers import Dense, ParameterLayer

BUILT_IN = (*ACTIVATIONS, "dense", "dropout", "batchnorm")
CLASS = "class"  # the type of a user's layer in an architecture


def class_path(cls: type) -> str:
    """`mypkg.layers.Swish`: the dotted path that imports the class again."""
    return f"{cls.__module__}.{cls.__qualname__}"


def import_layer_class(path: str) -> type:
    """The layer class at a dotted path; ValueError (one line) when it cannot be imported or is
    not a subclass of ``Activation`` or ``ParameterLayer``."""
    module_name, _, name = str(path).rpartition(".")
    try:
        if not module_name:
            raise ImportError(f"no module in {path!r}")
        found: Any = importlib.import_module(module_name)
        for part in name.split("."):
            found = getattr(found, part)
    except Exception as exc:  # a user's module may raise anything while importing
        raise ValueError(f"layer class {path!r} cannot be imported "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
                         ) from None
    if not (isinstance(found, type) and issubclass(found, Activation | ParameterLayer)):
        raise ValueError(f"{path!r} is not a layer: a layer subclasses nnexp.engine.Activation "
                         "(no parameters) or nnexp.engine.ParameterLayer")
    return found


def layer_config(layer: Activation | ParameterLayer) -> dict[str, Any]:
    """The layer as data: its own ``config()`` for nnexp's layers, the class path and the
    constructor arguments it was made with (``init_kwargs``) for a user's."""
    if type(layer).__module__.startswith("nnexp.engine."):
        return layer.config()
    return {"type": CLASS, "class": class_path(type(layer)),
            "kwargs": dict(getattr(layer, "init_kwargs", {}))}


def layer_from_config(cfg: dict[str, Any], dtype: np.dtype) -> Activation | ParameterLayer:
    """A layer rebuilt from ``layer_config`` (parameters zero or as the constructor sets them;
    the caller loads the weights)."""
    kind = cfg.get("type")
    if kind == "dense":
        return Dense(cfg["n_inputs"], cfg["n_outputs"], init="zeros", dtype=dtype)
    if kind == "batchnorm":
        return BatchNorm1d(cfg["n_features"], cfg.get("momentum", 0.1), cfg.get("eps", 1e-5),
                           dtype=dtype)
    if kind == "dropout":
        return Dropout(cfg["p"])
    if kind == CLASS:
        kwargs = dict(cfg.get("kwargs") or {})
        layer = import_layer_class(cfg.get("class", ""))(**kwargs)
        layer.init_kwargs = kwargs
        return layer
    return make_activation(kind, cfg.get("negative_slope", 0.01))


def layer_summary(layer: Activation | ParameterLayer) -> str:
    """`dense 128`, `dropout 0.2`, `batchnorm`, `relu`, or a user's layer's class name."""
    if isinstance(layer, Dense):
        return f"dense {layer.n_outputs}"
    if isinstance(layer, Dropout):
        return f"dropout {layer.p:g}"
    if isinstance(layer, BatchNorm1d):
        return "batchnorm"
    if type(layer).__module__.startswith("nnexp.engine."):
        return layer.name
    return type(layer).__name__


def summary(layers: list[Any], n_inputs: int, n_params: int) -> str:
    """`64 -> dense 128 -> relu -> dropout 0.2 -> dense 10 (9,610 parameters)`: a network in
    one line."""
    return " -> ".join([str(n_inputs), *(layer_summary(layer) for layer in layers)]) + (
        f" ({n_params:,} parameters)")
