"""Record the data a run used as MLflow dataset inputs (train/val/test), shown in the UI."""

from __future__ import annotations

from typing import Any

CONTEXTS = ("train", "val", "test")


def dataset_inputs(dataset: Any) -> list[Any]:
    """One DatasetInput per non-empty split, named after the data set, tagged with its context."""
    import mlflow.data
    from mlflow.entities import DatasetInput, InputTag

    inputs = []
    for context in CONTEXTS:
        X, y = getattr(dataset, f"X_{context}"), getattr(dataset, f"y_{context}")
        if X.shape[0] == 0:
            continue
        data = mlflow.data.from_numpy(X, targets=y, name=dataset.name)
        inputs.append(DatasetInput(dataset=data._to_mlflow_entity(),
                                   tags=[InputTag("mlflow.data.context", context)]))
    return inputs


def log_dataset_inputs(client: Any, run_id: str, dataset: Any) -> None:
    """Attach the data set's splits to the run (MlflowClient API: the run is not a fluent one).

    Under the store lock: parallel jobs inserting the same dataset row at once would otherwise
    hit SQLite's UNIQUE constraint (seen in 1 of 4 joblib sweeps).
    """
    from nnexp.tracking.store import store_lock

    inputs = dataset_inputs(dataset)
    with store_lock(client.tracking_uri):
        client.log_inputs(run_id, datasets=inputs)
