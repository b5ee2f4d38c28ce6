"""Checkpoints: everything a run needs to continue exactly where it stood after an epoch.

A checkpoint holds the weights and the network's state besides them (batch normalisation's
running statistics), the optimizer's state (step count and every moment buffer), the
loop's state (epoch, global step, which is the schedule's position, and early stopping), the
numpy Generator's bit-generator state (the next shuffle), the run's full-resolution metric
history so far and its weight hashes so far (a continuation's hashes then start at step 0, so
`nnexp.reproduce` of it places a difference at the step it happened). Restored into a freshly
built network of the same config, training continues bit for bit as if it had never stopped.
One `.npz` file, read without pickles.
"""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnexp.experiment.history import MetricHistory
from nnexp.experiment.loop import LoopState
from nnexp.experiment.weight_hashes import RecordedHashes, WeightHashes

CHECKPOINT_DIR = "checkpoints"
FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint file that cannot be continued from (damaged, another config, another format)."""


def checkpoint_name(epoch: int) -> str:
    """`epoch-000010.npz`: names sort by epoch."""
    return f"epoch-{epoch:06d}.npz"


def epoch_of(name: str) -> int | None:
    """The epoch in a checkpoint file name, or None for any other file."""
    stem = Path(name).name
    if stem.startswith("epoch-") and stem.endswith(".npz") and stem[6:-4].isdigit():
        return int(stem[6:-4])
    return None


@dataclass
class Checkpoint:
    """A run's state after `state.epoch` epochs; `identity` is its config hash."""

    identity: str
    params: np.ndarray
    optimizer: dict[str, Any]
    state: LoopState
    rng_state: dict[str, Any]
    history: list[tuple[tuple[str, ...], bool, np.ndarray, np.ndarray, np.ndarray]]
    hashes: RecordedHashes | None = None  # the weight hashes so far (none: not hashed)
    model_state: dict[str, np.ndarray] = field(default_factory=dict)  # running statistics

    @property
    def epoch(self) -> int:
        return self.state.epoch


def capture(identity: str, model: Any, optimizer: Any, rng: np.random.Generator,
            state: LoopState, history: MetricHistory,
            hashes: WeightHashes | None = None) -> Checkpoint:
    """The run's state now (between two epochs), copied."""
    return Checkpoint(identity, model.params.copy(), optimizer.state_dict(),
                      _copy_state(state), rng.bit_generator.state, history.blocks(),
                      None if hashes is None else hashes.recorded(),
                      {k: v.copy() for k, v in model.named_state().items()})


def _copy_state(state: LoopState) -> LoopState:
    best = None if state.best_state is None else {k: v.copy() for k, v in state.best_state.items()}
    return LoopState(state.epoch, state.step, state.best_epoch, state.best_val_loss,
                     state.epochs_without_improvement, best, dict(state.last))


def save(checkpoint: Checkpoint, path: Path) -> Path:
    """Write the checkpoint as one .npz (arrays exact; scalars as JSON, whose floats round-trip)."""
    state = checkpoint.state
    meta = {
        "format": FORMAT, "identity": checkpoint.identity,
        "loop": {"epoch": state.epoch, "step": state.step, "best_epoch": state.best_epoch,
                 "best_val_loss": state.best_val_loss,
                 "epochs_without_improvement": state.epochs_without_improvement,
                 "last": state.last, "best_state": sorted(state.best_state or {})
                 if state.best_state is not None else None},
        "optimizer": {k: v for k, v in checkpoint.optimizer.items() if k != "buffers"},
        "optimizer_buffers": sorted(checkpoint.optimizer["buffers"]),
        "model_state": sorted(checkpoint.model_state),
        "rng": checkpoint.rng_state,
        "history": [[list(keys), per_step] for keys, per_step, *_ in checkpoint.history],
        "hashes": None if checkpoint.hashes is None else {
            "layers": list(checkpoint.hashes.layers), "every": checkpoint.hashes.every},
    }
    arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta)),
                                     "params": checkpoint.params}
    for key, value in checkpoint.optimizer["buffers"].items():
        arrays[f"optimizer/{key}"] = value
    for key, value in checkpoint.model_state.items():
        arrays[f"model_state/{key}"] = value
    for key, value in (state.best_state or {}).items():
        arrays[f"best/{key}"] = value
    for i, (_, _, steps, times, values) in enumerate(checkpoint.history):
        arrays[f"history/{i}/steps"], arrays[f"history/{i}/times"] = steps, times
        arrays[f"history/{i}/values"] = values
    if checkpoint.hashes is not None:
        arrays["hashes/steps"], arrays["hashes/rows"] = (checkpoint.hashes.steps,
                                                         checkpoint.hashes.hashes)
    with open(path, "wb") as handle:  # a handle: numpy would otherwise append ".npz"
        np.savez(handle, **arrays)
    return path


