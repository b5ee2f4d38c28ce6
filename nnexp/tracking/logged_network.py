"""A logged run's network and preprocessing, rebuilt from plain data only.

`nnexp.predict` uses this instead of the MLflow model: loading an MLflow model runs the Python
code (or unpickles the objects) stored beside it, so anyone who can write to the artifact store
could run code on the predicting machine. Here the run's `weights.npz` (arrays and a JSON
architecture, read without pickle) and `model_meta.json` (scaling, classes, image format) are
read as data, every field is checked, and the numpy engine computes the outputs.
"""

from __future__ import annotations

import json
import math
import numbers
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnexp import engine
from nnexp.config.vocabulary import (
    ACTIVATIONS,
    CLASSIFICATION_LOSSES,
    DTYPES,
    IMAGE_MODES,
    REGRESSION_LOSSES,
)
from nnexp.data.scaling import apply_scaler
from nnexp.engine.serialization import ARCH_KEY
from nnexp.record.model_files import META_ARTIFACT, WEIGHTS_ARTIFACT
from nnexp.tracking.records import RecordError, download_artifact, first_line

MAX_META_BYTES = 16_000_000  # scaler mean and std of ~400 000 features; pictures have none
MAX_ARCHITECTURE_BYTES = 1_000_000
MAX_WEIGHTS_BYTES = 8_000_000_000
LEGACY_META = "artifacts/meta.json"  # inside the pyfunc model of runs logged before model_meta


@dataclass(frozen=True)
class ModelMeta:
    """What prediction needs besides the weights, validated."""

    task: str
    loss: str
    class_names: list[str]
    n_features: int
    dtype: str
    scaler_mean: np.ndarray | None
    scaler_std: np.ndarray | None
    image_shape: tuple[int, ...] | None  # (H, W) for L, (H, W, 3) for RGB
    image_mode: str | None
    input_columns: list[str] | None = None  # a table's columns, read by name (csv, parquet, ...)
    categories: dict[str, list[str]] | None = None  # one-hot encoded column -> its categories
    delimiter: str = ","
    feature_names: list[str] | None = None  # the source's names, one per feature (older runs: none)

    @property
    def image_size(self) -> tuple[int, int] | None:
        """(W, H) as `load_image` takes it."""
        return None if self.image_shape is None else (self.image_shape[1], self.image_shape[0])


@dataclass
class LoggedNetwork:
    """A run's network with its training-time preprocessing: raw rows in, outputs out."""

    run_id: str
    meta: ModelMeta
    network: engine.Sequential

    def prepare(self, rows: np.ndarray) -> np.ndarray:
        """Raw float64 rows scaled like the training data, in the network's dtype."""
        if self.meta.scaler_mean is not None and self.meta.scaler_std is not None:
            return apply_scaler(rows, self.meta.scaler_mean, self.meta.scaler_std, self.meta.dtype)
        return np.asarray(rows, dtype=np.float64).astype(self.meta.dtype)

    def outputs(self, prepared: np.ndarray) -> np.ndarray:
        """Class probabilities (one column per class name) or regression values."""
        raw = self.network.predict(prepared)
        if self.meta.loss == "bce":  # one logit -> P(class 0), P(class 1)
            p = engine.make_loss("bce").predict(raw)
            return np.concatenate([1 - p, p], axis=1)
        return engine.make_loss(self.meta.loss).predict(raw)


