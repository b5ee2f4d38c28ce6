"""Will the model fit in memory? A lower bound from the config, exact once the data's sizes are
known; checked before anything is allocated or recorded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from nnexp.config.layer_list import configured_layers, dense_widths
from nnexp.config.user_errors import ConfigError
from nnexp.engine import optimizer_buffers


def check_memory(cfg: DictConfig, *, n_inputs: int = 1, n_outputs: int = 1,
                 n_eval: int = 0) -> None:
    """Refuse a model whose training needs more memory than is available, before allocating it.

    Without the data's sizes (n_inputs = n_outputs = 1) this is a lower bound, enough for the
    hidden layers that make a model too large.
    """
    need = memory_needed(cfg, n_inputs, n_outputs, n_eval)
    available = available_memory()
    if available is None or need["total"] <= available:
        return
    rows = max(cfg.train.batch_size, n_eval)
    key, value = (("model.hidden", list(cfg.model.hidden)) if cfg.model.get("layers") is None
                  else ("model.layers", f"{len(cfg.model.layers)} layers"))
    raise ConfigError(
        f"{key}: {value} needs {_size(need['total'])} in "
        f"{cfg.model.dtype} (parameters {_size(need['parameters'])} + gradients "
        f"{_size(need['gradients'])} + {cfg.optimizer.name} state {_size(need['optimizer'])} + "
        f"activations {_size(need['activations'])} for {rows} rows); "
        f"{_size(available)} is available")


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
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n_bytes < 1024 or unit == "GiB":
            return f"{n_bytes:.1f} {unit}" if unit != "B" else f"{int(n_bytes)} B"
        n_bytes /= 1024
    raise AssertionError("unreachable")
