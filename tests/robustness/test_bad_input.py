"""The catalog of bad inputs: one line naming the key, file or image; exit != 0; store untouched.

Each case runs the real command line in-process (same `main()` as `python -m nnexp.train`)
against a store that already holds a finished run, which must be left exactly as it was.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import all_runs
from PIL import Image

from nnexp.data import DataError, make_image_folder, validate_arrays

FAST = ["train.epochs=1", "model.hidden=[8]"]


def _images(root: Path, **kwargs) -> Path:
    return make_image_folder(root, per_class=4, size=(8, 8), **kwargs)


def _one_class(root: Path) -> Path:
    return _images(root, classes=("cat",))


def _empty(root: Path) -> Path:
    root.mkdir(parents=True)
    return root


def _corrupt(root: Path) -> Path:
    folder = _images(root)
    png = next((folder / "cat").glob("*.png"))
    png.write_bytes(png.read_bytes()[:40])  # truncated
    return folder


def _not_an_image(root: Path) -> Path:
    folder = _images(root)
    (folder / "not_cat" / "notes.png").write_text("this is text, not a picture")
    return folder


def _single_sample(root: Path) -> Path:
    for name in ("cat", "not_cat"):
        (root / name).mkdir(parents=True)
    Image.new("L", (8, 8), 255).save(root / "cat" / "only.png")
    return root


def _broken_yaml(root: Path) -> Path:
    (root / "experiment").mkdir(parents=True)
    (root / "experiment" / "broken.yaml").write_text("train:\n  epochs: [1, 2\n")
    return root


# (id, overrides, expected last stderr line as a regex); `{dir}` is a folder made by `setup`.
CASES: list[tuple[str, list[str], str, object]] = [
    ("lr-not-a-number", ["lr=abc"], r"lr: 'abc' is not a valid float", None),
    ("lr-negative", ["lr=-1"], r"lr: must be a finite number > 0, got -1.0", None),
    ("lr-zero", ["lr=0"], r"lr: must be a finite number > 0, got 0.0", None),
    ("lr-infinite", ["lr=inf"], r"lr: must be a finite number > 0, got inf", None),
    ("width-zero", ["model.hidden=[0]"], r"model.hidden: every width must be >= 1, got \[0\]",
     None),
    ("hidden-not-a-list", ["model.hidden=abc"], r"model.hidden: expected a list", None),
    ("hidden-not-ints", ["model.hidden=[a]"], r"model.hidden\[0\]: 'a' is not a valid integer",
     None),
    ("epochs-negative", ["train.epochs=-3"], r"train.epochs: must be >= 1, got -3", None),
    ("batch-size-zero", ["train.batch_size=0"], r"train.batch_size: must be >= 1, got 0", None),
    ("batch-size-text", ["train.batch_size=big"], r"train.batch_size: 'big' is not a valid int",
     None),
    ("seed-text", ["seed=abc"], r"seed: 'abc' is not a valid int", None),
    ("unknown-key", ["foo=1"], r"foo: unknown config key", None),
    ("unknown-nested-key", ["model.depth=3"], r"model.depth: unknown config key", None),
    ("unknown-optimizer", ["optimizer=nope"],
     r"optimizer: unknown option 'nope'; allowed: adam, adamw, momentum, nesterov, rmsprop, sgd",
     None),
    ("unknown-data", ["data=mnist"], r"data: unknown option 'mnist'; allowed: breast_cancer", None),
    ("unknown-schedule", ["schedule=warp"], r"schedule: unknown option 'warp'", None),
    ("unknown-activation", ["model.activation=swish"],
     r"model.activation: got 'swish'; allowed: relu, leaky_relu, sigmoid, tanh, identity", None),
    ("unknown-dtype", ["model.dtype=float16"],
     r"model.dtype: got 'float16'; allowed: float32, float64", None),
    ("momentum-out-of-range", ["optimizer=momentum", "optimizer.momentum=1.5"],
     r"optimizer.momentum: must be in \[0, 1\), got 1.5", None),
    ("val-fraction-too-big", ["train.val_fraction=1.5"], r"train.val_fraction: must be in \(0, 1\)",
     None),
    ("val-fraction-zero", ["train.val_fraction=0"], r"train.val_fraction: must be in \(0, 1\)",
     None),
    ("fractions-leave-no-training", ["train.val_fraction=0.6", "train.test_fraction=0.5"],
     r"train.test_fraction: must be in \(0, 1\) with val_fraction \+ test_fraction < 1", None),
    ("loss-does-not-fit-task", ["train.loss=mse"],
     r"train.loss: 'mse' does not fit classification data 'digits'; allowed: cross_entropy, bce",
     None),
    ("override-syntax", ["lr=[1,"], r"cannot parse override", None),
    ("malformed-yaml", ["--config-dir={dir}", "experiment=broken"],
     r"broken.yaml.*malformed YAML|broken.yaml", _broken_yaml),
    ("missing-required-value", ["data=images"], r"data.image_dir: (missing required|required)",
     None),
    ("image-dir-missing", ["data=images", "data.image_dir={dir}/nowhere"],
     r"data.image_dir: folder '.*nowhere' does not exist", None),
    ("image-dir-empty", ["data=images", "data.image_dir={dir}"],
     r"data.image_dir: '.*' has no class sub-folders", _empty),
    ("image-one-class", ["data=images", "data.image_dir={dir}"],
     r"data.image_dir: only one class \('cat'\); need at least 2", _one_class),
    ("image-truncated", ["data=images", "data.image_dir={dir}"],
     r"cannot read image '.*cat.*\.png'", _corrupt),
    ("image-not-an-image", ["data=images", "data.image_dir={dir}"],
     r"cannot read image '.*notes.png'", _not_an_image),
    ("image-single-sample", ["data=images", "data.image_dir={dir}"],
     r"data.image_dir: class folder '.*not_cat' has no images", _single_sample),
    ("image-size-zero", ["data=images", "data.image_dir={dir}", "data.image_size=[0,8]"],
     r"data.image_size: must be two positive ints", _empty),
    ("image-mode-unknown", ["data=images", "data.image_dir={dir}", "data.image_mode=CMYK"],
     r"data.image_mode: got 'CMYK'; allowed: L, RGB", _empty),
    ("store-unknown-scheme", ["tracking.uri=foo://bar"],
     r"tracking.uri: unknown scheme 'foo' in 'foo://bar'; allowed: sqlite", None),
    ("store-unwritable", ["tracking.uri=sqlite:///{dir}/file/mlflow.db"],
     r"tracking.uri: cannot create store folder", "file"),
    ("store-server-down", ["tracking.uri=http://127.0.0.1:9"],
     r"tracking.uri: no MLflow server answers at http://127.0.0.1:9", None),
]


@pytest.fixture(scope="module")
def seeded_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store holding one finished run, which no bad input may change."""
    from nnexp.train import main

    root = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    code, err = _call(main, [*FAST, f"tracking.uri={uri}", f"hydra.run.dir={root}/out"])
    assert code == 0, err
    return uri


