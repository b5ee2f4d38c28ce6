"""`load_dataset`: validate keyword settings, build raw arrays, split, standardise, cast."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from nnexp.config.vocabulary import DATASETS, DELIMITER_ALIASES, DELIMITERS, IN_MEMORY_DATASETS

from .checks import check_bool, check_dtype, check_fractions, check_int, check_real
from .dataset import RAW_HEAD_ROWS, Dataset, default_feature_names
from .digest import array_digest, file_digest, folder_digest
from .errors import DataError
from .images import load_image_folder
from .raw import RawData
from .scaling import apply_scaler, fit_scaler_rows
from .sklearn_sets import SKLEARN_LOADERS, load_sklearn_set
from .splits import split_indices
from .synthetic import SYNTHETIC_NAMES, load_synthetic_set
from .tables import TableSpec

SCALE_BLOCK_ROWS = 1 << 14  # rows scaled at a time: elementwise, so the same numbers as at once


def _seeds(rng_seed: object) -> tuple[int, np.random.Generator]:
    """Derive independent streams from one seed: an int for generation, a Generator for splits."""
    seed = check_int("rng_seed", rng_seed, minimum=0)
    gen_ss, split_ss = np.random.SeedSequence(seed).spawn(2)
    return int(gen_ss.generate_state(1)[0]), np.random.default_rng(split_ss)


def _raw(
    name: str,
    *,
    gen_seed: int,
    n_samples: object,
    noise: object,
    line_a: object,
    line_b: object,
    image_dir: object,
    image_size: object,
    image_mode: object,
    user: dict[str, Any],
) -> RawData:
    """Produce unsplit arrays for `name`, validating only the settings that dataset uses."""
    if name in ("csv", "parquet", "npz", *IN_MEMORY_DATASETS):
        return _user_raw(name, **user)
    if name in SKLEARN_LOADERS:
        return load_sklearn_set(name)
    if name in SYNTHETIC_NAMES:
        n = check_int("data.n_samples", n_samples, minimum=1)
        nz = check_real("data.noise", noise, allowed="a number >= 0")
        if nz < 0:
            raise DataError(f"data.noise={noise!r} is negative; allowed: a number >= 0")
        a = check_real("data.line_a", line_a, allowed="a finite number")
        b = check_real("data.line_b", line_b, allowed="a finite number")
        return load_synthetic_set(name, n_samples=n, noise=nz, line_a=a, line_b=b, seed=gen_seed)
    if image_dir is None or not str(image_dir).strip():
        raise DataError(
            "data.image_dir: required for dataset 'images' "
            "(a folder with one sub-folder per class, e.g. cat/ and not_cat/)"
        )
    return load_image_folder(str(image_dir), image_size, image_mode)


def load_dataset(
    name: str,
    *,
    rng_seed: int,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    standardize: bool = True,
    dtype: str = "float32",
    n_samples: int = 1000,
    noise: float = 0.1,
    line_a: float = 2.0,
    line_b: float = -1.0,
    image_dir: str | None = None,
    image_size: tuple[int, int] = (32, 32),
    image_mode: str = "L",
    path: str | None = None,
    target: str | None = None,
    delimiter: str = ",",
    features: list[str] | None = None,
    task: str | None = None,
    categorical: list[str] | None = None,
    digest: str | None = None,
) -> Dataset:
    """Load dataset `name` split into train/val/test; same arguments give bit-identical arrays.

    csv, parquet and npz read `path` (csv and parquet: `target`, `features`, `categorical`,
    csv: `delimiter`); arrays and dataframe are the data given from Python under `digest`.
    A `digest` given for a file or an image folder must match its content (it changed, else).
    Raises DataError (a ValueError) with a one-line message for any bad setting or file.
    """
    if not isinstance(name, str) or name not in DATASETS:
        raise DataError(f"data: unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
    val_f, test_f = check_fractions(val_fraction, test_fraction)
    do_std = check_bool("data.standardize", standardize)
    out_dtype = check_dtype(dtype)
    gen_seed, split_rng = _seeds(rng_seed)

    raw = _raw(
        name,
        gen_seed=gen_seed,
        n_samples=n_samples,
        noise=noise,
        line_a=line_a,
        line_b=line_b,
        image_dir=image_dir,
        image_size=image_size,
        image_mode=image_mode,
        user={"path": path, "target": target, "delimiter": delimiter, "task": task,
              "features": None if features is None else [str(f) for f in features],
              "categorical": [str(c) for c in categorical or []], "digest": digest},
    )
    raw = _with_origin(raw, name, image_dir, digest)
    return split_and_scale(raw, name, val_fraction=val_f, test_fraction=test_f,
                           standardize=do_std, dtype=out_dtype, rng=split_rng)


def current_digest(name: str, path: str | None, image_dir: str | None) -> str | None:
    """The digest of a file or image folder as it is now; None for other sources."""
    if name in ("csv", "parquet", "npz") and path:
        file = Path(path).expanduser()
        if not file.is_file():
            raise DataError(f"data.path: file '{file}' does not exist")
        _refuse_if_too_large(name, file)  # before its bytes are hashed, let alone read
        return file_digest(file)
    if name == "images" and image_dir and Path(image_dir).expanduser().is_dir():
        return folder_digest(Path(image_dir).expanduser())
    return None


def _refuse_if_too_large(name: str, file: Path) -> None:
    """DataError with the file's size when its values would not fit in memory."""
    from .table_sources import check_fits, csv_values_estimate

    if name == "csv":
        check_fits(file, csv_values_estimate(file), f"'{file}'")
    elif name == "npz":
        from .npz_files import n_values

        check_fits(file, n_values(file), f"'{file}'")
    else:
        from .table_sources import parquet_values

        found = parquet_values(file)
        if found is not None:
            check_fits(file, found, f"'{file}'")


