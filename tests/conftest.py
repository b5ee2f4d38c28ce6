"""Shared fixtures: Hydra-composed, shrunk configs and a temporary MLflow store per test."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from nnexp.config.paths import conf_dir

FAST = ["train.epochs=2", "model.hidden=[16]"]


def pytest_configure(config: pytest.Config) -> None:
    """nnexp's cache (the journal and lock of an SQLite store outside an mlruns/ folder) in a
    folder of this session, for the tests and every command they start, never ~/.cache."""
    import tempfile

    os.environ["NNEXP_CACHE_DIR"] = tempfile.mkdtemp(prefix="nnexp-test-cache-")
    config.addinivalue_line("markers", "real_schema_build: a store created in this process runs "
                            "MLflow's migrations, not a copy of the session's built schema")


def pytest_unconfigure(config: pytest.Config) -> None:
    """The session's cache goes with it."""
    shutil.rmtree(os.environ.pop("NNEXP_CACHE_DIR", ""), ignore_errors=True)


# Modules whose tests start real processes (servers, killed runs, a wheel's venv): collected
# first, so that under `-n 2` the long tests start early and the workers end together.
SLOW_FIRST = (
    "packaging/test_wheel_install.py", "distributed/", "robustness/test_faults.py",
    "robustness/test_sweep_faults.py", "robustness/test_store_outages.py",
    "robustness/test_server_outage.py", "ui/test_ui_server.py", "ui/test_ui_start.py",
    "sweeps/test_sweep_resume.py", "robustness/test_store_creation.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow modules first, each in its own order; the others keep theirs."""
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return next((i for i, slow in enumerate(SLOW_FIRST) if slow in path), len(SLOW_FIRST))

    items.sort(key=rank)


@pytest.fixture(autouse=True)
def _no_inherited_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may touch the repo's mlruns/: drop any store the environment points at, and run
    from the test's temporary folder, so a default `./mlruns` or Hydra `outputs/` lands there."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("NNEXP_PARENT_RUN_ID", raising=False)
    monkeypatch.delenv("NNEXP_SWEPT_KEYS", raising=False)


_SCHEMA_LOCK = threading.Lock()


@pytest.fixture(scope="session")
def _built_schema(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], Path]:
    """The file nnexp's own schema build makes, built on first use and kept for the session."""
    from nnexp.tracking import sqlite_schema

    built: list[Path] = []
    migrate = sqlite_schema._migrate  # MLflow's migrations, whatever a test puts in their place

    def template() -> Path:
        with _SCHEMA_LOCK:
            if not built:
                db = tmp_path_factory.mktemp("schema") / "mlflow.db"
                migrate(db)
                built.append(db)
            return built[0]

    return template


@pytest.fixture(autouse=True)
def _schema_from_template(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
                          _built_schema: Callable[[], Path]) -> None:
    """A new SQLite store created in this process gets a copy of the schema nnexp's build made
    once, instead of running MLflow's ~70 migrations again (~3 s of CPU a store); the checks
    around the build (absent, complete, incomplete) run as they are. Commands in subprocesses
    build their own (tests/robustness/test_store_creation.py kills one while it builds), and so
    do tests marked `real_schema_build`."""
    from nnexp.tracking import sqlite_schema

    if request.node.get_closest_marker("real_schema_build"):
        return

    def copy_built(db: Path, template: Path | None = None) -> None:
        building = db.with_name(f"{db.name}{sqlite_schema.BUILDING_SUFFIX}{os.getpid()}")
        shutil.copyfile(_built_schema(), building)
        os.replace(building, db)

    monkeypatch.setattr(sqlite_schema, "_build", copy_built)


@pytest.fixture(scope="session")
def _migrated_store(tmp_path_factory: pytest.TempPathFactory,
                    _built_schema: Callable[[], Path]) -> Path:
    """An empty MLflow SQLite store, created once (from the built schema: its migrations take
    seconds), as MLflow's client leaves a new one: with its Default experiment."""
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("template") / "mlflow.db"
    shutil.copyfile(_built_schema(), db)
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def mlruns_store(tmp_path: Path, _migrated_store: Path) -> str:
    """The default store of the test's folder, ./mlruns/mlflow.db, there before the first run
    (a copy of the template): for commands run in subprocesses by tests that are not about
    creating it, each of which would otherwise spend ~3 s of CPU on MLflow's migrations."""
    from helpers import seed_store

    return seed_store(tmp_path, _migrated_store)


@pytest.fixture
def store_uri(tmp_path: Path, _migrated_store: Path) -> str:
    """A fresh SQLite tracking store in the test's temporary folder (a copy of the template),
    beside where the default ./mlruns would be, so a test can tell them apart."""
    db = tmp_path / "store" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(_migrated_store, db)
    return f"sqlite:///{db}"


@pytest.fixture
def mlflow_state(store_uri: str):
    """MLflow's global state pointed at the test's store, and restored after the test."""
    import mlflow
    from mlflow.tracking import fluent

    mlflow.set_tracking_uri(store_uri)
    yield store_uri
    while mlflow.active_run():
        mlflow.end_run()
    fluent._active_experiment_id = None
    mlflow.set_tracking_uri(None)


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
