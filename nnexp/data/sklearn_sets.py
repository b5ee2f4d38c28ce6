"""Small classification sets bundled with scikit-learn (no download needed)."""

from __future__ import annotations

from sklearn import datasets as skd

from .checks import validate_arrays
from .dataset import RawData

SKLEARN_LOADERS = {
    "digits": skd.load_digits,
    "iris": skd.load_iris,
    "wine": skd.load_wine,
    "breast_cancer": skd.load_breast_cancer,
}


def load_sklearn_set(name: str) -> RawData:
    """Load one bundled sklearn set as float64 features, int64 labels and str class names."""
    bunch = SKLEARN_LOADERS[name]()
    X, y = validate_arrays(bunch.data, bunch.target, "classification")
    class_names = [str(c) for c in bunch.target_names]
    note = (
        f"loaded sklearn.datasets.load_{name}: {X.shape[0]} samples, {X.shape[1]} features, "
        f"{len(class_names)} classes"
    )
    return RawData(X, y, "classification", class_names, [note])
