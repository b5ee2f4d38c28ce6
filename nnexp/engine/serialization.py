"""Save/load parameters as ``.npz`` (no pickles): one array per named parameter plus the
architecture as a JSON string array under ``__architecture__``, so ``load_model`` can rebuild."""

from __future__ import annotations

import json
import os

import numpy as np

from .network import Sequential

ARCH_KEY = "__architecture__"


def save_weights(model: Sequential, path: str | os.PathLike) -> None:
    """Write the parameters and the architecture to ``path`` (an .npz file)."""
    arrays = model.state_dict()
    arrays[ARCH_KEY] = np.array(json.dumps(model.architecture()))
    with open(path, "wb") as fh:  # a file handle: numpy would otherwise append ".npz"
        np.savez(fh, **arrays)


def _read(path: str | os.PathLike) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except ValueError as exc:  # object arrays need pickle: refused
        raise ValueError(f"path {os.fspath(path)!r} holds pickled arrays, refused: {exc}") from None
    except (OSError, EOFError) as exc:
        raise ValueError(f"path {os.fspath(path)!r} is not a readable .npz file: {exc}") from None


def load_weights(model: Sequential, path: str | os.PathLike) -> None:
    """Load parameters saved by ``save_weights`` into ``model`` (keys/shapes/dtype must match)."""
    arrays = _read(path)
    arrays.pop(ARCH_KEY, None)
    model.load_state_dict(arrays)


def load_model(path: str | os.PathLike) -> Sequential:
    """Rebuild the model saved by ``save_weights`` and load its parameters."""
    arrays = _read(path)
    if ARCH_KEY not in arrays:
        raise ValueError(f"path {os.fspath(path)!r} has no {ARCH_KEY} entry; use load_weights")
    arch = json.loads(str(arrays.pop(ARCH_KEY)))
    model = Sequential.from_architecture(arch)
    model.load_state_dict(arrays)
    return model
