"""The typed experiment schema, registered in Hydra's ConfigStore, and what a config is as data:
its plain container, its identity (hash) and keys older versions had."""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import II, DictConfig, OmegaConf

# MLflow's limits (mlflow/store/tracking/dbmodels/models.py, utils/validation.py): longer
# experiment or run names do not fit the database columns; longer param values are cut.
MAX_EXPERIMENT_NAME = 256


MAX_RUN_NAME = 250


MAX_PARAM_VALUE = 6000


MAX_TAG_KEY = 250


MAX_TAG_VALUE = 8000

DIVERGED_OBJECTIVE = 1e6  # what a diverged job returns when minimising (its negative: maximising)


# Keys older versions had, with where the value lives now; runs logged before still name them.
MOVED_KEYS = {"optimizer.lr": ("lr", "the learning rate")}


@dataclass
class ModelConfig:
    hidden: list[int] = field(default_factory=lambda: [64])
    activation: str = "relu"
    layers: list[Any] | None = None  # model=sequential: a layer list, used instead of hidden
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
    path: str | None = None  # csv, parquet, npz: the user's file
    target: str | None = None  # csv, parquet, a DataFrame: the column to predict
    delimiter: str = ","  # csv: ",", ";", "tab" or "|"
    features: list[str] | None = None  # csv, parquet, a DataFrame: null: all but the target
    task: str | None = None  # classification or regression; null: inferred from the target
    categorical: list[str] = field(default_factory=list)  # text columns to one-hot encode
    digest: str | None = None  # sha256 of the data a run read; nnexp fills it in, checks it


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
    # which runs log the full pyfunc model (9 files); the others a light one (`runs:/ID/model`
    # loads both): best = a single run and a sweep's best child, always, never
    full_model: str = "best"
    plots: bool = True
    run_name: str | None = None
    metric_budget: int = 1000  # points per metric in the store; the full history is an artifact
    retry_seconds: float = 120.0  # how long to wait for a locked or unreachable store
    start_wait_seconds: float = 5.0  # a server store silent this long at start: record locally
    hash_every_n_steps: int = 10  # weight hashes for reproduce to localise a difference; 0: off
    description: str | None = None  # the run's description (MLflow's mlflow.note.content)
    tags: dict[str, str] = field(default_factory=dict)  # the user's own run tags: {team: vision}
    system_metrics: bool = False  # CPU, memory, disk, network samples (MLflow's monitor; psutil)


@dataclass
class SweepConfig:
    objective: str = "val/loss"
    direction: str = "minimize"
    skip_finished: bool = False
    diverged_objective: float | None = None  # null: the worst value for the direction
    prune: str | None = None  # null, median or asha: stop hopeless children (pruning rules)
    prune_warmup_epochs: int = 5  # median: the first epochs are never pruned
    prune_startup_runs: int = 5  # median: finished siblings needed before any pruning
    prune_min_siblings: int = 1  # median: siblings with a value at the epoch
    prune_interval: int = 1  # median: epochs between checks after the warm-up
    prune_min_epochs: int = 1  # asha: epochs of the first rung
    prune_reduction_factor: int = 4  # asha: keep the best 1/reduction_factor at each rung
    checkpoint_every: int = 0  # epochs between checkpoints (0: none); sweep.resume reads them
    resume: bool = False  # continue stopped runs of the same config from their checkpoint
    resume_force: bool = False  # continue even with other code or an altered checkpoint
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
    """Put the schema in Hydra's ConfigStore as `base_config` (conf/config.yaml extends it), and
    nnexp's resolver `${nnexp.cache:NAME}` (a folder in the per-user cache) in OmegaConf.
    `tracking.tags` takes any key (`tracking.tags={team: x}`), the rest of the schema none."""
    from nnexp.config.paths import in_cache

    node = OmegaConf.structured(Config)
    OmegaConf.set_struct(node.tracking.tags, False)
    ConfigStore.instance().store(name="base_config", node=node)
    OmegaConf.register_new_resolver("nnexp.cache", in_cache, replace=True)


