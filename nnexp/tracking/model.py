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


def write_model_meta(path: Path, dataset: Any, loss_name: str) -> None:
    """`model_meta(...)` as JSON, logged beside the weights so prediction reads only data."""
    path.write_text(json.dumps(model_meta(dataset, loss_name), indent=2))


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
def _fluent_run(uri: str, run_id: str) -> Iterator[None]:
    """Make an existing run the active fluent run, then detach it leaving its status RUNNING.

    MLflow 3's `log_model` needs an active run; the caller's `tracked_run` ends the run later.
    """
    import mlflow

    previous_uri = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        mlflow.start_run(run_id=run_id)
        try:
            yield
        finally:
            mlflow.end_run(status="RUNNING")
    finally:
        mlflow.set_tracking_uri(previous_uri)  # None unsets MLFLOW_TRACKING_URI again


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


def log_network_model(uri: str, run_id: str, weights: Path, dataset: Any, loss_name: str,
                      step: int = 0) -> str:
    """Log `weights` (.npz from `save_weights`) as the run's pyfunc model; returns its URI.

    MLflow links the run's metrics logged at `step` to the model (its Models page shows them):
    pass the last epoch, where the final validation and test figures are.
    """
    import mlflow
    from mlflow.models import infer_signature

    meta = model_meta(dataset, loss_name)
    example = raw_inputs(dataset, dataset.X_train[:EXAMPLE_ROWS])
    with tempfile.TemporaryDirectory(prefix="nnexp-model-") as tmp:
        meta_path = Path(tmp) / "meta.json"
        write_model_meta(meta_path, dataset, loss_name)
        artifacts = {"weights": str(weights), "meta": str(meta_path)}
        output = _predict_example(artifacts, example)
        with quiet_mlflow(), _fluent_run(uri, run_id):
            mlflow.pyfunc.log_model(
                name=MODEL_NAME, python_model=str(MODEL_CODE), artifacts=artifacts,
                signature=infer_signature(example, output), input_example=example,
                pip_requirements=pip_requirements(), step=step,
                metadata={"nnexp.task": meta["task"], "nnexp.loss": loss_name,
                          "nnexp.class_names": meta["class_names"],
                          "python": platform.python_version()},
            )
    return f"runs:/{run_id}/{MODEL_NAME}"


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
