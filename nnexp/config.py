"""The typed experiment schema, registered in Hydra's ConfigStore, and its range checks.

Types are enforced by OmegaConf when Hydra composes; ranges and names are checked by
`validate` before anything is trained or tracked, so a bad override never creates a run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import II, DictConfig, OmegaConf

from nnexp.vocabulary import (
    ACTIVATIONS,
    DATASETS,
    DTYPES,
    IMAGE_MODES,
    INITIALISERS,
    LOSSES,
    OPTIMIZERS,
    SCHEDULES,
    SWEEP_DIRECTIONS,
)


class ConfigError(ValueError):
    """A user-facing configuration mistake; its message is one line naming the key."""


@dataclass
class ModelConfig:
    hidden: list[int] = field(default_factory=lambda: [64])
    activation: str = "relu"
    init: str = "he_normal"
    negative_slope: float = 0.01
    dtype: str = "float32"


@dataclass
class OptimizerConfig:
    name: str = "adam"
    lr: float = II("lr")
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


@dataclass
class SweepConfig:
    objective: str = "val/loss"
    direction: str = "minimize"
    skip_finished: bool = False
    diverged_objective: float = 1e6


@dataclass
class GradcheckConfig:
    batch: int = 8
    eps: float = 1e-4  # central differences: truncation ~eps², rounding ~1e-16/eps
    tol: float = 1e-6


@dataclass
class Config:
    seed: int = 0
    lr: float = 1e-3
    model: ModelConfig = field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    gradcheck: GradcheckConfig = field(default_factory=GradcheckConfig)


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


def validate(cfg: DictConfig) -> None:
    """Check ranges and names that types cannot express; raise ConfigError on the first problem."""
    _positive("lr", cfg.lr)
    hidden = list(cfg.model.hidden)
    for width in hidden:
        if width < 1:
            raise ConfigError(f"model.hidden: every width must be >= 1, got {hidden}")
    _allowed("model.activation", cfg.model.activation, ACTIVATIONS)
    _allowed("model.init", cfg.model.init, INITIALISERS)
    _allowed("model.dtype", cfg.model.dtype, DTYPES)
    _allowed("optimizer.name", cfg.optimizer.name, OPTIMIZERS)
    for key in ("momentum", "beta1", "beta2", "alpha"):
        value = cfg.optimizer[key]
        if not 0 <= value < 1:
            raise ConfigError(f"optimizer.{key}: must be in [0, 1), got {value!r}")
    _positive("optimizer.eps", cfg.optimizer.eps)
    _positive("optimizer.weight_decay", cfg.optimizer.weight_decay, allow_zero=True)
    if cfg.optimizer.clip_norm is not None:
        _positive("optimizer.clip_norm", cfg.optimizer.clip_norm)
    _allowed("schedule.name", cfg.schedule.name, SCHEDULES)
    if cfg.schedule.warmup_steps < 0:
        raise ConfigError(f"schedule.warmup_steps: must be >= 0, got {cfg.schedule.warmup_steps}")
    if cfg.schedule.step_size < 1:
        raise ConfigError(f"schedule.step_size: must be >= 1, got {cfg.schedule.step_size}")
    _positive("schedule.gamma", cfg.schedule.gamma)
    _positive("schedule.decay", cfg.schedule.decay)
    _validate_data_and_train(cfg)
    if cfg.tracking.log_every_n_steps < 1:
        raise ConfigError(
            f"tracking.log_every_n_steps: must be >= 1, got {cfg.tracking.log_every_n_steps}"
        )
    if cfg.tracking.metric_budget < 3:
        raise ConfigError(
            f"tracking.metric_budget: must be >= 3 points, got {cfg.tracking.metric_budget}")
    _positive("tracking.retry_seconds", cfg.tracking.retry_seconds, allow_zero=True)
    if not str(cfg.tracking.experiment).strip():
        raise ConfigError("tracking.experiment: must be a non-empty name")
    _allowed("sweep.direction", cfg.sweep.direction, SWEEP_DIRECTIONS)


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