@functools.cache
def schema_tree() -> dict[str, Any]:
    """The schema's keys as nested dicts (a leaf is None): built once, checked against often."""
    def keys(node: DictConfig) -> dict[str, Any]:
        # a section is a dataclass; a dict-typed field (tracking.tags) is one value, any keys
        return {str(k): keys(v) if isinstance(v := node._get_node(k), DictConfig)
                and OmegaConf.get_type(v) is not dict else None for k in node}

    return keys(OmegaConf.structured(Config))


def schema_keys() -> list[str]:
    """Every key of the schema, dotted (`model.hidden`), sections included."""
    def walk(tree: dict[str, Any], prefix: str) -> list[str]:
        found = []
        for key, below in tree.items():
            found.append(prefix + key)
            if below is not None:
                found += walk(below, f"{prefix}{key}.")
        return found

    return walk(schema_tree(), "")


def sibling_keys(key: str) -> list[str]:
    """The keys the schema has beside `key` (`model.x` -> hidden, activation, ...); [] for a
    section the schema does not have."""
    tree: dict[str, Any] | None = schema_tree()
    for part in key.split(".")[:-1]:
        tree = tree.get(part) if tree is not None else None
    return [k for k in tree if k != "hydra"] if tree else []


def closest_key(key: str) -> str | None:
    """The schema key a mistyped `key` most likely meant: a close spelling in the same section
    (`model.hiden` -> `model.hidden`), else anywhere (`hidden` -> `model.hidden`); None."""
    section, _, leaf = key.rpartition(".")
    if leaf.startswith("_"):  # Hydra's own keys (`_target_`): not a misspelt schema key
        return None
    known = schema_keys()
    siblings = [k.rpartition(".")[2] for k in known if k.rpartition(".")[0] == section]
    near = difflib.get_close_matches(leaf, siblings, n=1, cutoff=0.7)
    if near:
        return f"{section}.{near[0]}" if section else near[0]
    leaves = {k.rpartition(".")[2]: [] for k in known}
    for k in known:
        leaves[k.rpartition(".")[2]].append(k)
    for near_leaf in difflib.get_close_matches(leaf, list(leaves), n=1, cutoff=0.8):
        if len(leaves[near_leaf]) == 1:
            return leaves[near_leaf][0]
    near = difflib.get_close_matches(key, known, n=1, cutoff=0.8)
    return near[0] if near else None


def unknown_key_message(key: str, value: Any = None) -> str:
    """The one line for a key the schema does not have: a moved key says where it lives now, a
    misspelt one the key it resembles."""
    if key in MOVED_KEYS:
        new, what = MOVED_KEYS[key]
        return (f"{key}: not a config key; {what} is the key `{new}`: use "
                f"{new}={'...' if value is None else value}")
    near = closest_key(key)
    if near is not None and near != key:
        example = "" if value is None else f" ({near}={value})"
        return f"{key}: unknown config key; did you mean {near}?{example}"
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


def diverged_objective(cfg: DictConfig) -> float:
    """What a diverged job returns to the sweeper: sweep.diverged_objective, or by default the
    worst value for the direction (a large one when minimising, a large negative one when
    maximising), so a sweeper never takes a diverged job for the best."""
    if cfg.sweep.diverged_objective is not None:
        return float(cfg.sweep.diverged_objective)
    return DIVERGED_OBJECTIVE if cfg.sweep.direction == "minimize" else -DIVERGED_OBJECTIVE


def to_container(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as plain Python data, without Hydra's own node."""
    data = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    assert isinstance(data, dict)
    data.pop("hydra", None)
    model = data.get("model")
    if isinstance(model, dict) and model.get("layers", 0) is None:
        # an MLP: its record, params and identity stay as before layer lists existed
        del model["layers"]
    return data


def config_hash(config: dict[str, Any]) -> str:
    """Identity of an experiment: a hash of the resolved config minus the bookkeeping sections
    (tracking, sweep, ...), which never change the numbers."""
    core = {k: v for k, v in config.items() if k not in BOOKKEEPING_SECTIONS}
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()[:16]
