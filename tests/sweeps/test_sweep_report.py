"""The sweep report and `nnexp.why` read back from a store: a real grid sweep with seeds, diverged
and failed children; a sweep still running; the same text every time; one-line errors."""

from __future__ import annotations

import json

from helpers import client_for, run_inprocess

import nnexp
from nnexp.record import tags
from nnexp.sweeps.report_data import read_sweep
from nnexp.sweeps.report_html import build_html
from nnexp.tracking.browse import SHARED_VIEW_PREFIX, how_to_open, saved_view, sweep_view_key
from nnexp.why import why_main


def test_a_grid_sweep_with_seeds_diverged_and_failed_children(store_uri, tmp_path, capfd):
    swept = nnexp.sweep("optimizer=sgd", "lr=0.1,0.03,1e3", "seed=1,2", "data=iris",
                        "train.epochs=3", "model.hidden=[8]", f"tracking.uri={store_uri}",
                        verbose=False)
    assert "Downloading artifacts" not in capfd.readouterr().err  # the report reads quietly
    client = client_for(store_uri)
    parent = client.get_run(swept.parent_run_id)
    assert parent.info.run_name == f"sweep lr x3, seed x2 #{swept.parent_run_id[:6]}"
    note = parent.data.tags["mlflow.note.content"]
    assert "| # | lr | seed | val/loss | status | run |" in note and "what mattered" in note
    assert "summary/report.html" in {a.path for a in client.list_artifacts(parent.info.run_id,
                                                                           "summary")}
    experiment = client.get_experiment(parent.info.experiment_id)
    view = json.loads(experiment.tags[SHARED_VIEW_PREFIX + sweep_view_key(parent.info.run_id)])
    assert view["orderByKey"] == "metrics.`val/loss`" and view["orderByAsc"] is True
    assert view["selectedColumns"][:3] == ["params.`lr`", "params.`seed`", "metrics.`val/loss`"]
    assert parent.info.run_id in view["searchFilter"]
    assert saved_view(client, parent.info.experiment_id, parent.info.run_id) == sweep_view_key(
        parent.info.run_id)  # what `nnexp.ui --run PARENT` opens
    assert saved_view(client, parent.info.experiment_id, swept.runs[0].run_id) is None
    assert "viewStateShareKey=nnexp-sweep-" in how_to_open(
        "http://127.0.0.1:5000", parent.info.experiment_id, parent.info.run_id,
        sweep_view_key(parent.info.run_id))

    failed = client.create_run(parent.info.experiment_id, run_name="lr=0.01,seed=1", tags={
        tags.MLFLOW_PARENT_RUN_ID: parent.info.run_id, tags.OVERRIDES: "lr=0.01 seed=1",
        tags.ERROR: "MemoryError"}).info.run_id
    client.set_terminated(failed, "FAILED")
    report = read_sweep(client, parent.info.run_id)
    assert not report.partial and len(report.rows) == 7
    statuses = [r["status"] for r in report.rows]
    assert statuses[:4] == ["FINISHED"] * 4 and sorted(statuses[4:]) == ["FAILED"] * 3
    assert sum(r["diverged"] for r in report.rows) == 2
    objective = [r["val/loss"] for r in report.rows[:4]]
    assert objective == sorted(objective)
    best = report.rows[0]
    assert best["run_id"] == parent.data.tags["nnexp.best_single_run_id"]
    assert best["last_epoch"] == 3 and best["best_value"] <= best["last_value"]
    assert report.curves[best["run_id"]]["val/loss"][0].tolist() == [1.0, 2.0, 3.0]
    assert set(report.grad_norms["best"]) == {"layer1", "layer2"}
    assert report.importance is not None and report.importance.n_children == 4
    assert report.winner.startswith("undetermined: needs at least 6 seeds")
    html = build_html(report)
    assert html.count("DIVERGED") == 2 and "MemoryError" not in html and failed in html
    assert f"python -m nnexp.reproduce {best['run_id']}" in html


