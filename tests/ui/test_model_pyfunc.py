"""Every run logs a pyfunc model that a fresh process (and `mlflow models predict`) loads and
that predicts what the engine's network predicts, with the training-time scaling."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
from helpers import all_runs, client_for, store_of

from nnexp import engine
from nnexp.experiment import load_data, run_experiment

FRESH = textwrap.dedent("""
    import sys, warnings, numpy as np, mlflow
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mlflow.set_tracking_uri(sys.argv[1])
        model = mlflow.pyfunc.load_model(f"runs:/{sys.argv[2]}/model")
        np.save(sys.argv[4], model.predict(np.load(sys.argv[3])))
    caught = [str(w.message) for w in caught if "noload" not in str(w.message)]
    sys.exit(f"warnings: {caught}" if caught else 0)
""")


def _engine_probabilities(weights: Path, dataset, X_raw: np.ndarray) -> np.ndarray:
    network = engine.load_model(weights)
    return engine.make_loss("cross_entropy").predict(network.predict(dataset.preprocess(X_raw)))


def test_fresh_process_loads_model_and_matches_engine(make_cfg, store_uri, tmp_path):
    cfg = make_cfg("data=wine")  # standardised features: the model must scale raw inputs
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_experiment(cfg, run_name="wine", verbose=False)
    # SQLAlchemy's deprecation of MLflow's own store queries is not ours to fix
    assert [str(w.message) for w in caught if "noload" not in str(w.message)] == []
    dataset = load_data(cfg)
    assert dataset.scaler_mean is not None
    X_raw = dataset.X_test * dataset.scaler_std + dataset.scaler_mean
    np.save(tmp_path / "X.npy", X_raw)
    done = subprocess.run([sys.executable, "-c", FRESH, store_uri, result.run_id,
                           str(tmp_path / "X.npy"), str(tmp_path / "P.npy")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]

    weights = client_for(store_uri).download_artifacts(result.run_id, "weights.npz", str(tmp_path))
    expected = _engine_probabilities(Path(weights), dataset, X_raw)
    got = np.load(tmp_path / "P.npy")
    assert got.shape == (X_raw.shape[0], 3)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5)


def test_mlflow_models_predict_cli_on_csv(sweep_store, tmp_path):
    uri = store_of(sweep_store)
    run = next(r for r in all_runs(uri) if r.info.run_name == "lr=0.1")
    rows = np.random.default_rng(0).uniform(0, 16, size=(4, 64))  # digits: raw pixel values
    np.savetxt(tmp_path / "input.csv", rows, delimiter=",",
               header=",".join(f"x{i}" for i in range(64)), comments="")
    done = subprocess.run(
        [sys.executable, "-m", "mlflow", "models", "predict",
         "-m", f"runs:/{run.info.run_id}/model",
         "-i", str(tmp_path / "input.csv"), "-t", "csv", "--env-manager", "local",
         "-o", str(tmp_path / "out.json")],
        capture_output=True, text=True, timeout=90,
        env={"MLFLOW_TRACKING_URI": uri, "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    predictions = np.asarray(json.loads((tmp_path / "out.json").read_text())["predictions"])
    assert predictions.shape == (4, 10)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)


def test_no_model_when_log_model_is_false(make_cfg, store_uri):
    run_experiment(make_cfg("tracking.log_model=false"), run_name="plain", verbose=False)
    (run,) = all_runs(store_uri)
    assert run.info.status == "FINISHED"
    assert client_for(store_uri).search_logged_models([run.info.experiment_id]) == []


def test_model_carries_the_final_validation_and_test_metrics(make_cfg, store_uri):
    result = run_experiment(make_cfg(), run_name="linked", verbose=False)
    (run,) = all_runs(store_uri)
    (output,) = run.outputs.model_outputs
    assert output.step == result.loop.steps  # the global step the last epoch ended on
    model = client_for(store_uri).get_logged_model(output.model_id)
    linked = {m.key: m.value for m in model.metrics}
    for key in ("test/accuracy", "test/loss", "val/loss", "val/accuracy", "train/loss"):
        assert linked[key] == run.data.metrics[key], key
