"""The outbox journal: what was written reads back, a write cut short by a kill is ignored."""

from __future__ import annotations

import numpy as np

from nnexp.experiment.observer import MetricChunk
from nnexp.tracking.outbox import METRICS, Outbox, journal_folders


def _chunk(keys, start, n, per_step=True):
    steps = np.arange(start, start + n, dtype=np.int64)
    values = np.arange(n * len(keys), dtype=np.float64).reshape(n, len(keys)) + start
    return MetricChunk(tuple(keys), steps, steps * 1000, values, per_step)


def test_metrics_and_operations_read_back(tmp_path):
    box = Outbox.create(tmp_path, "run1", {"uri": "sqlite:///x.db"})
    box.append_metrics(_chunk(["loss", "lr"], 0, 3))
    box.append_metrics(_chunk(["loss", "lr"], 3, 2))
    box.append_metrics(_chunk(["val"], 10, 1, per_step=False))
    first = box.add_op({"op": "params", "params": {"a": "1"}})
    box.add_op({"op": "end", "status": "FINISHED"})
    box.mark_done(first)

    again = Outbox(tmp_path / "run1")
    series = again.metric_series()
    assert list(series["loss"]["steps"]) == [0, 1, 2, 3, 4]
    assert list(series["lr"]["values"]) == [1.0, 3.0, 5.0, 4.0, 6.0]
    assert series["val"]["per_step"] is False and series["loss"]["per_step"] is True
    assert [op["op"] for op in again.pending_ops()] == ["end"]
    assert [f.name for f in journal_folders(tmp_path)] == ["run1"]


def test_a_record_cut_short_by_a_kill_is_ignored(tmp_path):
    box = Outbox.create(tmp_path, "run2", {})
    box.append_metrics(_chunk(["loss"], 0, 4))
    with open(box.folder / METRICS, "ab") as handle:
        handle.write(b"\x01\x02\x03")  # half a record
    with open(box.folder / "ops.jsonl", "a") as handle:
        handle.write('{"seq": 0, "op": "ta')  # half a line
    series = Outbox(box.folder).metric_series()
    assert list(series["loss"]["steps"]) == [0, 1, 2, 3]
    assert Outbox(box.folder).pending_ops() == []
