"""The config room: the typed schema registered in Hydra's ConfigStore, its checks, the memory
check, the metric catalogue, the names a user may choose, paths, and a config rebuilt from a
record. A leaf above the engine: it builds nothing to validate.

The names below are the ones other rooms and users import from `nnexp.config`.
"""

from nnexp.config.checks import validate, validate_for_data
from nnexp.config.memory import available_memory, check_memory, memory_needed
from nnexp.config.metric_catalogue import metric_names, run_metric_names
from nnexp.config.schema import (
    BOOKKEEPING_SECTIONS,
    DIVERGED_OBJECTIVE,
    MAX_EXPERIMENT_NAME,
    MAX_PARAM_VALUE,
    MAX_RUN_NAME,
    MOVED_KEYS,
    Config,
    DataConfig,
    GradcheckConfig,
    LrFindConfig,
    ModelConfig,
    OptimizerConfig,
    ScheduleConfig,
    SweepConfig,
    TrackingConfig,
    TrainConfig,
    config_hash,
    diverged_objective,
    drop_moved_keys,
    register_configs,
    to_container,
    unknown_key_message,
)
from nnexp.config.user_errors import ConfigError, UserError

__all__ = [
    "BOOKKEEPING_SECTIONS", "DIVERGED_OBJECTIVE", "MAX_EXPERIMENT_NAME", "MAX_PARAM_VALUE",
    "MAX_RUN_NAME", "MOVED_KEYS", "Config", "ConfigError", "DataConfig", "GradcheckConfig",
    "LrFindConfig", "ModelConfig", "OptimizerConfig", "ScheduleConfig", "SweepConfig",
    "TrackingConfig", "TrainConfig", "UserError", "available_memory", "check_memory",
    "config_hash", "diverged_objective", "drop_moved_keys", "memory_needed", "metric_names",
    "register_configs", "run_metric_names", "to_container", "unknown_key_message", "validate",
    "validate_for_data",
]
