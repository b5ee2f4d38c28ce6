"""A user's own data (data=csv, parquet, npz; arrays and DataFrames given from Python) becomes the
same seeded, split, scaled arrays as a built-in set; every mistake is one line naming the column
and the row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits, load_wine

from nnexp.data import DataError, load_dataset
from nnexp.data import scaling as scaling_module
from nnexp.data.digest import file_digest
from nnexp.data.in_memory import forget, give

SPLITS = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")


def _write_set(loader, path: Path, target: str) -> Path:
    bunch = loader()
    frame = pd.DataFrame(bunch.data, columns=bunch.feature_names)
    frame[target] = bunch.target
    frame.to_csv(path, index=False)
    return path


def _same_arrays(a, b) -> None:
    for name in SPLITS:
        left, right = getattr(a, name), getattr(b, name)
        assert left.dtype == right.dtype and np.array_equal(left, right), name


@pytest.mark.parametrize(("loader", "name"), [(load_digits, "digits"), (load_wine, "wine")])
def test_a_csv_of_a_builtin_set_gives_its_arrays_bit_for_bit(tmp_path, loader, name):
    path = _write_set(loader, tmp_path / f"{name}.csv", "label")
    builtin = load_dataset(name, rng_seed=3)
    table = load_dataset("csv", rng_seed=3, path=str(path), target="label")
    _same_arrays(table, builtin)
    assert table.feature_names == builtin.feature_names
    assert table.task == "classification" and table.n_classes == builtin.n_classes
    assert table.digest == file_digest(path) and table.source == str(path)
    assert table.table.columns == builtin.feature_names and table.table.target == "label"


def test_parquet_a_dataframe_and_tsv_read_like_the_csv(tmp_path):
    frame = pd.read_csv(_write_set(load_wine, tmp_path / "wine.csv", "label"))
    frame.to_parquet(tmp_path / "wine.parquet")
    frame.to_csv(tmp_path / "wine.tsv", sep="\t", index=False)
    frame.to_csv(tmp_path / "wine_semi.csv", sep=";", index=False)
    csv = load_dataset("csv", rng_seed=0, path=str(tmp_path / "wine.csv"), target="label")
    parquet = load_dataset("parquet", rng_seed=0, path=str(tmp_path / "wine.parquet"),
                           target="label")
    tsv = load_dataset("csv", rng_seed=0, path=str(tmp_path / "wine.tsv"), target="label",
                       delimiter="tab")
    semi = load_dataset("csv", rng_seed=0, path=str(tmp_path / "wine_semi.csv"),
                        target="label", delimiter=";")
    name, digest, _ = give(frame)
    try:
        given = load_dataset(name, rng_seed=0, target="label", digest=digest)
    finally:
        forget(digest)
    for other in (parquet, tsv, semi, given):
        _same_arrays(other, csv)
    assert given.name == "dataframe" and given.source == "pandas DataFrame 178 x 14"


def test_features_choose_and_order_the_columns(tmp_path):
    path = _write_set(load_wine, tmp_path / "wine.csv", "label")
    ds = load_dataset("csv", rng_seed=0, path=str(path), target="label",
                      features=["proline", "alcohol"], standardize=False)
    frame = pd.read_csv(path)
    assert ds.feature_names == ["proline", "alcohol"] and ds.n_features == 2
    rows = np.concatenate([ds.X_train, ds.X_val, ds.X_test]).astype(np.float64)
    expected = frame[["proline", "alcohol"]].to_numpy()
    assert {tuple(r) for r in rows.round(3)} == {tuple(r) for r in expected.round(3)}


def test_text_target_gives_class_names_and_regression_is_inferred(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    frame["kind"] = np.where(frame.a > 0, "big", "small")
    frame["price"] = 3 * frame.a - frame.b + 0.5
    frame.to_csv(tmp_path / "t.csv", index=False)
    kinds = load_dataset("csv", rng_seed=0, path=str(tmp_path / "t.csv"), target="kind",
                         features=["a", "b"])
    assert kinds.task == "classification" and kinds.class_names == ["big", "small"]
    assert kinds.notes[0].startswith("data.task: classification, inferred from column 'kind'")
    prices = load_dataset("csv", rng_seed=0, path=str(tmp_path / "t.csv"), target="price",
                          features=["a", "b"])
    assert prices.task == "regression" and prices.y_train.shape[1] == 1
    assert prices.notes[0].startswith("data.task: regression, inferred")
    forced = load_dataset("csv", rng_seed=0, path=str(tmp_path / "t.csv"), target="price",
                          features=["a", "b"], task="regression")
    assert not forced.notes[0].startswith("data.task")


def test_categorical_columns_are_one_hot_encoded(tmp_path):
    frame = pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
                          "color": ["red", "blue", "red", "green", "blue"] * 2,
                          "y": [0, 1] * 5})
    frame.to_csv(tmp_path / "c.csv", index=False)
    ds = load_dataset("csv", rng_seed=0, path=str(tmp_path / "c.csv"), target="y",
                      categorical=["color"], standardize=False, dtype="float64",
                      val_fraction=0.1, test_fraction=0.1)
    assert ds.feature_names == ["size", "color=blue", "color=green", "color=red"]
    assert ds.table.categories == {"color": ["blue", "green", "red"]}
    rows = np.concatenate([ds.X_train, ds.X_val, ds.X_test])
    for row in rows:  # every row's one-hot block names its own color
        original = frame.loc[frame["size"] == row[0], "color"].item()
        assert ds.feature_names[1 + int(np.argmax(row[1:]))] == f"color={original}"
        assert row[1:].sum() == 1


def test_npz_arrays_with_and_without_names(tmp_path):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(40, 3)), np.repeat([0, 1, 2, 1], 10)
    np.savez(tmp_path / "named.npz", X=X, y=y, feature_names=np.array(["u", "v", "w"]),
             class_names=np.array(["low", "mid", "high"]))
    np.savez(tmp_path / "plain.npz", X=X, y=y * 2 + 1)
    np.savez(tmp_path / "values.npz", X=X, y=y * 2.5)
    named = load_dataset("npz", rng_seed=0, path=str(tmp_path / "named.npz"))
    assert named.feature_names == ["u", "v", "w"] and named.class_names == ["low", "mid", "high"]
    assert named.task == "classification" and named.digest == file_digest(tmp_path / "named.npz")
    plain = load_dataset("npz", rng_seed=0, path=str(tmp_path / "plain.npz"))
    assert plain.class_names == ["1", "3", "5"] and plain.feature_names == ["x0", "x1", "x2"]
    assert load_dataset("npz", rng_seed=0, path=str(tmp_path / "values.npz")).task == "regression"
    forced = load_dataset("npz", rng_seed=0, path=str(tmp_path / "plain.npz"), task="regression")
    assert forced.task == "regression"


def _table(tmp_path: Path, text: str, name: str = "t.csv") -> str:
    (tmp_path / name).write_text(text)
    return str(tmp_path / name)


@pytest.mark.parametrize(("text", "kwargs", "expected"), [
    ("a,b,y\n1,2,0\n3,,1\n5,6,0\n", {},
     r"data.path '.*t.csv' line 3, column 'b': missing value"),
    ("a,b,y\n1,2,0\n3,4,1\n5,6,\n", {},
     r"data.path '.*t.csv' line 4, column 'y': missing value"),
    ("a,b,y\n1,2,0\n3,x,1\n5,6,0\n", {},
     r"data.path '.*t.csv' line 3, column 'b': 'x' is not a number; a text column is one-hot "
     r"encoded when listed in data.categorical \(data.categorical=\[b\]\)"),
    ("a,b,y\n1,2,0\n3,4,0\n5,6,0\n", {},
     r"data.target: column 'y' has one value \('0'\) in all 3 rows; classification needs"),
    ("a,a,y\n1,2,0\n3,4,1\n5,6,0\n", {},
     r"data.path: '.*t.csv' line 1: column 'a' is named twice \(columns 1 and 2\)"),
    ("a,b,y\n1,2,0\n3,4,1\n", {"target": "z"},
     r"data.target: column 'z' is not in '.*t.csv' \(its columns: a, b, y\)"),
    ("a,b,y\n1,2,0\n3,4,1\n", {"features": ["a", "q"]},
     r"data.features: column 'q' is not in '.*t.csv' \(its columns: a, b, y\)"),
    ("1,2,0\n3,4,1\n", {}, r"data.path: '.*t.csv' line 1 holds numbers, not column names"),
    ("a;b;y\n1;2;0\n3;4;1\n", {},
     r"data.path: '.*t.csv' line 1 is one column 'a;b;y'; separated by semicolons\? set "
     r"data.delimiter=semicolon"),
    ("a,b,y\n1,2,x\n3,4,y\n", {"task": "regression"},
     r"data.target: column 'y': 'x' \(row 1\) is not a number; regression needs numbers"),
    ("a,b,y\n1,2,0\n3,4,1\n", {"categorical": ["y"]},
     r"data.categorical: column 'y' is not a feature \(it is the target\)"),
    ("", {}, r"data.path: '.*t.csv' is empty; expected a header row"),
])
def test_a_bad_table_is_one_line_naming_column_and_row(tmp_path, text, kwargs, expected):
    path = _table(tmp_path, text)
    with pytest.raises(DataError, match=expected) as caught:
        load_dataset("csv", rng_seed=0, path=path, **{"target": "y", **kwargs})
    assert "\n" not in str(caught.value)


def test_a_file_over_the_memory_check_is_refused_with_its_size_before_reading(tmp_path,
                                                                              monkeypatch):
    import nnexp.config.memory as memory
    import nnexp.data.loader as loader

    path = _table(tmp_path, "a,b,y\n" + "1.5,2.5,0\n3.5,4.5,1\n" * 5000)
    monkeypatch.setattr(memory, "available_memory", lambda: 100_000)
    reads = []
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: reads.append(a))
    monkeypatch.setattr(loader, "file_digest", lambda *a: reads.append(a))  # nor hashed
    with pytest.raises(DataError, match=r"data.path: '.*t.csv' is 97.7 KiB \(about 3e\+04 "
                                        r"values\); reading it needs about .* and 97.7 KiB is "
                                        r"available"):
        load_dataset("csv", rng_seed=0, path=path, target="y")
    assert reads == []


def test_a_changed_file_is_refused_when_its_digest_is_given(tmp_path):
    path = _table(tmp_path, "a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n")
    before = file_digest(path)
    assert load_dataset("csv", rng_seed=0, path=path, target="y", digest=before).digest == before
    _table(tmp_path, "a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,9,1\n")
    with pytest.raises(DataError, match=r"data.path: '.*t.csv' changed since it was recorded: "
                                        r"its sha256 is now \w{12}\.\.\., the record says "
                                        rf"{before[:12]}\.\.\."):
        load_dataset("csv", rng_seed=0, path=path, target="y", digest=before)


def test_large_training_rows_are_scaled_in_blocks_to_the_same_statistics(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, size=(50_000, 5))
    rows = rng.permutation(50_000)[:30_000]
    exact = scaling_module.fit_scaler(X[rows])
    monkeypatch.setattr(scaling_module, "LARGE_BYTES", 0)
    blocks = scaling_module.fit_scaler_rows(X, rows)
    np.testing.assert_allclose(blocks[0], exact[0], rtol=1e-12)
    np.testing.assert_allclose(blocks[1], exact[1], rtol=1e-12)
    assert blocks[2] == exact[2] == 0
