"""The Dataset container handed to training, and `preprocess` to scale new inputs the same way."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataError
from .raw import TableInfo
from .scaling import apply_scaler

RAW_HEAD_ROWS = 5  # unscaled training rows kept: the input example of a logged model


def default_feature_names(n_features: int, image: bool) -> list[str]:
    """Column names for features a source does not name: `pixel_<i>` for pictures, else `x<i>`."""
    return [f"{'pixel_' if image else 'x'}{i}" for i in range(n_features)]


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train/val/test arrays ready for a numpy network, plus what is needed to preprocess new data.

    X_*: (n, n_features) of `dtype`. y_*: int64 (n,) labels for classification, `dtype` (n, 1) for
    regression. `n_classes` is 0 for regression (so len(class_names) == n_classes always); use
    `n_outputs` for the width of the output layer. `scaler_mean`/`scaler_std` are float64 or None.
    """

    name: str
    task: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    n_features: int
    n_classes: int
    image_shape: tuple[int, ...] | None
    notes: list[str]
    scaler_mean: np.ndarray | None
    scaler_std: np.ndarray | None
    image_mode: str | None = None
    truth: dict[str, float] | None = None  # what generated the data (line: a and b), if known
    feature_names: list[str] = field(default_factory=list)  # one per feature, the source's names
    raw_head: np.ndarray | None = None  # first training rows, unscaled float64, as a user has them
    source: str | None = None  # a file's or folder's path, or what was given from Python
    digest: str | None = None  # sha256 of the source: file bytes, image files, or arrays
    table: TableInfo | None = None  # a table's input columns and categories (csv, parquet, ...)

    @property
    def dtype(self) -> str:
        """Name of the float dtype of the feature arrays."""
        return self.X_train.dtype.name

    @property
    def n_outputs(self) -> int:
        """Output-layer width: n_classes for classification, target columns (1) for regression."""
        return self.n_classes if self.task == "classification" else int(self.y_train.shape[1])

    @property
    def image_size(self) -> tuple[int, int] | None:
        """(W, H) as passed to `load_image`, or None for non-image sets."""
        if self.image_shape is None:
            return None
        return self.image_shape[1], self.image_shape[0]

    def summary(self) -> dict[str, object]:
        """Flat scalar facts about the dataset, handy for logging as params."""
        return {
            "name": self.name,
            "task": self.task,
            "n_train": int(self.X_train.shape[0]),
            "n_val": int(self.X_val.shape[0]),
            "n_test": int(self.X_test.shape[0]),
            "n_features": self.n_features,
            "n_classes": self.n_classes,
            "dtype": self.dtype,
            "standardized": self.scaler_mean is not None,
            "image_shape": "x".join(map(str, self.image_shape)) if self.image_shape else None,
            "source": self.source,
            "digest": self.digest,
            **({"target": self.table.target, "columns": ",".join(self.table.columns)[:500],
                "categorical": ",".join(self.table.categories) or None}
               if self.table is not None else {}),
            **{f"true_{k}": v for k, v in (self.truth or {}).items()},
        }

    def preprocess(self, X_raw: object) -> np.ndarray:
        """Apply the training-time scaling to raw inputs; see `preprocess`."""
        return preprocess(self, X_raw)

    def read_image(self, path: str | Path) -> np.ndarray:
        """Read one picture exactly as training did (image sets only); returns a flat [0, 1] row."""
        if self.image_shape is None or self.image_mode is None:
            raise DataError(f"data: dataset '{self.name}' is not an image set; cannot read images")
        from .images import load_image

        return load_image(path, self.image_size, self.image_mode, self.dtype)  # type: ignore[arg-type]


def preprocess(ds: Dataset, X_raw: object) -> np.ndarray:
    """Scale raw feature rows (n, d) or one row (d,) like the training data; returns (n, d) `dtype`.

    For image sets X_raw must already be `load_image` output ([0, 1]); it is only checked and cast.
    """
    X = np.asarray(X_raw, dtype=np.float64)
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2 or X.shape[1] != ds.n_features:
        raise DataError(
            f"data: expected {ds.n_features} features per row, got shape {np.shape(X_raw)}"
        )
    if not np.isfinite(X).all():
        raise DataError("data: NaN or inf values in features")
    if ds.scaler_mean is not None and ds.scaler_std is not None:
        return apply_scaler(X, ds.scaler_mean, ds.scaler_std, ds.dtype)
    return X.astype(ds.dtype)
