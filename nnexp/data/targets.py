"""A user's target column as labels or values, with the task inferred when not given, and the
one-hot encoding of text columns (shared by training and `predict`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nnexp.config.vocabulary import TASKS

from .errors import DataError

MAX_CLASSES_INFERRED = 20  # whole numbers with at most this many values: classes


def infer_task(values: np.ndarray) -> tuple[str, str]:
    """(task, why): text or few whole-number values are classes, other numbers regression."""
    if values.dtype.kind in "OUS":
        return "classification", "text values"
    distinct = np.unique(values)
    whole = bool(np.all(distinct == np.round(distinct)))
    if whole and len(distinct) <= MAX_CLASSES_INFERRED:
        return "classification", (f"{len(distinct)} whole-number values; set data.task="
                                  "regression to fit them as numbers")
    why = "not whole numbers" if not whole else f"{len(distinct)} distinct whole numbers"
    return "regression", f"{why}; set data.task=classification to treat them as classes"


def class_name(value: object) -> str:
    """A class's name as a user wrote it: `3` for 3.0, the text itself for text."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def encode_target(values: np.ndarray, task: str | None, what: str, key: str = "data.target"
                  ) -> tuple[np.ndarray, str, list[str], list[str]]:
    """(y, task, class names, notes) from a target column without missing values: labels
    0..k-1 in the sorted order of the values, or float64 values (n, 1) for regression. `key`
    and `what` say where it is: `data.target`, `column 'price'`."""
    notes = []
    if task is None:
        task, why = infer_task(values)
        notes.append(f"data.task: {task}, inferred from {what} ({why})")
    elif task not in TASKS:
        raise DataError(f"data.task={task!r} is not allowed; allowed: {', '.join(TASKS)}")
    if task == "regression":
        if values.dtype.kind in "OUS":
            first = _first_text(values)
            raise DataError(f"{key}: {what}: {values[first]!r} (row {first + 1}) is not a number; "
                            "regression needs numbers (or set data.task=classification)")
        return values.astype(np.float64).reshape(-1, 1), task, [], notes
    classes, labels = np.unique(values, return_inverse=True)
    if len(classes) < 2:
        raise DataError(f"{key}: {what} has one value ({class_name(classes[0])!r}) in all "
                        f"{len(values)} "
                        "rows; classification needs at least 2 classes")
    return labels.astype(np.int64), task, [class_name(c) for c in classes], notes


def _first_text(values: np.ndarray) -> int:
    for i, value in enumerate(values):
        try:
            float(value)
        except (TypeError, ValueError):
            return i
    return 0


def one_hot(codes: np.ndarray, n_categories: int, out: np.ndarray) -> None:
    """Write the one-hot rows of category indices `codes` into `out` (rows, n_categories)."""
    out[...] = 0
    out[np.arange(codes.shape[0]), codes] = 1


def category_codes(values: list[str] | np.ndarray, categories: list[str],
                   where: Callable[[int], str]) -> np.ndarray:
    """Indices of `values` in `categories`; DataError naming the first unknown one."""
    index = {name: i for i, name in enumerate(categories)}
    codes = np.empty(len(values), dtype=np.int64)
    for i, value in enumerate(values):
        found = index.get(str(value))
        if found is None:
            listed = ", ".join(categories[:10]) + (", ..." if len(categories) > 10 else "")
            raise DataError(f"{where(i)}: {str(value)!r} is not one of the categories the run "
                            f"was trained on ({listed})")
        codes[i] = found
    return codes


def encoded_names(columns: list[str], categories: dict[str, list[str]]) -> list[str]:
    """Feature names after one-hot encoding: `color=red`, `color=blue` in place of `color`."""
    names = []
    for column in columns:
        if column in categories:
            names += [f"{column}={value}" for value in categories[column]]
        else:
            names.append(column)
    return names
