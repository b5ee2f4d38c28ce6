"""What the loop measures once an epoch, besides losses and norms, so a run can be diagnosed
(`nnexp.verdict`): how far each layer's weights moved relative to their size, and how many ReLU
units never fire on the validation set. Nothing here runs inside a training step.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nnexp.engine import ParameterLayer, ReLU


def dead_unit_layers(model: Any) -> list[str]:
    """Names of the layers with parameters (Dense, BatchNorm1d, ...) whose outputs go through a
    ReLU, with nothing but parameter-free layers between (their units can die)."""
    names, current = [], None
    dense_names = iter(model.layer_names)
    for layer in model.layers:
        if isinstance(layer, ReLU) and current is not None:
            names.append(current)
        elif isinstance(layer, ParameterLayer):
            current = next(dense_names)
    return list(dict.fromkeys(names))


def predict_counting_dead_units(model: Any, X: np.ndarray, into: dict[str, float]
                                ) -> np.ndarray:
    """The model's raw outputs for X (as `model.predict`), filling `into` with, for each ReLU
    layer, the fraction of its units that are zero on every row of X (dead on this split)."""
    x = np.asarray(X)
    if x.dtype != model.dtype:
        x = x.astype(model.dtype)
    dense_names = iter(model.layer_names)
    current = None
    for layer in model.layers:
        x = layer.predict(x)
        if isinstance(layer, ReLU) and current is not None:
            into[current] = float(np.mean(~(x > 0).any(axis=0)))
        elif isinstance(layer, ParameterLayer):
            current = next(dense_names)
    return x


class EpochMovement:
    """‖w_end − w_start‖ / ‖w_start‖ per layer over one epoch (all its parameters together): the
    update-to-weight ratio at the scale of an epoch. A layer that starts at zero is measured
    against its size at the end instead."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._start: dict[str, np.ndarray] = {}

    def begin(self) -> None:
        """Remember the weights as the epoch starts (one copy of the parameters an epoch)."""
        self._start = self.model.state_dict()

    def ratios(self) -> dict[str, float]:
        """Each layer's ratio since `begin`."""
        params = self.model.named_parameters()
        result = {}
        for name in self.model.layer_names:
            moved = size_start = size_end = 0.0
            for part in (key for key in params if key.rpartition(".")[0] == name):
                start = self._start[part].astype(np.float64).ravel()
                end = params[part].astype(np.float64).ravel()
                delta = end - start
                moved += float(np.dot(delta, delta))
                size_start += float(np.dot(start, start))
                size_end += float(np.dot(end, end))
            size = size_start if size_start > 0 else size_end
            result[name] = math.sqrt(moved / size) if size > 0 else 0.0
        return result
