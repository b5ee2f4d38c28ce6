"""Which option of each config group a run was composed from (`optimizer: sgd`), as Hydra's
`runtime.choices` says inside a job, else as the config and its overrides say."""

from __future__ import annotations

from typing import Any

import yaml

from nnexp.config.paths import PRIMARY_CONFIG, conf_dir

# The groups whose option a user picks to change the numbers (conf/<group>/<option>.yaml).
GROUPS = ("model", "optimizer", "schedule", "data", "experiment")
NAMED = ("optimizer", "schedule", "data")  # groups whose options set `<group>.name` to their name


def group_choices(cfg: Any, overrides: list[str] | None) -> dict[str, str]:
    """Group -> chosen option, for the groups chosen (`experiment` only when one is).

    Hydra's choices are trusted only when the job it last set up had these very overrides and
    the config's names agree (Hydra leaves its config set after a job, and the Python API
    composes without one); else the primary config's defaults, the options the config's names
    say (an experiment's `override /optimizer: momentum`), then the overrides' choices.
    """
    names = {group: str(cfg[group].name) for group in NAMED
             if group in cfg and cfg[group].get("name") is not None}
    from_hydra = _hydra_choices(list(overrides or []))
    if from_hydra is not None and all(from_hydra.get(g) == n for g, n in names.items()):
        return from_hydra
    chosen = {**_defaults(), **names}
    for text in overrides or []:
        key, sep, value = text.partition("=")
        if sep and key.lstrip("+") in GROUPS and value and value != "null":
            chosen[key.lstrip("+")] = value
    return {group: chosen[group] for group in GROUPS if chosen.get(group)}


def _hydra_choices(overrides: list[str]) -> dict[str, str] | None:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    hc = HydraConfig.get()
    if list(hc.overrides.task) != overrides:
        return None
    choices = hc.runtime.choices
    return {group: str(choices[group]) for group in GROUPS
            if choices.get(group) not in (None, "null")}


def _defaults() -> dict[str, str]:
    """The primary config's default option of each group (`model: mlp`)."""
    data = yaml.safe_load((conf_dir() / PRIMARY_CONFIG).read_text()) or {}
    found: dict[str, str] = {}
    for entry in data.get("defaults", []):
        if isinstance(entry, dict):
            for group, option in entry.items():
                if group in GROUPS and option is not None:
                    found[group] = str(option)
    return found