def _call(main, args: list[str]) -> tuple[int, str]:
    saved = sys.argv
    sys.argv = ["nnexp.train", *args]
    err = io.StringIO()
    code = 0
    try:
        with contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = saved
    return code, err.getvalue()


def _snapshot(uri: str) -> list[tuple]:
    return sorted((r.info.run_id, r.info.status, r.info.end_time, len(r.data.metrics))
                  for r in all_runs(uri))


@pytest.mark.parametrize(("args", "expected", "setup"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_gets_one_line_and_leaves_store_alone(args, expected, setup, seeded_store,
                                                         tmp_path, monkeypatch):
    from nnexp.train import main

    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "input"
    if setup == "file":
        folder.mkdir()
        (folder / "file").write_text("a file where the store folder should be")
    elif setup is not None:
        setup(folder)
    args = [a.replace("{dir}", str(folder)) for a in args]
    if not any(a.startswith("tracking.uri=") for a in args):
        args.append(f"tracking.uri={seeded_store}")
    before = _snapshot(seeded_store)

    flags = [a for a in args if a.startswith("--")]  # Hydra takes flags before overrides
    code, err = _call(main, [*flags, *FAST, *[a for a in args if a not in flags]])

    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("nnexp.train: error: ")]
    assert len(errors) == 1 and errors[0] == lines[-1], err
    assert re.search(expected, errors[0]), errors[0]
    assert "Traceback" not in err
    assert _snapshot(seeded_store) == before


def test_nan_or_inf_in_features_is_refused_with_one_line():
    X = np.ones((10, 3))
    X[4, 1] = np.nan
    with pytest.raises(DataError, match=r"NaN or inf") as info:
        validate_arrays(X, np.zeros(10, dtype=np.int64), "classification")
    assert "\n" not in str(info.value)


def test_mixed_image_sizes_and_modes_are_converted_with_a_note(tmp_path, monkeypatch,
                                                                seeded_store):
    from nnexp.train import main

    folder = _images(tmp_path / "pics")
    Image.new("RGB", (20, 12), (200, 10, 10)).save(folder / "cat" / "big_colour.png")
    Image.new("LA", (5, 5)).save(folder / "not_cat" / "small_alpha.png")
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'own.db'}"
    code, err = _call(main, [*FAST, "data=images", f"data.image_dir={folder}",
                             "data.image_size=[8,8]", f"tracking.uri={uri}"])
    assert code == 0, err
    assert re.search(r"note: .*convert", err)
    (run,) = all_runs(uri)
    assert run.info.status == "FINISHED"
    assert "convert" in run.data.tags["nnexp.data_notes"]
