"""What the store holds after a long run is SIGKILLed and `runs cleanup` replays its journal
(issue 24): values trained (counted in the journal before cleanup) against values in the store
after it (budgeted metric points, the `metrics/history.npz` artifact), and the checkpoints.

``python -m nnexp.train train.epochs=5000 sweep.checkpoint_every=25`` runs in a fresh folder with
its own store, is killed with SIGKILL once it reports epoch ``--epochs`` (117 by default), then
``python -m nnexp.runs cleanup`` runs. The last line is one JSON object with the figures.

    python benchmarks/sigkill_journal.py
    python benchmarks/sigkill_journal.py --epochs 40
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from nnexp.experiment.history import HISTORY_ARTIFACT, load_history
from nnexp.tracking.outbox import Outbox


def _train_until(folder: Path, epochs: int) -> None:
    """Start a 5000-epoch run and SIGKILL it once it reports `epochs`."""
    proc = subprocess.Popen([sys.executable, "-m", "nnexp.train", "train.epochs=5000",
                             "sweep.checkpoint_every=25"], cwd=folder, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("epoch") and int(line.split()[1].split("/")[0]) >= epochs:
            break
    proc.kill()
    proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=117, help="epochs trained before SIGKILL")
    args = parser.parse_args()
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    from mlflow.tracking import MlflowClient

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _train_until(folder, args.epochs)
        (journal,) = (folder / "mlruns" / "outbox").iterdir()
        trained = {k: len(s["values"]) for k, s in Outbox(journal).metric_series().items()}
        checkpoints = sorted(p.name for p in (journal / "files" / "checkpoints").iterdir())
        uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        done = subprocess.run([sys.executable, "-m", "nnexp.runs", "cleanup", "--tracking-uri",
                               uri], cwd=folder, capture_output=True, text=True, env=env)
        print(done.stdout, end="")
        client = MlflowClient(tracking_uri=uri)
        run = client.search_runs([client.get_experiment_by_name("nnexp").experiment_id])[0]
        run_id = run.info.run_id
        try:
            history = load_history(Path(client.download_artifacts(run_id, HISTORY_ARTIFACT,
                                                                  tmp)))
        except Exception:  # noqa: BLE001 - no history artifact: what a replay used to leave
            history = {}
        stored = {k: len(client.get_metric_history(run_id, k)) for k in trained}
        in_history = {k: len(history.get(k, ((), ()))[1]) for k in trained}
        kept = sorted(Path(a.path).name for a in client.list_artifacts(run_id, "checkpoints"))
        left = journal.exists()
    for key in sorted(trained):
        print(f"{key:28s} trained {trained[key]:6d}  history artifact {in_history[key]:6d}  "
              f"store points {stored[key]:5d}")
    print(f"checkpoints journaled {checkpoints}, in the store {kept}; journal left: "
          f"{left}; run {run.info.status}")
    print(json.dumps({"epochs_killed_at": args.epochs, "status": run.info.status,
                      "values_trained": sum(trained.values()),
                      "values_in_history_artifact": sum(in_history.values()),
                      "points_in_store": sum(stored.values()),
                      "val_loss": [trained.get("val/loss", 0), in_history.get("val/loss", 0),
                                   stored.get("val/loss", 0)],
                      "checkpoints": [len(checkpoints), len(kept)]}))


if __name__ == "__main__":
    main()
