"""`python -m nnexp.predict RUN_ID INPUT`: a logged run's network on pictures or a CSV of rows.

    python -m nnexp.predict 3f2a... cat.png         # "is there a cat in this picture?"
    python -m nnexp.predict 3f2a... pictures/       # every picture in the folder, one per line
    python -m nnexp.predict 3f2a... rows.csv        # one line per row (raw, unscaled features)

A run trained on a table (data=csv, parquet, a DataFrame) reads rows.csv by column name: a
header row, the columns in any order, extra columns ignored with a note.
Other runs read rows of numbers; a first row is a header only when it names the run's features.

It computes with the run's weights.npz and model_meta.json, read as data: no code from the
artifact store runs (loading the logged MLflow model would run its Python code).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from nnexp.cli import UserAbort, run_cli
from nnexp.config.vocabulary import IMAGE_EXTENSIONS
from nnexp.data import DataError, load_image
from nnexp.tracking.logged_network import LoggedNetwork, ModelMeta, load_logged_network

PROG = "nnexp.predict"
MAX_NAME = 60  # characters of a class name printed; the rest is cut with an ellipsis


def load_run_network(uri: str, run_id: str) -> LoggedNetwork:
    """The run's network; UserAbort (one line) for an unknown run, RecordError for a bad record."""
    from mlflow.exceptions import MlflowException

    from nnexp.record.redact import redact
    from nnexp.tracking.records import open_store

    client = open_store(uri)
    try:
        client.get_run(run_id)
    except MlflowException:
        raise UserAbort(f"run '{run_id}' not found in {redact(uri)}") from None
    return load_logged_network(client, run_id)


def shown(path: Path) -> str:
    """A path as text that can always be printed (undecodable bytes of a file name escaped)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def printable(text: str, limit: int = MAX_NAME) -> str:
    """`text` from the record made safe for a terminal: control and format characters (escape
    sequences, bidi overrides) shown as `\\x1b`-style escapes, cut to `limit` characters."""
    safe = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)
    return safe if len(safe) <= limit else safe[:limit - 1] + "\u2026"


# ---- inputs ------------------------------------------------------------------------------------

def read_named_rows(path: Path, meta: ModelMeta) -> tuple[np.ndarray, list[str]]:
    """A table's rows by column name (a header row; any order; extra columns ignored with a
    note), encoded as the run's features were; each row named `file: line N`."""
    import pandas as pd

    from nnexp.data.tables import encode_table, listing

    assert meta.input_columns is not None
    try:
        frame = pd.read_csv(path, sep=meta.delimiter, dtype=str, encoding="utf-8")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        text = (str(getattr(exc, "strerror", None) or exc).strip().splitlines() or ["?"])[-1]
        raise UserAbort(f"cannot read '{shown(path)}': {text}") from None
    names = [str(c) for c in frame.columns]
    twice = [n for i, n in enumerate(names) if n in names[:i]]
    missing = [c for c in meta.input_columns if c not in names]
    if missing or twice or frame.columns.duplicated().any():
        problem = (f"column '{missing[0]}' is missing" if missing
                   else f"column '{(twice or names)[0]}' is named twice")
        raise UserAbort(f"{shown(path)}: {problem}; this run was trained on the columns "
                        f"{listing(meta.input_columns)} (a header row names them, in any order)")
    extra = [n for n in names if n not in meta.input_columns]
    if extra:
        print(f"note: ignored {len(extra)} column(s) the run did not train on: {listing(extra)}",
              file=sys.stderr)
    if frame.empty:
        raise UserAbort(f"{shown(path)}: no rows below the header")

    def where(row: int) -> str:
        return f"{shown(path)}: line {row + 2}"

    try:
        rows = encode_table(frame, meta.input_columns, meta.categories or {}, where)
    except DataError as exc:
        raise UserAbort(str(exc)) from None
    return rows, [where(i) for i in range(len(frame))]


