"""Reproductions that must not say `identical`: changed overrides and tampered records."""

from __future__ import annotations

import math
import sqlite3

from helpers import client_for

from nnexp.reproduce import reproduce
from nnexp.tracking.store import sqlite_path


def _reproduce(run_id: str, uri: str, capsys, *extra: str) -> tuple[int, list[str]]:
    code = reproduce([run_id, "--tracking-uri", uri, "--quiet", *extra])
    return code, capsys.readouterr().out.splitlines()


def test_changed_override_is_a_report_with_the_first_differing_step(train_run, store_uri, capsys):
    run_id = train_run()
    code, lines = _reproduce(run_id, store_uri, capsys, "--overrides", "lr=0.01",
                             "model.hidden=[8]")
    assert code == 0  # a requested change is a report, not a failure
    report = lines[lines.index(next(x for x in lines if x.startswith("diff report"))):]
    changed = [x.strip() for x in report if x.startswith("  config ")]
    assert changed == ["config lr: 0.1 -> 0.01", "config model.hidden: [16] -> [8]"]
    assert "  lr at step 0: recorded 0.1, reproduced 0.01" in report
    # all but `epoch` and `dead_units/layer1` (no unit dead in either)
    assert any(x.startswith("13 of 15 metrics differ") for x in report)


def test_metric_logged_again_at_an_existing_step_is_detected(train_run, store_uri, capsys):
    run_id = train_run()
    client = client_for(store_uri)
    original = client.get_metric_history(run_id, "val/loss")[-1]
    client.log_metric(run_id, "val/loss", 0.125, step=original.step)
    code, lines = _reproduce(run_id, store_uri, capsys)
    assert code == 1
    assert lines[-4] == (f"different: first difference: val/loss at step {original.step}: "
                         f"recorded {original.value!r}, 0.125, reproduced {original.value!r}")
    assert lines[-3] == "  weights equal at all 8 hashed steps"  # the record was edited
    assert lines[-2] == "1 of 15 metrics differ:"


def test_last_bit_edited_in_the_sqlite_row_is_detected(train_run, store_uri, capsys):
    run_id = train_run()
    step = client_for(store_uri).get_metric_history(run_id, "train/loss")[0].step
    with sqlite3.connect(sqlite_path(store_uri)) as db:
        (value,) = db.execute("SELECT value FROM metrics WHERE run_uuid=? AND key='train/loss' "
                              "AND step=?", (run_id, step)).fetchone()
        edited = math.nextafter(value, math.inf)  # one unit in the last place
        db.execute("UPDATE metrics SET value=? WHERE run_uuid=? AND key='train/loss' AND step=?",
                   (edited, run_id, step))
    code, lines = _reproduce(run_id, store_uri, capsys)
    assert code == 1
    assert f"train/loss at step {step}: recorded {edited!r}, reproduced {value!r}" in lines[-4]
    assert lines[-2] == "1 of 15 metrics differ:"
