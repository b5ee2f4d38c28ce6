"""What a config builds: its data set, loss, network, optimizer and schedule.

Shared by the experiment, the gradient check and the lr range test, so each builds exactly what
a run of the same config trains.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from omegaconf import DictConfig

from nnexp import engine
from nnexp.config import ConfigError, validate_for_data
from nnexp.config.layer_list import LayerSpec, configured_layers
from nnexp.config.metric_catalogue import classifies
from nnexp.config.user_layers import make_user_layer
from nnexp.config.vocabulary import CLASSIFICATION_LOSSES, REGRESSION_LOSSES
from nnexp.data import Dataset, load_dataset


def load_data(cfg: DictConfig) -> Dataset:
    """The data set the config names, split and scaled with the config's seed."""
    d = cfg.data
    return load_dataset(
        d.name, rng_seed=cfg.seed, val_fraction=cfg.train.val_fraction,
        test_fraction=cfg.train.test_fraction, standardize=d.standardize, dtype=cfg.model.dtype,
        n_samples=d.n_samples, noise=d.noise, image_dir=d.image_dir,
        image_size=tuple(d.image_size), image_mode=d.image_mode, path=d.path, target=d.target,
        delimiter=d.delimiter, features=None if d.features is None else list(d.features),
        task=d.task, categorical=list(d.categorical), digest=d.digest,
    )


def choose_loss(cfg: DictConfig, dataset: Dataset) -> str:
    """train.loss, or the natural loss of the task: cross-entropy or mean squared error."""
    classify = dataset.task == "classification"
    allowed = CLASSIFICATION_LOSSES if classify else REGRESSION_LOSSES
    name = cfg.train.loss or allowed[0]
    if name not in allowed:
        raise ConfigError(f"train.loss: {name!r} does not fit {dataset.task} data "
                          f"'{dataset.name}'; allowed: {', '.join(allowed)}")
    if name == "bce" and dataset.n_classes != 2:
        raise ConfigError(f"train.loss: 'bce' needs 2 classes, data '{dataset.name}' has "
                          f"{dataset.n_classes}; use cross_entropy")
    return name


def targets_for(loss_name: str, y: np.ndarray, dtype: str) -> np.ndarray:
    """Labels as the loss expects them: class indices, or a float column for bce."""
    return y.astype(dtype).reshape(-1, 1) if loss_name == "bce" else y


def build_network(cfg: DictConfig, dataset: Dataset, loss_name: str,
                  rng: np.random.Generator) -> Any:
    """The network the config describes (an MLP, or `model.layers` and an output Dense layer),
    sized to the data; initialised from `rng`, which also draws dropout's masks."""
    n_outputs = 1 if loss_name == "bce" else dataset.n_outputs
    specs = configured_layers(cfg)
    if specs is None:
        return engine.build_mlp(
            dataset.n_features, list(cfg.model.hidden), n_outputs,
            activation=cfg.model.activation, init=cfg.model.init, dtype=cfg.model.dtype,
            rng=rng, negative_slope=cfg.model.negative_slope,
        )
    return build_layers(cfg, specs, dataset.n_features, n_outputs, rng)


def build_layers(cfg: DictConfig, specs: list[LayerSpec], n_inputs: int, n_outputs: int,
                 rng: np.random.Generator) -> Any:
    """The layer list in order, each sized by the width reaching it, then the output Dense."""
    m = cfg.model
    layers: list[Any] = []
    width = n_inputs
    for spec in specs:
        if spec.kind == "dense":
            layer = engine.Dense(width, spec.width, init=m.init, rng=rng, dtype=m.dtype)
        elif spec.kind == "dropout":
            layer = engine.Dropout(spec.p, rng)
        elif spec.kind == "batchnorm":
            layer = engine.BatchNorm1d(width, dtype=m.dtype, **spec.options)
        elif spec.kind == "class":
            layer = make_user_layer(spec, width, m.dtype, rng)
        else:
            layer = engine.make_activation(spec.kind, m.negative_slope)
        width = getattr(layer, "n_outputs", width)
        layers.append(layer)
    layers.append(engine.Dense(width, n_outputs, init=m.init, rng=rng, dtype=m.dtype))
    try:
        return engine.Sequential(layers, dtype=m.dtype)
    except ValueError as exc:  # a user's layer whose widths do not chain
        raise ConfigError(f"model.layers: {exc}") from None


def build_optimizer(cfg: DictConfig, model: Any) -> Any:
    """The optimizer the config names, over the model's parameters, at the config's `lr`."""
    o = cfg.optimizer
    extra: dict[str, float] = {"weight_decay": o.weight_decay}
    if o.name in ("momentum", "nesterov"):
        extra["momentum"] = o.momentum
    elif o.name in ("adam", "adamw"):
        extra.update(beta1=o.beta1, beta2=o.beta2, eps=o.eps)
    elif o.name == "rmsprop":
        extra.update(alpha=o.alpha, eps=o.eps)
    return engine.make_optimizer(o.name, model, cfg.lr, **extra)


def build_schedule(cfg: DictConfig, total_steps: int) -> Any:
    """The learning-rate schedule the config names, over `total_steps` steps."""
    s = cfg.schedule
    return engine.make_schedule(
        s.name, cfg.lr, total_steps=total_steps, step_size=s.step_size, gamma=s.gamma,
        decay=s.decay, warmup_steps=s.warmup_steps, min_lr=s.min_lr,
    )


def prepared_data(cfg: DictConfig) -> tuple[Dataset, str]:
    """The config's data set and loss, checked against each other before any run exists."""
    dataset = load_data(cfg)
    if (dataset.task == "classification") != classifies(cfg) and "accuracy" in cfg.sweep.objective:
        raise ConfigError(f"sweep.objective: '{cfg.sweep.objective}' is not logged by a "
                          f"{dataset.task} run (data '{dataset.name}'); use val/loss, or set "
                          "data.task")
    loss_name = choose_loss(cfg, dataset)
    validate_for_data(cfg, n_inputs=dataset.n_features, n_outputs=dataset.n_outputs,
                      n_train=dataset.X_train.shape[0],
                      n_eval=max(dataset.X_val.shape[0], dataset.X_test.shape[0]))
    return dataset, loss_name
