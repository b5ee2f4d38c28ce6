"""The typed experiment schema, registered in Hydra's ConfigStore, and its range checks.

Types are enforced by OmegaConf when Hydra composes; ranges, names, the metric a sweep optimises,
MLflow's limits and the model's memory are checked by `validate` before anything is trained or
tracked, so a bad override never creates a run. Checks that need Hydra's config repository live
in nnexp/preflight.py.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hydra.core.config_store import ConfigStore
from omegaconf import II, DictConfig, OmegaConf

from nnexp import engine
from nnexp.run.loop import metric_names
from nnexp.sweep.pruning_rules import PRUNE_RULES
from nnexp.config.vocabulary import (
    ACTIVATIONS,
    DATASETS,
    DTYPES,
    IMAGE_MODES,
    INITIALISERS,
    LOSSES,
    OPTIMIZERS,
    REGRESSION_DATASETS,
    SCHEDULES,
    SWEEP_DIRECTIONS,
)

# MLflow's limits (mlflow/store/tracking/dbmodels/models.py, utils/validation.py): longer
# experiment or run names do not fit the database columns; longer param values are cut.
MAX_EXPERIMENT_NAME = 256
MAX_RUN_NAME = 250
MAX_PARAM_VALUE = 6000
DIVERGED_OBJECTIVE = 1e6  # what a diverged job returns when minimising (its negative: maximising)
# Keys older versions had, with where the value lives now; runs logged before still name them.
MOVED_KEYS = {"optimizer.lr": ("lr", "the learning rate")}


class ConfigError(ValueError):
    """A user-facing configuration mistake; its message is one line naming the key."""


@dataclass
class ModelConfig:
    hidden: list[int] = field(default_factory=lambda: [64])
    activation: str = "relu"
    init: str = "he_normal"
    negative_slope: float = 0.01
    dtype: str = "float32"


# Config sections that say where and how a run is recorded, swept or checked, never what it
# computes: the config hash leaves them out, and `diff` lists them apart.
BOOKKEEPING_SECTIONS = ("tracking", "sweep", "gradcheck", "lr_find")


@dataclass
class OptimizerConfig:
    name: str = "sgd"  # the learning rate is the top-level `lr`: one key, one value
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    alpha: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0.0
    clip_norm: float | None = None


@dataclass
class ScheduleConfig:
    name: str = "constant"
    warmup_steps: int = 0
    step_size: int = 1000
    gamma: float = 0.1
    decay: float = 0.999
    min_lr: float = 0.0


@dataclass
class DataConfig:
    name: str = "digits"
    standardize: bool = True
    n_samples: int = 1000
    noise: float = 0.1
    image_dir: str | None = None
    image_size: list[int] = field(default_factory=lambda: [32, 32])
    image_mode: str = "L"


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 32
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    patience: int = 0
    loss: str | None = None


@dataclass
class TrackingConfig:
    uri: str | None = None
    experiment: str = II("oc.env:MLFLOW_EXPERIMENT_NAME,nnexp")  # as MLflow's clients do
    enabled: bool = True
    log_every_n_steps: int = 10
    log_model: bool = True
    plots: bool = True
    run_name: str | None = None
    metric_budget: int = 1000  # points per metric in the store; the full history is an artifact
    retry_seconds: float = 120.0  # how long to wait for a locked or unreachable store
    hash_every_n_steps: int = 10  # weight hashes for reproduce to localise a difference; 0: off


@dataclass
class SweepConfig:
    objective: str = "val/loss"
    direction: str = "minimize"
    skip_finished: bool = False
    diverged_objective: float | None = None  # null: the worst value for the direction
    prune: str | None = None  # null, median or asha: stop hopeless children (nnexp/pruning.py)
    prune_warmup_epochs: int = 5  # median: the first epochs are never pruned
    prune_startup_runs: int = 5  # median: finished siblings needed before any pruning
    prune_min_siblings: int = 1  # median: siblings with a value at the epoch
    prune_interval: int = 1  # median: epochs between checks after the warm-up
    prune_min_epochs: int = 1  # asha: epochs of the first rung
    prune_reduction_factor: int = 4  # asha: keep the best 1/reduction_factor at each rung
    checkpoint_every: int = 0  # epochs between checkpoints (0: none); sweep.resume reads them
    resume: bool = False  # continue stopped runs of the same config from their checkpoint
    skip_lr_above: Any = None  # null, a learning rate, or "auto": the lr range test's divergence


@dataclass
class GradcheckConfig:
    batch: int = 8
    eps: float = 1e-4  # central differences: truncation ~eps², rounding ~1e-16/eps
    tol: float = 1e-6


@dataclass
class LrFindConfig:
    """The learning-rate range test (`python -m nnexp.lr_find`)."""

    min_lr: float = 1e-7
    max_lr: float = 10.0
    steps: int = 200  # 25 a decade from 1e-7 to 10
    smoothing: float = 0.9  # of the loss's moving average: it lags ~9 steps, 0.36 of a decade
    diverge_factor: float = 4.0  # the smoothed loss this many times its best: diverged


@dataclass
class Config:
    seed: int = 0
    lr: float = 0.1
    model: ModelConfig = field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    gradcheck: GradcheckConfig = field(default_factory=GradcheckConfig)
    lr_find: LrFindConfig = field(default_factory=LrFindConfig)


def register_configs() -> None:
    """Put the schema in Hydra's ConfigStore as `base_config` (conf/config.yaml extends it)."""
    ConfigStore.instance().store(name="base_config", node=Config)


