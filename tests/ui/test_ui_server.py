"""`python -m nnexp.ui` serves a sweep: REST API has parent, children, metrics, artifacts; a
headless Chromium renders the runs page with the run names."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from nnexp.ui import chromium_command, free_port, wait_healthy

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None,
                                reason="chromium is not installed (apt-get install -y chromium)")


def _get(base: str, endpoint: str, **query: str) -> dict:
    url = f"{base}/api/2.0/mlflow/{endpoint}?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def _post(base: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(f"{base}/api/2.0/mlflow/{path}", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@pytest.fixture
def ui(sweep_store: Path):
    """The UI started by the real command on a free loopback port; yields (base, page, what it
    printed up to the page, the process)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "nnexp.ui", "--port", str(port)],
                               cwd=sweep_store, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_healthy(base, process, timeout_s=45), "UI did not answer /health"
        deadline, page, printed = time.monotonic() + 10, None, []
        while page is None and time.monotonic() < deadline:
            printed.append(process.stdout.readline().rstrip("\n"))
            found = re.search(r"^open: (\S+)", printed[-1])
            page = found.group(1) if found else None
        yield base, page, printed, process
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_ui_serves_sweep_and_renders_runs_page(ui, tmp_path, sweep_store):
    base, page, printed, process = ui
    experiment = _get(base, "experiments/get-by-name", experiment_name="nnexp")["experiment"]
    assert page == (f"{base}/#/experiments/{experiment['experiment_id']}/runs"
                    "?workflowType=machine_learning")  # MLflow's model-training view
    assert printed == [  # quiet: no uvicorn lines, warnings or registry notices
        f"starting the MLflow UI on {sweep_store / 'mlruns' / 'mlflow.db'} ...",
        f"open: {page}   (Ctrl-C stops the UI)"]
    kind = {t["key"]: t["value"] for t in experiment["tags"]}["mlflow.experimentKind"]
    assert kind == "custom_model_development"

    runs = _post(base, "runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
    tags = {r["info"]["run_name"]: {t["key"]: t["value"] for t in r["data"].get("tags", [])}
            for r in runs}
    parent = next(r for r in runs if tags[r["info"]["run_name"]].get("nnexp.sweep") == "parent")
    children = [r for r in runs if r is not parent]
    assert sorted(r["info"]["run_name"] for r in children) == ["lr=0.01", "lr=0.1"]
    assert all(tags[r["info"]["run_name"]]["mlflow.parentRunId"] == parent["info"]["run_id"]
               for r in children)

    child = children[0]["info"]["run_id"]
    history = _get(base, "metrics/get-history", run_id=child, metric_key="val/loss")["metrics"]
    epochs = _get(base, "metrics/get-history", run_id=child, metric_key="epoch")["metrics"]
    assert [m["value"] for m in epochs] == [1, 2]  # two epochs, at the global step they ended
    assert [m["step"] for m in history] == [m["step"] for m in epochs]
    files = {f["path"] for f in _get(base, "artifacts/list", run_id=child)["files"]}
    assert {"config.yaml", "weights.npz", "plots"} <= files
    plots = {f["path"] for f in _get(base, "artifacts/list", run_id=child, path="plots")["files"]}
    assert "plots/loss_curves.png" in plots
    inputs = children[0]["inputs"]["dataset_inputs"]
    assert {i["dataset"]["name"] for i in inputs} == {"digits"}

    shot = tmp_path / "runs.png"  # screenshot and DOM dump in parallel: ~12 s each
    browsers = [subprocess.Popen(chromium_command(page, tmp_path / "profile-a", screenshot=shot),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                subprocess.Popen(chromium_command(page, tmp_path / "profile-b"), text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)]
    dom = browsers[1].communicate(timeout=60)[0]
    assert browsers[0].wait(timeout=60) == 0 and browsers[1].returncode == 0
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    assert parent["info"]["run_name"] in dom  # "sweep lr": the table rendered, not a spinner
    assert "matching runs" in dom
    assert "Model registry" in dom and "Agent versions" not in dom  # not the GenAI layout
    process.terminate()
    out, err = process.communicate(timeout=30)
    assert (out, err) == ("", "")  # nothing more, on stopping either
