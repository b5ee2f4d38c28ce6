"""Seeded splits: disjoint, complete, stratified when classes are large enough."""

import numpy as np
import pytest

from nnexp.data import DataError, split_indices
from nnexp.data.splits import split_sizes


def test_disjoint_and_complete() -> None:
    y = np.repeat(np.arange(3), [50, 30, 20])
    s = split_indices(y, 100, val_fraction=0.2, test_fraction=0.2, rng=np.random.default_rng(0))
    allidx = np.concatenate([s.train, s.val, s.test])
    assert sorted(allidx.tolist()) == list(range(100))
    assert (len(s.train), len(s.val), len(s.test)) == (60, 20, 20)
    assert np.bincount(y[s.test]).tolist() == [10, 6, 4]  # proportional
    assert np.bincount(y[s.val]).tolist() == [10, 6, 4]
    assert "stratified" in s.note


def test_small_class_falls_back_to_shuffle() -> None:
    y = np.array([0] * 20 + [1] * 2)
    s = split_indices(y, 22, val_fraction=0.2, test_fraction=0.2, rng=np.random.default_rng(0))
    assert "not stratified" in s.note and "only 2 sample(s)" in s.note
    assert sorted(np.concatenate([s.train, s.val, s.test]).tolist()) == list(range(22))


def test_every_class_keeps_a_training_row() -> None:
    y = np.repeat(np.arange(4), 3)
    s = split_indices(y, 12, val_fraction=0.4, test_fraction=0.25, rng=np.random.default_rng(1))
    assert "stratified by class" in s.note
    assert (len(s.train), len(s.val), len(s.test)) == (4, 5, 3)
    assert sorted(y[s.train].tolist()) == [0, 1, 2, 3]


def test_fewer_train_rows_than_classes_falls_back() -> None:
    y = np.repeat(np.arange(4), 3)
    s = split_indices(y, 12, val_fraction=0.45, test_fraction=0.45, rng=np.random.default_rng(1))
    assert "only 2 training rows for 4 classes" in s.note


def test_regression_plain_shuffle() -> None:
    s = split_indices(None, 10, val_fraction=0.2, test_fraction=0.2, rng=np.random.default_rng(0))
    assert "regression" in s.note and len(s.train) == 6


def test_sizes() -> None:
    assert split_sizes(3, 0.2, 0.2) == (1, 1, 1)
    assert split_sizes(10, 0.25, 0.25) == (4, 3, 3)  # half rounds up
    with pytest.raises(DataError, match=r"^data: too few samples \(2\) for train/val/test splits"):
        split_sizes(2, 0.2, 0.2)
    with pytest.raises(DataError, match=r"no training data left"):
        split_sizes(3, 0.5, 0.45)
