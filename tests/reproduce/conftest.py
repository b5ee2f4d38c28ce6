"""Fixtures for reproduce/diff tests: a pre-migrated temporary store and a small trained run."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from nnexp.experiment import run_experiment

QUICK = ("tracking.plots=false",)


@pytest.fixture(scope="session")
def _migrated_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow SQLite store, created once: its schema migrations take seconds."""
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def store_uri(tmp_path: Path, _migrated_store: Path) -> str:
    """A fresh store per test (a copy of the migrated template), in the test's temp folder."""
    db = tmp_path / "mlruns" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(_migrated_store, db)
    return f"sqlite:///{db}"


@pytest.fixture
def train_run(make_cfg: Callable[..., object]) -> Callable[..., str]:
    """Train a shrunk config (plus `overrides`) in the temp store; return its run id."""

    def train(*overrides: str, parent_run_id: str | None = None, name: str = "run") -> str:
        cfg = make_cfg(*QUICK, *overrides)
        result = run_experiment(cfg, run_name=name, overrides=list(overrides),
                                parent_run_id=parent_run_id, verbose=False,
                                command=["python", "-m", "nnexp.train", *overrides])
        assert result.run_id is not None
        return result.run_id

    return train
