"""The data a config names, by content: its digest stamped into `data.digest` before a job is
decided (so `sweep.skip_finished` tells a changed file or image folder from the one a finished
run read), and how the data now differs from a record (what `nnexp.reproduce` checks first)."""

from __future__ import annotations

from omegaconf import DictConfig, open_dict

from nnexp.config.vocabulary import IN_MEMORY_DATASETS
from nnexp.data import DataError
from nnexp.data.in_memory import given
from nnexp.data.loader import changed_message, current_digest


def _what(cfg: DictConfig) -> tuple[str, str]:
    d = cfg.data
    return ("data.image_dir", f"'{d.image_dir}'") if d.name == "images" else (
        "data.path", f"'{d.path}'")


def stamp_data_digest(cfg: DictConfig) -> None:
    """Fill `data.digest` with the digest of the file or image folder the config names (kept as
    it is for data given from Python); DataError if a digest already there does not match."""
    d = cfg.data
    if d.name in IN_MEMORY_DATASETS:
        given(d.name, d.digest)  # one line now if this process does not hold them
        return
    now = current_digest(d.name, d.path, d.image_dir)
    if now is None:
        return
    if d.digest is not None and d.digest != now:
        key, what = _what(cfg)
        raise DataError(f"{key}: " + changed_message(what, now, d.digest))
    with open_dict(cfg):
        cfg.data.digest = now


def data_change(cfg: DictConfig) -> str | None:
    """How the data a recorded config names differs from the record now, or None."""
    d = cfg.data
    if d.digest is None:
        return None
    if d.name in IN_MEMORY_DATASETS:
        given(d.name, d.digest)
        return None
    try:
        now = current_digest(d.name, d.path, d.image_dir)
    except DataError as exc:
        return str(exc)
    key, what = _what(cfg)
    if now is None:
        return f"{key}: {what} is gone (the record says sha256 {d.digest[:12]}...)"
    return None if now == d.digest else f"{key}: " + changed_message(what, now, d.digest)
