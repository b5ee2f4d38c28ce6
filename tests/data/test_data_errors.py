"""Every user mistake raises DataError with a one-line message naming the key or file."""

import re

import numpy as np
import pytest
from PIL import Image

from nnexp.data import DataError, load_dataset, load_image, make_image_folder, validate_arrays


def _raises(expected: str, fn, *args, **kwargs) -> str:
    """Call fn, assert DataError whose single-line message matches regex `expected`."""
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg, msg
    assert re.fullmatch(expected, msg), msg
    assert isinstance(info.value, ValueError)
    return msg


def test_unknown_dataset() -> None:
    _raises(
        r"data: unknown dataset 'foo'; allowed: digits, iris, wine, breast_cancer, moons, "
        r"circles, xor, line, images, csv, parquet, npz, arrays, dataframe",
        load_dataset,
        "foo",
        rng_seed=0,
    )


def test_missing_folder(tmp_path) -> None:
    missing = tmp_path / "x" / "y"
    _raises(
        f"data.image_dir: folder '{re.escape(str(missing))}' does not exist",
        load_dataset,
        "images",
        rng_seed=0,
        image_dir=str(missing),
    )


def test_image_dir_required_and_not_a_file(tmp_path) -> None:
    _raises(r"data.image_dir: required for dataset 'images' .*", load_dataset, "images", rng_seed=0)
    f = tmp_path / "file.png"
    f.write_bytes(b"")
    _raises(
        r"data.image_dir: '.*file.png' is not a folder",
        load_dataset,
        "images",
        rng_seed=0,
        image_dir=str(f),
    )


def test_empty_folder(tmp_path) -> None:
    (tmp_path / ".git").mkdir()  # hidden folders do not count as classes
    (tmp_path / "stray.png").write_bytes(b"x")
    _raises(
        f"data.image_dir: '{re.escape(str(tmp_path))}' has no class sub-folders "
        r"\(expected one folder per class, e.g. cat/ and not_cat/\)",
        load_dataset,
        "images",
        rng_seed=0,
        image_dir=str(tmp_path),
    )


def test_one_class(tmp_path) -> None:
    root = make_image_folder(tmp_path / "p", classes=("cat",), per_class=3)
    _raises(
        r"data.image_dir: only one class \('cat'\); need at least 2",
        load_dataset,
        "images",
        rng_seed=0,
        image_dir=str(root),
    )


def test_class_without_images(tmp_path) -> None:
    root = make_image_folder(tmp_path / "p", per_class=3)
    (root / "empty").mkdir()
    (root / "empty" / "notes.txt").write_text("hi")
    _raises(
        r"data.image_dir: class folder '.*empty' has no images \(allowed extensions: .*\)",
        load_dataset,
        "images",
        rng_seed=0,
        image_dir=str(root),
    )


@pytest.mark.parametrize("kind", ["truncated", "garbage"])
def test_corrupt_image(tmp_path, kind: str) -> None:
    root = make_image_folder(tmp_path / "p", per_class=3, size=(32, 32))
    bad = root / "cat" / "bad.png"
    if kind == "truncated":
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8)).save(bad)
        bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    else:
        bad.write_text("this is not a png")
    _raises(
        f"data.image_dir: cannot read image '{re.escape(str(bad))}' "
        r"\(truncated or not an image\)",
        load_dataset,
        "images",
        rng_seed=0,
        image_dir=str(root),
    )
    _raises(f"cannot read image '{re.escape(str(bad))}' .*", load_image, bad)
    _raises(r"image file '.*nope.png' does not exist", load_image, root / "nope.png")


def test_single_sample() -> None:
    _raises(
        r"data: too few samples \(1\) for train/val/test splits; need at least 3",
        load_dataset,
        "moons",
        rng_seed=0,
        n_samples=1,
    )


