"""A user's own layer in `model.layers` (`{_target_: mypkg.layers.Swish, ...}`): imported from
the user's module (on sys.path, in the working folder or in --config-dir's folder), made with
Hydra's `instantiate`, and gradient-checked in float64 before any run exists, so a wrong
backward stops with one line naming the layer, the tensor and the relative error."""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from nnexp.config.layer_list import LayerSpec
from nnexp.config.user_errors import ConfigError
from nnexp.engine import Activation, ParameterLayer
from nnexp.engine.architecture import import_layer_class
from nnexp.engine.gradcheck import layer_gradient_check

CHECK_WIDTH = 5  # features of the random inputs a layer is checked on
CHECK_ROWS = 6
CHECK_DRAWS = 3  # random inputs per layer
CHECK_SEED = 0


def add_user_folders(cfg: DictConfig | None = None) -> None:
    """Put the working folder and --config-dir's folder on sys.path (after what is there), where
    a user's layer module next to their configs is found."""
    folders = [Path.cwd()]
    sources = _config_sources(cfg)
    folders += [Path(s["path"]) for s in sources
                if s.get("provider") == "command-line" and s.get("schema") == "file"]
    for folder in folders:
        text = str(folder.resolve())
        if text not in sys.path and os.path.isdir(text):
            sys.path.append(text)


def _config_sources(cfg: DictConfig | None) -> list[dict[str, Any]]:
    """Hydra's config sources of this job (empty outside Hydra)."""
    from omegaconf import OmegaConf

    node = cfg.get("hydra") if cfg is not None else None
    if node is None:
        from hydra.core.hydra_config import HydraConfig

        node = HydraConfig.get() if HydraConfig.initialized() else None
    sources = OmegaConf.select(node, "runtime.config_sources") if node is not None else None
    return list(OmegaConf.to_container(sources, resolve=True)) if sources is not None else []


def layer_class(spec: LayerSpec) -> type:
    """The class a spec names; ConfigError (one line) when it cannot be imported or is not a
    layer."""
    try:
        return import_layer_class(spec.target)
    except ValueError as exc:
        raise ConfigError(f"{spec.where}: _target_ {exc}") from None


def make_user_layer(spec: LayerSpec, n_inputs: int, dtype: str,
                    rng: np.random.Generator | None) -> Activation | ParameterLayer:
    """The layer made by Hydra's `instantiate`; a layer with parameters also gets `n_inputs`,
    `dtype` and `rng` when its constructor takes them and the config does not set them. The
    arguments it was made with (but the generator) are kept as `init_kwargs` for reloading."""
    from hydra.utils import instantiate

    cls = layer_class(spec)
    kwargs = dict(spec.kwargs)
    if issubclass(cls, ParameterLayer):
        accepted = inspect.signature(cls).parameters
        for key, value in (("n_inputs", n_inputs), ("dtype", dtype)):
            if key in accepted and key not in kwargs:
                kwargs[key] = value
        extra = {"rng": rng} if "rng" in accepted and "rng" not in kwargs else {}
    else:
        extra = {}
    try:
        layer = instantiate({"_target_": spec.target, **kwargs, **extra}, _convert_="all")
    except Exception as exc:  # the user's constructor may raise anything
        cause = exc.__cause__ or exc
        message = (str(cause).splitlines() or [""])[0]
        raise ConfigError(f"{spec.where}: {spec.target}(...) failed: "
                          f"{type(cause).__name__}: {message}") from None
    layer.init_kwargs = kwargs
    return layer


def check_user_layers(specs: list[LayerSpec], tol: float) -> None:
    """Gradient-check every user layer of the list (each class and arguments once a process)."""
    for spec in specs:
        if spec.kind == "class":
            problem = _checked(spec.index, spec.target, json.dumps(spec.kwargs, sort_keys=True,
                                                                  default=str), tol)
            if problem:
                raise ConfigError(problem)


@functools.lru_cache(maxsize=64)
def _checked(index: int, target: str, kwargs: str, tol: float) -> str | None:
    """The one-line problem of a user layer, or None when its backward agrees with finite
    differences on a few random float64 inputs (within `tol`)."""
    spec = LayerSpec(index, "class", target=target, kwargs=json.loads(kwargs))
    rng = np.random.default_rng(CHECK_SEED)
    for _ in range(CHECK_DRAWS):
        layer = make_user_layer(spec, CHECK_WIDTH, "float64", np.random.default_rng(CHECK_SEED))
        X = rng.normal(size=(CHECK_ROWS, CHECK_WIDTH)) * 2
        try:
            errors = layer_gradient_check(layer, X, rng)
        except Exception as exc:  # the user's forward or backward may raise anything
            message = (str(exc).splitlines() or [""])[0]
            return (f"{spec.where}: {target} failed its gradient check: "
                    f"{type(exc).__name__}: {message}")
        for name, error in errors.items():
            if not error < tol:
                what = "the input" if name == "input" else f"parameter {name!r}"
                return (f"{spec.where}: {target}: backward's gradient of {what} disagrees with "
                        f"finite differences (relative error {error:.2e}, tolerance {tol:g}); "
                        "fix its backward")
    return None