def read_csv(path: Path, meta: ModelMeta) -> tuple[np.ndarray, list[str]]:
    """Rows of a CSV (an optional header), each named `file:line`; every value must be finite."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserAbort(f"cannot read '{shown(path)}': "
                        f"{getattr(exc, 'strerror', None) or exc}") from None
    lines = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    header: list[str] = []
    if lines and _is_header(lines[0][1].split(","), meta.feature_names):
        header = [cell.strip() for cell in lines.pop(0)[1].split(",")]
    n_features = meta.n_features
    if not lines:
        raise UserAbort(f"{shown(path)}: no rows (expected rows of {n_features} numbers)")
    rows = []
    for number, line in lines:
        cells = line.split(",")
        if len(cells) != n_features:
            raise UserAbort(f"{shown(path)}: line {number} has {len(cells)} values; this run "
                            f"expects rows of {n_features} numbers")
        try:
            rows.append([float(cell) for cell in cells])
        except ValueError:
            column = next(j for j, cell in enumerate(cells) if not _number(cell))
            hint = _header_hint(cells, meta.feature_names) if (number, line) == lines[0] else ""
            raise UserAbort(f"{_cell(path, number, column, header)}: "
                            f"'{printable(cells[column].strip())}' is not a number{hint}") from None
    array = np.array(rows, dtype=np.float64)
    bad = np.argwhere(~np.isfinite(array))
    if bad.size:
        (i, column), number = bad[0], lines[bad[0][0]][0]
        raise UserAbort(f"{_cell(path, number, column, header)}: "
                        f"{lines[i][1].split(',')[column].strip()!r} is not a finite number; the "
                        "network cannot predict from NaN or infinity")
    return array, [f"{shown(path)}: line {number}" for number, _ in lines]


def _is_header(cells: list[str], names: list[str] | None) -> bool:
    """A header row: the run's feature names (in their order), or, for a run that recorded no
    names, a row mostly of text. A typo in a row of numbers (`O.2`) leaves it a row."""
    cells = [cell.strip() for cell in cells]
    if names:
        return [c.casefold() for c in cells] == [n.casefold() for n in names]
    return 2 * sum(not _number(cell) for cell in cells) > len(cells)


def _header_hint(cells: list[str], names: list[str] | None) -> str:
    """What the first row lacked to be read as a header, when it looks like one."""
    if not names or any(_number(cell) for cell in cells):
        return ""
    wanted = [printable(n, 20) for n in names[:4]]
    more = ", ..." if len(names) > 4 else ""
    if sorted(c.strip().casefold() for c in cells) == sorted(n.casefold() for n in names):
        return f" (a header row names the features in the run's order: {', '.join(wanted)}{more})"
    return f" (a header row must name the run's features: {', '.join(wanted)}{more})"


def _cell(path: Path, number: int, column: int, header: list[str]) -> str:
    """`rows.csv: line 3, column 2 (age)`: where a value is, as a user finds it in an editor."""
    name = f" ({header[column]})" if column < len(header) and header[column] else ""
    return f"{shown(path)}: line {number}, column {column + 1}{name}"


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def read_picture(path: Path, meta: ModelMeta) -> np.ndarray:
    """One picture as a raw row, read exactly as training read the image folder."""
    assert meta.image_size is not None and meta.image_mode is not None
    try:
        return load_image(path, meta.image_size, meta.image_mode, "float64")
    except DataError as exc:
        raise UserAbort(str(exc).splitlines()[0].replace(str(path), shown(path))) from None


def pictures_in(folder: Path) -> tuple[list[Path], list[Path]]:
    """(pictures, other files) under `folder`, sorted; hidden files and folders are left out."""
    pictures, others = [], []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(root) / name
            (pictures if path.suffix.lower() in IMAGE_EXTENSIONS else others).append(path)
    return pictures, others


def _require_images(meta: ModelMeta, what: str) -> None:
    if meta.image_shape is None:
        raise UserAbort(f"{what}: this run was not trained on images; give a CSV of rows")


# ---- outputs -----------------------------------------------------------------------------------

def describe(outputs: np.ndarray, meta: ModelMeta) -> list[str]:
    """One line per row: the predicted class and every class's probability, or the values."""
    if meta.task != "classification":
        return [" ".join(f"{v:.6g}" for v in row) for row in outputs]
    names = [printable(name) for name in meta.class_names]
    lines = []
    for row in outputs:
        best = int(np.argmax(row))
        ranked = "  ".join(f"{names[i]} {row[i]:.3f}" for i in np.argsort(-row))
        lines.append(f"{names[best]}  ({ranked})")
    return lines


