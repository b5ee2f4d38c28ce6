"""The catalog of bad inputs: one line naming the key, file or image; exit != 0; store untouched.

Each case runs the real command line in-process (same `main()` as `python -m nnexp.train`)
against a store that already holds a finished run, which must be left exactly as it was.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import struct
import sys
import zlib
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


def _config_dir(root: Path) -> Path:
    """A user's --config-dir: an experiment linking schedule.min_lr to lr, a new optimizer."""
    (root / "experiment").mkdir(parents=True)
    (root / "experiment" / "linked.yaml").write_text(
        "# @package _global_\nschedule:\n  min_lr: ${lr}\n")
    (root / "optimizer").mkdir()
    (root / "optimizer" / "custom.yaml").write_text(
        "# @package _global_\nlr: 0.3\noptimizer:\n  name: sgd\n")
    return root


def _non_utf8_name(root: Path) -> Path:
    folder = _images(root)
    png = next((folder / "cat").glob("*.png"))
    os.rename(os.fsencode(png), os.fsencode(folder / "cat") + b"/\xff\xfe.png")
    return folder


def _bomb(root: Path) -> Path:
    """A valid PNG whose header claims 30000 x 30000 pixels (only the header is ever read)."""
    folder = _images(root)
    png = next((folder / "cat").glob("*.png"))
    data = bytearray(png.read_bytes())  # IHDR: width, height at bytes 16-24, its CRC at 29-33
    data[16:24] = struct.pack(">II", 30000, 30000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    png.write_bytes(bytes(data))
    return folder


def _store_folder(root: Path) -> Path:
    (root / "mlflow.db").mkdir(parents=True)
    return root


LINKED = (r"schedule.min_lr: the config sets it to \$\{lr\}, so it follows lr; a value here "
          r"would part the two: set lr instead, or change the config file that links them$")
DIGITS_METRICS = ("train/loss_step, lr, grad_norm/layer1, grad_norm/layer2, train/loss, val/loss, "
                  "val/accuracy, weight_norm/layer1, weight_norm/layer2, update_ratio/layer1, "
                  "update_ratio/layer2, dead_units/layer1, epoch, test/loss, test/accuracy")
SEARCHED = r" \(searched: [^)]*\)$"  # the folders Hydra looked in
FILE_STORE = r"tracking.uri: '{uri}' is MLflow's file store, which MLflow [\d.]+ refuses; leave "

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
    ("tag-reserved-by-mlflow", ["tracking.tags={mlflow.user: someone}"],
     r"tracking.tags.mlflow.user: tags starting with mlflow. or nnexp. are MLflow's and "
     r"nnexp's own; choose another name$", None),
    ("tag-for-the-description", ["tracking.tags={mlflow.note.content: hi}"],
     r"tracking.tags.mlflow.note.content: .* \(a description is tracking.description\)", None),
    ("tag-reserved-by-nnexp", ["tracking.tags={nnexp.seed: '7'}"],
     r"tracking.tags.nnexp.seed: tags starting with mlflow. or nnexp.", None),
    ("tag-name-refused-by-mlflow", ["tracking.tags={a@b: x}"],
     r"tracking.tags.a@b: not a tag name MLflow accepts; allowed: letters", None),
    ("tag-value-a-list", ["tracking.tags={team: [a, b]}"],
     r"tracking.tags.team: a tag value is one text or number, got \['a', 'b'\]$", None),
    # issue 11: nothing silently ignored or silently defaulted
    ("lr-second-spelling", ["optimizer.lr=0.5"],
     r"optimizer.lr: not a config key; the learning rate is the key `lr`: use lr=0.5$", None),
    ("lr-second-spelling-added", ["+optimizer.lr=0.5"],
     r"optimizer.lr: not a config key; the learning rate is the key `lr`: use lr=0.5$", None),
    ("lr-second-spelling-in-a-group", ["optimizer={name:sgd,lr:0.5}"],
     r"optimizer.lr: not a config key; the learning rate is the key `lr`: use lr=\.\.\.$", None),
    ("unknown-key-added", ["+model.depth=3"], r"model.depth: unknown config key", None),
    ("interpolated-key-overridden", ["--config-dir={dir}", "experiment=linked",
                                     "schedule.min_lr=0.0001"], LINKED, _config_dir),
    ("interpolated-key-overridden-in-sweep", ["-m", "--config-dir={dir}", "experiment=linked",
                                              "schedule.min_lr=0.0001,0.001"], LINKED, _config_dir),
    ("unknown-optional-option", ["experiment=tutorial_lnie"],
     r"experiment: unknown option 'tutorial_lnie'; allowed: cat_classifier, tutorial_line"
     + SEARCHED, None),
    ("unknown-optional-option-in-sweep", ["-m", "experiment=tutorial_lnie", "lr=0.1,0.2"],
     r"experiment: unknown option 'tutorial_lnie'; allowed: cat_classifier, tutorial_line"
     + SEARCHED, None),
    ("unknown-option-lists-config-dir", ["--config-dir={dir}", "experiment=linkd"],
     r"experiment: unknown option 'linkd'; allowed: cat_classifier, linked, tutorial_line"
     + SEARCHED,
     _config_dir),
    ("unknown-option-lists-searchpath", ["hydra.searchpath=[file://{dir}]", "experiment=linkd"],
     r"experiment: unknown option 'linkd'; allowed: cat_classifier, linked, tutorial_line"
     + SEARCHED,
     _config_dir),
    ("unknown-option-of-group-lists-config-dir", ["--config-dir={dir}", "optimizer=nope"],
     r"optimizer: unknown option 'nope'; allowed: adam, adamw, custom, momentum, nesterov, "
     r"rmsprop, sgd" + SEARCHED, _config_dir),
    ("unknown-hparams-search", ["hparams_search=nope"],
     r"hparams_search: unknown option 'nope'; allowed: lr_width" + SEARCHED, None),
    ("objective-typo", ["sweep.objective=val/los"],
     rf"sweep.objective: 'val/los' is not a metric this run logs; allowed: {DIGITS_METRICS}$",
     None),
    ("objective-typo-in-sweep", ["-m", "sweep.objective=val/los", "lr=0.1,0.2"],
     rf"sweep.objective: 'val/los' is not a metric this run logs; allowed: {DIGITS_METRICS}$",
     None),
    ("objective-accuracy-of-regression", ["data=line", "sweep.objective=val/accuracy"],
     r"sweep.objective: 'val/accuracy' is not a metric this run logs; allowed: train/loss_step, "
     r"lr, grad_norm/layer1, grad_norm/layer2, train/loss, val/loss, weight_norm/layer1, "
     r"weight_norm/layer2, update_ratio/layer1, update_ratio/layer2, dead_units/layer1, epoch, "
     r"test/loss$", None),
    ("objective-layer-the-model-lacks", ["sweep.objective=weight_norm/layer3"],
     r"sweep.objective: 'weight_norm/layer3' is not a metric", None),
    ("min-lr-negative", ["schedule.min_lr=-5"],
     r"schedule.min_lr: must be a finite number >= 0, got -5.0$", None),
    ("cosine-min-lr-above-lr", ["schedule=cosine", "schedule.min_lr=0.5"],
     r"schedule.min_lr: must be <= lr \(0.1\) for the cosine schedule, got 0.5$", None),
    ("cosine-warm-up-longer-than-the-run", ["schedule=cosine", "schedule.warmup_steps=100000"],
     r"schedule.warmup_steps: must be below the run's 34 steps for the cosine schedule "
     r"\(1 epochs x 34 steps\), got 100000$", None),
    ("step-gamma-above-one", ["schedule=step", "schedule.gamma=2"],
     r"schedule.gamma: must be in \(0, 1\], got 2.0$", None),
    ("exponential-decay-zero", ["schedule=exponential", "schedule.decay=0"],
     r"schedule.decay: must be in \(0, 1\], got 0.0$", None),
    ("negative-slope-nan", ["model.negative_slope=nan"],
     r"model.negative_slope: must be a finite number >= 0, got nan$", None),
    ("seed-negative", ["seed=-1"], r"seed: must be >= 0, got -1$", None),
    ("diverged-objective-infinite", ["sweep.diverged_objective=inf"],
     r"sweep.diverged_objective: must be a finite number", None),
    ("gradcheck-eps-nan", ["gradcheck.eps=nan"],
     r"gradcheck.eps: must be a finite number > 0, got nan$", None),
    ("model-too-big-for-memory", ["model.hidden=[100000,100000]", "optimizer=adam"],
     r"model.hidden: \[100000, 100000\] needs [\d.]+ GiB in float32 \(parameters 37.3 GiB \+ "
     r"gradients 37.3 GiB \+ adam state [\d.]+ GiB \+ activations [\d.]+ MiB for 32 rows\); "
     r"[\d.]+ GiB is available$", None),
    ("image-size-too-big-for-memory", ["data=images", "data.image_dir={dir}",
                                       "data.image_size=[100000,100000]"],
     r"data.image_size: \[100000, 100000\] in mode L is 10000000000 values per picture; reading "
     r"8 picture\(s\) needs 670.6 GiB and the model [\d.]+ [GT]iB; [\d.]+ GiB is available "
     r"\(choose a smaller size, such as \[64, 64\]\)$", _images),
    ("model-too-big-in-its-dtype", ["model.hidden=[100000,100000]", "model.dtype=float64"],
     r"needs [\d.]+ GiB in float64 \(parameters 74.5 GiB \+ gradients 74.5 GiB", None),
    ("experiment-name-too-long", ["tracking.experiment=" + "x" * 300],
     r"tracking.experiment: 300 characters; MLflow stores at most 256 in an experiment name$",
     None),
    ("run-name-too-long", ["tracking.run_name=" + "r" * 251],
     r"tracking.run_name: 251 characters; MLflow stores at most 250 in a run name$", None),
    ("param-value-too-long", ["model.hidden=[" + ",".join(["1"] * 2100) + "]"],
     r"model.hidden: its value has 6300 characters; MLflow records at most 6000 per param$",
     None),
    ("store-file-scheme", ["tracking.uri=file:./mlruns"],
     FILE_STORE.format(uri="file:./mlruns") + r"tracking.uri unset for the SQLite default", None),
    ("store-plain-path", ["tracking.uri={dir}/runs"], FILE_STORE.format(uri=".*/runs"), None),
    ("store-is-a-folder", ["tracking.uri=sqlite:///{dir}/mlflow.db"],
     r"tracking.uri: '.*/mlflow.db' is a folder; the store must be an SQLite database file",
     _store_folder),
    ("run-dir-under-a-file", ["hydra.run.dir={dir}/file/out"],
     r"hydra.run.dir: cannot create folder '.*/file/out' \(Not a directory\)$", "file"),
    ("sweep-dir-under-a-file", ["-m", "hydra.sweep.dir={dir}/file/out", "lr=0.1,0.2"],
     r"hydra.sweep.dir: cannot create folder '.*/file/out' \(Not a directory\)$", "file"),
    ("image-name-not-utf8", ["data=images", "data.image_dir={dir}"],
     r"data.image_dir: the name b'\\xff\\xfe.png' in '.*/cat' is not valid UTF-8; rename it$",
     _non_utf8_name),
    ("image-decompression-bomb", ["data=images", "data.image_dir={dir}"],
     r"data.image_dir: image '.*/cat/cat_\d+.png' claims 900000000 pixels, over Pillow's limit "
     r"of \d+ against decompression bombs", _bomb),
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

    flags = [a for a in args if a.startswith("-")]  # Hydra takes flags before overrides
    code, err = _call(main, [*flags, *FAST, *[a for a in args if a not in flags]])

    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("nnexp.train: error: ")]
    assert len(errors) == 1 and errors[0] == lines[-1], err
    assert re.search(expected, errors[0]), errors[0]
    assert "Traceback" not in err
    assert _snapshot(seeded_store) == before


