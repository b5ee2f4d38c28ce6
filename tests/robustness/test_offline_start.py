"""Offline first: a run or a sweep that starts while its tracking server does not answer trains
at once with a local identity, exits 0, and says in one line where its record waits and the
command that uploads it; `runs sync` later creates it in the store as it ran, once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from helpers import clean_env, client_for, run_inprocess, start_mlflow_server, stop_process_group

from nnexp.tracking.outbox import Outbox
from nnexp.ui import free_port

RUN = ["train.epochs=4", "model.hidden=[8]", "tracking.log_every_n_steps=1"]


def _train(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """In a process of its own: `runs sync` leaves alone the journal of a process that lives."""
    return subprocess.run([sys.executable, "-m", "nnexp.train", *args], cwd=tmp_path,
                          env=clean_env(), capture_output=True, text=True, timeout=300)


def _sync(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`runs sync` exactly as a user types it first: no --tracking-uri."""
    return run_inprocess(["nnexp.runs", "sync"], tmp_path)


def _journal(folder: Path) -> dict:
    """What a journal says ran: its values, params, start and end, before sync removes it."""
    outbox = Outbox(folder)
    ops = outbox.all_ops()
    return {"info": outbox.info, "series": outbox.metric_series(),
            "params": {k: v for op in ops if op["op"] == "params" for k, v in op["params"].items()},
            "end": next(op for op in ops if op["op"] == "end")}


def _same_as_journaled(client, run, journal: dict) -> None:
    """The store's run is the journaled one: start and end time, name, params, every value."""
    local = journal["info"]["local"]
    assert run.info.start_time == local["start_time"]
    assert run.info.end_time == journal["end"]["end_time"]
    assert run.info.status == journal["end"]["status"] == "FINISHED"
    assert run.info.run_name == local["run_name"]
    assert run.data.tags["nnexp.local_run_id"] == journal["info"]["run_id"]
    assert run.data.params == journal["params"]
    for key, series in journal["series"].items():
        stored = sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)
        assert [m.step for m in stored] == series["steps"].tolist(), key
        assert np.array_equal([m.value for m in stored], series["values"], equal_nan=True), key


def test_a_server_down_at_start_records_locally_and_sync_creates_the_runs_once(
        tmp_path, monkeypatch, _migrated_store):
    port = free_port()  # nothing listens there yet
    uri = f"http://127.0.0.1:{port}"
    single = _train(tmp_path, f"tracking.uri={uri}", *RUN)
    sweep = _train(tmp_path, "-m", f"tracking.uri={uri}", *RUN, "lr=0.1,0.05")
    assert single.returncode == 0, single.stderr
    assert sweep.returncode == 0, sweep.stderr
    assert "Traceback" not in single.stderr + sweep.stderr
    assert "waiting up to" not in single.stderr  # went local after the short probe
    command = f"`python -m nnexp.runs sync --tracking-uri {uri}`"
    (line,) = [x for x in single.stdout.splitlines() if "kept locally" in x]
    assert line.endswith(f"(no store answered at its start): upload it with {command}")
    kept = Path(line.split(" kept locally in ")[1].split(" (no store")[0])
    assert kept.parent == tmp_path / "mlruns" / "outbox"
    assert (kept / "files" / "model" / "weights.npz").is_file()
    journals = {p.name: _journal(p) for p in kept.parent.iterdir()}
    assert len(journals) == 4  # the single run, the sweep's parent and its two children
    assert all(j["info"]["uri"] == uri for j in journals.values())

    (tmp_path / "server").mkdir()
    server = start_mlflow_server(tmp_path / "server", port, schema=_migrated_store)
    try:
        done = _sync(tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[-1] == "4 run(s) synced"
        client = client_for(uri)
        experiment = client.get_experiment_by_name("nnexp")  # created by the sync
        runs = {r.data.tags["nnexp.local_run_id"]: r
                for r in client.search_runs([experiment.experiment_id])}
        assert set(runs) == set(journals)
        parent = next(r for r in runs.values() if r.data.tags.get("nnexp.sweep") == "parent")
        children = [r for r in runs.values()
                    if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
        assert len(children) == 2
        assert parent.info.status == "FINISHED"
        assert "summary" in {a.path for a in client.list_artifacts(parent.info.run_id)}
        for local_id, run in runs.items():
            if run is not parent:
                _same_as_journaled(client, run, journals[local_id])
        trained = runs[kept.name].info.run_id
        assert {a.path for a in client.list_artifacts(trained)} >= {
            "weights.npz", "config.yaml", "metrics", "plots", "model_meta.json"}
        import mlflow.pyfunc

        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        model = mlflow.pyfunc.load_model(f"runs:/{trained}/model")  # the model loads
        import pandas as pd

        columns = model.metadata.get_input_schema().input_names()
        assert len(model.predict(pd.DataFrame([[0.0] * len(columns)], columns=columns))) == 1
        counted = _count(client, runs)
        again = _sync(tmp_path)
        assert again.returncode == 0 and again.stdout.splitlines()[-1] == "0 run(s) synced"
        assert _count(client, runs) == counted  # a second sync adds nothing
        assert len(client.search_runs([experiment.experiment_id])) == 4
    finally:
        stop_process_group(server)


def _count(client, runs: dict) -> list[tuple[int, int]]:
    """Per run: its metric values and its artifacts, as the store holds them."""
    return [(sum(len(client.get_metric_history(r.info.run_id, key)) for key in r.data.metrics),
             len(client.list_artifacts(r.info.run_id))) for r in runs.values()]


def test_sync_with_no_uri_names_the_store_it_could_not_reach(tmp_path):
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    assert _train(tmp_path, f"tracking.uri={uri}", *RUN).returncode == 0
    done = _sync(tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert f"1 run(s) still wait for {uri}" in done.stdout
    assert f"retry with `python -m nnexp.runs sync --tracking-uri {uri}`" in done.stdout
    (folder,) = (tmp_path / "mlruns" / "outbox").iterdir()
    assert json.loads((folder / "run.json").read_text())["uri"] == uri  # still waiting
