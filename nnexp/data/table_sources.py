"""Where a table comes from: a CSV file (pandas' C parser, in chunks, float64 parsed directly),
a Parquet file (pyarrow, in record batches) or a pandas DataFrame; each checked against the
memory it would take before a byte of data is read."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .digest import file_digest
from .errors import DataError
from .raw import RawData
from .tables import CHUNK_ROWS, TableSpec, assemble, choose_columns, first_problem, listing

PARQUET_EXTRA = "pip install 'nnexp[parquet]'"
_SAMPLE_BYTES = 1 << 20


def _size(n_bytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n_bytes < 1024 or unit == "TiB":
            return f"{n_bytes:.1f} {unit}" if unit != "B" else f"{int(n_bytes)} B"
        n_bytes /= 1024
    raise AssertionError("unreachable")


def check_fits(path: Path, n_values: float, what: str) -> None:
    """Refuse a file whose values would not fit in memory (float64 rows, then the model's
    splits), with its size, before reading it."""
    from nnexp.config.memory import available_memory

    need = n_values * 8 * 2
    available = available_memory()
    if available is not None and need > available:
        raise DataError(f"data.path: {what} is {_size(path.stat().st_size)} (about "
                        f"{n_values:.3g} values); reading it needs about {_size(need)} and "
                        f"{_size(available)} is available")


def csv_header(path: Path, delimiter: str) -> list[str]:
    """The first line's column names; DataError for an empty file or a row of numbers."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle, delimiter=delimiter), None)
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"data.path: cannot read '{path}' "
                        f"({getattr(exc, 'strerror', None) or exc})") from None
    if not header or not any(cell.strip() for cell in header):
        raise DataError(f"data.path: '{path}' is empty; expected a header row naming the columns")
    if len(header) == 1:
        other = next((d for d in (",", ";", "\t", "|") if d != delimiter and d in header[0]), None)
        if other is not None:
            word = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}[other]
            raise DataError(f"data.path: '{path}' line 1 is one column '{header[0][:40]}'; "
                            f"separated by {word}s? set data.delimiter={word}")
    if all(_is_number(cell) for cell in header):
        shown = "tab" if delimiter == "\t" else delimiter
        hint = "" if len(header) > 1 else f" (or not separated by {shown!r}: see data.delimiter)"
        raise DataError(f"data.path: '{path}' line 1 holds numbers, not column names; nnexp "
                        f"needs a header row naming the columns{hint}")
    return header


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv_rows_hint(path: Path) -> int:
    """Rows below the header, counted as line breaks (an upper bound: blank lines count too)."""
    lines, last = 0, b"\n"
    with open(path, "rb") as handle:
        while block := handle.read(1 << 24):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n") - 1


def csv_values_estimate(path: Path) -> float:
    """Values a CSV holds, estimated from its first MiB: one a separator or line break."""
    with open(path, "rb") as handle:
        sample = handle.read(_SAMPLE_BYTES)
    cells = sum(sample.count(d) for d in (b",", b";", b"\t", b"|", b"\n"))
    return path.stat().st_size * max(cells, 1) / max(len(sample), 1)


def parquet_values(path: Path) -> int | None:
    """Values a Parquet file holds (rows x columns, from its footer); None without pyarrow or
    for a file that is not Parquet (reading it says why)."""
    try:
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(path).metadata
    except Exception:
        return None
    return int(meta.num_rows) * max(int(meta.num_columns), 1)


