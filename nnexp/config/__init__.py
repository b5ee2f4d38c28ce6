"""The config room: the typed schema registered in Hydra's ConfigStore, its checks, the memory
check, the metric catalogue, the names a user may choose, paths, and a config rebuilt from a
record. A leaf above the engine: it builds nothing to validate.

The names below are the ones other rooms and users import from `nnexp.config`; each loads its
module on first use, so `nnexp.data` (which raises ConfigError's sibling DataError) does not
import Hydra and OmegaConf with the package.
"""

from importlib import import_module
from typing import Any

_WHERE = {
    "BOOKKEEPING_SECTIONS": "nnexp.config.schema",
    "Config": "nnexp.config.schema",
    "ConfigError": "nnexp.config.user_errors",
    "DIVERGED_OBJECTIVE": "nnexp.config.schema",
    "DataConfig": "nnexp.config.schema",
    "GradcheckConfig": "nnexp.config.schema",
    "LrFindConfig": "nnexp.config.schema",
    "MAX_EXPERIMENT_NAME": "nnexp.config.schema",
    "MAX_PARAM_VALUE": "nnexp.config.schema",
    "MAX_RUN_NAME": "nnexp.config.schema",
    "MOVED_KEYS": "nnexp.config.schema",
    "ModelConfig": "nnexp.config.schema",
    "OptimizerConfig": "nnexp.config.schema",
    "ScheduleConfig": "nnexp.config.schema",
    "SweepConfig": "nnexp.config.schema",
    "TrackingConfig": "nnexp.config.schema",
    "TrainConfig": "nnexp.config.schema",
    "UserError": "nnexp.config.user_errors",
    "available_memory": "nnexp.config.memory",
    "check_memory": "nnexp.config.memory",
    "config_hash": "nnexp.config.schema",
    "diverged_objective": "nnexp.config.schema",
    "drop_moved_keys": "nnexp.config.schema",
    "memory_needed": "nnexp.config.memory",
    "metric_names": "nnexp.config.metric_catalogue",
    "register_configs": "nnexp.config.schema",
    "run_metric_names": "nnexp.config.metric_catalogue",
    "to_container": "nnexp.config.schema",
    "unknown_key_message": "nnexp.config.schema",
    "validate": "nnexp.config.checks",
    "validate_for_data": "nnexp.config.checks",
}

__all__ = [
    "BOOKKEEPING_SECTIONS", "DIVERGED_OBJECTIVE", "MAX_EXPERIMENT_NAME", "MAX_PARAM_VALUE",
    "MAX_RUN_NAME", "MOVED_KEYS", "Config", "ConfigError", "DataConfig", "GradcheckConfig",
    "LrFindConfig", "ModelConfig", "OptimizerConfig", "ScheduleConfig", "SweepConfig",
    "TrackingConfig", "TrainConfig", "UserError", "available_memory", "check_memory",
    "config_hash", "diverged_objective", "drop_moved_keys", "memory_needed", "metric_names",
    "register_configs", "run_metric_names", "to_container", "unknown_key_message", "validate",
    "validate_for_data",
]


def __getattr__(name: str) -> Any:
    """`nnexp.config.X`: the name from the module that defines it, imported on first use."""
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'nnexp.config' has no attribute {name!r}")
