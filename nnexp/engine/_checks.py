"""Argument checks shared by the engine: every bad argument raises a one-line ValueError
that names the argument and says what is allowed."""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real

import numpy as np

DTYPES = ("float32", "float64")


def resolve_dtype(dtype: object, arg: str = "dtype") -> np.dtype:
    """Return ``np.dtype`` for "float32"/"float64" (or the numpy dtype objects); reject the rest."""
    resolved = None
    if dtype is not None and not isinstance(dtype, bool):
        try:
            resolved = np.dtype(dtype)  # type: ignore[call-overload]
        except TypeError:
            resolved = None
    if resolved is None or resolved.name not in DTYPES:
        raise ValueError(f"{arg} must be one of {DTYPES}, got {dtype!r}")
    return resolved


def check_choice(arg: str, value: object, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{arg} must be one of {allowed}, got {value!r}")
    return value


def _real(arg: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{arg} must be a finite number, got {value!r}")
    return float(value)


def check_positive(arg: str, value: object) -> float:
    v = _real(arg, value)
    if v <= 0:
        raise ValueError(f"{arg} must be > 0, got {value!r}")
    return v


def check_non_negative(arg: str, value: object) -> float:
    v = _real(arg, value)
    if v < 0:
        raise ValueError(f"{arg} must be >= 0, got {value!r}")
    return v


def check_interval(arg: str, value: object, low: float, high: float, *, closed_high: bool) -> float:
    """Check ``low <= value < high`` (or ``<= high`` when closed_high)."""
    v = _real(arg, value)
    ok = low <= v <= high if closed_high else low <= v < high
    if not ok:
        bracket = "]" if closed_high else ")"
        raise ValueError(f"{arg} must be in [{low}, {high}{bracket}, got {value!r}")
    return v


def check_int(arg: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{arg} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class BufferCache:
    """Reusable work arrays keyed by (tag, shape, dtype): steady-state training allocates nothing.

    Holds at most ``max_entries`` arrays (oldest dropped first) so varying batch sizes cannot
    grow memory without bound.
    """

    def __init__(self, max_entries: int = 8) -> None:
        self._arrays: dict[tuple, np.ndarray] = {}
        self._max = max_entries

    def get(self, tag: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A writable work array (contents undefined)."""
        key = (tag, shape, dtype)
        arr = self._arrays.get(key)
        return arr if arr is not None else self._add(key, np.empty(shape, dtype=dtype))

    def constant(self, value: float, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A read-only array filled with ``value`` (callers must not write to it)."""
        key = ("constant", value, shape, dtype)
        arr = self._arrays.get(key)
        return arr if arr is not None else self._add(key, np.full(shape, value, dtype=dtype),
                                                     read_only=True)

    def arange(self, n: int) -> np.ndarray:
        """A read-only ``np.arange(n)`` (row indices), built once per n."""
        key = ("arange", n)
        arr = self._arrays.get(key)
        return arr if arr is not None else self._add(key, np.arange(n), read_only=True)

    def _add(self, key: tuple, arr: np.ndarray, read_only: bool = False) -> np.ndarray:
        if len(self._arrays) >= self._max:
            del self._arrays[next(iter(self._arrays))]
        arr.flags.writeable = not read_only
        self._arrays[key] = arr
        return arr

    def clear(self) -> None:
        self._arrays.clear()
