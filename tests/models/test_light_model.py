"""A sweep's children log a light model (one `model/MLmodel` file reading the run's own weights),
its best child the full pyfunc model after the sweep, a single run the full one: every
`runs:/<id>/model` loads and predicts what the run's network predicts; `nnexp.predict` works on
every child."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from helpers import client_for

import nnexp
from nnexp.config.user_errors import ConfigError
from nnexp.sweeps.job import run_job
from nnexp.tracking.logged_network import load_logged_network

FAST = ("data=iris", "train.epochs=2", "model.hidden=[8]", "tracking.plots=false")
LIGHT_CHILD = {"config.yaml", "overrides.yaml", "weights.npz", "model_meta.json",
               "metrics/history.npz", "model/MLmodel"}  # 6 uploads: the hashes are in the history
ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])


def _files(uri: str, run_id: str, folder: str | None = None) -> set[str]:
    """Every artifact file of the run, with its folder."""
    found = set()
    for entry in client_for(uri).list_artifacts(run_id, folder):
        found |= _files(uri, run_id, entry.path) if entry.is_dir else {entry.path}
    return found


def _models(uri: str, run_id: str) -> list[str]:
    outputs = client_for(uri).get_run(run_id).outputs.model_outputs or []
    return [o.model_id for o in outputs]


def _predicts_as_the_run(uri: str, run_id: str) -> dict:
    """The loaded `runs:/<id>/model`'s metadata, after checking its outputs are the network's."""
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    network = load_logged_network(client_for(uri), run_id)
    expected = network.outputs(network.prepare(ROWS))
    table = pd.DataFrame(ROWS, columns=["sepal length (cm)", "sepal width (cm)",
                                        "petal length (cm)", "petal width (cm)"])
    assert np.array_equal(np.asarray(model.predict(table)), expected)
    return model.metadata.metadata or {}


def test_sweep_children_light_the_best_full_and_every_model_loads(mlflow_state):
    uri = mlflow_state
    swept = nnexp.sweep("lr=0.05,0.001", *FAST, verbose=False)
    best = client_for(uri).get_run(swept.parent_run_id).data.tags["nnexp.best_run_id"]
    children = [run.run_id for run in swept.runs]
    assert best in children
    for run_id in children:
        files = _files(uri, run_id)  # the best run's list has its full model's files too
        assert (files >= LIGHT_CHILD) if run_id == best else (files == LIGHT_CHILD)
        assert len(_models(uri, run_id)) == (1 if run_id == best else 0)
        metadata = _predicts_as_the_run(uri, run_id)
        assert ("nnexp.model" in metadata) == (run_id != best)  # the full one's MLmodel wins
    (model_id,) = _models(uri, best)
    assert "MLmodel" in {a.path for a in mlflow.artifacts.list_artifacts(f"models:/{model_id}")}


def test_a_single_run_logs_the_full_model_and_no_light_one(make_cfg, store_uri, mlflow_state):
    result = run_job(make_cfg(*FAST), run_name="single", verbose=False)
    assert "model/MLmodel" not in _files(store_uri, result.run_id)
    assert len(_models(store_uri, result.run_id)) == 1
    assert "nnexp.model" not in _predicts_as_the_run(store_uri, result.run_id)


def test_full_model_always_gives_every_child_the_full_model(mlflow_state):
    swept = nnexp.sweep("lr=0.05,0.001", *FAST, "tracking.full_model=always",
                        verbose=False)
    for run in swept.runs:
        assert len(_models(mlflow_state, run.run_id)) == 1
        assert "model/MLmodel" not in _files(mlflow_state, run.run_id)


def test_full_model_never_leaves_the_best_child_light(make_cfg, store_uri, mlflow_state):
    swept = nnexp.sweep("lr=0.05,0.001", *FAST, "tracking.full_model=never",
                        verbose=False)
    assert not [r for r in swept.runs if _models(mlflow_state, r.run_id)]
    single = run_job(make_cfg(*FAST, "tracking.full_model=never"), run_name="s", verbose=False)
    assert not _models(store_uri, single.run_id)
    assert "nnexp.model" in _predicts_as_the_run(store_uri, single.run_id)


def test_light_models_upgrade_from_json_and_from_the_older_yaml_metadata(mlflow_state, tmp_path):
    """A light model's MLmodel keeps what the full model needs as one JSON text; light models
    logged before kept it as a YAML mapping, and still upgrade."""
    from mlflow.models import Model

    from nnexp.tracking.light_model import FULL_MODEL_KEY, upgrade_to_full

    swept = nnexp.sweep("lr=0.05,0.001", *FAST, "tracking.full_model=never", verbose=False)
    client = client_for(mlflow_state)
    older, newer = (run.run_id for run in swept.runs)
    found = client.download_artifacts(older, "model/MLmodel", str(tmp_path))
    model = Model.load(found)
    op = json.loads(model.metadata[FULL_MODEL_KEY])
    model.metadata[FULL_MODEL_KEY] = op
    model.save(found)
    client.log_artifact(older, found, "model")
    for run_id in (older, newer):
        logged = upgrade_to_full(mlflow_state, run_id)
        assert logged == f"models:/{_models(mlflow_state, run_id)[0]}"
        linked = {m.key for m in client.get_logged_model(logged.split("/")[-1]).metrics}
        assert linked == {point[0] for point in op["linked"]}


def test_an_unknown_full_model_choice_is_refused_in_one_line(make_cfg):
    with pytest.raises(ConfigError, match=r"^tracking.full_model: got 'sometimes'; allowed: "
                                          r"best, always, never$"):
        nnexp.run(*FAST, "tracking.full_model=sometimes", verbose=False)