def _allowed(key: str, value: Any, allowed: tuple[str, ...] | list[str]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}: got {value!r}; allowed: {', '.join(allowed)}")


def _positive(key: str, value: float, *, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not (math.isfinite(value) and ok):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{key}: must be a finite number {bound}, got {value!r}")


def _fraction(key: str, value: float, *, closed_high: bool) -> None:
    """0 < value < 1, or 0 < value <= 1 when closed_high."""
    if not (0 < value < 1 or (closed_high and value == 1)):
        high = "1]" if closed_high else "1)"
        raise ConfigError(f"{key}: must be in (0, {high}, got {value!r}")


def unknown_key_message(key: str, value: Any = None) -> str:
    """The one line for a key the schema does not have; a moved key says where it lives now."""
    if key in MOVED_KEYS:
        new, what = MOVED_KEYS[key]
        return (f"{key}: not a config key; {what} is the key `{new}`: use "
                f"{new}={'...' if value is None else value}")
    return f"{key}: unknown config key (see `python -m nnexp.train --cfg job` for the keys)"


def drop_moved_keys(config: dict[str, Any]) -> dict[str, Any]:
    """A logged config without keys older versions recorded as copies (`optimizer.lr`): the run
    trained with the key that holds the value now, whatever the copy said."""
    for key in MOVED_KEYS:
        parent, _, leaf = key.rpartition(".")
        node = config.get(parent) if parent else config
        if isinstance(node, dict):
            node.pop(leaf, None)
    return config


def validate(cfg: DictConfig) -> None:
    """Check ranges and names that types cannot express; raise ConfigError on the first problem.

    Also: no key the schema lacks, values MLflow can record as they are, a `sweep.objective` the
    run logs, and a model that fits in memory (a lower bound here, exact in `validate_for_data`).
    """
    _check_keys(cfg)
    _check_recordable(cfg)
    _positive("lr", cfg.lr)
    if cfg.seed < 0:
        raise ConfigError(f"seed: must be >= 0, got {cfg.seed}")
    _validate_model(cfg)
    _validate_optimizer(cfg)
    _validate_schedule(cfg)
    _validate_data_and_train(cfg)
    _validate_tracking_and_sweep(cfg)
    for key in ("eps", "tol"):
        _positive(f"gradcheck.{key}", cfg.gradcheck[key])
    _validate_lr_find(cfg)
    if cfg.gradcheck.batch < 1:
        raise ConfigError(f"gradcheck.batch: must be >= 1, got {cfg.gradcheck.batch}")
    check_memory(cfg)


def validate_for_data(cfg: DictConfig, *, n_inputs: int, n_outputs: int, n_train: int,
                      n_eval: int) -> None:
    """The checks that need the data's sizes, made after loading it and before any run exists."""
    check_memory(cfg, n_inputs=n_inputs, n_outputs=n_outputs, n_eval=n_eval)
    total_steps = math.ceil(n_train / cfg.train.batch_size) * cfg.train.epochs
    if cfg.schedule.name == "cosine" and cfg.schedule.warmup_steps >= total_steps:
        raise ConfigError(
            f"schedule.warmup_steps: must be below the run's {total_steps} steps for the cosine "
            f"schedule ({cfg.train.epochs} epochs x {math.ceil(n_train / cfg.train.batch_size)} "
            f"steps), got {cfg.schedule.warmup_steps}")


@functools.cache
def _schema_keys() -> dict[str, Any]:
    """The schema's keys as nested dicts (a leaf is None): built once, checked against often."""
    def keys(node: DictConfig) -> dict[str, Any]:
        return {str(k): keys(v) if isinstance(v := node._get_node(k), DictConfig) else None
                for k in node}

    return keys(OmegaConf.structured(Config))


def _check_keys(cfg: DictConfig) -> None:
    """No key the schema lacks: `+key=value` adds one that nothing would read."""
    def walk(node: DictConfig, known: dict[str, Any], prefix: str) -> None:
        for key in node:
            if prefix == "" and key == "hydra":
                continue
            name = f"{prefix}{key}"
            if key not in known:
                raise ConfigError(unknown_key_message(name, OmegaConf.select(node, str(key))))
            child = node._get_node(key)
            if isinstance(child, DictConfig) and known[key] is not None:
                walk(child, known[key], f"{name}.")

    walk(cfg, _schema_keys(), "")


def _validate_model(cfg: DictConfig) -> None:
    hidden = list(cfg.model.hidden)
    for width in hidden:
        if width < 1:
            raise ConfigError(f"model.hidden: every width must be >= 1, got {hidden}")
    _allowed("model.activation", cfg.model.activation, ACTIVATIONS)
    _allowed("model.init", cfg.model.init, INITIALISERS)
    _allowed("model.dtype", cfg.model.dtype, DTYPES)
    _positive("model.negative_slope", cfg.model.negative_slope, allow_zero=True)


def _validate_optimizer(cfg: DictConfig) -> None:
    _allowed("optimizer.name", cfg.optimizer.name, OPTIMIZERS)
    for key in ("momentum", "beta1", "beta2", "alpha"):
        value = cfg.optimizer[key]
        if not 0 <= value < 1:
            raise ConfigError(f"optimizer.{key}: must be in [0, 1), got {value!r}")
    _positive("optimizer.eps", cfg.optimizer.eps)
    _positive("optimizer.weight_decay", cfg.optimizer.weight_decay, allow_zero=True)
    if cfg.optimizer.clip_norm is not None:
        _positive("optimizer.clip_norm", cfg.optimizer.clip_norm)


def _validate_schedule(cfg: DictConfig) -> None:
    s = cfg.schedule
    _allowed("schedule.name", s.name, SCHEDULES)
    if s.warmup_steps < 0:
        raise ConfigError(f"schedule.warmup_steps: must be >= 0, got {s.warmup_steps}")
    if s.step_size < 1:
        raise ConfigError(f"schedule.step_size: must be >= 1, got {s.step_size}")
    _fraction("schedule.gamma", s.gamma, closed_high=True)
    _fraction("schedule.decay", s.decay, closed_high=True)
    _positive("schedule.min_lr", s.min_lr, allow_zero=True)
    if s.name == "cosine" and s.min_lr > cfg.lr:
        raise ConfigError(f"schedule.min_lr: must be <= lr ({cfg.lr}) for the cosine schedule, "
                          f"got {s.min_lr}")


def _validate_tracking_and_sweep(cfg: DictConfig) -> None:
    t = cfg.tracking
    if t.log_every_n_steps < 1:
        raise ConfigError(f"tracking.log_every_n_steps: must be >= 1, got {t.log_every_n_steps}")
    if t.hash_every_n_steps < 0:
        raise ConfigError(f"tracking.hash_every_n_steps: must be >= 0 (0 turns weight hashes "
                          f"off), got {t.hash_every_n_steps}")
    if t.metric_budget < 3:
        raise ConfigError(f"tracking.metric_budget: must be >= 3 points, got {t.metric_budget}")
    _positive("tracking.retry_seconds", t.retry_seconds, allow_zero=True)
    if not str(t.experiment).strip():
        raise ConfigError("tracking.experiment: must be a non-empty name")
    _max_length("tracking.experiment", t.experiment, MAX_EXPERIMENT_NAME, "an experiment name")
    if t.run_name is not None:
        if not str(t.run_name).strip():
            raise ConfigError("tracking.run_name: must be a non-empty name (or null for the "
                              "overrides)")
        _max_length("tracking.run_name", t.run_name, MAX_RUN_NAME, "a run name")
    _allowed("sweep.direction", cfg.sweep.direction, SWEEP_DIRECTIONS)
    if cfg.sweep.diverged_objective is not None and not math.isfinite(
            cfg.sweep.diverged_objective):
        raise ConfigError(f"sweep.diverged_objective: must be a finite number (or null for the "
                          f"worst value of the direction), got {cfg.sweep.diverged_objective}")
    names = run_metric_names(cfg)
    if cfg.sweep.objective not in names:
        raise ConfigError(f"sweep.objective: {cfg.sweep.objective!r} is not a metric this run "
                          f"logs; allowed: {_metric_listing(names)}")
    _validate_pruning_and_resume(cfg, names)


def _validate_pruning_and_resume(cfg: DictConfig, names: list[str]) -> None:
    s = cfg.sweep
    if s.prune is not None:
        _allowed("sweep.prune", s.prune, PRUNE_RULES)
        per_epoch = [n for n in names if n not in ("train/loss_step", "lr", "epoch")
                     and not n.startswith(("grad_norm/", "test/"))]
        if s.objective not in per_epoch:
            raise ConfigError(f"sweep.prune: needs a sweep.objective measured every epoch, got "
                              f"{s.objective!r}; allowed: {_metric_listing(per_epoch)}")
    for key, low in (("prune_warmup_epochs", 0), ("prune_startup_runs", 0),
                     ("prune_min_siblings", 1), ("prune_interval", 1), ("prune_min_epochs", 1),
                     ("prune_reduction_factor", 2), ("checkpoint_every", 0)):
        if s[key] < low:
            raise ConfigError(f"sweep.{key}: must be >= {low}, got {s[key]}")
    if not cfg.tracking.enabled:
        for key, on in (("prune", s.prune is not None), ("resume", s.resume),
                        ("checkpoint_every", s.checkpoint_every > 0)):
            if on:
                raise ConfigError(f"sweep.{key}: needs the tracking store (siblings and "
                                  "checkpoints meet there); tracking.enabled is false")


def _validate_lr_find(cfg: DictConfig) -> None:
    f = cfg.lr_find
    _positive("lr_find.min_lr", f.min_lr)
    _positive("lr_find.max_lr", f.max_lr)
    if f.max_lr <= f.min_lr:
        raise ConfigError(f"lr_find.max_lr: must be above lr_find.min_lr ({f.min_lr}), got "
                          f"{f.max_lr}")
    if f.steps < 10:
        raise ConfigError(f"lr_find.steps: must be >= 10, got {f.steps}")
    if not 0 <= f.smoothing < 1:
        raise ConfigError(f"lr_find.smoothing: must be in [0, 1), got {f.smoothing!r}")
    if not (math.isfinite(f.diverge_factor) and f.diverge_factor > 1):
        raise ConfigError(f"lr_find.diverge_factor: must be a finite number > 1, got "
                          f"{f.diverge_factor!r}")
    skip = cfg.sweep.skip_lr_above
    number = isinstance(skip, int | float) and not isinstance(skip, bool)
    if skip is not None and skip != "auto" and not (number and math.isfinite(skip) and skip > 0):
        raise ConfigError(f"sweep.skip_lr_above: got {skip!r}; allowed: null, auto (the lr "
                          "range test's divergence point) or a learning rate > 0")


def diverged_objective(cfg: DictConfig) -> float:
    """What a diverged job returns to the sweeper: sweep.diverged_objective, or by default the
    worst value for the direction (a large one when minimising, a large negative one when
    maximising), so a sweeper never takes a diverged job for the best."""
    if cfg.sweep.diverged_objective is not None:
        return float(cfg.sweep.diverged_objective)
    return DIVERGED_OBJECTIVE if cfg.sweep.direction == "minimize" else -DIVERGED_OBJECTIVE


def run_metric_names(cfg: DictConfig) -> list[str]:
    """The metric keys a run of `cfg` logs (they depend on the task and the number of layers)."""
    from nnexp.run.line_fit import LEARNED_A, LEARNED_B, logs_a_line

    layers = _layer_names(len(cfg.model.hidden))
    names = metric_names(classify=cfg.data.name not in REGRESSION_DATASETS, layer_names=layers,
                         dead_unit_layers=layers[:-1] if cfg.model.activation == "relu" else [])
    if logs_a_line(cfg.data.name, list(cfg.model.hidden), cfg.model.activation):
        names += [LEARNED_A, LEARNED_B]
    return names


@functools.cache
def _layer_names(n_hidden: int) -> list[str]:
    """The engine's names for the Dense layers of an MLP with `n_hidden` hidden layers."""
    return engine.build_mlp(1, [1] * n_hidden, 1, rng=np.random.default_rng(0)).layer_names


def _metric_listing(names: list[str]) -> str:
    """Metric names for a message; per-layer series longer than three shortened to a range."""
    shown: list[str] = []
    for name in names:
        prefix, _, layer = name.rpartition("/")
        series = [n for n in names if n.startswith(f"{prefix}/layer")] if prefix else []
        if len(series) > 3 and layer.startswith("layer"):
            if name == series[0]:
                shown.append(f"{series[0]} ... {series[-1].rpartition('/')[2]}")
        else:
            shown.append(name)
    return ", ".join(shown)


def _max_length(key: str, value: str, limit: int, what: str) -> None:
    if len(value) > limit:
        raise ConfigError(f"{key}: {len(value)} characters; MLflow stores at most {limit} in "
                          f"{what}")


def _leaves(node: Any, prefix: str) -> Any:
    """(dotted key, value) for every leaf of a plain config; lists are leaves, as in params."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, node


def _check_recordable(cfg: DictConfig) -> None:
    """Every value must reach MLflow as it is: UTF-8 text within the param length limit."""
    for top in cfg:
        if top == "hydra":
            continue
        node = cfg._get_node(top)
        plain = OmegaConf.to_container(node, resolve=True) if isinstance(
            node, DictConfig) else cfg[top]
        for key, value in _leaves(plain, str(top)):
            text = str(value)
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise ConfigError(f"{key}: {ascii(text)} is not valid UTF-8 text, which MLflow "
                                  "needs") from None
            if len(text) > MAX_PARAM_VALUE:
                raise ConfigError(f"{key}: its value has {len(text)} characters; MLflow records "
                                  f"at most {MAX_PARAM_VALUE} per param")


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
    raise ConfigError(
        f"model.hidden: {list(cfg.model.hidden)} needs {_size(need['total'])} in "
        f"{cfg.model.dtype} (parameters {_size(need['parameters'])} + gradients "
        f"{_size(need['gradients'])} + {cfg.optimizer.name} state {_size(need['optimizer'])} + "
        f"activations {_size(need['activations'])} for {rows} rows); "
        f"{_size(available)} is available")


def memory_needed(cfg: DictConfig, n_inputs: int, n_outputs: int, n_eval: int = 0
                  ) -> dict[str, int]:
    """Bytes training needs, in the model's dtype: parameters, gradients, the optimizer's
    buffers (counted on the engine's own optimizer) and a batch's activations with their
    gradients (the larger of a training batch and an evaluation split)."""
    hidden = [int(w) for w in cfg.model.hidden]
    widths = [n_inputs, *hidden, n_outputs]
    n_params = sum((fan_in + 1) * fan_out for fan_in, fan_out in
                   zip(widths[:-1], widths[1:], strict=True))
    itemsize = np.dtype(cfg.model.dtype).itemsize
    rows = max(cfg.train.batch_size, n_eval)
    parts = {
        "parameters": n_params * itemsize,
        "gradients": n_params * itemsize,
        "optimizer": _optimizer_buffers(cfg.optimizer.name) * n_params * itemsize,
        "activations": 2 * rows * (n_inputs + 2 * sum(hidden) + n_outputs) * itemsize,
    }
    return {**parts, "total": sum(parts.values())}


@functools.cache
def _optimizer_buffers(name: str) -> int:
    """Parameter-sized arrays the engine's optimizer keeps besides parameters and gradients."""
    model = engine.build_mlp(3, [], 1, rng=np.random.default_rng(0))
    optimizer = engine.make_optimizer(name, model, 0.1)
    return sum(1 for value in vars(optimizer).values()
               if isinstance(value, np.ndarray) and value.size == model.params.size
               and not np.shares_memory(value, model.params)
               and not np.shares_memory(value, model.grads))


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


def _validate_data_and_train(cfg: DictConfig) -> None:
    _allowed("data", cfg.data.name, DATASETS)
    if cfg.data.n_samples < 4:
        raise ConfigError(f"data.n_samples: must be >= 4, got {cfg.data.n_samples}")
    _positive("data.noise", cfg.data.noise, allow_zero=True)
    size = list(cfg.data.image_size)
    if len(size) != 2 or min(size) < 1:
        raise ConfigError(f"data.image_size: must be two positive ints [width, height], got {size}")
    _allowed("data.image_mode", cfg.data.image_mode, IMAGE_MODES)
    if cfg.data.name == "images" and not cfg.data.image_dir:
        raise ConfigError(
            "data.image_dir: required for data=images (a folder with one sub-folder per class)"
        )
    if cfg.train.epochs < 1:
        raise ConfigError(f"train.epochs: must be >= 1, got {cfg.train.epochs}")
    if cfg.train.batch_size < 1:
        raise ConfigError(f"train.batch_size: must be >= 1, got {cfg.train.batch_size}")
    if cfg.train.patience < 0:
        raise ConfigError(f"train.patience: must be >= 0 (0 turns early stopping off), got "
                          f"{cfg.train.patience}")
    val, test = cfg.train.val_fraction, cfg.train.test_fraction
    if not 0 < val < 1:
        raise ConfigError(f"train.val_fraction: must be in (0, 1), got {val!r}")
    if not 0 < test < 1 or val + test >= 1:
        raise ConfigError(
            f"train.test_fraction: must be in (0, 1) with val_fraction + test_fraction < 1, "
            f"got {test!r}"
        )
    if cfg.train.loss is not None:
        _allowed("train.loss", cfg.train.loss, LOSSES)


def to_container(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as plain Python data, without Hydra's own node."""
    data = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    assert isinstance(data, dict)
    data.pop("hydra", None)
    return data
