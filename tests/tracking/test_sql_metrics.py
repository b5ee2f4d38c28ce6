"""Metric values inserted in bulk into an SQL store: the rows MLflow's `log_batch` writes, the same
latest values, and MLflow's own path for what it handles differently."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException

from nnexp.tracking.sql_metrics import insert_metrics, sql_store
from nnexp.tracking.store import open_client, sqlite_path
from nnexp.tracking.writer import log_batch

# NaN and infinities, ties of step and time, steps out of order, one key given once
BATCHES = [
    [("loss", 2.5, 1000, 0), ("loss", math.nan, 1001, 1), ("loss", 1.5, 1001, 1),
     ("lr", 0.1, 1000, 0), ("norm", math.inf, 1002, 2), ("norm", -math.inf, 1002, 2),
     ("loss", 0.75, 1003, 3), ("loss", 9.0, 1003, 2), ("once", 4.0, 1004, 4)],
    # a later batch with an earlier step: the latest value stays; a higher one replaces it
    [("loss", 0.5, 900, 1), ("lr", 0.05, 2000, 5), ("norm", 1.0, 1002, 2),
     ("norm", 0.0, 1002, 2)],
]


def _rows(uri: str, run_id: str) -> tuple[list[tuple], list[tuple]]:
    with sqlite3.connect(sqlite_path(uri)) as conn:
        metrics = conn.execute(
            "SELECT key, value, timestamp, step, is_nan FROM metrics WHERE run_uuid = ? "
            "ORDER BY key, timestamp, step, value, is_nan", (run_id,)).fetchall()
        latest = conn.execute(
            "SELECT key, value, timestamp, step, is_nan FROM latest_metrics WHERE run_uuid = ? "
            "ORDER BY key", (run_id,)).fetchall()
    return metrics, latest


@pytest.fixture
def client(store_uri: str):
    return open_client(store_uri)


def _run(client) -> str:
    found = client.get_experiment_by_name("metrics")
    experiment = found.experiment_id if found else client.create_experiment("metrics")
    return client.create_run(experiment).info.run_id


def test_bulk_rows_and_latest_values_are_mlflows(client, store_uri: str):
    theirs, ours = _run(client), _run(client)
    for batch in BATCHES:
        client.log_batch(theirs, metrics=[Metric(*p) for p in batch])
        assert insert_metrics(sql_store(client), ours, batch)
    expected = _rows(store_uri, theirs)
    assert len(expected[0]) == sum(map(len, BATCHES)) and len(expected[1]) == 4
    assert _rows(store_uri, ours) == expected
    assert client.get_run(ours).data.metrics == client.get_run(theirs).data.metrics
    assert ([(m.step, m.value) for m in client.get_metric_history(ours, "norm")]
            == [(m.step, m.value) for m in client.get_metric_history(theirs, "norm")])


def test_values_the_store_has_go_through_mlflow_and_are_not_doubled(client, store_uri: str):
    run_id = _run(client)
    first, second = BATCHES
    assert insert_metrics(sql_store(client), run_id, first)
    assert not insert_metrics(sql_store(client), run_id, [*second, first[0]])  # a replay
    assert len(_rows(store_uri, run_id)[0]) == len(first)  # nothing of it was written
    log_batch(client, run_id, [*second, first[0]], {}, {})
    assert len(_rows(store_uri, run_id)[0]) == len(first) + len(second)


def test_what_mlflow_refuses_is_refused(client):
    run_id = _run(client)
    with pytest.raises(MlflowException) as bad_key:
        insert_metrics(sql_store(client), run_id, [("ok", 1.0, 1, 0), ("../bad", 1.0, 1, 0)])
    assert bad_key.value.error_code == "INVALID_PARAMETER_VALUE"
    client.delete_run(run_id)
    with pytest.raises(MlflowException) as deleted:
        insert_metrics(sql_store(client), run_id, [("ok", 1.0, 1, 0)])
    assert deleted.value.error_code == "INVALID_PARAMETER_VALUE"


def test_other_points_and_other_clients_take_mlflows_path(client, store_uri: str):
    run_id = _run(client)
    assert not insert_metrics(sql_store(client), run_id, [("int", 1, 1, 0)])
    assert _rows(store_uri, run_id) == ([], [])
    assert sql_store(object()) is None
    assert sql_store(open_client(f"sqlite:///{Path(sqlite_path(store_uri))}")) is not None
