"""MLflow models-from-code file: an nnexp network as a pyfunc model, needing only numpy.

MLflow copies this file into the logged model, so it must not import nnexp: it rebuilds the
forward pass from the `.npz` architecture (dropout off, batch normalisation with its running
statistics) and applies the training-time standardisation. A user's own layer is imported by
the class path the architecture records (never unpickled); its module must be importable.
Input: a table whose columns are the data set's feature names (a DataFrame, CSV, JSON records),
or rows of raw values in that order (a numpy array, a list of lists). A model trained on a table
(data=csv, parquet, a DataFrame) takes that table's columns by name, in any order; text columns
it one-hot encoded are given as text; extra columns are ignored with a warning.
"""

import importlib
import json
import warnings
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
        table = isinstance(model_input, pd.DataFrame)
        if table and self.meta.get("input_columns"):
            model_input = self._table(model_input)
        elif table and set(self.columns) <= set(model_input.columns):
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

    def _table(self, frame: pd.DataFrame) -> np.ndarray:
        """A table's rows by column name, encoded as training encoded them."""
        columns, categories = self.meta["input_columns"], self.meta.get("categories") or {}
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"column '{missing[0]}' is missing; the model takes the columns "
                             f"{', '.join(columns)}")
        extra = [str(c) for c in frame.columns if c not in columns]
        if extra:
            warnings.warn(f"ignored column(s) the model was not trained on: {', '.join(extra)}",
                          stacklevel=3)
        return np.concatenate([self._column(frame[c], c, categories.get(c)) for c in columns],
                              axis=1)

    @staticmethod
    def _column(values: pd.Series, name: str, categories: list[str] | None) -> np.ndarray:
        missing = values.isna().to_numpy()
        if missing.any():
            raise ValueError(f"column '{name}', row {int(np.argmax(missing))}: missing value")
        if categories is None:
            numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
            bad = np.isnan(numbers)
            if bad.any():
                row = int(np.argmax(bad))
                raise ValueError(f"column '{name}', row {row}: {values.iloc[row]!r} is not a "
                                 "number")
            return numbers[:, None]
        index = {value: i for i, value in enumerate(categories)}
        codes = np.array([index.get(str(v), -1) for v in values], dtype=np.int64)
        if (codes < 0).any():
            row = int(np.argmax(codes < 0))
            raise ValueError(f"column '{name}', row {row}: {str(values.iloc[row])!r} is not one "
                             f"of the categories the model was trained on "
                             f"({', '.join(categories)})")
        block = np.zeros((len(values), len(categories)))
        block[np.arange(len(values)), codes] = 1
        return block


mlflow.models.set_model(NnexpNetwork())
