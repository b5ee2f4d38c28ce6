"""Argument and array validation: turn bad settings or values into one-line DataErrors early."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from nnexp.config.vocabulary import DTYPES, IMAGE_MODES

from .errors import DataError


def check_int(key: str, value: object, *, minimum: int) -> int:
    """Return `value` as int if it is an integer >= minimum (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise DataError(f"{key}={value!r} is not an integer; allowed: integers >= {minimum}")
    if value < minimum:
        raise DataError(f"{key}={value!r} is too small; allowed: integers >= {minimum}")
    return int(value)


def check_real(key: str, value: object, *, allowed: str) -> float:
    """Return `value` as a finite float (bools refused); `allowed` describes the valid range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DataError(f"{key}={value!r} is not a number; allowed: {allowed}")
    out = float(value)
    if not math.isfinite(out):
        raise DataError(f"{key}={value!r} is not finite; allowed: {allowed}")
    return out


def check_bool(key: str, value: object) -> bool:
    """Return `value` as bool if it is a real boolean (not a string like 'false')."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise DataError(f"{key}={value!r} is not a boolean; allowed: true, false")


def check_fractions(val_fraction: object, test_fraction: object) -> tuple[float, float]:
    """Validate split fractions: each strictly between 0 and 1 and their sum below 1."""
    rule = "0 < {k} < 1 and val+test < 1"
    v = check_real("train.val_fraction", val_fraction, allowed=rule.format(k="val_fraction"))
    t = check_real("train.test_fraction", test_fraction, allowed=rule.format(k="test_fraction"))
    if v <= 0:
        raise DataError(
            f"train.val_fraction={v} leaves no validation data; "
            "allowed: 0 < val_fraction < 1 and val+test < 1"
        )
    if t <= 0:
        raise DataError(
            f"train.test_fraction={t} leaves no test data; "
            "allowed: 0 < test_fraction < 1 and val+test < 1"
        )
    if v + t >= 1:
        raise DataError(
            f"train.val_fraction={v} + train.test_fraction={t} leaves no training data; "
            "allowed: val+test < 1"
        )
    return v, t


def check_dtype(dtype: object) -> str:
    """Return the canonical float dtype name ('float32' or 'float64')."""
    try:
        name = np.dtype(dtype).name  # type: ignore[call-overload]
    except TypeError:
        name = None
    if name not in DTYPES:
        allowed = ", ".join(DTYPES)
        raise DataError(f"dtype={dtype!r} is not allowed; allowed: {allowed}")
    return name


def check_image_size(image_size: object) -> tuple[int, int]:
    """Return (W, H) from a pair of positive ints (list/tuple/ListConfig) or one int (square)."""
    allowed = "two positive integers [width, height], e.g. [32, 32]"
    if isinstance(image_size, numbers.Integral) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    if isinstance(image_size, str | bytes):
        raise DataError(f"data.image_size={image_size!r} is invalid; allowed: {allowed}")
    if not isinstance(image_size, Sequence | np.ndarray):
        try:  # OmegaConf ListConfig and other sized iterables
            image_size = tuple(image_size)  # type: ignore[arg-type]
        except TypeError:
            msg = f"data.image_size={image_size!r} is invalid; allowed: {allowed}"
            raise DataError(msg) from None
    items = list(image_size)
    if len(items) != 2 or any(
        isinstance(i, bool) or not isinstance(i, numbers.Integral) or i < 1 for i in items
    ):
        raise DataError(f"data.image_size={items!r} is invalid; allowed: {allowed}")
    return int(items[0]), int(items[1])


def check_image_mode(image_mode: object) -> str:
    """Return the Pillow mode if it is one of IMAGE_MODES."""
    if image_mode not in IMAGE_MODES:
        raise DataError(
            f"data.image_mode={image_mode!r} is not allowed; "
            f"allowed: {', '.join(IMAGE_MODES)}"
        )
    return str(image_mode)


def _first_bad(a: np.ndarray) -> str:
    """Describe how many non-finite entries `a` has and where the first one is."""
    bad = ~np.isfinite(a)
    where = np.argwhere(bad)[0]
    pos = f"row {where[0]}" + (f", column {where[1]}" if len(where) > 1 else "")
    return f"({int(bad.sum())} value(s), first at {pos})"


def validate_arrays(X: object, y: object, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Check raw features/targets (2-D X, matching y, finite values); return them as float64/int64.

    Regression targets come back as shape (n, 1); classification labels as int64 shape (n,).
    """
    if task not in ("classification", "regression"):
        raise DataError(f"data: task={task!r} is not allowed; allowed: classification, regression")
    try:
        Xa = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError("data: features are not numeric (cannot convert to floats)") from None
    if Xa.ndim != 2:
        raise DataError(f"data: features must be 2-D (samples, features), got shape {Xa.shape}")
    if not np.isfinite(Xa).all():
        raise DataError(f"data: NaN or inf values in features {_first_bad(Xa)}")
    ya = np.asarray(y)
    if ya.ndim == 2 and ya.shape[1] == 1:
        ya = ya[:, 0]
    if ya.ndim != 1 or ya.shape[0] != Xa.shape[0]:
        raise DataError(
            f"data: targets shape {np.shape(y)} does not match {Xa.shape[0]} feature rows"
        )
    if task == "regression":
        try:
            ya = ya.astype(np.float64)
        except (TypeError, ValueError):
            raise DataError("data: regression targets are not numeric") from None
        if not np.isfinite(ya).all():
            raise DataError(f"data: NaN or inf values in targets {_first_bad(ya)}")
        return Xa, ya.reshape(-1, 1)
    if not np.issubdtype(ya.dtype, np.integer):
        if ya.dtype.kind == "f" and np.isfinite(ya).all() and (ya == np.round(ya)).all():
            ya = ya.astype(np.int64)
        else:
            raise DataError("data: classification labels must be integers 0..n_classes-1")
    ya = ya.astype(np.int64)
    if ya.size and ya.min() < 0:
        raise DataError("data: classification labels must be integers 0..n_classes-1")
    return Xa, ya
