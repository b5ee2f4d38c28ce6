"""The background writer: retries a store that is unavailable, in order; reports refusals."""

from __future__ import annotations

import time

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, TEMPORARILY_UNAVAILABLE

from nnexp.tracking.outbox import Outbox
from nnexp.tracking.writer import StoreWriter


class FlakyClient:
    """Refuses the first `failures` writes as unavailable, then records them."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.written: list[tuple] = []

    def _maybe_fail(self) -> None:
        if self.failures:
            self.failures -= 1
            raise MlflowException("database is locked", error_code=TEMPORARILY_UNAVAILABLE)

    def log_batch(self, run_id, metrics=(), params=(), tags=()):
        self._maybe_fail()
        for metric in metrics:
            if metric.key == "refused":
                raise MlflowException("bad value", error_code=INVALID_PARAMETER_VALUE)
        self.written += [("metric", m.key, m.step) for m in metrics]
        self.written += [("tag", t.key) for t in tags]

    def set_tag(self, run_id, key, value):
        self._maybe_fail()
        self.written.append(("tag", key))

    def set_terminated(self, run_id, status, end_time=None):  # as MlflowClient
        self._maybe_fail()
        self.written.append(("end", status))


@pytest.fixture
def outbox(tmp_path):
    return Outbox.create(tmp_path, "run", {})


def test_writes_wait_for_the_store_and_keep_their_order(outbox):
    client = FlakyClient(failures=3)
    writer = StoreWriter(client, outbox, heartbeat_seconds=3600)
    writer.metrics([("loss", 1.0, 1000, 0), ("loss", 0.5, 2000, 1)])
    writer.op({"op": "tags", "tags": {"a": "b"}})
    writer.op({"op": "end", "status": "FINISHED"})
    assert writer.close(wait_seconds=30)
    written = [w for w in client.written if w != ("tag", "nnexp.heartbeat")]
    assert written == [("metric", "loss", 0), ("metric", "loss", 1), ("tag", "a"),
                       ("end", "FINISHED")]
    assert outbox.pending_ops() == []
    assert writer.waited_seconds > 0


def test_a_store_that_stays_away_leaves_the_writes_journaled(outbox):
    writer = StoreWriter(FlakyClient(failures=10**6), outbox, heartbeat_seconds=3600)
    writer.op({"op": "end", "status": "FINISHED"})
    assert not writer.close(wait_seconds=1)
    assert [op["op"] for op in outbox.pending_ops()] == ["end"]


def test_a_refused_write_is_reported_and_the_rest_still_goes(outbox, caplog):
    client = FlakyClient(failures=0)
    writer = StoreWriter(client, outbox, heartbeat_seconds=3600)
    writer.metrics([("refused", 1.0, 1000, 0)])
    writer.op({"op": "tags", "tags": {"a": "b"}})  # may travel in the same request
    writer.op({"op": "end", "status": "FINISHED"})
    assert writer.close(wait_seconds=10)
    assert ("tag", "a") in client.written and ("end", "FINISHED") in client.written
    assert "the store refused a write" in caplog.text


class SlowClient(FlakyClient):
    """Takes every write, each after `seconds`: a store shared by many busy processes."""

    def __init__(self, seconds: float) -> None:
        super().__init__(failures=0)
        self.seconds = seconds

    def set_terminated(self, run_id, status, end_time=None):
        time.sleep(self.seconds)
        super().set_terminated(run_id, status, end_time)


def test_a_slow_store_that_keeps_taking_writes_is_waited_for(outbox):
    # 40 writes of 0.2 s: 8 s in all, past the 1 s patience and its 5 s grace, yet every
    # write lands within the patience of the one before
    client = SlowClient(seconds=0.2)
    writer = StoreWriter(client, outbox, heartbeat_seconds=3600)
    for _ in range(40):
        writer.op({"op": "end", "status": "FINISHED"})
    assert writer.close(wait_seconds=1)
    assert client.written.count(("end", "FINISHED")) == 40
    assert outbox.pending_ops() == []


def test_a_store_stuck_inside_one_write_is_given_up(outbox):
    writer = StoreWriter(SlowClient(seconds=30), outbox, heartbeat_seconds=3600)
    writer.op({"op": "end", "status": "FINISHED"})
    started = time.monotonic()
    assert not writer.close(wait_seconds=0.5)
    assert time.monotonic() - started < 10
    assert [op["op"] for op in outbox.pending_ops()] == ["end"]
