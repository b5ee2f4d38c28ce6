"""`load_dataset`: validate keyword settings, build raw arrays, split, standardise, cast."""

from __future__ import annotations

import numpy as np

from nnexp.config.vocabulary import DATASETS

from .checks import check_bool, check_dtype, check_fractions, check_int, check_real
from .dataset import RAW_HEAD_ROWS, Dataset, default_feature_names
from .errors import DataError
from .images import load_image_folder
from .raw import RawData
from .scaling import apply_scaler, fit_scaler
from .sklearn_sets import SKLEARN_LOADERS, load_sklearn_set
from .splits import split_indices
from .synthetic import SYNTHETIC_NAMES, load_synthetic_set


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
) -> RawData:
    """Produce unsplit arrays for `name`, validating only the settings that dataset uses."""
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
) -> Dataset:
    """Load dataset `name` split into train/val/test; same arguments give bit-identical arrays.

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
    )
    return split_and_scale(raw, name, val_fraction=val_f, test_fraction=test_f,
                           standardize=do_std, dtype=out_dtype, rng=split_rng)


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
        mean, std, n_const = fit_scaler(raw.X[idx.train])
        notes.append("standardized features with mean/std fitted on the training split only")
        if n_const:
            notes.append(f"{n_const} feature(s) constant in the training split; left unscaled")

    def xs(rows: np.ndarray) -> np.ndarray:
        if mean is not None and std is not None:
            return apply_scaler(raw.X[rows], mean, std, dtype)
        return raw.X[rows].astype(dtype)

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
    )
