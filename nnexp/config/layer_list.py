"""`model.layers` (the `model=sequential` preset) read into layer specs, each spelling checked
with one line naming `model.layers[i]` and what is allowed; nothing is built here.

Spellings: `{dense: WIDTH}`, `{dropout: P}`, `{batchnorm: {}}` (or `batchnorm`, or
`{batchnorm: {momentum: M, eps: E}}`), an activation name (`relu`, `tanh`, ...), and a user's
own layer `{_target_: mypkg.layers.Swish, ...its arguments}`. The output Dense layer is not
listed: the experiment adds it from the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from nnexp.config.user_errors import ConfigError
from nnexp.engine import ACTIVATIONS

KEY = "model.layers"
TARGET = "_target_"
BATCHNORM_OPTIONS = {"momentum": 0.1, "eps": 1e-5}
SPELLINGS = ("{dense: WIDTH}, {dropout: P}, {batchnorm: {}}, an activation ("
             + ", ".join(ACTIVATIONS) + ") or {_target_: your.module.Layer}")


@dataclass(frozen=True)
class LayerSpec:
    """One entry of model.layers: `kind` is dense, dropout, batchnorm, an activation name or
    `class` (a user's layer at `target`, made with `kwargs`)."""

    index: int
    kind: str
    width: int = 0  # dense
    p: float = 0.0  # dropout
    options: dict[str, float] = field(default_factory=dict)  # batchnorm
    target: str = ""  # class
    kwargs: dict[str, Any] = field(default_factory=dict)  # class

    @property
    def where(self) -> str:
        return f"{KEY}[{self.index}]"


def configured_layers(cfg: DictConfig) -> list[LayerSpec] | None:
    """The config's layer list read into specs, or None for an MLP (`model.layers` unset)."""
    layers = cfg.model.get("layers")
    if layers is None:
        return None
    if isinstance(layers, ListConfig):
        layers = OmegaConf.to_container(layers, resolve=True)
    if not isinstance(layers, list):
        raise ConfigError(f"{KEY}: must be a list of layers ({SPELLINGS}), got {layers!r}")
    return [parse_layer(i, entry) for i, entry in enumerate(layers)]


def parse_layer(index: int, entry: Any) -> LayerSpec:
    """One entry read and checked; ConfigError names `model.layers[index]`."""
    where = f"{KEY}[{index}]"
    if isinstance(entry, str):
        if entry in ACTIVATIONS:
            return LayerSpec(index, entry)
        if entry == "batchnorm":
            return LayerSpec(index, "batchnorm", options=dict(BATCHNORM_OPTIONS))
        raise ConfigError(f"{where}: got {entry!r}; allowed: {SPELLINGS}")
    if isinstance(entry, dict) and TARGET in entry:
        target = entry[TARGET]
        if not isinstance(target, str) or "." not in target:
            raise ConfigError(f"{where}: _target_ must be a dotted class path such as "
                              f"mypkg.layers.Swish, got {target!r}")
        return LayerSpec(index, "class", target=target,
                         kwargs={k: v for k, v in entry.items() if k != TARGET})
    if not (isinstance(entry, dict) and len(entry) == 1):
        raise ConfigError(f"{where}: got {entry!r}; allowed: {SPELLINGS}")
    (kind, value), = entry.items()
    if kind == "dense":
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
            raise ConfigError(f"{where}: dense width must be an integer >= 1, got {value!r}")
        return LayerSpec(index, "dense", width=int(value))
    if kind == "dropout":
        if (isinstance(value, bool) or not isinstance(value, Real)
                or not (math.isfinite(value) and 0 <= value < 1)):
            raise ConfigError(f"{where}: dropout probability must be a number in [0, 1), "
                              f"got {value!r}")
        return LayerSpec(index, "dropout", p=float(value))
    if kind == "batchnorm":
        return LayerSpec(index, "batchnorm", options=_batchnorm_options(where, value))
    if kind in ACTIVATIONS:
        raise ConfigError(f"{where}: an activation takes no settings: write {kind} "
                          f"(model.negative_slope sets leaky_relu's slope), got {entry!r}")
    raise ConfigError(f"{where}: unknown layer {kind!r}; allowed: {SPELLINGS}")


def _batchnorm_options(where: str, value: Any) -> dict[str, float]:
    """`{}` or some of momentum (in [0, 1]) and eps (> 0)."""
    value = {} if value is None else value
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: batchnorm takes {{}} or {{momentum: M, eps: E}}, "
                          f"got {value!r}")
    unknown = sorted(set(value) - set(BATCHNORM_OPTIONS))
    if unknown:
        raise ConfigError(f"{where}: batchnorm has no setting {unknown[0]!r}; allowed: "
                          f"{', '.join(BATCHNORM_OPTIONS)}")
    options = {**BATCHNORM_OPTIONS, **value}
    momentum, eps = options["momentum"], options["eps"]
    if not (_number(momentum) and 0 <= momentum <= 1):
        raise ConfigError(f"{where}: batchnorm momentum must be in [0, 1], got {momentum!r}")
    if not (_number(eps) and eps > 0):
        raise ConfigError(f"{where}: batchnorm eps must be a number > 0, got {eps!r}")
    return {k: float(v) for k, v in options.items()}


def _number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def dense_widths(specs: list[LayerSpec]) -> list[int]:
    """The hidden Dense widths in a layer list (the memory check's hidden layers)."""
    return [spec.width for spec in specs if spec.kind == "dense"]
