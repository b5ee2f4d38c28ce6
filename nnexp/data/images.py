"""Image-folder datasets (one sub-folder per class) and `load_image` to read one picture alike."""

from __future__ import annotations

import os
import re
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from nnexp.config.paths import in_cache
from nnexp.config.vocabulary import IMAGE_EXTENSIONS

from .checks import check_dtype, check_image_mode, check_image_size, validate_arrays
from .errors import DataError
from .raw import RawData

_READ_ERRORS = (OSError, SyntaxError, ValueError)
_BOMBS = (Image.DecompressionBombError, Image.DecompressionBombWarning)
_MAX_LISTED = 5


def _read_uint8(
    path: Path, image_size: tuple[int, int], image_mode: str, key: str
) -> tuple[np.ndarray, str, tuple[int, int]]:
    """Decode, put alpha on white, convert mode, resize; return (uint8 HxW[xC], mode, size)."""
    prefix = f"{key}: " if key else ""
    if not path.is_file():
        raise DataError(f"{prefix}image file '{path}' does not exist")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # refuse, not warn
            src = Image.open(path)
    except _BOMBS as exc:
        claimed = re.search(r"\((\d+) pixels\)", str(exc))
        raise DataError(
            f"{prefix}image '{path}' claims {claimed.group(1) if claimed else 'too many'} pixels,"
            f" over Pillow's limit of {Image.MAX_IMAGE_PIXELS} against decompression bombs; "
            "shrink or remove it") from None
    except (UnidentifiedImageError, *_READ_ERRORS):
        raise DataError(f"{prefix}cannot read image '{path}' (truncated or not an image)") from None
    try:
        with src:
            src.load()
            orig_mode, orig_size = src.mode, src.size
            im = ImageOps.exif_transpose(src)
            if im.mode.startswith("I;16"):  # 16-bit grey: scale to 8 bits instead of clipping
                grey = np.asarray(im, dtype=np.float64) / 257.0
                im = Image.fromarray(np.round(grey).astype(np.uint8), mode="L")
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                im = Image.alpha_composite(white, rgba)
            if im.mode != image_mode:
                im = im.convert(image_mode)
            if im.size != image_size:
                im = im.resize(image_size, Image.Resampling.BILINEAR)
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, *_READ_ERRORS):
        raise DataError(f"{prefix}cannot read image '{path}' (truncated or not an image)") from None
    return arr, orig_mode, orig_size


def load_image(
    path: str | Path,
    image_size: tuple[int, int] = (32, 32),
    image_mode: str = "L",
    dtype: str = "float32",
) -> np.ndarray:
    """Read one picture as training does: mode-converted, resized to (W, H), flat, in [0, 1]."""
    size = check_image_size(image_size)
    mode = check_image_mode(image_mode)
    arr, _, _ = _read_uint8(Path(path).expanduser(), size, mode, key="")
    return (arr.reshape(-1).astype(np.float64) / 255.0).astype(check_dtype(dtype))


def _is_hidden(p: Path) -> bool:
    """Dot-files and dot-folders (.DS_Store, .ipynb_checkpoints) are ignored silently."""
    return p.name.startswith(".")


def _listing(paths: list[str]) -> str:
    """Short comma list of at most _MAX_LISTED names."""
    more = f", ... (+{len(paths) - _MAX_LISTED} more)" if len(paths) > _MAX_LISTED else ""
    return ", ".join(paths[:_MAX_LISTED]) + more


def _children(folder: Path) -> list[Path]:
    """Non-hidden entries of `folder`, sorted by name for deterministic order."""
    try:
        found = sorted((p for p in folder.iterdir() if not _is_hidden(p)), key=lambda p: p.name)
    except OSError as exc:
        raise DataError(f"data.image_dir: cannot list folder '{folder}' ({exc.strerror})") from None
    for p in found:
        try:
            p.name.encode("utf-8")
        except UnicodeEncodeError:  # the name would reach MLflow (notes, class names): UTF-8 only
            raise DataError(f"data.image_dir: the name {os.fsencode(p.name)!r} in '{folder}' is "
                            "not valid UTF-8; rename it") from None
    return found


def _count_note(counter: Counter[str]) -> str:
    """'RGB x3, P x1' style summary of a Counter."""
    return ", ".join(f"{k} x{v}" for k, v in sorted(counter.items()))


