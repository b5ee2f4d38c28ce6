"""The metric keys a run logs, known from its config alone (checks such as `sweep.objective`
read them before anything is built)."""

from __future__ import annotations

import functools
from types import SimpleNamespace

from omegaconf import DictConfig

from nnexp.config.layer_list import LayerSpec, configured_layers
from nnexp.config.vocabulary import REGRESSION_DATASETS
from nnexp.engine import ParameterLayer, dense_layer_names, parameter_layer_names

LEARNED_A, LEARNED_B = "learned/a", "learned/b"
LINE_DATASETS = ("line",)  # data sets generated from a known line (their Dataset.truth)
# a run with train.patience ends with the kept (best) epoch's weights, and its final train/loss,
# val/loss and val/accuracy are theirs; the last epoch's values stay under these names
LAST_EPOCH_SUFFIX = "_last_epoch"


def logs_a_line(data_name: str, hidden: list[int], activation: str) -> bool:
    """Whether a run of this config logs learned/a and learned/b (as `learned_line` decides)."""
    return data_name in LINE_DATASETS and (not hidden or activation == "identity")


def metric_names(*, classify: bool, layer_names: list[str],
                 dead_unit_layers: list[str] | tuple[str, ...] = (),
                 early_stopping: bool = False, clipped: bool = False) -> list[str]:
    """Every metric key a run logs: per step (`train_loop`), per epoch, and on the test split at
    the end (`evaluate`, logged by the experiment). Checks such as `sweep.objective` read it.
    `dead_unit_layers`: the layers followed by a ReLU (`probes.dead_unit_layers`);
    `early_stopping` (train.patience > 0): the last epoch's values under `LAST_EPOCH_SUFFIX`;
    `clipped` (optimizer.clip_norm set): the gradient norms before clipping too."""
    split = ["loss", "accuracy"] if classify else ["loss"]  # what `evaluate` returns
    per_step = ["train/loss_step", "lr", *(f"grad_norm/{name}" for name in layer_names),
                *(f"grad_norm_unclipped/{name}" for name in (layer_names if clipped else []))]
    per_epoch = ["train/loss", *(f"val/{k}" for k in split),
                 *(f"weight_norm/{name}" for name in layer_names),
                 *(f"update_ratio/{name}" for name in layer_names),
                 *(f"dead_units/{name}" for name in dead_unit_layers), "epoch"]
    last_epoch = [f"{name}{LAST_EPOCH_SUFFIX}" for name in kept_metric_names(classify)]
    return [*per_step, *per_epoch, *(f"test/{k}" for k in split),
            *(last_epoch if early_stopping else [])]


def kept_metric_names(classify: bool) -> list[str]:
    """The final values a run with patience measures again on the weights it keeps."""
    return ["train/loss", "val/loss", *(["val/accuracy"] if classify else [])]


def classifies(cfg: DictConfig) -> bool:
    """Whether a run of `cfg` classifies, as far as the config says: data.task when set, else by
    the data set's name (a user's table without data.task: classification until it is read)."""
    task = cfg.data.get("task")
    if task:
        return bool(task == "classification")
    return cfg.data.name not in REGRESSION_DATASETS


def run_metric_names(cfg: DictConfig) -> list[str]:
    """The metric keys a run of `cfg` logs (they depend on the task and the layers)."""
    specs = configured_layers(cfg)
    if specs is None:
        layers = _layer_names(len(cfg.model.hidden))
        dead = layers[:-1] if cfg.model.activation == "relu" else []
        line = logs_a_line(cfg.data.name, list(cfg.model.hidden), cfg.model.activation)
    else:
        layers, dead, affine = layer_list_names(specs)
        line = cfg.data.name in LINE_DATASETS and affine
    names = metric_names(classify=classifies(cfg), layer_names=layers,
                         dead_unit_layers=dead, early_stopping=cfg.train.patience > 0,
                         clipped=cfg.optimizer.clip_norm is not None)
    if line:
        names += [LEARNED_A, LEARNED_B]
    return names


def layer_list_names(specs: list[LayerSpec]) -> tuple[list[str], list[str], bool]:
    """For a layer list with its output Dense: the parameter layers' names as the engine gives
    them (`parameter_layer_names`: layer1, bn1, ...), those whose units a ReLU follows
    (`probes.dead_unit_layers`), and whether no activation bends it (`line_fit.is_affine`)."""
    labels, dead_after, affine = [], [], True
    for spec in specs:
        if spec.kind in ("dense", "batchnorm"):
            labels.append("layer" if spec.kind == "dense" else "bn")
        elif spec.kind == "class":
            from nnexp.config.user_layers import layer_class

            cls = layer_class(spec)
            if issubclass(cls, ParameterLayer):
                labels.append(cls.label)
            else:
                affine = False
        else:
            affine = affine and spec.kind == "identity"
            if spec.kind == "relu" and labels:
                dead_after.append(len(labels) - 1)
    labels.append("layer")  # the output layer
    names = parameter_layer_names([SimpleNamespace(label=label) for label in labels])
    dead = list(dict.fromkeys(names[i] for i in dead_after))
    return names, dead, affine


@functools.cache
def _layer_names(n_hidden: int) -> list[str]:
    """The engine's names for the Dense layers of an MLP with `n_hidden` hidden layers."""
    return dense_layer_names(n_hidden + 1)


def metric_listing(names: list[str]) -> str:
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
