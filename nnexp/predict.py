"""`python -m nnexp.predict RUN_ID INPUT`: a logged run's model on a picture or a CSV of rows.

    python -m nnexp.predict 3f2a... cat.png         # "is there a cat in this picture?"
    python -m nnexp.predict 3f2a... rows.csv        # one line per row (raw, unscaled features)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from nnexp.cli import UserAbort, run_cli
from nnexp.data import IMAGE_EXTENSIONS, DataError, load_image
from nnexp.tracking.model import MODEL_NAME, quiet_mlflow


def load_run_model(uri: str, run_id: str) -> Any:
    """The run's pyfunc model; UserAbort (one line) for an unknown run or a run without model."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from nnexp.tracking.store import open_client

    try:
        open_client(uri).get_run(run_id)
    except MlflowException:
        raise UserAbort(f"run '{run_id}' not found in {uri}") from None
    mlflow.set_tracking_uri(uri)
    try:
        with quiet_mlflow():
            return mlflow.pyfunc.load_model(f"runs:/{run_id}/{MODEL_NAME}")
    except (MlflowException, OSError) as exc:
        raise UserAbort(f"run '{run_id}' has no loadable model (was tracking.log_model false?): "
                        f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def read_rows(path: Path, meta: dict[str, Any]) -> np.ndarray:
    """Feature rows from a picture (read like training did) or a CSV (an optional header)."""
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        shape, mode = meta.get("image_shape"), meta.get("image_mode")
        if not shape or not mode:
            raise UserAbort(f"{path}: this run was not trained on images; give a CSV of rows")
        return load_image(path, (shape[1], shape[0]), mode, "float64")[None, :]
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise UserAbort(f"cannot read '{path}': {getattr(exc, 'strerror', None) or exc}") from None
    if lines and not _numeric(lines[0]):
        lines = lines[1:]  # a header
    try:
        rows = np.array([[float(v) for v in line.split(",")] for line in lines], dtype=np.float64)
    except ValueError as exc:
        raise UserAbort(f"{path}: not a CSV of numbers ({exc})") from None
    if rows.ndim != 2 or rows.shape[0] == 0 or rows.shape[1] != meta["n_features"]:
        raise UserAbort(f"{path}: expected rows of {meta['n_features']} numbers, "
                        f"got shape {rows.shape}")
    return rows


def _numeric(line: str) -> bool:
    try:
        [float(v) for v in line.split(",")]
    except ValueError:
        return False
    return True


def describe(outputs: np.ndarray, meta: dict[str, Any]) -> list[str]:
    """One line per row: the predicted class and every class's probability, or the values."""
    if meta["task"] != "classification":
        return [" ".join(f"{v:.6g}" for v in row) for row in outputs]
    names = meta["class_names"]
    lines = []
    for row in outputs:
        best = int(np.argmax(row))
        ranked = "  ".join(f"{names[i]} {row[i]:.3f}" for i in np.argsort(-row))
        lines.append(f"{names[best]}  ({ranked})")
    return lines


def predict(argv: list[str] | None = None) -> None:
    """Parse the command line, load the model, print one line per input row."""
    from nnexp.tracking.store import resolve_tracking_uri

    parser = argparse.ArgumentParser(prog="nnexp.predict", description=__doc__.splitlines()[0])
    parser.add_argument("run_id", help="id of a finished run that logged its model")
    parser.add_argument("input", type=Path, help="a picture (image runs) or a CSV of rows")
    parser.add_argument("--tracking-uri", help="store (default: ./mlruns/mlflow.db)")
    args = parser.parse_args(argv)
    if not args.input.is_file():
        raise UserAbort(f"cannot read '{args.input}': no such file")
    model = load_run_model(resolve_tracking_uri(args.tracking_uri), args.run_id)
    meta = model.unwrap_python_model().meta
    try:
        rows = read_rows(args.input, meta)
    except DataError as exc:
        raise UserAbort(str(exc).splitlines()[0]) from None
    for line in describe(np.asarray(model.predict(rows)), meta):
        print(line)


def main() -> None:
    run_cli(lambda: predict(sys.argv[1:]), "nnexp.predict")


if __name__ == "__main__":
    main()
