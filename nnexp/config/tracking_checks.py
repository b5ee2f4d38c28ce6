"""What a run's own tags and system metrics may be: checked with the config, before any run."""

from __future__ import annotations

import importlib.util
import os
import posixpath
import re
from typing import Any

from omegaconf import DictConfig, OmegaConf

from nnexp.config.schema import MAX_TAG_KEY, MAX_TAG_VALUE
from nnexp.config.user_errors import ConfigError
from nnexp.config.vocabulary import RESERVED_TAG_PREFIXES


def max_length(key: str, value: str, limit: int, what: str) -> None:
    """MLflow's length limit for `what`, said before the store refuses it."""
    if len(value) > limit:
        raise ConfigError(f"{key}: {len(value)} characters; MLflow stores at most {limit} in "
                          f"{what}")


# MLflow's own switch, which mlflow.enable_system_metrics_logging() sets
SYSTEM_METRICS_SWITCH = "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"


def system_metrics_wanted(tracking: Any) -> bool:
    """tracking.system_metrics, or MLflow's own switch: the environment variable that
    `mlflow.enable_system_metrics_logging()` sets (MLflow reads it as true/1)."""
    switch = os.environ.get(SYSTEM_METRICS_SWITCH, "").strip().lower() in ("true", "1")
    return bool(tracking.get("system_metrics")) or switch


def check_system_metrics(t: DictConfig) -> None:
    """System metrics need psutil, an optional extra: said before any run exists."""
    if t.enabled and system_metrics_wanted(t) and importlib.util.find_spec("psutil") is None:
        why = "tracking.system_metrics" if t.system_metrics else (
            f"tracking.system_metrics (turned on by MLflow's {SYSTEM_METRICS_SWITCH})")
        raise ConfigError(f"{why}: needs psutil, which is not installed: pip install "
                          "'nnexp[system-metrics]' (or psutil)")


_TAG_KEY = re.compile(r"^[/\w.\- :]+$")  # MLflow's rule for tag names (not Windows')


def check_user_tags(t: DictConfig) -> None:
    """tracking.tags: names MLflow accepts and neither MLflow nor nnexp writes; values within
    MLflow's limit. tracking.description: text (MLflow's mlflow.note.content)."""
    if t.description is not None:
        max_length("tracking.description", t.description, MAX_TAG_VALUE, "a description")
    for key, value in (t.tags or {}).items():
        name = f"tracking.tags.{key}"
        if (not _TAG_KEY.match(str(key)) or posixpath.normpath(str(key)) != str(key)
                or str(key).startswith(("/", ".."))):
            raise ConfigError(f"{name}: not a tag name MLflow accepts; allowed: letters, digits, "
                              "_ - . / : and spaces, no leading / nor ..")
        if str(key).startswith(RESERVED_TAG_PREFIXES):
            hint = " (a description is tracking.description)" if key == "mlflow.note.content" \
                else ""
            raise ConfigError(f"{name}: tags starting with {' or '.join(RESERVED_TAG_PREFIXES)} "
                              f"are MLflow's and nnexp's own{hint}; choose another name")
        if OmegaConf.is_config(value):
            raise ConfigError(f"{name}: a tag value is one text or number, got {value}")
        max_length(name, str(key), MAX_TAG_KEY, "a tag name")
        max_length(name, str(value), MAX_TAG_VALUE, "a tag value")
