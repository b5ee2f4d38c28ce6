"""Shared fixtures: Hydra-composed, shrunk configs and a temporary MLflow store per test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from nnexp.paths import conf_dir

FAST = ["train.epochs=2", "model.hidden=[16]"]


@pytest.fixture(autouse=True)
def _no_inherited_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may touch the repo's mlruns/: drop any store the environment points at, and run
    from the test's temporary folder, so a default `./mlruns` or Hydra `outputs/` lands there."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("NNEXP_PARENT_RUN_ID", raising=False)
    monkeypatch.delenv("NNEXP_SWEPT_KEYS", raising=False)


@pytest.fixture
def store_uri(tmp_path: Path) -> str:
    """A fresh SQLite tracking store in the test's temporary folder."""
    return f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"


@pytest.fixture
def make_cfg(store_uri: str) -> Callable[..., DictConfig]:
    """Compose conf/ with CLI-style overrides, shrunk for speed, tracked in the temp store."""

    def make(*overrides: str, fast: bool = True) -> DictConfig:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
            cfg = compose("config", overrides=[*(FAST if fast else []), *overrides])
        with open_dict(cfg):
            if cfg.tracking.uri is None:
                cfg.tracking.uri = store_uri
        return cfg

    from nnexp.config import register_configs

    register_configs()
    return make
