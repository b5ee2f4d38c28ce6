"""The light model of a run: one small `model/MLmodel` run artifact that `mlflow.pyfunc.load_model(
"runs:/<run id>/model")` loads by reading the run's own `weights.npz` and `model_meta.json`.

A sweep's children log it instead of the full pyfunc model (9 files, 14 requests on a tracking
server): one upload. It needs nnexp where it is loaded and the run's store; the full model
(`model.log_network_model`) needs neither. The MLflow model's metadata keeps what logging the
full model takes besides the run's files (`FULL_MODEL_KEY`), so the sweep's best child gets its
full model after the sweep (`upgrade_to_full`) without retraining or reloading its data.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from nnexp.record.model_files import META_ARTIFACT, WEIGHTS_ARTIFACT

LIGHT_DIR = "model"
FULL_MODEL_KEY = "nnexp.full_model"  # MLmodel metadata: example, step, linked, params, run_name
MAX_EXAMPLE_VALUES = 4096  # a picture's rows are long: fewer rows of its example are kept


def write_light_model(folder: Path, run_id: str, op: dict[str, Any]) -> Path:
    """`folder`/MLmodel: a pyfunc flavour loaded by this module, and `op` (the run's model
    operation: its example, step, linked metrics, params, run name) as metadata."""
    from mlflow.models import Model
    from mlflow.pyfunc import add_to_model

    example = op["example"]
    width = max(1, len(example[0]) if example else 1)
    kept = {key: op[key] for key in ("step", "linked", "params", "run_name")}
    kept["example"] = example[:max(1, MAX_EXAMPLE_VALUES // width)]
    compact = json.dumps(kept, separators=(",", ":"))  # as YAML lists: a number a line, 3x
    model = Model(artifact_path=LIGHT_DIR, run_id=run_id,
                  metadata={"nnexp.model": "light", FULL_MODEL_KEY: compact})
    add_to_model(model, loader_module=__name__)
    folder.mkdir(parents=True, exist_ok=True)
    model.save(str(folder / "MLmodel"))
    return folder


class _LightModel:
    """The run's network behind pyfunc's `predict`: the full model's own code, given the run's
    weights and metadata."""

    def __init__(self, network: Any) -> None:
        self.network = network

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        return self.network.predict(None, model_input)


def _load_pyfunc(path: str) -> _LightModel:
    """pyfunc's loader: the run named in `path`/MLmodel, its weights read from its store (the
    current tracking URI, as `runs:/` itself was resolved)."""
    from types import SimpleNamespace

    from mlflow.models import Model
    from mlflow.tracking import MlflowClient

    from nnexp.tracking.logged_network import MAX_META_BYTES, MAX_WEIGHTS_BYTES
    from nnexp.tracking.model import pyfunc_code
    from nnexp.tracking.records import RecordError, download_artifact

    run_id = Model.load(str(Path(path) / "MLmodel")).run_id
    client = MlflowClient()
    folder = tempfile.mkdtemp(prefix="nnexp-light-model-")
    files = {}
    for key, name, limit in (("weights", WEIGHTS_ARTIFACT, MAX_WEIGHTS_BYTES),
                             ("meta", META_ARTIFACT, MAX_META_BYTES)):
        found = download_artifact(client, run_id, name, folder, limit)
        if found is None:
            raise RecordError(f"run '{run_id}' has no {name} artifact: its light model cannot "
                              "load")
        files[key] = str(found)
    network = pyfunc_code().NnexpNetwork()
    network.load_context(SimpleNamespace(artifacts=files))
    return _LightModel(network)


def upgrade_to_full(uri: str, run_id: str, run: Any | None = None) -> str | None:
    """Log the full model of a run that has a light one (a sweep's best child); its
    `models:/` URI, or None when the run has no light model (it has the full one, or none).
    `run`: the run as the caller read it after it ended (else it is read here)."""
    from mlflow.models import Model
    from mlflow.tracking import MlflowClient

    from nnexp.tracking.logged_network import MAX_META_BYTES, MAX_WEIGHTS_BYTES
    from nnexp.tracking.model import log_network_model, quiet_mlflow
    from nnexp.tracking.records import RunFiles

    client = MlflowClient(uri)
    run = run if run is not None else client.get_run(run_id)
    files = RunFiles(client, run_id, run.info.artifact_uri)
    with tempfile.TemporaryDirectory(prefix="nnexp-upgrade-") as tmp, quiet_mlflow():
        found = files.download(f"{LIGHT_DIR}/MLmodel", tmp, 1_000_000)
        if found is None:
            return None
        op = (Model.load(str(found)).metadata or {}).get(FULL_MODEL_KEY)
        if isinstance(op, str):  # JSON text; light models logged before: a YAML mapping
            op = json.loads(op)
        weights = files.download(WEIGHTS_ARTIFACT, tmp, MAX_WEIGHTS_BYTES)
        meta = files.download(META_ARTIFACT, tmp, MAX_META_BYTES)
        if op is None or weights is None or meta is None:
            return None
        return log_network_model(uri, run_id, weights, json.loads(meta.read_text()),
                                 op["example"], step=int(op["step"]),
                                 linked=[tuple(point) for point in op["linked"]],
                                 experiment_id=run.info.experiment_id,
                                 params=op["params"], run_name=op["run_name"])