def load_image_folder(image_dir: str | Path, image_size: object, image_mode: object) -> RawData:
    """Read <image_dir>/<class>/<image> into flat [0, 1] rows; class names are sorted folder names.

    Hidden entries are ignored; files without an image extension are skipped with a note; image
    files Pillow cannot decode raise DataError; mixed sizes/modes are converted with a note.
    """
    size = check_image_size(image_size)
    mode = check_image_mode(image_mode)
    root, entries, class_dirs = _class_folders(image_dir)
    found = _FolderRead()
    for label, cdir in enumerate(class_dirs):
        found.read_class(cdir, label, size, mode)
    n = len(found.rows)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], len(mode))
    notes = [
        f"loaded {n} images in {len(class_dirs)} classes from '{root}' as {size[0]}x{size[1]} "
        f"(W x H) mode {mode}, pixels scaled to [0, 1], flattened to {int(np.prod(shape))} features"
    ]
    notes += found.notes(n, size, mode, stray=[p.name for p in entries if not p.is_dir()])
    X = np.stack(found.rows).astype(np.float64) / 255.0
    X, y = validate_arrays(X, np.asarray(found.labels, dtype=np.int64), "classification")
    return RawData(X, y, "classification", [p.name for p in class_dirs], notes, shape, mode)


def _class_folders(image_dir: str | Path) -> tuple[Path, list[Path], list[Path]]:
    """The folder, its entries and its class sub-folders; DataError unless there are two or more."""
    root = Path(image_dir).expanduser()
    if not root.exists():
        where = "" if root.is_absolute() else f" (resolved to '{root.resolve()}')"
        if root == Path(in_cache("cat_pictures")):
            where = " (`python -m nnexp.demo cat-pictures` draws the demo's pictures there)"
        raise DataError(f"data.image_dir: folder '{root}' does not exist{where}")
    if not root.is_dir():
        raise DataError(f"data.image_dir: '{root}' is not a folder")
    entries = _children(root)
    class_dirs = [p for p in entries if p.is_dir()]
    if not class_dirs:
        raise DataError(
            f"data.image_dir: '{root}' has no class sub-folders "
            "(expected one folder per class, e.g. cat/ and not_cat/)"
        )
    if len(class_dirs) == 1:
        raise DataError(f"data.image_dir: only one class ('{class_dirs[0].name}'); need at least 2")
    return root, entries, class_dirs


class _FolderRead:
    """The pictures of an image folder as they are read, and what was converted or left out."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.labels: list[int] = []
        self.skipped: list[str] = []
        self.ignored_dirs: list[str] = []
        self.modes: Counter[str] = Counter()
        self.sizes: Counter[str] = Counter()

    def read_class(self, cdir: Path, label: int, size: tuple[int, int], mode: str) -> None:
        n_before = len(self.rows)
        for p in _children(cdir):
            rel = f"{cdir.name}/{p.name}"
            if p.is_dir():
                self.ignored_dirs.append(rel + "/")
            elif p.suffix.lower() not in IMAGE_EXTENSIONS:
                self.skipped.append(rel)
            else:
                arr, orig_mode, orig_size = _read_uint8(p, size, mode, key="data.image_dir")
                if orig_mode != mode:
                    self.modes[orig_mode] += 1
                if orig_size != size:
                    self.sizes[f"{orig_size[0]}x{orig_size[1]}"] += 1
                self.rows.append(arr.reshape(-1))
                self.labels.append(label)
        if len(self.rows) == n_before:
            raise DataError(
                f"data.image_dir: class folder '{cdir}' has no images "
                f"(allowed extensions: {', '.join(IMAGE_EXTENSIONS)})"
            )

    def notes(self, n: int, size: tuple[int, int], mode: str, stray: list[str]) -> list[str]:
        notes = []
        if self.modes:
            notes.append(f"converted {sum(self.modes.values())} of {n} image(s) to mode {mode} "
                         f"(from {_count_note(self.modes)})")
        if self.sizes:
            notes.append(f"resized {sum(self.sizes.values())} of {n} image(s) to "
                         f"{size[0]}x{size[1]} (from {_count_note(self.sizes)})")
        if stray:
            notes.append(f"ignored {len(stray)} file(s) directly in image_dir (images must be "
                         f"inside class sub-folders): {_listing(stray)}")
        if self.skipped:
            notes.append(f"skipped {len(self.skipped)} non-image file(s): "
                         f"{_listing(self.skipped)}")
        if self.ignored_dirs:
            notes.append(f"ignored {len(self.ignored_dirs)} nested folder(s): "
                         f"{_listing(self.ignored_dirs)}")
        return notes
