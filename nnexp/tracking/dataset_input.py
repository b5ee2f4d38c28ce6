"""Record the data a run used as MLflow dataset inputs (its source, and the train/val/test
splits), shown in the UI."""

from __future__ import annotations

import json
import os
import sys
import warnings
from typing import Any

CONTEXTS = ("train", "val", "test")
CONTEXT_TAG = "mlflow.data.context"
SOURCE_CONTEXT = "source"  # the whole data set as read: its file's digest and path
MLFLOW_DIGEST_CHARS = 36  # MLflow's datasets table holds digests of at most 36 characters
NOTEBOOK_PROVIDERS = ("Jupyter", "Databricks")  # MLflow's run-context providers asking IPython


def code_source() -> Any:
    """The source `mlflow.data.from_numpy` gives arrays without one: the code that ran (MLflow's
    run-context tags), resolved once for a run's four inputs instead of once each.

    MLflow's notebook providers (Jupyter, Databricks) import IPython (1.8 s) to ask whether a
    notebook runs. Without IPython imported no notebook can, and outside Databricks (no
    DATABRICKS_RUNTIME_VERSION) no Databricks context either: those providers are skipped,
    which leaves the tags as they are.
    """
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.tracking.context import registry

    ignore: list[Any] = []
    if "IPython" not in sys.modules and "DATABRICKS_RUNTIME_VERSION" not in os.environ:
        ignore = [type(p) for p in registry._run_context_provider_registry
                  if type(p).__name__.startswith(NOTEBOOK_PROVIDERS)]
    return CodeDatasetSource(tags=registry.resolve_tags(ignore=ignore))


def describe_source(dataset: Any, code: Any = None) -> dict[str, Any] | None:
    """The data set as its source holds it (a file, a folder, arrays given from Python): the
    first characters of its sha256 as MLflow's digest, the path as its source, the whole sha256
    and the sizes in its profile. `code`: the `code_source()` to use when it has no path."""
    import mlflow.data

    if not getattr(dataset, "digest", None):
        return None
    source = dataset.source if dataset.source and os.path.isabs(dataset.source) else None
    source = source or code or code_source()
    with warnings.catch_warnings():  # MLflow warns that a local path has two readers
        warnings.simplefilter("ignore")
        entity = mlflow.data.from_numpy(
            dataset.X_train[:1], targets=dataset.y_train[:1], source=source,
            name=dataset.name, digest=dataset.digest[:MLFLOW_DIGEST_CHARS])._to_mlflow_entity()
    n_rows = sum(int(getattr(dataset, f"X_{c}").shape[0]) for c in CONTEXTS)
    profile = {"num_rows": n_rows, "num_features": int(dataset.n_features),
               "sha256": dataset.digest, "source": dataset.source}
    return {"name": entity.name, "digest": entity.digest, "source_type": entity.source_type,
            "source": entity.source, "schema": entity.schema, "profile": json.dumps(profile),
            "context": SOURCE_CONTEXT}


def describe_dataset_inputs(dataset: Any) -> list[dict[str, Any]]:
    """One plain-data description per non-empty split (name, digest, schema, profile, context),
    as MLflow computes them from the arrays; plain data so a run's outbox can replay it."""
    import mlflow.data

    code = code_source()
    source = describe_source(dataset, code)
    described = [source] if source is not None else []
    for context in CONTEXTS:
        X, y = getattr(dataset, f"X_{context}"), getattr(dataset, f"y_{context}")
        if X.shape[0] == 0:
            continue
        entity = mlflow.data.from_numpy(X, targets=y, source=code,
                                        name=dataset.name)._to_mlflow_entity()
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
