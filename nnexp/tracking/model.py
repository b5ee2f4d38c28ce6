"""Log a trained network as an MLflow LoggedModel (pyfunc flavour) named `model` of its run,
loadable with `mlflow.pyfunc.load_model("runs:/<run id>/model")` or `"models:/<model id>"`.

Its id is in the run's outputs (`logged_model_uri`: runs logged before the model was named
`model` carry their run's name instead, and still load by id); `nnexp.predict` never loads it
(it reads `weights.npz` and `model_meta.json` as data)."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from nnexp.record import tags

MODEL_NAME = "model"
MODEL_CODE = Path(__file__).with_name("pyfunc_model.py")
EXAMPLE_ROWS = 3
_CHECK_SWAP = threading.Lock()


def input_example(dataset: Any) -> np.ndarray:
    """The first training rows as a user would send them: the source's raw, unscaled values."""
    if dataset.raw_head is not None:
        return np.asarray(dataset.raw_head[:EXAMPLE_ROWS], dtype=np.float64)
    X = np.asarray(dataset.X_train[:EXAMPLE_ROWS], dtype=np.float64)  # a hand-made Dataset
    if dataset.scaler_mean is None or dataset.scaler_std is None:
        return X
    return X * dataset.scaler_std + dataset.scaler_mean


def pip_requirements() -> list[str]:
    """Pinned and explicit: logging needs no dependency inference (seconds) nor network."""
    import mlflow

    return [f"mlflow=={mlflow.__version__}", f"numpy=={np.__version__}"]


def model_params(run_params: dict[str, str], overrides: list[str]) -> dict[str, str]:
    """The params shown beside a run's model in MLflow's Models tab, where every model of a sweep
    is named `model`: the config group choices and the values the run's overrides set (a
    child's swept values), so the columns tell the children apart."""
    from nnexp.config.choices import GROUPS
    from nnexp.record.tags import parse_override

    keys = {parse_override(text)[0] for text in overrides} | set(GROUPS)
    return {key: value for key, value in run_params.items() if key in keys}


def split_of(metric: str) -> str | None:
    """The data split a metric was computed on (`val/loss` -> val), or None (lr, norms)."""
    split = metric.partition("/")[0]
    return split if split in ("train", "val", "test") else None


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


@contextmanager
def requirements_unchecked() -> Iterator[None]:
    """MLflow's `save_model` checks a model's pip requirements against the installed packages,
    first mapping every installed distribution to its modules: 1.5 s the first time in a process.
    `pip_requirements` are the installed versions themselves, so the check cannot find anything;
    it is switched off around nnexp's own `save_model` (one at a time per process)."""
    from mlflow.utils import environment

    with _CHECK_SWAP:
        check = environment.__dict__.get("warn_dependency_requirement_mismatches")
        if check is not None:
            environment.warn_dependency_requirement_mismatches = lambda requirements: None
        try:
            yield
        finally:
            if check is not None:
                environment.warn_dependency_requirement_mismatches = check


def log_network_model(uri: str, run_id: str, weights: Path, meta: dict[str, Any],
                      example: list[list[float]], *, step: int, linked: list[tuple[Any, ...]],
                      experiment_id: str | None = None, params: dict[str, str] | None = None,
                      run_name: str | None = None, look_for_earlier: bool = True) -> str:
    """Log `weights` (.npz from `save_weights`) as a pyfunc LoggedModel of the run; its URI.

    The model is named `model`, as MLflow's own flavours name theirs, so `runs:/<run id>/model`
    finds it; the run's name is its tag `nnexp.run_name`, `params` (`model_params`) its params.
    It takes a table with the data set's feature names as columns (CSV, DataFrames, JSON
    records) and has the raw rows `example` as its input example. It is
    attached to the run as an output at `step`, and the metrics `linked` ((key, value, timestamp
    [, dataset name, dataset digest]) already logged at `step`) are linked to it. Everything goes
    through a client on `uri`: MLflow's global tracking URI and active run, which the user's own
    code may be using in another thread, are left alone. The run's experiment, params and name
    save reading the run back (an outbox journaled before they were kept in it is read back).
    A retry (`look_for_earlier`) first looks for what an earlier attempt left in the store.
    """
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus, Metric
    from mlflow.models import Model
    from mlflow.tracking import MlflowClient

    from nnexp.tracking.run_lookups import know_model_location

    client = MlflowClient(uri)
    if experiment_id is None or params is None or run_name is None:
        run = client.get_run(run_id)
        overrides = run.data.tags.get(tags.OVERRIDES, "").split()
        experiment_id, run_name = run.info.experiment_id, run.info.run_name
        params = model_params(dict(run.data.params), overrides)
    model = _earlier_attempt(client, experiment_id, run_id) if look_for_earlier else None
    reused = model is not None
    if model is None:
        model = client.create_logged_model(
            experiment_id, name=MODEL_NAME, source_run_id=run_id, params=params,
            tags={tags.MODEL_RUN_NAME: run_name or ""}, model_type="nnexp-mlp")
        know_model_location(uri, model)
        try:
            with tempfile.TemporaryDirectory(prefix="nnexp-model-") as tmp:
                path = Path(tmp) / "model"
                _save_pyfunc(path, Model(artifact_path=model.artifact_location,
                                         model_uuid=model.model_id, run_id=run_id,
                                         model_id=model.model_id), weights, meta, example, tmp)
                client.log_model_artifacts(model.model_id, str(path))
        except BaseException:
            with contextlib.suppress(Exception):  # the store may be the reason: a retry cleans up
                client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
            raise
        client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    if not reused or model.model_id not in {
            o.model_id for o in client.get_run(run_id).outputs.model_outputs or []}:
        client.log_outputs(run_id, models=[LoggedModelOutput(model.model_id, step=step)])
    if linked:
        client.log_batch(run_id, metrics=[
            Metric(key, value, timestamp, step, run_id=run_id, model_id=model.model_id,
                   dataset_name=dataset[0] if dataset else None,
                   dataset_digest=dataset[1] if dataset else None)
            for key, value, timestamp, *dataset in linked])
    return f"models:/{model.model_id}"


