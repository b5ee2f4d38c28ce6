"""MLflow's newest schema revision is remembered in nnexp's cache, and a store at an older
schema is still refused."""

import sqlite3
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from mlflow.exceptions import MlflowException
from mlflow.store.db import utils

from nnexp.tracking.schema_head import remember_schema_head
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
