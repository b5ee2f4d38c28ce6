"""MLflow's newest schema revision and an empty store built to it are remembered in nnexp's
cache; a store at an older schema is still refused, and a template that is not sound is never
copied."""

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from mlflow.exceptions import MlflowException
from mlflow.store.db import utils

from nnexp.tracking import sqlite_schema
from nnexp.tracking.schema_head import empty_store_template, remember_schema_head
from nnexp.tracking.store import cache_dir, open_client


def _true_head() -> str:
    return ScriptDirectory.from_config(utils._get_alembic_config(db_url="")).get_heads()[0]


def test_head_is_kept_in_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NNEXP_CACHE_DIR", str(tmp_path / "cache"))
    remember_schema_head(cache_dir)
    head = _true_head()
    assert utils._get_latest_schema_revision() == head
    kept = list((tmp_path / "cache").glob("mlflow-schema-head-*"))
    assert [p.read_text() for p in kept] == [head]
    kept[0].write_text("not a revision")  # a damaged file is not believed
    assert utils._get_latest_schema_revision() == head
    assert kept[0].read_text() == head


def test_an_older_schema_is_still_refused(store_uri: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NNEXP_CACHE_DIR", str(tmp_path / "cache"))
    db = store_uri.removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0a8213491aaa'")
    remember_schema_head(cache_dir)
    utils._get_latest_schema_revision()  # the head is in the cache; the store is new to MLflow
    with pytest.raises(MlflowException, match="out-of-date database schema"):
        open_client(store_uri).search_experiments()


def _schema(db: Path) -> list[str]:
    """Every table, index and trigger of `db`, and its schema revision."""
    with sqlite3.connect(db) as conn:
        return sorted(row[0] for row in conn.execute(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL UNION ALL "
            "SELECT version_num FROM alembic_version"))


@pytest.fixture
def migrations(monkeypatch: pytest.MonkeyPatch, _built_schema: Callable[[], Path]) -> list[Path]:
    """MLflow's migrations, stood in for by a copy of the schema they built once this session;
    the list names every file they were run on."""
    ran: list[Path] = []

    def migrate(building: Path) -> None:
        ran.append(building)
        shutil.copyfile(_built_schema(), building)

    monkeypatch.setattr(sqlite_schema, "_migrate", migrate)
    return ran


@pytest.mark.real_schema_build
def test_the_first_store_built_is_kept_and_the_next_ones_are_copies(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, migrations: list[Path]) -> None:
    monkeypatch.setenv("NNEXP_CACHE_DIR", str(tmp_path / "cache"))
    first, second = tmp_path / "a" / "mlflow.db", tmp_path / "b" / "mlflow.db"
    open_client(f"sqlite:///{first}").search_experiments()
    template = empty_store_template(tmp_path / "cache")
    assert len(migrations) == 1 and template.exists()
    open_client(f"sqlite:///{second}").search_experiments()
    assert len(migrations) == 1  # the second store is the template's copy
    assert _schema(second) == _schema(first)
    assert open_client(f"sqlite:///{second}").get_experiment("0").name == "Default"
    with sqlite3.connect(template) as conn:  # the template itself stays empty
        assert conn.execute("SELECT COUNT(*) FROM experiments").fetchone() == (0,)


@pytest.mark.real_schema_build
@pytest.mark.parametrize("damage", ["garbage", "older revision", "holds an experiment"])
def test_a_template_that_is_not_sound_is_rebuilt_not_copied(
        tmp_path: Path, migrations: list[Path], _built_schema: Callable[[], Path],
        damage: str) -> None:
    template = empty_store_template(tmp_path / "cache")
    template.parent.mkdir()
    if damage == "garbage":
        template.write_bytes(b"SQLite format 3\x00" + b"\x07" * 5000)
    else:
        shutil.copyfile(_built_schema(), template)
        with sqlite3.connect(template) as conn:
            conn.execute("UPDATE alembic_version SET version_num = '0a8213491aaa'"
                         if damage == "older revision" else
                         "INSERT INTO experiments (name, lifecycle_stage) VALUES ('x', 'active')")
    db = tmp_path / "store" / "mlflow.db"
    sqlite_schema.prepare_sqlite_store(db, template)
    assert len(migrations) == 1  # built by the migrations
    assert _schema(db) == _schema(_built_schema())
    assert _schema(template) == _schema(_built_schema())  # and kept in the damaged one's place


@pytest.mark.real_schema_build
def test_a_cache_that_cannot_be_written_still_gets_a_store(
        tmp_path: Path, migrations: list[Path], _built_schema: Callable[[], Path]) -> None:
    cache = tmp_path / "cache"
    cache.write_text("a file where the cache folder would be")
    db = tmp_path / "store" / "mlflow.db"
    sqlite_schema.prepare_sqlite_store(db, empty_store_template(cache))
    assert _schema(db) == _schema(_built_schema())
    assert sorted(p.name for p in db.parent.iterdir()) == ["mlflow.db"]  # no partial file left
