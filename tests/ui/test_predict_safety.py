"""`nnexp.predict` runs no code from the artifact store, checks what it reads there, refuses
non-finite rows by name, and predicts every picture of a folder."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import client_for, model_uri

from nnexp import predict as predict_cli
from nnexp.config.paths import conf_dir
from nnexp.experiment.build import load_data
from nnexp.sweeps.job import run_job

PAYLOAD = "import pathlib; pathlib.Path({target!r}).write_text('code from the store ran')\n"

LOAD_TWICE = textwrap.dedent("""
    import pathlib, sys, mlflow
    mlflow.set_tracking_uri(sys.argv[1])
    outputs = mlflow.MlflowClient().get_run(sys.argv[2]).outputs.model_outputs
    model_uri = f"models:/{outputs[0].model_id}"
    mlflow.pyfunc.load_model(model_uri)  # the tampered code
    pathlib.Path(sys.argv[3]).write_text(sys.argv[4])  # now the pickled model
    try:
        mlflow.pyfunc.load_model(model_uri)
    except Exception:
        pass  # the swapped pickle is no model: the payload ran while it was read
""")


class _Payload:
    """Unpickling this runs code: what a pickled model swapped into the store can do."""

    def __init__(self, target: Path) -> None:
        self.target = str(target)

    def __reduce__(self):  # noqa: ANN204
        return exec, (PAYLOAD.format(target=self.target),)


def _run(argv: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.argv", ["nnexp.predict", *argv])
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    code = 0
    try:
        predict_cli.main()
    except SystemExit as exc:
        code = exc.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def _wine_store(tmp_path_factory):
    """One standardised-features run (the scaler matters) with its pyfunc model, per module."""
    from hydra import compose, initialize_config_dir
    from omegaconf import open_dict

    from nnexp.config import register_configs

    register_configs()
    uri = f"sqlite:///{tmp_path_factory.mktemp('wine') / 'mlruns' / 'mlflow.db'}"
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose("config", overrides=["data=wine", "train.epochs=2", "model.hidden=[16]",
                                               "tracking.plots=false"])
    with open_dict(cfg):
        cfg.tracking.uri = uri
    run_id = run_job(cfg, run_name="wine", verbose=False).run_id
    dataset = load_data(cfg)
    return uri, run_id, dataset.X_test * dataset.scaler_std + dataset.scaler_mean


@pytest.fixture
def wine_run(_wine_store, tmp_path):
    """(store URI, run id, raw test rows); whatever a test tampers with is restored after it."""
    uri, run_id, X_raw = _wine_store
    folders = _folders(uri, run_id)
    for i, folder in enumerate(folders):
        shutil.copytree(folder, tmp_path / f"pristine{i}")
    yield uri, run_id, X_raw
    for i, folder in enumerate(folders):
        shutil.rmtree(folder)
        shutil.copytree(tmp_path / f"pristine{i}", folder)


def _folders(store_uri: str, run_id: str) -> tuple[Path, Path]:
    """(the run's artifact folder, its logged model's folder) in the local store."""
    client = client_for(store_uri)
    run = client.get_run(run_id)
    (output,) = run.outputs.model_outputs
    return (Path(run.info.artifact_uri),
            Path(client.get_logged_model(output.model_id).artifact_location))


def _probabilities(out: str) -> np.ndarray:
    """Class probabilities printed by predict, in class order (class_0, class_1, class_2)."""
    rows = []
    for line in out.strip().splitlines():
        ranked = (item.split() for item in line.split("(", 1)[1].rstrip(")").split("  "))
        rows.append([float(p) for _, p in sorted(ranked)])
    return np.array(rows)


def test_tampered_model_code_and_pickle_never_run(wine_run, tmp_path, monkeypatch, capsys):
    store_uri, run_id, X_raw = wine_run
    np.savetxt(tmp_path / "rows.csv", X_raw[:5], delimiter=",")
    import mlflow
    import pandas as pd

    mlflow.set_tracking_uri(store_uri)
    model = mlflow.pyfunc.load_model(model_uri(store_uri, run_id))
    names = model.metadata.get_input_schema().input_names()
    served = model.predict(pd.DataFrame(X_raw[:5], columns=names))
    mlflow.set_tracking_uri(None)
    capsys.readouterr()  # MLflow's download progress

    _, model_dir = _folders(store_uri, run_id)
    code_ran, pickle_ran = tmp_path / "code_ran", tmp_path / "pickle_ran"
    code_file = model_dir / "pyfunc_model.py"
    code_file.write_text(PAYLOAD.format(target=str(code_ran)) + code_file.read_text())
    code, out, err = _run([run_id, str(tmp_path / "rows.csv"), "--tracking-uri", store_uri],
                          monkeypatch, capsys)
    assert (code, err) == (0, ""), err
    np.testing.assert_allclose(_probabilities(out), served, atol=6e-4)  # printed to 3 decimals

    mlmodel = (model_dir / "MLmodel").read_text()
    (model_dir / "python_model.pkl").write_bytes(pickle.dumps(_Payload(pickle_ran)))
    (model_dir / "MLmodel").write_text(_pickled(mlmodel))
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")  # even where allowed
    assert _run([run_id, str(tmp_path / "rows.csv"), "--tracking-uri", store_uri],
                monkeypatch, capsys)[:2] == (0, out)
    assert not code_ran.exists() and not pickle_ran.exists()

    # the same store loaded as an MLflow model runs both payloads: the tampering is real
    (model_dir / "MLmodel").write_text(mlmodel)
    done = subprocess.run([sys.executable, "-c", LOAD_TWICE, store_uri, run_id,
                           str(model_dir / "MLmodel"), _pickled(mlmodel)],
                          capture_output=True, text=True, timeout=120)
    assert code_ran.exists() and pickle_ran.exists(), done.stderr[-2000:]


def _pickled(mlmodel: str) -> str:
    """The MLmodel of a models-from-code model edited to load python_model.pkl instead."""
    lines = [line for line in mlmodel.splitlines() if "model_code_path:" not in line]
    return "\n".join(lines).replace("loader_module: mlflow.pyfunc.loaders.code_model",
                                    "loader_module: mlflow.pyfunc.model\n"
                                    "    python_model: python_model.pkl") + "\n"


def _save(path: Path, **arrays: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _architecture(**changes) -> np.ndarray:
    arch = {"dtype": "float32", "layers": [{"type": "dense", "n_inputs": 13, "n_outputs": 3}]}
    arch.update(changes)
    return np.array(json.dumps(arch))


TAMPERED = {
    "model_meta.json": [
        ("not json {", "model_meta.json is not JSON"),
        (json.dumps(["a"]), "model_meta.json is not a JSON object"),
        ("task", "model_meta.json: task 'exec'; allowed: classification, regression"),
        ("scaler", "model_meta.json: scaler_mean is not a list of 13 finite numbers"),
        ("classes", "model_meta.json: 2 class names for a cross_entropy network with 3 outputs"),
    ],
    "weights.npz": [
        ("garbage", "weights.npz is not a readable .npz file"),
        ("pickle", "weights.npz: member 'layer1.weight.npy' claims (1,) object values"),
        ("huge", "weights.npz: the architecture needs 400004000000 bytes of weights, the file "
                 "holds"),
        ("nan", "weights.npz holds NaN or inf weights (did the run diverge?)"),
    ],
}


def _tamper(folder: Path, name: str, how: str) -> None:
    path = folder / name
    if name == "model_meta.json":
        meta = json.loads(path.read_text())
        edits = {"task": {"task": "exec"}, "scaler": {"scaler_mean": [0.0] * 12},
                 "classes": {"class_names": ["a", "b"]}}
        path.write_text(json.dumps({**meta, **edits[how]}) if how in edits else how)
    elif how == "garbage":
        path.write_bytes(b"PK\x03\x04 not really a zip")
    elif how == "pickle":
        _save(path, __architecture__=_architecture(),
              **{"layer1.weight": np.array([object()], dtype=object)})
    elif how == "huge":
        _save(path, __architecture__=_architecture(
            layers=[{"type": "dense", "n_inputs": 100_000, "n_outputs": 1_000_000}]))
    else:
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        arrays["layer1.weight"][0, 0] = np.nan
        _save(path, **arrays)


@pytest.mark.parametrize(("name", "how", "message"),
                         [(name, how, message) for name, cases in TAMPERED.items()
                          for how, message in cases])
def test_tampered_record_is_one_line_exit_2(name, how, message, wine_run, tmp_path, monkeypatch,
                                            capsys):
    store_uri, run_id, _ = wine_run
    folder = Path(client_for(store_uri).get_run(run_id).info.artifact_uri)
    _tamper(folder, name, how)
    (tmp_path / "row.csv").write_text(",".join(["1"] * 13) + "\n")
    code, out, err = _run([run_id, str(tmp_path / "row.csv"), "--tracking-uri", store_uri],
                          monkeypatch, capsys)
    assert (code, out) == (2, ""), err
    (line,) = err.splitlines()
    assert line.startswith(f"nnexp.predict: error: run '{run_id}': {message}"), line


def test_runs_logged_before_model_meta_read_the_models_meta_as_data(wine_run, tmp_path,
                                                                   monkeypatch, capsys):
    store_uri, run_id, X_raw = wine_run
    np.savetxt(tmp_path / "rows.csv", X_raw[:3], delimiter=",")
    argv = [run_id, str(tmp_path / "rows.csv"), "--tracking-uri", store_uri]
    code, expected, _ = _run(argv, monkeypatch, capsys)
    assert code == 0
    run_dir, _ = _folders(store_uri, run_id)
    (run_dir / "model_meta.json").unlink()
    assert _run(argv, monkeypatch, capsys) == (0, expected, "")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999", "NaN"])
def test_non_finite_csv_values_are_refused_by_line_and_column(value, wine_run, tmp_path,
                                                             monkeypatch, capsys):
    store_uri, run_id, X_raw = wine_run
    names = _meta(store_uri, run_id)["feature_names"]
    header = ",".join(names)
    rows = [",".join(repr(float(v)) for v in row) for row in X_raw[:3]]
    cells = rows[1].split(",")
    cells[4] = value
    rows[1] = ",".join(cells)
    (tmp_path / "rows.csv").write_text("\n".join([header, rows[0], "", *rows[1:]]) + "\n")
    code, out, err = _run([run_id, str(tmp_path / "rows.csv"), "--tracking-uri", store_uri],
                          monkeypatch, capsys)
    assert (code, out) == (2, "")
    assert err == (f"nnexp.predict: error: {tmp_path / 'rows.csv'}: line 4, column 5 ({names[4]}): "
                   f"'{value}' is not a finite number; the network cannot predict from NaN or "
                   "infinity\n")


def test_values_overflowing_the_dtype_are_refused_by_line(wine_run, tmp_path, monkeypatch,
                                                          capsys):
    store_uri, run_id, _ = wine_run
    (tmp_path / "rows.csv").write_text(",".join(["1"] * 13) + "\n" + ",".join(["1e300"] * 13))
    code, out, err = _run([run_id, str(tmp_path / "rows.csv"), "--tracking-uri", store_uri],
                          monkeypatch, capsys)
    assert (code, out) == (2, "")
    assert err == (f"nnexp.predict: error: {tmp_path / 'rows.csv'}: line 2: the network's "
                   "output is not finite for this row (values too large for float32?)\n")


def test_a_folder_predicts_every_picture_and_reports_unreadable_ones(image_store, tmp_path,
                                                                     monkeypatch, capsys):
    from helpers import all_runs

    uri = f"sqlite:///{image_store / 'mlruns' / 'mlflow.db'}"
    (run,) = all_runs(uri)
    folder = tmp_path / "photos"
    shutil.copytree(image_store / "pictures", folder)
    shutil.copy(folder / "cat" / "cat_001.png", folder / "cat" / os.fsdecode(b"caf\xe9.png"))
    argv = [run.info.run_id, str(folder), "--tracking-uri", uri]
    code, out, err = _run(argv, monkeypatch, capsys)
    pictures = sorted(folder.rglob("*.png"))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    names = [predict_cli.shown(p) for p in pictures]  # a non-UTF-8 name is printed escaped
    assert f"{folder}/cat/caf\\xe9.png" in names
    assert [line.split(": ", 1)[0] for line in lines] == names
    for picture, name, line in zip(pictures, names, lines, strict=True):
        single = _run([run.info.run_id, str(picture), "--tracking-uri", uri], monkeypatch, capsys)
        assert line == f"{name}: {single[1].strip()}"  # the same answer as one by one
    assert sum(line.split(": ", 1)[1].startswith(p.parent.name + "  ")
               for p, line in zip(pictures, lines, strict=True)) >= len(pictures) - 2

    (folder / "cat" / "broken.png").write_bytes(b"not a picture")
    (folder / "not_cat" / "truncated.jpg").write_bytes((folder / "cat" / "cat_000.png")
                                                       .read_bytes()[:60])
    (folder / "notes.txt").write_text("hello")
    code, out, err = _run(argv, monkeypatch, capsys)
    assert code == 2
    assert out.splitlines() == lines  # the readable pictures are all still predicted
    assert err.splitlines() == [
        "note: skipped 1 file(s) that are not pictures: notes.txt",
        f"nnexp.predict: error: cannot read image '{folder / 'cat' / 'broken.png'}' (truncated "
        "or not an image)",
        f"nnexp.predict: error: cannot read image '{folder / 'not_cat' / 'truncated.jpg'}' "
        "(truncated or not an image)",
        f"nnexp.predict: error: 2 of {len(pictures) + 2} pictures in '{folder}' could not be "
        "read (listed above)"]


def _meta(store_uri: str, run_id: str) -> dict:
    return json.loads((_folders(store_uri, run_id)[0] / "model_meta.json").read_text())


def test_class_names_reach_the_terminal_escaped_and_cut(wine_run, tmp_path, monkeypatch,
                                                        capsys):
    """A class name is the record's text, not the terminal's: an escape sequence in it (colour,
    window title, a bell) is printed as its escape, a 100 000-character name is cut."""
    store_uri, run_id, X_raw = wine_run
    meta_path = _folders(store_uri, run_id)[0] / "model_meta.json"
    names = ["\x1b[31mred\x1b]0;owned\x07", "x" * 100_000, "right\u202eto-left"]
    meta_path.write_text(json.dumps({**_meta(store_uri, run_id), "class_names": names}))
    np.savetxt(tmp_path / "rows.csv", X_raw[:3], delimiter=",")
    code, out, err = _run([run_id, str(tmp_path / "rows.csv"), "--tracking-uri", store_uri],
                          monkeypatch, capsys)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == 3
    assert all(ch.isprintable() for ch in out.replace("\n", "")), out[:300]
    assert all(len(line) < 400 for line in lines), [len(line) for line in lines]
    assert "\\x1b[31mred\\x1b]0;owned\\x07" in out and "right\\u202eto-left" in out
    cut = predict_cli.printable(names[1])
    assert cut == "x" * (predict_cli.MAX_NAME - 1) + "\u2026" and cut in out


def _two_rows(tmp_path: Path, X_raw: np.ndarray, first: list[str] | None = None,
              header: str | None = None) -> Path:
    rows = [[repr(float(v)) for v in row] for row in X_raw[:2]]
    if first is not None:
        rows[0][: len(first)] = first
    lines = ([header] if header else []) + [",".join(row) for row in rows]
    (tmp_path / "rows.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "rows.csv"


def test_a_typo_in_the_first_row_is_refused_not_taken_for_a_header(wine_run, tmp_path,
                                                                  monkeypatch, capsys):
    store_uri, run_id, X_raw = wine_run
    argv = ["--tracking-uri", store_uri]
    rows = _two_rows(tmp_path, X_raw, first=["O.2"])
    code, out, err = _run([run_id, str(rows), *argv], monkeypatch, capsys)
    assert (code, out) == (2, "")
    assert err == f"nnexp.predict: error: {rows}: line 1, column 1: 'O.2' is not a number\n"

    names = _meta(store_uri, run_id)["feature_names"]
    rows = _two_rows(tmp_path, X_raw, header=",".join(names))
    code, out, err = _run([run_id, str(rows), *argv], monkeypatch, capsys)
    assert (code, err) == (0, "") and len(out.splitlines()) == 2  # the names: a header

    rows = _two_rows(tmp_path, X_raw, header=",".join(f"c{i}" for i in range(13)))
    code, out, err = _run([run_id, str(rows), *argv], monkeypatch, capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"nnexp.predict: error: {rows}: line 1, column 1: 'c0' is not a "
                          f"number (a header row must name the run's features: {names[0]}, ")
    assert len(err.splitlines()) == 1

    meta_path = _folders(store_uri, run_id)[0] / "model_meta.json"  # a run that named nothing
    meta_path.write_text(json.dumps({**_meta(store_uri, run_id), "feature_names": None}))
    rows = _two_rows(tmp_path, X_raw, first=["O.2"])
    code, out, err = _run([run_id, str(rows), *argv], monkeypatch, capsys)
    assert (code, out) == (2, "") and "line 1, column 1: 'O.2' is not a number" in err
    rows = _two_rows(tmp_path, X_raw, header=",".join(f"c{i}" for i in range(13)))
    code, out, err = _run([run_id, str(rows), *argv], monkeypatch, capsys)
    assert (code, err) == (0, "") and len(out.splitlines()) == 2  # mostly text: a header
