"""Small classification sets bundled with scikit-learn (no download needed).

scikit-learn is imported only when one is loaded: it costs ~1 s, which a job on a synthetic
set or a rejected command line should not pay.
"""

from __future__ import annotations

from .checks import validate_arrays
from .raw import RawData

SKLEARN_LOADERS = ("digits", "iris", "wine", "breast_cancer")


def load_sklearn_set(name: str) -> RawData:
    """Load one bundled sklearn set as float64 features, int64 labels and str class names."""
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    X, y = validate_arrays(bunch.data, bunch.target, "classification")
    class_names = [str(c) for c in bunch.target_names]
    note = (
        f"loaded sklearn.datasets.load_{name}: {X.shape[0]} samples, {X.shape[1]} features, "
        f"{len(class_names)} classes"
    )
    return RawData(X, y, "classification", class_names, [note],
                   feature_names=[str(n) for n in bunch.feature_names])