def file_sha256(path: Path) -> str:
    """The sha256 of a checkpoint file's bytes, recorded when it is logged, checked on resume."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load(path: Path) -> Checkpoint:
    """A checkpoint read back; CheckpointError if the file is not one this version wrote."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != FORMAT:
                raise CheckpointError(f"{path.name}: checkpoint format {meta.get('format')!r}, "
                                      f"this version reads {FORMAT}")
            loop = meta["loop"]
            best = None if loop["best_state"] is None else {
                k: data[f"best/{k}"] for k in loop["best_state"]}
            state = LoopState(int(loop["epoch"]), int(loop["step"]), loop["best_epoch"],
                              float(loop["best_val_loss"]),
                              int(loop["epochs_without_improvement"]), best,
                              {k: float(v) for k, v in loop["last"].items()})
            optimizer = {**meta["optimizer"], "buffers": {
                k: data[f"optimizer/{k}"] for k in meta["optimizer_buffers"]}}
            history = [(tuple(keys), bool(per_step), data[f"history/{i}/steps"],
                        data[f"history/{i}/times"], data[f"history/{i}/values"])
                       for i, (keys, per_step) in enumerate(meta["history"])]
            model_state = {k: data[f"model_state/{k}"] for k in meta.get("model_state", [])}
            return Checkpoint(str(meta["identity"]), data["params"], optimizer, state,
                              meta["rng"], history, _hashes(meta.get("hashes"), data),
                              model_state)
    except CheckpointError:
        raise
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{path.name}: not a readable checkpoint "
                              f"({type(exc).__name__}: {exc})") from None


def _hashes(meta: dict[str, Any] | None, data: Any) -> RecordedHashes | None:
    """The weight hashes a checkpoint holds (one written before they were kept holds none)."""
    if meta is None:
        return None
    steps, rows = data["hashes/steps"].astype(np.int64), data["hashes/rows"]
    layers = tuple(str(name) for name in meta["layers"])
    if rows.dtype != np.uint32 or rows.shape != (steps.shape[0], len(layers)):
        raise ValueError(f"weight hashes of shape {rows.shape} and dtype {rows.dtype} do not "
                         f"fit {steps.shape[0]} steps of {len(layers)} layers")
    return RecordedHashes(steps, layers, rows, int(meta["every"]))


def restore(checkpoint: Checkpoint, identity: str, model: Any, optimizer: Any,
            rng: np.random.Generator) -> LoopState:
    """Put the checkpoint's state into a freshly built run of the config `identity`; the loop
    state to continue from. Nothing is changed unless all of it fits. The metric history so
    far (`checkpoint.history`) is the caller's to restore, into the new run's history."""
    if checkpoint.identity != identity:
        raise CheckpointError(f"checkpoint of config {checkpoint.identity}, not {identity}")
    params = checkpoint.params
    if params.shape != model.params.shape or params.dtype != model.params.dtype:
        raise CheckpointError(f"checkpoint weights are {params.dtype}{list(params.shape)}, the "
                              f"network's {model.params.dtype}{list(model.params.shape)}")
    own_state = model.named_state()
    if set(own_state) != set(checkpoint.model_state) or any(
            v.shape != own_state[k].shape or v.dtype != own_state[k].dtype
            for k, v in checkpoint.model_state.items()):
        raise CheckpointError(f"checkpoint network state {sorted(checkpoint.model_state)} does "
                              f"not fit the network's {sorted(own_state)}")
    probe = np.random.default_rng()
    try:
        probe.bit_generator.state = checkpoint.rng_state
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"checkpoint random state unusable: {exc}") from None
    state = _copy_state(checkpoint.state)
    if state.best_epoch is not None and not math.isfinite(state.best_val_loss):
        raise CheckpointError("checkpoint names a best epoch without its loss")
    try:  # load_state_dict checks everything before it changes anything
        optimizer.load_state_dict(checkpoint.optimizer)
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"checkpoint optimizer state unusable: {exc}") from None
    np.copyto(model.params, params)
    for key, value in checkpoint.model_state.items():
        np.copyto(own_state[key], value)
    rng.bit_generator.state = checkpoint.rng_state
    return state
