"""`runs sync` and `cleanup` on real journals: a live writer anywhere is left alone, a path leading
out of a journal is never uploaded, one damaged journal is said in one line and kept while the
others sync, and a missing run is one line."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import client_for

from nnexp.experiment.observer import MetricChunk
from nnexp.record import tags
from nnexp.record.redact import redact
from nnexp.runs import main
from nnexp.tracking.liveness import machine_id
from nnexp.tracking.outbox import HEARTBEAT, KEYS, METRICS, OPS, RECORD, Outbox
from nnexp.tracking.store import ensure_experiment, outbox_root

NO_SUCH_PID = 2**22 + 7
# a journal's writer in another process: it beats the journal's heartbeat as a live run does
BEAT = ("import pathlib, sys, time\n"
        "path = pathlib.Path(sys.argv[1])\n"
        "while True:\n    path.touch()\n    time.sleep(0.2)\n")


def _journal(uri: str, *, host: str, machine: str, pid: int, run_id: str | None = None,
             n: int = 30) -> Outbox:
    """A run in the store (RUNNING, a fresh heartbeat tag) and its journal of `n` epochs."""
    client = client_for(uri)
    experiment = ensure_experiment(client, "nnexp", uri)
    if run_id is None:
        run_id = client.create_run(experiment, tags={
            tags.HOST: host, tags.MACHINE: machine, tags.PID: str(pid),
            tags.HEARTBEAT: str(int(time.time()))}).info.run_id
    box = Outbox.create(outbox_root(uri), run_id, {
        "uri": redact(uri), "experiment_id": experiment, "pid": pid, "pid_start": "",
        "host": host, "machine": machine, "budget": 1000,
        "plan": {"total_steps": n, "epochs": n, "log_every_n_steps": 1}})
    steps = np.arange(1, n + 1, dtype=np.int64)
    box.append_metrics(MetricChunk(("val/loss",), steps, 1_700_000_000_000 + steps * 1000,
                                   np.linspace(1, 0.1, n).reshape(-1, 1), False))
    return box


def _here(uri: str, **kwargs) -> Outbox:
    """A journal of this machine whose process is gone."""
    return _journal(uri, host=platform.node(), machine=machine_id(), pid=NO_SUCH_PID, **kwargs)


def _status(uri: str, run_id: str) -> str:
    return client_for(uri).get_run(run_id).info.status


@pytest.mark.parametrize("host", ["node-b", platform.node()],
                         ids=["other-host", "same-hostname-other-machine"])
def test_a_live_journal_of_another_machine_is_left_alone(store_uri, capsys, host):
    # another machine's pid means nothing here: the one recorded is not running on this machine
    box = _journal(store_uri, host=host, machine="another-machine", pid=NO_SUCH_PID)
    writer = subprocess.Popen([sys.executable, "-c", BEAT, str(box.folder / HEARTBEAT)])
    try:
        assert main(["sync", "--tracking-uri", store_uri]) == 0
        out = capsys.readouterr().out
        assert f"left alone: run {box.run_id}: its writer on {host} lives" in out
        assert main(["cleanup", "--tracking-uri", store_uri]) == 0
        assert "0 stale run(s) ended" in capsys.readouterr().out
        assert _status(store_uri, box.run_id) == "RUNNING"
        assert (box.folder / METRICS).is_file()
    finally:
        writer.kill()
        writer.wait()
    time.sleep(0.2)  # its heartbeat now ages: with a short enough window the journal is stale
    assert main(["sync", "--tracking-uri", store_uri, "--stale-minutes", "0.001"]) == 0
    assert f"synced run {box.run_id}" in capsys.readouterr().out
    assert _status(store_uri, box.run_id) == "FAILED"
    assert not box.folder.exists()


def test_paths_leading_out_of_a_journal_are_never_uploaded(store_uri, capsys):
    box = _here(store_uri)
    secret = (box.folder / "../../SECRET").resolve()
    secret.write_text("secret")
    (box.folder / "files" / "ok.txt").write_text("fine")
    (box.folder / "files" / "link.txt").symlink_to(secret)
    for path, folder in [("../../SECRET", None), ("/etc/hostname", None),
                         ("files/link.txt", None), ("files/ok.txt", "../../up"),
                         ("files/ok.txt", "notes")]:
        box.add_op({"op": "artifact", "path": path, "dir": folder})
    assert main(["sync", "--tracking-uri", store_uri]) == 1
    out = capsys.readouterr().out
    for path in ("../../SECRET", "/etc/hostname", "files/link.txt", "../../up"):
        assert f"refused: run {box.run_id}: path {path!r} leads outside its journal's" in out
    client = client_for(store_uri)
    assert [a.path for a in client.list_artifacts(box.run_id)] == ["metrics", "notes"]
    assert [a.path for a in client.list_artifacts(box.run_id, "notes")] == ["notes/ok.txt"]
    artifacts = Path(client.get_run(box.run_id).info.artifact_uri.removeprefix("file://"))
    stored = [p.read_bytes() for p in artifacts.parent.parent.rglob("*") if p.is_file()]
    assert b"secret" not in stored and platform.node().encode() + b"\n" not in stored
    assert box.folder.is_dir()  # kept for a human to look at


def _damage(box: Outbox, kind: str) -> str:
    """Damage the journal as `kind` says; what the one line names."""
    if kind == "bad run.json":
        (box.folder / "run.json").write_text('{"run_id": "x", ')
        return "run.json cannot be read"
    if kind == "missing key id":
        record = np.zeros(1, RECORD)
        record["key"] = 7
        with open(box.folder / METRICS, "ab") as handle:
            handle.write(record.tobytes())
        return f"{METRICS} has values of key id 7, which {KEYS} does not name"
    if kind == "line without seq":
        with open(box.folder / OPS, "a") as handle:
            handle.write(json.dumps({"op": "tags", "tags": {"a": "b"}}) + "\n")
            handle.write(json.dumps({"seq": 1, "op": "end", "status": "FINISHED"}) + "\n")
        return f"{OPS} line 1 has no seq or no op"
    return "the store has no run"


@pytest.mark.parametrize("kind", ["bad run.json", "missing key id", "line without seq",
                                  "unknown run"])
def test_one_damaged_journal_is_reported_and_kept_while_the_others_sync(store_uri, capsys, kind):
    damaged = _here(store_uri, run_id="0" * 32 if kind == "unknown run" else None)
    said = _damage(damaged, kind)
    os.utime(damaged.folder, (time.time() - 60,) * 2)  # the oldest: met first
    good = _here(store_uri)
    assert main(["sync", "--tracking-uri", store_uri]) == 1
    out = capsys.readouterr().out.splitlines()
    (line,) = [line for line in out if line.startswith("not synced")]
    assert said in line and line.endswith(f"kept in {damaged.folder}")
    assert damaged.run_id[:8] in line or damaged.folder.name in line
    assert f"synced run {good.run_id}: 30 metric values" in "\n".join(out)
    assert out[-1] == "1 run(s) synced"
    assert damaged.folder.is_dir() and not good.folder.exists()
    assert _status(store_uri, good.run_id) == "FAILED"


def test_summarize_of_a_missing_run_is_one_line(store_uri, capsys):
    assert main(["summarize", "f" * 32, "--tracking-uri", store_uri]) == 2
    err = capsys.readouterr().err
    assert err == f"nnexp.runs: error: the store has no run {'f' * 32!r}\n"
