"""Every run logs a LoggedModel named `model` (`runs:/<run id>/model` finds it; the run's name is
a tag), with a column-based signature (the data set's feature names), the raw rows as input
example, the final metrics linked with the data split they were measured on; a fresh process,
`mlflow models predict` on a CSV and the scoring server's JSON formats predict what the engine's
network predicts, with the training-time scaling."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from helpers import all_runs, client_for, model_uri, store_of

from nnexp import engine
from nnexp.experiment.build import load_data
from nnexp.sweeps.job import run_job

FRESH = textwrap.dedent("""
    import json, sys, warnings, numpy as np, pandas as pd, mlflow
    from mlflow.pyfunc.scoring_server import infer_and_parse_data
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mlflow.set_tracking_uri(sys.argv[1])
        model = mlflow.pyfunc.load_model(sys.argv[2])
        X = np.load(sys.argv[3])
        names = model.metadata.get_input_schema().input_names()
        table = pd.DataFrame(X, columns=names)[names[::-1]]  # matched by name, not by position
        records = json.loads(json.dumps({"dataframe_records": table.to_dict(orient="records")}))
        split = json.loads(json.dumps({"dataframe_split": table.to_dict(orient="split")}))
        outputs = [model.predict(table), model.predict(infer_and_parse_data(records)),
                   model.predict(infer_and_parse_data(split))]
        np.save(sys.argv[4], np.stack(outputs))
    # deprecations inside MLflow's own code (SQLAlchemy's noload, pandas' range comparison)
    caught = [str(w.message) for w in caught
              if not (issubclass(w.category, DeprecationWarning) and "/mlflow/" in w.filename)]
    sys.exit(f"warnings: {caught}" if caught else 0)