def load_logged_network(client: Any, run_id: str) -> LoggedNetwork:
    """The run's network and preprocessing; RecordError (one line) for anything missing or odd."""
    with tempfile.TemporaryDirectory(prefix="nnexp-predict-") as tmp:
        weights = download_artifact(client, run_id, WEIGHTS_ARTIFACT, tmp, MAX_WEIGHTS_BYTES)
        if weights is None:
            raise RecordError(f"run '{run_id}' has no {WEIGHTS_ARTIFACT} artifact: nothing to "
                              "predict with (did it end before its first weights were saved?)")
        network = read_network(weights, f"run '{run_id}': {WEIGHTS_ARTIFACT}")
        meta_path, meta_name = _download_meta(client, run_id, Path(tmp))
        what = f"run '{run_id}': {meta_name}"
        try:
            data = json.loads(meta_path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise RecordError(f"{what} is not JSON ({first_line(exc)})") from None
    meta = parse_meta(data, what)
    _check_fits(meta, network, what)
    return LoggedNetwork(run_id, meta, network)


def _download_meta(client: Any, run_id: str, tmp: Path) -> tuple[Path, str]:
    """model_meta.json; for runs logged before it existed, the pyfunc model's meta.json, read as
    a file (the model itself is never loaded)."""
    path = download_artifact(client, run_id, META_ARTIFACT, tmp, MAX_META_BYTES)
    if path is not None:
        return path, META_ARTIFACT
    import mlflow.artifacts

    outputs = getattr(client.get_run(run_id), "outputs", None)
    for output in getattr(outputs, "model_outputs", None) or []:
        location = client.get_logged_model(output.model_id).artifact_location
        try:
            found = Path(mlflow.artifacts.download_artifacts(
                artifact_uri=f"{location.rstrip('/')}/{LEGACY_META}", dst_path=str(tmp / "legacy"),
                tracking_uri=client.tracking_uri))
        except Exception:  # MLflow raises different types per artifact store for a missing file
            continue
        if found.is_file() and found.stat().st_size <= MAX_META_BYTES:
            return found, f"model {output.model_id} meta.json"
    raise RecordError(f"run '{run_id}' has no {META_ARTIFACT} artifact (nor a logged model's "
                      "meta.json): its preprocessing is unknown")


def read_network(path: Path, what: str) -> engine.Sequential:
    """The engine network in a `save_weights` file, checked before numpy allocates anything.

    Only stored (uncompressed) .npy members whose headers fit their size, and an architecture
    whose parameters fit in the file, are accepted: a small file cannot make the loader
    allocate gigabytes, and nothing in it is unpickled.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                _check_member(archive, member, what)
            arch_member = f"{ARCH_KEY}.npy"
            if arch_member not in archive.namelist():
                raise RecordError(f"{what} has no architecture; not a file nnexp saved")
            if archive.getinfo(arch_member).file_size > MAX_ARCHITECTURE_BYTES:
                raise RecordError(f"{what}: the architecture is over {MAX_ARCHITECTURE_BYTES} "
                                  "bytes; refused")
            with archive.open(arch_member) as handle:
                arch_text = np.lib.format.read_array(handle, allow_pickle=False)
        arch = json.loads(str(arch_text))
    except RecordError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RecursionError) as exc:
        raise RecordError(f"{what} is not a readable .npz file ({first_line(exc)})") from None
    needed = _parameter_bytes(arch, what)
    if needed > path.stat().st_size:
        raise RecordError(f"{what}: the architecture needs {needed} bytes of weights, the file "
                          f"holds {path.stat().st_size}")
    try:
        network = engine.load_model(path)
    except (ValueError, TypeError, KeyError) as exc:
        raise RecordError(f"{what}: {first_line(exc)}") from None
    if not np.isfinite(network.params).all():
        raise RecordError(f"{what} holds NaN or inf weights (did the run diverge?)")
    return network


def _check_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, what: str) -> None:
    """A plain .npy array of numbers whose header claims no more data than the member holds."""
    if not member.filename.endswith(".npy") or member.compress_type != zipfile.ZIP_STORED:
        raise RecordError(f"{what}: member {member.filename!r} is not a plain .npy array; "
                          "not a file nnexp saved")
    readers = {(1, 0): np.lib.format.read_array_header_1_0,
               (2, 0): np.lib.format.read_array_header_2_0}
    with archive.open(member) as handle:
        version = np.lib.format.read_magic(handle)
        if version not in readers:
            raise ValueError(f"member {member.filename!r}: .npy format {version}")
        shape, _, dtype = readers[version](handle)
    if dtype.hasobject or math.prod(shape) * dtype.itemsize > member.file_size:
        raise RecordError(f"{what}: member {member.filename!r} claims {shape} {dtype} values "
                          "it does not hold (or objects, which need pickle)")


def _parameter_bytes(arch: Any, what: str) -> int:
    """Bytes the architecture's parameters take; RecordError for any field the engine would not
    have written."""
    if not isinstance(arch, dict) or not isinstance(arch.get("layers"), list) or not arch["layers"]:
        raise RecordError(f"{what}: the architecture is not a list of layers")
    dtype = arch.get("dtype")
    if dtype not in DTYPES:
        raise RecordError(f"{what}: architecture dtype {dtype!r}; allowed: {', '.join(DTYPES)}")
    n_params = 0
    for i, layer in enumerate(arch["layers"]):
        kind = layer.get("type") if isinstance(layer, dict) else None
        if kind == "dense":
            sizes = [layer.get("n_inputs"), layer.get("n_outputs")]
            if not all(_positive_int(n) for n in sizes):
                raise RecordError(f"{what}: layer {i}: sizes {sizes} are not positive integers")
            n_params += sizes[0] * sizes[1] + sizes[1]
        elif kind == "batchnorm":
            if not _positive_int(layer.get("n_features")):
                raise RecordError(f"{what}: layer {i}: n_features is not a positive integer")
            n_params += 4 * layer["n_features"]  # weight, bias and the running statistics
        elif kind in ("dropout", "class"):
            continue  # dropout holds no arrays; a user's layer is checked when imported
        elif kind not in ACTIVATIONS:
            raise RecordError(f"{what}: layer {i}: type {kind!r}; allowed: dense, batchnorm, "
                              "dropout, class, " + ", ".join(ACTIVATIONS))
        elif not _finite(layer.get("negative_slope", 0.01)):
            raise RecordError(f"{what}: layer {i}: negative_slope is not a finite number")
    return n_params * np.dtype(dtype).itemsize


def parse_meta(data: Any, what: str) -> ModelMeta:
    """model_meta.json's fields, each checked for type and range; RecordError names the field."""
    if not isinstance(data, dict):
        raise RecordError(f"{what} is not a JSON object")
    task = data.get("task")
    losses = {"classification": CLASSIFICATION_LOSSES, "regression": REGRESSION_LOSSES}
    if task not in losses:
        raise RecordError(f"{what}: task {task!r}; allowed: classification, regression")
    loss = data.get("loss")
    if loss not in losses[task]:
        raise RecordError(f"{what}: loss {loss!r}; allowed for {task}: "
                          + ", ".join(losses[task]))
    names = data.get("class_names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise RecordError(f"{what}: class_names is not a list of strings")
    n_features = data.get("n_features")
    if not _positive_int(n_features):
        raise RecordError(f"{what}: n_features {n_features!r} is not a positive integer")
    dtype = data.get("dtype")
    if dtype not in DTYPES:
        raise RecordError(f"{what}: dtype {dtype!r}; allowed: {', '.join(DTYPES)}")
    mean, std = (_vector(data.get(k), n_features, f"{what}: {k}")
                 for k in ("scaler_mean", "scaler_std"))
    if (mean is None) != (std is None) or (std is not None and not (std > 0).all()):
        raise RecordError(f"{what}: scaler_mean and scaler_std must both be given, std > 0")
    shape, mode = _image_format(data.get("image_shape"), data.get("image_mode"), n_features, what)
    columns, categories = _table_format(data, n_features, what)
    delimiter = data.get("delimiter") or ","
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise RecordError(f"{what}: delimiter {delimiter!r} is not one character")
    features = data.get("feature_names")
    if features is not None and (not isinstance(features, list) or len(features) != n_features
                                 or not all(isinstance(f, str) for f in features)):
        raise RecordError(f"{what}: feature_names is not a list of {n_features} names")
    return ModelMeta(task, loss, names, n_features, dtype, mean, std, shape, mode, columns,
                     categories, delimiter, features or None)


def _table_format(data: dict[str, Any], n_features: int, what: str
                  ) -> tuple[list[str] | None, dict[str, list[str]] | None]:
    """A table's input columns and categories, checked against the network's n_features."""
    columns, categories = data.get("input_columns"), data.get("categories") or {}
    if columns is None:
        return None, None
    if (not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)
            or len(set(columns)) != len(columns)):
        raise RecordError(f"{what}: input_columns is not a list of distinct names")
    if not isinstance(categories, dict) or not all(
            k in columns and isinstance(v, list) and v and all(isinstance(c, str) for c in v)
            for k, v in categories.items()):
        raise RecordError(f"{what}: categories is not a map of input columns to their values")
    width = sum(len(categories[c]) if c in categories else 1 for c in columns)
    if width != n_features:
        raise RecordError(f"{what}: input_columns and categories make {width} features, the "
                          f"network takes {n_features}")
    return list(columns), {k: list(v) for k, v in categories.items()}


def _vector(value: Any, length: int, what: str) -> np.ndarray | None:
    if value is None:
        return None
    if (not isinstance(value, list) or len(value) != length
            or not all(_finite(v) for v in value)):
        raise RecordError(f"{what} is not a list of {length} finite numbers")
    return np.asarray(value, dtype=np.float64)


def _image_format(shape: Any, mode: Any, n_features: int, what: str
                  ) -> tuple[tuple[int, ...] | None, str | None]:
    if shape is None and mode is None:
        return None, None
    if mode not in IMAGE_MODES:
        raise RecordError(f"{what}: image_mode {mode!r}; allowed: {', '.join(IMAGE_MODES)}")
    channels = [] if mode == "L" else [len(mode)]
    if (not isinstance(shape, list) or not all(_positive_int(n) for n in shape)
            or len(shape) != 2 + len(channels) or shape[2:] != channels
            or math.prod(shape) != n_features):
        raise RecordError(f"{what}: image_shape {shape!r} does not describe {n_features} "
                          f"features in mode {mode}")
    return tuple(shape), mode


def _check_fits(meta: ModelMeta, network: engine.Sequential, what: str) -> None:
    """The description and the network agree: inputs, outputs per class, dtype."""
    if meta.n_features != network.n_inputs or meta.dtype != network.dtype.name:
        raise RecordError(f"{what}: {meta.n_features} {meta.dtype} features, but the network "
                          f"takes {network.n_inputs} {network.dtype.name}")
    n_names = len(meta.class_names)
    if meta.loss == "cross_entropy":
        fits = n_names >= 2 and network.n_outputs == n_names
    elif meta.loss == "bce":
        fits = n_names == 2 and network.n_outputs == 1
    else:
        fits = n_names == 0
    if not fits:
        raise RecordError(f"{what}: {n_names} class names for a {meta.loss} network with "
                          f"{network.n_outputs} outputs")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _finite(value: Any) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))
