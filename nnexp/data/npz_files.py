"""`data=npz`: a user's arrays in a numpy .npz file: X (rows, features), y (rows,), and
optionally feature_names and class_names (arrays of text), read without pickle."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .checks import validate_arrays
from .digest import file_digest
from .errors import DataError
from .raw import RawData
from .table_sources import check_fits
from .targets import encode_target

ARRAYS = ("X", "y")
OPTIONAL = ("feature_names", "class_names")


def n_values(file: Path) -> int:
    """Values X and y hold, from their .npy headers (nothing is loaded)."""
    total = 0
    try:
        with zipfile.ZipFile(file) as archive:
            for name in ARRAYS:
                if f"{name}.npy" in archive.namelist():
                    with archive.open(f"{name}.npy") as handle:
                        version = np.lib.format.read_magic(handle)
                        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                else np.lib.format.read_array_header_2_0)
                        shape, _, _ = read(handle)
                        total += int(np.prod(shape))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DataError(f"data.path: '{file}' is not a .npz file ({exc})") from None
    return total


def _names(data: np.lib.npyio.NpzFile, key: str, length: int | None, file: Path
           ) -> list[str] | None:
    if key not in data.files:
        return None
    names = [str(n) for n in np.asarray(data[key]).reshape(-1)]
    if length is not None and len(names) != length:
        raise DataError(f"data.path: '{file}' array {key} has {len(names)} names for {length} "
                        f"{'columns of X' if key == 'feature_names' else 'classes'}")
    return names


def load_npz(path: str, task: str | None, digest: str | None = None) -> RawData:
    """The arrays of an .npz file as RawData; class names from class_names or y's values."""
    file = Path(path).expanduser()
    check_fits(file, n_values(file), f"'{file}'")
    try:
        with np.load(file, allow_pickle=False) as data:
            missing = [name for name in ARRAYS if name not in data.files]
            if missing:
                raise DataError(f"data.path: '{file}' has no array {missing[0]} (it has: "
                                f"{', '.join(data.files) or 'none'}); expected X and y")
            X, y = data["X"], data["y"]
            features = _names(data, "feature_names", X.shape[1] if X.ndim == 2 else None, file)
            classes = _names(data, "class_names", None, file)
    except ValueError as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"data.path: '{file}' holds Python objects, which nnexp does not "
                        "unpickle; save text as np.array(names, dtype=str)") from None
    notes = [f"read '{file}': X {X.shape} {X.dtype}, y {y.shape} {y.dtype}"]
    if classes is not None:
        if task == "regression":
            raise DataError(f"data.task: regression, but '{file}' names classes (class_names)")
        X, labels = validate_arrays(X, y, "classification")
        if labels.max(initial=0) >= len(classes):
            raise DataError(f"data.path: '{file}' y holds label {int(labels.max())}, but "
                            f"class_names names {len(classes)} classes (labels 0.."
                            f"{len(classes) - 1})")
        return RawData(X, labels, "classification", classes, notes, feature_names=features,
                       source=str(file), digest=digest or file_digest(file))
    X, values = validate_arrays(X, y, "regression") if y.dtype.kind not in "OUS" else (
        validate_arrays(X, np.zeros(len(y)), "regression")[0], y)
    labels, task, names, said = encode_target(values.reshape(-1), task, f"'{file}' array y",
                                          "data.path")
    return RawData(X, labels, task, names, [*said, *notes], feature_names=features,
                   source=str(file), digest=digest or file_digest(file))