""")


def _engine_probabilities(weights: Path, dataset, X_raw: np.ndarray) -> np.ndarray:
    network = engine.load_model(weights)
    return engine.make_loss("cross_entropy").predict(network.predict(dataset.preprocess(X_raw)))


def _not_mlflow_deprecations(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught
            if not (issubclass(w.category, DeprecationWarning) and "/mlflow/" in w.filename)]


def test_fresh_process_loads_model_by_column_names_and_matches_engine(make_cfg, store_uri,
                                                                      tmp_path):
    cfg = make_cfg("data=wine")  # standardised features: the model must scale raw inputs
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_job(cfg, run_name="wine", verbose=False)
    assert _not_mlflow_deprecations(caught) == []
    dataset = load_data(cfg)
    assert dataset.scaler_mean is not None
    X_raw = dataset.X_test * dataset.scaler_std + dataset.scaler_mean
    np.save(tmp_path / "X.npy", X_raw)
    done = subprocess.run([sys.executable, "-c", FRESH, store_uri,
                           f"runs:/{result.run_id}/model",  # as MLflow's own flavours load
                           str(tmp_path / "X.npy"), str(tmp_path / "P.npy")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]

    weights = client_for(store_uri).download_artifacts(result.run_id, "weights.npz", str(tmp_path))
    expected = _engine_probabilities(Path(weights), dataset, X_raw)
    got = np.load(tmp_path / "P.npy")
    assert got.shape == (3, X_raw.shape[0], 3)
    for outputs in got:  # a DataFrame, JSON records, JSON split
        np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-6)


def test_mlflow_models_predict_cli_on_a_csv_of_whole_numbers(sweep_store, tmp_path):
    from sklearn.datasets import load_digits

    uri = store_of(sweep_store)
    (parent,) = [r for r in all_runs(uri) if r.data.tags.get("nnexp.sweep") == "parent"]
    run = client_for(uri).get_run(parent.data.tags["nnexp.best_run_id"])  # it has the full model
    digits = load_digits()
    rows = digits.data[:4].astype(int)  # raw pixel counts 0..16, as a user writes them
    columns = list(digits.feature_names)[::-1]  # a header in another order than training's
    pd.DataFrame(rows, columns=digits.feature_names)[columns].to_csv(tmp_path / "input.csv",
                                                                       index=False)
    done = subprocess.run(
        [sys.executable, "-m", "mlflow", "models", "predict",
         "-m", model_uri(uri, run.info.run_id),
         "-i", str(tmp_path / "input.csv"), "-t", "csv", "--env-manager", "local",
         "-o", str(tmp_path / "out.json")],
        capture_output=True, text=True, timeout=90,
        env={"MLFLOW_TRACKING_URI": uri, "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    predictions = np.asarray(json.loads((tmp_path / "out.json").read_text())["predictions"])

    client = client_for(uri)
    cfg_dir = Path(client.download_artifacts(run.info.run_id, "config.yaml", str(tmp_path)))
    from omegaconf import OmegaConf

    dataset = load_data(OmegaConf.load(cfg_dir))
    weights = client.download_artifacts(run.info.run_id, "weights.npz", str(tmp_path))
    expected = _engine_probabilities(Path(weights), dataset, rows.astype(np.float64))
    np.testing.assert_allclose(predictions, expected, rtol=1e-5, atol=1e-6)


def test_model_is_named_model_with_its_run_features_example_and_linked_data(make_cfg, store_uri,
                                                                           tmp_path):
    cfg = make_cfg("data=iris", "lr=0.05")
    result = run_job(cfg, run_name="lr=0.05,model.hidden=[16]", verbose=False,
                     overrides=["data=iris", "lr=0.05", "model.hidden=[16]"])
    client = client_for(store_uri)
    run = client.get_run(result.run_id)
    (output,) = run.outputs.model_outputs
    assert output.step == result.loop.steps  # the global step the last epoch ended on
    assert result.run_id in {m.source_run_id for m in client.search_logged_models(
        [run.info.experiment_id])}
    model = client.get_logged_model(output.model_id)
    assert (model.name, model.status.to_proto(), model.source_run_id) == (
        "model", 2, result.run_id)  # READY
    assert model.tags["nnexp.run_name"] == "lr=0.05,model.hidden=[16]"
    # the Models tab's columns: what tells a sweep's children apart (all are named `model`)
    assert model.params == {"data": "iris", "lr": "0.05", "model": "mlp", "model.hidden": "[16]",
                            "optimizer": "sgd", "schedule": "constant"}

    splits = {i.tags[0].value: i.dataset for i in run.inputs.dataset_inputs}
    linked = {m.key: m for m in model.metrics}
    for key in ("test/accuracy", "test/loss", "val/loss", "val/accuracy", "train/loss"):
        assert linked[key].value == run.data.metrics[key], key
        split = splits[key.split("/")[0]]
        assert (linked[key].dataset_name, linked[key].dataset_digest) == (split.name,
                                                                          split.digest), key
    assert (linked["weight_norm/layer1"].dataset_name, linked["epoch"].dataset_digest) == (
        None, None)

    folder = Path(model.artifact_location)  # the local store's files
    example = json.loads((folder / "input_example.json").read_text())
    assert example["columns"] == ["sepal length (cm)", "sepal width (cm)",
                                  "petal length (cm)", "petal width (cm)"]
    from sklearn.datasets import load_iris

    source_rows = {tuple(row) for row in load_iris().data.tolist()}
    assert len(example["data"]) == 3
    assert all(tuple(row) in source_rows for row in example["data"])  # raw values, bit for bit
    meta = client.download_artifacts(result.run_id, "model_meta.json", str(tmp_path))
    assert json.loads(Path(meta).read_text())["feature_names"] == example["columns"]


def test_an_image_model_takes_arrays(image_store):
    import mlflow

    uri = store_of(image_store)
    (run,) = all_runs(uri)
    mlflow.set_tracking_uri(uri)
    try:
        model = mlflow.pyfunc.load_model(model_uri(uri, run.info.run_id))
    finally:
        mlflow.set_tracking_uri(None)
    assert model.metadata.get_input_schema().is_tensor_spec()  # a picture is one array
    from nnexp.data import load_image

    pixels = np.stack([load_image(image_store / "pictures" / c / f"{c}_000.png", (16, 16), "L",
                                  "float64") for c in ("cat", "not_cat")])
    probabilities = model.predict(pixels)
    assert probabilities.shape == (2, 2)
    assert list(probabilities.argmax(axis=1)) == [0, 1]  # cat, not_cat: training pictures


def test_no_model_when_log_model_is_false(make_cfg, store_uri):
    run_job(make_cfg("tracking.log_model=false"), run_name="plain", verbose=False)
    (run,) = all_runs(store_uri)
    assert run.info.status == "FINISHED"
    assert run.outputs.model_outputs == []
    assert client_for(store_uri).search_logged_models([run.info.experiment_id]) == []


def test_logging_a_model_does_not_scan_every_installed_package(make_cfg, store_uri,
                                                               monkeypatch):
    """MLflow's requirement check maps every installed distribution to its modules (1.5 s the
    first time in a process); nnexp's pinned requirements are the installed versions, so the
    check is left out of its `save_model`, and put back after."""
    import mlflow
    from mlflow.utils import environment, requirements_utils

    monkeypatch.setattr(requirements_utils, "_PACKAGES_TO_MODULES", None)
    check = environment.warn_dependency_requirement_mismatches
    result = run_job(make_cfg(), run_name="plain", verbose=False)
    assert requirements_utils._PACKAGES_TO_MODULES is None  # never built
    assert environment.warn_dependency_requirement_mismatches is check
    model = client_for(store_uri).get_logged_model(
        client_for(store_uri).get_run(result.run_id).outputs.model_outputs[0].model_id)
    requirements = (Path(model.artifact_location) / "requirements.txt").read_text().split()
    assert requirements == [f"mlflow=={mlflow.__version__}", f"numpy=={np.__version__}"]
