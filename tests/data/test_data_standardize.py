"""Standardisation is fitted on the training split only and reproducible via `preprocess`."""

import numpy as np
import pytest

from nnexp.data import DataError, load_dataset, preprocess


def test_fitted_on_train_only() -> None:
    ds = load_dataset("wine", rng_seed=0, dtype="float64")
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0.0, atol=1e-10)
    np.testing.assert_allclose(ds.X_train.std(axis=0), 1.0, atol=1e-10)
    assert np.abs(ds.X_val.mean(axis=0)).max() > 1e-3  # val is not re-centred on itself
    raw = load_dataset("wine", rng_seed=0, dtype="float64", standardize=False)
    np.testing.assert_allclose(ds.scaler_mean, raw.X_train.mean(axis=0))
    np.testing.assert_allclose(ds.scaler_std, raw.X_train.std(axis=0))


def test_constant_features_left_unscaled() -> None:
    ds = load_dataset("digits", rng_seed=0)
    assert np.isfinite(ds.X_train).all() and np.isfinite(ds.X_test).all()
    assert (ds.scaler_std > 0).all()
    assert any("constant" in n for n in ds.notes)


def test_preprocess_reproduces_training_scaling_bitwise() -> None:
    ds = load_dataset("iris", rng_seed=4)  # float32, standardized
    raw = load_dataset("iris", rng_seed=4, dtype="float64", standardize=False)  # same split
    out = preprocess(ds, raw.X_val)
    assert out.dtype == np.float32 and out.tobytes() == ds.X_val.tobytes()
    one = ds.preprocess(raw.X_test[0])  # a single row is accepted
    assert one.shape == (1, 4) and one.tobytes() == ds.X_test[:1].tobytes()


def test_no_standardize() -> None:
    ds = load_dataset("iris", rng_seed=0, standardize=False, dtype="float64")
    assert ds.scaler_mean is None and ds.scaler_std is None
    assert ds.X_train.min() >= 0  # raw iris measurements are positive
    assert np.array_equal(preprocess(ds, ds.X_val), ds.X_val)


def test_preprocess_rejects_wrong_width_and_nan() -> None:
    ds = load_dataset("iris", rng_seed=0)
    with pytest.raises(DataError, match=r"^data: expected 4 features per row, got shape \(2, 3\)$"):
        preprocess(ds, np.zeros((2, 3)))
    with pytest.raises(DataError, match="^data: NaN or inf values in features$"):
        preprocess(ds, [[1.0, np.nan, 0.0, 0.0]])
