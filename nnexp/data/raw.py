"""What one data source produces before it is split and scaled: `RawData`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class TableInfo:
    """How a table's named columns became features: what `predict` needs to read new rows by
    name, and how the run records the table."""

    columns: list[str]  # the input columns, in the order they were trained (before one-hot)
    categories: dict[str, list[str]]  # a one-hot encoded column -> its categories, in order
    target: str | None = None
    delimiter: str = ","


@dataclass(frozen=True)
class RawData:
    """Unsplit, validated arrays produced by one dataset source (float64 X, labels or targets)."""

    X: np.ndarray
    y: np.ndarray
    task: str
    class_names: list[str]
    notes: list[str] = field(default_factory=list)
    image_shape: tuple[int, ...] | None = None
    image_mode: str | None = None
    truth: dict[str, float] | None = None  # a synthetic set's generating parameters (a, b)
    feature_names: list[str] | None = None  # the source's names; None: x0, x1, ... or pixel_0, ...
    source: str | None = None  # where the data came from: a path, or what was given in memory
    digest: str | None = None  # sha256 of the source (file bytes, or array bytes)
    table: TableInfo | None = None  # a table's columns (csv, parquet, a DataFrame)