def test_too_few_images(tmp_path) -> None:
    root = make_image_folder(tmp_path / "p", per_class=1)
    _raises(
        r"data: too few samples \(2\) for train/val/test splits; need at least 3",
        load_dataset,
        "images",
        rng_seed=0,
        image_dir=str(root),
    )


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {"val_fraction": 0.0},
            r"train.val_fraction=0.0 leaves no validation data; "
            r"allowed: 0 < val_fraction < 1 and val\+test < 1",
        ),
        ({"test_fraction": 0}, r"train.test_fraction=0.0 leaves no test data; .*"),
        (
            {"val_fraction": 0.5, "test_fraction": 0.5},
            r"train.val_fraction=0.5 \+ "
            r"train.test_fraction=0.5 leaves no training data; allowed: val\+test < 1",
        ),
        ({"val_fraction": "0.2"}, r"train.val_fraction='0.2' is not a number; .*"),
        ({"val_fraction": float("nan")}, r"train.val_fraction=nan is not finite; .*"),
        ({"standardize": "false"}, r"data.standardize='false' is not a boolean; .*"),
        ({"dtype": "int8"}, r"dtype='int8' is not allowed; allowed: float32, float64"),
        ({"rng_seed": -1}, r"rng_seed=-1 is too small; allowed: integers >= 0"),
        ({"rng_seed": 1.5}, r"rng_seed=1.5 is not an integer; .*"),
        ({"n_samples": 0}, r"data.n_samples=0 is too small; allowed: integers >= 1"),
        ({"noise": -0.1}, r"data.noise=-0.1 is negative; allowed: a number >= 0"),
    ],
)
def test_bad_settings(kwargs: dict, expected: str) -> None:
    kw = {"rng_seed": 0, **kwargs}
    _raises(expected, load_dataset, "moons", **kw)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"image_size": (16,)}, r"data.image_size=\[16\] is invalid; allowed: two positive .*"),
        ({"image_size": (0, 16)}, r"data.image_size=\[0, 16\] is invalid; .*"),
        ({"image_size": "32x32"}, r"data.image_size='32x32' is invalid; .*"),
        ({"image_mode": "CMYK"}, r"data.image_mode='CMYK' is not allowed; allowed: L, RGB"),
    ],
)
def test_bad_image_settings(tmp_path, kwargs: dict, expected: str) -> None:
    root = make_image_folder(tmp_path / "p", per_class=3)
    _raises(expected, load_dataset, "images", rng_seed=0, image_dir=str(root), **kwargs)


def test_image_size_accepts_list_and_int(tmp_path) -> None:
    root = make_image_folder(tmp_path / "p", per_class=3)
    a = load_dataset("images", rng_seed=0, image_dir=str(root), image_size=[8, 6])
    b = load_dataset("images", rng_seed=0, image_dir=str(root), image_size=8)
    assert a.image_shape == (6, 8) and b.image_shape == (8, 8)


def test_nan_and_inf_in_data() -> None:
    X = np.array([[0.0, 1.0], [np.nan, 2.0], [np.inf, 0.0]])
    _raises(
        r"data: NaN or inf values in features \(2 value\(s\), first at row 1, column 0\)",
        validate_arrays,
        X,
        [0, 1, 0],
        "classification",
    )
    _raises(
        r"data: NaN or inf values in targets .*",
        validate_arrays,
        np.zeros((2, 1)),
        [1.0, np.nan],
        "regression",
    )
    _raises(
        r"data: targets shape \(3,\) does not match 2 feature rows",
        validate_arrays,
        np.zeros((2, 1)),
        [0, 1, 0],
        "classification",
    )
    _raises(
        r"data: features must be 2-D .*", validate_arrays, np.zeros(3), [0, 1, 0], "classification"
    )
    Xc, yc = validate_arrays(np.zeros((2, 1)), [[1.5], [2.0]], "regression")
    assert Xc.dtype == np.float64 and yc.shape == (2, 1)


def test_relative_missing_folder_shows_resolved_path(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    _raises(
        f"data.image_dir: folder 'pets' does not exist \\(resolved to '{re.escape(str(tmp_path))}"
        r"/pets'\)",
        load_dataset,
        "images",
        rng_seed=0,
        image_dir="pets",
    )
