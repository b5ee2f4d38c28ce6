"""Content digests (sha256) of what a run reads: a file's bytes, an image folder's files, arrays.

A digest names the data a run trained on: it is recorded with the run, part of the config's
identity (`sweep.skip_finished`), and checked again by `nnexp.reproduce`. A file is hashed once
per process while its size and modification time stay the same.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

_BLOCK = 1 << 22  # 4 MiB reads: hashing runs at disk speed without holding the file
_SEEN: dict[tuple[str, int, int, int], str] = {}


def file_digest(path: str | Path) -> str:
    """The sha256 of a file's bytes (hex), as `sha256sum` prints it."""
    real = os.path.realpath(path)
    info = os.stat(real)
    key = (real, info.st_size, info.st_mtime_ns, info.st_ino)
    if key not in _SEEN:
        sha = hashlib.sha256()
        with open(real, "rb") as handle:
            while block := handle.read(_BLOCK):
                sha.update(block)
        _SEEN[key] = sha.hexdigest()
    return _SEEN[key]


def folder_digest(root: str | Path) -> str:
    """The sha256 of every file under `root` that is not hidden: relative paths and contents, in
    sorted order, so a renamed, added, removed or edited picture changes it."""
    root = Path(root)
    found: dict[str, Path] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith("."):
                path = Path(folder) / name
                found[path.relative_to(root).as_posix()] = path
    sha = hashlib.sha256()
    for relative in sorted(found):
        name = relative.encode("utf-8", "surrogateescape")
        sha.update(len(name).to_bytes(8, "little") + name)
        sha.update(bytes.fromhex(file_digest(found[relative])))
    return sha.hexdigest()


def array_digest(*arrays: np.ndarray) -> str:
    """The sha256 of arrays' dtypes, shapes and bytes (C order), in the order given."""
    sha = hashlib.sha256()
    for array in arrays:
        a = np.ascontiguousarray(array)
        sha.update(f"{a.dtype.str}{a.shape}".encode())
        if a.dtype.hasobject:
            sha.update("\x1f".join(map(str, a.ravel().tolist())).encode("utf-8",
                                                                        "surrogateescape"))
        else:
            sha.update(a.reshape(-1).view(np.uint8))
    return sha.hexdigest()
