"""A trained network as files: `weights.npz` (arrays and architecture) and `model_meta.json`
(what prediction needs besides them), plain data a run logs and any reader can check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

WEIGHTS_ARTIFACT = "weights.npz"  # the network: arrays and architecture, no code, no pickles
META_ARTIFACT = "model_meta.json"  # what prediction needs besides the weights, as plain data


def model_meta(dataset: Any, loss_name: str) -> dict[str, Any]:
    """What prediction needs besides the weights: scaling, task, class names, image format, and
    for a table its input columns by name and the categories of one-hot encoded ones."""
    table = getattr(dataset, "table", None)
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
        "feature_names": list(dataset.feature_names),
        "input_columns": None if table is None else list(table.columns),
        "categories": {} if table is None else {k: list(v) for k, v in table.categories.items()},
        "target": None if table is None else table.target,
        "delimiter": None if table is None else table.delimiter,
    }


def write_model_meta(path: Path, dataset: Any, loss_name: str) -> Path:
    """`model_meta(...)` as JSON, logged beside the weights so prediction reads only data: a field
    a line, each value on its line (a number a line made it twice the bytes)."""
    fields = model_meta(dataset, loss_name)
    lines = [f"  {json.dumps(key)}: {json.dumps(value)}" for key, value in fields.items()]
    path.write_text("{\n" + ",\n".join(lines) + "\n}\n")
    return path
