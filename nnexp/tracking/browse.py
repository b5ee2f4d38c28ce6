"""How to look at a recorded run: the page of a running `nnexp.ui` (or tracking server), or the
command that opens it.

`python -m nnexp.ui` leaves a small state file beside an SQLite store while it serves it
(`mlflow.ui.json`: its address and process), so a run that ends meanwhile can print the page
itself instead of the command.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

from nnexp.record.redact import redact
from nnexp.tracking.liveness import process_start_time, same_process_alive

UI_COMMAND = "python -m nnexp.ui"
# MLflow 3.17's UI shows an experiment in its GenAI layout ("Traces", "Agent versions") unless
# the page asks for the model-training one; the experiment kind tag alone no longer decides it.
MODEL_TRAINING_VIEW = "workflowType=machine_learning"
# MLflow 3's experiment page restores a view (filter, order, columns) saved as this experiment
# tag + key, when its address says ?viewStateShareKey=<key>
SHARED_VIEW_PREFIX = "mlflow.sharedViewState."


def experiment_url(base: str, experiment_id: str | None) -> str:
    """The runs table of one experiment, in the model-training view (or the experiment list)."""
    base = base.rstrip("/")
    if experiment_id is None:
        return f"{base}/#/experiments?{MODEL_TRAINING_VIEW}"
    return f"{base}/#/experiments/{experiment_id}/runs?{MODEL_TRAINING_VIEW}"


def run_url(base: str, experiment_id: str, run_id: str, view_key: str | None = None) -> str:
    """The page of one run; with `view_key` (a sweep's parent), the experiment page in the view
    that sweep saved: its children sorted by the objective, the swept keys as columns."""
    if view_key is not None:
        return (f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?viewStateShareKey="
                f"{view_key}&{MODEL_TRAINING_VIEW}")
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}?{MODEL_TRAINING_VIEW}"


def sweep_view_key(parent_id: str) -> str:
    """The key of the experiment-page view a sweep's parent saves (MLflow's shared view)."""
    return f"nnexp-sweep-{parent_id}"


def saved_view(client: Any, experiment_id: str, run_id: str) -> str | None:
    """`run_id`'s saved view key when its experiment holds one (a finished sweep), else None."""
    key = sweep_view_key(run_id)
    try:
        found = client.get_experiment(experiment_id).tags
    except Exception:  # noqa: BLE001 - no view: the run's own page is opened
        return None
    return key if SHARED_VIEW_PREFIX + key in found else None


def ui_state_path(uri: str) -> Path | None:
    """Where a UI serving this SQLite store says so (`<db>.ui.json`); None for other stores."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///"):]).with_suffix(".ui.json")


def write_ui_state(uri: str, base: str) -> None:
    """Note that this process serves the UI of `uri` at `base` (best effort)."""
    path = ui_state_path(uri)
    if path is None:
        return
    state = {"url": base, "pid": os.getpid(), "pid_start": process_start_time(), "uri": uri}
    try:
        path.write_text(json.dumps(state))
    except OSError:
        pass


def remove_ui_state(uri: str) -> None:
    """Take back this process's note, if it is still the one on file."""
    path = ui_state_path(uri)
    if path is not None and _state(path).get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def running_ui(uri: str) -> str | None:
    """The address of an `nnexp.ui` serving the SQLite store `uri` now, if any."""
    path = ui_state_path(uri)
    state = _state(path) if path is not None else {}
    pid, url = state.get("pid"), state.get("url")
    if not isinstance(pid, int) or not isinstance(url, str) or state.get("uri") != uri:
        return None
    return url if same_process_alive(pid, state.get("pid_start")) else None


def _state(path: Path) -> dict:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def how_to_open(uri: str, experiment_id: str | None, run_id: str | None = None,
                view_key: str | None = None) -> str:
    """`open: <page>` when a UI or server shows the store, else `open: python -m nnexp.ui ...`
    (`view_key`: a sweep's saved view of its children, see `run_url`)."""
    if uri.startswith(("http://", "https://")):
        base: str | None = redact(uri)
    else:
        base = running_ui(uri)
    if base is not None:
        if run_id is not None and experiment_id is not None:
            return f"open: {run_url(base, experiment_id, run_id, view_key)}"
        return f"open: {experiment_url(base, experiment_id)}"
    return f"open: {ui_command(uri, run_id)}"


def ui_command(uri: str, run_id: str | None = None) -> str:
    """The command that starts the UI on `uri` and prints the page of `run_id`."""
    from nnexp.tracking.store import default_tracking_uri

    command = UI_COMMAND
    if run_id is not None:
        command += f" --run {run_id}"
    if uri != default_tracking_uri():
        command += f" --tracking-uri {shlex.quote(redact(uri))}"
    return command