def predict_rows(model: LoggedNetwork, rows: np.ndarray, names: list[str]) -> list[str]:
    """Descriptions of each row's prediction; a row the network cannot compute is refused by name.

    Finite raw values can still overflow the network's dtype (1e300 in float32).
    """
    with np.errstate(over="ignore", invalid="ignore"):  # reported below, by row
        prepared = model.prepare(rows)
        outputs = model.outputs(prepared)
    bad = np.flatnonzero(~np.isfinite(prepared).all(axis=1) | ~np.isfinite(outputs).all(axis=1))
    if bad.size:
        raise UserAbort(f"{names[bad[0]]}: the network's output is not finite for this row "
                        f"(values too large for {model.meta.dtype}?)")
    return describe(outputs, model.meta)


def predict_folder(model: LoggedNetwork, folder: Path) -> int:
    """Every picture under `folder`: `path: class (probabilities)`; unreadable ones are reported
    one line each on stderr and the others still predicted. Exit code 2 if any failed."""
    _require_images(model.meta, shown(folder))
    pictures, others = pictures_in(folder)
    if not pictures:
        raise UserAbort(f"'{shown(folder)}' holds no pictures "
                        f"(allowed extensions: {', '.join(IMAGE_EXTENSIONS)})")
    if others:
        listed = ", ".join(shown(p.relative_to(folder)) for p in others[:5])
        more = f" and {len(others) - 5} more" if len(others) > 5 else ""
        print(f"note: skipped {len(others)} file(s) that are not pictures: {listed}{more}",
              file=sys.stderr)
    rows, read, failed = [], [], 0
    for path in pictures:
        try:
            rows.append(read_picture(path, model.meta))
            read.append(path)
        except UserAbort as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            failed += 1
    if rows:
        names = [shown(p) for p in read]
        for name, line in zip(names, predict_rows(model, np.stack(rows), names), strict=True):
            print(f"{name}: {line}")
    if failed:
        raise UserAbort(f"{failed} of {len(pictures)} pictures in '{shown(folder)}' could not "
                        "be read (listed above)")
    return 0


def predict(argv: list[str] | None = None) -> int:
    """Parse the command line, load the network, print one line per input row or picture."""
    from nnexp.tracking.records import tracking_uri

    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("run_id", help="id of a run that logged its weights")
    parser.add_argument("input", type=Path,
                        help="a picture or a folder of pictures (image runs), or a CSV of rows")
    parser.add_argument("--tracking-uri", help="store (default: MLFLOW_TRACKING_URI, then "
                                               "./mlruns/mlflow.db)")
    args = parser.parse_args(argv)
    if not args.input.exists():
        raise UserAbort(f"cannot read '{shown(args.input)}': no such file")
    model = load_run_network(tracking_uri(args.tracking_uri), args.run_id)
    if args.input.is_dir():
        return predict_folder(model, args.input)
    if args.input.suffix.lower() in IMAGE_EXTENSIONS:
        _require_images(model.meta, shown(args.input))
        rows, names = read_picture(args.input, model.meta)[None, :], [shown(args.input)]
    elif model.meta.input_columns is not None:
        rows, names = read_named_rows(args.input, model.meta)
    else:
        rows, names = read_csv(args.input, model.meta)
    for line in predict_rows(model, rows, names):
        print(line)
    return 0


def main() -> None:
    run_cli(lambda: sys.exit(predict(sys.argv[1:])), PROG)


if __name__ == "__main__":
    main()