def changed_message(what: str, now: str, recorded: str) -> str:
    """One line: the data is not what was recorded."""
    return (f"{what} changed since it was recorded: its sha256 is now {now[:12]}..., the "
            f"record says {recorded[:12]}... (data.digest)")


def _user_raw(name: str, *, path: str | None, target: str | None, delimiter: str,
              task: str | None, features: list[str] | None, categorical: list[str],
              digest: str | None) -> RawData:
    """A user's own data: a file (csv, parquet, npz), or what was given from Python."""
    from .in_memory import arrays_raw, describe_arrays, given

    if name in IN_MEMORY_DATASETS:
        data = given(name, digest)
        assert digest is not None
        if name == "arrays":
            return arrays_raw(data[0], data[1], task, digest, describe_arrays(*data))
        from .table_sources import frame_table

        if not target:
            raise DataError("data.target: required for a DataFrame (the column to predict): "
                            "nnexp.run(cfg, data=frame, target='column')")
        return frame_table(data, TableSpec(target, features, categorical, task), digest)
    if not path:
        raise DataError(f"data.path: required for data={name} (the file to read)")
    now = current_digest(name, path, None)
    if digest is not None and now != digest:
        raise DataError("data.path: " + changed_message(f"'{path}'", str(now), digest))
    if name == "npz":
        from .npz_files import load_npz

        return load_npz(path, task, now)
    if not target:
        raise DataError(f"data.target: required for data={name} (the column to predict)")
    spec = TableSpec(target, features, categorical, task)
    if name == "parquet":
        from .table_sources import read_parquet_table

        return read_parquet_table(path, spec, now)
    from .table_sources import read_csv_table

    delimiter = DELIMITER_ALIASES.get(delimiter, delimiter)
    if delimiter not in DELIMITERS:
        raise DataError(f"data.delimiter={delimiter!r} is not allowed; allowed: "
                        + ", ".join(f"'{k}'" for k in DELIMITERS))
    return read_csv_table(path, spec, DELIMITERS[delimiter], now)


def _with_origin(raw: RawData, name: str, image_dir: object, digest: str | None) -> RawData:
    """RawData with where it came from and its digest (built-in sets: of their arrays)."""
    if raw.digest is not None:
        return raw
    if name == "images":
        now = folder_digest(Path(str(image_dir)).expanduser())
        if digest is not None and now != digest:
            raise DataError("data.image_dir: " + changed_message(f"'{image_dir}'", now, digest))
        return dataclasses.replace(raw, source=str(image_dir), digest=now)
    source = (f"sklearn.datasets.load_{name}" if name in SKLEARN_LOADERS
              else f"generated {name}")
    return dataclasses.replace(raw, source=source, digest=array_digest(raw.X, raw.y))


def _scaled_rows(X: np.ndarray, rows: np.ndarray, mean: np.ndarray | None,
                 std: np.ndarray | None, dtype: str) -> np.ndarray:
    """X[rows] standardised and cast to `dtype`, a block of rows at a time: no temporary of the
    whole split (elementwise, so the same numbers as at once)."""
    out = np.empty((rows.shape[0], X.shape[1]), dtype=dtype)
    for start in range(0, rows.shape[0], SCALE_BLOCK_ROWS):
        block = rows[start:start + SCALE_BLOCK_ROWS]
        out[start:start + block.shape[0]] = (
            X[block].astype(dtype) if mean is None or std is None
            else apply_scaler(X[block], mean, std, dtype))
    return out


def split_and_scale(raw: RawData, name: str, *, val_fraction: float, test_fraction: float,
                    standardize: bool, dtype: str, rng: np.random.Generator) -> Dataset:
    """One source's arrays split (stratified for classes, seeded by `rng`) and scaled with
    statistics of the training split only."""
    notes = list(raw.notes)
    is_clf = raw.task == "classification"
    idx = split_indices(
        raw.y if is_clf else None,
        raw.X.shape[0],
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        rng=rng,
    )
    notes.append(idx.note)

    mean = std = None
    if raw.image_shape is not None:
        if standardize:
            notes.append("standardize ignored for images (pixels are scaled to [0, 1])")
    elif standardize:
        mean, std, n_const = fit_scaler_rows(raw.X, idx.train)
        notes.append("standardized features with mean/std fitted on the training split only")
        if n_const:
            notes.append(f"{n_const} feature(s) constant in the training split; left unscaled")

    def xs(rows: np.ndarray) -> np.ndarray:
        return _scaled_rows(raw.X, rows, mean, std, dtype)

    def ys(rows: np.ndarray) -> np.ndarray:
        return raw.y[rows].astype(np.int64 if is_clf else dtype)

    return Dataset(
        name=name,
        task=raw.task,
        X_train=xs(idx.train),
        y_train=ys(idx.train),
        X_val=xs(idx.val),
        y_val=ys(idx.val),
        X_test=xs(idx.test),
        y_test=ys(idx.test),
        class_names=list(raw.class_names),
        n_features=int(raw.X.shape[1]),
        n_classes=len(raw.class_names) if is_clf else 0,
        image_shape=raw.image_shape,
        notes=notes,
        scaler_mean=mean,
        scaler_std=std,
        image_mode=raw.image_mode,
        truth=raw.truth,
        feature_names=list(raw.feature_names or default_feature_names(
            int(raw.X.shape[1]), raw.image_shape is not None)),
        raw_head=raw.X[idx.train[:RAW_HEAD_ROWS]].copy(),
        source=raw.source,
        digest=raw.digest,
        table=raw.table,
    )