def read_csv_table(path: str, spec: TableSpec, delimiter: str, digest: str | None = None
                   ) -> RawData:
    """A CSV (or TSV) file with a header row, as RawData."""
    import pandas as pd

    file = Path(path).expanduser()
    what = f"'{file}'"
    check_fits(file, csv_values_estimate(file), what)
    columns = csv_header(file, delimiter)
    features = choose_columns(columns, spec, what)
    numeric = [c for c in features if c not in spec.categorical]
    dtypes: dict[str, Any] = {**dict.fromkeys(numeric, np.float64),
                              **dict.fromkeys(spec.categorical, str)}

    def where(row: int) -> str:
        return f"data.path {what} line {row + 2}"

    def chunks(types: dict[str, Any]) -> Iterator[Any]:
        yield from pd.read_csv(file, sep=delimiter, usecols=[*features, spec.target],
                               dtype=types, chunksize=CHUNK_ROWS, engine="c",
                               encoding="utf-8")

    try:
        table = assemble(chunks(dtypes), features, spec, _csv_rows_hint(file), where)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        if isinstance(exc, DataError):
            raise
        raise _diagnose(chunks(dict.fromkeys([*features, spec.target], str)), numeric, where,
                        exc, what) from None
    return table.finish("csv", what, [], delimiter=delimiter, source=str(file),
                        digest=digest or file_digest(file))


def _diagnose(chunks: Iterator[Any], numeric: list[str], where: Any, exc: Exception,
              what: str) -> DataError:
    """Why the fast read failed: the first bad cell, read again as text, or pandas' own line."""
    offset = 0
    try:
        for chunk in chunks:
            problem = first_problem(chunk, numeric, offset, where)
            if problem is not None:
                return problem
            offset += len(chunk)
    except Exception as again:  # malformed lines: pandas names the line
        exc = again
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
    return DataError(f"data.path: cannot read {what}: {text}")


def read_parquet_table(path: str, spec: TableSpec, digest: str | None = None) -> RawData:
    """A Parquet file (pyarrow), read in record batches, as RawData."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"data=parquet: needs pyarrow, which is not installed: "
                        f"{PARQUET_EXTRA}") from None
    file = Path(path).expanduser()
    what = f"'{file}'"
    try:
        parquet = pq.ParquetFile(file)
    except Exception as exc:  # pyarrow raises its own types for a file that is not Parquet
        raise DataError(f"data.path: {what} is not a Parquet file ({str(exc).splitlines()[0]})"
                        ) from None
    meta = parquet.metadata
    check_fits(file, meta.num_rows * max(meta.num_columns, 1), what)
    features = choose_columns(list(parquet.schema_arrow.names), spec, what)

    def where(row: int) -> str:
        return f"data.path {what} row {row + 1}"

    batches = (b.to_pandas() for b in parquet.iter_batches(batch_size=CHUNK_ROWS,
                                                            columns=[*features, spec.target]))
    table = assemble(batches, features, spec, meta.num_rows, where)
    return table.finish("parquet", what, [], source=str(file), digest=digest or file_digest(file))


def frame_table(frame: Any, spec: TableSpec, digest: str) -> RawData:
    """A pandas DataFrame given from Python, as RawData (its column names turned to text)."""
    labels = {str(c): c for c in frame.columns}
    if len(labels) < len(frame.columns):
        names = [str(c) for c in frame.columns]
        twice = next(n for n in names if names.count(n) > 1)
        raise DataError(f"data: the DataFrame has two columns named '{twice}'; rename one")
    what = f"the DataFrame ({len(frame)} rows, columns: {listing(list(labels))})"
    features = choose_columns(list(labels), spec, "the DataFrame", "data")
    picked = [labels[c] for c in [*features, spec.target]]

    def where(row: int) -> str:
        return f"data: the DataFrame's row {row} (index {frame.index[row]!r})"

    def chunks() -> Iterator[Any]:
        for start in range(0, len(frame), CHUNK_ROWS):
            chunk = frame.iloc[start:start + CHUNK_ROWS][picked]
            chunk.columns = [*features, spec.target]
            yield chunk

    table = assemble(chunks(), features, spec, len(frame), where)
    return table.finish("dataframe", what, [], source=f"pandas DataFrame {len(frame)} x "
                        f"{len(frame.columns)}", digest=digest)
