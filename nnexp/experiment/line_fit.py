"""The tutorial's y = a*x + b: the a and b a trained linear network stands for, in the data's units.

A network without a non-linear activation is one affine map, whatever its depth; on one input
and one output it is a line, and its slope and intercept are read off two predictions (any
input scaling included). Networks with a non-linearity have no single a and b.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from nnexp.config.metric_catalogue import LEARNED_A, LEARNED_B

if TYPE_CHECKING:
    from nnexp.data import Dataset



def is_affine(model: Any) -> bool:
    """No activation other than the identity between the layers."""
    from nnexp.engine.activations import Activation, Identity

    return not any(isinstance(layer, Activation) and not isinstance(layer, Identity)
                   for layer in model.layers)


def learned_line(model: Any, dataset: Dataset) -> dict[str, float]:
    """`learned/a` and `learned/b` of a linear net on a set with a known line, else {}."""
    if (dataset.truth is None or dataset.task != "regression" or dataset.n_features != 1
            or dataset.n_outputs != 1 or not is_affine(model)):
        return {}
    at_0, at_1 = model.predict(dataset.preprocess(np.array([[0.0], [1.0]]))).astype(np.float64)
    return {LEARNED_A: float(at_1[0] - at_0[0]), LEARNED_B: float(at_0[0])}
