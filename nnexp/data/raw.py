"""What one data source produces before it is split and scaled: `RawData`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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

