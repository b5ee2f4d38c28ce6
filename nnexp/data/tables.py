"""A user's table (csv, parquet, a pandas DataFrame) as float64 features and a target, read in
chunks of rows into one preallocated array: a large file is never held as text, a DataFrame and
an array at once. Text columns are refused by name, or one-hot encoded when listed in
data.categorical; a missing value or text in a number column is one line naming row and column.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import DataError
from .raw import RawData, TableInfo
from .targets import category_codes, encode_target, encoded_names, one_hot

CHUNK_ROWS = 1 << 16
MAX_LISTED = 10

Where = Callable[[int], str]  # a row's position (0-based) as a user finds it: "'f.csv' line 7"


@dataclass(frozen=True)
class TableSpec:
    """Which columns of a table to use, as data.target, data.features, data.categorical say."""

    target: str
    features: list[str] | None = None  # None: every column but the target
    categorical: list[str] = field(default_factory=list)
    task: str | None = None


def listing(names: list[str]) -> str:
    """`a, b, c, ...`: at most MAX_LISTED names."""
    return ", ".join(names[:MAX_LISTED]) + (", ..." if len(names) > MAX_LISTED else "")


def choose_columns(columns: list[str], spec: TableSpec, what: str, key: str = "data.path"
                   ) -> list[str]:
    """The feature columns, after checking that every named column is in the table once."""
    for i, name in enumerate(columns):
        if name in columns[:i]:
            raise DataError(f"{key}: {what} line 1: column '{name}' is named twice (columns "
                            f"{columns.index(name) + 1} and {i + 1}); rename one")
    known = f"(its columns: {listing(columns)})"
    if spec.target not in columns:
        raise DataError(f"data.target: column '{spec.target}' is not in {what} {known}")
    features = list(spec.features) if spec.features is not None else [
        c for c in columns if c != spec.target]
    for key, names in (("data.features", features), ("data.categorical", spec.categorical)):
        for name in names:
            if name not in columns:
                raise DataError(f"{key}: column '{name}' is not in {what} {known}")
    for name in spec.categorical:
        if name not in features:
            raise DataError(f"data.categorical: column '{name}' is not a feature (it is "
                            f"{'the target' if name == spec.target else 'not in data.features'})")
    if spec.target in features:
        raise DataError(f"data.features: '{spec.target}' is the target; a column cannot be both")
    if not features:
        raise DataError(f"data.features: {what} has no column besides the target")
    return features


def first_problem(chunk: Any, numeric: list[str], offset: int, where: Where,
                  training: bool = True) -> DataError | None:
    """The first cell of `chunk` (rows first) that is missing, or text in a number column;
    `training`: say how the config can take it (new rows for a trained model cannot)."""
    import pandas as pd

    found: tuple[int, int, str, bool] | None = None
    for position, column in enumerate(chunk.columns):
        values = chunk[column]
        missing = values.isna().to_numpy()
        text = np.zeros_like(missing)
        if column in numeric:
            text = pd.to_numeric(values, errors="coerce").isna().to_numpy() & ~missing
        bad = np.flatnonzero(missing | text)
        if bad.size and (found is None or (bad[0], position) < found[:2]):
            found = (int(bad[0]), position, str(column), bool(text[bad[0]]))
    if found is None:
        return None
    row, _, column, is_text = found
    at = f"{where(offset + row)}, column '{column}'"
    if not is_text:
        return DataError(f"{at}: missing value; nnexp does not fill in missing values: fill or "
                         "drop that row" + (", or leave the column out of data.features"
                                            if training else ""))
    value = chunk[column].iloc[row]
    if not training:
        return DataError(f"{at}: {value!r} is not a number")
    return DataError(f"{at}: {value!r} is not a number; a text column is one-hot encoded when "
                     f"listed in data.categorical (data.categorical=[{column}]), or left out "
                     "with data.features=[...]")


def encode_table(frame: Any, columns: list[str], categories: dict[str, list[str]],
                 where: Where) -> np.ndarray:
    """New rows of a table (a DataFrame holding `columns`) encoded as the run's features were:
    numbers as float64, categorical columns one-hot with the recorded categories."""
    numeric = [c for c in columns if c not in categories]
    problem = first_problem(frame[columns], numeric, 0, where, training=False)
    if problem is not None:
        raise problem
    widths = [len(categories[c]) if c in categories else 1 for c in columns]
    X = np.empty((len(frame), sum(widths)), dtype=np.float64)
    start = 0
    for column, width in zip(columns, widths, strict=True):
        if column in categories:
            codes = category_codes(frame[column].astype(str).tolist(), categories[column],
                                   lambda i, c=column: f"{where(i)}, column '{c}'")
            one_hot(codes, width, X[:, start:start + width])
        else:
            import pandas as pd

            X[:, start] = pd.to_numeric(frame[column]).to_numpy(dtype=np.float64)
        start += width
    return X


class TableAssembler:
    """Fills float64 features and a target from chunks of a table, in order."""

    def __init__(self, features: list[str], spec: TableSpec, n_rows_hint: int,
                 where: Where) -> None:
        self.features, self.spec, self.where = features, spec, where
        self.numeric = [c for c in features if c not in spec.categorical]
        self.X = np.empty((max(n_rows_hint, 1), len(self.numeric)), dtype=np.float64)
        self.codes: dict[str, list[np.ndarray]] = {c: [] for c in spec.categorical}
        self.seen: dict[str, dict[str, int]] = {c: {} for c in spec.categorical}
        self.targets: list[np.ndarray] = []
        self.n = 0

    def add(self, chunk: Any) -> None:
        """One chunk of rows (a DataFrame holding the feature and target columns)."""
        rows = len(chunk)
        try:
            block = chunk[self.numeric].to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            block = None
        if block is None or np.isnan(block).any() or chunk[[
                *self.spec.categorical, self.spec.target]].isna().to_numpy().any():
            problem = first_problem(chunk, [*self.numeric], self.n, self.where)
            if problem is not None:
                raise problem
        if self.n + rows > self.X.shape[0]:  # the hint was short (quoted line breaks)
            self.X = np.resize(self.X, (max(2 * self.X.shape[0], self.n + rows), self.X.shape[1]))
        self.X[self.n:self.n + rows] = block
        for column in self.spec.categorical:
            self.codes[column].append(self._codes(column, chunk[column]))
        target = chunk[self.spec.target]
        numeric = target.dtype.kind in "biuf"
        self.targets.append(target.to_numpy(dtype=np.float64) if numeric
                            else target.astype(str).to_numpy(dtype=object))
        self.n += rows

    def _codes(self, column: str, values: Any) -> np.ndarray:
        import pandas as pd

        codes, uniques = pd.factorize(values.astype(str))
        seen = self.seen[column]
        remap = np.array([seen.setdefault(u, len(seen)) for u in uniques], dtype=np.int64)
        return remap[codes] if len(remap) else codes.astype(np.int64)

    def finish(self, name: str, what: str, notes: list[str], *, delimiter: str = ",",
               source: str | None = None, digest: str | None = None) -> RawData:
        """The table as RawData: one-hot columns in place of categorical ones, the target coded."""
        if self.n < 1:
            raise DataError(f"{what}: no rows below the header")
        numeric = self.X[:self.n]
        categories = {c: sorted(self.seen[c]) for c in self.spec.categorical}
        X = numeric if not categories else self._encoded(numeric, categories)
        parts = self.targets
        text = any(p.dtype == object for p in parts)
        values = np.concatenate([p.astype(str).astype(object) if text else p for p in parts])
        y, task, class_names, said = encode_target(values, self.spec.task,
                                                   f"column '{self.spec.target}'")
        table = TableInfo(list(self.features), categories, self.spec.target, delimiter)
        names = encoded_names(self.features, categories)
        note = (f"read {what}: {self.n} rows, {len(self.features)} feature column(s)"
                + (f" ({X.shape[1]} after one-hot encoding {', '.join(categories)})"
                   if categories else "") + f", target '{self.spec.target}' ({task})")
        return RawData(X, y, task, class_names, [*said, note, *notes], feature_names=names,
                       source=source, digest=digest, table=table)

    def _encoded(self, numeric: np.ndarray, categories: dict[str, list[str]]) -> np.ndarray:
        widths = [len(categories[c]) if c in categories else 1 for c in self.features]
        X = np.empty((self.n, sum(widths)), dtype=np.float64)
        start, k = 0, 0
        for column, width in zip(self.features, widths, strict=True):
            if column in categories:
                order = np.argsort(np.argsort(list(self.seen[column])))  # first seen -> sorted
                codes = order[np.concatenate(self.codes[column])]
                one_hot(codes, width, X[:, start:start + width])
            else:
                X[:, start] = numeric[:, k]
                k += 1
            start += width
        return X


def assemble(chunks: Iterator[Any], features: list[str], spec: TableSpec, n_rows_hint: int,
             where: Where) -> TableAssembler:
    """Every chunk added in order."""
    assembler = TableAssembler(features, spec, n_rows_hint, where)
    for chunk in chunks:
        assembler.add(chunk)
    return assembler
