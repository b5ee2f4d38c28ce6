"""MLflow models-from-code file: an nnexp network as a pyfunc model, needing only numpy.

MLflow copies this file into the logged model, so it must not import nnexp: it rebuilds the
forward pass from the `.npz` architecture (dropout off, batch normalisation with its running
statistics) and applies the training-time standardisation. A user's own layer is imported by
the class path the architecture records (never unpickled); its module must be importable.
Input: a table whose columns are the data set's feature names (a DataFrame, CSV, JSON records),
or rows of raw values in that order (a numpy array, a list of lists).
"""

import importlib
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


def _user_layer(config: dict[str, Any], arrays_of: Any) -> Any:
    """A user's layer from its recorded class path and arguments, its arrays set back."""
    path = str(config.get("class", ""))
    module_name, _, name = path.rpartition(".")
    try:
        cls = importlib.import_module(module_name)
        for part in name.split("."):
            cls = getattr(cls, part)
    except Exception as exc:
        raise ValueError(f"layer class {path!r} cannot be imported ({type(exc).__name__}: "
                         f"{exc}); install the module that defines it") from None
    layer = cls(**(config.get("kwargs") or {}))
    names = (*getattr(cls, "param_names", ()), *getattr(cls, "state_names", ()))
    if names:
        for key, value in arrays_of(cls.label, names).items():
            setattr(layer, key, value)
    return layer


class NnexpNetwork(mlflow.pyfunc.PythonModel):
    """Raw feature rows in; class probabilities (classification) or values (regression) out."""

    def load_context(self, context: Any) -> None:
        with np.load(context.artifacts["weights"], allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        arch = json.loads(str(arrays.pop("__architecture__")))
        self.dtype = np.dtype(arch["dtype"])
        self.layers: list[tuple[str, Any]] = []
        counts: dict[str, int] = {}

        def arrays_of(label: str, names: tuple[str, ...]) -> dict[str, np.ndarray]:
            counts[label] = counts.get(label, 0) + 1
            return {name: arrays[f"{label}{counts[label]}.{name}"] for name in names}

        for config in arch["layers"]:
            kind = config["type"]
            if kind == "dense":
                w = arrays_of("layer", ("weight", "bias"))
                self.layers.append(("dense", (w["weight"], w["bias"])))
            elif kind == "batchnorm":
                b = arrays_of("bn", ("weight", "bias", "running_mean", "running_var"))
                var = b["running_var"]
                inv_std = 1 / np.sqrt(var + var.dtype.type(config.get("eps", 1e-5)))
                self.layers.append(("affine", (b["running_mean"], inv_std * b["weight"],
                                               b["bias"])))
            elif kind == "dropout":
                continue  # evaluation: the identity
            elif kind == "class":
                self.layers.append(("class", _user_layer(config, arrays_of)))
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
            if kind == "dense":
                x = x @ spec[0] + spec[1]
            elif kind == "affine":  # a batchnorm in evaluation, as BatchNorm1d.predict
                x = (x - spec[0]) * spec[1] + spec[2]
            elif kind == "class":
                x = spec.predict(x)
            else:
                x = ACTIVATIONS[kind](x, spec)
        loss = self.meta["loss"]
        if loss == "cross_entropy":
            return _softmax(x)
        if loss == "bce":  # one logit -> P(class 0), P(class 1), like cross-entropy's columns
            p = _sigmoid(x)
            return np.concatenate([1 - p, p], axis=1)
        return x


mlflow.models.set_model(NnexpNetwork())
