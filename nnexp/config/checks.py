"""Range checks of a composed config: what types cannot express, checked before anything is
trained or tracked, so a bad override never creates a run. Checks that need Hydra's config
repository live in `nnexp.config.preflight`."""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from nnexp.config.layer_list import configured_layers
from nnexp.config.memory import check_memory
from nnexp.config.metric_catalogue import LAST_EPOCH_SUFFIX, metric_listing, run_metric_names
from nnexp.config.schema import (
    MAX_EXPERIMENT_NAME,
    MAX_PARAM_VALUE,
    MAX_RUN_NAME,
    Config,
    schema_tree,
    unknown_key_message,
)
from nnexp.config.tracking_checks import check_system_metrics, check_user_tags, max_length
from nnexp.config.user_errors import ConfigError
from nnexp.config.vocabulary import (
    ACTIVATIONS,
    DATASETS,
    DELIMITER_ALIASES,
    DELIMITERS,
    DTYPES,
    FILE_DATASETS,
    FULL_MODEL_CHOICES,
    IMAGE_MODES,
    INITIALISERS,
    LOSSES,
    OPTIMIZERS,
    PRUNE_RULES,
    SCHEDULES,
    SWEEP_DIRECTIONS,
    TABLE_DATASETS,
    TASKS,
)


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
    for key in ("eps", "tol"):
        _positive(f"gradcheck.{key}", cfg.gradcheck[key])
    _validate_model(cfg)
    _validate_optimizer(cfg)
    _validate_schedule(cfg)
    _validate_data_and_train(cfg)
    _validate_tracking_and_sweep(cfg)
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

    walk(cfg, schema_tree(), "")


def _validate_model(cfg: DictConfig) -> None:
    hidden = list(cfg.model.hidden)
    for width in hidden:
        if width < 1:
            raise ConfigError(f"model.hidden: every width must be >= 1, got {hidden}")
    _allowed("model.activation", cfg.model.activation, ACTIVATIONS)
    _validate_layer_list(cfg)
    _allowed("model.init", cfg.model.init, INITIALISERS)
    _allowed("model.dtype", cfg.model.dtype, DTYPES)
    _positive("model.negative_slope", cfg.model.negative_slope, allow_zero=True)


def _validate_layer_list(cfg: DictConfig) -> None:
    """model.layers: every entry's spelling, the MLP keys it replaces left alone, batches
    that have statistics for batchnorm, and every user layer imported and gradient-checked."""
    specs = configured_layers(cfg)
    if specs is None:
        return
    defaults = _schema_model()
    for key in ("hidden", "activation"):
        if cfg.model[key] != defaults[key]:
            raise ConfigError(f"model.{key}: not read when model.layers is set (model="
                              f"sequential); put the widths and activations in model.layers")
    if any(s.kind == "batchnorm" for s in specs) and cfg.train.batch_size < 2:
        raise ConfigError(f"train.batch_size: must be >= 2 with batchnorm in model.layers (a "
                          f"batch of one row has no statistics), got {cfg.train.batch_size}")
    if any(s.kind == "class" for s in specs):
        from nnexp.config.user_layers import add_user_folders, check_user_layers

        add_user_folders(cfg)
        check_user_layers(specs, cfg.gradcheck.tol)


@functools.cache
def _schema_model() -> dict[str, Any]:
    """The schema's model defaults (what model.hidden and model.activation are when unset)."""
    return OmegaConf.to_container(OmegaConf.structured(Config).model)


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
    _positive("tracking.start_wait_seconds", t.start_wait_seconds, allow_zero=True)
    if not str(t.experiment).strip():
        raise ConfigError("tracking.experiment: must be a non-empty name")
    max_length("tracking.experiment", t.experiment, MAX_EXPERIMENT_NAME, "an experiment name")
    if t.run_name is not None:
        if not str(t.run_name).strip():
            raise ConfigError("tracking.run_name: must be a non-empty name (or null for the "
                              "overrides)")
        max_length("tracking.run_name", t.run_name, MAX_RUN_NAME, "a run name")
    check_user_tags(t)
    check_system_metrics(t)
    _allowed("tracking.full_model", t.full_model, FULL_MODEL_CHOICES)
    _allowed("sweep.direction", cfg.sweep.direction, SWEEP_DIRECTIONS)
    if cfg.sweep.diverged_objective is not None and not math.isfinite(
            cfg.sweep.diverged_objective):
        raise ConfigError(f"sweep.diverged_objective: must be a finite number (or null for the "
                          f"worst value of the direction), got {cfg.sweep.diverged_objective}")
    names = run_metric_names(cfg)
    if cfg.sweep.objective not in names:
        raise ConfigError(f"sweep.objective: {cfg.sweep.objective!r} is not a metric this run "
                          f"logs; allowed: {metric_listing(names)}")
    _validate_pruning_and_resume(cfg, names)


