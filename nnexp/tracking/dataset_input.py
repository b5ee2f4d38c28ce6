"""Record the data a run used as MLflow dataset inputs (train/val/test), shown in the UI."""

from __future__ import annotations

from typing import Any

CONTEXTS = ("train", "val", "test")
CONTEXT_TAG = "mlflow.data.context"


def describe_dataset_inputs(dataset: Any) -> list[dict[str, Any]]:
    """One plain-data description per non-empty split (name, digest, schema, profile, context),
    as MLflow computes them from the arrays; plain data so a run's outbox can replay it."""
    import mlflow.data

    described = []
    for context in CONTEXTS:
        X, y = getattr(dataset, f"X_{context}"), getattr(dataset, f"y_{context}")
        if X.shape[0] == 0:
            continue
        entity = mlflow.data.from_numpy(X, targets=y, name=dataset.name)._to_mlflow_entity()
        described.append({"name": entity.name, "digest": entity.digest,
                          "source_type": entity.source_type, "source": entity.source,
                          "schema": entity.schema, "profile": entity.profile, "context": context})
    return described


def log_dataset_inputs(client: Any, run_id: str, described: list[dict[str, Any]]) -> None:
    """Attach the described splits to the run (MlflowClient API: the run is not a fluent one).

    Under the store lock: parallel jobs inserting the same dataset row at once would otherwise
    hit SQLite's UNIQUE constraint (seen in 1 of 4 joblib sweeps).
    """
    from mlflow.entities import Dataset, DatasetInput, InputTag

    from nnexp.tracking.store import store_lock

    inputs = [DatasetInput(Dataset(d["name"], d["digest"], d["source_type"], d["source"],
                                   d["schema"], d["profile"]),
                           [InputTag(CONTEXT_TAG, d["context"])]) for d in described]
    with store_lock(client.tracking_uri):
        client.log_inputs(run_id, datasets=inputs)
