"""Hydra's Ray launcher: its jobs run in Ray's worker processes, which do not inherit the
launching process's environment, so the sweep's hand-off (parent run, store, swept keys) would
not reach them and every child would be recorded as an unrelated run.

The sweep callback therefore connects to Ray itself, before the launcher does, with the
launcher's own `hydra.launcher.ray.init` settings plus the hand-off as the job's
`runtime_env.env_vars`, which Ray sets in every worker of the job on every node. The launcher
then finds Ray initialised and uses that connection.
"""

from __future__ import annotations

import os
from typing import Any

from omegaconf import DictConfig, OmegaConf

RAY_LAUNCHER = "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"
LOCAL_OBJECT_STORE_BYTES = 78643200  # what the launcher gives a Ray it starts itself


def uses_ray(config: DictConfig) -> bool:
    """Whether this sweep's jobs run through Hydra's Ray launcher."""
    return OmegaConf.select(config, "hydra.launcher._target_", default=None) == RAY_LAUNCHER


def ray_init_arguments(config: DictConfig, env: dict[str, str]) -> dict[str, Any]:
    """`ray.init` arguments: the launcher's settings plus `env` for every job's worker, without
    any password in the tracking URI (Ray shows a job's runtime_env to whoever reaches it).

    The launcher always asks for a small object store, which Ray refuses when it connects to an
    existing cluster (`address`, or RAY_ADDRESS): that default applies only when Ray is started
    here. Values the user set are passed unchanged, so Ray accepts or refuses them itself.
    """
    from nnexp.tracking.known_stores import without_password

    env = {k: without_password(v) if k == "MLFLOW_TRACKING_URI" else v for k, v in env.items()}
    init = OmegaConf.to_container(config.hydra.launcher.ray.init, resolve=True) or {}
    assert isinstance(init, dict)
    if not (init.get("address") or os.environ.get("RAY_ADDRESS")):
        init.setdefault("object_store_memory", LOCAL_OBJECT_STORE_BYTES)
    runtime_env = dict(init.get("runtime_env") or {})
    runtime_env["env_vars"] = {**(runtime_env.get("env_vars") or {}), **env}
    init["runtime_env"] = runtime_env
    return init


def connect_ray(config: DictConfig, env: dict[str, str]) -> None:
    """Initialise Ray for a sweep that uses its launcher, handing `env` to every job."""
    import ray

    from nnexp.config import ConfigError

    if ray.is_initialized():  # its job's environment is fixed: the hand-off could not be added
        raise ConfigError("hydra/launcher=ray: Ray is already initialised in this process, so "
                          "the sweep cannot hand its parent run to the jobs; ray.shutdown() first")
    ray.init(**ray_init_arguments(config, env))
