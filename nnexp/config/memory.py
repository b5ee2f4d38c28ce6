"""Will the model fit in memory? A lower bound from the config, exact once the data's sizes are
known; checked before anything is allocated or recorded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from nnexp.config.layer_list import configured_layers, dense_widths
from nnexp.config.user_errors import ConfigError
from nnexp.config.vocabulary import IMAGE_EXTENSIONS
from nnexp.engine import optimizer_buffers

READ_BYTES = 1 + 8  # per pixel value while an image folder is read: uint8, then float64


def check_memory(cfg: DictConfig, *, n_inputs: int = 1, n_outputs: int = 1,
                 n_eval: int = 0) -> None:
    """Refuse a model whose training needs more memory than is available, before allocating it.

    Without the data's sizes (n_inputs = n_outputs = 1) this is a lower bound, enough for the
    hidden layers that make a model too large; for an image folder the pictures' size and
    number are known before reading them, and count with the model.
    """
    images = image_data(cfg) if n_inputs == 1 else None
    if images is not None:
        n_inputs = images[0]
    need = memory_needed(cfg, n_inputs, n_outputs, n_eval)
    reading = 0 if images is None else images[0] * images[1] * READ_BYTES
    available = available_memory()
    if available is None or need["total"] + reading <= available:
        return
    if images is not None and (reading > available or need["total"] < reading):
        size, mode = list(cfg.data.image_size), cfg.data.image_mode
        raise ConfigError(
            f"data.image_size: {size} in mode {mode} is {images[0]} values per picture; reading "
            f"{images[1]} picture(s) needs {_size(reading)} and the model {_size(need['total'])};"
            f" {_size(available)} is available (choose a smaller size, such as [64, 64])")
    rows = max(cfg.train.batch_size, n_eval)
    key, value = (("model.hidden", list(cfg.model.hidden)) if cfg.model.get("layers") is None
                  else ("model.layers", f"{len(cfg.model.layers)} layers"))
    raise ConfigError(
        f"{key}: {value} needs {_size(need['total'])} in "
        f"{cfg.model.dtype} (parameters {_size(need['parameters'])} + gradients "
        f"{_size(need['gradients'])} + {cfg.optimizer.name} state {_size(need['optimizer'])} + "
        f"activations {_size(need['activations'])} for {rows} rows); "
        f"{_size(available)} is available")


def image_data(cfg: DictConfig) -> tuple[int, int] | None:
    """(values per picture, pictures) of an image-folder config, known before any is read:
    width x height x channels, and the picture files of its class folders (at least 1)."""
    if cfg.data.name != "images":
        return None
    width, height = (int(n) for n in cfg.data.image_size)
    channels = 1 if cfg.data.image_mode == "L" else len(str(cfg.data.image_mode))
    return width * height * channels, max(_count_pictures(cfg.data.image_dir), 1)


def _count_pictures(folder: str | None) -> int:
    """Picture files one level below `folder` (one sub-folder per class); 0 if unreadable."""
    if not folder:
        return 0
    try:
        classes = [e.path for e in os.scandir(Path(folder).expanduser())
                   if e.is_dir() and not e.name.startswith(".")]
        return sum(1 for c in classes for e in os.scandir(c)
                   if not e.name.startswith(".") and e.is_file()
                   and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS)
    except OSError:
        return 0


def memory_needed(cfg: DictConfig, n_inputs: int, n_outputs: int, n_eval: int = 0
                  ) -> dict[str, int]:
    """Bytes training needs, in the model's dtype: parameters, gradients, the optimizer's
    buffers (counted on the engine's own optimizer) and a batch's activations with their
    gradients (the larger of a training batch and an evaluation split)."""
    specs = configured_layers(cfg)
    hidden = [int(w) for w in (cfg.model.hidden if specs is None else dense_widths(specs))]
    widths = [n_inputs, *hidden, n_outputs]
    n_params = sum((fan_in + 1) * fan_out for fan_in, fan_out in
                   zip(widths[:-1], widths[1:], strict=True))
    itemsize = np.dtype(cfg.model.dtype).itemsize
    rows = max(cfg.train.batch_size, n_eval)
    parts = {
        "parameters": n_params * itemsize,
        "gradients": n_params * itemsize,
        "optimizer": optimizer_buffers(cfg.optimizer.name) * n_params * itemsize,
        "activations": 2 * rows * (n_inputs + 2 * sum(hidden) + n_outputs) * itemsize,
    }
    return {**parts, "total": sum(parts.values())}


def available_memory() -> int | None:
    """Bytes this process can still allocate: MemAvailable, or less under a cgroup limit."""
    found: list[int] = []
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pages = os.sysconf("SC_AVPHYS_PAGES") if hasattr(os, "sysconf") else -1
        if pages > 0:
            found.append(pages * os.sysconf("SC_PAGE_SIZE"))
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text().strip()
        if limit != "max":
            found.append(max(int(limit) - int(used), 0))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def _size(n_bytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n_bytes < 1024 or unit == "TiB":
            return f"{n_bytes:.1f} {unit}" if unit != "B" else f"{int(n_bytes)} B"
        n_bytes /= 1024
    raise AssertionError("unreachable")
