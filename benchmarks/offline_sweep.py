"""An 8-job sweep started while its tracking server is down (issue 24): how much of what the
jobs trained is in the store once the server is back and `python -m nnexp.runs sync` ran.

1. `python -m nnexp.train -m` of 8 learning rates against an `mlflow server` address where
   nothing listens yet (the server is "down" for the whole sweep): wall time, exit code.
2. Points trained: every metric value the jobs journaled (each job's `metrics.bin`), counted
   before the sync removes the journals.
3. The server is started on that port, `python -m nnexp.runs sync` (no --tracking-uri, as the
   advice printed says) uploads the journals; points in the store: every value of every metric
   of every child, read back through the server; a second sync must add nothing.

The runs are short enough for the store's budget (tracking.metric_budget, 1 000 points per
metric) to keep every value, so the two counts are comparable one for one.

    python benchmarks/offline_sweep.py          # about 3 minutes on a quiet 2-core machine

The last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from helpers import clean_env, client_for, start_mlflow_server, stop_process_group  # noqa: E402

from nnexp.tracking.outbox import Outbox  # noqa: E402
from nnexp.ui import free_port  # noqa: E402

LRS = "lr=0.3,0.2,0.1,0.05,0.03,0.02,0.01,0.005"
JOB = ["train.epochs=20", "model.hidden=[16]", "tracking.log_every_n_steps=1"]


def _python(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    env = clean_env(PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=3600)
    return done, time.monotonic() - started


def _stored_points(uri: str) -> tuple[int, int, int]:
    """(metric values, runs, children linked to the parent) the store holds."""
    client = client_for(uri)
    experiment = client.get_experiment_by_name("nnexp")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parent = next(r for r in runs if r.data.tags.get("nnexp.sweep") == "parent")
    linked = sum(r.data.tags.get("mlflow.parentRunId") == parent.info.run_id for r in runs)
    values = sum(len(client.get_metric_history(r.info.run_id, key))
                 for r in runs if r is not parent for key in r.data.metrics)
    return values, len(runs), linked


def main() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="nnexp-offline-") as tmp:
        folder = Path(tmp)
        port = free_port()
        uri = f"http://127.0.0.1:{port}"
        sweep, sweep_s = _python(["nnexp.train", "-m", f"tracking.uri={uri}", *JOB, LRS],
                                 folder)
        journals = [Outbox(p) for p in (folder / "mlruns" / "outbox").iterdir()]
        trained = sum(len(s["values"]) for j in journals for s in j.metric_series().values())
        print(f"sweep while the server is down: exit {sweep.returncode}, {sweep_s:.0f} s, "
              f"{len(journals)} journals, {trained} metric values trained")
        (folder / "server").mkdir()
        server = start_mlflow_server(folder / "server", port)
        try:
            sync, sync_s = _python(["nnexp.runs", "sync"], folder)
            print(sync.stdout.strip().splitlines()[-1], f"in {sync_s:.0f} s")
            stored, runs, linked = _stored_points(uri)
            again, _ = _python(["nnexp.runs", "sync"], folder)
            stored_again = _stored_points(uri)[0]
        finally:
            stop_process_group(server)
        figures = {"sweep_exit": sweep.returncode, "sweep_s": round(sweep_s, 1),
                   "sync_exit": sync.returncode, "sync_s": round(sync_s, 1),
                   "runs_in_store": runs, "children_linked": linked,
                   "values_trained": trained, "values_in_store": stored,
                   "values_after_second_sync": stored_again,
                   "second_sync": again.stdout.strip().splitlines()[-1]}
        print(f"store after sync: {runs} runs ({linked} children linked to the parent), "
              f"{stored} of {trained} values; after a second sync: {stored_again}")
        print(json.dumps(figures))
        return figures


if __name__ == "__main__":
    main()