def _validate_pruning_and_resume(cfg: DictConfig, names: list[str]) -> None:
    s = cfg.sweep
    if s.prune is not None:
        _allowed("sweep.prune", s.prune, PRUNE_RULES)
        per_epoch = [n for n in names if n not in ("train/loss_step", "lr", "epoch")
                     and not n.startswith(("grad_norm/", "grad_norm_unclipped/", "test/"))
                     and not n.endswith(LAST_EPOCH_SUFFIX)]
        if s.objective not in per_epoch:
            raise ConfigError(f"sweep.prune: needs a sweep.objective measured every epoch, got "
                              f"{s.objective!r}; allowed: {metric_listing(per_epoch)}")
    for key, low in (("prune_warmup_epochs", 0), ("prune_startup_runs", 0),
                     ("prune_min_siblings", 1), ("prune_interval", 1), ("prune_min_epochs", 1),
                     ("prune_reduction_factor", 2), ("checkpoint_every", 0)):
        if s[key] < low:
            raise ConfigError(f"sweep.{key}: must be >= {low}, got {s[key]}")
    if s.resume_force and not s.resume:
        raise ConfigError("sweep.resume_force: continues a stopped run only with "
                          "sweep.resume=true; got sweep.resume=false")
    if not cfg.tracking.enabled:
        for key, on in (("prune", s.prune is not None), ("resume", s.resume),
                        ("checkpoint_every", s.checkpoint_every > 0)):
            if on:
                raise ConfigError(f"sweep.{key}: needs the tracking store (siblings and "
                                  "checkpoints meet there); tracking.enabled is false")


# Learning rates a float64 network trains with: below LR_FIND_LOWEST an update (lr times a
# gradient of order 1) is under float64's resolution of a weight of order 1 (eps 2.2e-16);
# above LR_FIND_HIGHEST the first step alone moves the weights by 1e16 times their gradient.
LR_FIND_LOWEST, LR_FIND_HIGHEST = 1e-16, 1e16


def _validate_lr_find(cfg: DictConfig) -> None:
    f = cfg.lr_find
    for key in ("min_lr", "max_lr"):
        value = f[key]
        if not (isinstance(value, int | float) and LR_FIND_LOWEST <= value <= LR_FIND_HIGHEST):
            raise ConfigError(f"lr_find.{key}: got {value!r}; allowed: {LR_FIND_LOWEST:g} to "
                              f"{LR_FIND_HIGHEST:g} (what a float64 network trains with)")
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
    _validate_user_data(cfg.data)
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


def _validate_user_data(d: DictConfig) -> None:
    """The keys of a user's own data (data=csv, parquet, npz, or arrays given from Python)."""
    if d.name in FILE_DATASETS:
        if not d.path or not str(d.path).strip():
            raise ConfigError(f"data.path: required for data={d.name} (the file to read)")
        if not Path(str(d.path)).expanduser().is_file():
            raise ConfigError(f"data.path: file '{d.path}' does not exist (resolved to "
                              f"'{Path(str(d.path)).expanduser().resolve()}')")
    if d.name in TABLE_DATASETS and (not d.target or not str(d.target).strip()):
        raise ConfigError(f"data.target: required for data={d.name} (the column to predict)")
    if DELIMITER_ALIASES.get(d.delimiter, d.delimiter) not in DELIMITERS:
        raise ConfigError(f"data.delimiter: got {d.delimiter!r}; allowed: "
                          + ", ".join(f"'{k}'" for k in DELIMITERS))
    if d.task is not None:
        _allowed("data.task", d.task, TASKS)
    for key in ("features", "categorical"):
        names = [str(n) for n in (d[key] or [])]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ConfigError(f"data.{key}: column '{twice[0]}' is listed twice")
    if d.features is not None and not list(d.features):
        raise ConfigError("data.features: an empty list leaves no input; list columns, or null "
                          "for every column but the target")
    if d.features is not None and d.target is not None and d.target in list(d.features):
        raise ConfigError(f"data.features: '{d.target}' is the target (data.target); a column "
                          "cannot be both")
    if d.digest is not None and not re.fullmatch(r"[0-9a-f]{64}", str(d.digest)):
        raise ConfigError(f"data.digest: got {d.digest!r}; allowed: null (nnexp fills it in) or "
                          "the sha256 of the data, 64 hexadecimal digits")
