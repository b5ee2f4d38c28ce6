"""Data given from Python (`nnexp.run(cfg, data=...)`): numpy arrays (X, y) or a pandas
DataFrame, kept in this process under their content digest while runs train on them. The config
names them by `data.name` (arrays, dataframe) and `data.digest`; nothing is written to disk."""

from __future__ import annotations

from typing import Any

import numpy as np

from .checks import validate_arrays
from .digest import array_digest
from .errors import DataError
from .raw import RawData
from .targets import encode_target

_GIVEN: dict[str, Any] = {}  # digest -> the arrays or the DataFrame


def frame_digest(frame: Any) -> str:
    """The sha256 of a DataFrame's column names, dtypes and values (not its index)."""
    import pandas as pd

    names = np.array([f"{c}:{frame[c].dtype}" for c in frame.columns], dtype=str)
    rows = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return array_digest(names, rows)


def give(data: Any) -> tuple[str, str, str]:
    """Keep `data` ((X, y) arrays or a DataFrame) for the runs of this process; (data.name,
    digest, what it is, e.g. `numpy X (150, 4) float64, y (150,) int64`)."""
    if _is_frame(data):
        digest = frame_digest(data)
        _GIVEN[digest] = data
        return "dataframe", digest, f"pandas DataFrame {data.shape[0]} x {data.shape[1]}"
    if not (isinstance(data, tuple | list) and len(data) == 2):
        raise DataError(f"data: expected (X, y) numpy arrays or a pandas DataFrame (with "
                        f"target=), got {type(data).__name__}")
    X, y = (np.asarray(a) for a in data)
    digest = array_digest(X, y)
    _GIVEN[digest] = (X, y)
    return "arrays", digest, describe_arrays(X, y)


def describe_arrays(X: np.ndarray, y: np.ndarray) -> str:
    """`numpy X (150, 4) float64, y (150,) int64`: what a run was given, as its source."""
    return f"numpy X {X.shape} {X.dtype}, y {y.shape} {y.dtype}"


def forget(digest: str) -> None:
    """Drop data given for runs that have ended."""
    _GIVEN.pop(digest, None)


def _is_frame(data: Any) -> bool:
    return type(data).__name__ == "DataFrame" and hasattr(data, "columns")


def given(name: str, digest: str | None) -> Any:
    """What was given under `digest`; DataError when this process does not hold it (a record
    read back in another process, e.g. by nnexp.reproduce)."""
    if digest is None or digest not in _GIVEN:
        raise DataError(f"data: {name} given in memory to nnexp.run (digest "
                        f"{str(digest)[:12]}...) are not in this process; train on them again "
                        "from Python with nnexp.run(cfg, data=...), or save them as a file "
                        "(data=npz, data=csv)")
    return _GIVEN[digest]


def arrays_raw(X: np.ndarray, y: np.ndarray, task: str | None, digest: str, what: str
               ) -> RawData:
    """(X, y) given from Python as RawData; class names from y's values."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    X64, _ = validate_arrays(X, np.zeros(np.shape(X)[0] if np.ndim(X) else 0), "regression")
    if y.ndim != 1 or y.shape[0] != X64.shape[0]:
        raise DataError(f"data: y has shape {y.shape}; expected ({X64.shape[0]},), one value "
                        "per row of X")
    if y.dtype.kind not in "OUS" and not np.isfinite(y.astype(np.float64)).all():
        raise DataError(f"data: y holds NaN or inf (first at row "
                        f"{int(np.flatnonzero(~np.isfinite(y.astype(np.float64)))[0])})")
    labels, task, names, said = encode_target(y, task, "y", "data")
    return RawData(X64, labels, task, names, [*said, f"given from Python: {what}"],
                   source=what, digest=digest)