def _earlier_attempt(client: Any, experiment_id: str, run_id: str) -> Any | None:
    """The run's READY model from an earlier attempt (the store took it, then its answer was
    lost); models of attempts that did not finish are deleted, so a retry leaves one model."""
    from mlflow.entities import LoggedModelStatus

    ready = None
    for model in client.search_logged_models(
            [experiment_id], filter_string=f"source_run_id = '{run_id}'"):
        if model.status == LoggedModelStatus.READY and ready is None:
            ready = model
        else:
            client.delete_logged_model(model.model_id)
    return ready


def logged_model_uri(run: Any) -> str | None:
    """`models:/<id>` of the model a run logged (the last, if several), from its outputs."""
    outputs = getattr(getattr(run, "outputs", None), "model_outputs", None) or []
    return f"models:/{outputs[-1].model_id}" if outputs else None


def _save_pyfunc(path: Path, mlflow_model: Any, weights: Path, meta: dict[str, Any],
                 example: list[list[float]], tmp: str) -> None:
    """The MLflow model folder: this package's pyfunc code, the weights, the metadata, the
    signature and the input example."""
    import mlflow

    meta_path = Path(tmp) / "meta.json"
    meta_path.write_text(json.dumps(meta, indent=2))
    artifacts = {"weights": str(weights), "meta": str(meta_path)}
    rows = np.asarray(example, dtype=np.float64)
    given = table_example(meta, rows) if meta.get("input_columns") else rows
    signature, input_example = _signature(meta, rows, _predict_example(artifacts, given))
    with quiet_mlflow(), requirements_unchecked():
        mlflow.pyfunc.save_model(
            str(path), python_model=str(MODEL_CODE), artifacts=artifacts,
            mlflow_model=mlflow_model, signature=signature, input_example=input_example,
            pip_requirements=pip_requirements(),
            metadata={"nnexp.task": meta["task"], "nnexp.loss": meta["loss"],
                      "nnexp.class_names": meta["class_names"],
                      "nnexp.feature_names": feature_names(meta),
                      "python": platform.python_version()})


def _signature(meta: dict[str, Any], rows: np.ndarray, output: np.ndarray) -> tuple[Any, Any]:
    """The model's signature and input example, from raw example rows and their outputs.

    A table's features are named columns: CSV, DataFrames and JSON records are matched by name.
    They are typed Any, not double: MLflow refuses an int64 column for a double one, and a CSV
    or JSON of whole numbers (digits' pixels, wine's magnesium) is read as int64; the model
    checks itself that every value is a number. A picture is one array (a tensor signature):
    a column per pixel costs MLflow about 0.2 s per 1 000 columns to write and check.
    """
    import pandas as pd
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    inferred = infer_signature(rows, output)
    if meta.get("image_shape"):
        return inferred, rows
    if meta.get("input_columns"):  # a table: its own columns, text for categorical ones
        example = table_example(meta, rows)
        columns = Schema([ColSpec(AnyType(), name) for name in example.columns])
        return ModelSignature(inputs=columns, outputs=inferred.outputs), example
    names = feature_names(meta)
    columns = Schema([ColSpec(AnyType(), name) for name in names])
    return ModelSignature(inputs=columns, outputs=inferred.outputs), pd.DataFrame(rows,
                                                                                  columns=names)


def table_example(meta: dict[str, Any], rows: np.ndarray) -> Any:
    """Encoded example rows of a table as the user has them: a DataFrame of its input columns,
    the categories of one-hot encoded ones as text."""
    import pandas as pd

    categories, data, k = meta.get("categories") or {}, {}, 0
    for column in meta["input_columns"]:
        if column in categories:
            width = len(categories[column])
            data[column] = [categories[column][i] for i in rows[:, k:k + width].argmax(axis=1)]
            k += width
        else:
            data[column] = rows[:, k]
            k += 1
    return pd.DataFrame(data)


def feature_names(meta: dict[str, Any]) -> list[str]:
    """The model's input columns: the data set's feature names (older metadata: x0, x1, ...)."""
    names = meta.get("feature_names")
    return list(names) if names else [f"x{i}" for i in range(int(meta["n_features"]))]


def pyfunc_code() -> Any:
    """The module the full model logs as its code (`pyfunc_model.py`), loaded as that file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_nnexp_pyfunc_model", MODEL_CODE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _predict_example(artifacts: dict[str, str], example: Any) -> np.ndarray:
    """The model's output on the example, computed by the very code that is logged."""
    from types import SimpleNamespace

    model = pyfunc_code().NnexpNetwork()
    model.load_context(SimpleNamespace(artifacts=artifacts))
    return model.predict(None, example)
