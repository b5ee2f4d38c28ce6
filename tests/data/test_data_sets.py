"""Shapes, dtypes and labels of every built-in (non-image) dataset."""

import numpy as np
import pytest

from nnexp.data import DATASETS, Dataset, load_dataset

EXPECTED = {  # name: (n_total, n_features, class_names or None for regression)
    "digits": (1797, 64, [str(i) for i in range(10)]),
    "iris": (150, 4, ["setosa", "versicolor", "virginica"]),
    "wine": (178, 13, ["class_0", "class_1", "class_2"]),
    "breast_cancer": (569, 30, ["malignant", "benign"]),
    "moons": (300, 2, ["upper", "lower"]),
    "circles": (300, 2, ["outer", "inner"]),
    "xor": (300, 2, ["same_sign", "opposite_sign"]),
    "line": (300, 1, None),
}


def test_datasets_tuple() -> None:
    assert DATASETS == (
        "digits",
        "iris",
        "wine",
        "breast_cancer",
        "moons",
        "circles",
        "xor",
        "line",
        "images",
        "csv",
        "parquet",
        "npz",
        "arrays",
        "dataframe",
    )
    user_data = {"images", "csv", "parquet", "npz", "arrays", "dataframe"}  # a user's own
    assert set(EXPECTED) | user_data == set(DATASETS)


@pytest.mark.parametrize("name", list(EXPECTED))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_shapes_dtypes_labels(name: str, dtype: str) -> None:
    n_total, n_feat, classes = EXPECTED[name]
    ds = load_dataset(name, rng_seed=3, n_samples=300, dtype=dtype)
    assert isinstance(ds, Dataset) and ds.name == name
    parts = [(ds.X_train, ds.y_train), (ds.X_val, ds.y_val), (ds.X_test, ds.y_test)]
    assert sum(len(X) for X, _ in parts) == n_total
    assert ds.n_features == n_feat and ds.image_shape is None and ds.image_mode is None
    assert ds.dtype == dtype and ds.notes
    for X, y in parts:
        assert X.dtype == np.dtype(dtype) and X.shape == (len(y), n_feat) and len(X) > 0
        assert np.isfinite(X).all()
        if classes is None:
            assert y.dtype == np.dtype(dtype) and y.shape == (len(X), 1)
        else:
            assert y.dtype == np.int64 and y.shape == (len(X),)
            assert 0 <= y.min() and y.max() < len(classes)
    if classes is None:
        assert ds.task == "regression" and ds.class_names == [] and ds.n_classes == 0
        assert ds.n_outputs == 1
    else:
        assert ds.task == "classification" and ds.class_names == classes
        assert ds.n_classes == ds.n_outputs == len(classes)
        assert set(np.unique(ds.y_train)) == set(range(len(classes)))


def test_split_sizes_follow_fractions() -> None:
    ds = load_dataset("moons", rng_seed=0, n_samples=1000, val_fraction=0.1, test_fraction=0.3)
    assert (len(ds.X_train), len(ds.X_val), len(ds.X_test)) == (600, 100, 300)
    assert ds.summary()["n_val"] == 100


def test_line_follows_formula() -> None:
    ds = load_dataset(
        "line",
        rng_seed=1,
        n_samples=500,
        noise=0.0,
        line_a=3.0,
        line_b=0.5,
        standardize=False,
        dtype="float64",
    )
    np.testing.assert_allclose(ds.y_train, 3.0 * ds.X_train + 0.5, atol=1e-12)
    assert ds.X_train.min() >= -1 and ds.X_train.max() <= 1


def test_xor_labels_without_noise() -> None:
    ds = load_dataset("xor", rng_seed=2, n_samples=400, noise=0.0, standardize=False)
    X, y = ds.X_train, ds.y_train
    assert np.array_equal(y, ((X[:, 0] > 0) != (X[:, 1] > 0)).astype(np.int64))
    assert np.abs(X).max() <= 1


def test_noise_changes_synthetic_points() -> None:
    a = load_dataset("moons", rng_seed=0, noise=0.0, standardize=False)
    b = load_dataset("moons", rng_seed=0, noise=0.3, standardize=False)
    assert not np.array_equal(a.X_train, b.X_train)
