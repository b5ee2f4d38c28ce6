"""Log a trained network as an MLflow pyfunc model (artifact `model`), loadable with
`mlflow.pyfunc.load_model("runs:/<id>/model")` or `mlflow models predict`."""

from __future__ import annotations

import json
import os
import platform
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

MODEL_NAME = "model"
WEIGHTS_ARTIFACT = "weights.npz"  # the network: arrays and architecture, no code, no pickles
META_ARTIFACT = "model_meta.json"  # what prediction needs besides the weights, as plain data
MODEL_CODE = Path(__file__).with_name("pyfunc_model.py")
EXAMPLE_ROWS = 3


def model_meta(dataset: Any, loss_name: str) -> dict[str, Any]:
    """What prediction needs besides the weights: scaling, task, class names, image format."""
    return {
        "loss": loss_name,
        "task": dataset.task,
        "data": dataset.name,
        "class_names": [str(c) for c in dataset.class_names],
        "n_features": int(dataset.n_features),
        "dtype": dataset.dtype,
        "scaler_mean": None if dataset.scaler_mean is None else dataset.scaler_mean.tolist(),
        "scaler_std": None if dataset.scaler_std is None else dataset.scaler_std.tolist(),
        "image_shape": None if dataset.image_shape is None else list(dataset.image_shape),
        "image_mode": dataset.image_mode,
    }


def write_model_meta(path: Path, dataset: Any, loss_name: str) -> Path:
    """`model_meta(...)` as JSON, logged beside the weights so prediction reads only data."""
    path.write_text(json.dumps(model_meta(dataset, loss_name), indent=2))
    return path


def raw_inputs(dataset: Any, X: np.ndarray) -> np.ndarray:
    """Undo the standardisation of scaled rows: the model's input is raw features."""
    X64 = np.asarray(X, dtype=np.float64)
    if dataset.scaler_mean is None or dataset.scaler_std is None:
        return X64
    return X64 * dataset.scaler_std + dataset.scaler_mean


def pip_requirements() -> list[str]:
    """Pinned and explicit: logging needs no dependency inference (seconds) nor network."""
    import mlflow

    return [f"mlflow=={mlflow.__version__}", f"numpy=={np.__version__}"]


@contextmanager
def _tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's model logging reads the global tracking URI: point it at `uri`, then restore."""
    import mlflow

    previous = mlflow.get_tracking_uri() if os.environ.get("MLFLOW_TRACKING_URI") else None
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)  # None unsets MLFLOW_TRACKING_URI again


@contextmanager
def quiet_mlflow() -> Iterator[None]:
    """No progress bars nor INFO lines from MLflow while logging: the run's output stays clean."""
    import logging

    logger = logging.getLogger("mlflow")
    level, bar = logger.level, os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    logger.setLevel(logging.WARNING)
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    try:
        yield
    finally:
        logger.setLevel(level)
        if bar is None:
            os.environ.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", None)
        else:
            os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = bar


def log_network_model(uri: str, run_id: str, weights: Path, meta: dict[str, Any],
                      example: list[list[float]], *, step: int,
                      linked: list[tuple[str, float, int]], experiment_id: str,
                      params: dict[str, str], name: str = MODEL_NAME) -> str:
    """Log `weights` (.npz from `save_weights`) as a pyfunc LoggedModel of the run; its URI.

    The model is created explicitly and attached to the run as an output at `step`, and the
    metrics `linked` ((key, value, timestamp) already logged at `step`) are linked to it. MLflow's
    own linking reads every metric's whole history back; this reads nothing.
    """
    import mlflow
    from mlflow.entities import LoggedModelOutput, Metric
    from mlflow.models import infer_signature
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    rows = np.asarray(example, dtype=np.float64)
    with tempfile.TemporaryDirectory(prefix="nnexp-model-") as tmp:
        meta_path = Path(tmp) / "meta.json"
        meta_path.write_text(json.dumps(meta, indent=2))
        artifacts = {"weights": str(weights), "meta": str(meta_path)}
        output = _predict_example(artifacts, rows)
        model = client.create_logged_model(
            experiment_id, name=name, source_run_id=run_id, params=params,
            model_type="nnexp-mlp")
        with quiet_mlflow(), _tracking_uri(uri):
            mlflow.pyfunc.log_model(
                name=name, python_model=str(MODEL_CODE), artifacts=artifacts,
                signature=infer_signature(rows, output), input_example=rows,
                pip_requirements=pip_requirements(), model_id=model.model_id,
                metadata={"nnexp.task": meta["task"], "nnexp.loss": meta["loss"],
                          "nnexp.class_names": meta["class_names"],
                          "python": platform.python_version()},
            )
    client.log_outputs(run_id, models=[LoggedModelOutput(model.model_id, step=step)])
    if linked:
        client.log_batch(run_id, metrics=[
            Metric(key, value, timestamp, step, run_id=run_id, model_id=model.model_id)
            for key, value, timestamp in linked])
    return f"models:/{model.model_id}"


def _predict_example(artifacts: dict[str, str], example: np.ndarray) -> np.ndarray:
    """The model's output on the example, computed by the very code that is logged."""
    import importlib.util
    from types import SimpleNamespace

    spec = importlib.util.spec_from_file_location("_nnexp_pyfunc_model", MODEL_CODE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.NnexpNetwork()
    model.load_context(SimpleNamespace(artifacts=artifacts))
    return model.predict(None, example)