def _sweep_in_store(client, running: bool) -> str:
    """A parent and 12 children (3 lr x 2 widths x 2 seeds; lr matters) written directly, the
    last one still RUNNING when `running`."""
    experiment = client.create_experiment("written")
    parent = client.create_run(experiment, run_name="sweep lr x3, model.hidden x2", tags={
        tags.SWEEP: "parent", tags.SWEEP_PARAMS: "lr,model.hidden,seed",
        tags.SWEEP_OBJECTIVE: "val/loss", tags.SWEEP_DIRECTION: "minimize"}).info.run_id
    jobs = [(lr, w, s) for lr in ("0.3", "0.1", "0.03") for w in ("[8]", "[16]") for s in (1, 2)]
    for i, (lr, width, seed) in enumerate(jobs):
        overrides = f"lr={lr} model.hidden={width} seed={seed}"
        child = client.create_run(experiment, run_name=overrides.replace(" ", ","), tags={
            tags.MLFLOW_PARENT_RUN_ID: parent, tags.OVERRIDES: overrides}).info.run_id
        for key, value in (("lr", lr), ("model.hidden", width), ("seed", str(seed))):
            client.log_param(child, key, value)
        if running and i == len(jobs) - 1:
            continue
        client.log_metric(child, "val/loss", 1 / float(lr) / 10 + 0.01 * ((i * 7) % 5))
        client.set_terminated(child, "FINISHED")
    if not running:
        client.set_terminated(parent, "FINISHED")
    return parent


def test_a_sweep_still_running_gives_a_partial_report(store_uri, capsys):
    client = client_for(store_uri)
    parent = _sweep_in_store(client, running=True)
    report = read_sweep(client, parent, with_histories=False)
    assert report.partial and report.running == 1 and report.rows[-1]["status"] == "RUNNING"
    assert 'id="partial"' in build_html(report)
    assert why_main([parent, "--tracking-uri", store_uri]) == 0
    assert capsys.readouterr().out.startswith("partial: the sweep is still running (1 children")


def test_why_says_the_same_every_time(store_uri, capsys):
    client = client_for(store_uri)
    parent = _sweep_in_store(client, running=False)
    texts = []
    for _ in range(2):
        assert why_main([parent, "--tracking-uri", store_uri]) == 0
        texts.append(capsys.readouterr().out)
    assert texts[0] == texts[1]
    lines = texts[0].splitlines()
    assert lines[0].startswith("what mattered (variance components")
    assert lines[1].split()[0] == "lr" and "matters: best at lr=0.3" in lines[1]
    assert any(line.split()[:2] == ["seed", "noise"] for line in lines)


def test_why_on_a_run_that_is_no_parent_is_one_line_exit_2(store_uri, tmp_path):
    client = client_for(store_uri)
    parent = _sweep_in_store(client, running=False)
    child = next(r for r in client.search_runs([client.get_run(parent).info.experiment_id])
                 if r.info.run_id != parent).info.run_id
    done = run_inprocess(["nnexp.why", child, "--tracking-uri", store_uri], cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (f"nnexp.why: error: PARENT_RUN_ID: run '{child}' is not a sweep's "
                           "parent run (give the id the sweep printed as `sweep: parent run "
                           "...`)\n")


def test_thinning_keeps_each_buckets_extremes():
    import numpy as np

    from nnexp.sweeps.report_data import thin

    steps = np.arange(1000.0)
    values = np.sin(steps / 50)
    values[333], values[777] = 9.0, -9.0  # spikes a plain subsample would drop
    kept_steps, kept = thin(steps, values, 40)
    assert kept.size <= 40 and {9.0, -9.0} <= set(kept.tolist())
    assert np.all(np.diff(kept_steps) > 0)  # in order
    assert thin(steps[:30], values[:30], 40)[1].tolist() == values[:30].tolist()  # short: as is
