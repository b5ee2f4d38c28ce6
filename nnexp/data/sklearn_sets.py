"""Small classification sets bundled with scikit-learn (no download needed).

The files are read straight from scikit-learn's `datasets/data` folder, found without importing
scikit-learn (1.2 s of a 5 s default run went to importing it for digits), with the same parsing
as its loaders, so the arrays are bit for bit theirs. Without the files (scikit-learn missing or
laid out otherwise), its loader is used.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
from pathlib import Path

import numpy as np

from .checks import validate_arrays
from .raw import RawData

SKLEARN_LOADERS = ("digits", "iris", "wine", "breast_cancer")
_FILES = {"digits": "digits.csv.gz", "iris": "iris.csv", "wine": "wine_data.csv",
          "breast_cancer": "breast_cancer.csv"}
# the names scikit-learn's loaders give (they are written in its code, not in the files)
_WINE = ("alcohol malic_acid ash alcalinity_of_ash magnesium total_phenols flavanoids "
         "nonflavanoid_phenols proanthocyanins color_intensity hue "
         "od280/od315_of_diluted_wines proline").split()
_IRIS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
_CANCER_PARTS = ("radius", "texture", "perimeter", "area", "smoothness", "compactness",
                 "concavity", "concave points", "symmetry", "fractal dimension")
_CANCER = ([f"mean {p}" for p in _CANCER_PARTS] + [f"{p} error" for p in _CANCER_PARTS]
           + [f"worst {p}" for p in _CANCER_PARTS])
_DIGITS = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
FEATURE_NAMES = {"digits": _DIGITS, "iris": _IRIS, "wine": _WINE, "breast_cancer": _CANCER}


def sklearn_data_folder() -> Path | None:
    """scikit-learn's bundled data folder, located without importing scikit-learn."""
    try:
        spec = importlib.util.find_spec("sklearn")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    folder = Path(spec.origin).parent / "datasets" / "data"
    return folder if folder.is_dir() else None


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A header-first bundled CSV parsed as `sklearn.datasets.load_csv_data` parses it."""
    with open(path, encoding="utf-8") as handle:
        rows = csv.reader(handle)
        head = next(rows)
        n_samples, n_features = int(head[0]), int(head[1])
        data = np.empty((n_samples, n_features))
        target = np.empty((n_samples,), dtype=int)
        for i, row in enumerate(rows):
            data[i] = np.asarray(row[:-1], dtype=np.float64)
            target[i] = np.asarray(row[-1], dtype=int)
    return data, target, [str(c) for c in np.array(head[2:])]


def _read_digits(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """digits.csv.gz parsed as `sklearn.datasets.load_digits` parses it."""
    with open(path, "rb") as raw, gzip.open(raw, mode="rt", encoding="utf-8") as text:
        data = np.loadtxt(text, delimiter=",")
    return data[:, :-1], data[:, -1].astype(int, copy=False), [str(c) for c in range(10)]


def _read_files(name: str) -> tuple[np.ndarray, np.ndarray, list[str], list[str]] | None:
    """(X, y, class names, feature names) from the bundled file, or None without it."""
    folder = sklearn_data_folder()
    path = folder / _FILES[name] if folder is not None else None
    if path is None or not path.is_file():
        return None
    reader = _read_digits if name == "digits" else _read_csv
    return (*reader(path), list(FEATURE_NAMES[name]))


def _sklearn_loader(name: str) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    return (bunch.data, bunch.target, [str(c) for c in bunch.target_names],
            [str(n) for n in bunch.feature_names])


def load_sklearn_set(name: str) -> RawData:
    """Load one bundled sklearn set as float64 features, int64 labels and str class names."""
    data, target, class_names, feature_names = _read_files(name) or _sklearn_loader(name)
    X, y = validate_arrays(data, target, "classification")
    note = (
        f"loaded sklearn.datasets.load_{name}: {X.shape[0]} samples, {X.shape[1]} features, "
        f"{len(class_names)} classes"
    )
    return RawData(X, y, "classification", class_names, [note], feature_names=feature_names)