def _random_bytes(db: Path, _real: Path) -> None:
    db.write_bytes(np.random.default_rng(0).bytes(20_000))


def _truncated_copy(db: Path, real: Path) -> None:
    data = real.read_bytes()
    db.write_bytes(data[:len(data) // 2])


@pytest.mark.parametrize(("make", "sweep", "expected"), [
    (_random_bytes, [], r"tracking.uri: '.*/mlflow.db' is not an SQLite database \(damaged or "
                        r"another kind of file\); restore it from a backup or use a new path$"),
    (_truncated_copy, [], r"tracking.uri: '.*/mlflow.db' is truncated \(\d+ bytes of \d+\); "
                          r"restore it from a backup or use a new path$"),
    (_truncated_copy, ["-m", "lr=0.1,0.2"], r"tracking.uri: '.*/mlflow.db' is truncated"),
], ids=["random-bytes", "truncated-copy", "truncated-copy-sweep"])
def test_damaged_store_is_a_store_fault_with_one_line_and_exit_1(make, sweep, expected,
                                                                  seeded_store, tmp_path,
                                                                  monkeypatch):
    from nnexp.tracking.store import sqlite_path
    from nnexp.train import main

    monkeypatch.chdir(tmp_path)
    db = tmp_path / "mlflow.db"
    make(db, Path(sqlite_path(seeded_store)))
    before = db.read_bytes()
    code, err = _call(main, [*sweep[:1], *FAST, f"tracking.uri=sqlite:///{db}", *sweep[1:]])
    assert code == 1, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("nnexp.train: error: "), err
    assert re.search(expected, lines[0]), lines[0]
    assert db.read_bytes() == before


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
