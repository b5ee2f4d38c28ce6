"""A config rebuilt from a run's record: the logged config merged onto the typed schema, its
links restored, and overrides applied as Hydra would (what `nnexp.reproduce` trains again)."""

from __future__ import annotations

import re
from typing import Any

from omegaconf import DictConfig, OmegaConf

from nnexp.config.paths import conf_dir, group_options
from nnexp.config.schema import Config, drop_moved_keys, unknown_key_message
from nnexp.config.user_errors import ConfigError

_INTERPOLATION = re.compile(r"^\$\{[^}]+\}$")


def _schema_interpolations(node: Any, prefix: str = "") -> dict[str, str]:
    """Keys whose schema default is an interpolation (`a: ${b}` -> b), to restore them."""
    found = {}
    for key, value in node.items():
        if isinstance(value, dict):
            found.update(_schema_interpolations(value, f"{prefix}{key}."))
        elif isinstance(value, str) and _INTERPOLATION.match(value):
            found[f"{prefix}{key}"] = value[2:-1]
    return found


def schema_links() -> dict[str, str]:
    """The schema's own interpolations as written (`{"optimizer.lr": "${lr}"}`): the only ones
    a logged config may hold (any other is refused when the record is read)."""
    schema = OmegaConf.to_container(OmegaConf.structured(Config), resolve=False)
    return {key: f"${{{target}}}" for key, target in _schema_interpolations(schema).items()}


def _restore_interpolations(logged: dict[str, Any], schema: DictConfig) -> DictConfig:
    """The logged config with resolved copies of schema links (`a: ${b}` logged as `a: 0.1`)
    turned back into links, so an override of b reaches a as it did when the run was made."""
    config = OmegaConf.create(logged)
    links = _schema_interpolations(OmegaConf.to_container(schema, resolve=False))
    for key, target in links.items():
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(config, parent) if parent else config
        if (isinstance(node, DictConfig) and leaf in node
                and node[leaf] == OmegaConf.select(config, target)):
            del node[leaf]  # the schema's `${target}` takes its place, so overrides follow it
    return config


def _apply_group(cfg: DictConfig, group: str, option: str) -> None:
    """`optimizer=sgd` on a logged config: reset the group to its schema, merge the option file."""
    path = conf_dir() / group / f"{option}.yaml"
    if not path.is_file():
        allowed = ", ".join(group_options(group)) or "(none)"
        raise ConfigError(f"{group}: unknown option '{option}'; allowed: {allowed}")
    cfg[group] = OmegaConf.structured(Config)[group]
    content = OmegaConf.load(path)
    is_global = any("@package _global_" in line for line in path.read_text().splitlines()[:3])
    merged = OmegaConf.merge(cfg, content if is_global else {group: content})
    for key in merged:
        cfg[key] = merged[key]


def apply_overrides(cfg: DictConfig, overrides: list[str]) -> None:
    """Hydra `key=value` overrides (and `group=option`) on a rebuilt config; types are checked."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    groups = [o for o in parsed if "." not in o.key_or_group and isinstance(o.value(), str)
              and (conf_dir() / o.key_or_group).is_dir()]
    for o in parsed:
        if o.is_sweep_override():
            raise ConfigError(f"{o.input_line}: a sweep cannot be reproduced; give one value")
        if o.is_delete() or o.is_add() or o.is_force_add():
            raise ConfigError(f"{o.input_line}: only key=value overrides apply to a logged config")
    for o in groups:
        _apply_group(cfg, o.key_or_group, o.value())
    for o in parsed:
        if o in groups:
            continue
        missing = object()
        if OmegaConf.select(cfg, o.key_or_group, default=missing) is missing:
            raise ConfigError(unknown_key_message(o.key_or_group, o.value()))
        OmegaConf.update(cfg, o.key_or_group, o.value(), merge=False)


def rebuild_config(logged: dict[str, Any], overrides: list[str], uri: str,
                   experiment: str) -> DictConfig:
    """The logged config merged onto the typed schema, overridden, and tracked in the same store."""
    schema = OmegaConf.structured(Config)
    cfg = OmegaConf.merge(schema, _restore_interpolations(drop_moved_keys(logged), schema))
    apply_overrides(cfg, overrides)
    cfg.tracking.uri = uri
    cfg.tracking.experiment = experiment
    cfg.tracking.enabled = True
    # a reproduction trains: an identical finished run (the record itself) must not answer for
    # it, and no learning-rate limit may skip it
    cfg.sweep.skip_finished = False
    cfg.sweep.skip_lr_above = None
    assert isinstance(cfg, DictConfig)
    return cfg
