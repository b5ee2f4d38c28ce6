"""Runs on a user's own data: a CSV of a built-in set trains to the built-in set's numbers, a
DataFrame and (X, y) arrays go through the Python API and are recorded (name, shapes, digest,
an MLflow dataset), a changed file is caught by reproduce and by sweep.skip_finished (and a
changed image folder by skip_finished), predict reads new rows by column name."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import client_for
from sklearn.datasets import load_iris, load_wine

import nnexp
from nnexp.data import make_image_folder
from nnexp.data.digest import file_digest

QUICK = ("train.epochs=3", "model.hidden=[8]", "tracking.plots=false")


def _wine_csv(path: Path) -> Path:
    bunch = load_wine()
    frame = pd.DataFrame(bunch.data, columns=bunch.feature_names)
    frame["cultivar"] = bunch.target
    frame.to_csv(path, index=False)
    return path


def _houses(path: Path, n: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"size": rng.uniform(20, 200, n).round(1),
                          "color": rng.choice(["red", "green", "blue"], n),
                          "age": rng.integers(0, 50, n)})
    frame["price"] = (frame["size"] * 0.03 + frame["color"].map({"red": 2, "green": 0,
                                                                 "blue": 1})
                      - frame["age"] * 0.02 + rng.normal(0, 0.1, n)).round(3)
    frame.to_csv(path, index=False)
    return frame


def test_a_csv_of_wine_trains_to_the_builtin_sets_test_accuracy(tmp_path):
    path = _wine_csv(tmp_path / "wine.csv")
    off = ("tracking.enabled=false", "seed=7")
    builtin = nnexp.run("data=wine", *QUICK, *off, verbose=False)
    table = nnexp.run("data=csv", f"data.path={path}", "data.target=cultivar", *QUICK, *off,
                      verbose=False)
    assert table.metrics == builtin.metrics  # every final value, bit for bit
    assert 0.5 < table.metrics["test/accuracy"] <= 1


def test_a_regression_csv_learns_and_records_its_file(tmp_path, store_uri):
    path = tmp_path / "houses.csv"
    frame = _houses(path)
    result = nnexp.run("data=csv", f"data.path={path}", "data.target=price",
                       "data.categorical=[color]", "optimizer=adam", "lr=0.01", "train.epochs=40",
                       "model.hidden=[16]", "tracking.plots=false", f"tracking.uri={store_uri}",
                       verbose=False)
    assert result.metrics["test/loss"] < 0.25 * frame["price"].var()  # it learned the prices
    run = client_for(store_uri).get_run(result.run_id)
    digest = file_digest(path)
    assert run.data.tags["nnexp.data_digest"] == digest == run.data.params["data.digest"]
    assert run.data.params["dataset.source"] == str(path)
    assert run.data.params["dataset.task"] == "regression"
    assert run.data.params["dataset.categorical"] == "color"
    inputs = {d.tags[0].value: d.dataset for d in run.inputs.dataset_inputs}
    assert set(inputs) == {"source", "train", "val", "test"}
    assert inputs["source"].digest == digest[:36] and str(path) in inputs["source"].source


def test_a_dataframe_and_arrays_through_the_api_are_recorded(store_uri):
    bunch = load_iris(as_frame=True)
    frame = bunch.frame.drop(columns="target")
    frame["species"] = [str(bunch.target_names[t]) for t in bunch.target]
    cfg = nnexp.compose(*QUICK, f"tracking.uri={store_uri}")
    from_frame = nnexp.run(cfg, data=frame, target="species", verbose=False)
    arrays = nnexp.run(cfg, data=(bunch.data.to_numpy(), bunch.target.to_numpy()),
                       verbose=False)
    client = client_for(store_uri)
    run = client.get_run(from_frame.run_id)
    assert run.data.params["dataset.name"] == "dataframe"
    assert run.data.params["dataset.source"] == "pandas DataFrame 150 x 5"
    assert run.data.params["data.target"] == "species"
    assert run.data.tags["nnexp.data_digest"] == run.data.params["data.digest"]
    assert len(run.data.params["data.digest"]) == 64
    assert run.data.params["dataset.n_train"] == "90"
    other = client.get_run(arrays.run_id)
    assert other.data.params["dataset.source"].startswith("numpy X (150, 4) float64, y (150,)")
    assert other.data.params["data.digest"] != run.data.params["data.digest"]
    assert cfg.data.name == "digits"  # the caller's config is untouched
    sweep = nnexp.sweep("lr=0.1,0.05", *QUICK, f"tracking.uri={store_uri}", data=frame,
                        target="species", verbose=False)
    assert sweep.status == "FINISHED" and len(sweep.runs) == 2
    assert all(client.get_run(r.run_id).data.params["dataset.name"] == "dataframe"
               for r in sweep.runs)


def test_data_given_from_python_is_not_in_another_process(store_uri):
    from nnexp.reproduce import reproduce

    frame = pd.DataFrame({"a": np.arange(30.0), "y": [0, 1, 2] * 10})
    result = nnexp.run(*QUICK, f"tracking.uri={store_uri}", data=frame, target="y",
                       verbose=False)
    with pytest.raises(Exception, match=r"data: dataframe given in memory to nnexp.run "
                                        r"\(digest \w{12}\.\.\.\) are not in this process"):
        reproduce([result.run_id, "--tracking-uri", store_uri, "--quiet"])


def test_a_changed_csv_is_caught_by_reproduce_and_skip_finished(tmp_path, store_uri):
    from nnexp.reproduce import reproduce

    path = _wine_csv(tmp_path / "wine.csv")
    args = ("data=csv", f"data.path={path}", "data.target=cultivar", *QUICK,
            "sweep.skip_finished=true", f"tracking.uri={store_uri}")
    first = nnexp.run(*args, verbose=False)
    again = nnexp.run(*args, verbose=False)
    assert again.reused and again.run_id == first.run_id
    assert _reproduce(reproduce, first.run_id, store_uri)[0] == 0

    text = path.read_text().splitlines()
    path.write_text("\n".join([text[0], text[2], text[1], *text[3:]]) + "\n")  # rows swapped
    code, out = _reproduce(reproduce, first.run_id, store_uri)
    assert code == 1
    assert out.splitlines()[0].startswith(f"different: data.path: '{path}' changed since it "
                                          "was recorded: its sha256 is now ")
    assert "not retrained" in out.splitlines()[0] and len(out.splitlines()) == 1
    changed = nnexp.run(*args, verbose=False)
    assert not changed.reused and changed.run_id != first.run_id


def _reproduce(reproduce, run_id: str, uri: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = reproduce([run_id, "--tracking-uri", uri, "--quiet"])
    return code, out.getvalue()


def test_a_changed_image_folder_is_a_new_configuration_for_skip_finished(tmp_path, store_uri):
    folder = make_image_folder(tmp_path / "pictures", per_class=6, size=(8, 8))
    args = ("data=images", f"data.image_dir={folder}", "data.image_size=[8,8]", *QUICK,
            "sweep.skip_finished=true", f"tracking.uri={store_uri}")
    first = nnexp.run(*args, verbose=False)
    assert nnexp.run(*args, verbose=False).reused
    make_image_folder(tmp_path / "other", per_class=6, size=(8, 8), seed=5)
    picture = next((tmp_path / "other" / "cat").iterdir())
    picture.replace(folder / "cat" / "added.png")
    changed = nnexp.run(*args, verbose=False)
    assert not changed.reused and changed.run_id != first.run_id


def test_predict_reads_columns_by_name_in_any_order(tmp_path, store_uri, capsys):
    import mlflow

    from nnexp.predict import predict

    path = tmp_path / "houses.csv"
    frame = _houses(path)
    result = nnexp.run("data=csv", f"data.path={path}", "data.target=price",
                       "data.categorical=[color]", "optimizer=adam", "lr=0.01", *QUICK,
                       f"tracking.uri={store_uri}", verbose=False)
    rows = frame.drop(columns="price").head(4)
    rows.to_csv(tmp_path / "ordered.csv", index=False)
    shuffled = rows[["color", "age", "size"]].assign(comment="from the shop")
    shuffled.to_csv(tmp_path / "rows.csv", index=False)
    capsys.readouterr()
    assert predict([result.run_id, str(tmp_path / "ordered.csv"), "--tracking-uri",
                    store_uri]) == 0
    ordered = capsys.readouterr()
    assert predict([result.run_id, str(tmp_path / "rows.csv"), "--tracking-uri",
                    store_uri]) == 0
    reordered = capsys.readouterr()
    assert reordered.out == ordered.out and len(ordered.out.splitlines()) == 4
    assert reordered.err == "note: ignored 1 column(s) the run did not train on: comment\n"
    mlflow.set_tracking_uri(store_uri)
    try:
        model = mlflow.pyfunc.load_model(result.model_uri)
    finally:
        mlflow.set_tracking_uri(None)
    values = np.asarray(model.predict(shuffled.drop(columns="comment"))).ravel()
    assert [f"{v:.6g}" for v in values] == ordered.out.split()


def test_predict_names_a_missing_column_and_an_unknown_category(tmp_path, store_uri):
    from nnexp.cli import UserAbort
    from nnexp.predict import predict

    path = tmp_path / "houses.csv"
    frame = _houses(path)
    result = nnexp.run("data=csv", f"data.path={path}", "data.target=price",
                       "data.categorical=[color]", *QUICK, "tracking.log_model=false",
                       f"tracking.uri={store_uri}", verbose=False)
    frame.drop(columns=["price", "age"]).head(2).to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(UserAbort, match=r"short.csv: column 'age' is missing; this run was "
                                        r"trained on the columns size, color, age"):
        predict([result.run_id, str(tmp_path / "short.csv"), "--tracking-uri", store_uri])
    odd = frame.drop(columns="price").head(2).assign(color=["red", "purple"])
    odd.to_csv(tmp_path / "odd.csv", index=False)
    with pytest.raises(UserAbort, match=r"odd.csv: line 3, column 'color': 'purple' is not one "
                                        r"of the categories the run was trained on \(blue, "
                                        r"green, red\)"):
        predict([result.run_id, str(tmp_path / "odd.csv"), "--tracking-uri", store_uri])
