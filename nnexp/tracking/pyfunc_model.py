"""MLflow models-from-code file: an nnexp network as a pyfunc model, needing only numpy.

MLflow copies this file into the logged model, so it must not import nnexp: it rebuilds the
forward pass from the `.npz` architecture and applies the training-time standardisation.
Input: a table whose columns are the data set's feature names (a DataFrame, CSV, JSON records),
or rows of raw values in that order (a numpy array, a list of lists).
"""

import json
from typing import Any

import mlflow
import numpy as np
import pandas as pd


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * x))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


ACTIVATIONS = {
    "identity": lambda x, _: x,
    "relu": lambda x, _: np.maximum(x, 0),
    "leaky_relu": lambda x, c: np.where(x > 0, x, x * x.dtype.type(c.get("negative_slope", 0.01))),
    "sigmoid": lambda x, _: _sigmoid(x),
    "tanh": lambda x, _: np.tanh(x),
}


class NnexpNetwork(mlflow.pyfunc.PythonModel):
    """Raw feature rows in; class probabilities (classification) or values (regression) out."""

    def load_context(self, context: Any) -> None:
        with np.load(context.artifacts["weights"], allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        arch = json.loads(str(arrays.pop("__architecture__")))
        self.dtype = np.dtype(arch["dtype"])
        self.layers: list[tuple[str, Any]] = []
        dense = 0
        for config in arch["layers"]:
            kind = config["type"]
            if kind == "dense":
                dense += 1
                self.layers.append(("dense", (arrays[f"layer{dense}.weight"],
                                              arrays[f"layer{dense}.bias"])))
            elif kind in ACTIVATIONS:
                self.layers.append((kind, config))
            else:
                raise ValueError(f"unknown layer type {kind!r} in the network's architecture")
        with open(context.artifacts["meta"]) as fh:
            self.meta: dict[str, Any] = json.load(fh)
        mean, std = self.meta.get("scaler_mean"), self.meta.get("scaler_std")
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.std = None if std is None else np.asarray(std, dtype=np.float64)
        n_features = int(self.meta["n_features"])
        self.columns = list(self.meta.get("feature_names") or [f"x{i}" for i in range(n_features)])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> np.ndarray:  # noqa: ANN001
        """Scale like training, run the network, turn outputs into probabilities or values."""
        if isinstance(model_input, pd.DataFrame) and set(self.columns) <= set(model_input.columns):
            model_input = model_input[self.columns]  # by name, whatever order they came in
        try:
            X = np.asarray(model_input, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"every feature value must be a number ({exc})") from None
        if X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != len(self.columns):
            raise ValueError(f"expected {len(self.columns)} features per row "
                             f"({', '.join(self.columns[:3])}, ...), got shape {X.shape}")
        if self.mean is not None and self.std is not None:
            X = (X - self.mean) / self.std
        x = X.astype(self.dtype)
        for kind, spec in self.layers:
            x = x @ spec[0] + spec[1] if kind == "dense" else ACTIVATIONS[kind](x, spec)
        loss = self.meta["loss"]
        if loss == "cross_entropy":
            return _softmax(x)
        if loss == "bce":  # one logit -> P(class 0), P(class 1), like cross-entropy's columns
            p = _sigmoid(x)
            return np.concatenate([1 - p, p], axis=1)
        return x


mlflow.models.set_model(NnexpNetwork())
