"""The bundled sets read without scikit-learn are bit for bit what scikit-learn's loaders and
generators give, and loading them does not import scikit-learn."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnexp.data.sklearn_sets import SKLEARN_LOADERS, _read_files, load_sklearn_set
from nnexp.data.synthetic import make_circles, make_moons

ROOT = Path(__file__).resolve().parents[2]


def _same(ours: np.ndarray, theirs: np.ndarray) -> bool:
    return (ours.dtype == theirs.dtype and ours.shape == theirs.shape
            and ours.tobytes() == theirs.tobytes())


@pytest.mark.parametrize("name", SKLEARN_LOADERS)
def test_bundled_set_is_sklearns(name: str) -> None:
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    found = _read_files(name)
    assert found is not None, "the bundled file was not found beside scikit-learn"
    data, target, class_names, feature_names = found
    assert _same(data, bunch.data) and _same(target, bunch.target)
    assert class_names == [str(c) for c in bunch.target_names]
    assert feature_names == [str(n) for n in bunch.feature_names]
    raw = load_sklearn_set(name)
    assert raw.X.tobytes() == np.asarray(bunch.data, dtype=np.float64).tobytes()
    assert raw.y.tobytes() == np.asarray(bunch.target, dtype=np.int64).tobytes()


@pytest.mark.parametrize(("n", "noise", "seed"), [(300, 0.2, 0), (301, 0.0, 7), (5, 1.5, 123)])
def test_moons_and_circles_are_sklearns(n: int, noise: float, seed: int) -> None:
    from sklearn.datasets import make_circles as sk_circles
    from sklearn.datasets import make_moons as sk_moons

    for ours, theirs in ((make_moons(n, noise, seed),
                          sk_moons(n_samples=n, noise=noise, random_state=seed)),
                         (make_circles(n, noise, seed),
                          sk_circles(n_samples=n, noise=noise, factor=0.5, random_state=seed))):
        assert _same(ours[0], theirs[0]) and _same(ours[1], theirs[1])


def test_bundled_and_synthetic_sets_load_without_sklearn() -> None:
    code = ("import sys; from nnexp.data import load_dataset\n"
            "for name in ('digits', 'iris', 'wine', 'breast_cancer', 'moons', 'circles'):\n"
            "    load_dataset(name, rng_seed=0)\n"
            "print('sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
